"""Tiling: feather weights, exact whole-image statistics, no seams, grid-exact resizing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from animegan.inference.options import StylizeOptions
from animegan.inference.stylizer import Stylizer
from animegan.inference.tiling import axis_spans, frozen_norm_stats, recording_norm_stats, run_tiled
from animegan.nn.animeganv2 import AnimeGANv2Generator
from animegan.nn.cartoongan import CartoonGANConfig, CartoonGANGenerator
from animegan.nn.window import Window, image_window, resize_aligned


@pytest.mark.parametrize("length,tile,pad", [(256, 64, 16), (300, 96, 32), (1000, 128, 24), (64, 128, 32)])
def test_feather_weights_sum_to_one(length, tile, pad):
    total = torch.zeros(length)
    spans = axis_spans(length, tile, pad, multiple=4)
    for span in spans:
        total[span.start:span.stop] += span.weights
    assert torch.allclose(total, torch.ones(length), atol=1e-6)
    for span in spans[1:]:
        assert span.start % 4 == 0  # strided layers see the whole image's pixel grid


def test_window_edges_are_dropped_not_blended():
    spans = axis_spans(512, 128, 32, multiple=4)
    inner = spans[1]
    assert inner.weights[:16].max() == 0 and inner.weights[-16:].max() == 0


def _photo(shared_data, size):
    path = min((shared_data / "eval" / "animegan_test").glob("*.jpg"))
    return Image.open(path).convert("RGB").resize(size, Image.Resampling.LANCZOS)


def _diff(a: Image.Image, b: Image.Image) -> np.ndarray:
    return np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32))


def test_tiled_matches_untiled_on_a_photo_without_seams(shared_data):
    torch.manual_seed(0)
    stylizer = Stylizer(AnimeGANv2Generator(), precision="fp32")
    img = _photo(shared_data, (128, 96))
    # palette 1: the network's own pixels (the colour stage runs on the whole image after it)
    whole = stylizer.stylize(img, StylizeOptions(tile=-1, palette=1.0))
    tiled = stylizer.stylize(img, StylizeOptions(tile=64, tile_pad=32, palette=1.0))
    diff = _diff(whole, tiled)
    assert diff.mean() <= 0.25  # requirement is <= 2/255; exact statistics get far below
    # no seam: the pixels around the tile borders are close too
    assert diff[:, 60:68].mean() <= 0.5 and diff[44:52, :].mean() <= 0.5


def test_tiles_without_frozen_statistics_would_differ(shared_data):
    """The reason for the statistics pass: independent tiles get other tones."""
    torch.manual_seed(0)
    model = AnimeGANv2Generator().eval()
    img = _photo(shared_data, (128, 96))
    whole = Stylizer(model, precision="fp32").stylize(img, StylizeOptions(tile=-1))
    x = torch.from_numpy(np.asarray(img, np.float32) / 255.0).permute(2, 0, 1)[None] * 2 - 1
    with torch.inference_mode():
        naive = run_tiled(model, x, 64, 32, 4)
    naive_img = Image.fromarray(np.round((naive[0].clamp(-1, 1) * 0.5 + 0.5).permute(1, 2, 0).numpy() * 255)
                                .astype(np.uint8))
    assert _diff(whole, naive_img).mean() > 1.0


def test_reduced_resolution_statistics_stay_close(shared_data):
    torch.manual_seed(0)
    stylizer = Stylizer(AnimeGANv2Generator(), precision="fp32")
    img = _photo(shared_data, (128, 96))
    whole = stylizer.stylize(img, StylizeOptions(tile=-1))
    tiled = stylizer.stylize(img, StylizeOptions(tile=64, tile_pad=32, pixel_budget=96 * 64))
    # a random network is the worst case (its features change most with scale); real weights: see benchmarks
    assert _diff(whole, tiled).mean() <= 6.0


def test_instance_norm_models_tile_exactly_too():
    torch.manual_seed(0)
    model = CartoonGANGenerator(CartoonGANConfig(base_channels=8, n_res_blocks=1))
    rng = np.random.default_rng(0)
    smooth = Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).resize((128, 96),
                                                                                         Image.Resampling.BICUBIC)
    stylizer = Stylizer(model, precision="fp32")
    whole = stylizer.stylize(smooth, StylizeOptions(tile=-1))
    tiled = stylizer.stylize(smooth, StylizeOptions(tile=64, tile_pad=32))
    assert _diff(whole, tiled).mean() <= 0.25


def test_torch_instance_norm_and_group_norm_record_and_freeze():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.InstanceNorm2d(8, affine=True), nn.GroupNorm(2, 8))
    x, other = torch.randn(1, 3, 16, 16), torch.randn(1, 3, 16, 16) * 3 + 1
    with torch.no_grad():
        ref = net(x)
        with recording_norm_stats(net) as stats:
            net(x)
        assert set(stats) == {net[1], net[2]}
        with frozen_norm_stats(net, stats):
            frozen = net(x)
            shifted = net(other)
        after = net(other)
    assert torch.allclose(frozen, ref, atol=1e-5)
    assert not torch.allclose(shifted, after, atol=1e-2)  # frozen statistics were really used
    assert "forward" not in net[1].__dict__  # the swap is undone


def test_resize_aligned_in_a_window_equals_the_whole_image_crop():
    x = torch.randn(1, 2, 24, 32)
    whole = resize_aligned(x, (48, 64))
    assert torch.equal(whole, torch.nn.functional.interpolate(x, (48, 64), mode="bilinear", align_corners=True))
    # window rows 16..64 / cols 32..96 of a 96×128 input; features here are at 1/4 resolution
    with image_window(Window(96, 128, 16, 32, 48, 64)):
        part = resize_aligned(x[:, :, 4:16, 8:24], (24, 32))
    assert torch.allclose(part[:, :, 1:-1, 1:-1], whole[:, :, 9:31, 17:47], atol=1e-5)
