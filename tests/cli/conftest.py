from __future__ import annotations

from pathlib import Path

import pytest
import torch

from animegan.hub.weights import info_for, save_weights
from animegan.nn import build_generator


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight AnimeGANv2 saved in our weights format (seeded: same pixels every run)."""
    torch.manual_seed(0)
    model = build_generator("animeganv2")
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_weights(path, model, info_for(model, style="random", provenance="test"))
    return path
