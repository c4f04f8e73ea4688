"""Datasets and augmentation: crops are windows of the source, flips, jitter ranges, pairing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from animegan.errors import ConfigError, InputError
from animegan.inference.processing import tensor_to_uint8, uint8_to_tensor
from animegan.io.discovery import list_images
from animegan.training import data as D
from animegan.training.smoothing import smooth_edges


def coord_image(h: int, w: int) -> np.ndarray:
    """Pixel (y, x) holds (y, x, 7): any crop reveals exactly where it was taken."""
    yy, xx = np.mgrid[:h, :w]
    return np.stack([yy, xx, np.full_like(yy, 7)], -1).astype(np.uint8)


def test_random_crop_is_a_window_and_flip_mirrors_it():
    src = coord_image(40, 60)
    gen = torch.Generator().manual_seed(0)
    aug = D.Augment(size=16, flip=True)
    tops, flips = set(), 0
    for _ in range(40):
        crop = tensor_to_uint8(D.augment([src], aug, gen)[0])
        top, left = int(crop[0, 0, 0]), int(crop[0, :, 1].min())
        flipped = crop[0, 0, 1] > crop[0, -1, 1]
        flips += flipped
        window = src[top:top + 16, left:left + 16]
        np.testing.assert_array_equal(crop, window[:, ::-1] if flipped else window)
        tops.add(top)
    assert 10 <= flips <= 30 and len(tops) > 5


def test_centre_crop_and_upscale_of_small_images():
    src = coord_image(20, 30)
    crop = D.augment([src], D.Augment(size=20, random_crop=False, flip=False))[0]
    assert crop.shape == (3, 20, 20)
    assert tensor_to_uint8(crop)[0, 0, 1] == 5  # (30 − 20) / 2
    small = np.zeros((10, 12, 3), np.uint8)
    assert D.augment([small], D.Augment(size=16))[0].shape == (3, 16, 16)


def test_jitter_stays_within_ten_percent():
    gen = torch.Generator().manual_seed(1)
    flat = np.full((16, 16, 3), 100, np.uint8)  # contrast has no effect on a flat image
    values = [tensor_to_uint8(D.augment([flat], D.Augment(size=16, jitter=0.1), gen)[0])[0, 0, 0] for _ in range(60)]
    assert min(values) >= 89 and max(values) <= 111
    assert min(values) < 95 and max(values) > 105  # both directions are drawn
    two = np.zeros((16, 16, 3), np.uint8)
    two[:, :8] = 80
    two[:, 8:] = 160
    x = uint8_to_tensor(two)
    for c in (0.9, 1.1):
        y = D.jitter_brightness_contrast(x, 1.0, c)
        assert (y[0, 0, 9] - y[0, 0, 0]).item() == pytest.approx(c * (x[0, 0, 9] - x[0, 0, 0]).item(), rel=1e-5)


def test_paired_images_get_the_same_crop_and_flip():
    a = coord_image(48, 48)
    b = 255 - a
    gen = torch.Generator().manual_seed(2)
    for _ in range(10):  # same crop, flip and jitter factors for both members of a pair
        ta, tb = D.augment([a, a.copy()], D.Augment(size=16, jitter=0.1), gen)
        assert torch.equal(ta, tb)
    ta, tb = D.augment([a, b], D.Augment(size=16), gen)
    np.testing.assert_array_equal(tensor_to_uint8(ta), 255 - tensor_to_uint8(tb))


def _write(folder, name, rgb):
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(folder / name)


def test_animegan_dataset_items(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        _write(tmp_path / "photo", f"p{i}.png", rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    style = np.zeros((32, 32, 3), np.uint8)
    style[8:24, 8:24] = (250, 40, 40)
    _write(tmp_path / "style", "s0.png", style)
    _write(tmp_path / "smooth", "s0.png", smooth_edges(style))
    ds = D.AnimeGANDataset(tmp_path / "photo", tmp_path / "style", tmp_path / "smooth",
                           photo_aug=D.Augment(size=32), style_aug=D.Augment(size=32, flip=False))
    assert len(ds) == 3
    item = ds[0]
    assert set(item) == {"photo", "anime", "anime_gray", "smooth_gray"}
    assert all(t.shape == (3, 32, 32) and t.min() >= -1 and t.max() <= 1 for t in item.values())
    np.testing.assert_array_equal(tensor_to_uint8(item["anime"]), style)
    assert torch.equal(item["anime_gray"][0], item["anime_gray"][2])
    on_the_fly = D.AnimeGANDataset(tmp_path / "photo", tmp_path / "style", None,
                                   photo_aug=D.Augment(size=32), style_aug=D.Augment(size=32, flip=False))
    assert torch.allclose(on_the_fly[1]["smooth_gray"], item["smooth_gray"], atol=2 / 255)
    assert not torch.allclose(item["smooth_gray"], item["anime_gray"], atol=0.1)


def test_missing_smooth_copies_and_empty_folders(tmp_path):
    _write(tmp_path / "style", "s0.png", np.zeros((16, 16, 3), np.uint8))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        D.ImageFolderDataset(tmp_path / "empty")
    with pytest.raises(InputError, match="not a folder"):
        list_images(tmp_path / "nope")
    (tmp_path / "smooth").mkdir()
    with pytest.raises(InputError, match="1 of 1 smoothed copies missing.*animegan data smooth"):
        D.AnimeGANDataset(tmp_path / "style", tmp_path / "style", tmp_path / "smooth")
    with pytest.raises(ConfigError, match="jitter"):
        D.Augment(jitter=1.5)


def test_alpha_is_composited_on_white(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert (D.load_rgb(tmp_path / "a.png") == 255).all()


def test_real_folder_dataset(shared_data):
    ds = D.ImageFolderDataset(shared_data / "anime" / "enyokid" / "style", D.Augment(size=64, resize=128))
    x = torch.stack([ds[i] for i in range(2)])
    assert x.shape == (2, 3, 64, 64) and x.std() > 0.1
