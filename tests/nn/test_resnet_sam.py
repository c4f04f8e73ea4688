"""The seed article's ResNet + spatial-attention generator: shapes, sizes, attention, eval-mode BatchNorm."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from animegan.nn import build_generator, generator_config
from animegan.nn.resnet_sam import ResNetSAMConfig, ResNetSAMGenerator, SpatialAttention


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _small(**overrides) -> ResNetSAMGenerator:
    torch.manual_seed(0)
    cfg = {"width": 8, "n_res_blocks": 2, **overrides}
    return ResNetSAMGenerator(ResNetSAMConfig(**cfg)).eval()


def test_default_generator_maps_256_square_to_256_square_in_range():
    torch.manual_seed(0)
    model = ResNetSAMGenerator().eval()
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    with torch.no_grad():
        y = model(x)
    assert y.shape == (1, 3, 256, 256)
    assert y.min() >= -1 and y.max() <= 1
    assert y.std() > 0.01  # not a constant image


def test_default_parameter_count_matches_the_layer_arithmetic():
    w, c = 64, 256
    stem = 3 * w * 49 + 2 * w
    downs = (w * 2 * w * 9 + 2 * 2 * w) + (2 * w * c * 9 + 2 * c)
    res = 6 * (2 * (c * c * 9 + c) + (2 * 49 + 1))
    ups = (c * 2 * w * 16 + 2 * 2 * w) + (2 * w * w * 16 + 2 * w)
    out = w * 3 * 49 + 3
    assert _params(ResNetSAMGenerator()) == stem + downs + res + ups + out == 8_125_653


def test_width_and_block_options_change_the_parameter_count():
    base = _params(ResNetSAMGenerator())
    per_block = 2 * (256 * 256 * 9 + 256) + (2 * 49 + 1)
    assert _params(ResNetSAMGenerator(ResNetSAMConfig(n_res_blocks=3))) == base - 3 * per_block
    assert _params(ResNetSAMGenerator(ResNetSAMConfig(width=32))) == 2_037_653
    normed = ResNetSAMGenerator(ResNetSAMConfig(res_norm=True))
    # BatchNorm adds weight+bias (2·256) and replaces the conv bias (256) twice per block
    assert _params(normed) == base + 6 * 2 * 256


@pytest.mark.parametrize("size", [(68, 92), (4 * 9, 4 * 31), (67, 93), (5, 3)])
def test_output_has_the_input_size_for_multiples_and_odd_sides(size):
    model = _small()
    with torch.no_grad():
        y = model(torch.rand(2, 3, *size) * 2 - 1)
    assert y.shape == (2, 3, *size)


def test_size_multiple_follows_the_number_of_down_blocks():
    assert ResNetSAMGenerator.size_multiple == ResNetSAMGenerator().size_multiple == 4
    deeper = _small(n_down=4)
    assert deeper.size_multiple == 8
    with torch.no_grad():
        assert deeper(torch.zeros(1, 3, 40, 24)).shape == (1, 3, 40, 24)


def test_padding_does_not_change_the_interior_far_from_the_padded_edge():
    # a 67-row input is padded by one replicated row; rows far above it see identical context
    model = _small(n_res_blocks=1)
    x = torch.rand(1, 3, 68, 64) * 2 - 1
    x[:, :, 67] = x[:, :, 66]
    with torch.no_grad():
        full, cut = model(x), model(x[:, :, :67])
    assert torch.allclose(full[:, :, :67], cut, atol=1e-5)


def test_spatial_attention_multiplies_by_sigmoid_of_conv_over_channel_mean_and_max():
    torch.manual_seed(1)
    sam = SpatialAttention(7)
    x = torch.randn(2, 5, 9, 11)
    pooled = torch.cat([x.mean(1, keepdim=True), x.max(1, keepdim=True).values], 1)
    expected_map = torch.sigmoid(F.conv2d(pooled, sam.conv.weight, sam.conv.bias, padding=3))
    with torch.no_grad():
        assert torch.allclose(sam(x), x * expected_map, atol=1e-6)
        # one map for all channels: the ratio out/x is the same in every channel
        ratio = sam(x) / x
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), atol=1e-5)


def test_spatial_attention_with_zero_kernel_scales_by_sigmoid_of_bias():
    sam = SpatialAttention(7)
    with torch.no_grad():
        sam.conv.weight.zero_()
        sam.conv.bias.fill_(0.0)
        x = torch.randn(1, 4, 6, 6)
        assert torch.allclose(sam(x), 0.5 * x, atol=1e-7)


def test_eval_mode_batchnorm_treats_batch_items_independently():
    model = _small()
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        together = model(torch.cat([a, b]))
        alone = model(a)
    assert torch.allclose(together[:1], alone, atol=1e-5)


def test_rebuilt_from_saved_config_has_the_same_tree():
    model = _small(res_norm=True, n_down=2)
    rebuilt = build_generator("resnet_sam", generator_config(model))
    assert rebuilt.config == model.config
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in model.state_dict().items()}


@pytest.mark.parametrize("bad", [{"width": 0}, {"n_down": 0}, {"sam_kernel": 4}, {"n_res_blocks": -1}])
def test_invalid_config_is_refused(bad):
    with pytest.raises(ValueError):
        ResNetSAMConfig(**bad)
