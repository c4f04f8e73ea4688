"""Training configuration: nested dataclasses, loaded from TOML presets with ``--set`` overrides.

One source of truth: the resolved config is saved in every run folder and printed by ``--dry-run``.
The dataclass defaults are the official AnimeGANv2 recipe (REFERENCE.md §3) with Hayao's weights;
``animegan/configs/*.toml`` name the presets. A preset may start with ``extends = "hayao"`` (a preset name or a
path relative to the file) and then only list what differs. Unknown keys and wrong types stop with a
:class:`ConfigError` naming the key and the file.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from ..errors import ConfigError
from ..resources import presets_dir

#: where the shipped presets live (package data: ``animegan/configs``)
PRESET_DIR = presets_dir()
#: shipped presets whose name starts with this are distillation configs (``animegan distill``)
DISTILL_PREFIX = "distill-"


@dataclass
class DataConfig:
    """Image folders and augmentation."""

    #: folder of photos (searched recursively); required to train: ``--set data.photos=DIR``
    photos: str = ""
    #: folder of anime style frames (searched recursively); required to train: ``--set data.style=DIR``
    style: str = ""
    #: edge-smoothed copies of the style frames with the same relative names (``animegan data smooth``);
    #: empty: smoothed on the fly from each crop
    smooth: str = ""
    #: use the smoothed-anime term at all
    use_smooth: bool = True
    #: folder of fixed photos shown in the image grids; empty: the first photos of ``photos``
    eval_photos: str = ""
    n_eval: int = 4
    crop_size: int = 256
    flip: bool = True
    #: brightness/contrast jitter (±fraction); the seed article uses 0.1
    jitter: float = 0.0
    #: 0 = all images; else the first N of each folder (sorted), for smoke runs
    max_images: int = 0
    workers: int = 0


@dataclass
class ModelConfig:
    """Networks."""

    generator: str = "animeganv2"
    generator_config: dict[str, Any] = field(default_factory=dict)
    discriminator: str = "patchgan"
    discriminator_config: dict[str, Any] = field(default_factory=dict)
    #: perceptual network weights (nn/vgg.py): a converted caffe ``.safetensors`` or torchvision ``.pth``
    #: path, ``torchvision`` (torch hub cache), ``random`` or ``teacher-encoder``; a missing file stops the run
    vgg_weights: str = "vgg19-caffe.safetensors"
    #: layer name: ``conv4_4`` is before its ReLU (official), ``relu4_1`` after it (seed article)
    vgg_layer: str = "conv4_4"
    vgg_normalization: Literal["auto", "imagenet", "caffe"] = "caffe"
    #: CartoonGAN ``.npy`` folder for ``vgg_weights = "teacher-encoder"``, and its residual blocks used
    teacher: str = ""
    teacher_n_res: int = 4


@dataclass
class LossConfig:
    """Loss kinds and weights."""

    adversarial: Literal["lsgan", "hinge"] = "lsgan"
    content: float = 1.5
    style: float = 2.5
    color: float = 15.0
    tv: float = 1.0
    #: G adversarial weight and D loss scale (official 300)
    adv_g: float = 300.0
    adv_d: float = 300.0
    d_real: float = 1.2
    d_fake: float = 1.2
    d_gray: float = 1.2
    d_smooth: float = 0.8
    #: Gram of the grayscale anime image (official) or of the colour image (seed)
    style_gray: bool = True


@dataclass
class OptimConfig:
    """Optimisers and the tricks that keep a GAN stable."""

    g_lr: float = 2e-5
    d_lr: float = 4e-5
    init_lr: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    lr_schedule: Literal["constant", "cosine"] = "constant"
    #: D steps per G step
    d_steps: int = 1
    #: 0 = no clipping; else max global norm for G and D
    grad_clip: float = 0.0
    #: freeze D for ``d_freeze_steps`` G steps when its loss falls below this (0 = never)
    d_freeze_below: float = 0.0
    d_freeze_steps: int = 0
    ema_decay: float = 0.999


@dataclass
class ScheduleConfig:
    """How long."""

    batch_size: int = 12
    epochs: int = 101
    #: content-only epochs at ``init_lr`` before adversarial training
    init_epochs: int = 10
    #: 0 = one pass over the photos; else this many steps make an epoch
    steps_per_epoch: int = 0
    #: 0 = run all epochs; else stop after this many steps in total (init steps included)
    max_steps: int = 0


@dataclass
class RunConfig:
    """Run folder, logging, device."""

    name: str = "hayao"
    style: str = "hayao"
    runs_dir: str = "runs"
    seed: int = 0
    device: str = "auto"
    #: mixed precision (CUDA only; ignored on CPU)
    amp: bool = True
    threads: int = 2
    log_every: int = 10
    image_every: int = 200
    checkpoint_every: int = 500
    #: checkpoints kept in the run folder (0 = all)
    keep_checkpoints: int = 3
    tensorboard: bool = True


@dataclass
class TrainConfig:
    """The whole training configuration."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


