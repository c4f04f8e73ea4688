"""Precision matrix: the CLI `stylize` and `video` and `stylize_video` with a Stylizer, on the shipped
default style, at every precision a user can ask for (and with no --precision flag at all).

`auto` resolves to fp32 on CPUs without fast bf16 (this machine) and to bf16 on AVX-512/AMX CPUs;
the "auto-bf16" cases patch the CPU probe so the bf16 default path runs here too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from animegan import device
from animegan.cli.main import app
from animegan.resources import sample_photos

pytest.importorskip("av")

from animegan.inference.stylizer import Stylizer
from animegan.video import stylize_video
from animegan.video.samples import read_audio, read_frames, write_clip

#: (case id, --precision args, CPU probe says fast bf16, dtype the run must use)
CASES = [
    ("no-flag", [], False, "fp32"),
    ("auto", ["--precision", "auto"], False, "fp32"),
    ("auto-bf16", ["--precision", "auto"], True, "bf16"),
    ("fp32", ["--precision", "fp32"], False, "fp32"),
    ("bf16", ["--precision", "bf16"], False, "bf16"),
]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """5 frames of 48×32 with an AAC sound track, written with PyAV."""
    return write_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", width=48, height=32, seconds=0.2, audio="aac")


def _invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _used_precision(stderr: str) -> str:
    line = next(line for line in stderr.splitlines() if "stylizer:" in line)
    assert "shinkai (cartoongan)" in line, line  # the shipped default style, named as in `video`
    return "bf16" if " bf16 " in line else "fp32"


@pytest.mark.parametrize(("case", "flags", "fast", "expected"), CASES, ids=[c[0] for c in CASES])
def test_cli_stylize_on_the_default_style(tmp_path, monkeypatch, case, flags, fast, expected) -> None:
    monkeypatch.setattr(device, "cpu_has_fast_bf16", lambda: fast)
    photo = sample_photos()[0]
    out = tmp_path / "out.png"
    result = _invoke("stylize", str(photo), "-o", str(out), "--max-side", "48", *flags)
    assert result.exit_code == 0, result.stderr
    assert _used_precision(result.stderr) == expected
    assert "not bf16" not in result.stderr
    with Image.open(photo) as src, Image.open(out) as dst:
        small = src.convert("RGB")
        small.thumbnail((48, 48))
        assert dst.size == small.size
        # stylized, not the photo handed back
        assert np.abs(np.asarray(dst, np.float32) - np.asarray(small, np.float32)).mean() > 5


@pytest.mark.parametrize(("case", "flags", "fast", "expected"), CASES, ids=[c[0] for c in CASES])
def test_cli_video_keeps_every_frame_and_the_audio(tmp_path, monkeypatch, clip, case, flags, fast,
                                                   expected) -> None:
    monkeypatch.setattr(device, "cpu_has_fast_bf16", lambda: fast)
    out = tmp_path / "out.mp4"
    result = _invoke("video", str(clip), "-o", str(out), *flags)
    assert result.exit_code == 0, result.stderr
    assert _used_precision(result.stderr) == expected
    frames, source = read_frames(out), read_frames(clip)
    assert frames.shape == source.shape
    assert np.abs(frames.astype(np.float32) - source.astype(np.float32)).mean() > 5
    assert abs(read_audio(out).shape[1] - read_audio(clip).shape[1]) <= 1024  # one AAC frame of slack


@pytest.mark.parametrize("precision", ["auto", "fp32", "bf16"])
def test_stylize_video_with_a_stylizer(tmp_path, clip, precision) -> None:
    """Regression: the resume fingerprint hashed the bf16 weights with .numpy() and crashed."""
    stylizer = Stylizer(precision=precision)
    result = stylize_video(clip, tmp_path / "out.mp4", stylizer)
    assert result.frames == 5 and read_frames(tmp_path / "out.mp4").shape == (5, 32, 48, 3)
    assert read_audio(tmp_path / "out.mp4").shape[1] > 0


def test_model_id_is_the_files_identity_not_the_precision(tmp_path) -> None:
    import torch

    from animegan.hub.weights import info_for, save_weights
    from animegan.nn import build_generator

    torch.manual_seed(0)
    config = {"base_channels": 4, "n_res_blocks": 1}
    a = build_generator("cartoongan", config)
    b = build_generator("cartoongan", config)  # same arch and config, other weights
    save_weights(tmp_path / "a.safetensors", a, info_for(a))
    save_weights(tmp_path / "b.safetensors", b, info_for(b))
    ids = {p: Stylizer(str(tmp_path / f"{name}.safetensors"), precision=p).model_id()
           for name in "a" for p in ("fp32", "bf16")}
    assert ids["fp32"] == ids["bf16"]
    assert Stylizer(str(tmp_path / "b.safetensors"), precision="bf16").model_id() != ids["fp32"]
    assert ids["fp32"].startswith("sha256:") and "cartoongan" in ids["fp32"]
    # in-memory modules: the weights hashed as fp32, whatever the Stylizer runs at
    in_memory = {p: Stylizer(a, precision=p).model_id() for p in ("fp32", "bf16")}
    assert in_memory["fp32"] == in_memory["bf16"]
    assert Stylizer(b, precision="bf16").model_id() != in_memory["bf16"]
