"""The Ray Data worker: one model per actor, one output file per row, one status per row.

A row is ``{"input": path, "output": path}``; either may be an object-store URI (``s3://``,
``gs://``, ``file://``: :mod:`animegan.distributed.storage`). The worker opens the input, stylizes
it and writes the output with :func:`animegan.io.images.save_image` (a temporary file, then a
rename), or for a URI through its filesystem, as atomically. The output
name is fixed by the row, so when Ray retries a batch (a worker or node died) the same file is
written again, whole: nothing is duplicated or half-written. A bad input (not an image, too large,
unreadable) is caught here and reported in its row; it never fails the dataset.

Nothing here imports Ray at module level: the class is plain Python that Ray instantiates.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AnimeGANError, input_error_line
from ..inference.options import StylizeOptions

log = logging.getLogger("animegan")

#: the columns :meth:`StylizeWorker.__call__` returns, besides ``input`` and ``output``
STATUS_DONE, STATUS_FAILED = "done", "failed"


class DistributedError(AnimeGANError):
    """The cluster cannot run the job: unreachable, too small, or a worker with another animegan."""

    http_status = 503


@dataclass(frozen=True)
class ItemResult:
    """What happened to one ``(input, output)`` pair."""

    input: str
    output: str  # the path written (save_image may change the suffix, e.g. an RGBA image to .png)
    status: str  # "done" or "failed"
    error: str = ""  # one line naming the input, when failed
    worker_pid: int = 0  # the actor process that handled it (0: none did)

    @property
    def ok(self) -> bool:
        return self.status == STATUS_DONE


def assigned_cpus(default: int = 1) -> int:
    """The CPUs Ray assigned to this actor (whole ones, at least 1); ``default`` outside Ray."""
    try:
        import ray

        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    except Exception:  # noqa: BLE001 - not in a Ray worker, or an API change: keep the default
        return default
    return max(1, int(cpus)) if cpus else default


class StylizeWorker:
    """A Ray Data callable class: ``map_batches(StylizeWorker, fn_constructor_kwargs={...})``.

    ``model``: a zoo name or a weights/ONNX file path that every node can resolve (the model is
    loaded once per actor, never shipped through the object store). ``options``: a
    :class:`StylizeOptions` or a dict of its fields. ``device``/``precision``/``backend``: as for
    :class:`~animegan.inference.stylizer.Stylizer` (``auto`` picks the GPU Ray assigned, if any).
    ``driver_version``: the animegan version of the driver; a worker with another version refuses
    to start (a :class:`DistributedError`) instead of producing different images.

    Each batch holds the columns ``input`` and ``output`` (paths, or object-store URIs read and written
    through ``pyarrow.fs``: :mod:`animegan.distributed.storage`); the result adds ``output``
    (the path written), ``status`` (``done``/``failed``), ``error`` (one line) and ``worker_pid``.
    """

    def __init__(self, model: str | os.PathLike | None = None, *, options: StylizeOptions | dict | None = None,
                 device: str = "auto", precision: str = "auto", backend: str = "torch",
                 driver_version: str | None = None, threads: int | None = None):
        import torch

        from .. import __version__
        from ..inference.stylizer import Stylizer

        if driver_version is not None and driver_version != __version__:
            raise DistributedError(f"worker on pid {os.getpid()} has animegan {__version__}, the driver has "
                                   f"{driver_version}: install the same version on every node")
        self.pid = os.getpid()
        self.threads = threads or assigned_cpus(default=torch.get_num_threads())
        torch.set_num_threads(self.threads)
        if isinstance(options, dict):
            options = StylizeOptions(**options)
        self.options = options or StylizeOptions()
        self.stylizer = Stylizer(None if model is None else str(model), device=device, precision=precision,
                                 backend=backend, options=self.options)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        """Stylize each row's ``input`` into its ``output``; every other column is passed through."""
        inputs = [str(value) for value in batch["input"]]
        outputs = [str(value) for value in batch["output"]]
        written, status, errors = [], [], []
        for source, target in zip(inputs, outputs, strict=True):
            try:
                path = self.stylize_one(source, target)
            except Exception as exc:  # a bad input is this row's status, never the dataset's failure
                log.debug("failed on %s", source, exc_info=True)
                written.append(target)
                status.append(STATUS_FAILED)
                errors.append(input_error_line(source, exc))
            else:
                written.append(str(path))
                status.append(STATUS_DONE)
                errors.append("")
        out = {name: list(values) for name, values in batch.items()}  # a pipeline's own columns stay
        out.update(input=inputs, output=written, status=status, error=errors, worker_pid=[self.pid] * len(inputs))
        return out

    def stylize_one(self, source: str, target: str) -> str:
        """Open, stylize and atomically save one image; the planned name decides the format.

        ``source`` and ``target`` are paths or object-store URIs (:mod:`animegan.distributed.storage`).
        Returns what was written (a path or a URI)."""
        from ..io.images import open_image, save_image
        from . import storage

        opts = self.options
        data = storage.open_stream(source) if storage.is_uri(source) else Path(source)
        image = open_image(data, max_pixels=opts.max_pixels, max_side=opts.max_side)
        result = self.stylizer.stylize(image, opts)
        name = target.rstrip("/").rsplit("/", 1)[-1]
        fmt = Path(name).suffix.lower().lstrip(".") or "png"
        if not storage.is_uri(target):
            return str(save_image(result, target, ext=fmt, quality=opts.quality))
        with tempfile.TemporaryDirectory(prefix="animegan-") as tmp:  # encode here, then one atomic write
            written = save_image(result, Path(tmp) / name, ext=fmt, quality=opts.quality)
            final = target.rstrip("/")[: -len(name)] + written.name
            storage.write_bytes(final, written.read_bytes())
        return final
