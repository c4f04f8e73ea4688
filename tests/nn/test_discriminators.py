"""Discriminators: output shapes, parameter count, spectral norm, init, the build table."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from animegan.errors import ConfigError
from animegan.nn.discriminator import build_discriminator
from animegan.nn.patchgan import PatchGANConfig, PatchGANDiscriminator
from animegan.nn.sam_discriminator import SAMDiscriminator, SAMDiscriminatorConfig


def _convs(model: nn.Module) -> list[nn.Conv2d]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def test_patchgan_has_the_official_parameter_count():
    d = PatchGANDiscriminator()
    assert sum(p.numel() for p in d.parameters()) == 1_128_800  # ≈1.13 M as in the TF release
    assert [c.out_channels for c in _convs(d)] == [32, 64, 128, 128, 256, 256, 1]


@pytest.mark.parametrize("hw", [(64, 64), (96, 128), (128, 128)])
def test_patchgan_output_is_quarter_resolution(hw):
    d = PatchGANDiscriminator()
    out = d(torch.randn(2, 3, *hw))
    assert out.shape == (2, 1, hw[0] // 4, hw[1] // 4)


def test_patchgan_spectral_norm_on_every_conv_and_no_biases():
    d = PatchGANDiscriminator()
    convs = _convs(d)
    assert all(parametrize.is_parametrized(c, "weight") for c in convs)
    assert all(c.bias is None for c in convs)
    originals = torch.cat([c.parametrizations.weight.original.flatten() for c in convs[1:]])
    assert originals.std().item() == pytest.approx(0.02, rel=0.05)
    assert originals.mean().abs().item() < 0.002


def test_spectral_norm_bounds_the_largest_singular_value():
    conv = _convs(PatchGANDiscriminator())[5]
    conv.train()
    for _ in range(30):  # in training mode each weight access runs one power iteration
        _ = conv.weight
    conv.eval()
    w = conv.weight.detach().flatten(1)
    v = torch.ones(w.shape[1])
    for _ in range(200):  # our own power iteration (LAPACK's SVD takes seconds to warm up here)
        v = w.T @ (w @ v)
        v = v / v.norm()
    sigma = (w @ v).norm().item()
    assert sigma == pytest.approx(1.0, abs=0.05)


def test_patchgan_without_spectral_norm_has_plain_weights():
    d = PatchGANDiscriminator(PatchGANConfig(use_spectral_norm=False))
    assert not any(parametrize.is_parametrized(c, "weight") for c in _convs(d))
    assert sum(p.numel() for p in d.parameters()) == 1_128_800


def test_sam_discriminator_gives_16x16_at_256():
    d = SAMDiscriminator(SAMDiscriminatorConfig(channels=16))
    assert len([c for c in _convs(d) if c.stride == (2, 2)]) == 4
    out = d(torch.randn(1, 3, 256, 256))
    assert isinstance(out, torch.Tensor) and out.shape == (1, 1, 16, 16)


def test_sam_discriminator_multiscale_returns_a_list_of_maps():
    d = SAMDiscriminator(SAMDiscriminatorConfig(channels=8, n_scales=2))
    outs = d(torch.randn(2, 3, 128, 128))
    assert isinstance(outs, list) and [o.shape for o in outs] == [(2, 1, 8, 8), (2, 1, 4, 4)]
    sum(o.mean() for o in outs).backward()
    assert all(p.grad is not None for p in d.scales[1].parameters() if p.requires_grad)


def test_sam_attention_changes_the_output():
    torch.manual_seed(0)
    with_attn = SAMDiscriminator(SAMDiscriminatorConfig(channels=8, use_spectral_norm=False))
    torch.manual_seed(0)
    without = SAMDiscriminator(SAMDiscriminatorConfig(channels=8, attention=False, use_spectral_norm=False))
    x = torch.randn(1, 3, 64, 64)
    assert without(x).shape == with_attn(x).shape
    assert not torch.allclose(without(x), with_attn(x))


def test_build_discriminator_by_name_and_bad_config():
    assert isinstance(build_discriminator("sam", {"n_scales": 2, "channels": 8}), SAMDiscriminator)
    with pytest.raises(ConfigError, match="unknown discriminator 'vgg'"):
        build_discriminator("vgg")
    with pytest.raises(ConfigError, match="unknown config keys \\['width'\\]"):
        build_discriminator("patchgan", {"width": 3})
    with pytest.raises(ConfigError, match="n_scales"):
        build_discriminator("sam", {"n_scales": 9})
