"""What each training step sees: the step plan, and batches as a pure function of the step.

Photos follow seeded per-epoch permutations sharded over ranks like ``DistributedSampler``
(``randperm(n, seed + epoch)``, padded to a multiple of the world size, ``rank::world``); style
images follow their own permutation stream. Every item's augmentation (crop, flip, jitter) runs
under a seed made from (run seed, step, slot), with the global RNGs saved and restored around it.
So the batch of step ``k`` is the same in an uninterrupted run and in one resumed at ``k``, with any
number of data-loader workers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..inference.processing import tensor_to_uint8, uint8_to_tensor
from ..io.discovery import list_images
from ..io.images import open_image
from .config import TrainConfig
from .distributed import DistInfo


@dataclass(frozen=True)
class StepPlan:
    """Steps per epoch, content-only init steps, and total steps."""

    per_epoch: int
    init: int
    total: int


def plan_steps(cfg: TrainConfig, n_photos: int, world_size: int = 1) -> StepPlan:
    """One epoch is a pass over the photos by all ranks together (or ``schedule.steps_per_epoch``)."""
    s = cfg.schedule
    per_epoch = s.steps_per_epoch or max(1, n_photos // (s.batch_size * world_size))
    init, total = s.init_epochs * per_epoch, s.epochs * per_epoch
    if s.max_steps:
        total = min(total, s.max_steps)
    return StepPlan(per_epoch, min(init, total), total)


@dataclass
class Datasets:
    """``photos``: map-style dataset of 3×S×S tensors in [-1, 1]; ``style``: items are
    ``(anime, smooth_gray | None)`` pairs (see :class:`StyleFrames`)."""

    photos: Any
    style: Any


class StyleFrames(Dataset):
    """Anime frames as augmented crops, each with its edge-smoothed grayscale copy (same crop and flip).

    Smoothed copies come from ``smooth_dir`` when given, else are computed from the crop; with
    ``with_smooth=False`` (recipes without the smoothed-anime term) nothing is smoothed.
    """

    def __init__(self, style_dir: str, smooth_dir: str | None, aug: Any, with_smooth: bool, max_images: int = 0):
        from .data import smoothed_copies

        self.aug, self.with_smooth = aug, with_smooth
        self.styles = list_images(style_dir)[: max_images or None]
        self.smooths = None
        if with_smooth and smooth_dir:
            self.smooths = smoothed_copies(self.styles, style_dir, smooth_dir, hint=" or leave data.smooth empty")

    def __len__(self) -> int:
        return len(self.styles)

    def __getitem__(self, j: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        from .data import augment, load_rgb
        from .losses import grayscale
        from .smoothing import smooth_edges

        rgb = load_rgb(self.styles[j])
        if self.smooths is not None:
            anime, smooth = augment([rgb, load_rgb(self.smooths[j])], self.aug)
        else:
            anime = augment([rgb], self.aug)[0]
            smooth = uint8_to_tensor(smooth_edges(tensor_to_uint8(anime))) if self.with_smooth else None
        return anime, (grayscale(smooth[None])[0] if smooth is not None else None)


def build_datasets(cfg: TrainConfig) -> Datasets:
    """The photo and style datasets a config names (folders searched recursively)."""
    from torch.utils.data import Subset

    from .data import Augment, ImageFolderDataset

    d = cfg.data
    aug = Augment(size=d.crop_size, flip=d.flip, jitter=d.jitter)
    photos: Any = ImageFolderDataset(d.photos, aug)
    if d.max_images:
        photos = Subset(photos, range(min(d.max_images, len(photos))))
    with_smooth = d.use_smooth and cfg.loss.d_smooth > 0
    style = StyleFrames(d.style, d.smooth or None, Augment(size=d.crop_size, flip=d.flip), with_smooth,
                        d.max_images)
    return Datasets(photos, style)


def _seeded(fn: Any, seed: int) -> Any:
    """Call ``fn()`` with python, numpy and torch RNGs seeded by ``seed``; restore them afterwards."""
    py, npy = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            random.seed(seed)
            np.random.seed(seed % 2**32)
            return fn()
    finally:
        random.setstate(py)
        np.random.set_state(npy)


class _Stream:
    """Seeded epoch permutations of ``n`` items, sharded over ranks: position → item index."""

    def __init__(self, n: int, seed: int, rank: int, world: int):
        self.n, self.seed, self.rank, self.world = n, seed, rank, world
        self.per_rank = -(-n // world)  # ceil: DistributedSampler pads by wrapping around
        self._cache: dict[int, list[int]] = {}

    def _epoch(self, epoch: int) -> list[int]:
        if epoch not in self._cache:
            g = torch.Generator().manual_seed(self.seed + epoch)
            perm = torch.randperm(self.n, generator=g).tolist()
            perm += perm[: self.per_rank * self.world - self.n]
            self._cache = {epoch: perm[self.rank::self.world]}
        return self._cache[epoch]

    def __call__(self, position: int) -> int:
        epoch, pos = divmod(position, self.per_rank)
        return self._epoch(epoch)[pos]


class StepBatches(Dataset):
    """Item ``i`` is the whole batch of step ``start + i`` for this rank (use with ``batch_size=None``)."""

    def __init__(self, data: Datasets, plan: StepPlan, cfg: TrainConfig, dist: DistInfo, start: int = 0):
        self.data, self.plan, self.start = data, plan, start
        self.batch, self.seed = cfg.schedule.batch_size, cfg.run.seed
        self.photo_stream = _Stream(len(data.photos), self.seed, dist.rank, dist.world_size)
        self.style_stream = _Stream(len(data.style), self.seed + 7919, dist.rank, dist.world_size)
        self.rank = dist.rank

    def __len__(self) -> int:
        return max(0, self.plan.total - self.start)

    def item_seed(self, step: int, slot: int, kind: int) -> int:
        return ((self.seed * 1_000_003 + step) * 4099 + slot * 8 + kind) * 64 + self.rank

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        step = self.start + i
        epoch, pos = divmod(step, self.plan.per_epoch)
        photos, styles, smooths = [], [], []
        for j in range(self.batch):
            # photos: epoch-aligned permutation (an epoch of steps is one pass over the photos)
            idx = self.photo_stream(epoch * self.photo_stream.per_rank + (pos * self.batch + j)
                                    % self.photo_stream.per_rank)
            photos.append(_seeded(lambda idx=idx: self.data.photos[idx], self.item_seed(step, j, 0)))
            if step >= self.plan.init:
                sidx = self.style_stream((step - self.plan.init) * self.batch + j)
                item = _seeded(lambda sidx=sidx: self.data.style[sidx], self.item_seed(step, j, 1))
                style, smooth = item
                styles.append(style)
                if smooth is not None:
                    smooths.append(smooth)
        batch = {"photo": torch.stack(photos)}
        if styles:
            batch["style"] = torch.stack(styles)
        if smooths:
            batch["smooth_gray"] = torch.stack(smooths)
        return batch


class EvalPhotos:
    """The fixed photos shown in every image grid: centre square crops resized to the crop size."""

    def __init__(self, cfg: TrainConfig):
        files = list_images(cfg.data.eval_photos or cfg.data.photos)
        size = cfg.data.crop_size
        self.images = []
        for path in files[: cfg.data.n_eval]:
            im = open_image(path).convert("RGB")
            side = min(im.size)
            left, top = (im.width - side) // 2, (im.height - side) // 2
            im = im.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BICUBIC)
            self.images.append(np.asarray(im))

    def tensor(self) -> torch.Tensor:
        """N×3×S×S in [-1, 1]."""
        return uint8_to_tensor(np.stack(self.images))
