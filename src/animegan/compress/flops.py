"""Counting a generator's convolution cost at a given input size."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def conv_macs(model: nn.Module, height: int, width: int) -> int:
    """Multiply-accumulates of every Conv2d for one 1×3×height×width forward (other ops excluded).

    FLOPs are commonly quoted as ``2 × MACs``.
    """
    total = 0

    def hook(module: nn.Conv2d, _inputs: Any, out: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        total += out.numel() * (module.in_channels // module.groups) * kh * kw

    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.inference_mode():
            model(torch.zeros(1, 3, height, width))
    finally:
        for h in hooks:
            h.remove()
    return total


def gflops(model: nn.Module, height: int, width: int) -> float:
    """Convolution GFLOPs (2 × MACs / 1e9) of one forward at height×width."""
    return 2 * conv_macs(model, height, width) / 1e9
