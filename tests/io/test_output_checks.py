"""`stylize -o` that cannot be written is one error line before any image is stylized."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from animegan.cli.main import app
from animegan.hub.weights import ModelInfo, save_weights
from animegan.nn import build_generator


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    config = {"base_channels": 4, "n_res_blocks": 1}
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_weights(path, build_generator("cartoongan", config), ModelInfo(arch="cartoongan", config=config))
    return path


def _photos(folder: Path) -> list[str]:
    folder.mkdir()
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        path = folder / f"p{i}.png"
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


@pytest.mark.parametrize("where", ["blocker/out", "blocker"])
def test_unwritable_output_fails_before_stylizing(tmp_path: Path, weights: Path, where: str) -> None:
    photos = _photos(tmp_path / "photos")
    (tmp_path / "blocker").write_text("a file, not a folder")
    result = CliRunner().invoke(app, ["stylize", *photos, "-o", str(tmp_path / where), "--model", str(weights),
                                      "--precision", "fp32"])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and f"-o {tmp_path / where}" in errors[0], result.stderr
    assert "stylizer:" not in result.stderr  # the model was never loaded, no image stylized
    assert (tmp_path / "blocker").read_text() == "a file, not a folder"