SECTIONS = {f.name: f.type for f in dataclasses.fields(TrainConfig)}


def _section_classes() -> dict[str, type]:
    hints = typing.get_type_hints(TrainConfig)
    return {name: hints[name] for name in SECTIONS}


def _check_value(value: Any, hint: Any, key: str, source: str) -> Any:
    """``value`` converted to ``hint`` where lossless (int -> float, list -> tuple), else ConfigError."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)

    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{source}: {key} must be {expected}, got {value!r}")

    if hint is Any:
        return value
    if origin is Literal:
        if value not in args:
            raise bad("one of " + ", ".join(repr(a) for a in args))
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            try:
                return _check_value(value, arg, key, source)
            except ConfigError:
                pass
        raise bad(" or ".join(getattr(a, "__name__", str(a)) for a in args))
    if hint is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise bad("a list")
        return [_check_value(v, args[0], f"{key}[{i}]", source) for i, v in enumerate(value)]
    if origin is tuple:  # fixed length, e.g. tuple[int, int]
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise bad(f"a list of {len(args)}")
        pairs = enumerate(zip(value, args, strict=True))
        return tuple(_check_value(v, arg, f"{key}[{i}]", source) for i, (v, arg) in pairs)
    if origin is dict:
        if not isinstance(value, dict):
            raise bad("a table")
        return dict(value)
    raise ConfigError(f"{source}: {key}: unsupported type {hint}")  # pragma: no cover - a bug here


def _merge(base: dict[str, dict[str, Any]], data: dict[str, Any], source: str) -> None:
    """Merge a parsed TOML document into ``base``, checking every key and type."""
    classes = _section_classes()
    for section, values in data.items():
        if section not in classes:
            raise ConfigError(f"{source}: unknown section [{section}] (known: {', '.join(classes)})")
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: {section} must be a table")
        base[section].update(check_fields(classes[section], values, source, prefix=f"{section}."))


def check_fields(cls: type, values: dict[str, Any], source: str, prefix: str = "") -> dict[str, Any]:
    """``values`` for the dataclass ``cls``: every key one of its fields, every value of that field's type
    (converted where lossless); else a :class:`ConfigError` naming ``source`` and the key."""
    hints = typing.get_type_hints(cls)
    checked = {}
    for key, value in values.items():
        if key not in hints:
            raise ConfigError(f"{source}: unknown key {prefix}{key} (known: {', '.join(sorted(hints))})")
        checked[key] = _check_value(value, hints[key], f"{prefix}{key}", source)
    return checked


def find_preset(name_or_path: str | Path) -> Path:
    """A config file: an existing path, or a preset name from ``configs/`` (``hayao`` → hayao.toml)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    candidate = PRESET_DIR / f"{name_or_path}.toml"
    if candidate.is_file():
        if candidate.stem.startswith(DISTILL_PREFIX):
            raise ConfigError(_distill_hint(str(name_or_path)))
        return candidate
    known = training_presets()
    raise ConfigError(f"{name_or_path}: no such config file or preset (presets: {', '.join(known) or 'none'})")


def _distill_hint(name: str) -> str:
    return (f"{name}: a distillation config, not a training preset; run it with "
            f"`animegan distill {name}` (training presets: {', '.join(training_presets()) or 'none'})")


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def _load_layers(path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[dict[str, Any], str]]:
    """The chain of documents from the root preset to ``path`` (``extends`` followed)."""
    if path.resolve() in seen:
        raise ConfigError(f"{path}: 'extends' loops back to itself")
    data = read_toml(path)
    if is_distill_config(data):
        raise ConfigError(_distill_hint(str(path)))
    parent = data.pop("extends", None)
    layers: list[tuple[dict[str, Any], str]] = []
    if parent is not None:
        if not isinstance(parent, str):
            raise ConfigError(f"{path}: extends must be a preset name or a path")
        local = path.parent / parent
        parent_path = local if local.is_file() else find_preset(parent)
        layers = _load_layers(parent_path, (*seen, path.resolve()))
    return [*layers, (data, str(path))]


def parse_override(text: str) -> tuple[str, str, Any]:
    """``section.key=value`` → (section, key, value); the value is read as TOML, else as a string."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise ConfigError(f"--set {text}: expected section.key=value (e.g. loss.style=2.0)")
    dotted, raw = text.split("=", 1)
    section, key = dotted.strip().split(".", 1)
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # bare words: paths, names
    return section, key, value


def load_config(name_or_path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Defaults, then the preset chain, then ``--set`` overrides; every key and type checked."""
    base = {name: dataclasses.asdict(cls()) for name, cls in _section_classes().items()}
    where = "defaults"
    if name_or_path is not None:
        where = str(find_preset(name_or_path))
        for data, source in _load_layers(Path(where)):
            _merge(base, data, source)
    for text in overrides or []:
        section, key, value = parse_override(text)
        _merge(base, {section: {key: value}}, f"--set {text}")
    return config_from_dict(base, where + (" with --set overrides" if overrides else ""))


