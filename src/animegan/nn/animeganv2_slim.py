"""AnimeGANv2 with per-layer widths: what channel pruning (:mod:`animegan.compress.prune`) produces.

Same module tree and state-dict keys as :mod:`.animeganv2` (so pruned tensors keep their names);
only the channel counts differ. With the default config it *is* AnimeGANv2 (2,143,552 params).
``widths``: outputs of the 12 ConvNormLReLU layers, in order a0 a1 a2 b0 b1 c0 c5 d0 d1 e0 e1 e2.
``hidden``: expansion width of the 4 InvertedResBlocks c1..c4. The residual stream c1..c4 (256)
is not prunable: its channels are shared by three residual adds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from ..errors import ModelError
from .animeganv2 import AnimeGANv2Generator, ConvNormLReLU, InvertedResBlock

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
        if len(self.widths) != len(FULL_WIDTHS) or len(self.hidden) != len(FULL_HIDDEN) \
                or min(list(self.widths) + list(self.hidden)) < 1:
            raise ModelError(f"animeganv2_slim: need {len(FULL_WIDTHS)} widths and {len(FULL_HIDDEN)} hidden "
                             f"widths, all ≥ 1 (got {self.widths}, {self.hidden})")


class AnimeGANv2SlimGenerator(AnimeGANv2Generator):
    """AnimeGANv2 with the channel counts of :class:`AnimeGANv2SlimConfig` (same forward pass)."""

    arch = "animeganv2_slim"
    size_multiple = 4
    bytes_per_pixel = 1800  # an upper bound: pruned layers only need less

    def __init__(self, config: AnimeGANv2SlimConfig | None = None):
        nn.Module.__init__(self)  # the layers differ from AnimeGANv2Generator's; the forward does not
        self.config = config or AnimeGANv2SlimConfig()
        a0, a1, a2, b0, b1, c0, c5, d0, d1, e0, e1, e2 = self.config.widths
        h1, h2, h3, h4 = self.config.hidden
        r = RESIDUAL_WIDTH
        self.block_a = nn.Sequential(ConvNormLReLU(3, a0, kernel_size=7, padding=3), ConvNormLReLU(a0, a1, stride=2),
                                     ConvNormLReLU(a1, a2))
        self.block_b = nn.Sequential(ConvNormLReLU(a2, b0, stride=2), ConvNormLReLU(b0, b1))
        self.block_c = nn.Sequential(
            ConvNormLReLU(b1, c0),
            InvertedResBlock(c0, r, hidden=h1, residual=False),
            InvertedResBlock(r, r, hidden=h2, residual=True),
            InvertedResBlock(r, r, hidden=h3, residual=True),
            InvertedResBlock(r, r, hidden=h4, residual=True),
            ConvNormLReLU(r, c5),
        )
        self.block_d = nn.Sequential(ConvNormLReLU(c5, d0), ConvNormLReLU(d0, d1))
        self.block_e = nn.Sequential(ConvNormLReLU(d1, e0), ConvNormLReLU(e0, e1),
                                     ConvNormLReLU(e1, e2, kernel_size=7, padding=3))
        self.out_layer = nn.Sequential(nn.Conv2d(e2, 3, kernel_size=1, bias=False), nn.Tanh())
