"""Large images: stylized in bands from the 8-bit image (bounded memory), same pixels as the whole-image path."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from animegan.inference import color
from animegan.inference import processing as proc
from animegan.inference.options import StylizeOptions
from animegan.inference.stylizer import Stylizer
from animegan.inference.tiling import run_tiled, stats_input, stats_input_banded, tiled_rows


class _TinyNet(nn.Module):
    """A cheap generator with what matters here: a stride-2 grid, a whole-image GroupNorm, reflection pads."""

    arch = "tiny"
    size_multiple = 4
    bytes_per_pixel = 200

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(3, 8, 3, stride=2, padding=1, padding_mode="reflect")
        self.norm = nn.GroupNorm(1, 8)
        self.up = nn.Conv2d(8, 3, 3, padding=1, padding_mode="reflect")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.norm(self.down(x)))
        return torch.tanh(self.up(nn.functional.interpolate(h, scale_factor=2.0, mode="nearest")) + x)


@pytest.fixture(scope="module")
def stylizer() -> Stylizer:
    torch.manual_seed(0)
    return Stylizer(_TinyNet().eval(), precision="fp32")


def _photo(width: int, height: int, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, (max(2, height // 16), max(2, width // 16), 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
    if mode == "RGBA":
        alpha = np.tile(np.linspace(0, 255, width).astype(np.uint8), (height, 1))
        img = Image.fromarray(np.dstack([np.asarray(img), alpha]), "RGBA")
    return img.convert(mode)


def _whole_image(stylizer: Stylizer, img: Image.Image, opts: StylizeOptions) -> Image.Image:
    """The documented walk on the whole image in float (docs/DESIGN.md), from public functions."""
    planes = proc.split_image(img)
    out = stylizer.forward_rgb(planes.rgb[None], opts)[0]
    out = color.apply_palette(out, planes.rgb, opts.palette, opts.chroma_smoothing)
    if opts.match_brightness:
        out = proc.match_brightness(out, planes.rgb)
    result = proc.Planes(proc.blend_strength(out, planes.rgb, opts.strength), planes.alpha, planes.mode)
    if opts.side_by_side:
        result = proc.side_by_side(planes, result)
    return proc.merge_image(result)


def _levels(img: Image.Image) -> np.ndarray:
    return np.asarray(img).astype(np.int32)


def test_a_moderate_photo_in_many_tiles_matches_the_whole_image_path(stylizer):
    img = _photo(1024, 768)
    opts = StylizeOptions(tile=128, tile_pad=16)
    banded = stylizer.stylize(img, opts)
    whole = _whole_image(stylizer, img, opts)
    assert banded.size == whole.size and banded.mode == whole.mode == "RGB"
    diff = np.abs(_levels(banded) - _levels(whole))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01  # only 16-bit storage and summation order differ


@pytest.mark.parametrize("mode, options", [
    ("RGB", {"palette": 0.0}),
    ("RGB", {"palette": 0.8, "match_brightness": True, "strength": 0.6}),
    ("RGBA", {"side_by_side": True}),
    ("L", {}),
    ("LA", {"match_brightness": True}),
])
def test_every_mode_and_option_matches_the_whole_image_path(stylizer, mode, options):
    img = _photo(203, 151, mode)  # odd sizes: the bottom and right edges are padded by reflection
    opts = StylizeOptions(tile=64, tile_pad=16, **options)
    banded = stylizer.stylize(img, opts)
    whole = _whole_image(stylizer, img, opts)
    assert banded.mode == whole.mode == mode and banded.size == whole.size
    assert np.abs(_levels(banded) - _levels(whole)).max() <= 1


def test_the_raw_palette_is_bit_for_bit_the_whole_image_path(stylizer):
    img = _photo(203, 151)
    opts = StylizeOptions(tile=64, tile_pad=16, palette=1.0)
    assert np.array_equal(_levels(stylizer.stylize(img, opts)), _levels(_whole_image(stylizer, img, opts)))


def test_a_batch_of_large_images_equals_one_by_one(stylizer):
    images = [_photo(203, 151), _photo(160, 120, "L")]
    opts = StylizeOptions(tile=64, tile_pad=16, batch_size=4)
    for batched, image in zip(stylizer.stylize_batch(images, opts), images, strict=True):
        assert np.array_equal(_levels(batched), _levels(stylizer.stylize(image, opts)))


def test_a_large_image_never_exists_in_float(stylizer):
    """The defect: the whole image was converted to float32 planes (12 bytes a pixel) and every
    stage made whole-image float copies. numpy's allocations are traced (torch's tile buffers are
    bounded by the tile, not the image); the 16-bit copy of the output is 6 bytes a pixel, the rest
    a few bands of rows."""
    img = _photo(1024, 768)
    opts = StylizeOptions(tile=128, tile_pad=16, pixel_budget=256 * 256)  # statistics from a downscale
    stylizer.stylize(_photo(64, 64), opts)  # imports and first-call allocations out of the way
    tracemalloc.start()
    try:
        out = stylizer.stylize(img, opts)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.size == img.size
    pixels = img.size[0] * img.size[1]
    assert peak < 10 * pixels, f"numpy peaked at {peak / pixels:.1f} bytes a pixel"


def test_tiled_rows_put_together_are_run_tiled_bit_for_bit(stylizer):
    torch.manual_seed(0)
    x = torch.rand(1, 3, 200, 156) * 2 - 1
    net = stylizer.backend
    whole = run_tiled(net, x, 64, 16, 4)
    bands = list(tiled_rows(net, lambda r0, r1, c0, c1: x[:, :, r0:r1, c0:c1], 200, 156, 64, 16, 4))
    assert [top for top, _ in bands] == sorted({top for top, _ in bands})
    assert all(band.shape[2] < 200 for _, band in bands)  # never the whole height at once
    assert torch.equal(torch.cat([band for _, band in bands], dim=2), whole)


def test_banded_statistics_input_is_the_whole_image_downscale(stylizer):
    torch.manual_seed(0)
    x = torch.rand(1, 3, 301, 404) * 2 - 1
    banded = stats_input_banded(lambda r0, r1, c0, c1: x[:, :, r0:r1, c0:c1], 301, 404, 20_000, 4,
                                band_pixels=404 * 37)
    assert torch.allclose(banded, stats_input(x, 20_000, 4), atol=1e-6)
