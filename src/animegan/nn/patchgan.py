"""The official AnimeGANv2 discriminator: a PatchGAN with spectral norm and layer norm.

``docs/REFERENCE.md`` §3: 3×3 conv 3→c + LReLU(0.2); twice [3×3 stride-2 conv → 2c, LReLU; 3×3 conv
→ 4c, layer norm, LReLU] (c doubling each time); 3×3 conv → 8c', layer norm, LReLU; 3×3 conv → 1
logit. No biases, N(0, 0.02) init, spectral norm on every conv. The output map is H/4 × W/4 and the
network has 1,128,800 parameters at base width 32 (1,127,520 in convs, 1,280 in the norms).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


@dataclass
class PatchGANConfig:
    """Base width ``channels`` (32 in the release), ``n_down`` stride-2 stages (2 → output H/4)."""

    channels: int = 32
    n_down: int = 2
    use_spectral_norm: bool = True

    def __post_init__(self) -> None:
        if self.channels < 1 or self.n_down < 0:
            raise ValueError(f"PatchGANConfig: channels must be ≥1 and n_down ≥0, got {self}")


def layer_norm(channels: int) -> nn.GroupNorm:
    """TF ``layer_norm`` on NHWC: statistics over C×H×W per sample, per-channel scale and shift."""
    return nn.GroupNorm(1, channels)


def sn_conv(in_ch: int, out_ch: int, stride: int = 1, use_sn: bool = True) -> nn.Module:
    """3×3 conv, zero padding 1, no bias, N(0, 0.02) weights, wrapped in spectral norm."""
    conv = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
    nn.init.normal_(conv.weight, 0.0, 0.02)
    return spectral_norm(conv) if use_sn else conv


class PatchGANDiscriminator(nn.Module):
    """RGB in [-1, 1] (N×3×H×W) → logits N×1×H/4×W/4 (for ``n_down`` 2)."""

    name = "patchgan"

    def __init__(self, config: PatchGANConfig | None = None):
        super().__init__()
        self.config = cfg = config or PatchGANConfig()
        sn, c = cfg.use_spectral_norm, cfg.channels
        layers: list[nn.Module] = [sn_conv(3, c, use_sn=sn), nn.LeakyReLU(0.2)]
        in_ch = c
        for _ in range(cfg.n_down):
            layers += [sn_conv(in_ch, 2 * c, stride=2, use_sn=sn), nn.LeakyReLU(0.2),
                       sn_conv(2 * c, 4 * c, use_sn=sn), layer_norm(4 * c), nn.LeakyReLU(0.2)]
            in_ch, c = 4 * c, 2 * c
        layers += [sn_conv(in_ch, 2 * c, use_sn=sn), layer_norm(2 * c), nn.LeakyReLU(0.2),
                   sn_conv(2 * c, 1, use_sn=sn)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
