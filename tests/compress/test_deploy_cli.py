"""`animegan export/quantize/prune/bench`: real runs on tiny inputs; bad input gives one line and exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from animegan.cli.main import app
from animegan.hub.loading import load_generator_file

runner = CliRunner()


def _one_error_line(result) -> str:  # type: ignore[no-untyped-def]
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code != 0 and len(lines) == 1 and lines[0].startswith("error:"), result.output
    return lines[0]


def test_export_onnx_prints_parity_and_writes(weights_file: Path, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    result = runner.invoke(app, ["export", "onnx", str(weights_file), "-o", str(out), "--images", str(photos),
                                 "--count", "1", "--sizes", "33x41"])
    assert result.exit_code == 0, result.output
    assert out.is_file() and "max abs diff" in result.output


def test_export_of_missing_model_is_one_line(photos: Path, tmp_path: Path) -> None:
    line = _one_error_line(runner.invoke(app, ["export", "onnx", str(tmp_path / "nope.safetensors"), "-o",
                                               str(tmp_path / "x.onnx"), "--images", str(photos)]))
    assert "nope.safetensors" in line


def test_quantize_bad_inputs_are_one_line_each(onnx_file: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    text = tmp_path / "text.onnx"
    text.write_text("hello")
    cases = [([str(tmp_path / "missing.onnx"), "--calib", str(empty)], "not found"),
             ([str(text), "--mode", "dynamic"], "not an ONNX model"),
             ([str(onnx_file), "--calib", str(empty)], "no images found")]
    for args, message in cases:
        line = _one_error_line(runner.invoke(app, ["quantize", *args, "-o", str(tmp_path / "q.onnx")]))
        assert message in line
    assert not (tmp_path / "q.onnx").exists()


def test_quantize_dynamic_reports_size_speed_and_quality(onnx_file: Path, photos: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["quantize", str(onnx_file), "-o", str(tmp_path / "q.onnx"), "--mode", "dynamic",
                                 "--eval", str(photos), "--eval-count", "1", "--speed-size", "32"])
    assert result.exit_code == 0, result.output
    assert "PSNR" in result.output and "MiB" in result.output and "fp32" in result.output


@pytest.mark.parametrize("ratio", ["0", "1", "1.5"])
def test_prune_ratio_outside_zero_one_is_one_line(weights_file: Path, tmp_path: Path, ratio: str) -> None:
    line = _one_error_line(runner.invoke(app, ["prune", str(weights_file), "-o", str(tmp_path / "p.safetensors"),
                                               "--ratio", ratio]))
    assert "--ratio" in line
    assert not (tmp_path / "p.safetensors").exists()


def test_prune_writes_a_loadable_smaller_model(weights_file: Path, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.safetensors"
    result = runner.invoke(app, ["prune", str(weights_file), "-o", str(out), "--calib", str(photos),
                                 "--eval", str(photos), "--speed-size", "48"])
    assert result.exit_code == 0, result.output
    model, info = load_generator_file(out)
    assert info.arch == "animeganv2_slim" and "fewer" in result.output and "PSNR vs unpruned" in result.output
    assert sum(p.numel() for p in model.parameters()) < 0.6 * 2_143_552


def test_prune_finetune_distils_in_bf16_and_records_it(weights_file: Path, photos: Path, tmp_path: Path) -> None:
    import torch

    out, run = tmp_path / "p.safetensors", tmp_path / "run"
    result = runner.invoke(app, ["prune", str(weights_file), "-o", str(out), "--finetune", str(photos),
                                 "--steps", "20", "--crop", "32", "--batch-size", "2", "--precision", "bf16",
                                 "--run-dir", str(run), "--speed-size", "32"])
    assert result.exit_code == 0, result.output
    assert json.loads((run / "config.json").read_text())["precision"] == "bf16"
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10, 20] and all(0 < r["loss"] < 10 for r in rows)
    tuned, info = load_generator_file(out)
    start, _ = load_generator_file(run / "init.safetensors")
    assert "distilled" in info.provenance and all(t.dtype == torch.float32 for t in tuned.state_dict().values())
    assert any(not torch.equal(a, b) for a, b in zip(tuned.state_dict().values(), start.state_dict().values(),
                                                     strict=True))


def test_prune_unknown_precision_is_one_line(weights_file: Path, tmp_path: Path) -> None:
    line = _one_error_line(runner.invoke(app, ["prune", str(weights_file), "-o", str(tmp_path / "p.safetensors"),
                                               "--precision", "fp8"]))
    assert "--precision 'fp8': choose fp32 or bf16" in line and not (tmp_path / "p.safetensors").exists()


def test_bench_small_run_writes_json_and_markdown(weights_file: Path, photos: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", "-m", str(weights_file), "--sizes", "32", "--out", str(tmp_path),
                                 "--variants", "torch-fp32,ort-fp32", "--calib", str(photos), "--photo",
                                 str(photos), "--threads", "2"])
    assert result.exit_code == 0, result.output
    doc = json.loads(next(tmp_path.glob("deploy-*.json")).read_text())
    rows = {r["variant"]: r for r in doc["rows"]}
    assert rows["torch-fp32"]["mean_abs_255"] == 0 and rows["ort-fp32"]["mean_abs_255"] < 0.01
    assert rows["ort-fp32"]["median_s"] > 0 and rows["ort-fp32"]["peak_rss_mib"] > 50
    assert "| ort-fp32 | 32² |" in next(tmp_path.glob("deploy-*.md")).read_text()
    assert doc["verdict"].startswith("fastest within 2.0/255 of fp32 at 32²")  # the size measured


def test_bench_unknown_variant_is_one_line(tmp_path: Path) -> None:
    line = _one_error_line(runner.invoke(app, ["bench", "--variants", "torch-fp64", "--out", str(tmp_path)]))
    assert "torch-fp64" in line


def test_stylize_backend_onnx_runs_an_onnx_file_like_torch(weights_file: Path, onnx_file: Path, photos: Path,
                                                           tmp_path: Path) -> None:
    from PIL import Image

    src = next(photos.glob("*.png"))
    for backend, model, name in [("torch", weights_file, "t.png"), ("onnx", onnx_file, "o.png")]:
        result = runner.invoke(app, ["stylize", str(src), "-o", str(tmp_path / name), "-m", str(model),
                                     "--backend", backend, "--precision", "fp32"])
        assert result.exit_code == 0, result.output
    import numpy as np

    a = np.asarray(Image.open(tmp_path / "t.png")).astype(int)
    b = np.asarray(Image.open(tmp_path / "o.png")).astype(int)
    assert a.shape == b.shape and np.abs(a - b).max() <= 1
