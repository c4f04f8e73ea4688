"""Run folders: ``runs/00003-hayao/`` with the resolved config, ``stats.jsonl``, image grids, events.

Layout of a run folder::
    training_options.toml   resolved config (what ``--resume`` reads back)
    training_options.json   the same, as JSON, for tools
    stats.jsonl             one JSON row per logged step
    images/00000200.png     grid of the fixed eval photos (top) and the EMA generator's output (below)
    checkpoints/00000500.pt full-state checkpoints
    events.out.tfevents.*   TensorBoard scalars and grids (when ``tensorboard`` is installed)
    generator.safetensors   the final EMA generator
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..errors import ConfigError
from ..inference.processing import tensor_to_uint8
from ..io.atomic import atomic_path, atomic_write_bytes, sweep_stale_temps
from .config import TrainConfig, config_from_dict, to_toml

_RUN = re.compile(r"^(\d{5})-")


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")
    return slug or "run"


def new_run_dir(runs_dir: str | os.PathLike, name: str) -> Path:
    """Create the next numbered run folder ``<runs_dir>/<NNNNN>-<name>`` (numbers never reused)."""
    root = Path(runs_dir)
    root.mkdir(parents=True, exist_ok=True)
    runs = [p for p in root.iterdir() if _RUN.match(p.name)]
    for run in runs:  # a run killed in its first checkpoint write is never resumed: its temp file goes here
        for folder in (run, run / "checkpoints", run / "images"):
            sweep_stale_temps(folder)
    numbers = [int(m.group(1)) for p in runs if (m := _RUN.match(p.name))]
    number = max(numbers, default=-1) + 1
    while True:  # another process may take the same number between listing and mkdir
        path = root / f"{number:05d}-{_slug(name)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            number += 1


def save_options(run_dir: str | os.PathLike, cfg: TrainConfig) -> None:
    """Write the resolved config as TOML and JSON (atomically)."""
    run_dir = Path(run_dir)
    atomic_write_bytes(run_dir / "training_options.toml", to_toml(cfg).encode())
    atomic_write_bytes(run_dir / "training_options.json", json.dumps(cfg.to_dict(), indent=2).encode())


def load_options(run_dir: str | os.PathLike) -> TrainConfig:
    """The config a run folder was started with."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    path = Path(run_dir) / "training_options.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the run's config ({exc})") from None
    return config_from_dict(data, str(path))


class StatsLog:
    """Appends rows to ``stats.jsonl`` and, where available, TensorBoard scalars and images."""

    def __init__(self, run_dir: str | os.PathLike, tensorboard: bool = True, resume_step: int | None = None):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / "stats.jsonl"
        if resume_step is not None:
            self.truncate_after(resume_step)
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # the `train` extra is not installed: stats.jsonl only
                SummaryWriter = None
            if SummaryWriter is not None:
                self.writer = SummaryWriter(log_dir=str(self.run_dir), purge_step=resume_step)

    def truncate_after(self, step: int) -> None:
        """Drop rows logged after ``step`` (they are re-run after a resume)."""
        trim_stats(self.path, step)

    def log(self, row: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        if self.writer is not None:
            step = int(row["step"])
            for key, value in row.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.writer.add_scalar(key.replace(".", "/"), value, step)

    def image(self, tag: str, grid: np.ndarray, step: int) -> None:
        if self.writer is not None:
            self.writer.add_image(tag, grid, step, dataformats="HWC")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def trim_stats(path: str | os.PathLike, step: int) -> int:
    """Keep the rows of a ``stats.jsonl`` logged at or before ``step``; returns how many were dropped.

    A resumed run (``train`` or ``distill``) repeats the steps after its checkpoint, so rows written
    after it (before a kill) would appear twice. A torn last line (a kill in mid-append) is dropped too.
    """
    path = Path(path)
    if not path.exists():
        return 0
    text = path.read_text(encoding="utf-8", errors="replace")
    rows = [line for line in text.splitlines() if line.strip()]
    kept = []
    for line in rows:
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a row cut short by a kill
        if isinstance(row, dict) and int(row.get("step", 0)) <= step:
            kept.append(line)
    if len(kept) != len(rows) or (text and not text.endswith("\n")):  # the next append starts a new line
        atomic_write_bytes(path, "".join(line + "\n" for line in kept).encode())
    return len(rows) - len(kept)


def read_stats(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a run's ``stats.jsonl``."""
    path = Path(run_dir) / "stats.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def make_grid(rows: list[torch.Tensor], pad: int = 2) -> np.ndarray:
    """Stack N×3×H×W batches in [-1, 1] as rows of one uint8 H×W×3 image, with a white gap."""
    n, _, h, w = rows[0].shape
    out = np.full((len(rows) * (h + pad) + pad, n * (w + pad) + pad, 3), 255, dtype=np.uint8)
    for r, batch in enumerate(rows):
        imgs = tensor_to_uint8(batch)
        for c in range(n):
            y, x = pad + r * (h + pad), pad + c * (w + pad)
            out[y:y + h, x:x + w] = imgs[c]
    return out


def save_grid(path: str | os.PathLike, grid: np.ndarray) -> Path:
    """Write a grid as PNG, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(grid).save(tmp, format="PNG")
    return path
