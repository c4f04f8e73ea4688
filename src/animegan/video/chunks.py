"""A video cut into independent chunks at keyframes, each stylized on its own (e.g. on a Ray worker).

The pieces, lowest first:

- :func:`keyframe_times` reads the video stream's packets without decoding them and returns the
  keyframes' timestamps; :func:`plan_chunks` groups whole GOPs into chunks of about
  ``chunk_seconds`` (a folder of frames: any frame starts a chunk).
- :func:`prepare_chunks` checks the input and the output (as a local conversion does, before any
  model loads), plans the chunks and opens ``<out>.parts/``: its ``manifest.json`` names the
  settings (those of a local conversion, plus the chunk boundaries); with ``resume`` the chunks
  already finished with the same settings are kept.
- :func:`convert_chunk` decodes exactly one chunk's frames, runs the frames function and encodes
  them into one segment ``seg-NNNNN.nut`` with the local conversion's encoder settings, then writes
  ``seg-NNNNN.json`` (the chunk's record) by rename. A retried chunk rewrites the same two files.
- :func:`finish_chunks` joins the segments in order by stream copy and adds the audio once, from
  the source (:mod:`.mux`), into the output by rename.

The flicker filter carries state from frame to frame over the whole video; chunks are stylized
independently, so :func:`prepare_chunks` refuses ``temporal``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import InputError, ParamError
from ..extras import require
from ..io.atomic import atomic_write_bytes
from .options import VideoOptions
from .pipeline import FramesFn, VideoResult, _finish, _Plan, _plan, _size_of, run_frames
from .segments import MANIFEST, PartsFolder, SegmentWriter
from .source import VideoDecodeError, VideoSource, expected_frames, iter_frames

av = require("av", extra="video", feature="video conversion")

log = logging.getLogger("animegan")

__all__ = ["DEFAULT_CHUNK_SECONDS", "Chunk", "ChunkedRun", "convert_chunk", "finish_chunks", "finished_records",
           "keyframe_times", "plan_chunks", "prepare_chunks", "refuse_temporal"]

#: target length of a chunk: whole GOPs are merged until a chunk is at least this long
DEFAULT_CHUNK_SECONDS = 10.0


@dataclass(frozen=True)
class Chunk:
    """Frames with ``start <= pts < end`` (source time base); None: from the range's start / to its end."""

    index: int
    start: int | None
    end: int | None


@dataclass(frozen=True)
class ChunkedRun:
    """One chunked conversion: what every worker needs (picklable), and what is already done."""

    plan: _Plan
    chunks: tuple[Chunk, ...]
    settings: dict
    done: dict  # chunk index -> its record (an earlier run's, with ``resume``)

    @property
    def todo(self) -> list[Chunk]:
        return [chunk for chunk in self.chunks if chunk.index not in self.done]

    @property
    def total(self) -> int | None:
        return expected_frames(self.plan.source, self.plan.options.start, self.plan.options.end)


def keyframe_times(source: VideoSource) -> list[int]:
    """The keyframes' timestamps (source time base, sorted), read from packets without decoding.

    A folder of frames: every frame. Packets without a timestamp are left out.
    """
    if source.kind == "frames":
        return list(range(len(source.frame_files)))
    try:
        with av.open(str(source.path)) as container:
            stream = container.streams.video[0]
            times = {packet.pts for packet in container.demux(stream)
                     if packet.is_keyframe and packet.pts is not None and packet.size}
    except av.error.FFmpegError as exc:
        raise VideoDecodeError(f"{source.path}: cannot read its packets ({exc})") from None
    return sorted(times)


def plan_chunks(source: VideoSource, options: VideoOptions, chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
                ) -> list[Chunk]:
    """Whole GOPs within ``options.start``..``options.end``, merged into chunks of at least
    ``chunk_seconds`` (the last one may be shorter)."""
    if not chunk_seconds > 0:
        raise ParamError("chunk_seconds", chunk_seconds, "must be above 0")
    tb = Fraction(source.time_base)
    lo = round(options.start / tb) if options.start else None
    hi = round(options.end / tb) if options.end is not None else None
    keys = keyframe_times(source)
    step = Fraction(chunk_seconds).limit_denominator(10**6) / tb
    boundaries: list[int] = []
    last = lo if lo is not None else (keys[0] if keys else 0)
    for key in keys:
        if key <= last or (hi is not None and key >= hi):
            continue
        if key - last >= step:
            boundaries.append(key)
            last = key
    starts: list[int | None] = [None, *boundaries]
    ends: list[int | None] = [*boundaries, None]
    return [Chunk(i, a, b) for i, (a, b) in enumerate(zip(starts, ends))]


def refuse_temporal(options: VideoOptions, params: tuple[str, ...] = ("temporal",)) -> None:
    """The flicker filter carries state across the whole video; chunks are stylized independently.
    ``params``: the options the one-line error names (``("ray", "temporal")`` from ``video --ray``)."""
    if options.temporal_settings() is not None:
        raise InputError(f"{' and '.join(params)}: the flicker filter carries each frame's state to the next over "
                         "the whole video, but chunks are stylized independently: drop one of them", params=params)


