"""The seed article's discriminator: a 4-conv PatchGAN with spatial attention, optionally multi-scale.

Four 4×4 stride-2 convs (spectral norm, LeakyReLU 0.2) take 256² to a 16×16 map; a spatial
attention module (channel mean and max → 7×7 conv → sigmoid → multiply) re-weights the last two
feature maps toward local detail (eyes, hair strands); a 3×3 conv gives the logits. With
``n_scales`` 2 a second, independent copy sees the input average-pooled to half size, and the
forward returns a list of maps (scale 1, then 1/2): 16×16 and 8×8 at 256².
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .resnet_sam import SpatialAttention


@dataclass
class SAMDiscriminatorConfig:
    """Width of the first conv (doubling, capped at ``max_channels``), scales, attention, spectral norm."""

    channels: int = 64
    max_channels: int = 512
    n_scales: int = 1
    attention: bool = True
    use_spectral_norm: bool = True

    def __post_init__(self) -> None:
        if self.channels < 1 or not 1 <= self.n_scales <= 4:
            raise ValueError(f"SAMDiscriminatorConfig: channels ≥1 and n_scales 1..4, got {self}")


def _conv(in_ch: int, out_ch: int, k: int, stride: int, use_sn: bool) -> nn.Module:
    conv = nn.Conv2d(in_ch, out_ch, k, stride=stride, padding=1)
    nn.init.normal_(conv.weight, 0.0, 0.02)
    nn.init.zeros_(conv.bias)
    return spectral_norm(conv) if use_sn else conv


class SAMPatchDiscriminator(nn.Module):
    """One scale: N×3×H×W → N×1×H/16×W/16 logits."""

    def __init__(self, cfg: SAMDiscriminatorConfig):
        super().__init__()
        widths = [min(cfg.channels * 2**i, cfg.max_channels) for i in range(4)]
        self.convs = nn.ModuleList()
        in_ch = 3
        for w in widths:
            self.convs.append(_conv(in_ch, w, 4, 2, cfg.use_spectral_norm))
            in_ch = w
        # attention after the last two down-sampling convs, where a cell sees a face part
        self.attn = nn.ModuleList([SpatialAttention(7), SpatialAttention(7)]) if cfg.attention else None
        self.head = _conv(in_ch, 1, 3, 1, cfg.use_spectral_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, conv in enumerate(self.convs):
            x = F.leaky_relu(conv(x), 0.2)
            if self.attn is not None and i >= 2:
                x = self.attn[i - 2](x)
        return self.head(x)


class SAMDiscriminator(nn.Module):
    """RGB in [-1, 1] → one logit map (``n_scales`` 1) or a list of maps at scales 1, 1/2, ..."""

    name = "sam"

    def __init__(self, config: SAMDiscriminatorConfig | None = None):
        super().__init__()
        self.config = cfg = config or SAMDiscriminatorConfig()
        self.scales = nn.ModuleList([SAMPatchDiscriminator(cfg) for _ in range(cfg.n_scales)])

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        outs = []
        for i, disc in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outs.append(disc(x))
        return outs[0] if len(outs) == 1 else outs
