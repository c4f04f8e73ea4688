"""Training data: folder datasets (photos, anime style frames, their edge-smoothed copies) and augmentation.

Every item is a float tensor 3×S×S, RGB in [-1, 1]. Augmentation (:class:`Augment`): optional
resize of the shorter side, a random (or centre) S×S crop, a random horizontal flip, and a ±``jitter``
brightness/contrast change (the seed article's ±10%). A style frame and its smoothed copy get the
same crop and flip so they stay aligned pixel for pixel. Randomness comes from torch's generator,
so a seeded ``DataLoader`` (and each of its workers) is reproducible.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..errors import ConfigError, InputError
from ..inference.processing import tensor_to_uint8, uint8_to_tensor
from ..io.discovery import list_images
from ..io.images import open_image
from .losses import grayscale
from .smoothing import smooth_edges


@dataclass
class Augment:
    """How one image becomes a training crop.

    ``size``: crop side. ``resize``: scale the shorter side to this first (None: only upscale images
    smaller than ``size``). ``random_crop``: random position (else centre). ``flip``: horizontal flip
    with probability 0.5. ``jitter``: brightness and contrast factors drawn in [1 − jitter, 1 + jitter].
    """

    size: int = 256
    resize: int | None = None
    random_crop: bool = True
    flip: bool = True
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.size < 8 or not 0.0 <= self.jitter < 1.0:
            raise ConfigError(f"augmentation: size must be ≥8 and jitter in [0, 1), got {self}")
        if self.resize is not None and self.resize < self.size:
            raise ConfigError(f"augmentation: resize ({self.resize}) must be ≥ size ({self.size})")


def load_rgb(path: str | Path) -> np.ndarray:
    """H×W×3 uint8 RGB of an image file (EXIF orientation applied; alpha composited on white)."""
    img = open_image(path)
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.asarray(img.convert("RGB"))


def _resize_shorter(rgb: np.ndarray, target: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = target / min(h, w)
    size = (max(target, round(w * s)), max(target, round(h * s)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BICUBIC))


def _uniform(lo: float, hi: float, gen: torch.Generator | None) -> float:
    return lo + (hi - lo) * torch.rand((), generator=gen).item()


def jitter_brightness_contrast(x: torch.Tensor, brightness: float, contrast: float) -> torch.Tensor:
    """Scale brightness, then contrast around the mean luma, of a 3×H×W image in [-1, 1]; clamped."""
    v = (x + 1) / 2 * brightness
    mean = (0.299 * v[0] + 0.587 * v[1] + 0.114 * v[2]).mean()
    v = (v - mean) * contrast + mean
    return v.clamp(0, 1) * 2 - 1


def augment(images: list[np.ndarray], aug: Augment, gen: torch.Generator | None = None) -> list[torch.Tensor]:
    """Crop, flip and jitter ``images`` (same size, e.g. a frame and its smoothed copy) identically."""
    h, w = images[0].shape[:2]
    if any(im.shape[:2] != (h, w) for im in images):
        raise InputError(f"paired images differ in size: {[im.shape[:2] for im in images]}")
    target = aug.resize if aug.resize is not None else (aug.size if min(h, w) < aug.size else None)
    if target is not None:
        images = [_resize_shorter(im, target) for im in images]
        h, w = images[0].shape[:2]
    s = aug.size
    if aug.random_crop:
        top = int(torch.randint(0, h - s + 1, (), generator=gen))
        left = int(torch.randint(0, w - s + 1, (), generator=gen))
    else:
        top, left = (h - s) // 2, (w - s) // 2
    out = [uint8_to_tensor(im[top:top + s, left:left + s]) for im in images]
    if aug.flip and torch.rand((), generator=gen).item() < 0.5:
        out = [t.flip(-1) for t in out]
    if aug.jitter > 0:
        b = _uniform(1 - aug.jitter, 1 + aug.jitter, gen)
        c = _uniform(1 - aug.jitter, 1 + aug.jitter, gen)
        out = [jitter_brightness_contrast(t, b, c) for t in out]
    return out


class ImageFolderDataset(Dataset):
    """Every image under a folder as an augmented 3×S×S crop in [-1, 1]."""

    def __init__(self, folder: str | Path, aug: Augment | None = None):
        self.folder, self.aug = Path(folder), aug or Augment()
        self.files = list_images(folder)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        return augment([load_rgb(self.files[i])], self.aug)[0]


def smoothed_copies(styles: list[Path], style_dir: str | Path, smooth_dir: str | Path, hint: str = "") -> list[Path]:
    """The edge-smoothed copy of each style image (same relative path under ``smooth_dir``); all must exist."""
    style_dir, smooth_dir = Path(style_dir), Path(smooth_dir)
    smooths = [smooth_dir / p.relative_to(style_dir) for p in styles]
    missing = [str(p) for p in smooths if not p.is_file()]
    if missing:
        raise InputError(f"{smooth_dir}: {len(missing)} of {len(styles)} smoothed copies missing "
                         f"(first: {missing[0]}); make them with `animegan data smooth {style_dir} "
                         f"-o {smooth_dir}`{hint}")
    return smooths


class AnimeGANDataset(Dataset):
    """Photo crops paired with random anime frames, their grayscale and their smoothed grayscale.

    Items are dicts: ``photo``, ``anime``, ``anime_gray`` (luma replicated to 3 channels) and
    ``smooth_gray``. ``smooth_dir`` holds edge-smoothed copies with the style files' relative
    names (``animegan data smooth``); without it they are computed on the fly from each crop
    (about 0.1 s per 256² crop). Length is the number of photos; the style frame is drawn at random.
    Photos get ``photo_aug``; style and smooth share ``style_aug`` (same crop and flip).
    """

    def __init__(self, photo_dir: str | Path, style_dir: str | Path, smooth_dir: str | Path | None = None,
                 photo_aug: Augment | None = None, style_aug: Augment | None = None):
        self.photos = list_images(photo_dir)
        self.styles = list_images(style_dir)
        self.photo_aug = photo_aug or Augment()
        self.style_aug = style_aug or dataclasses.replace(self.photo_aug)
        if self.photo_aug.size != self.style_aug.size:
            raise ConfigError(f"photo crops ({self.photo_aug.size}) and style crops ({self.style_aug.size}) "
                             f"must have the same size")
        self.smooths: list[Path] | None = None
        if smooth_dir is not None:
            self.smooths = smoothed_copies(self.styles, style_dir, smooth_dir)

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        photo = augment([load_rgb(self.photos[i])], self.photo_aug)[0]
        j = int(torch.randint(0, len(self.styles), ()))
        style_rgb = load_rgb(self.styles[j])
        if self.smooths is not None:
            smooth_rgb = load_rgb(self.smooths[j])
            if smooth_rgb.shape != style_rgb.shape:
                raise InputError(f"{self.smooths[j]}: size {smooth_rgb.shape[:2]} differs from its style "
                                 f"frame {self.styles[j]} {style_rgb.shape[:2]}")
            anime, smooth = augment([style_rgb, smooth_rgb], self.style_aug)
        else:
            anime = augment([style_rgb], self.style_aug)[0]
            smooth = uint8_to_tensor(smooth_edges(tensor_to_uint8(anime)))
        return {"photo": photo, "anime": anime, "anime_gray": grayscale(anime[None])[0],
                "smooth_gray": grayscale(smooth[None])[0]}


__all__ = ["AnimeGANDataset", "Augment", "ImageFolderDataset", "augment", "jitter_brightness_contrast",
           "load_rgb", "smoothed_copies"]
