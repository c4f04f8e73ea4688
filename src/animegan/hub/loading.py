"""Any weights file to a checked generator: our safetensors format read directly, everything else
(published ``.pt``/``.pth`` checkpoints, ``.npy`` folders, other safetensors) through
:mod:`.importers`. Either way the shapes, config and values are checked before a network is built."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..errors import ModelError
from ..nn import build_generator
from .importers import import_weights
from .weights import (
    FORMAT_TAG,
    ModelInfo,
    check_finite,
    check_shapes,
    load_state_strict,
    read_safetensors,
    safetensors_metadata,
)


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
    """(state dict, info) from our safetensors or a foreign file; ``arch``, when given, must match.

    A ``.safetensors`` file with our metadata is read as ours; any other (a foreign safetensors
    file, ``.pt``, ``.pth``, a folder of ``.npy``) goes to the importers. Either way the result has
    been checked: a config in range, tensor shapes exactly those of the network it describes
    (checked before that network is built, so a crafted file cannot allocate more than it holds),
    and finite values.
    """
    path = Path(path)
    if path.suffix == ".safetensors" and path.is_file() \
            and safetensors_metadata(path).get("format") == FORMAT_TAG:
        state, info = read_safetensors(path)
    else:
        state, info = import_weights(path, arch=arch)
        check_shapes(info.arch, info.config, {k: tuple(v.shape) for k, v in state.items()}, str(path))
        check_finite(state, str(path))
    if arch is not None and info.arch != arch:
        raise ModelError(f"{path}: holds a {info.arch!r} generator, not {arch!r}")
    return state, info
