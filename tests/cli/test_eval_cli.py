"""`animegan eval`: the five colour figures, speed, a contact sheet and JSON, end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from animegan.cli.main import app
from animegan.evaluation.quality import FIGURES, image_figures, shipped_styles
from animegan.resources import sample_photos


def _eval(*args: str):
    return CliRunner().invoke(app, ["eval", *args])


def test_eval_on_the_bundled_samples_writes_png_and_json(tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = _eval("--max-side", "64", "-o", str(out), "--precision", "fp32", "--per-image")
    assert result.exit_code == 0, result.output
    styles = shipped_styles()
    assert len(styles) >= 3
    photos = sample_photos()
    data = json.loads((out / "eval.json").read_text())
    assert data["photos"] == len(photos) and data["max_side"] == 64
    assert list(data["styles"]) == styles
    for style in styles:
        entry = data["styles"][style]
        for variant in ("raw", "staged"):
            for name in FIGURES:
                fig = entry[variant][name]
                assert math.isfinite(fig["mean"]) and isinstance(fig["meets"], bool)
        # the stage keeps the photo's overall colour and brightness far better than the raw output
        assert entry["staged"]["chroma_shift"]["mean"] < 0.5 * entry["raw"]["chroma_shift"]["mean"]
        assert entry["staged"]["brightness_shift"]["mean"] < entry["raw"]["brightness_shift"]["mean"]
        assert entry["sec_per_image"] > 0 and len(entry["per_image"]) == len(photos)
        assert f"| {style} | raw network |" in result.stdout
    sheet = Image.open(out / "contact-sheet.png")
    sheet.load()
    assert sheet.mode == "RGB" and sheet.height > len(photos) * 192
    # the sheet's first column is the photo itself (row 1: the first sample at 192 px high)
    with Image.open(photos[0]) as im:
        w = round(im.width * 192 / im.height)
    assert sheet.width > (1 + len(styles)) * 0.5 * w


def test_eval_figures_are_the_defined_ones() -> None:
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (32, 40, 3)).astype(np.float64)
    same = image_figures(photo, photo)
    assert same == {"chroma_dev": 0.0, "chroma_shift": 0.0, "brightness_shift": 0.0, "structure_change": 0.0,
                    "gradient_ratio": 1.0}
    brighter = image_figures(photo, np.clip(photo + 10, 0, 255))
    assert 8 < brighter["brightness_shift"] <= 10 and brighter["chroma_shift"] < 0.5
    flat = image_figures(photo, np.full_like(photo, 128))
    assert flat["gradient_ratio"] == 0.0 and flat["structure_change"] > 30


def test_eval_bad_inputs_are_one_line_and_write_nothing(tmp_path: Path) -> None:
    out = tmp_path / "report"
    missing = _eval("--photos", str(tmp_path / "nowhere"), "-o", str(out))
    assert missing.exit_code != 0 and "nowhere" in missing.output and "not a folder" in missing.output
    (tmp_path / "empty").mkdir()
    empty = _eval("--photos", str(tmp_path / "empty"), "-o", str(out))
    assert empty.exit_code != 0 and "empty: no images found" in empty.output
    style = _eval("no-such-style", "--max-side", "32", "-o", str(out))
    assert style.exit_code != 0 and "no-such-style" in style.output
    palette = _eval("--palette", "3", "-o", str(out))
    assert palette.exit_code != 0 and "--palette 3" in palette.output
    for r in (missing, empty, style, palette):
        assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1
    assert not out.exists()
