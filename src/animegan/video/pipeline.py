"""The run: decode -> frames function -> encode, sound kept, memory bounded, resumable.

Three stages overlap: a decode thread fills a bounded queue with batches of RGB frames, the
calling thread runs the frames function (and the optional flicker filter), an encode thread writes
N-frame segments into ``<out>.parts/`` (:mod:`.segments`). PyAV releases the GIL inside codecs, so
decoding and encoding run while the model computes. At the end the segments are joined by stream
copy into a temporary file next to the output, the audio is muxed in (:mod:`.mux`), and the file
is renamed onto the output.

The core (:func:`_convert` and :class:`_Pipeline`) takes a frames function (N×H×W×3 uint8 in, the
same out): :func:`stylize_video` passes a caller's function as is, or a Stylizer's
:meth:`~animegan.inference.stylizer.Stylizer.stylize_frames`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import AnimeGANError, InputError
from ..inference.stylizer import LoadedModel, ModelSource, Stylizer, module_digest
from ..io.atomic import atomic_path, sweep_stale_temps
from .encoding import EncoderSpec, encoder_for, output_size
from .mux import join_segments
from .options import VideoOptions
from .segments import PartsFolder, SegmentWriter
from .source import (
    VideoDecodeError,
    VideoSource,
    VideoTruncatedError,
    expected_frames,
    is_truncated,
    iter_frames,
    open_source,
)
from .temporal import TemporalSmoother

log = logging.getLogger("animegan")

__all__ = ["FramesFn", "VideoCancelled", "VideoResult", "stylize_video"]

#: the model as the pipeline sees it: N×H×W×3 uint8 RGB frames in, the same shape and dtype out
FramesFn = Callable[[np.ndarray], np.ndarray]
#: progress(frames_done, frames_total_or_None): called from the calling thread after each batch
ProgressFn = Callable[[int, int | None], None]
#: called before each batch; true stops the run with :class:`VideoCancelled`
CancelFn = Callable[[], bool]
_END = object()



def run_frames(frames_fn: FramesFn, inputs: np.ndarray) -> np.ndarray:
    """``frames_fn`` on a batch of N×H×W×3 uint8 frames, its output checked to be the same shape, uint8."""
    outputs = np.asarray(frames_fn(inputs))
    if outputs.shape != inputs.shape or outputs.dtype != np.uint8:
        raise InputError(f"the stylizer returned {outputs.shape} {outputs.dtype} for {inputs.shape} uint8 "
                         "frames (expected the same shape, uint8)")
    return outputs

class VideoCancelled(AnimeGANError):
    """The ``cancel`` callback of :func:`stylize_video` asked the conversion to stop."""

    http_status = 409


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


@dataclass(frozen=True)
class _Plan:
    """One conversion, checked before any model is loaded."""

    src: Path
    dst: Path
    options: VideoOptions
    source: VideoSource
    spec: EncoderSpec
    size: tuple[int, int]


def stylize_video(src: str | Path, dst: str | Path, stylizer_or_frames: Stylizer | FramesFn | None = None,
                  options: VideoOptions | None = None, *, model: ModelSource | LoadedModel = None,
                  device: str = "auto", precision: str = "auto", backend: str = "torch",
                  progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> VideoResult:
    """Stylize the video (or GIF, or folder of frames) ``src`` into ``dst``, keeping its audio.

    ``stylizer_or_frames``: a ready :class:`Stylizer` (its ``stylize_frames`` runs, with the
    Stylizer's own StylizeOptions) or any frames function (N×H×W×3 uint8 in, the same out);
    without one, a Stylizer is built from ``model`` (zoo name, path, module or ``(module, info)``)
    with ``device``/``precision``/``backend``. ``options``: the :class:`VideoOptions` (encoder,
    range, size, batching, resume, flicker filter); the defaults when None.
    ``progress(done, total)`` is called after each batch; ``cancel()`` before each batch, and
    when it returns true the run stops with :class:`VideoCancelled` (finished segments stay for
    ``resume``). A file that decodes to fewer frames than it declares raises
    :class:`VideoTruncatedError` before anything is written to ``dst`` (the stylized segments stay
    in ``<dst>.parts/`` for ``resume``); with ``allow_truncated`` it is written with a warning and
    ``VideoResult.truncated`` set. Bad input fails before the model loads.
    """
    plan = _plan(Path(src), Path(dst), options if options is not None else VideoOptions())
    if stylizer_or_frames is not None and model is not None:
        raise InputError("model: give a stylizer (or frames function) or a model, not both")
    if stylizer_or_frames is None:
        stylizer_or_frames = Stylizer(model, device=device, precision=precision, backend=backend)
    frames_fn, model_id = _frames_function(stylizer_or_frames)
    return _convert(plan, frames_fn, model_id, progress, cancel)


def _plan(src: Path, dst: Path, options: VideoOptions) -> _Plan:
    """Check the input and the output's encoder; a bad input fails here, before the model loads."""
    if dst.resolve() == src.resolve():
        raise InputError(f"{dst}: output would overwrite the input")
    source = open_source(src, fps=options.fps)
    spec = encoder_for(options.codec, dst, options.crf, options.preset)
    sweep_stale_temps(dst.parent)  # a join's temp file left by a killed earlier run
    for note in source.dropped:
        log.info("%s: %s dropped (only video and audio are carried over)", src, note)
    size = output_size(source.width, source.height, options.max_side, spec)
    return _Plan(src, dst, options, source, spec, size)


def _convert(plan: _Plan, frames_fn: FramesFn, model_id: str, progress: ProgressFn | None,
             cancel: CancelFn | None) -> VideoResult:
    opts = plan.options
    temporal = opts.temporal_settings()
    smoother = TemporalSmoother(temporal) if temporal is not None else None
    settings = {"source": str(plan.src.resolve()), "source_bytes": _size_of(plan.src),
                "codec": asdict(plan.spec), "size": list(plan.size), "start": opts.start, "end": opts.end,
                "fps": str(plan.source.fps), "segment_frames": opts.segment_frames, "model": model_id,
                "temporal": asdict(temporal) if temporal is not None else None}
    parts = PartsFolder(plan.dst)
    done = parts.load(settings) if opts.resume else []
    if not done:
        parts.reset()
    elif smoother is not None:
        smoother.load_state(parts.load_state())
    done_frames = sum(seg["frames"] for seg in done)
    if done:
        log.info("resuming %s: %d frames in %d finished segments", plan.dst, done_frames, len(done))
    total = expected_frames(plan.source, opts.start, opts.end)
    t0 = time.perf_counter()
    run = _Pipeline(plan, parts, settings, done, frames_fn, smoother, total, progress, cancel)
    segments = run.run()
    elapsed = time.perf_counter() - t0
    return _finish(plan, parts, segments, done_frames, total, elapsed)


def _finish(plan: _Plan, parts: PartsFolder, segments: list[dict], done_frames: int, total: int | None,
            elapsed: float) -> VideoResult:
    """Refuse a truncated input unless allowed, then join the segments and the audio into ``dst``."""
    opts = plan.options
    if not segments:
        raise VideoDecodeError(f"{plan.src}: no frames between start {opts.start} and end {opts.end}",
                               params=("start", "end"))
    frames = sum(seg["frames"] for seg in segments)
    truncated = is_truncated(plan.source, opts.start, opts.end, total, frames)
    if truncated:
        message = f"{plan.src}: truncated video: only {frames} of the {total} frames it declares could be decoded"
        if not opts.allow_truncated:
            raise VideoTruncatedError(message, frames, int(total or 0))
        log.warning("%s; writing the %d decoded frames", message, frames)
    with atomic_path(plan.dst) as tmp:
        audio = join_segments(parts, segments, tmp, plan.source, opts.start, opts.end)
    parts.remove()
    return VideoResult(plan.dst, frames, frames - done_frames, elapsed, plan.size, audio, total, truncated)


class _Pipeline:
    """decode thread -> frames function (the calling thread) -> encode thread, through bounded queues."""

    def __init__(self, plan: _Plan, parts: PartsFolder, settings: dict, done: list[dict], frames_fn: FramesFn,
                 smoother: TemporalSmoother | None, total: int | None, progress: ProgressFn | None,
                 cancel: CancelFn | None):
        self.plan, self.parts, self.settings = plan, parts, settings
        self.frames_fn, self.smoother, self.total = frames_fn, smoother, total
        self.progress, self.cancel = progress, cancel
        self.segments = list(done)
        self.done_frames = sum(seg["frames"] for seg in done)
        self.after_pts = done[-1]["last_in_pts"] if done else None
        self.stop = threading.Event()
        self.decoded: queue.Queue = queue.Queue(maxsize=2)
        self.stylized: queue.Queue = queue.Queue(maxsize=2)
        self.errors: list[BaseException] = []

    def run(self) -> list[dict]:
        """All three stages; the finished segments (those of an earlier run first)."""
        threads = [threading.Thread(target=self._decode, name="video-decode", daemon=True),
                   threading.Thread(target=self._encode, name="video-encode", daemon=True)]
        for thread in threads:
            thread.start()
        try:
            self._stylize()
        except BaseException:
            self.stop.set()
            raise
        finally:
            if self.stop.is_set():  # unblock both threads; finished segments stay on disk for resume
                _drain(self.decoded)
                _drain(self.stylized)
                self.stylized.put_nowait(_END)
            else:
                self._put(self.stylized, _END)
            for thread in threads:
                thread.join()
        if self.errors:
            raise self.errors[0]
        return self.segments

    def _put(self, q: queue.Queue, item: object) -> bool:
        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, q: queue.Queue) -> object:
        while not self.stop.is_set():
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue
        return _END

    def _decode(self) -> None:
        opts = self.plan.options
        try:
            batch: list[tuple[np.ndarray, int, int]] = []
            for item in iter_frames(self.plan.source, self.plan.size, start=opts.start, end=opts.end,
                                    after_pts=self.after_pts):
                batch.append(item)
                if len(batch) == opts.batch_size:
                    if not self._put(self.decoded, batch):
                        return
                    batch = []
            if batch:
                self._put(self.decoded, batch)
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            self.errors.append(exc)
        finally:
            self._put(self.decoded, _END)

    def _stylize(self) -> None:
        """The calling thread: each decoded batch through the frames function and the flicker filter."""
        count = self.done_frames
        while True:
            batch = self._get(self.decoded)
            if batch is _END:
                return
            if self.cancel is not None and self.cancel():
                raise VideoCancelled(f"stopped after {count} frames: cancelled")
            outputs, states = self._stylize_batch(np.stack([b[0] for b in batch]), count)
            if not self._put(self.stylized, (outputs, [(b[1], b[2]) for b in batch], states)):
                return
            count += len(batch)
            if self.progress is not None:
                self.progress(count, self.total)

    def _stylize_batch(self, inputs: np.ndarray, count: int) -> tuple[np.ndarray, dict[int, dict]]:
        """The stylized batch and the filter's state at each segment end inside it (for resume)."""
        outputs = run_frames(self.frames_fn, inputs)
        states: dict[int, dict] = {}
        if self.smoother is not None:
            segment_frames = self.plan.options.segment_frames
            for i in range(len(outputs)):
                outputs[i] = self.smoother(inputs[i], outputs[i])
                if (count + i + 1) % segment_frames == 0:  # a segment ends here: keep the filter state
                    states[count + i + 1] = self.smoother.state()
        return outputs, states

    def _encode(self) -> None:
        plan, parts = self.plan, self.parts
        shift = round(plan.options.start / plan.source.time_base) if plan.options.start else 0
        writer: SegmentWriter | None = None
        count = self.done_frames
        try:
            while True:
                item = self.stylized.get()
                if item is _END or self.stop.is_set():
                    break
                frames, stamps, states = item
                for rgb, (pts, duration) in zip(frames, stamps):
                    if writer is None:
                        writer = SegmentWriter(parts.segment_path(len(self.segments)), plan.spec, plan.size,
                                               plan.source)
                    writer.write(rgb, pts - shift, duration, pts)
                    count += 1
                    if writer.frames == plan.options.segment_frames:
                        self.segments.append(writer.finish())
                        writer = None
                        parts.save(self.settings, self.segments, states.get(count))
            if writer is not None and not self.stop.is_set():
                self.segments.append(writer.finish())
                writer = None
                parts.save(self.settings, self.segments)
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            self.errors.append(exc)
            self.stop.set()
        finally:
            if writer is not None:
                writer.abort()


