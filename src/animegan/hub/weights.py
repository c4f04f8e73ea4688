"""Our weights format: safetensors with metadata, and loading any supported file into a generator.

Metadata keys (all strings, as safetensors requires): ``format`` = "animegan", ``arch``,
``config`` (JSON), ``style``, ``provenance``, ``licence``, ``card`` (optional free text).
Foreign formats (published AnimeGANv2 ``.pt``, CartoonGAN ``.npy`` folders and ``.pth``) are read
by the importers in :mod:`animegan.hub.importers` and come back as the same (state dict, info) pair.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ModelError, WeightsMismatchError
from ..io.atomic import atomic_path
from ..nn import GENERATORS, build_generator, generator_classes, generator_config

FORMAT_TAG = "animegan"


@dataclass
class ModelInfo:
    """What a weights file says about itself."""

    arch: str
    config: dict[str, Any] = field(default_factory=dict)
    style: str = ""
    provenance: str = ""
    licence: str = ""
    card: str = ""

    def to_metadata(self) -> dict[str, str]:
        return {"format": FORMAT_TAG, "arch": self.arch, "config": json.dumps(self.config, sort_keys=True),
                "style": self.style, "provenance": self.provenance, "licence": self.licence, "card": self.card}

    @classmethod
    def from_metadata(cls, meta: dict[str, str] | None, source: str) -> ModelInfo:
        meta = meta or {}
        if meta.get("format") != FORMAT_TAG or "arch" not in meta:
            raise ModelError(f"{source}: safetensors file has no animegan metadata (arch, config); "
                             "import foreign weights with `animegan models import PATH --name NAME --arch ARCH`")
        try:
            config = json.loads(meta.get("config") or "{}")
        except json.JSONDecodeError as exc:
            raise ModelError(f"{source}: metadata 'config' is not valid JSON ({exc})") from None
        return cls(arch=meta["arch"], config=config, style=meta.get("style", ""),
                   provenance=meta.get("provenance", ""), licence=meta.get("licence", ""), card=meta.get("card", ""))


def save_weights(path: str | os.PathLike, model: nn.Module | dict[str, torch.Tensor], info: ModelInfo,
                 dtype: torch.dtype | None = None) -> Path:
    """Write ``model`` (or a state dict) as safetensors with ``info`` as metadata, atomically.

    ``dtype=torch.float16`` halves the file for shipping; floats are cast back to fp32 on load.
    """
    from safetensors.torch import save_file

    state = model.state_dict() if isinstance(model, nn.Module) else model
    tensors = {}
    for key, value in state.items():
        value = value.detach().cpu()
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        tensors[key] = value.contiguous()
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=info.to_metadata())
    return path


def read_safetensors(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], ModelInfo]:
    """Read one of our weights files: (fp32 state dict, info). Clear errors for corrupt files.

    The header (metadata and tensor shapes) is checked against the architecture it names before
    any tensor is read: a crafted config or shape cannot make this allocate more than the file
    holds. Non-finite values are refused.
    """
    source = str(path)
    with open_safetensors(source) as f:
        meta = f.metadata()
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
        info = ModelInfo.from_metadata(meta, source)
        check_shapes(info.arch, info.config, shapes, source)
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not iterable)
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    check_finite(state, source)
    return state, info


def safetensors_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of a safetensors file, read from its header alone (no tensor is loaded)."""
    with open_safetensors(path) as f:
        return dict(f.metadata() or {})


@contextlib.contextmanager
def open_safetensors(path: str | os.PathLike) -> Iterator[Any]:
    """A safetensors handle on the CPU; a missing or unreadable file is one :class:`ModelError` naming it."""
    from safetensors import SafetensorError, safe_open

    source = str(path)
    try:
        with safe_open(source, framework="pt", device="cpu") as f:
            yield f
    except FileNotFoundError:
        raise ModelError(f"{source}: weights file not found") from None
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{source}: not a valid safetensors file ({first_line(exc)})") from None


# -- checks on what a file claims, before anything is allocated from it --------------------------

#: allowed range of each integer config value, per architecture (a list value: of each element).
#: Generous (several times the largest network shipped or trained here) but finite, so that a
#: crafted file cannot ask for a network of gigabytes; the tensor-shape check below does the rest.
CONFIG_LIMITS: dict[str, dict[str, tuple[int, int]]] = {
    "cartoongan": {"base_channels": (1, 1024), "n_res_blocks": (1, 8)},
    "resnet_sam": {"width": (1, 1024), "n_res_blocks": (1, 64), "n_down": (1, 6), "sam_kernel": (1, 31)},
    "animeganv2_slim": {"widths": (1, 2048), "hidden": (1, 4096)},
}
#: the range of an integer config value that the table above does not name
DEFAULT_INT_LIMIT = (0, 4096)


