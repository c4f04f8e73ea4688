"""A long video on a Ray cluster: chunks of whole GOPs stylized by worker actors, joined on the driver.

The driver (:func:`stylize_video_on_ray`) checks the input and the output, finds the keyframes by
reading packets (no decoding) and plans chunks of about ``chunk_seconds``
(:mod:`animegan.video.chunks`). Each chunk is one row of a Ray Data dataset mapped by
:class:`VideoChunkWorker` actors (the model loaded once per actor, by name or path; torch threads =
the CPUs Ray gave it): the actor decodes exactly that chunk's frames, stylizes them and encodes one
segment into ``<out>.parts/`` with the local conversion's encoder settings, by rename, and writes
the chunk's record beside it. A chunk retried by Ray (its actor or node died) rewrites the same
files. The driver then joins the segments in order by stream copy and copies the audio once from
the source, into the output by rename.

``resume`` is keyed by chunk: a rerun with the same settings converts only the chunks that have no
record. The flicker filter (``temporal``) is refused: it carries state across the whole video.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import AnimeGANError, InputError, input_error_line
from ..extras import require
from ..inference.options import StylizeOptions
from ..video.chunks import (
    DEFAULT_CHUNK_SECONDS,
    Chunk,
    ChunkedRun,
    convert_chunk,
    finish_chunks,
    prepare_chunks,
    refuse_temporal,
)
from ..video.options import VideoOptions
from ..video.pipeline import VideoResult
from .runner import _job_failure, _pool_size, connect
from .worker import STATUS_DONE, STATUS_FAILED, DistributedError, StylizeWorker

log = logging.getLogger("animegan")

__all__ = ["VideoChunkWorker", "stylize_video_on_ray"]


class VideoChunkWorker:
    """A Ray Data callable class: each row ``{"chunk": index}`` becomes one segment of ``run``'s output.

    ``run``: the :class:`~animegan.video.chunks.ChunkedRun` the driver planned (small: paths and
    settings, never frames or a model). ``model``, ``options``, ``device``, ``precision``,
    ``backend``, ``driver_version``: as for :class:`StylizeWorker` (the same version check and
    thread count). Returns the columns ``chunk``, ``frames``, ``status``, ``error``, ``worker_pid``.
    """

    def __init__(self, run: ChunkedRun, model: str | os.PathLike | None = None, *,
                 options: StylizeOptions | dict | None = None, device: str = "auto", precision: str = "auto",
                 backend: str = "torch", driver_version: str | None = None):
        self.run = run
        self.inner = StylizeWorker(model, options=options, device=device, precision=precision, backend=backend,
                                   driver_version=driver_version)
        self.pid = self.inner.pid
        self.chunks = {chunk.index: chunk for chunk in run.chunks}

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        indexes = [int(value) for value in batch["chunk"]]
        frames, status, errors = [], [], []
        for index in indexes:
            try:
                record = self.convert(self.chunks[index])
            except Exception as exc:  # a chunk that cannot be decoded: reported, the driver stops with it
                log.debug("chunk %d failed", index, exc_info=True)
                frames.append(0)
                status.append(STATUS_FAILED)
                errors.append(input_error_line(f"{self.run.plan.src} (chunk {index})", exc))
            else:
                frames.append(int(record["frames"]))
                status.append(STATUS_DONE)
                errors.append("")
        return {"chunk": indexes, "frames": frames, "status": status, "error": errors,
                "worker_pid": [self.pid] * len(indexes)}

    def convert(self, chunk: Chunk) -> dict:
        stylizer = self.inner.stylizer
        return convert_chunk(self.run, chunk, lambda frames: stylizer.stylize_frames(frames, self.inner.options))


def stylize_video_on_ray(src: str | Path, dst: str | Path, model: str | os.PathLike | None = None,
                         options: VideoOptions | None = None, *, stylize_options: StylizeOptions | None = None,
                         address: str = "auto", workers: int | None = None, cpus_per_worker: float = 1.0,
                         gpus_per_worker: float = 0.0, device: str = "auto", precision: str = "auto",
                         backend: str = "torch", chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
                         progress: Callable[[int, int | None], None] | None = None,
                         verbose: bool = False) -> VideoResult:
    """Stylize the video ``src`` into ``dst`` on a Ray cluster, one chunk of whole GOPs per task.

    ``model``: a zoo name or a path every node can read; ``src`` and ``dst`` must be at the same paths
    on every node (a shared filesystem). ``options``: the :class:`VideoOptions` (``temporal`` is
    refused; ``resume`` keeps the chunks finished by an earlier run with the same settings);
    ``stylize_options``: how each frame is stylized (palette, ...). ``address``, ``workers``,
    ``cpus_per_worker``, ``gpus_per_worker``: as for :func:`~animegan.distributed.stylize_files`.
    ``chunk_seconds``: whole GOPs are merged into chunks at least this long. ``progress(done, total)``
    is called after each chunk. Bad input fails before the cluster is contacted; a chunk that fails
    to decode stops the run with one line (the finished chunks stay for ``resume``).
    """
    from .. import __version__
    from ..hub.download import sha256_file
    from ..inference.stylizer import weights_path

    options = options if options is not None else VideoOptions()
    stylize_options = stylize_options or StylizeOptions()
    if workers is not None and workers < 1:
        raise DistributedError(f"workers {workers}: must be at least 1", params=("workers",))
    if cpus_per_worker < 0 or gpus_per_worker < 0 or cpus_per_worker + gpus_per_worker == 0:
        raise DistributedError("cpus_per_worker and gpus_per_worker: at least one must be above 0, none below",
                               params=("cpus_per_worker", "gpus_per_worker"))
    refuse_temporal(options, params=("ray", "temporal"))  # before the model file is hashed
    # the weights file's identity keys the resume manifest; resolving it here reports a bad model name in one
    # line (the actors load the model, not the driver)
    weights = weights_path(None if model is None else str(model))
    model_id = f"sha256:{sha256_file(weights)} {backend}"
    extra = {"stylize": asdict(stylize_options), "precision": precision, "chunk_seconds": float(chunk_seconds)}
    run = prepare_chunks(src, dst, options, model_id, chunk_seconds=chunk_seconds, extra_settings=extra)
    todo = run.todo
    done_frames = sum(int(record["frames"]) for record in run.done.values())
    stylized = 0
    started = time.perf_counter()
    if todo:
        kwargs = {"run": run, "model": None if model is None else str(model), "options": stylize_options,
                  "device": device, "precision": precision, "backend": backend, "driver_version": __version__}
        failures: list[str] = []
        with connect(address, verbose=verbose) as ray:
            data = require("ray.data", extra="ray", feature="--ray (stylizing on a Ray cluster)")
            size = _pool_size(ray, workers, cpus_per_worker, gpus_per_worker, len(todo))
            dataset = data.from_items([{"chunk": chunk.index} for chunk in todo],
                                      override_num_blocks=len(todo)).map_batches(
                VideoChunkWorker, fn_constructor_kwargs=kwargs, batch_size=1, batch_format="numpy",
                compute=data.ActorPoolStrategy(size=size), num_cpus=cpus_per_worker,
                num_gpus=gpus_per_worker or None)
            seen: set[int] = set()
            try:
                for row in dataset.iter_rows():
                    index = int(row["chunk"])
                    if str(row["status"]) != STATUS_DONE:
                        failures.append(str(row["error"]))
                    elif index not in seen:  # a retried chunk may report twice
                        seen.add(index)
                        stylized += int(row["frames"])
                        if progress is not None:
                            progress(done_frames + stylized, run.total)
            except AnimeGANError:
                raise
            except Exception as exc:  # noqa: BLE001 - a Ray failure: one line, a worker's own error if it had one
                raise _job_failure(exc) from None
        if failures:
            raise InputError(failures[0])
    return finish_chunks(run, stylized, time.perf_counter() - started)
