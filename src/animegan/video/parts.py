"""Encoding in segments, the resume manifest, and the final join with the audio.

A conversion writes N-frame segments (each a finished NUT file that starts on a keyframe) into
``<out>.parts/`` with a ``manifest.json``. ``--resume`` keeps the finished segments; the join copies
their packets (no re-encode) into the output container and interleaves the input's audio: packets
copied when the container takes the codec, otherwise transcoded.
"""

from __future__ import annotations

import contextlib
import heapq
import io
import json
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..extras import require
from ..io.atomic import atomic_write_bytes
from .source import VideoSource

av = require("av", extra="video", feature="video conversion")

log = logging.getLogger("animegan")

MANIFEST = "manifest.json"
STATE = "temporal-state.npz"
#: output extensions and the muxer each one means
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".gif": "gif",
              ".avi": "avi", ".ts": "mpegts", ".nut": "nut", ".flv": "flv"}
_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
#: output extensions and the muxer each one means
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".gif": "gif",
              ".avi": "avi", ".ts": "mpegts", ".nut": "nut", ".flv": "flv"}
_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
_CODEC_ALIASES = {"h264": "libx264", "x264": "libx264", "avc": "libx264", "hevc": "libx265", "h265": "libx265",
                  "x265": "libx265", "vp9": "libvpx-vp9", "vp8": "libvpx", "av1": "libaom-av1"}


@dataclass(frozen=True)
class EncoderSpec:
    """The video encoder and its settings (part of the resume fingerprint)."""

    codec: str
    pix_fmt: str
    options: dict[str, str]

    @property
    def even_sides(self) -> tuple[bool, bool]:
        """(width, height) must be even for chroma-subsampled pixel formats."""
        return self.pix_fmt.startswith(("yuv420", "yuvj420", "nv12", "yuv422", "yuvj422")), \
            self.pix_fmt.startswith(("yuv420", "yuvj420", "nv12"))


def encoder_for(codec: str | None, output: Path, crf: int | None, preset: str | None) -> EncoderSpec:
    """Pick and check the encoder: ``codec`` or the default for the output's extension."""
    ext = output.suffix.lower()
    if ext not in CONTAINERS:
        raise InputError(f"{output}: unknown video container {ext or '(no extension)'} "
                         f"(use {', '.join(sorted(CONTAINERS))})")
    if codec is None:
        codec = {".gif": "gif", ".webm": "libvpx-vp9"}.get(ext, "libx264")
    name = _CODEC_ALIASES.get(codec.lower(), codec.lower())
    try:
        found = av.Codec(name, "w")
    except (ValueError, av.error.FFmpegError):
        raise InputError(f"--codec {codec}: no such video encoder in this FFmpeg build") from None
    if found.type != "video":
        raise InputError(f"--codec {codec}: is a {found.type} codec, not a video encoder")
    name = found.name
    formats = [f.name for f in (found.video_formats or [])]
    pix_fmt = "pal8" if name == "gif" else next((f for f in ("yuv420p", "rgb24") if f in formats),
                                                 formats[0] if formats else "yuv420p")
    options: dict[str, str] = {}
    if name in ("libx264", "libx265"):
        options["crf"] = str(18 if crf is None else crf)
        options["preset"] = preset or "medium"
    elif name in ("libvpx-vp9", "libvpx", "libaom-av1"):
        options.update({"crf": str(31 if crf is None else crf), "b": "0"})
        if name == "libvpx-vp9":
            options["row-mt"] = "1"
    elif crf is not None:
        options["qscale"] = str(max(1, min(31, crf)))  # mpeg4 and friends: a quantizer, not a CRF
    if name == "libx265":
        options["x265-params"] = "log-level=error"
    spec = EncoderSpec(name, pix_fmt, options)
    _check_container_takes(output, spec)
    return spec


def _check_container_takes(output: Path, spec: EncoderSpec) -> None:
    """Fail now, not after hours of frames, when the container refuses the codec (h264 in .webm)."""
    fmt = CONTAINERS[output.suffix.lower()]
    if fmt == "gif" or spec.codec == "gif":  # the GIF muxer refuses a header-only trial; it takes GIF only
        if fmt != spec.codec:
            raise InputError(f"{output}: GIF video goes in .gif files and .gif files hold GIF video only "
                             f"(got {spec.codec} for {fmt})")
        return
    try:
        with av.open(io.BytesIO(), "w", format=fmt) as trial:
            stream = trial.add_stream(spec.codec, rate=25, options=dict(spec.options))
            stream.width, stream.height, stream.pix_fmt = 64, 64, spec.pix_fmt
            trial.start_encoding()
    except (ValueError, av.error.FFmpegError) as exc:
        raise InputError(f"{output}: the {fmt} container does not take {spec.codec} video "
                         f"({str(exc).split(';')[0]}); pick another --codec or extension") from None


