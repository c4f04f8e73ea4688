"""The AnimeGANv2 generator, with the exact module tree of the published PyTorch weights.

`face_paint_512_v1/v2`, `celeba_distill` and `paprika` load with ``strict=True`` and no key
remapping: module names and ``nn.Sequential`` indices below must not change.
Input: RGB in [-1, 1], any H×W; output: RGB in [-1, 1], same size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .window import resize_aligned  # F.interpolate(align_corners=True), exact on tiles too


@dataclass
class AnimeGANv2Config:
    """No knobs: the tree is fixed by the published weights. Kept for a uniform config API."""


class ConvNormLReLU(nn.Sequential):
    """[0] reflection pad, [1] conv, [2] GroupNorm(1, out), [3] LeakyReLU(0.2)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1, padding: int = 1,
                 groups: int = 1, bias: bool = False):
        # stride-2 convs pad right and bottom only, like TF's "SAME" padding
        pad = (0, 1, 0, 1) if stride == 2 else padding
        super().__init__(
            nn.ReflectionPad2d(pad),
            nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=0, groups=groups, bias=bias),
            nn.GroupNorm(1, out_ch, affine=True),
            nn.LeakyReLU(0.2, inplace=True),
        )


class InvertedResBlock(nn.Module):
    """MobileNetV2-style block: 1×1 expand, 3×3 depthwise, 1×1 project; residual when in == out."""

    def __init__(self, in_ch: int, out_ch: int, expansion: int = 2, hidden: int | None = None,
                 residual: bool | None = None):
        super().__init__()
        # pruned copies (animeganv2_slim) pass an explicit hidden width and residual flag
        self.use_residual = in_ch == out_ch if residual is None else residual
        hidden = in_ch * expansion if hidden is None else hidden
        self.layers = nn.Sequential(
            ConvNormLReLU(in_ch, hidden, kernel_size=1, padding=0),
            ConvNormLReLU(hidden, hidden, groups=hidden, bias=True),
            nn.Conv2d(hidden, out_ch, kernel_size=1, bias=False),
            nn.GroupNorm(1, out_ch, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(x)
        return x + out if self.use_residual else out


class AnimeGANv2Generator(nn.Module):
    """The published AnimeGANv2 generator (2,143,552 parameters)."""

    arch = "animeganv2"
    #: sides that need no padding; any size works, the Stylizer pads to this for symmetric stride-2 edges
    size_multiple = 4
    #: bytes of activation memory per input pixel in fp32 eager (measured: 1.8 GB at 1024²)
    bytes_per_pixel = 1800

    def __init__(self, config: AnimeGANv2Config | None = None):
        super().__init__()
        self.config = config or AnimeGANv2Config()
        self.block_a = nn.Sequential(
            ConvNormLReLU(3, 32, kernel_size=7, padding=3),
            ConvNormLReLU(32, 64, stride=2),
            ConvNormLReLU(64, 64),
        )
        self.block_b = nn.Sequential(ConvNormLReLU(64, 128, stride=2), ConvNormLReLU(128, 128))
        self.block_c = nn.Sequential(
            ConvNormLReLU(128, 128),
            InvertedResBlock(128, 256, 2),
            InvertedResBlock(256, 256, 2),
            InvertedResBlock(256, 256, 2),
            InvertedResBlock(256, 256, 2),
            ConvNormLReLU(256, 128),
        )
        self.block_d = nn.Sequential(ConvNormLReLU(128, 128), ConvNormLReLU(128, 128))
        self.block_e = nn.Sequential(
            ConvNormLReLU(128, 64),
            ConvNormLReLU(64, 64),
            ConvNormLReLU(64, 32, kernel_size=7, padding=3),
        )
        self.out_layer = nn.Sequential(nn.Conv2d(32, 3, kernel_size=1, stride=1, padding=0, bias=False), nn.Tanh())

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
