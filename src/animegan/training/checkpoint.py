"""Full-state training checkpoints: written atomically, read with ``weights_only=True``.

A checkpoint holds everything an exact resume needs: networks (G, D, EMA G), optimisers,
schedulers, AMP scalers, counters and the python / numpy / torch (and CUDA) RNG states. Files are
``<run>/checkpoints/<step:08d>.pt``; the newest one is the one a run folder resumes from.
"""

from __future__ import annotations

import os
import pickle
import random
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..io.atomic import atomic_path

CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"^(\d{8})\.pt$")
FORMAT = "animegan-train-checkpoint/1"


def rng_state() -> dict[str, Any]:
    """The python, numpy and torch RNG states as weights-only-loadable values (no numpy arrays)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    npy = state["numpy"]
    np.random.set_state((npy["kind"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"],
                         npy["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_path(run_dir: str | os.PathLike, step: int) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR / f"{step:08d}.pt"


def list_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """Checkpoints of a run folder, oldest first."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _NAME.match(p.name))


def save_checkpoint(run_dir: str | os.PathLike, step: int, state: dict[str, Any], keep: int = 0) -> Path:
    """Write ``state`` (plus format tag and RNG states) for ``step`` atomically; prune to ``keep`` newest."""
    path = checkpoint_path(run_dir, step)
    payload = {"format": FORMAT, "step": step, "rng": rng_state(), **state}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    if keep > 0:
        for old in list_checkpoints(run_dir)[:-keep]:
            if old != path:
                old.unlink(missing_ok=True)
    return path


def resolve_resume(target: str | os.PathLike) -> tuple[Path, Path]:
    """``--resume`` argument (a run folder or a checkpoint file) → (run folder, checkpoint file)."""
    target = Path(target)
    if target.is_dir():
        found = list_checkpoints(target)
        if not found:
            raise InputError(f"{target}: run folder has no checkpoints under {CHECKPOINT_DIR}/")
        return target, found[-1]
    if target.is_file():
        run_dir = target.parent.parent if target.parent.name == CHECKPOINT_DIR else target.parent
        return run_dir, target
    raise InputError(f"{target}: no such run folder or checkpoint file")


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint; a truncated or foreign file raises one clear :class:`InputError`."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise InputError(f"{path}: checkpoint not found") from None
    except (RuntimeError, OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile,
            pickle.UnpicklingError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"{path}: not a readable checkpoint, the file is corrupt or truncated ({first[:120]})") \
            from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InputError(f"{path}: not an animegan training checkpoint")
    return state