class PartsFolder:
    """``<out>.parts/``: finished segments plus the manifest that says what they were made with."""

    def __init__(self, output: Path):
        self.path = output.with_name(output.name + ".parts")

    def segment_path(self, index: int) -> Path:
        return self.path / f"seg-{index:05d}.nut"

    def load(self, settings: dict) -> list[dict]:
        """Finished segments made with these ``settings``; [] when there is nothing to resume."""
        try:
            manifest = json.loads((self.path / MANIFEST).read_text())
        except (FileNotFoundError, ValueError):
            return []
        if manifest.get("settings") != settings:
            log.warning("%s was made with other settings; starting over", self.path)
            return []
        segments = []
        for seg in manifest.get("segments", []):  # keep the prefix whose files are all present
            if not (self.path / seg["file"]).is_file():
                break
            segments.append(seg)
        return segments

    def reset(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True, exist_ok=True)

    def save(self, settings: dict, segments: list[dict], state: dict[str, np.ndarray] | None = None) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        if state is not None:  # state first: a manifest never points past the saved filter state
            tmp = self.path / (STATE + ".tmp.npz")
            np.savez(tmp, **state)
            os.replace(tmp, self.path / STATE)
        data = {"version": 1, "settings": settings, "segments": segments}
        atomic_write_bytes(self.path / MANIFEST, json.dumps(data, indent=1).encode())

    def load_state(self) -> dict[str, np.ndarray] | None:
        try:
            with np.load(self.path / STATE) as data:
                return {k: data[k] for k in data.files}
        except (FileNotFoundError, ValueError, OSError):
            return None

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class SegmentWriter:
    """Encodes one segment: a fresh encoder, so the first frame is a keyframe."""

    def __init__(self, path: Path, spec: EncoderSpec, size: tuple[int, int], source: VideoSource):
        self.path, self.spec, self.source = path, spec, source
        self.tmp = path.with_name(path.name + ".tmp.nut")
        self.container = av.open(str(self.tmp), "w", format="nut")
        stream = self.container.add_stream(spec.codec, rate=source.fps, options=dict(spec.options))
        stream.width, stream.height = size
        stream.pix_fmt = spec.pix_fmt
        stream.time_base = source.time_base
        stream.codec_context.time_base = source.time_base
        if source.sample_aspect_ratio:
            stream.codec_context.sample_aspect_ratio = source.sample_aspect_ratio
        stream.thread_type = "AUTO"
        self.stream = stream
        self.frames = 0
        self.first_pts: int | None = None
        self.last_pts: int | None = None
        self.last_in_pts: int | None = None

    def write(self, rgb: np.ndarray, pts: int, duration: int, in_pts: int) -> None:
        frame = pal8_frame(rgb) if self.spec.pix_fmt == "pal8" else av.VideoFrame.from_ndarray(rgb, "rgb24")
        frame.pts, frame.time_base, frame.duration = pts, self.source.time_base, duration
        self.container.mux(self.stream.encode(frame))
        self.frames += 1
        self.first_pts = pts if self.first_pts is None else self.first_pts
        self.last_pts, self.last_in_pts = pts, in_pts

    def finish(self) -> dict:
        self.container.mux(self.stream.encode(None))
        self.container.close()
        os.replace(self.tmp, self.path)
        return {"file": self.path.name, "frames": self.frames, "first_pts": self.first_pts,
                "last_pts": self.last_pts, "last_in_pts": self.last_in_pts}

    def abort(self) -> None:
        with contextlib.suppress(Exception):  # the segment is discarded either way
            self.container.close()
        self.tmp.unlink(missing_ok=True)


def join_segments(parts: PartsFolder, segments: list[dict], target: Path, source: VideoSource,
                  start: float | None, end: float | None) -> str:
    """Stream-copy the segments into ``target`` and add the audio; returns how the audio was handled."""
    out = av.open(str(target), "w")
    notes = []
    with out:
        with av.open(str(parts.segment_path(0).with_name(segments[0]["file"]))) as first:
            template = first.streams.video[0]
            video = out.add_stream_from_template(template)
        video.time_base = source.time_base
        # the segments' codec header carries the encoder's time base as its frame rate (12800 for a
        # 1/12800 mp4 time base): give the muxer the input's rate (mkv writes it as the frame duration)
        video.codec_context.framerate = source.fps
        if source.rotation_matrix:
            video.set_display_matrix(source.rotation_matrix)
        if source.rotate_tag:
            video.metadata["rotate"] = source.rotate_tag
        for key, value in source.metadata.items():
            out.metadata[key] = value
        feeds = [_video_packets(parts, segments, video, source)]
        audio_in = av.open(str(source.path)) if source.audio else None
        try:
            for track in source.audio:
                feed, note = _audio_feed(out, audio_in, track, start, end)
                if feed is not None:
                    feeds.append(feed)
                notes.append(note)
            for _, _, packet in heapq.merge(*feeds, key=lambda item: (item[0], item[1])):
                out.mux(packet)
        finally:
            if audio_in is not None:
                audio_in.close()
    return "; ".join(notes) if notes else "no audio"


