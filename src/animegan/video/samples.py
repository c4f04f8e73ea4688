"""Synthetic clips made with PyAV, for tests, benchmarks and demos (no sample files to ship).

`write_clip` writes a video with a moving pattern and, optionally, a sine-tone audio track;
`scene_frames` makes the flicker test scene: a static textured background, a moving square and a
little noise per frame, like a locked-off camera.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..extras import require
from .encoding import pal8_frame

av = require("av", extra="video", feature="video conversion")

_ASS_HEADER = (b"[Script Info]\r\nScriptType: v4.00+\r\n\r\n[Events]\r\nFormat: Layer, Start, End, Style, "
               b"Name, MarginL, MarginR, MarginV, Effect, Text\r\n")


def scene_frames(width: int, height: int, count: int, *, noise: float = 2.0, square: int | None = None,
                 seed: int = 0) -> Iterator[np.ndarray]:
    """Static textured background + a square moving left to right + Gaussian noise (σ in levels)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    background = np.stack([
        128 + 60 * np.sin(x / 7.0) * np.cos(y / 11.0),
        128 + 50 * np.cos((x + y) / 13.0),
        110 + 40 * np.sin(x / 23.0 + y / 5.0),
    ], axis=-1)
    background += rng.normal(0, 12, background.shape)  # fixed fine texture
    side = square or max(4, min(width, height) // 4)
    for i in range(count):
        frame = background.copy()
        left = int((width - side) * i / max(1, count - 1))
        top = (height - side) // 2
        frame[top:top + side, left:left + side] = (230, 60, 40)
        if noise:
            frame += rng.normal(0, noise, frame.shape)
        yield np.clip(frame + 0.5, 0, 255).astype(np.uint8)


def moving_frames(width: int, height: int, count: int) -> Iterator[np.ndarray]:
    """A colour gradient that scrolls, with the frame number written as a bright bar length."""
    y, x = np.mgrid[0:height, 0:width]
    for i in range(count):
        frame = np.empty((height, width, 3), np.uint8)
        frame[..., 0] = (x * 255 // max(1, width - 1) + 3 * i) % 256
        frame[..., 1] = (y * 255 // max(1, height - 1)) % 256
        frame[..., 2] = (i * 7) % 256
        frame[: max(1, height // 10), : min(width, 2 * i + 1)] = 255
        yield frame


def write_clip(path: str | Path, *, width: int = 320, height: int = 240, fps: int = 25, seconds: float = 3.0,
               codec: str = "libx264", audio: str | None = "aac", sample_rate: int = 44100,
               rotation: int = 0, sample_aspect_ratio: Fraction | None = None,
               frames: Iterator[np.ndarray] | None = None, subtitle: bool = False, gop: int | None = None) -> Path:
    """Write a test clip; ``audio`` is an encoder name ("aac", "libopus", "pcm_s16le") or None;
    ``gop``: a keyframe at least every this many frames (libx264)."""
    path = Path(path)
    count = round(seconds * fps)
    frames = frames if frames is not None else moving_frames(width, height, count)
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=fps)
        video.width, video.height = width, height
        video.pix_fmt = "pal8" if codec == "gif" else "yuv420p"
        if codec == "libx264":
            video.options = {"preset": "ultrafast", "crf": "18", **({"g": str(gop)} if gop else {})}
        if rotation:
            video.set_display_rotation(rotation)
        if sample_aspect_ratio:
            video.codec_context.sample_aspect_ratio = sample_aspect_ratio
        sound = None
        if audio:
            sound = out.add_stream(audio, rate=48000 if audio == "libopus" else sample_rate)
            sound.layout = "stereo"
        text = None
        if subtitle:
            text = out.add_stream("mov_text" if path.suffix == ".mp4" else "subrip")
            text.codec_context.subtitle_header = _ASS_HEADER
        for i, rgb in enumerate(frames):
            if i >= count:
                break
            frame = pal8_frame(rgb) if codec == "gif" else av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if text is not None:
            cue = av.Packet(b"hello")
            cue.stream, cue.time_base, cue.pts, cue.dts, cue.duration = text, Fraction(1, 1000), 0, 0, 1000
            out.mux(cue)
        if sound is not None:
            rate = sound.codec_context.sample_rate
            t = np.arange(round(seconds * rate)) / rate
            tone = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 660 * t)]).astype(np.float32)
            step = 960
            for k in range(0, tone.shape[1], step):
                chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, k:k + step]), format="fltp",
                                                   layout="stereo")
                chunk.sample_rate, chunk.pts = rate, k
                out.mux(sound.encode(chunk))
            out.mux(sound.encode(None))
    return path


def read_frames(path: str | Path) -> np.ndarray:
    """All video frames of ``path`` as N×H×W×3 uint8 (small clips only)."""
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def read_audio(path: str | Path, stream: int = 0) -> np.ndarray:
    """All decoded samples of audio stream ``stream`` (channels × samples), for comparisons."""
    with av.open(str(path)) as container:
        chunks = [f.to_ndarray() for f in container.decode(audio=stream)]
    planar = [c if c.ndim == 2 else c[None] for c in chunks]
    return np.concatenate(planar, axis=1)
