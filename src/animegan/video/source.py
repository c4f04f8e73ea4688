"""Video inputs for the video pipeline: a video file (GIF included) or a folder of frames.

`open_source` probes once (streams, frame rate, time base, rotation, pixel aspect) and raises a
typed error naming the input; `iter_frames` streams RGB frames with their timestamps, scaled to
the requested size, one decoded frame in memory at a time.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import InputError, ParamError
from ..extras import require
from ..io.discovery import list_images

av = require("av", extra="video", feature="video conversion")

log = logging.getLogger("animegan")


class VideoDecodeError(InputError):
    """The file exists but is not a decodable video (text file, truncated, no video stream)."""

    http_status = 415


class VideoTruncatedError(VideoDecodeError):
    """Fewer frames could be decoded than the file declares (a cut-off download or copy)."""

    http_status = 422

    def __init__(self, message: str, decoded: int = 0, declared: int = 0):
        super().__init__(message)
        self.decoded, self.declared = decoded, declared


@dataclass
class AudioTrack:
    """One audio stream of the input: its index in the container and codec name."""

    index: int
    codec: str


@dataclass
class VideoSource:
    """What the pipeline needs to know about an input before decoding it."""

    path: Path
    kind: str  # "video" (any container PyAV reads, GIF included) or "frames" (a folder of images)
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    frame_count: int | None  # the container's count or an estimate from the duration; None if unknown
    duration: float | None  # seconds
    start_time: float = 0.0  # seconds of the first video timestamp
    rotation_matrix: list[int] | None = None  # display matrix (9 int32), None when not rotated
    rotate_tag: str | None = None  # legacy "rotate" stream tag
    sample_aspect_ratio: Fraction | None = None
    audio: list[AudioTrack] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # streams that will not be carried over
    frame_files: list[Path] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    #: ``frame_count`` is the container's own count (mp4/mov, a folder), not an estimate from the duration
    frame_count_exact: bool = False

    @property
    def frame_duration(self) -> int:
        """One frame at the nominal rate, in time-base units (at least 1)."""
        return max(1, round(1 / (self.fps * self.time_base)))


def open_source(path: str | Path, fps: float | None = None) -> VideoSource:
    """Probe ``path``: a video/GIF file, or a folder of frames played at ``fps`` (default 25)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        return _open_frames_folder(path, fps)
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise VideoDecodeError(f"{path}: not a readable video ({_reason(exc)})") from None
    with container:
        if not container.streams.video:
            raise VideoDecodeError(f"{path}: has no video stream")
        stream = container.streams.video[0]
        time_base = stream.time_base or Fraction(1, 1000)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if fps:
            rate = Fraction(fps).limit_denominator(100000)
        if not rate or rate <= 0:
            rate = Fraction(25)
        try:
            first = next(container.decode(stream), None)
        except av.error.FFmpegError as exc:
            raise VideoDecodeError(f"{path}: video stream cannot be decoded ({_reason(exc)})") from None
        if first is None:
            raise VideoDecodeError(f"{path}: video stream has no frames")
        duration = None
        if stream.duration:
            duration = float(stream.duration * time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        count = stream.frames or (round(duration * rate) if duration else None)
        start = float(stream.start_time * time_base) if stream.start_time is not None else 0.0
        audio, dropped = [], []
        for other in container.streams:
            if other.index == stream.index:
                continue
            if other.type == "audio":
                audio.append(AudioTrack(other.index, other.codec_context.name))
            else:
                name = other.codec_context.name if other.codec_context else "?"
                dropped.append(f"{other.type} stream #{other.index} ({name})")
        return VideoSource(
            path=path, kind="video", width=stream.codec_context.width, height=stream.codec_context.height,
            fps=Fraction(rate), time_base=Fraction(time_base), frame_count=count or None, duration=duration,
            start_time=start, rotation_matrix=_display_matrix(first), rotate_tag=stream.metadata.get("rotate"),
            sample_aspect_ratio=_sar(stream), audio=audio, dropped=dropped,
            metadata={k: v for k, v in container.metadata.items() if k.lower() not in ("encoder", "major_brand",
                                                                                         "minor_version",
                                                                                         "compatible_brands")},
            frame_count_exact=bool(stream.frames),
        )


def iter_frames(source: VideoSource, size: tuple[int, int], *, start: float | None = None,
                end: float | None = None, after_pts: int | None = None,
                ) -> Iterator[tuple[np.ndarray, int, int]]:
    """Yield ``(rgb H×W×3 uint8, pts, duration)`` for frames with start <= t < end.

    ``size`` is (width, height) of the yielded frames; ``after_pts`` skips frames up to and including
    that timestamp (resume), seeking near it first so finished frames are not decoded again.
    """
    if source.kind == "frames":
        yield from _iter_folder(source, size, start, end, after_pts)
        return
    try:
        container = av.open(str(source.path))
    except av.error.FFmpegError as exc:
        raise VideoDecodeError(f"{source.path}: not a readable video ({_reason(exc)})") from None
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tb = source.time_base
        lo = round(start / tb) if start else None
        hi = round(end / tb) if end is not None else None
        seek_to = max(v for v in (lo, after_pts) if v is not None) if (lo or after_pts is not None) else None
        if seek_to is not None and source.kind == "video":
            try:
                container.seek(seek_to, stream=stream, backward=True, any_frame=False)
            except av.error.FFmpegError:  # unseekable input: decode from the start and drop
                container.seek(0, stream=stream)
        width, height = size
        index = 0
        last_pts = None
        try:
            for frame in container.decode(stream):
                pts = frame.pts
                if pts is None:  # streams without timestamps: count frames at the nominal rate
                    pts = index * source.frame_duration if last_pts is None else last_pts + source.frame_duration
                index += 1
                if last_pts is not None and pts <= last_pts:
                    continue  # duplicate timestamps after a seek
                if lo is not None and pts < lo or after_pts is not None and pts <= after_pts:
                    continue
                if hi is not None and pts >= hi:
                    break
                last_pts = pts
                duration = frame.duration or source.frame_duration
                rgb = frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="AREA")
                yield rgb, pts, duration
        except av.error.FFmpegError as exc:
            raise VideoDecodeError(f"{source.path}: decoding failed after {index} frames ({_reason(exc)})") from None


