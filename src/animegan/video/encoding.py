"""Encoder choice: which video encoder, pixel format and settings an output gets.

:func:`encoder_for` picks the encoder from the ``codec`` option or the output's extension, checks
that this FFmpeg build has it and that the container takes it (before any frame is stylized), and
returns an :class:`EncoderSpec`, which is also part of the resume fingerprint.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError, ParamError
from ..extras import require

av = require("av", extra="video", feature="video conversion")

#: output extensions and the muxer each one means
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".gif": "gif",
              ".avi": "avi", ".ts": "mpegts", ".nut": "nut", ".flv": "flv"}
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
        raise ParamError("codec", codec, "no such video encoder in this FFmpeg build") from None
    if found.type != "video":
        raise ParamError("codec", codec, f"is a {found.type} codec, not a video encoder")
    name = found.name
    formats = [f.name for f in (found.video_formats or [])]
    pix_fmt = "pal8" if name == "gif" else next((f for f in ("yuv420p", "rgb24") if f in formats),
                                                 formats[0] if formats else "yuv420p")
    spec = EncoderSpec(name, pix_fmt, _encoder_options(name, crf, preset))
    _check_container_takes(output, spec)
    return spec


def _encoder_options(name: str, crf: int | None, preset: str | None) -> dict[str, str]:
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
    return options


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
                         f"({str(exc).split(';')[0]}); pick another codec or extension",
                         params=("codec",)) from None


def output_size(width: int, height: int, max_side: int | None, spec: EncoderSpec) -> tuple[int, int]:
    """Frame size after ``max_side``, rounded to even sides where the pixel format needs it."""
    scale = min(1.0, max_side / max(width, height)) if max_side else 1.0
    w, h = max(2, round(width * scale)), max(2, round(height * scale))
    even_w, even_h = spec.even_sides
    return (w - w % 2 if even_w else w), (h - h % 2 if even_h else h)


def pal8_frame(rgb: np.ndarray) -> av.VideoFrame:
    """An adaptive 256-colour palette per frame (GIF), without dithering noise that flickers."""
    from PIL import Image

    quantized = Image.fromarray(rgb).quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    palette = np.asarray(quantized.getpalette() or [], np.uint8).reshape(-1, 3)[:256]
    argb = np.zeros((256, 4), np.uint8)
    argb[:, 0] = 255
    argb[: len(palette), 1:] = palette
    return av.VideoFrame.from_ndarray((np.asarray(quantized), argb), format="pal8")
