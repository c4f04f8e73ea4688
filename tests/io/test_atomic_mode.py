"""Atomic outputs get the mode an ordinary file would get, whatever the writer does with the temp file."""

from __future__ import annotations

import torch

from animegan.hub.weights import ModelInfo, save_weights
from animegan.io.atomic import _umask, atomic_write_bytes


def test_atomic_outputs_are_not_private_files(tmp_path):
    atomic_write_bytes(tmp_path / "a.bin", b"x")
    save_weights(tmp_path / "w.safetensors", {"w": torch.zeros(2)}, ModelInfo(arch="animeganv2"))
    for name in ("a.bin", "w.safetensors"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~_umask(), name