def _drain(q: queue.Queue) -> None:
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return


def _frames_function(target: Stylizer | FramesFn) -> tuple[FramesFn, str]:
    """The frames function of a Stylizer (or of anything with ``stylize_frames``), or the callable itself,
    with the model id that keys the resume manifest."""
    frames_fn = getattr(target, "stylize_frames", None)
    if callable(frames_fn):
        return frames_fn, _fingerprint(target)
    if callable(target):
        return target, _fingerprint(target)
    raise InputError(f"stylizer {type(target).__name__}: needs a stylize_frames method or to be callable")


def _fingerprint(target: object) -> str:
    """Identifies the model for resume from its identity, never from the tensors as they run.

    A Stylizer: :meth:`Stylizer.model_id`, i.e. the weights file's sha256 with the arch and config it
    declares, or for an in-memory module its weights hashed as fp32, so bf16/fp32 runs of the same
    weights agree. Other objects: the weights of their ``model`` module, their ``info``, or their name.
    """
    model_id = getattr(target, "model_id", None)
    if callable(model_id):
        return str(model_id())
    module = getattr(target, "model", None)
    if module is not None and hasattr(module, "state_dict"):
        return "weights-sha256:" + module_digest(module)
    info = getattr(target, "info", None)
    if info is not None:
        return f"{type(target).__name__}:{info!r}"
    return getattr(target, "__qualname__", None) or type(target).__name__


def _size_of(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size
