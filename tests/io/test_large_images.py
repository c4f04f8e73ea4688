"""Large images with max_side: reduced right after decoding (low memory), same result as the full decode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animegan.inference import processing as proc
from animegan.io.images import open_image


def _gradient(width: int, height: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([x / width * 255, y / height * 255, 128 + 60 * np.sin(x / 40.0)], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def test_png_over_twice_max_side_is_reduced_on_open_and_matches_full_decode(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    Image.fromarray(_gradient(4000, 300)).save(path)
    reduced = open_image(path, max_side=256)
    assert reduced.size == (572, 43) and reduced.mode == "RGB"  # 4000 // 512 = 7: still >= 2 × 256
    full = open_image(path)
    assert full.size == (4000, 300)
    a = proc.limit_side(proc.split_image(reduced), 256).rgb
    b = proc.limit_side(proc.split_image(full), 256).rgb
    assert a.shape == b.shape == (19, 256, 3)
    assert np.abs(a - b).mean() < 1.0 / 255  # indistinguishable from Lanczos on the full image


@pytest.mark.parametrize("mode, expected", [("I;16", "I;16"), ("P", "RGBA"), ("1", "L"), ("LA", "LA")])
def test_reduction_keeps_or_widens_the_mode(tmp_path: Path, mode: str, expected: str) -> None:
    rgb = _gradient(1200, 64)
    if mode == "I;16":
        img = Image.fromarray(rgb[..., 0].astype(np.uint16) * 257)
    elif mode == "P":
        img = Image.fromarray(rgb).quantize(16)
        img.info["transparency"] = 0
    else:
        img = Image.fromarray(rgb).convert(mode)
    path = tmp_path / "img.png"
    img.save(path)
    out = open_image(path, max_side=100)
    assert out.size == (200, 11) and out.mode == expected
    if mode == "I;16":
        assert int(np.asarray(out).max()) > 255  # 16-bit depth kept


def test_small_image_and_no_max_side_are_untouched(tmp_path: Path) -> None:
    path = tmp_path / "small.png"
    Image.fromarray(_gradient(300, 200)).save(path)
    assert open_image(path, max_side=256).size == (300, 200)
