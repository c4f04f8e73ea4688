"""Importers of foreign weights: published AnimeGANv2 ``.pt``, CartoonGAN ``.npy`` folders and ``.pth``.

Every importer returns the same pair as our own format, ``(fp32 state dict, ModelInfo)``; the
caller builds the generator with ``build_generator(info.arch, info.config)`` and loads the state
with :func:`animegan.hub.weights.load_state_strict`, which reports keys that do not fit.

Accepted inputs:

- ``.pt`` / ``.pth`` / ``.ckpt`` / ``.bin``: read only with ``torch.load(weights_only=True)``. A
  plain state dict, ``{"state_dict": ...}``, or a training checkpoint holding the generator under
  ``g_ema`` / ``ema`` / ``generator`` / ``student`` / ... (with ``arch`` and ``config`` if it saved them).
  Pickles that need anything but tensors and plain containers are refused, never executed.
- A folder of ``.npy`` files whose stems are the keys (the CartoonGAN teachers' layout).
- ``.safetensors``: ours (metadata kept) or foreign (keys only).

The architecture comes from ``arch=``, the checkpoint, or the key names; its config (widths,
block counts) is read off the tensor shapes.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelError
from ..nn import GENERATORS
from .catalogue import Catalogue, ZooEntry, shipped_catalogue
from .download import git_blob_sha1, sha256_file
from .weights import (
    FORMAT_TAG,
    ModelInfo,
    first_line,
    open_safetensors,
    read_safetensors,
    safetensors_metadata,
)

__all__ = ["ANIMEGANV2_LICENCE", "CARTOONGAN_LICENCE", "detect_arch", "git_blob_sha1", "import_weights",
           "infer_config", "sha256_file"]

TORCH_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")

ANIMEGANV2_LICENCE = ("non-commercial: the weights derive from the non-commercial AnimeGANv2 release "
                      "(PyTorch port bryandlee/animegan2-pytorch, code MIT)")
ANIMEGANV2_UNKNOWN_LICENCE = ("unknown: AnimeGANv2-layout weights of unknown origin; if they derive from the "
                              "AnimeGANv2 release they are non-commercial")
CARTOONGAN_LICENCE = ("research use only: the CartoonGAN authors' released models "
                      "(Chen et al., CVPR 2018)")

#: a key only that architecture's state dict has, used to tell them apart
ARCH_MARKERS: dict[str, str] = {
    "animeganv2": "block_a.0.1.weight",
    "cartoongan": "conv01_1.weight",
    "resnet_sam": "down.0.1.weight",
}

#: where training checkpoints keep the generator, most wanted first (EMA weights are the ones to ship)
CHECKPOINT_GENERATOR_KEYS = ("g_ema", "ema", "generator_ema", "generator", "student", "netG", "G", "g",
                             "model", "state_dict")


def import_weights(path: str | os.PathLike, arch: str | None = None, *, catalogue: Catalogue | None = None
                   ) -> tuple[dict[str, torch.Tensor], ModelInfo]:
    """Read a foreign weights file or folder as ``(fp32 state dict, ModelInfo)``.

    ``arch`` forces the architecture; without it, it is taken from the file's own record or
    recognised by its key names. Raises :class:`ModelError` with one line naming the file and the
    problem (not found, unknown format, refused pickle, unknown architecture). A published
    AnimeGANv2 file is recognised by its git blob id in ``catalogue`` (default: the shipped one).
    """
    path = Path(path)
    source = str(path)
    if arch is not None and arch not in GENERATORS:
        raise ModelError(f"{source}: unknown architecture {arch!r} (known: {', '.join(sorted(GENERATORS))})")
    if not path.exists():
        raise ModelError(f"{source}: weights file not found")
    saved: dict[str, Any] = {}
    under: str | None = None
    if path.is_dir():
        state, kind = _read_npy_folder(path), "folder of .npy"
    elif path.suffix == ".safetensors":
        if safetensors_metadata(path).get("format") == FORMAT_TAG:  # ours: header checked before reading
            state, info = read_safetensors(path)
            if arch is not None and info.arch != arch:
                raise ModelError(f"{source}: holds a {info.arch!r} generator, not {arch!r}")
            return state, info
        state, _ = _read_safetensors_any(path)
        kind = "safetensors"
    elif path.suffix == ".npy":
        raise ModelError(f"{source}: a single .npy holds one tensor; pass the folder of .npy files instead")
    elif path.suffix in TORCH_SUFFIXES:
        state, saved, under = _unwrap_checkpoint(_torch_load(path), source)
        kind = "PyTorch state dict" + (f" under {under!r}" if under else "")
    else:
        raise ModelError(f"{source}: unknown weights format {path.suffix or '(no suffix)'!r} (expected .safetensors, "
                         f"{', '.join(TORCH_SUFFIXES)}, or a folder of .npy files)")
    state = _clean_state(state, source)
    saved_arch = saved.get("arch") if isinstance(saved.get("arch"), str) else None
    arch = arch or saved_arch or detect_arch(state, source)
    config = saved.get("config") if isinstance(saved.get("config"), dict) and saved_arch == arch else None
    if config is None:
        config = infer_config(arch, state)
    return state, _describe(path, kind, arch, config, saved, plain=under is None, catalogue=catalogue)


def detect_arch(state: dict[str, torch.Tensor], source: str = "weights") -> str:
    """The architecture whose marker key the state dict has; :class:`ModelError` if none or several."""
    found = [arch for arch, key in ARCH_MARKERS.items() if key in state]
    if len(found) == 1:
        return found[0]
    keys = sorted(state)
    shown = ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "")
    what = "matches several architectures" if found else f"has keys of no known architecture ({shown})"
    raise ModelError(f"{source}: cannot tell the architecture: it {what}; "
                     f"name it (arch= / --arch; known: {', '.join(sorted(GENERATORS))})")


def infer_config(arch: str, state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The generator config that the tensor shapes imply (defaults where the keys are absent).

    Keys that do not belong to ``arch`` are left for :func:`load_state_strict` to report.
    """
    if arch == "cartoongan" and "conv01_1.weight" in state:
        blocks = sum(1 for i in range(4, 12) if f"conv{i:02d}_1.weight" in state)
        return {"base_channels": int(state["conv01_1.weight"].shape[0]), "n_res_blocks": max(blocks, 1)}
    if arch == "resnet_sam" and "down.0.1.weight" in state:
        config: dict[str, Any] = {
            "width": int(state["down.0.1.weight"].shape[0]),
            "n_down": _count(state, "down.{}.1.weight"),
            "n_res_blocks": _count(state, "res_blocks.{}.conv1.weight"),
            "res_norm": "res_blocks.0.norm1.weight" in state,
        }
        if "res_blocks.0.sam.conv.weight" in state:
            config["sam_kernel"] = int(state["res_blocks.0.sam.conv.weight"].shape[-1])
        return config
    return {}


