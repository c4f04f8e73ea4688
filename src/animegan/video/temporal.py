"""Flicker reduction for stylized video: an exponential moving average of the outputs, gated per
pixel by how much the INPUT changed.

A GAN stylizes each frame on its own, so sensor noise and compression changes in a still background
turn into visible shimmer. Where the input is still (its local mean hardly moved from the running
reference) the output is blended with the previous smoothed output; where the input moved (a
passing object, a cut) the fresh stylized frame is used as is, so motion does not ghost. The
reference input is smoothed with the same weights, so a slow drift (a fade, a pan) accumulates
until it opens the gate instead of freezing the picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParamError
from ..params import check, param


@dataclass(frozen=True)
class TemporalSettings:
    """The flicker filter's settings, valid by construction (checked in ``__post_init__``).

    Errors name them as the video options do (``temporal_strength``), so the command line says
    ``--temporal-strength``.
    """

    strength: float = param(0.7, "With temporal: weight of the previous output where the input is still, "
                                 "0 to below 1 (0 = off).", ge=0.0)
    threshold: float = param(8.0, "Local input change (0-255 levels, any channel) at which the filter lets "
                                  "the fresh frame through entirely.", ge=0.0)
    radius: int = param(2, "Half-size in pixels of the box that averages the input change (ignores pixel "
                           "noise).", ge=0)

    def __post_init__(self) -> None:
        try:
            check(self)
        except ParamError as exc:
            raise ParamError("temporal_" + exc.param, exc.value, exc.problem) from None
        if self.strength >= 1.0:
            raise ParamError("temporal_strength", self.strength, "must be at least 0 and below 1")
        if self.threshold == 0:
            raise ParamError("temporal_threshold", self.threshold, "must be above 0")


class TemporalSmoother:
    """Stateful per-frame filter: ``smoother(input_rgb, stylized_rgb) -> smoothed_rgb`` (uint8 H×W×3)."""

    def __init__(self, settings: TemporalSettings | None = None):
        self.settings = settings if settings is not None else TemporalSettings()
        self._out: np.ndarray | None = None  # float32 H×W×3, previous smoothed output
        self._ref: np.ndarray | None = None  # float32 H×W×3, running reference of the input

    def reset(self) -> None:
        """Forget the history (a cut, or a new clip)."""
        self._out = self._ref = None

    def __call__(self, frame_in: np.ndarray, frame_out: np.ndarray) -> np.ndarray:
        if frame_in.shape[:2] != frame_out.shape[:2]:
            raise ValueError(f"input {frame_in.shape} and output {frame_out.shape} frames differ in size")
        rgb = frame_in.astype(np.float32)
        out = frame_out.astype(np.float32)
        if self._out is None or self._out.shape != out.shape or self.settings.strength == 0:
            self._out, self._ref = out, rgb
            return frame_out
        # per channel: a red square over a background of equal brightness is still a change
        delta = rgb - self._ref
        weight = _gate(delta, self.settings)
        self._ref = rgb + weight[..., None] * (self._ref - rgb)
        blended = out + weight[..., None] * (self._out - out)
        self._out = blended
        return np.clip(blended + 0.5, 0, 255).astype(np.uint8)

    def state(self) -> dict[str, np.ndarray]:
        """The filter's history, for resuming exactly where a conversion stopped."""
        if self._out is None or self._ref is None:
            return {}
        return {"out": self._out.copy(), "ref": self._ref.copy()}

    def load_state(self, state: dict[str, np.ndarray] | None) -> None:
        if state and "out" in state and "ref" in state:
            self._out, self._ref = state["out"].astype(np.float32), state["ref"].astype(np.float32)
        else:
            self.reset()


def flicker_ratio(inputs: np.ndarray, outputs: np.ndarray) -> float:
    """Mean absolute frame-to-frame difference of the outputs divided by that of the inputs.

    Both are N×H×W×3 uint8 sequences of the same frames; 1.0 means the output changes exactly as
    much as the input does, above 1 it flickers more than the footage.
    """
    d_in = np.abs(np.diff(inputs.astype(np.float32), axis=0)).mean()
    d_out = np.abs(np.diff(outputs.astype(np.float32), axis=0)).mean()
    return float(d_out / max(d_in, 1e-6))


def _gate(delta: np.ndarray, settings: TemporalSettings) -> np.ndarray:
    """Per-pixel weight of the previous output, from the H×W×3 input change since the reference.

    The change is box-averaged per channel (pixel noise cancels, real motion does not) at half
    resolution, where it costs a quarter; the weights are resized back bilinearly (no blocks).
    """
    import torch
    import torch.nn.functional as F

    height, width = delta.shape[:2]
    x = torch.from_numpy(delta).permute(2, 0, 1)[None].contiguous()
    x = F.avg_pool2d(x, 2, ceil_mode=True)
    half = settings.radius // 2
    if half:
        x = F.avg_pool2d(x, 2 * half + 1, stride=1, padding=half, count_include_pad=False)
    change = x.abs().amax(dim=1, keepdim=True)
    weight = (1.0 - change / settings.threshold).clamp_(0.0, 1.0).mul_(settings.strength)
    weight = F.interpolate(weight, scale_factor=2, mode="bilinear", align_corners=False)
    return weight[0, 0, :height, :width].numpy()
