"""Video options: one frozen dataclass shared by the library, the CLI and the server.

Each field is declared once with :func:`~animegan.params.param` (default, bounds, help text);
``animegan video`` takes its flags' defaults and help from here (:func:`~animegan.params.spec`) and
the server builds one :class:`VideoOptions` per job. A VideoOptions is valid by construction
(checked and normalised in ``__post_init__``): nothing downstream validates it again; change a
field with :func:`dataclasses.replace`. How each frame is stylized (palette, strength, ...) is the
Stylizer's :class:`~animegan.inference.options.StylizeOptions`, not a video option.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import ParamError
from ..params import check, param, spec
from .temporal import TemporalSettings

# the flicker filter's strength is declared once, in TemporalSettings
_TEMPORAL_STRENGTH, _TEMPORAL_STRENGTH_PARAM = spec(TemporalSettings, "strength")


@dataclass(frozen=True)
class VideoOptions:
    """How a video is converted. Every ``animegan video`` flag but the model's maps onto one field."""

    codec: str | None = param(None, "Video encoder: libx264 (default; vp9 for .webm, gif for .gif), h264, hevc, "
                                   "vp9, gif, ... (whatever this FFmpeg has).", text=True)
    crf: int | None = param(None, "Quality: lower is better (x264/x265 default 18, vp9 31).", ge=0, le=63)
    preset: str | None = param(None, "x264/x265 speed preset (ultrafast ... veryslow; default medium).", text=True)
    max_side: int | None = param(None, "Downscale so the longer side is at most this many pixels.", ge=16)
    start: float | None = param(None, "Start at this time, in seconds.", ge=0.0)
    end: float | None = param(None, "Stop at this time, in seconds (after start).", ge=0.0)
    fps: float | None = param(None, "Frame rate for a folder of frames (default 25).", ge=0.0)
    batch_size: int = param(4, "Frames per forward pass.", ge=1)
    segment_frames: int = param(250, "Frames per resumable segment.", ge=1)
    resume: bool = param(False, "Continue an interrupted conversion (finished segments in OUT.parts/ are kept).")
    allow_truncated: bool = param(False, "Write a cut-off input's decodable frames (with a warning) instead of "
                                         "failing.")
    temporal: bool = param(False, "Reduce flicker: smooth the output where the input is still.")
    temporal_strength: float = dataclasses.field(default=_TEMPORAL_STRENGTH,
                                                 metadata={"param": _TEMPORAL_STRENGTH_PARAM})

    def __post_init__(self) -> None:
        check(self)
        if self.fps == 0:
            raise ParamError("fps", self.fps, "must be above 0")
        if self.end is not None and self.end <= (self.start or 0.0):
            raise ParamError("end", self.end, f"must be later than the start ({self.start or 0:g} s)")
        TemporalSettings(strength=self.temporal_strength)  # its own bounds (below 1)
        # normalised once, here: times and rates as floats, so a resume manifest compares equal
        for name in ("start", "end", "fps", "temporal_strength"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, float(value))

    def temporal_settings(self) -> TemporalSettings | None:
        """The flicker filter's settings, or None when it is off."""
        if not self.temporal or self.temporal_strength == 0:
            return None
        return TemporalSettings(strength=self.temporal_strength)
