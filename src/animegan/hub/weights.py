"""Our weights format: safetensors with metadata, and loading any supported file into a generator.

Metadata keys (all strings, as safetensors requires): ``format`` = "animegan", ``arch``,
``config`` (JSON), ``style``, ``provenance``, ``licence``, ``card`` (optional free text).
Foreign formats (published AnimeGANv2 ``.pt``, CartoonGAN ``.npy`` folders and ``.pth``) are read
by the importers in :mod:`animegan.hub.importers` and come back as the same (state dict, info) pair.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ModelError, WeightsMismatchError
from ..io.atomic import atomic_path
from ..nn import build_generator, generator_config

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
    """Read one of our weights files: (fp32 state dict, info). Clear errors for corrupt files."""
    from safetensors import SafetensorError, safe_open

    source = str(path)
    try:
        with safe_open(source, framework="pt", device="cpu") as f:
            meta = f.metadata()
            state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not iterable)
    except FileNotFoundError:
        raise ModelError(f"{source}: weights file not found") from None
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{source}: not a valid safetensors file ({_first_line(exc)})") from None
    info = ModelInfo.from_metadata(meta, source)
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    return state, info


def load_state_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> nn.Module:
    """``load_state_dict(strict=True)``, with a :class:`WeightsMismatchError` listing what differs."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shape = sorted(f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
                   for k in set(own) & set(state) if tuple(state[k].shape) != tuple(own[k].shape))
    if missing or unexpected or shape:
        raise WeightsMismatchError(source, missing, unexpected, shape)
    model.load_state_dict(state, strict=True)
    return model


def load_generator_file(path: str | os.PathLike, arch: str | None = None) -> tuple[nn.Module, ModelInfo]:
    """Build the generator a weights file describes and load it (eval mode, fp32, CPU).

    Our ``.safetensors`` files carry their architecture; foreign files (``.pt``, ``.pth``, a folder
    of ``.npy``) go through :func:`animegan.hub.importers.import_weights` and need ``arch`` where
    it cannot be guessed from the keys.
    """
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: weights file not found")
    state, info = read_any_weights(path, arch)
    model = build_generator(info.arch, info.config)
    load_state_strict(model, state, str(path))
    model.eval()
    return model, info


def read_any_weights(path: Path, arch: str | None = None) -> tuple[dict[str, torch.Tensor], ModelInfo]:
    """(state dict, info) from our safetensors or a foreign file; ``arch``, when given, must match."""
    if path.suffix == ".safetensors":
        state, info = read_safetensors(path)
    else:
        from .importers import import_weights

        state, info = import_weights(path, arch=arch)
    if arch is not None and info.arch != arch:
        raise ModelError(f"{path}: holds a {info.arch!r} generator, not {arch!r}")
    return state, info


def info_for(model: nn.Module, **fields: str) -> ModelInfo:
    """A :class:`ModelInfo` for a generator built by :func:`animegan.nn.build_generator`."""
    return ModelInfo(arch=model.arch, config=generator_config(model), **fields)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
