"""What a distillation step reads: planned photo crops, the teacher and its on-disk output cache.

The teacher runs once per crop: its outputs are cached as lossless PNG files keyed by the photo and
the crop parameters, so later epochs, resumed runs and other students reuse them. Which crops a
step sees, and where a sub-crop or a style image is taken, are pure functions of the seed and the
step, so a resumed run reads exactly what the uninterrupted one would have.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from ...errors import ConfigError, ModelError
from ...hub.loading import load_generator_file
from ...hub.zoo import resolve_model
from ...inference.processing import tensor_to_uint8, uint8_to_tensor
from ...io.atomic import atomic_path, sweep_stale_temps
from ...io.discovery import list_images


@dataclass(frozen=True)
class CropSpec:
    """One training crop: photo path, long side it is resized to, top-left corner, size, mirror."""

    photo: str
    long_side: int
    x: int
    y: int
    size: int
    flip: bool

    def key(self) -> str:
        text = f"{self.photo}|{self.long_side}|{self.x}|{self.y}|{self.size}|{int(self.flip)}"
        return hashlib.sha1(text.encode()).hexdigest()[:20]

    def load(self) -> np.ndarray:
        """The crop as H×W×3 uint8 RGB."""
        with Image.open(self.photo) as im:
            im = im.convert("RGB")
            s = self.long_side / max(im.size)
            im = im.resize((max(self.size, round(im.width * s)), max(self.size, round(im.height * s))),
                           Image.Resampling.BICUBIC)
            arr = np.asarray(im)[self.y:self.y + self.size, self.x:self.x + self.size]
        return np.ascontiguousarray(arr[:, ::-1] if self.flip else arr)


def batch_tensor(crops: list[np.ndarray]) -> torch.Tensor:
    """uint8 H×W×3 crops -> N×3×H×W in [-1, 1]."""
    return uint8_to_tensor(np.stack(crops))


def list_photos(folders: list[str]) -> list[str]:
    """Image files under ``folders`` (recursive), sorted so crop plans are reproducible."""
    return [str(p) for folder in folders for p in list_images(folder)]


def plan_crops(photos: list[str], n_crops: int, size: int, long_side_range: tuple[int, int],
               seed: int) -> list[CropSpec]:
    """``n_crops`` crops spread evenly over ``photos`` (deterministic for a seed)."""
    rng = random.Random(seed)
    crops = []
    for i in range(n_crops):
        photo = photos[i % len(photos)] if n_crops >= len(photos) else photos[i * len(photos) // n_crops]
        with Image.open(photo) as im:
            w, h = im.size
        long_side = rng.randint(*long_side_range)
        s = long_side / max(w, h)
        rw, rh = max(size, round(w * s)), max(size, round(h * s))
        crops.append(CropSpec(photo, long_side, rng.randint(0, rw - size), rng.randint(0, rh - size), size,
                              rng.random() < 0.5))
    return crops


def batch_indices(step: int, batch: int, n: int, seed: int) -> list[int]:
    """Crop indices of ``step``: a fresh permutation per epoch, a pure function of the step (resumable)."""
    out = []
    for j in range(step * batch, (step + 1) * batch):
        epoch, pos = divmod(j, n)
        out.append(random.Random(seed * 100003 + epoch).sample(range(n), n)[pos])
    return out


def sub_crop(tensors: tuple[torch.Tensor, ...], size: int, step: int, seed: int) -> tuple[torch.Tensor, ...]:
    """The same random ``size``² window of each N×C×H×W tensor; a pure function of the step."""
    r = random.Random(seed * 7919 + step)
    full = tensors[0].shape[-1]
    oy, ox = r.randint(0, full - size), r.randint(0, full - size)
    return tuple(t[:, :, oy:oy + size, ox:ox + size] for t in tensors)


def style_batch(files: list[str], n: int, size: int, step: int, seed: int) -> torch.Tensor:
    """``n`` style images (one drawn per item, a pure function of the step), top-left ``size``² crops."""
    r = random.Random(seed * 104729 + step)
    return batch_tensor([CropSpec(r.choice(files), size * 2, 0, 0, size, False).load() for _ in range(n)])


def load_teacher(name_or_path: str, arch: str | None = None, key: str = "teacher") -> tuple[nn.Module, Path]:
    """The teacher (eval mode) and its weights path: a zoo name (``shinkai``), a weights file or a
    folder of CartoonGAN ``.npy`` tensors. Nothing is downloaded: a zoo model must be present.
    Errors name the config ``key`` the network came from."""
    if not name_or_path:
        raise ConfigError(f"{key} is not set: name a zoo model, a weights file or a .npy folder")
    try:
        path = resolve_model(name_or_path, download=False)
        model, _ = load_generator_file(path, arch=arch)
    except ModelError as exc:
        raise ModelError(f"{key}: {exc}") from None
    return model.eval(), path


def file_id(path: str | Path) -> str:
    """A short id for a weights file or folder from its name, size and mtime (cache folder name)."""
    p = Path(path)
    files = sorted(p.glob("*")) if p.is_dir() else [p]
    text = "|".join(f"{f.name}:{f.stat().st_size}:{int(f.stat().st_mtime)}" for f in files)
    return f"{p.stem}-{hashlib.sha1(text.encode()).hexdigest()[:10]}"


class TeacherCache:
    """Teacher outputs on disk, one lossless PNG per crop, under a folder per teacher file."""

    def __init__(self, folder: str | Path, teacher_id: str):
        self.folder = Path(folder) / teacher_id
        self.folder.mkdir(parents=True, exist_ok=True)
        sweep_stale_temps(self.folder)
        self.teacher_calls = 0

    def path(self, crop: CropSpec) -> Path:
        return self.folder / f"{crop.key()}.png"

    def get(self, crops: list[CropSpec], teacher: Callable[[torch.Tensor], torch.Tensor] | None,
            inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Teacher outputs for ``crops``; runs ``teacher`` only on the ones not cached yet."""
        out: list[np.ndarray | None] = []
        missing = []
        for i, crop in enumerate(crops):
            p = self.path(crop)
            if p.exists():
                with Image.open(p) as im:
                    out.append(np.asarray(im.convert("RGB")))
            else:
                out.append(None)
                missing.append(i)
        if missing:
            if teacher is None:
                raise ModelError(f"{self.folder}: teacher output for {crops[missing[0]].photo} not cached")
            with torch.no_grad():
                y = tensor_to_uint8(teacher(batch_tensor([inputs[i] for i in missing])))
            self.teacher_calls += 1
            for j, i in enumerate(missing):
                with atomic_path(self.path(crops[i])) as tmp:
                    Image.fromarray(y[j]).save(tmp)
                out[i] = y[j]
        return out  # type: ignore[return-value]
