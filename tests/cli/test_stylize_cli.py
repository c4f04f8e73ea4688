"""`animegan stylize`: the real command on real files with a tiny random model saved as safetensors."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from animegan.cli.main import app
from animegan.evaluation.quality import image_figures
from animegan.inference.options import StylizeOptions
from animegan.inference.stylizer import Stylizer

REPO = Path(__file__).resolve().parents[2]


def _photo(path: Path, size: tuple[int, int] = (64, 48), seed: int = 0, mode: str = "RGB") -> Path:
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 255 / w, yy * 255 / h, np.full_like(xx, 128)], axis=2)
    rgb = np.clip(rgb + rng.normal(0, 20, rgb.shape), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).convert(mode).save(path, quality=95)
    return path


def _run(*args: str) -> tuple[int, str, str]:
    # no --precision: the default path users run (tests comparing pixels pass --precision fp32 themselves)
    result = CliRunner().invoke(app, ["stylize", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _stray_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".part" in p.name or p.name.startswith(".")]


def test_folder_run_mirrors_subfolders_and_matches_the_library(tmp_path: Path, model_file: Path) -> None:
    src = tmp_path / "photos"
    _photo(src / "a.jpg", seed=1)
    _photo(src / "trip" / "b.png", (40, 56), seed=2)
    _photo(src / "trip" / "day2" / "a.jpg", seed=3)
    (src / "notes.txt").write_text("not a photo")
    out = tmp_path / "out"
    code, _, err = _run(str(src), "-o", str(out), "--model", str(model_file), "--precision", "fp32")
    assert code == 0, err
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a.jpg", "trip/b.png", "trip/day2/a.jpg"]
    assert "done 3, skipped 0" in err and "failed 0" in err
    stylizer = Stylizer(str(model_file), precision="fp32")
    for rel in written:
        with Image.open(src / rel) as photo, Image.open(out / rel) as result:
            assert result.size == photo.size and result.format == photo.format
            expected = np.asarray(stylizer.stylize(photo.convert("RGB")), dtype=np.float32)
            got = np.asarray(result.convert("RGB"), dtype=np.float32)
        # JPEG re-encoding at quality 95 moves pixels a little; a different model would move them a lot
        assert np.abs(got - expected).mean() < 3.0
    assert not np.allclose(np.asarray(Image.open(out / "a.jpg"), dtype=np.float32),
                           np.asarray(Image.open(src / "a.jpg"), dtype=np.float32), atol=10)
    assert _stray_files(out) == []


def test_rerun_skips_existing_outputs_and_overwrite_redoes_them(tmp_path: Path, model_file: Path) -> None:
    _photo(tmp_path / "in" / "a.png", seed=1)
    _photo(tmp_path / "in" / "b.png", seed=2)
    out = tmp_path / "out"
    assert _run(str(tmp_path / "in"), "-o", str(out), "-m", str(model_file))[0] == 0
    (out / "a.png").write_bytes(b"sentinel")  # a file we can tell apart from a fresh result
    os.remove(out / "b.png")  # as if the first run had been interrupted before b
    code, _, err = _run(str(tmp_path / "in"), "-o", str(out), "-m", str(model_file))
    assert code == 0 and "done 1, skipped 1" in err
    assert (out / "a.png").read_bytes() == b"sentinel"
    assert Image.open(out / "b.png").size == (64, 48)
    code, _, err = _run(str(tmp_path / "in"), "-o", str(out), "-m", str(model_file), "--overwrite")
    assert code == 0 and "done 2, skipped 0" in err
    assert Image.open(out / "a.png").size == (64, 48)


def test_suffix_and_ext_name_the_outputs(tmp_path: Path, model_file: Path) -> None:
    _photo(tmp_path / "in" / "a.jpg")
    _photo(tmp_path / "in" / "scan.tiff")
    out = tmp_path / "out"
    code, _, err = _run(str(tmp_path / "in"), "-o", str(out), "-m", str(model_file), "--suffix", "_anime")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["a_anime.jpg", "scan_anime.png"]
    code, _, err = _run(str(tmp_path / "in"), "-o", str(out), "-m", str(model_file), "--ext", "webp",
                        "--quality", "80")
    assert code == 0, err
    with Image.open(out / "a.webp") as img:
        assert img.format == "WEBP" and img.size == (64, 48)


def test_output_into_the_input_folder_needs_a_suffix(tmp_path: Path, model_file: Path) -> None:
    src = tmp_path / "photos"
    _photo(src / "a.jpg")
    before = (src / "a.jpg").read_bytes()
    code, _, err = _run(str(src), "-o", str(src), "-m", str(model_file))
    assert code == 1 and "--suffix" in err and "overwrite" in err
    assert (src / "a.jpg").read_bytes() == before and sorted(os.listdir(src)) == ["a.jpg"]
    assert _run(str(src), "-o", str(src), "-m", str(model_file), "--suffix", "_anime")[0] == 0
    # a second run does not take the first run's a_anime.jpg for a photo
    code, _, err = _run(str(src), "-o", str(src), "-m", str(model_file), "--suffix", "_anime")
    assert code == 0 and "done 0, skipped 1" in err
    assert sorted(os.listdir(src)) == ["a.jpg", "a_anime.jpg"]


def test_quoted_glob_is_expanded_by_the_command(tmp_path: Path, model_file: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _photo(tmp_path / "in" / "x" / "a.jpg")
    _photo(tmp_path / "in" / "y" / "b.jpg")
    _photo(tmp_path / "in" / "y" / "c.png")
    monkeypatch.chdir(tmp_path)
    code, _, err = _run("in/**/*.jpg", "-o", "out", "-m", str(model_file))
    assert code == 0, err
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.*")) == [
        "x/a.jpg", "y/b.jpg"]


def test_single_file_to_a_named_output_file(tmp_path: Path, model_file: Path) -> None:
    src = _photo(tmp_path / "a.jpg")
    code, _, err = _run(str(src), "-o", str(tmp_path / "result.png"), "-m", str(model_file))
    assert code == 0, err
    with Image.open(tmp_path / "result.png") as img:
        assert img.format == "PNG" and img.size == (64, 48)
    # --ext auto keeps png/jpg/webp and writes PNG for any other name, as it does for folders
    code, _, err = _run(str(src), "-o", str(tmp_path / "result.bmp"), "-m", str(model_file))
    assert code == 0, err
    assert not (tmp_path / "result.bmp").exists() and Image.open(tmp_path / "result.png").format == "PNG"


def test_max_pixels_flag_sets_the_refusal_limit(tmp_path: Path, model_file: Path) -> None:
    src = _photo(tmp_path / "a.png")  # 64×48 = 3072 pixels
    code, _, err = _run(str(src), "-o", str(tmp_path / "out"), "-m", str(model_file), "--max-pixels", "4096")
    assert code == 0, err
    big = _photo(tmp_path / "big" / "b.png", (80, 60))  # 4800 pixels
    code, _, err = _run(str(big), "-o", str(tmp_path / "out2"), "-m", str(model_file), "--max-pixels", "4096")
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 1 and len(errors) == 1 and "b.png" in errors[0] and "over the limit of" in errors[0]
    assert "set --max-side (e.g. --max-side 2048)" in errors[0]  # the library's max_side, said as the flag


def test_batch_size_gives_the_same_pixels_as_one_by_one(tmp_path: Path, model_file: Path) -> None:
    for i in range(3):
        _photo(tmp_path / "in" / f"same{i}.png", seed=i)
    _photo(tmp_path / "in" / "other.png", (48, 64), seed=9)
    args = ["-m", str(model_file), "--precision", "fp32"]
    assert _run(str(tmp_path / "in"), "-o", str(tmp_path / "one"), *args)[0] == 0
    code, _, err = _run(str(tmp_path / "in"), "-o", str(tmp_path / "two"), "--batch-size", "2", *args)
    assert code == 0 and "done 4" in err
    for name in ["same0.png", "same1.png", "same2.png", "other.png"]:
        a = np.asarray(Image.open(tmp_path / "one" / name), dtype=np.float32)
        b = np.asarray(Image.open(tmp_path / "two" / name), dtype=np.float32)
        assert a.shape == b.shape and np.abs(a - b).max() <= 1.0


def test_options_reach_the_stylizer(tmp_path: Path, model_file: Path) -> None:
    src = _photo(tmp_path / "a.png", (80, 60))
    out = tmp_path / "out"
    code, _, err = _run(str(src), "-o", str(out), "-m", str(model_file), "--side-by-side", "--max-side", "40",
                        "--strength", "0", "--precision", "fp32")
    assert code == 0, err
    result = np.asarray(Image.open(out / "a.png"), dtype=np.float32)
    assert result.shape == (30, 80, 3)  # 40×30 photo beside its 40×30 result
    # strength 0 is the photo itself: both halves equal the downscaled photo
    assert np.abs(result[:, :40] - result[:, 40:]).mean() < 1.0
    expected = Stylizer(str(model_file), precision="fp32").stylize(Image.open(src), StylizeOptions(max_side=40, strength=0.0))
    assert np.abs(result[:, 40:] - np.asarray(expected, dtype=np.float32)).mean() < 1.0


def test_tile_and_brightness_flags_match_the_same_library_options(tmp_path: Path, model_file: Path) -> None:
    src = _photo(tmp_path / "a.png", (80, 48), seed=4)
    out = tmp_path / "out"
    code, _, err = _run(str(src), "-o", str(out), "-m", str(model_file), "--tile", "64", "--tile-pad", "8",
                        "--match-brightness", "--precision", "fp32")
    assert code == 0, err
    got = np.asarray(Image.open(out / "a.png"), dtype=np.float32)
    stylizer = Stylizer(str(model_file), precision="fp32")
    same = stylizer.stylize(Image.open(src), StylizeOptions(tile=64, tile_pad=8, match_brightness=True))
    assert np.abs(got - np.asarray(same, dtype=np.float32)).max() <= 1.0
    # exact-statistics tiling hides --tile in the pixels; --match-brightness must show
    plain = stylizer.stylize(Image.open(src), StylizeOptions(tile=-1))
    assert np.abs(got - np.asarray(plain, dtype=np.float32)).mean() > 1.0


@pytest.mark.parametrize(("args", "needle"), [
    (["--strength", "2"], "--strength 2"),
    (["--ext", "gif"], "--ext gif"),
    (["--batch-size", "0"], "--batch-size 0"),
    (["--tile", "8"], "--tile 8"),
    (["--device", "tpu"], "--device tpu"),
])
def test_bad_options_are_one_line(tmp_path: Path, model_file: Path, args: list[str], needle: str) -> None:
    src = _photo(tmp_path / "a.png")
    code, _, err = _run(str(src), "-o", str(tmp_path / "out"), "-m", str(model_file), *args)
    assert code == 1
    assert err.strip().startswith("error:") and needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_missing_output_option_is_explained(tmp_path: Path) -> None:
    code, _, err = _run(str(_photo(tmp_path / "a.png")))
    assert code == 1 and "-o OUT" in err


def _cli(*args: str, stdin: bytes = b"", env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "animegan", "stylize", *args], input=stdin, check=False,
                          capture_output=True, timeout=120, env={**os.environ, **(env or {})}, cwd=REPO)


def test_stdin_to_stdout_in_a_subprocess(tmp_path: Path, model_file: Path) -> None:
    data = _photo(tmp_path / "a.jpg").read_bytes()
    proc = _cli("-", "-m", str(model_file), "--precision", "fp32", stdin=data)
    assert proc.returncode == 0, proc.stderr.decode()
    with Image.open(io.BytesIO(proc.stdout)) as img:
        assert img.format == "PNG" and img.size == (64, 48)


def test_stdout_format_follows_ext_and_empty_stdin_is_one_line(tmp_path: Path, model_file: Path) -> None:
    data = _photo(tmp_path / "a.png").read_bytes()
    result = CliRunner().invoke(app, ["stylize", "-", "-o", "-", "--ext", "jpg", "-m", str(model_file),
                                      "--precision", "fp32"], input=data)
    assert result.exit_code == 0, result.stderr
    with Image.open(io.BytesIO(result.stdout_bytes)) as img:
        assert img.format == "JPEG" and img.size == (64, 48)
    result = CliRunner().invoke(app, ["stylize", str(tmp_path / "a.png"), "-o", "-", "-m", str(model_file),
                                      "--precision", "fp32"])
    assert result.exit_code == 0 and result.stdout_bytes[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "folder").mkdir()
    result = CliRunner().invoke(app, ["stylize", "-", "-o", str(tmp_path / "folder"), "-m", str(model_file),
                                      "--precision", "fp32"], input=data)
    assert result.exit_code == 0 and result.stdout_bytes == b""
    assert Image.open(tmp_path / "folder" / "stdin.png").size == (64, 48)
    result = CliRunner().invoke(app, ["stylize", "-", "-m", str(model_file)], input=b"")
    assert result.exit_code == 1 and result.stdout_bytes == b"" and "<stdin>" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_demo_stylizes_the_samples_with_the_shipped_default_style(tmp_path: Path) -> None:
    """What `make demo` runs, offline: the bundled default style on the bundled samples."""
    out = tmp_path / "demo-output"
    proc = _cli(str(REPO / "src" / "animegan" / "samples"), "-o", str(out), "--max-side", "160")
    assert proc.returncode == 0, proc.stderr.decode()
    samples = sorted((REPO / "src" / "animegan" / "samples").glob("*.jpg"))
    for sample in samples:
        with Image.open(sample) as src, Image.open(out / sample.name) as dst:
            small = src.convert("RGB")
            small.thumbnail((160, 160), Image.LANCZOS)
            assert dst.size == small.size
            figures = image_figures(np.asarray(small), np.asarray(dst.convert("RGB")))
            # visibly stylized (flattened shading, outlines), not the photo handed back; its colours kept
            assert figures["structure_change"] >= 4.0, (sample.name, figures)  # a JPEG round trip: < 1
            assert figures["chroma_shift"] <= 4.0, (sample.name, figures)


def test_demo_samples_are_small_decodable_photos() -> None:
    samples = sorted((REPO / "src" / "animegan" / "samples").glob("*.jpg"))
    assert len(samples) >= 3
    assert sum(p.stat().st_size for p in samples) < 1.5e6
    readme = (REPO / "src" / "animegan" / "samples" / "README.md").read_text()
    for path in samples:
        assert path.name in readme
        with Image.open(path) as img:
            img.load()
            assert img.mode == "RGB" and max(img.size) <= 512
