"""Shared fixtures for the deployment tests: one random AnimeGANv2, exported once, and real photo files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from animegan.hub.weights import info_for, save_weights
from animegan.inference.onnx_graph import export_bytes
from animegan.nn import build_generator


@pytest.fixture(scope="session")
def generator() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_generator("animeganv2").eval()


@pytest.fixture(scope="session")
def onnx_file(generator: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    path.write_bytes(export_bytes(generator))
    return path


@pytest.fixture(scope="session")
def weights_file(generator: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "model.safetensors"
    save_weights(path, generator, info_for(generator, style="random", provenance="test"))
    return path


def write_photos(folder: Path, count: int = 3, size: tuple[int, int] = (64, 48)) -> Path:
    """Smooth colour images (gradients plus noise) saved as JPEG and PNG files."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:size[1], 0:size[0]]
    for i in range(count):
        base = np.stack([xx * 255 / size[0], yy * 255 / size[1], (xx + yy + 40 * i) % 256], -1)
        img = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"photo{i}.{'jpg' if i % 2 else 'png'}")
    return folder


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    return write_photos(tmp_path / "photos")
