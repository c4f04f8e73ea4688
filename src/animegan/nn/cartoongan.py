"""The CartoonGAN generator (Chen et al., CVPR 2018), with the tree of the widely used PyTorch port.

Layers are direct attributes named like the released tensors (``conv01_1``, ``in01_1``, ...), so
the state-dict keys equal the teacher file stems and a folder of ``.npy`` or a ``.pth`` loads with
``strict=True``. The released network works in BGR; :meth:`CartoonGANGenerator.forward` takes and
returns RGB in [-1, 1] like every generator here and flips the channels inside.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class CartoonGANConfig:
    """Widths of the network. The defaults are the released teachers' (11.1 M parameters)."""

    base_channels: int = 64
    n_res_blocks: int = 8

    def __post_init__(self) -> None:
        if not 1 <= self.n_res_blocks <= 8:
            raise ValueError(f"n_res_blocks must be 1..8, got {self.n_res_blocks}")
        if self.base_channels < 1:
            raise ValueError(f"base_channels must be positive, got {self.base_channels}")


class InstanceNormScaleShift(nn.Module):
    """Instance norm with per-channel ``scale`` and ``shift`` (the CartoonGAN port's layer).

    Statistics are per sample and channel over H×W (biased variance, ``eps`` 1e-9). For tiled
    inference the statistics of the whole image can be frozen: set ``record_stats = True`` and run
    the (downscaled) whole image to fill ``recorded``, then :meth:`freeze` so tiles use those
    statistics instead of their own; :meth:`unfreeze` returns to per-input statistics.
    """

    def __init__(self, channels: int, eps: float = 1e-9):
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(channels))
        self.shift = nn.Parameter(torch.zeros(channels))
        self.record_stats = False
        self.recorded: tuple[torch.Tensor, torch.Tensor] | None = None
        self.frozen: tuple[torch.Tensor, torch.Tensor] | None = None

    def statistics(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per (sample, channel) mean and biased variance over H×W, shaped N×C×1×1."""
        var, mean = torch.var_mean(x, dim=(2, 3), correction=0, keepdim=True)
        return mean, var

    def freeze(self, stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        """Use ``stats`` (default: the recorded ones) for every following input."""
        stats = stats if stats is not None else self.recorded
        if stats is None:
            raise RuntimeError("InstanceNormScaleShift.freeze: no statistics recorded; run once with record_stats")
        self.frozen = (stats[0].detach(), stats[1].detach())

    def unfreeze(self) -> None:
        """Back to per-input statistics; forget recorded ones."""
        self.frozen = None
        self.recorded = None
        self.record_stats = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.frozen is None and not self.record_stats and not torch.onnx.is_in_onnx_export():
            return self._own_statistics(x)
        if self.frozen is not None:
            mean, var = (t.to(dtype=torch.float32, device=x.device) for t in self.frozen)
        else:
            # statistics in fp32 even under fp16/bf16: the eps is far below half precision
            mean, var = self.statistics(x.float())
            if self.record_stats:
                self.recorded = (mean.detach(), var.detach())
        if torch.onnx.is_in_onnx_export():  # the TorchScript exporter's folding breaks the folded form below
            out = (x - mean.to(x.dtype)) * torch.rsqrt(var + self.eps).to(x.dtype)
            return out * self.scale.view(1, -1, 1, 1) + self.shift.view(1, -1, 1, 1)
        # one pass over x: fold the normalisation and the scale/shift into one per-channel affine
        # (the statistics pass and this one are the layer's whole cost: half the lite network's time)
        gain = self.scale.view(1, -1, 1, 1) * torch.rsqrt(var + self.eps)
        bias = self.shift.view(1, -1, 1, 1) - mean * gain
        if gain.dtype != x.dtype:
            gain, bias = gain.to(x.dtype), bias.to(x.dtype)
        return torch.addcmul(bias, x, gain)


    def _own_statistics(self, x: torch.Tensor) -> torch.Tensor:
        """The layer with each input's own statistics, through torch's fused normalisation kernel
        (statistics accumulated in fp32 for bf16 inputs, the affine applied in the same pass): batch
        norm in training mode over one sample is instance norm. 4-8x faster on CPU than var_mean plus
        a separate affine pass, which made this layer 60% of a narrow network's time at 720p in bf16."""
        scale, shift = self.scale, self.shift
        if scale.dtype != x.dtype:
            scale, shift = scale.to(x.dtype), shift.to(x.dtype)
        if x.shape[0] == 1:
            return F.batch_norm(x, None, None, scale, shift, True, 0.0, self.eps)
        if x.is_contiguous():
            return F.instance_norm(x, weight=scale, bias=shift, eps=self.eps)
        return torch.cat([F.batch_norm(x[i:i + 1], None, None, scale, shift, True, 0.0, self.eps)
                          for i in range(x.shape[0])])


def _reflect_conv(x: torch.Tensor, conv: nn.Conv2d, pad: int, flip_in: bool = False,
                  flip_out: bool = False) -> torch.Tensor:
    """``conv`` after reflection padding; ``flip_in``/``flip_out`` reverse the order of the input/output
    channels inside the weights (RGB <-> BGR for free: flipping a full-resolution image costs a copy).
    A layer with hooks (channel importance, layer-wise refits) is called as a module on flipped
    tensors instead, so its hooks see the layer as the released network has it."""
    x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    if not (flip_in or flip_out) or conv._forward_hooks or conv._forward_pre_hooks:
        y = conv(x.flip(1) if flip_in else x)
        return y.flip(1) if flip_out else y
    weight, bias = conv.weight, conv.bias
    if flip_in:
        weight = weight.flip(1)
    if flip_out:
        weight, bias = weight.flip(0), None if bias is None else bias.flip(0)
    return F.conv2d(x, weight, bias)


class CartoonGANGenerator(nn.Module):
    """The CartoonGAN generator; RGB in [-1, 1] in and out, sides multiples of 4."""

    arch = "cartoongan"
    size_multiple = 4
    #: rough fp32 activation bytes per input pixel (64 ch full-res + 128 ch half + 256 ch quarter, ×~4 live)
    bytes_per_pixel = 2600

    def __init__(self, config: CartoonGANConfig | None = None):
        super().__init__()
        self.config = config or CartoonGANConfig()
        c = self.config.base_channels
        self.conv01_1 = nn.Conv2d(3, c, 7)
        self.in01_1 = InstanceNormScaleShift(c)
        self.conv02_1 = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1)
        self.conv02_2 = nn.Conv2d(2 * c, 2 * c, 3, padding=1)
        self.in02_1 = InstanceNormScaleShift(2 * c)
        self.conv03_1 = nn.Conv2d(2 * c, 4 * c, 3, stride=2, padding=1)
        self.conv03_2 = nn.Conv2d(4 * c, 4 * c, 3, padding=1)
        self.in03_1 = InstanceNormScaleShift(4 * c)
        for i in range(4, 4 + self.config.n_res_blocks):
            setattr(self, f"conv{i:02d}_1", nn.Conv2d(4 * c, 4 * c, 3))
            setattr(self, f"in{i:02d}_1", InstanceNormScaleShift(4 * c))
            setattr(self, f"conv{i:02d}_2", nn.Conv2d(4 * c, 4 * c, 3))
            setattr(self, f"in{i:02d}_2", InstanceNormScaleShift(4 * c))
        self.deconv01_1 = nn.ConvTranspose2d(4 * c, 2 * c, 3, stride=2, padding=1, output_padding=1)
        self.deconv01_2 = nn.Conv2d(2 * c, 2 * c, 3, padding=1)
        self.in12_1 = InstanceNormScaleShift(2 * c)
        self.deconv02_1 = nn.ConvTranspose2d(2 * c, c, 3, stride=2, padding=1, output_padding=1)
        self.deconv02_2 = nn.Conv2d(c, c, 3, padding=1)
        self.in13_1 = InstanceNormScaleShift(c)
        self.deconv03_1 = nn.Conv2d(c, 3, 7)

    def res_block(self, i: int) -> tuple[nn.Conv2d, InstanceNormScaleShift, nn.Conv2d, InstanceNormScaleShift]:
        """The four layers of residual block ``i`` (4..11)."""
        return (getattr(self, f"conv{i:02d}_1"), getattr(self, f"in{i:02d}_1"),
                getattr(self, f"conv{i:02d}_2"), getattr(self, f"in{i:02d}_2"))

    def encode(self, x: torch.Tensor, n_res: int | None = None, rgb: bool = False) -> list[torch.Tensor]:
        """Features of a BGR input (``rgb``: of an RGB input, flipped inside the first layer's weights):
        after ``in01``, ``in02``, ``in03`` (with ReLU) and ``n_res`` res blocks.

        Used as perceptual features for distillation (no VGG weights on our machines).
        """
        feats = []
        h = F.relu(self.in01_1(_reflect_conv(x, self.conv01_1, 3, flip_in=rgb)))
        feats.append(h)
        h = F.relu(self.in02_1(self.conv02_2(self.conv02_1(h))))
        feats.append(h)
        h = F.relu(self.in03_1(self.conv03_2(self.conv03_1(h))))
        feats.append(h)
        n_res = self.config.n_res_blocks if n_res is None else min(n_res, self.config.n_res_blocks)
        for i in range(4, 4 + n_res):
            h = self._res(h, i)
            feats.append(h)
        return feats

    def _res(self, h: torch.Tensor, i: int) -> torch.Tensor:
        conv1, in1, conv2, in2 = self.res_block(i)
        r = F.relu(in1(_reflect_conv(h, conv1, 1)))
        return h + in2(_reflect_conv(r, conv2, 1))

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """Everything before the output layer: RGB input -> full-resolution features (C×H×W)."""
        h = self.encode(x, rgb=True)[-1]
        h = F.relu(self.in12_1(self.deconv01_2(self.deconv01_1(h))))
        return F.relu(self.in13_1(self.deconv02_2(self.deconv02_1(h))))

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """The output layer: trunk features -> RGB in [-1, 1]."""
        return torch.tanh(_reflect_conv(h, self.deconv03_1, 3, flip_out=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))


def load_npy_folder(folder: str) -> dict[str, torch.Tensor]:
    """The tensors of a CartoonGAN ``.npy`` folder keyed by file stem (e.g. ``conv01_1.weight``)."""
    from pathlib import Path

    import numpy as np

    return {p.name[: -len(".npy")]: torch.from_numpy(np.load(p)).float()
            for p in sorted(Path(folder).glob("*.npy"))}