def prepare_chunks(src: str | Path, dst: str | Path, options: VideoOptions, model_id: str, *,
                   chunk_seconds: float = DEFAULT_CHUNK_SECONDS, extra_settings: dict | None = None) -> ChunkedRun:
    """Check the input and output, plan the chunks and open ``<dst>.parts/`` (kept with ``resume`` when
    it was made with the same settings, else emptied). Bad input fails here, before any model loads."""
    refuse_temporal(options)
    plan = _plan(Path(src), Path(dst), options)
    chunks = plan_chunks(plan.source, options, chunk_seconds)
    settings = {"source": str(plan.src.resolve()), "source_bytes": _size_of(plan.src),
                "codec": asdict(plan.spec), "size": list(plan.size), "start": options.start, "end": options.end,
                "fps": str(plan.source.fps), "model": model_id, "temporal": None,
                "chunks": [[c.start, c.end] for c in chunks], **(extra_settings or {})}
    parts = PartsFolder(plan.dst)
    done = _load_records(parts, settings, len(chunks)) if options.resume else {}
    if not done:
        parts.reset()
        parts.save(settings, [])
    else:
        log.info("resuming %s: %d of %d chunks finished", plan.dst, len(done), len(chunks))
    return ChunkedRun(plan, tuple(chunks), settings, done)


def _record_path(parts: PartsFolder, index: int) -> Path:
    return parts.segment_path(index).with_suffix(".json")


def _load_records(parts: PartsFolder, settings: dict, count: int) -> dict[int, dict]:
    """The finished chunks' records, when ``<out>.parts/`` was made with these settings."""
    try:
        manifest = json.loads((parts.path / MANIFEST).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    if manifest.get("settings") != json.loads(json.dumps(settings)):
        log.warning("%s was made with other settings; starting over", parts.path)
        return {}
    done = {}
    for index in range(count):
        try:
            record = json.loads(_record_path(parts, index).read_text())
        except (FileNotFoundError, ValueError):
            continue
        if record.get("frames") == 0 or (parts.path / record.get("file", "")).is_file():
            done[index] = record
    return done


def convert_chunk(run: ChunkedRun, chunk: Chunk, frames_fn: FramesFn) -> dict:
    """Decode exactly ``chunk``'s frames, stylize them with ``frames_fn`` in batches, encode them into
    its segment (by rename) and write its record; returns the record."""
    plan, parts = run.plan, PartsFolder(run.plan.dst)
    opts, tb = plan.options, plan.source.time_base
    start = float(chunk.start * tb) if chunk.start is not None else opts.start
    end = float(chunk.end * tb) if chunk.end is not None else opts.end
    shift = round(opts.start / tb) if opts.start else 0
    writer = SegmentWriter(parts.segment_path(chunk.index), plan.spec, plan.size, plan.source)
    try:
        batch: list[tuple[np.ndarray, int, int]] = []
        for item in iter_frames(plan.source, plan.size, start=start, end=end):
            batch.append(item)
            if len(batch) == opts.batch_size:
                _write_batch(writer, batch, frames_fn, shift)
                batch = []
        if batch:
            _write_batch(writer, batch, frames_fn, shift)
        if writer.frames:
            record = {**writer.finish(), "chunk": chunk.index}
        else:  # nothing in this range (a keyframe past the last decodable frame)
            writer.abort()
            record = {"file": "", "frames": 0, "chunk": chunk.index}
    except BaseException:
        writer.abort()
        raise
    atomic_write_bytes(_record_path(parts, chunk.index), json.dumps(record).encode())
    return record


def _write_batch(writer: SegmentWriter, batch: list[tuple[np.ndarray, int, int]], frames_fn: FramesFn,
                 shift: int) -> None:
    outputs = run_frames(frames_fn, np.stack([item[0] for item in batch]))
    for rgb, (_, pts, duration) in zip(outputs, batch):
        writer.write(rgb, pts - shift, duration, pts)


def finished_records(run: ChunkedRun) -> dict[int, dict]:
    """Every chunk's record found in ``<out>.parts/`` (those of this run and of an earlier one)."""
    return _load_records(PartsFolder(run.plan.dst), run.settings, len(run.chunks))


def finish_chunks(run: ChunkedRun, stylized: int, seconds: float) -> VideoResult:
    """Join the finished chunks' segments in order, with the source's audio, into the output (by rename).

    ``stylized``: frames stylized in this run; ``seconds``: how long that took (both for the result).
    """
    records = finished_records(run)
    missing = [chunk.index for chunk in run.chunks if chunk.index not in records]
    if missing:
        raise VideoDecodeError(f"{run.plan.src}: chunks {missing} of {len(run.chunks)} were not converted",
                               params=())
    segments = [records[chunk.index] for chunk in run.chunks if records[chunk.index]["frames"]]
    frames = sum(seg["frames"] for seg in segments)
    return _finish(run.plan, PartsFolder(run.plan.dst), segments, frames - stylized, run.total, seconds)
