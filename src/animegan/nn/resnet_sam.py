"""The seed article's generator: a ResNet encoder-decoder with spatial attention in every residual block.

Tree (defaults, input 3×H×W RGB in [-1, 1]; see REFERENCE.md §4):

| module | op | channels | resolution |
|---|---|---|---|
| down.0 | reflect pad 3, 7×7 conv, BatchNorm, ReLU (stem, stride 1) | 3→64 | H |
| down.1 | reflect pad 1, 3×3 conv stride 2, BatchNorm, ReLU | 64→128 | H/2 |
| down.2 | reflect pad 1, 3×3 conv stride 2, BatchNorm, ReLU | 128→256 | H/4 |
| res_blocks.0..5 | 3×3 conv, ReLU, 3×3 conv, spatial attention, + input, ReLU | 256 | H/4 |
| up.0, up.1 | 4×4 transposed conv stride 2, BatchNorm, ReLU | 256→128→64 | H/2, H |
| out_layer | reflect pad 3, 7×7 conv, tanh | 64→3 | H |

The article's "3 down-sampling conv blocks taking 256² to 64²" is read as a stride-1 stem plus two
stride-2 blocks (256→128→64): ``n_down`` counts all three, so ``size_multiple = 2 ** (n_down - 1)``.
Its residual block has no normalisation; ``res_norm=True`` adds BatchNorm after each conv.
Up-sampling uses 4×4 kernels (a multiple of the stride) to avoid checkerboard overlap.
BatchNorm in eval mode uses running statistics, so tiles of an image match the whole image.
Any H×W works: the input is padded to ``size_multiple`` and the output cropped back.
Cost with the defaults: 8,125,653 parameters, 73.9 GFLOP at 256² (AnimeGANv2: 52.6), most of it in
the residual blocks at H/4; about the same CPU time as AnimeGANv2 at 256² on 2 threads.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class ResNetSAMConfig:
    """Sizes of the network; the defaults are the article's (8.1 M parameters)."""

    #: channels after the stem; each stride-2 down block doubles them
    width: int = 64
    #: residual blocks with spatial attention at the lowest resolution
    n_res_blocks: int = 6
    #: down-sampling conv blocks, the first a 7×7 stride-1 stem, the rest 3×3 stride 2
    n_down: int = 3
    #: kernel of the spatial-attention conv (odd)
    sam_kernel: int = 7
    #: BatchNorm inside the residual blocks (the article's code has none)
    res_norm: bool = False

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ValueError(f"width must be positive, got {self.width}")
        if self.n_res_blocks < 0:
            raise ValueError(f"n_res_blocks must be >= 0, got {self.n_res_blocks}")
        if not 1 <= self.n_down <= 5:
            raise ValueError(f"n_down must be 1..5, got {self.n_down}")
        if self.sam_kernel < 1 or self.sam_kernel % 2 == 0:
            raise ValueError(f"sam_kernel must be a positive odd number, got {self.sam_kernel}")


class ConvBNReLU(nn.Sequential):
    """[0] reflection pad, [1] conv (no bias: BatchNorm follows), [2] BatchNorm, [3] ReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1):
        super().__init__(
            nn.ReflectionPad2d(kernel_size // 2),
            nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )


class SpatialAttention(nn.Module):
    """SAM: per-pixel channel mean and max → k×k conv → sigmoid → multiply the input by it."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """The N×1×H×W map in (0, 1) that :meth:`forward` multiplies ``x`` by."""
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.attention(x)


class ResidualSAMBlock(nn.Module):
    """conv, (norm), ReLU, conv, (norm), spatial attention, add the input, ReLU."""

    def __init__(self, channels: int, sam_kernel: int = 7, norm: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect", bias=not norm)
        self.norm1 = nn.BatchNorm2d(channels) if norm else nn.Identity()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect", bias=not norm)
        self.norm2 = nn.BatchNorm2d(channels) if norm else nn.Identity()
        self.sam = SpatialAttention(sam_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.norm1(self.conv1(x)))
        out = self.sam(self.norm2(self.conv2(out)))
        return F.relu(out + x)


class UpBlock(nn.Sequential):
    """[0] 4×4 transposed conv stride 2 (exactly doubles H and W), [1] BatchNorm, [2] ReLU."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__(
            nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )


class ResNetSAMGenerator(nn.Module):
    """The seed article's generator; RGB in [-1, 1] in and out, any size (padded internally)."""

    arch = "resnet_sam"
    #: the default config's; instances set their own (2 ** (n_down - 1))
    size_multiple = 4
    #: rough fp32 eager activation bytes per input pixel (defaults; measured peak-RSS growth in
    #: no_grad eval: 1.2 kB/px at 512², 0.96 kB/px at 1024²)
    bytes_per_pixel = 1200

    def __init__(self, config: ResNetSAMConfig | None = None):
        super().__init__()
        self.config = cfg = config or ResNetSAMConfig()
        self.size_multiple = 2 ** (cfg.n_down - 1)
        widths = [cfg.width * 2**i for i in range(cfg.n_down)]
        blocks = [ConvBNReLU(3, widths[0], 7)]
        blocks += [ConvBNReLU(widths[i - 1], widths[i], 3, stride=2) for i in range(1, cfg.n_down)]
        self.down = nn.Sequential(*blocks)
        self.res_blocks = nn.Sequential(
            *(ResidualSAMBlock(widths[-1], cfg.sam_kernel, cfg.res_norm) for _ in range(cfg.n_res_blocks)))
        self.up = nn.Sequential(*(UpBlock(widths[i], widths[i - 1]) for i in range(cfg.n_down - 1, 0, -1)))
        self.out_layer = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(widths[0], 3, 7), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        m = self.size_multiple
        # sides padded up to a multiple of m, and to at least max(8, 2m) so every reflection pad fits
        least = max(8, 2 * m)
        pad_h, pad_w = max(-height % m, least - height), max(-width % m, least - width)
        if pad_h or pad_w:
            # replicate, not reflect: reflection needs the pad to be smaller than the side
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        out = self.out_layer(self.up(self.res_blocks(self.down(x))))
        return out[..., :height, :width]