#: what a config field's annotation asks of a value read from a file, and how to say it
_FIELD_KINDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "int": ("an integer", lambda v: _is_int(v)),
    "bool": ("true or false", lambda v: isinstance(v, bool)),
    "list[int]": ("a list of integers", lambda v: isinstance(v, list) and all(_is_int(i) for i in v)),
}


def check_config(arch: str, config: Any, source: str) -> None:
    """Refuse a config whose values are of the wrong type or out of range; one line naming the value.

    Types come from the architecture's config dataclass (``int``, ``bool``, ``list[int]`` fields);
    keys it does not have are left for :func:`animegan.nn.build_generator` to name.
    """
    if arch not in GENERATORS:
        raise ModelError(f"{source}: unknown architecture {arch!r} (known: {', '.join(sorted(GENERATORS))})")
    if not isinstance(config, dict):
        raise ModelError(f"{source}: config is a {type(config).__name__}, not an object")
    annotations = {f.name: f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
                   for f in dataclasses.fields(generator_classes(arch)[1])}
    limits = CONFIG_LIMITS.get(arch, {})
    for key, value in config.items():
        kind, accepts = _FIELD_KINDS.get(str(annotations.get(key)), ("", lambda _v: True))
        if not accepts(value):
            raise ModelError(f"{source}: config {key}={json.dumps(value)} is not {kind}")
        low, high = limits.get(key, DEFAULT_INT_LIMIT)
        for item in value if isinstance(value, list) else [value]:
            if _is_int(item) and not low <= item <= high:
                raise ModelError(f"{source}: config {key}={json.dumps(value)} out of range ({low}..{high} "
                                 f"for {arch!r}); the file is damaged or not an animegan model")


def expected_shapes(arch: str, config: dict[str, Any], source: str) -> dict[str, tuple[int, ...]]:
    """The state-dict shapes of ``build_generator(arch, config)``, from a network on the meta device.

    Nothing is allocated: the meta device records shapes only. ``config`` is range-checked first.
    """
    check_config(arch, config, source)
    try:
        with torch.device("meta"):
            model = build_generator(arch, config)
    except ModelError as exc:
        raise ModelError(f"{source}: {exc}") from None
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def check_shapes(arch: str, config: dict[str, Any], shapes: dict[str, tuple[int, ...]], source: str) -> None:
    """:class:`WeightsMismatchError` unless ``shapes`` are exactly those of the network ``config`` builds.

    Called with the shapes of a file's header before its tensors are read, and before the real
    network is built: when they match, building and loading cost what the file holds, no more.
    """
    _raise_on_mismatch(expected_shapes(arch, config, source), shapes, source)


def check_finite(state: dict[str, torch.Tensor], source: str) -> None:
    """Refuse weights holding NaN or infinity (they give black or garbage images)."""
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise ModelError(f"{source}: weights hold NaN or infinite values (in {', '.join(bad[:3])}{more}); "
                         "the file is damaged or comes from a diverged training run")


def _raise_on_mismatch(own: dict[str, tuple[int, ...]], state: dict[str, tuple[int, ...]], source: str) -> None:
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shape = sorted(f"{k} {tuple(state[k])} vs {tuple(own[k])}"
                   for k in set(own) & set(state) if tuple(state[k]) != tuple(own[k]))
    if missing or unexpected or shape:
        raise WeightsMismatchError(source, missing, unexpected, shape)


def load_state_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> nn.Module:
    """``load_state_dict(strict=True)``, with a :class:`WeightsMismatchError` listing what differs."""
    _raise_on_mismatch({k: tuple(v.shape) for k, v in model.state_dict().items()},
                       {k: tuple(v.shape) for k, v in state.items()}, source)
    model.load_state_dict(state, strict=True)
    return model


def info_for(model: nn.Module, **fields: str) -> ModelInfo:
    """A :class:`ModelInfo` for a generator built by :func:`animegan.nn.build_generator`."""
    return ModelInfo(arch=model.arch, config=generator_config(model), **fields)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when empty), for one-line errors."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