def _count(state: dict[str, torch.Tensor], pattern: str) -> int:
    n = 0
    while pattern.format(n) in state:
        n += 1
    return n


_LOAD_ERRORS = (pickle.UnpicklingError, RuntimeError, ValueError, KeyError, IndexError, TypeError,
                AttributeError, EOFError, OSError, UnicodeDecodeError)


def _torch_load(path: Path) -> Any:
    source = str(path)
    with path.open("rb") as f:
        head = f.read(4)
    if not head:
        raise ModelError(f"{source}: not a readable PyTorch weights file (empty file)")
    # torch.save writes a zip archive (current) or a pickle stream (legacy); anything else is foreign
    if head != b"PK\x03\x04" and head[:1] != b"\x80":
        raise ModelError(f"{source}: not a PyTorch weights file (neither a zip archive nor a pickle)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pickle-protocol chatter; refusals raise below
            return torch.load(path, map_location="cpu", weights_only=True)
    except _LOAD_ERRORS as exc:  # torch raises many types for foreign bytes
        message = str(exc)
        if "Weights only load failed" in message:
            raise ModelError(f"{source}: refused to unpickle: {_refusal_reason(message)} "
                             "(only plain tensor state dicts are accepted)") from None
        reason = first_line(exc).split(". ")[0] if message.strip() else type(exc).__name__
        if isinstance(exc, EOFError):
            reason = "truncated file"
        raise ModelError(f"{source}: not a readable PyTorch weights file ({reason})") from None


def _refusal_reason(message: str) -> str:
    found = re.search(r"unsupported (?:global: )?GLOBAL ([\w.]+)", message, re.IGNORECASE)
    if found:
        return f"it calls {found.group(1)}"
    found = re.search(r"unsupported operand (\d+)", message, re.IGNORECASE)
    if found:
        return f"it uses pickle opcode {found.group(1)}, which tensor files never need"
    return "it holds objects other than tensors"


def _unwrap_checkpoint(obj: Any, source: str) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """(generator state dict, the checkpoint's other entries, the key it sat under or None if plain)."""
    if not isinstance(obj, dict):
        raise ModelError(f"{source}: holds a {type(obj).__name__}, not a state dict")
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj, {}, None
    for key in CHECKPOINT_GENERATOR_KEYS:
        inner = obj.get(key)
        if isinstance(inner, dict) and inner:
            if all(isinstance(v, torch.Tensor) for v in inner.values()):
                return inner, {k: v for k, v in obj.items() if k != key}, key
            if isinstance(inner.get("state_dict"), dict):
                return _unwrap_checkpoint(inner["state_dict"], source)[0], {}, f"{key}.state_dict"
    shown = ", ".join(sorted(map(str, obj))[:6])
    raise ModelError(f"{source}: no generator state dict found (top-level keys: {shown}; expected tensors, "
                     f"or one of {', '.join(CHECKPOINT_GENERATOR_KEYS[:5])}, ...)")


def _clean_state(state: dict[str, Any], source: str) -> dict[str, torch.Tensor]:
    """Tensors only, fp32 floats, contiguous, DataParallel's ``module.`` prefix removed."""
    bad = sorted(k for k, v in state.items() if not isinstance(v, torch.Tensor))
    if bad:
        raise ModelError(f"{source}: entries that are not tensors: {', '.join(map(str, bad[:4]))}")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return {k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in state.items()}


def _read_npy_folder(folder: Path) -> dict[str, torch.Tensor]:
    import numpy as np

    files = sorted(folder.glob("*.npy"))
    if not files:
        raise ModelError(f"{folder}: folder holds no .npy files (expected one file per tensor, e.g. "
                         "conv01_1.weight.npy)")
    state = {}
    for file in files:
        try:
            array = np.load(file, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ModelError(f"{file}: not a readable .npy tensor ({first_line(exc)})") from None
        state[file.name[: -len(".npy")]] = torch.from_numpy(np.ascontiguousarray(array))
    return state


def _read_safetensors_any(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with open_safetensors(path) as f:
        meta = f.metadata() or {}
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (a safe_open handle, not a dict)
    return {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}, meta


def _describe(path: Path, kind: str, arch: str, config: dict[str, Any], saved: dict[str, Any],
              plain: bool = True, catalogue: Catalogue | None = None) -> ModelInfo:
    """Provenance (file, checksum, what it was recognised as) and licence of an imported file."""
    digest = _folder_sha256(path) if path.is_dir() else sha256_file(path)
    style = path.name if path.is_dir() else path.stem
    provenance = f"imported from {path.name} ({kind}, sha256 {digest[:12]})"
    licence = str(saved.get("licence", "")) if saved.get("licence") else ""
    if arch == "animeganv2" and path.is_file() and plain:
        published = _published_entry(path, catalogue)
        if published is not None:
            style = published.style or published.name
            provenance += f"; the published AnimeGANv2 {published.name!r} weights (git blob verified)"
            licence = ANIMEGANV2_LICENCE
        else:
            licence = licence or ANIMEGANV2_UNKNOWN_LICENCE
    elif arch == "cartoongan":
        provenance += "; CartoonGAN generator (PyTorch-port tensor names)"
        licence = licence or CARTOONGAN_LICENCE
    if isinstance(saved.get("step"), int):
        provenance += f"; training checkpoint at step {saved['step']}"
    if saved.get("style"):
        style = str(saved.get("style") or style)
    return ModelInfo(arch=arch, config=config, style=style, provenance=provenance, licence=licence)


def _published_entry(path: Path, catalogue: Catalogue | None) -> ZooEntry | None:
    """The catalogue entry whose published file this is (by git blob id), or None."""
    if catalogue is None:
        try:
            catalogue = shipped_catalogue()
        except ModelError:  # a broken zoo must not stop an import; the file is just not recognised
            return None
    return catalogue.published_entry(git_blob_sha1(path))


def _folder_sha256(folder: Path) -> str:
    """One digest over the ``.npy`` files of a folder: their names and bytes, in name order."""
    h = hashlib.sha256()
    for file in sorted(folder.glob("*.npy")):
        h.update(file.name.encode() + b"\0")
        h.update(sha256_file(file).encode())
    return h.hexdigest()
