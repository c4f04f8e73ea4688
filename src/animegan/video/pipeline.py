"""Video stylization with PyAV: sound kept, memory bounded, resumable.

Three stages overlap: a decode thread fills a bounded queue with batches of RGB frames, the
calling thread runs the model (and the optional flicker filter), an encode thread writes N-frame
segments into ``<out>.parts/``. PyAV releases the GIL inside codecs, so decoding and encoding run
while the model computes. At the end the segments are joined by stream copy into a temporary
file next to the output, the audio is muxed in, and the file is renamed onto the output.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AnimeGANError, InputError
from ..io.atomic import atomic_path, sweep_stale_temps
from .parts import EncoderSpec, PartsFolder, SegmentWriter, encoder_for, join_segments
from .source import VideoDecodeError, VideoSource, iter_frames, open_source
from .temporal import TemporalSettings, TemporalSmoother

log = logging.getLogger("animegan")

__all__ = ["VideoCancelled", "VideoDecodeError", "VideoResult", "VideoTruncatedError", "output_size",
           "stylize_video"]

#: progress(frames_done, frames_total_or_None) — called from the calling thread after each batch
ProgressFn = Callable[[int, int | None], None]
FramesFn = Callable[[np.ndarray], np.ndarray]
_END = object()


class VideoCancelled(AnimeGANError):
    """The ``cancel`` callback of :func:`stylize_video` asked the conversion to stop."""

    http_status = 409


class VideoTruncatedError(VideoDecodeError):
    """Fewer frames could be decoded than the file declares (a cut-off download or copy)."""

    http_status = 422

    def __init__(self, message: str, decoded: int = 0, declared: int = 0):
        super().__init__(message)
        self.decoded, self.declared = decoded, declared


@dataclass
class VideoResult:
    """What a conversion did."""

    path: Path
    frames: int  # frames in the output
    stylized: int  # frames stylized in this run (fewer than ``frames`` after a resume)
    seconds: float
    size: tuple[int, int]
    audio: str
    #: frames the input declares for the converted range (None: unknown)
    declared: int | None = None
    #: fewer frames decoded than declared, accepted with ``allow_truncated``
    truncated: bool = False

    @property
    def fps(self) -> float:
        return self.stylized / self.seconds if self.seconds > 0 else 0.0


def stylize_video(src: str | Path, dst: str | Path, stylizer: Any = None, model: Any = None, *,
                  codec: str | None = None, crf: int | None = None, preset: str | None = None,
                  max_side: int | None = None, start: float | None = None, end: float | None = None,
                  fps: float | None = None, batch_size: int = 4, temporal: TemporalSettings | float | None = None,
                  resume: bool = False, device: str = "auto", precision: str = "auto", backend: str = "torch",
                  segment_frames: int = 250, progress: ProgressFn | None = None, options: Any = None,
                  cancel: Callable[[], bool] | None = None, allow_truncated: bool = False) -> VideoResult:
    """Stylize the video (or GIF, or folder of frames) ``src`` into ``dst``, keeping its audio.

    ``stylizer`` is a ready Stylizer (or any callable on N×H×W×3 uint8 arrays); otherwise one is
    built from ``model`` (zoo name, path or nn.Module) with ``device``/``precision``/``backend``.
    ``temporal`` turns on flicker reduction (a strength in [0, 1) or ``TemporalSettings``).
    ``resume`` keeps the finished segments in ``<dst>.parts/`` from an interrupted run.
    ``cancel`` is called before each batch; when it returns true the run stops with
    :class:`VideoCancelled` (finished segments stay for ``resume``).
    A file that decodes to fewer frames than it declares (cut short) raises
    :class:`VideoTruncatedError` before anything is written to ``dst`` (the stylized segments stay
    in ``<dst>.parts/`` for ``resume``); with ``allow_truncated`` it is written with a warning and
    ``VideoResult.truncated`` set.
    """
    src, dst = Path(src), Path(dst)
    if batch_size < 1:
        raise InputError(f"--batch-size {batch_size}: must be at least 1")
    if segment_frames < 1:
        raise InputError(f"segment length {segment_frames}: must be at least 1 frame")
    if start is not None and start < 0 or end is not None and end <= (start or 0):
        raise InputError(f"--start {start} / --end {end}: need 0 <= start < end")
    if max_side is not None and max_side < 16:
        raise InputError(f"--max-side {max_side}: must be at least 16")
    if dst.resolve() == src.resolve():
        raise InputError(f"{dst}: output would overwrite the input")
    source = open_source(src, fps=fps)
    spec = encoder_for(codec, dst, crf, preset)
    sweep_stale_temps(dst.parent)  # a join's temp file left by a killed earlier run
    size = output_size(source.width, source.height, max_side, spec)
    smoother = _smoother(temporal)
    for note in source.dropped:
        log.info("%s: %s dropped (only video and audio are carried over)", src, note)
    frames_fn = _frames_function(stylizer, model, device, precision, backend, options)

    settings = {"source": str(src.resolve()), "source_bytes": _size_of(src), "codec": asdict(spec),
                "size": list(size), "start": start, "end": end, "fps": str(source.fps),
                "segment_frames": segment_frames, "model": _fingerprint(getattr(frames_fn, "__self__", stylizer), model),
                "temporal": asdict(smoother.settings) if smoother else None}
    parts = PartsFolder(dst)
    done = parts.load(settings) if resume else []
    if not done:
        parts.reset()
    elif smoother is not None:
        smoother.load_state(parts.load_state())
    done_frames = sum(seg["frames"] for seg in done)
    total = _expected_frames(source, start, end)
    after_pts = done[-1]["last_in_pts"] if done else None
    if done:
        log.info("resuming %s: %d frames in %d finished segments", dst, done_frames, len(done))

    t0 = time.perf_counter()
    segments = _run_pipeline(source, size, spec, parts, settings, done, frames_fn, smoother, batch_size,
                             segment_frames, start, end, after_pts, total, progress, cancel)
    elapsed = time.perf_counter() - t0
    if not segments:
        raise VideoDecodeError(f"{src}: no frames between --start {start} and --end {end}")
    frames = sum(seg["frames"] for seg in segments)
    truncated = _is_truncated(source, start, end, total, frames)
    if truncated:
        message = f"{src}: truncated video: only {frames} of the {total} frames it declares could be decoded"
        if not allow_truncated:
            raise VideoTruncatedError(message, frames, int(total or 0))
        log.warning("%s; writing the %d decoded frames", message, frames)
    with atomic_path(dst) as tmp:
        audio = join_segments(parts, segments, tmp, source, start, end)
    parts.remove()
    return VideoResult(dst, frames, frames - done_frames, elapsed, size, audio, total, truncated)


def output_size(width: int, height: int, max_side: int | None, spec: EncoderSpec) -> tuple[int, int]:
    """Frame size after ``--max-side``, rounded to even sides where the pixel format needs it."""
    scale = min(1.0, max_side / max(width, height)) if max_side else 1.0
    w, h = max(2, round(width * scale)), max(2, round(height * scale))
    even_w, even_h = spec.even_sides
    return (w - w % 2 if even_w else w), (h - h % 2 if even_h else h)


def _run_pipeline(source: VideoSource, size, spec, parts: PartsFolder, settings, done: list[dict],
                  frames_fn: FramesFn, smoother: TemporalSmoother | None, batch_size: int, segment_frames: int,
                  start, end, after_pts, total, progress, cancel=None) -> list[dict]:
    """decode thread → model (this thread) → encode thread, through bounded queues."""
    stop = threading.Event()
    decoded: queue.Queue = queue.Queue(maxsize=2)
    stylized: queue.Queue = queue.Queue(maxsize=2)
    segments = list(done)
    shift = round(start / source.time_base) if start else 0
    errors: list[BaseException] = []

    def put(q: queue.Queue, item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(q: queue.Queue) -> object:
        while not stop.is_set():
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue
        return _END

    def decode() -> None:
        try:
            batch: list[tuple[np.ndarray, int, int]] = []
            for item in iter_frames(source, size, start=start, end=end, after_pts=after_pts):
                batch.append(item)
                if len(batch) == batch_size:
                    if not put(decoded, batch):
                        return
                    batch = []
            if batch:
                put(decoded, batch)
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            errors.append(exc)
        finally:
            put(decoded, _END)

    def encode() -> None:
        writer: SegmentWriter | None = None
        count = sum(seg["frames"] for seg in done)
        try:
            while True:
                item = stylized.get()
                if item is _END or stop.is_set():
                    break
                frames, stamps, states = item
                for rgb, (pts, duration) in zip(frames, stamps):
                    if writer is None:
                        writer = SegmentWriter(parts.segment_path(len(segments)), spec, size, source)
                    writer.write(rgb, pts - shift, duration, pts)
                    count += 1
                    if writer.frames == segment_frames:
                        segments.append(writer.finish())
                        writer = None
                        parts.save(settings, segments, states.get(count))
            if writer is not None and not stop.is_set():
                segments.append(writer.finish())
                writer = None
                parts.save(settings, segments)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
            stop.set()
        finally:
            if writer is not None:
                writer.abort()

    threads = [threading.Thread(target=decode, name="video-decode", daemon=True),
               threading.Thread(target=encode, name="video-encode", daemon=True)]
    for thread in threads:
        thread.start()
    count = sum(seg["frames"] for seg in done)
    try:
        while True:
            batch = get(decoded)
            if batch is _END:
                break
            if cancel is not None and cancel():
                raise VideoCancelled(f"stopped after {count} frames: cancelled")
            inputs = np.stack([b[0] for b in batch])
            outputs = np.asarray(frames_fn(inputs))
            if outputs.shape != inputs.shape or outputs.dtype != np.uint8:
                raise InputError(f"the stylizer returned {outputs.shape} {outputs.dtype} for {inputs.shape} uint8 "
                                 "frames (expected the same shape, uint8)")
            states = {}
            if smoother is not None:
                for i in range(len(outputs)):
                    outputs[i] = smoother(inputs[i], outputs[i])
                    if (count + i + 1) % segment_frames == 0:  # a segment ends here: keep the filter state
                        states[count + i + 1] = smoother.state()
            if not put(stylized, (outputs, [(b[1], b[2]) for b in batch], states)):
                break
            count += len(batch)
            if progress is not None:
                progress(count, total)
    except BaseException:
        stop.set()
        raise
    finally:
        if stop.is_set():  # unblock both threads; finished segments stay on disk for --resume
            _drain(decoded)
            _drain(stylized)
            stylized.put_nowait(_END)
        else:
            put(stylized, _END)
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return segments


def _drain(q: queue.Queue) -> None:
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return


def _frames_function(stylizer: Any, model: Any, device: str, precision: str, backend: str,
                     options: Any) -> FramesFn:
    if stylizer is None:
        from ..inference.stylizer import Stylizer

        stylizer = Stylizer(model, device=device, precision=precision, backend=backend, options=options)
    if hasattr(stylizer, "stylize_frames"):
        return stylizer.stylize_frames
    if callable(stylizer):
        return stylizer
    raise InputError(f"stylizer {type(stylizer).__name__}: needs a stylize_frames method or to be callable")


def _smoother(temporal: TemporalSettings | float | None) -> TemporalSmoother | None:
    if temporal is None or temporal is False:
        return None
    if isinstance(temporal, TemporalSettings):
        settings = temporal
    elif temporal is True:
        settings = TemporalSettings()
    else:
        settings = TemporalSettings(strength=float(temporal))
    return TemporalSmoother(settings) if settings.strength > 0 else None


def _expected_frames(source: VideoSource, start: float | None, end: float | None) -> int | None:
    if start is None and end is None:
        return source.frame_count
    if not source.duration:
        return None
    stop = source.start_time + source.duration
    if end is not None:
        stop = min(stop, end)
    return max(0, round((stop - max(start or 0.0, source.start_time)) * source.fps))


def _is_truncated(source: VideoSource, start: float | None, end: float | None, declared: int | None,
                  decoded: int) -> bool:
    """Whether ``decoded`` falls short of ``declared`` by more than counting slack.

    The container's own count (mp4, mov) is nearly exact: a shortfall over 2 % (at least 2 frames,
    for edit lists and priming) means the file was cut. A count estimated from the duration
    (mkv, webm, a --start/--end range) gets 10 % (at least 3 frames) for variable frame rates.
    """
    if declared is None or source.kind != "video" or decoded >= declared:
        return False
    exact = source.frame_count_exact and start is None and end is None
    slack = max(2, math.ceil(0.02 * declared)) if exact else max(3, math.ceil(0.10 * declared))
    return declared - decoded > slack


def _fingerprint(stylizer: Any, model: Any) -> str:
    """Identifies the model for --resume from its identity, never from the tensors as they run.

    A Stylizer (also the one built here from ``model``): :meth:`Stylizer.model_id`, i.e. the weights
    file's sha256 with the arch and config it declares, or for an in-memory module its weights hashed
    as fp32, so bf16/fp32 runs of the same weights agree. Other callables: their ``info`` or name.
    """
    model_id = getattr(stylizer, "model_id", None)
    if callable(model_id):
        return str(model_id())
    module = model if model is not None else getattr(stylizer, "model", None)
    if module is not None and hasattr(module, "state_dict"):
        from ..inference.stylizer import module_digest

        return "weights-sha256:" + module_digest(module)
    if isinstance(model, (str, Path)):
        return str(model)
    info = getattr(stylizer, "info", None)
    if info is not None:
        return f"{type(stylizer).__name__}:{info!r}"
    if stylizer is None:
        return "default"
    return getattr(stylizer, "__qualname__", None) or type(stylizer).__name__


def _size_of(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size
