"""Resizing that stays exact when a network runs on one window (tile) of a larger image.

``F.interpolate(..., align_corners=True)`` maps pixel centres with the factor
``(in − 1) / (out − 1)`` of the tensor it is given, so a tile sees a slightly different sampling
grid from the whole image (up to half a low-resolution pixel off). Generators call
:func:`resize_aligned` instead: outside a window it is exactly ``F.interpolate``; inside
:func:`image_window` (set by the tiler) it samples the whole image's grid, restricted to the tile.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Window:
    """A tile of the network input: the whole image's size and the tile's place in it (pixels)."""

    full_height: int
    full_width: int
    top: int
    left: int
    height: int
    width: int


_WINDOW: ContextVar[Window | None] = ContextVar("animegan_window", default=None)


@contextlib.contextmanager
def image_window(window: Window) -> Iterator[None]:
    """Forward passes inside the block compute ``window`` of the whole image."""
    token = _WINDOW.set(window)
    try:
        yield
    finally:
        _WINDOW.reset(token)


def resize_aligned(x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Bilinear resize with ``align_corners=True``, on the whole image's grid when in a window."""
    size = (int(size[0]), int(size[1]))
    window = _WINDOW.get()
    if window is None:
        return F.interpolate(x, size, mode="bilinear", align_corners=True)
    out = _resize_axis(x, 2, size[0], window.full_height, window.top, window.height)
    return _resize_axis(out, 3, size[1], window.full_width, window.left, window.width)


def _resize_axis(x: torch.Tensor, dim: int, out_len: int, full: int, offset: int, span: int) -> torch.Tensor:
    in_len = x.shape[dim]
    # the tile's scale relative to the full-resolution input must be whole, else fall back
    if span % in_len or span % out_len or full % (span // in_len) or full % (span // out_len) \
            or offset % (span // in_len) or offset % (span // out_len):
        return _plain_axis(x, dim, out_len)
    in_step, out_step = span // in_len, span // out_len
    full_in, full_out = full // in_step, full // out_step
    dst = torch.arange(out_len, dtype=torch.float64) + offset // out_step
    scale = (full_in - 1) / (full_out - 1) if full_out > 1 else 0.0
    src = (dst * scale - offset // in_step).clamp_(0, in_len - 1)
    return _lerp(x, dim, src)


def _plain_axis(x: torch.Tensor, dim: int, out_len: int) -> torch.Tensor:
    in_len = x.shape[dim]
    scale = (in_len - 1) / (out_len - 1) if out_len > 1 else 0.0
    return _lerp(x, dim, torch.arange(out_len, dtype=torch.float64) * scale)


def _lerp(x: torch.Tensor, dim: int, src: torch.Tensor) -> torch.Tensor:
    lo = src.floor().long().clamp_(0, x.shape[dim] - 1)
    hi = (lo + 1).clamp_(max=x.shape[dim] - 1)
    shape = [1] * x.ndim
    shape[dim] = -1
    frac = (src - lo).to(x.device, x.dtype).view(shape)
    lo, hi = lo.to(x.device), hi.to(x.device)
    a, b = x.index_select(dim, lo), x.index_select(dim, hi)
    return a + (b - a) * frac
