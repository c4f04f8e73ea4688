"""AnimeGANv2 with per-layer widths: what channel pruning (:mod:`animegan.compress.prune`) produces.

Same module tree and state-dict keys as :mod:`.animeganv2` (so pruned tensors keep their names);
only the channel counts differ. With the default config it *is* AnimeGANv2 (2,143,552 params).
``widths``: outputs of the 12 ConvNormLReLU layers, in order a0 a1 a2 b0 b1 c0 c5 d0 d1 e0 e1 e2.
``hidden``: expansion width of the 4 InvertedResBlocks c1..c4. The residual stream c1..c4 (256)
is not prunable: its channels are shared by three residual adds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .animeganv2 import ConvNormLReLU
from .window import resize_aligned

#: names of the prunable ConvNormLReLU outputs, in the order of ``widths``
WIDTH_NAMES = ("block_a.0", "block_a.1", "block_a.2", "block_b.0", "block_b.1", "block_c.0", "block_c.5",
               "block_d.0", "block_d.1", "block_e.0", "block_e.1", "block_e.2")
#: names of the InvertedResBlocks whose expansion width is prunable, in the order of ``hidden``
HIDDEN_NAMES = ("block_c.1", "block_c.2", "block_c.3", "block_c.4")
FULL_WIDTHS = (32, 64, 64, 128, 128, 128, 128, 128, 128, 64, 64, 32)
FULL_HIDDEN = (256, 512, 512, 512)
RESIDUAL_WIDTH = 256


@dataclass
class AnimeGANv2SlimConfig:
    """Per-layer channel counts (see the module docstring)."""

    widths: list[int] = field(default_factory=lambda: list(FULL_WIDTHS))
    hidden: list[int] = field(default_factory=lambda: list(FULL_HIDDEN))

    def __post_init__(self) -> None:
        from ..errors import ModelError

        if len(self.widths) != len(FULL_WIDTHS) or len(self.hidden) != len(FULL_HIDDEN) \
                or min(list(self.widths) + list(self.hidden)) < 1:
            raise ModelError(f"animeganv2_slim: need {len(FULL_WIDTHS)} widths and {len(FULL_HIDDEN)} hidden "
                             f"widths, all ≥ 1 (got {self.widths}, {self.hidden})")


class SlimInvertedResBlock(nn.Module):
    """InvertedResBlock with an explicit expansion width; same ``layers`` tree as AnimeGANv2's."""

    def __init__(self, in_ch: int, hidden: int, out_ch: int, residual: bool):
        super().__init__()
        self.use_residual = residual
        self.layers = nn.Sequential(
            ConvNormLReLU(in_ch, hidden, kernel_size=1, padding=0),
            ConvNormLReLU(hidden, hidden, groups=hidden, bias=True),
            nn.Conv2d(hidden, out_ch, kernel_size=1, bias=False),
            nn.GroupNorm(1, out_ch, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(x)
        return x + out if self.use_residual else out


class AnimeGANv2SlimGenerator(nn.Module):
    """AnimeGANv2 with the channel counts of :class:`AnimeGANv2SlimConfig`."""

    arch = "animeganv2_slim"
    size_multiple = 4
    bytes_per_pixel = 1800  # an upper bound: pruned layers only need less

    def __init__(self, config: AnimeGANv2SlimConfig | None = None):
        super().__init__()
        self.config = config or AnimeGANv2SlimConfig()
        a0, a1, a2, b0, b1, c0, c5, d0, d1, e0, e1, e2 = self.config.widths
        h1, h2, h3, h4 = self.config.hidden
        r = RESIDUAL_WIDTH
        self.block_a = nn.Sequential(ConvNormLReLU(3, a0, kernel_size=7, padding=3), ConvNormLReLU(a0, a1, stride=2),
                                     ConvNormLReLU(a1, a2))
        self.block_b = nn.Sequential(ConvNormLReLU(a2, b0, stride=2), ConvNormLReLU(b0, b1))
        self.block_c = nn.Sequential(
            ConvNormLReLU(b1, c0),
            SlimInvertedResBlock(c0, h1, r, residual=False),
            SlimInvertedResBlock(r, h2, r, residual=True),
            SlimInvertedResBlock(r, h3, r, residual=True),
            SlimInvertedResBlock(r, h4, r, residual=True),
            ConvNormLReLU(r, c5),
        )
        self.block_d = nn.Sequential(ConvNormLReLU(c5, d0), ConvNormLReLU(d0, d1))
        self.block_e = nn.Sequential(ConvNormLReLU(d1, e0), ConvNormLReLU(e0, e1),
                                     ConvNormLReLU(e1, e2, kernel_size=7, padding=3))
        self.out_layer = nn.Sequential(nn.Conv2d(e2, 3, kernel_size=1, bias=False), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block_a(x)
        half_size = out.shape[-2:]
        out = self.block_b(out)
        out = self.block_c(out)
        out = resize_aligned(out, half_size)
        out = self.block_d(out)
        out = resize_aligned(out, x.shape[-2:])
        out = self.block_e(out)
        return self.out_layer(out)