def config_from_dict(data: dict[str, Any], source: str = "config") -> TrainConfig:
    """A :class:`TrainConfig` from nested dicts (as saved in a run folder), checked like a file."""
    base = {name: dataclasses.asdict(cls()) for name, cls in _section_classes().items()}
    _merge(base, data, source)
    cfg = TrainConfig(**{name: cls(**base[name]) for name, cls in _section_classes().items()})
    validate(cfg, source)
    return cfg


def validate(cfg: TrainConfig, source: str = "config") -> None:
    """Checks across fields that types alone cannot express."""
    checks = [
        (cfg.schedule.batch_size >= 1, "schedule.batch_size must be >= 1"),
        (cfg.schedule.epochs >= 1, "schedule.epochs must be >= 1"),
        (0 <= cfg.schedule.init_epochs <= cfg.schedule.epochs, "schedule.init_epochs must be 0..epochs"),
        (cfg.data.crop_size >= 16, "data.crop_size must be >= 16"),
        (cfg.optim.d_steps >= 1, "optim.d_steps must be >= 1"),
        (len(cfg.optim.betas) == 2, "optim.betas must hold two numbers"),
        (0.0 <= cfg.optim.ema_decay < 1.0, "optim.ema_decay must be in [0, 1)"),
        (cfg.run.log_every >= 1 and cfg.run.image_every >= 0 and cfg.run.checkpoint_every >= 0,
         "run.log_every must be >= 1; image_every and checkpoint_every >= 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"{source}: {message}")


def missing_data(cfg: TrainConfig) -> list[str]:
    """What a run still needs before it can start: one line per unset data folder (empty when ready)."""
    needs = []
    if not cfg.data.photos:
        needs.append("data.photos is not set: name a folder of photos with --set data.photos=DIR")
    if not cfg.data.style:
        needs.append("data.style is not set: name a folder of anime style images with --set data.style=DIR")
    return needs


def require_data(cfg: TrainConfig, source: str = "config") -> None:
    """ConfigError naming the first unset data folder (``data.photos``, ``data.style``)."""
    needs = missing_data(cfg)
    if needs:
        raise ConfigError(f"{source}: {needs[0]}")


def training_presets() -> list[str]:
    """Names of the shipped training presets (``animegan train NAME``), distillation configs left out."""
    if not PRESET_DIR.is_dir():
        return []
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml") if not p.stem.startswith(DISTILL_PREFIX))


def distill_presets() -> list[str]:
    """Names of the shipped distillation configs (``animegan distill NAME``)."""
    if not PRESET_DIR.is_dir():
        return []
    return sorted(p.stem for p in PRESET_DIR.glob(f"{DISTILL_PREFIX}*.toml"))


def is_distill_config(data: dict[str, Any]) -> bool:
    """True for a parsed TOML that is a distillation config (top-level keys such as ``teacher``)."""
    return any(not isinstance(v, dict) for k, v in data.items() if k != "extends") and (
        "teacher" in data or "student_arch" in data)


def diff_from_defaults(cfg: TrainConfig) -> dict[str, dict[str, Any]]:
    """The values that differ from the dataclass defaults, by section."""
    default = TrainConfig().to_dict()
    out: dict[str, dict[str, Any]] = {}
    for section, values in cfg.to_dict().items():
        changed = {k: v for k, v in values.items() if default[section][k] != v}
        if changed:
            out[section] = changed
    return out


def to_toml(cfg: TrainConfig) -> str:
    """The resolved config as TOML text (saved beside each run as ``training_options.toml``)."""
    lines: list[str] = []
    for section, values in cfg.to_dict().items():
        lines.append(f"[{section}]")
        nested = []
        for key, value in values.items():
            if isinstance(value, dict):
                nested.append((key, value))
            else:
                lines.append(f"{key} = {_toml_value(value)}")
        for key, value in nested:
            inner = ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items())
            lines.append(f"{key} = {{ {inner} }}" if inner else f"{key} = {{}}")
        lines.append("")
    return "\n".join(lines)


def table_toml(values: dict[str, Any]) -> str:
    """A flat table (``key = value`` lines) as TOML text, e.g. a distillation config."""
    return "".join(f"{key} = {_toml_value(value)}\n" for key, value in values.items())


def _toml_value(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value))  # TOML basic strings share JSON's escapes
