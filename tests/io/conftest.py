from __future__ import annotations

from pathlib import Path

import pytest
import torch

from animegan.hub.weights import ModelInfo, save_weights
from animegan.nn import build_generator


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    """A seeded 4-channel CartoonGAN in our weights format: fast CLI and video runs."""
    torch.manual_seed(0)
    config = {"base_channels": 4, "n_res_blocks": 1}
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_weights(path, build_generator("cartoongan", config), ModelInfo(arch="cartoongan", config=config))
    return path
