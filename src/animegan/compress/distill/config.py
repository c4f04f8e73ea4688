"""The distillation config: one flat TOML table, read and type-checked by the trainer's config machinery.

Shipped configs are ``animegan/configs/distill-*.toml`` (:func:`animegan.resources.presets_dir`); a run
folder keeps the resolved config as ``config.toml`` (and ``config.json`` for tools), and every checkpoint
holds it too, so a resumed run can refuse a config that would not continue the same training.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from ...errors import ConfigError
from ...training.config import (
    DISTILL_PREFIX,
    PRESET_DIR,
    check_fields,
    distill_presets,
    read_toml,
    table_toml,
    training_presets,
)

#: training precisions: fp32, or CPU bf16 autocast (weights stay fp32); not the inference policy of
#: :mod:`animegan.device`, which also knows ``auto`` and CUDA's fp16
PRECISIONS = ("fp32", "bf16")
#: keys a resumed run may change: how long and how it runs, and paths that may have moved; every other
#: key changes what the steps compute, so a checkpoint made under another value is refused
RESUMABLE = frozenset({"steps", "time_limit_min", "checkpoint_every", "keep_checkpoints", "log_every",
                       "threads", "run_dir", "cache_dir", "teacher", "perceptual_net", "student_init"})


def check_precision(value: str, label: str = "precision") -> str:
    """``value`` if it is a training precision, else one clear :class:`ConfigError`."""
    if value not in PRECISIONS:
        raise ConfigError(f"{label} {value!r}: choose {' or '.join(PRECISIONS)}", params=("precision",))
    return value


@dataclass
class DistillConfig:
    """Everything a distillation run depends on (``animegan distill CONFIG``)."""

    teacher: str = ""                       # zoo name (``shinkai``), weights file, or folder of CartoonGAN .npy
    teacher_arch: str | None = None         # for foreign files whose arch cannot be guessed
    photos: list[str] = field(default_factory=list)
    run_dir: str = "runs/distill"
    cache_dir: str = ""                     # default: <run_dir>/teacher-cache
    style: str = ""
    student_arch: str = "animeganv2"
    student_config: dict[str, Any] = field(default_factory=dict)
    student_init: str = "random"            # "random", "teacher" (copy tensors whose key and shape fit),
    #                                         "teacher-slice" (a CartoonGAN student cut out of a CartoonGAN
    #                                         teacher, most important channels kept), or a weights path
    crop_size: int = 128                    # teacher runs (and caches) at this size
    train_crop: int = 0                     # random sub-crop of cached pairs per step (0: whole crop)
    n_crops: int = 400
    long_side_range: tuple[int, int] = (320, 480)  # photo resized to this long side before cropping
    seed: int = 0
    steps: int = 1000
    batch_size: int = 4
    lr: float = 2e-4
    ema_decay: float = 0.999
    w_l1: float = 1.0                       # L1 to the teacher, RGB
    w_l1_luma: float = 0.0                  # L1 to the teacher on Y only (texture without its colour cast)
    w_perceptual: float = 1.0
    perceptual_net: str = ""                # CartoonGAN weights for features; default: the teacher if CartoonGAN
    perceptual_res_blocks: int = 2
    w_color: float = 0.0                    # AnimeGANv2 YUV colour loss to the input photo
    w_chroma: float = 0.0                   # L1 on U, V to the input photo (colour without touching luma)
    w_adv: float = 0.0                      # LSGAN loss against style_images (animegan.nn discriminator)
    style_images: str = ""                  # folder of style images for the adversarial loss
    discriminator: str = "patchgan"
    discriminator_config: dict[str, Any] = field(default_factory=dict)
    freeze: list[str] = field(default_factory=list)  # student parameter-name prefixes kept fixed
    time_limit_min: float = 0.0             # stop (and write the student) after this many minutes; 0: none
    checkpoint_every: int = 100
    keep_checkpoints: int = 2               # newest checkpoints kept in <run_dir>/checkpoints (0: all)
    log_every: int = 10
    threads: int = 2
    precision: str = "fp32"                 # "bf16": student, losses and backward under CPU bf16 autocast
    #                                         (about 2x faster per step on CPUs with AMX; weights stay fp32)

    def __post_init__(self) -> None:
        self.long_side_range = (int(self.long_side_range[0]), int(self.long_side_range[1]))
        check_precision(self.precision)
        lo, hi = self.long_side_range
        checks = [
            (self.crop_size >= 16, "crop_size must be >= 16"),
            (0 <= self.train_crop <= self.crop_size, "train_crop must be 0..crop_size"),
            (self.n_crops >= 1 and self.batch_size >= 1, "n_crops and batch_size must be >= 1"),
            (self.steps >= 0 and self.threads >= 1, "steps must be >= 0 and threads >= 1"),
            (1 <= lo <= hi, "long_side_range must be [lo, hi] with 1 <= lo <= hi"),
            (self.lr > 0 and 0.0 <= self.ema_decay < 1.0, "lr must be > 0 and ema_decay in [0, 1)"),
            (min(self.w_l1, self.w_l1_luma, self.w_perceptual, self.w_color, self.w_chroma, self.w_adv) >= 0,
             "loss weights (w_*) must be >= 0"),
            (self.checkpoint_every >= 1 and self.log_every >= 1 and self.keep_checkpoints >= 0,
             "checkpoint_every and log_every must be >= 1, keep_checkpoints >= 0"),
            (self.time_limit_min >= 0 and self.perceptual_res_blocks >= 0,
             "time_limit_min and perceptual_res_blocks must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> DistillConfig:
        """Read a config file; ``overrides`` (not None) win over the file. Every key and type is checked."""
        path = Path(path)
        data = read_toml(path)
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> DistillConfig:
        """A config from a parsed TOML table: unknown keys, wrong types and bad values name ``source``."""
        values = check_fields(cls, data, source)
        try:
            return cls(**values)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}", params=exc.params) from None

    def to_toml(self) -> str:
        return table_toml({k: v for k, v in dataclasses.asdict(self).items() if v is not None})

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)


def config_from_toml_text(text: str, source: str) -> DistillConfig:
    """The config a checkpoint stored (:meth:`DistillConfig.to_toml`), checked like a file."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: stored config is not valid TOML ({exc})") from None
    return DistillConfig.from_dict(data, source)