def _video_packets(parts: PartsFolder, segments: list[dict], stream: av.VideoStream, source: VideoSource,
                   ) -> Iterator[tuple[float, int, av.Packet]]:
    """Packets of every segment in order, re-timed to the manifest (muxers may shift timestamps)."""
    last_dts = None
    for seg in segments:
        with av.open(str(parts.path / seg["file"])) as container:
            src = container.streams.video[0]
            packets = [p for p in container.demux(src) if p.size]
            if not packets:
                continue
            tb = src.time_base
            shift = round(seg["first_pts"] * source.time_base / tb) - min(p.pts for p in packets)
            # the demuxer leaves the dts of the first reordered packets unset: fill them backwards
            known = next((i for i, p in enumerate(packets) if p.dts is not None), len(packets))
            anchor = packets[known].dts if known < len(packets) else packets[0].pts
            for i in range(known):
                packets[i].dts = anchor - (known - i) * (packets[i].duration or 1)
            for packet in packets:
                packet.pts += shift
                packet.dts += shift
                if last_dts is not None and packet.dts <= last_dts:
                    packet.dts = last_dts + 1  # keep dts strictly increasing across joins
                last_dts = packet.dts
                packet.stream = stream
                yield float(packet.dts * tb), 0, packet


def _audio_feed(out: av.container.OutputContainer, inp: av.container.InputContainer, track, start, end):
    """A (time, order, packet) feed for one audio track, and a note on what is done with it."""
    src = inp.streams[track.index]
    fmt = out.format.name
    if fmt == "gif":
        return None, f"audio #{track.index} ({track.codec}) dropped: GIF has no audio"
    copy = _can_copy(fmt, inp.name, src)
    if copy:
        stream = out.add_stream_from_template(src)
    if copy:
        return _copied_audio(inp, src, stream, start, end), f"audio {track.codec} copied"
    target = "libopus" if fmt == "webm" else "aac"
    rate = src.codec_context.sample_rate or 48000
    if target == "libopus":
        rate = 48000
    stream = out.add_stream(target, rate=rate)
    channels = src.codec_context.channels or 2
    stream.layout = _LAYOUTS[min(channels, 8) if target == "aac" else min(channels, 2)]
    return _transcoded_audio(inp, src, stream, start, end), f"audio {track.codec} transcoded to {stream.name}"


def _can_copy(fmt: str, path: str, src: av.audio.stream.AudioStream) -> bool:
    """Whether ``fmt`` takes ``src``'s packets as they are: a trial mux into memory.

    ``supported_codecs`` is not enough: mp4 lists PCM yet fails when the file is finished.
    """
    if fmt == "webm" and src.codec_context.name not in ("opus", "vorbis"):
        return False
    try:
        with av.open(path) as probe_in, av.open(io.BytesIO(), "w", format=fmt) as trial:
            stream = trial.add_stream_from_template(probe_in.streams[src.index])
            for packet in probe_in.demux(probe_in.streams[src.index]):
                if packet.size and packet.dts is not None:
                    packet.stream = stream
                    trial.mux(packet)
                    break
        return True
    except (ValueError, av.error.FFmpegError):
        return False


def _copied_audio(inp, src, stream, start, end) -> Iterator[tuple[float, int, av.Packet]]:
    tb = src.time_base
    shift = round(start / tb) if start else 0
    for packet in inp.demux(src):
        if packet.pts is None or packet.size == 0:
            continue
        t = float(packet.pts * tb)
        if start and t < start:
            continue
        if end is not None and t >= end:
            break
        packet.pts -= shift
        packet.dts = (packet.dts if packet.dts is not None else packet.pts + shift) - shift
        packet.stream = stream
        yield float(packet.dts * tb), 1, packet


def _transcoded_audio(inp, src, stream, start, end) -> Iterator[tuple[float, int, av.Packet]]:
    rate = stream.codec_context.sample_rate
    resampler = av.AudioResampler(format=stream.codec_context.format.name, layout=stream.layout.name, rate=rate)

    def timed(packets: list[av.Packet]) -> Iterator[tuple[float, int, av.Packet]]:
        for packet in packets:
            if packet.time_base is None:
                packet.time_base = Fraction(1, rate)  # audio encoders count in samples
            yield float(packet.dts * packet.time_base), 1, packet

    written = 0

    def encode(chunks: list[av.AudioFrame] | None) -> Iterator[tuple[float, int, av.Packet]]:
        nonlocal written
        for chunk in chunks or []:
            chunk.pts, chunk.time_base = written, Fraction(1, rate)  # output audio starts at zero
            written += chunk.samples
            yield from timed(stream.encode(chunk))

    for frame in inp.decode(src):
        if frame.time is not None:
            if start and frame.time < start:
                continue
            if end is not None and frame.time >= end:
                break
        yield from encode(resampler.resample(frame))
    yield from encode(resampler.resample(None))
    yield from timed(stream.encode(None))


def pal8_frame(rgb: np.ndarray) -> av.VideoFrame:
    """An adaptive 256-colour palette per frame (GIF), without dithering noise that flickers."""
    from PIL import Image

    quantized = Image.fromarray(rgb).quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    palette = np.asarray(quantized.getpalette() or [], np.uint8).reshape(-1, 3)[:256]
    argb = np.zeros((256, 4), np.uint8)
    argb[:, 0] = 255
    argb[: len(palette), 1:] = palette
    return av.VideoFrame.from_ndarray((np.asarray(quantized), argb), format="pal8")
