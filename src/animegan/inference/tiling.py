"""Tiled inference with exact whole-image normalisation statistics and feathered blending.

AnimeGANv2 normalises with ``GroupNorm(1, C)``: each layer's statistics span the whole feature
map, so tiles run on their own come out in visibly different tones. Here a first pass over the
whole image (downscaled to fit the memory budget when needed) records every norm layer's mean and
variance; the tiles then run with those statistics frozen, and overlapping tiles are blended with
linear ramps that sum to one.

Norm layers take part in three ways:

- ``nn.GroupNorm`` and ``nn.InstanceNorm*d`` (without running statistics) are handled here, by
  swapping the module's ``forward`` for the duration of a pass;
- any module can opt in through the :class:`FreezableNorm` protocol (``record_stats``,
  ``recorded``, ``freeze(stats)``, ``unfreeze()``), as CartoonGAN's instance norm does;
- BatchNorm in eval mode already uses fixed running statistics and needs nothing.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.window import Window, image_window

#: recorded statistics: norm module -> (mean, var), each N×G in fp32 (G groups or channels)
NormStats = dict[nn.Module, tuple[torch.Tensor, torch.Tensor]]


@runtime_checkable
class FreezableNorm(Protocol):
    """A norm layer that can record its input statistics and later reuse them."""

    record_stats: bool
    recorded: tuple[torch.Tensor, torch.Tensor] | None

    def freeze(self, stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> None: ...

    def unfreeze(self) -> None: ...


def _groups_of(module: nn.Module) -> int | None:
    """Number of statistics groups for the norm layers handled here, else None."""
    if isinstance(module, nn.GroupNorm):
        return module.num_groups
    if isinstance(module, nn.modules.instancenorm._InstanceNorm):
        if module.track_running_stats and not module.training:
            return None  # eval with running statistics: already tile-independent
        return module.num_features
    return None


def _norm_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, FreezableNorm) or _groups_of(m) is not None]


def has_whole_image_norms(model: nn.Module) -> bool:
    """True when the model has norm layers whose statistics depend on the whole input."""
    return bool(_norm_layers(model))


def _group_stats(x: torch.Tensor, groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    flat = x.float().reshape(x.shape[0], groups, -1)
    var, mean = torch.var_mean(flat, dim=-1, correction=0)
    return mean, var


def _frozen_forward(module: nn.Module, groups: int, stats: tuple[torch.Tensor, torch.Tensor]
                    ) -> Callable[[torch.Tensor], torch.Tensor]:
    mean, var = stats

    def forward(x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        invstd = torch.rsqrt(var.to(x.device) + module.eps)
        scale = invstd.repeat_interleave(channels // groups, dim=1)
        shift = -mean.to(x.device).repeat_interleave(channels // groups, dim=1) * scale
        weight = getattr(module, "weight", None)
        if weight is not None:
            scale = scale * weight.float()
            shift = shift * weight.float() + module.bias.float()
        # fp32 arithmetic, one rounding at the end: the same accuracy as the native kernels
        out = x.float() * scale[:, :, None, None] + shift[:, :, None, None]
        return out.to(x.dtype)

    return forward


@contextlib.contextmanager
def recording_norm_stats(model: nn.Module) -> Iterator[NormStats]:
    """Within the block, forward passes record each norm layer's statistics into the yielded dict."""
    stats: NormStats = {}
    layers = _norm_layers(model)
    try:
        for module in layers:
            if isinstance(module, FreezableNorm):
                module.record_stats = True
                continue
            groups = _groups_of(module)
            native = type(module).forward

            def recording(x: torch.Tensor, _m: nn.Module = module, _g: int = groups, _f=native) -> torch.Tensor:
                stats[_m] = _group_stats(x, _g)
                return _f(_m, x)

            module.forward = recording  # instance attribute shadows the class method
        yield stats
    finally:
        for module in layers:
            if isinstance(module, FreezableNorm):
                if module.recorded is not None:
                    stats[module] = module.recorded
                module.unfreeze()
            else:
                module.__dict__.pop("forward", None)


@contextlib.contextmanager
def frozen_norm_stats(model: nn.Module, stats: NormStats) -> Iterator[None]:
    """Within the block, norm layers normalise with ``stats`` instead of their input's statistics."""
    layers = [m for m in _norm_layers(model) if m in stats]
    try:
        for module in layers:
            if isinstance(module, FreezableNorm):
                module.freeze(stats[module])
            else:
                module.forward = _frozen_forward(module, _groups_of(module), stats[module])
        yield
    finally:
        for module in layers:
            if isinstance(module, FreezableNorm):
                module.unfreeze()
            else:
                module.__dict__.pop("forward", None)


@dataclass(frozen=True)
class Span:
    """One tile along one axis: the window fed to the network and its blending weights."""

    start: int  # window start (inclusive)
    stop: int  # window stop (exclusive)
    weights: torch.Tensor  # 1-D, len = stop - start