def check_resumable(saved: DistillConfig, cfg: DistillConfig, source: str) -> None:
    """ConfigError naming the first key (outside :data:`RESUMABLE`) whose value differs from the run's."""
    now = dataclasses.asdict(cfg)
    for key, value in dataclasses.asdict(saved).items():
        if key not in RESUMABLE and now[key] != value:
            raise ConfigError(f"{source}: the run was started with {key} = {value!r}, not {now[key]!r}; "
                              f"use the same value, or another run_dir for a new run")


def find_distill_config(name_or_path: str) -> Path:
    """A distillation TOML: an existing file, or a shipped config by name (``distill-shinkai`` or ``shinkai``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    for stem in (name_or_path, DISTILL_PREFIX + name_or_path):
        candidate = PRESET_DIR / f"{stem}.toml"
        if stem.startswith(DISTILL_PREFIX) and candidate.is_file():
            return candidate
    shipped = ", ".join(distill_presets()) or "none"
    if name_or_path in training_presets():
        raise ConfigError(f"{name_or_path}: a training preset, not a distillation config; run it with "
                          f"`animegan train {name_or_path}` (distillation configs: {shipped})")
    raise ConfigError(f"{name_or_path}: no such distillation config file or shipped config (shipped: {shipped})")


def missing_inputs(cfg: DistillConfig) -> list[str]:
    """What a run still needs: unset photos or teacher, one line each (empty when ready)."""
    needs = []
    if not cfg.photos:
        needs.append("photos is not set: name a folder of photos with --photos DIR")
    if not cfg.teacher:
        needs.append("teacher is not set: name the teacher (zoo name, weights file or .npy folder) with "
                     "--teacher NAME")
    return needs
