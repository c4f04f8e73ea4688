"""The deployment commands as a user runs them: from an empty folder, with no path arguments.

Calibration and parity inputs default to the photos the package ships (never ``../shared``), the
bench measures the default style and writes nothing unless ``--out`` is given, and pruning a model
that cannot be pruned says so in one line.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from typer.testing import CliRunner

from animegan.cli.main import app
from animegan.compress.quantize import PhotoCalibrationReader
from animegan.evaluation.bench import verdict
from animegan.resources import sample_photos

runner = CliRunner()
SAMPLE_NAMES = {p.name for p in sample_photos()}


@pytest.fixture
def empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder with no ``../shared`` beside it."""
    cwd = tmp_path / "user"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_export_onnx_of_the_default_style_needs_no_photo_folder(empty_cwd: Path) -> None:
    result = runner.invoke(app, ["export", "onnx", "shinkai", "-o", "m.onnx", "--sizes", "64x48"])
    assert result.exit_code == 0, result.output
    checked = {line.split()[0] for line in result.output.splitlines() if line.startswith("  ")}
    assert checked == SAMPLE_NAMES  # the parity check ran on every bundled sample photo
    meta = {p.key: p.value for p in onnx.load(str(empty_cwd / "m.onnx")).metadata_props}
    assert meta["arch"] == "cartoongan" and meta["style"] == "shinkai"
    assert _files_under(empty_cwd) == ["m.onnx"]


def test_quantize_static_calibrates_on_the_bundled_photos_by_default(onnx_file: Path, empty_cwd: Path) -> None:
    result = runner.invoke(app, ["quantize", str(onnx_file), "-o", "q.onnx", "--calib-size", "48"])
    assert result.exit_code == 0, result.output
    nodes = onnx.load(str(empty_cwd / "q.onnx")).graph.node
    assert any(n.op_type == "QuantizeLinear" for n in nodes)  # static QDQ: calibrated activations
    assert _files_under(empty_cwd) == ["q.onnx"]


def test_calibration_reader_feeds_one_stride_at_a_time(photos: Path) -> None:
    """ORT's strided calibration (one photo per collection, so intermediate tensors never pile up)
    needs ``len`` and ``set_range`` from the reader."""
    reader = PhotoCalibrationReader(photos, size=16, count=3)
    assert len(reader) == 3
    seen = []
    for start in range(len(reader)):
        reader.set_range(start, start + 1)
        batches = []
        while (batch := reader.get_next()) is not None:
            batches.append(batch)
        seen.append(len(batches))
    assert seen == [1, 1, 1]
    assert [p.name for p in PhotoCalibrationReader(None, size=16, count=2).files] == \
        [p.name for p in sample_photos()[:2]]


def test_prune_of_a_cartoongan_is_one_line_naming_what_prunes(empty_cwd: Path) -> None:
    result = runner.invoke(app, ["prune", "shinkai", "-o", "p.safetensors"])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code != 0 and len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert "cartoongan" in lines[0] and "animeganv2" in lines[0] and "animegan distill" in lines[0]
    assert _files_under(empty_cwd) == []


def test_bench_with_no_path_arguments_measures_the_default_style_and_writes_nothing(empty_cwd: Path) -> None:
    result = runner.invoke(app, ["bench", "--sizes", "32", "--variants", "torch-fp32,ort-int8-static"])
    assert result.exit_code == 0, result.output
    assert "Model: shinkai (the default style)" in result.output
    assert any(f"Input: {name} resized" in result.output for name in SAMPLE_NAMES)
    assert "| ort-int8-static | 32² |" in result.output and "failed" not in result.output
    assert "at 32²" in result.output and "512²" not in result.output
    assert _files_under(empty_cwd) == []  # no benchmarks/results under the user's folder


def test_bench_help_says_any_architecture() -> None:
    result = runner.invoke(app, ["bench", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "any architecture" in result.output and "AnimeGANv2 zoo name" not in result.output


def _row(variant: str, size: int, median: float | None, diff: float = 0.5) -> dict:
    row = {"variant": variant, "size": size, "mean_abs_255": diff, "speedup": 2.0}
    if median is not None:
        row["median_s"] = median
    return row


def test_verdict_judges_the_largest_size_measured() -> None:
    rows = [_row("torch-fp32", 256, 1.0, 0.0), _row("ort-fp32", 256, 0.5),
            _row("torch-fp32", 512, 4.0, 0.0), _row("ort-fp32", 512, 2.0),
            _row("torch-fp32", 1024, None), _row("ort-fp32", 1024, None)]  # 1024 skipped for time
    text = verdict(rows)
    assert "at 512²" in text and "ort-fp32 2.000 s" in text and "1024" not in text
    assert "at 256²" in verdict(rows[:2])
    assert verdict(rows[4:]).startswith("no verdict")