def axis_spans(length: int, tile: int, pad: int, multiple: int = 1) -> list[Span]:
    """Split ``length`` into tiles of about ``tile`` with ``pad`` of context on each inner side.

    Tile borders fall on multiples of ``multiple`` (so strided layers see the same pixel grid as
    in the whole image). Each window drops the outer half of its padding (where reflection at the
    window edge disturbs the result) and blends over the inner half with a linear ramp; the
    weights of all spans add up to exactly one at every position.
    """
    pad = _round_up(pad, multiple)
    count = max(1, math.ceil(length / tile))
    bounds = sorted({min(length, _round_up(round(k * length / count), multiple)) for k in range(count + 1)})
    bounds[0] = 0
    spans = []
    ramp = max(1, pad)  # width of the blend zone centred on each inner border
    for a, b in itertools.pairwise(bounds):
        start, stop = max(0, a - pad), min(length, b + pad)
        pos = torch.arange(start, stop, dtype=torch.float32) + 0.5
        w = torch.ones(stop - start)
        if a > 0:
            w = torch.minimum(w, ((pos - (a - ramp / 2)) / ramp).clamp(0, 1))
        if b < length:
            w = torch.minimum(w, (((b + ramp / 2) - pos) / ramp).clamp(0, 1))
        spans.append(Span(start, stop, w))
    return spans


#: reads the network input for a window of the padded image: (row0, row1, col0, col1) -> N×C×h×w
WindowReader = Callable[[int, int, int, int], torch.Tensor]


def tiled_rows(forward: Callable[[torch.Tensor], torch.Tensor], read: WindowReader, height: int, width: int,
               tile: int, pad: int, multiple: int = 1) -> Iterator[tuple[int, torch.Tensor]]:
    """Run ``forward`` over overlapping tiles of a ``height``×``width`` image and yield the blended
    result in bands of finished rows: ``(first_row, N×C×rows×width float32)``, top to bottom.

    The input is read tile by tile through ``read`` and only a band of tile rows is kept in float
    (a row of tiles plus the overlap into the next), so memory does not grow with the image's height;
    every pixel is summed in the same order as a whole-image accumulator would, so the result is
    bit for bit the same as :func:`run_tiled`.
    """
    rows = axis_spans(height, tile, pad, multiple)
    cols = axis_spans(width, tile, pad, multiple)
    band: torch.Tensor | None = None  # rows [top, top + band.shape[2]) of the blended output
    top = 0
    for k, r in enumerate(rows):
        if band is not None and top + band.shape[2] < r.stop:  # grow the band down to this tile row
            grown = torch.zeros(*band.shape[:2], r.stop - top, width)
            grown[:, :, :band.shape[2]] = band
            band = grown
        for c in cols:
            window = Window(height, width, r.start, c.start, r.stop - r.start, c.stop - c.start)
            with image_window(window):  # networks that resize sample the whole image's grid
                y = forward(read(r.start, r.stop, c.start, c.stop)).float()
            if band is None:
                band = torch.zeros(y.shape[0], y.shape[1], r.stop - top, width)
            weight = r.weights[:, None] * c.weights[None, :]
            band[:, :, r.start - top:r.stop - top, c.start:c.stop] += y * weight
        assert band is not None
        done = rows[k + 1].start if k + 1 < len(rows) else height  # no later tile touches rows above
        yield top, band[:, :, :done - top].clone()
        band = band[:, :, done - top:]
        top = done


def run_tiled(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int, pad: int,
              multiple: int = 1) -> torch.Tensor:
    """Run ``forward`` over overlapping tiles of ``x`` (N×C×H×W) and blend the results."""
    height, width = x.shape[-2:]
    out: torch.Tensor | None = None
    for top, band in tiled_rows(forward, lambda r0, r1, c0, c1: x[:, :, r0:r1, c0:c1],
                                height, width, tile, pad, multiple):
        if out is None:
            out = torch.empty(band.shape[0], band.shape[1], height, width)
        out[:, :, top:top + band.shape[2]] = band
    assert out is not None
    return out


def stats_size(height: int, width: int, max_pixels: int, multiple: int = 1) -> tuple[int, int] | None:
    """(height, width) of the statistics input for an image of this size, or None to use it whole."""
    if height * width <= max_pixels:
        return None
    scale = math.sqrt(max_pixels / (height * width))
    return (max(multiple, int(height * scale) // multiple * multiple),
            max(multiple, int(width * scale) // multiple * multiple))


def stats_input(x: torch.Tensor, max_pixels: int, multiple: int = 1) -> torch.Tensor:
    """``x`` itself when it fits ``max_pixels``, else an antialiased downscale that does."""
    size = stats_size(*x.shape[-2:], max_pixels, multiple)
    if size is None:
        return x
    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)


def stats_input_banded(read: WindowReader, height: int, width: int, max_pixels: int, multiple: int = 1,
                       band_pixels: int = 1 << 20) -> torch.Tensor:
    """:func:`stats_input` of the image ``read`` gives, read in bands of rows: the same antialiased
    bilinear downscale done as a horizontal pass per band, then a vertical pass on the narrow result,
    so no full-size float copy of the image is ever made."""
    size = stats_size(height, width, max_pixels, multiple)
    if size is None:
        return read(0, height, 0, width)
    rows = max(1, band_pixels // width)
    narrow = torch.cat([F.interpolate(read(a, min(height, a + rows), 0, width), size=(min(height, a + rows) - a,
                                      size[1]), mode="bilinear", antialias=True, align_corners=False)
                        for a in range(0, height, rows)], dim=2)
    return F.interpolate(narrow, size=size, mode="bilinear", antialias=True, align_corners=False)


def auto_tile_side(pixel_budget: int, pad: int, multiple: int = 1) -> int:
    """The largest tile side whose padded window stays within ``pixel_budget`` pixels."""
    side = int(math.sqrt(pixel_budget)) - 2 * pad
    return max(64, side // multiple * multiple)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple
