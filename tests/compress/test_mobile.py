"""ONNX Runtime mobile format: the .ort file loads and runs, and matches the .onnx model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from animegan.compress.mobile import convert_to_ort
from animegan.errors import InputError
from animegan.inference.onnx_backend import make_session


def test_ort_file_runs_and_matches_the_onnx_model(onnx_file: Path, tmp_path: Path) -> None:
    result = convert_to_ort(onnx_file, tmp_path / "mobile" / "model.ort")
    assert result.ort_path.is_file() and result.config_path.is_file()
    assert any(line.startswith("ai.onnx;") and "Conv" in line for line in result.operators)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 44, 36)).astype(np.float32)
    mobile = make_session(result.ort_path, threads=2).run(None, {"input": x})[0]
    reference = make_session(onnx_file, threads=2).run(None, {"input": x})[0]
    assert mobile.shape == (1, 3, 44, 36)
    assert np.abs(mobile - reference).max() < 1e-4


def test_non_onnx_input_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="ONNX file not found"):
        convert_to_ort(tmp_path / "missing.onnx")
