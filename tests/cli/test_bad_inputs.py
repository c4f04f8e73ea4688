"""Bad inputs to `animegan stylize`: one clear line each, the rest still processed, exit 1, no debris.

Every case runs the real command (typer's CliRunner) on real files made here, with a tiny random
model saved as safetensors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from typer.testing import CliRunner

from animegan.cli.main import app
from animegan.hub.weights import ModelInfo, save_weights
from animegan.nn import build_generator


class Payload:
    """An arbitrary object: pickling it into a .pt is what weights_only=True must refuse."""

    def __init__(self) -> None:
        self.command = "echo should never run"


def _photo(path: Path, size: tuple[int, int] = (64, 48), seed: int = 0, mode: str = "RGB") -> Path:
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).convert(mode).save(path, quality=90)
    return path


def _run(*args: str) -> tuple[int, list[str]]:
    # no --precision: the default path users run (tests comparing pixels pass --precision fp32 themselves)
    result = CliRunner().invoke(app, ["stylize", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stderr.strip().splitlines()


def _errors(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("error:")]


def _assert_clean(out: Path) -> None:
    """No temporary or hidden files left anywhere under the output folder."""
    if out.exists():
        assert [p for p in out.rglob("*") if ".part" in p.name or p.name.startswith(".")] == []


def _one_bad_input(tmp_path: Path, model_file: Path, bad: Path, *extra: str) -> tuple[int, list[str], Path]:
    """Run the bad input between two good photos; return (exit code, error lines, output folder)."""
    good1 = _photo(tmp_path / "good1.png", seed=1)
    good2 = _photo(tmp_path / "good2.png", seed=2)
    out = tmp_path / "out"
    code, lines = _run(str(good1), str(bad), str(good2), "-o", str(out), "-m", str(model_file), *extra)
    assert "Traceback" not in "\n".join(lines)
    assert sorted(p.name for p in out.iterdir()) == ["good1.png", "good2.png"]  # the others still done
    _assert_clean(out)
    return code, _errors(lines), out


def test_missing_path(tmp_path: Path, model_file: Path) -> None:
    code, errors, _ = _one_bad_input(tmp_path, model_file, tmp_path / "nope.jpg")
    assert code == 1 and len(errors) == 1
    assert "nope.jpg" in errors[0] and "no such file" in errors[0]


def test_empty_folder(tmp_path: Path, model_file: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, errors, _ = _one_bad_input(tmp_path, model_file, tmp_path / "empty")
    assert code == 1 and len(errors) == 1 and "empty" in errors[0] and "no images" in errors[0]


def test_text_file_named_jpg(tmp_path: Path, model_file: Path) -> None:
    bad = tmp_path / "letter.jpg"
    bad.write_text("Dear reader, this is not a photograph.\n")
    code, errors, _ = _one_bad_input(tmp_path, model_file, bad)
    assert code == 1 and len(errors) == 1
    assert "letter.jpg" in errors[0] and "not a decodable image" in errors[0]


def test_truncated_jpeg(tmp_path: Path, model_file: Path) -> None:
    data = _photo(tmp_path / "whole.jpg", (128, 96)).read_bytes()
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(data[: len(data) // 2])
    code, errors, _ = _one_bad_input(tmp_path, model_file, bad)
    assert code == 1 and len(errors) == 1 and "cut.jpg" in errors[0] and "truncated" in errors[0]


def test_zero_byte_file(tmp_path: Path, model_file: Path) -> None:
    bad = tmp_path / "zero.png"
    bad.write_bytes(b"")
    code, errors, _ = _one_bad_input(tmp_path, model_file, bad)
    assert code == 1 and len(errors) == 1 and "zero.png" in errors[0] and "empty" in errors[0]


def test_cmyk_jpeg_is_converted_and_succeeds(tmp_path: Path, model_file: Path) -> None:
    src = _photo(tmp_path / "print.jpg", mode="CMYK")
    assert Image.open(src).mode == "CMYK"
    out = tmp_path / "out"
    code, lines = _run(str(src), "-o", str(out), "-m", str(model_file))
    assert code == 0 and _errors(lines) == []
    with Image.open(out / "print.jpg") as result:
        result.load()
        assert result.format == "JPEG" and result.mode == "RGB" and result.size == (64, 48)


def test_decompression_bomb_is_refused_naming_max_side(tmp_path: Path, model_file: Path) -> None:
    bomb = tmp_path / "bomb.png"
    Image.new("1", (10_000, 10_000)).save(bomb)  # 100 MP in a few kB
    assert bomb.stat().st_size < 100_000
    code, errors, _ = _one_bad_input(tmp_path, model_file, bomb)
    assert code == 1 and len(errors) == 1 and "bomb.png" in errors[0] and "--max-side" in errors[0]


def test_output_that_cannot_be_written_leaves_no_partial_file(tmp_path: Path, model_file: Path) -> None:
    src = _photo(tmp_path / "in" / "a.png")
    _photo(tmp_path / "in" / "b.png", seed=3)
    out = tmp_path / "out"
    (out / "a.png").mkdir(parents=True)  # a folder where the output file should go
    code, lines = _run(str(tmp_path / "in"), "-o", str(out), "-m", str(model_file), "--overwrite")
    errors = _errors(lines)
    assert code == 1 and len(errors) == 1 and str(src) in errors[0]
    assert (out / "a.png").is_dir() and Image.open(out / "b.png").size == (64, 48)
    _assert_clean(out)


def test_many_bad_inputs_in_one_batch_each_get_one_line(tmp_path: Path, model_file: Path) -> None:
    src = tmp_path / "mixed"
    _photo(src / "ok1.jpg", seed=1)
    _photo(src / "sub" / "ok2.png", seed=2)
    (src / "text.jpg").write_text("hello")
    (src / "zero.png").write_bytes(b"")
    (src / "sub" / "cut.jpg").write_bytes(_photo(tmp_path / "w.jpg", (128, 96)).read_bytes()[:700])
    out = tmp_path / "out"
    code, lines = _run(str(src), str(tmp_path / "missing"), "-o", str(out), "-m", str(model_file))
    errors = _errors(lines)
    assert code == 1 and len(errors) == 4
    for name in ["text.jpg", "zero.png", "cut.jpg", "missing"]:
        assert sum(name in e for e in errors) == 1
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "ok1.jpg", "sub/ok2.png"]
    assert any("done 2" in line and "failed 4" in line for line in lines)
    _assert_clean(out)


# ---- bad weights: the whole run stops with one line, before anything is written ----------------


def _model_failure(tmp_path: Path, weights: Path) -> str:
    src = _photo(tmp_path / "a.png")
    out = tmp_path / "out"
    code, lines = _run(str(src), "-o", str(out), "-m", str(weights))
    assert code == 1 and len(lines) == 1 and lines[0].startswith("error:"), lines
    assert not out.exists()
    return lines[0]


def test_weights_of_the_wrong_architecture_list_missing_and_unexpected_keys(tmp_path: Path) -> None:
    other = build_generator("cartoongan", {"base_channels": 4, "n_res_blocks": 1})
    path = tmp_path / "wrong.safetensors"
    save_weights(path, other, ModelInfo(arch="animeganv2"))  # metadata claims AnimeGANv2
    line = _model_failure(tmp_path, path)
    assert "wrong.safetensors" in line and "missing keys" in line and "unexpected keys" in line
    assert "block_a.0.1.weight" in line  # names a key the file lacks


def test_corrupt_safetensors(tmp_path: Path, model_file: Path) -> None:
    path = tmp_path / "corrupt.safetensors"
    path.write_bytes(model_file.read_bytes()[:4096])
    line = _model_failure(tmp_path, path)
    assert "corrupt.safetensors" in line and "not a valid safetensors file" in line


def test_pickle_that_weights_only_refuses(tmp_path: Path) -> None:
    path = tmp_path / "payload.pt"
    torch.save({"state": Payload()}, path)
    line = _model_failure(tmp_path, path)
    assert "payload.pt" in line and "unpickle" in line
