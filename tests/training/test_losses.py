"""Every loss against a value computed by hand on tiny tensors."""

from __future__ import annotations

import pytest
import torch

from animegan.training import losses as L


def t(values, shape):
    return torch.tensor(values, dtype=torch.float32).reshape(shape)


def test_content_loss_is_mean_absolute_difference():
    a, b = t([1, 2, 3, 4], (1, 1, 2, 2)), t([0, 2, 5, 4], (1, 1, 2, 2))
    assert L.content_loss(a, b).item() == pytest.approx(0.75)  # (1 + 0 + 2 + 0) / 4


def test_gram_divides_by_h_w_c_per_image():
    feat = t([1, 2, 3, 4], (1, 2, 1, 2))  # channel 0 = [1, 2], channel 1 = [3, 4]
    expected = t([5, 11, 11, 25], (1, 2, 2)) / 4.0  # H·W·C = 1·2·2
    assert torch.allclose(L.gram(feat), expected)
    two = torch.cat([feat, 2 * feat])
    assert torch.allclose(L.gram(two)[1], 4 * expected[0])  # each image has its own Gram


def test_style_loss_is_l1_of_grams():
    feat = t([1, 2, 3, 4], (1, 2, 1, 2))
    assert L.style_loss(feat, torch.zeros_like(feat)).item() == pytest.approx(3.25)  # (1.25 + 2.75 + 2.75 + 6.25) / 4
    assert L.style_loss(feat, feat).item() == 0.0


def test_rgb_to_yuv_uses_zero_one_range():
    black = torch.full((1, 3, 1, 1), -1.0)
    white = torch.ones(1, 3, 1, 1)
    red = t([1, -1, -1], (1, 3, 1, 1))
    assert torch.allclose(L.rgb_to_yuv(black), torch.zeros(1, 3, 1, 1))
    assert torch.allclose(L.rgb_to_yuv(white).flatten(), torch.tensor([1.0, 0.0, 0.0]), atol=1e-6)
    assert torch.allclose(L.rgb_to_yuv(red).flatten(), torch.tensor([0.299, -0.14714119, 0.61497538]))


def test_color_loss_l1_luma_plus_huber_chroma():
    black = torch.full((1, 3, 2, 2), -1.0)
    white = torch.ones(1, 3, 2, 2)
    red = t([1, -1, -1], (1, 3, 1, 1)).expand(1, 3, 2, 2)
    assert L.color_loss(black, white).item() == pytest.approx(1.0, abs=1e-6)
    # Y: |0.299|; U, V inside the Huber delta: 0.5·d²
    expected = 0.299 + 0.5 * 0.14714119**2 + 0.5 * 0.61497538**2
    assert L.color_loss(black, red).item() == pytest.approx(expected, rel=1e-6)


def test_tv_loss_half_mean_squared_differences():
    x = t([0, 1, 2, 3], (1, 1, 2, 2))  # dh = [2, 2], dw = [1, 1]
    assert L.tv_loss(x).item() == pytest.approx(0.5 * 4 + 0.5 * 1)


def test_grayscale_is_luma_replicated():
    red = t([1, -1, -1], (1, 3, 1, 1))
    out = L.grayscale(red)
    assert out.shape == (1, 3, 1, 1)
    assert torch.allclose(out.flatten(), torch.full((3,), 0.299 - 0.587 - 0.114))


def test_lsgan_d_loss_four_weighted_terms():
    real, fake = torch.full((1, 1, 2, 2), 0.5), torch.full((1, 1, 2, 2), 0.5)
    gray, smooth = torch.full((1, 1, 2, 2), -1.0), torch.full((1, 1, 2, 2), 2.0)
    # 300·[1.2·0.25 + 1.2·0.25 + 1.2·1 + 0.8·4] = 300·5
    loss = L.lsgan_d_loss(real, fake, gray, smooth, weights=(1.2, 1.2, 1.2, 0.8), scale=300.0)
    assert loss.item() == pytest.approx(1500.0)
    assert L.lsgan_d_loss(real, fake).item() == pytest.approx(0.5)  # missing terms are left out


def test_lsgan_g_loss_and_multiscale_average():
    d = t([0, 2], (1, 1, 1, 2))
    assert L.lsgan_g_loss(d, scale=300.0).item() == pytest.approx(300.0)
    maps = [torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 2, 2)]
    assert L.lsgan_g_loss(maps).item() == pytest.approx(0.5)  # (1 + 0) / 2 scales


def test_hinge_losses():
    real, fake = t([0.5, 2], (1, 1, 1, 2)), t([-2, 0.5], (1, 1, 1, 2))
    assert L.hinge_d_loss(real, fake).item() == pytest.approx(0.25 + 0.75)
    assert L.hinge_g_loss(t([1, 3], (1, 1, 1, 2))).item() == pytest.approx(-2.0)
    gray = t([0.0, 0.0], (1, 1, 1, 2))
    assert L.hinge_d_loss(real, fake, gray, weights=(1, 1, 2, 1)).item() == pytest.approx(1.0 + 2.0)


def test_losses_backpropagate_to_the_generated_image():
    g = torch.zeros(1, 3, 4, 4, requires_grad=True)
    total = L.color_loss(torch.ones(1, 3, 4, 4), g) + L.tv_loss(g) + L.content_loss(g, torch.ones_like(g))
    total.backward()
    assert g.grad is not None and g.grad.abs().sum() > 0
