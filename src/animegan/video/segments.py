"""Segments and the resume manifest.

A conversion writes N-frame segments (each a finished NUT file that starts on a keyframe) into
``<out>.parts/`` with a ``manifest.json`` naming the settings they were made with (source, encoder,
size, range, model id, flicker filter). ``resume`` keeps the finished segments whose settings
match; the flicker filter's state at the last segment boundary is saved beside them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np

from ..extras import require
from ..io.atomic import atomic_write_bytes
from .encoding import EncoderSpec, pal8_frame
from .source import VideoSource

av = require("av", extra="video", feature="video conversion")

log = logging.getLogger("animegan")

MANIFEST = "manifest.json"
STATE = "temporal-state.npz"


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
        self.tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.nut")  # per process: a retried chunk's twin
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
