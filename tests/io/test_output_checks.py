"""`stylize -o` that cannot be written is one error line before any image is stylized."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from animegan.cli.main import app


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
def test_unwritable_output_fails_before_stylizing(tmp_path: Path, tiny_weights: Path, where: str) -> None:
    photos = _photos(tmp_path / "photos")
    (tmp_path / "blocker").write_text("a file, not a folder")
    result = CliRunner().invoke(app, ["stylize", *photos, "-o", str(tmp_path / where), "--model", str(tiny_weights),
                                      "--precision", "fp32"])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and f"-o {tmp_path / where}" in errors[0], result.stderr
    assert "stylizer:" not in result.stderr  # the model was never loaded, no image stylized
    assert (tmp_path / "blocker").read_text() == "a file, not a folder"