def expected_frames(source: VideoSource, start: float | None, end: float | None) -> int | None:
    """Frames the input declares between ``start`` and ``end`` (None: unknown)."""
    if start is None and end is None:
        return source.frame_count
    if not source.duration:
        return None
    stop = source.start_time + source.duration
    if end is not None:
        stop = min(stop, end)
    return max(0, round((stop - max(start or 0.0, source.start_time)) * source.fps))


def is_truncated(source: VideoSource, start: float | None, end: float | None, declared: int | None,
                  decoded: int) -> bool:
    """Whether ``decoded`` falls short of ``declared`` by more than counting slack.

    The container's own count (mp4, mov) is nearly exact: a shortfall over 2 % (at least 2 frames,
    for edit lists and priming) means the file was cut. A count estimated from the duration
    (mkv, webm, a start/end range) gets 10 % (at least 3 frames) for variable frame rates.
    """
    if declared is None or source.kind != "video" or decoded >= declared:
        return False
    exact = source.frame_count_exact and start is None and end is None
    slack = max(2, math.ceil(0.02 * declared)) if exact else max(3, math.ceil(0.10 * declared))
    return declared - decoded > slack


def natural_key(path: Path) -> list[object]:
    """Sort key where frame2 comes before frame10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _open_frames_folder(path: Path, fps: float | None) -> VideoSource:
    from PIL import Image, UnidentifiedImageError

    files = sorted(list_images(path, recursive=False), key=natural_key)
    try:
        with Image.open(files[0]) as first:
            width, height = first.size
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{files[0]}: not a readable image ({exc})") from None
    rate = Fraction(fps or 25).limit_denominator(100000)
    if rate <= 0:
        raise ParamError("fps", fps, "must be above 0")
    return VideoSource(path=path, kind="frames", width=width, height=height, fps=rate, time_base=1 / rate,
                       frame_count=len(files), duration=float(len(files) / rate), frame_files=files,
                       frame_count_exact=True)


def _iter_folder(source: VideoSource, size: tuple[int, int], start: float | None, end: float | None,
                 after_pts: int | None) -> Iterator[tuple[np.ndarray, int, int]]:
    from PIL import Image, ImageOps, UnidentifiedImageError

    for pts, file in enumerate(source.frame_files):
        t = float(pts * source.time_base)
        if start is not None and t < start or after_pts is not None and pts <= after_pts:
            continue
        if end is not None and t >= end:
            break
        try:
            with Image.open(file) as img:
                img = ImageOps.exif_transpose(img).convert("RGB")
                if img.size != (source.width, source.height):
                    raise InputError(f"{file}: frame is {img.size[0]}×{img.size[1]}, the first frame is "
                                     f"{source.width}×{source.height}; all frames must have one size")
                if img.size != size:
                    img = img.resize(size, Image.Resampling.BOX)
                yield np.asarray(img), pts, 1
        except (UnidentifiedImageError, OSError) as exc:
            raise InputError(f"{file}: not a readable image ({exc})") from None


def _display_matrix(frame: av.VideoFrame) -> list[int] | None:
    for data in frame.side_data:
        if data.type == av.sidedata.sidedata.Type.DISPLAYMATRIX:
            matrix = np.frombuffer(memoryview(data), "<i4").tolist()
            identity = [65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30]
            return None if matrix == identity else matrix
    return None


def _sar(stream: av.video.stream.VideoStream) -> Fraction | None:
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    return Fraction(sar) if sar and sar != 1 and sar > 0 else None


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(":")[0].strip() if text else type(exc).__name__
