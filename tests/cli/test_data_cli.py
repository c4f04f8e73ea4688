"""`animegan data ...`: smooth, faces, check, vgg-convert; outputs that decode, one-line errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from animegan.cli.main import app
from animegan.training.smoothing import smooth_edges

ASTRONAUT = Path(__file__).resolve().parents[2] / "src" / "animegan" / "samples" / "astronaut.jpg"


def run(*args: str):
    return CliRunner().invoke(app, ["data", *[str(a) for a in args]])


def frame(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((48, 64, 3), 30, np.uint8)
    img[10:38, 12:50] = rng.integers(150, 255, 3)
    return img


def test_smooth_writes_same_names_and_skips_done(tmp_path):
    style = tmp_path / "style"
    (style / "sub").mkdir(parents=True)
    Image.fromarray(frame(0)).save(style / "a.png")
    Image.fromarray(frame(1)).save(style / "sub" / "b.png")
    res = run("smooth", style, "-o", tmp_path / "smooth")
    assert res.exit_code == 0, res.output
    assert "smoothed 2 images" in res.output
    out = np.array(Image.open(tmp_path / "smooth" / "sub" / "b.png"))
    np.testing.assert_array_equal(out, smooth_edges(frame(1)))
    again = run("smooth", style, "-o", tmp_path / "smooth")
    assert "smoothed 0 images" in again.output and "2 already there" in again.output


def test_empty_folder_is_one_line_and_non_zero(tmp_path):
    (tmp_path / "empty").mkdir()
    for args in (("smooth", tmp_path / "empty", "-o", tmp_path / "o"), ("check", tmp_path / "empty"),
                 ("faces", tmp_path / "empty", "-o", tmp_path / "o")):
        res = run(*args)
        assert res.exit_code != 0
        assert "no images" in res.output and len(res.output.strip().splitlines()) == 1
        assert "Traceback" not in res.output


def test_check_reports_counts_sizes_and_bad_files(tmp_path):
    Image.fromarray(np.zeros((300, 400, 3), np.uint8)).save(tmp_path / "big.jpg")
    Image.fromarray(np.zeros((100, 120, 3), np.uint8)).save(tmp_path / "small.png")
    res = run("check", tmp_path)
    assert res.exit_code == 0, res.output
    assert "2 images, 2 decode" in res.output
    assert "width  min 120  median 260  max 400" in res.output
    assert "1 smaller than 256" in res.output
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    res = run("check", tmp_path)
    assert res.exit_code == 1 and "broken.jpg: does not decode" in res.output


def test_faces_writes_aligned_crops(tmp_path):
    pytest.importorskip("dlib")
    if not ASTRONAUT.is_file():
        pytest.skip("no astronaut sample in this checkout")
    (tmp_path / "photos").mkdir()
    shutil.copy(ASTRONAUT, tmp_path / "photos" / "astro.jpg")
    Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(tmp_path / "photos" / "blank.png")
    res = run("faces", tmp_path / "photos", "-o", tmp_path / "faces", "--size", "128", "--upsample", "0")
    assert res.exit_code == 0, res.output
    assert "1 faces from 2 photos" in res.output and "1 photos without a face" in res.output
    crop = Image.open(tmp_path / "faces" / "astro_face0.png")
    assert crop.size == (128, 128)


def test_vgg_convert_needs_trust_and_writes_safetensors(tmp_path):
    from animegan.nn import vgg as V

    raw = {}
    shapes = {0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128), 10: (256, 128)}
    for name, idx in V.LAYERS.items():
        if name.startswith("conv"):
            o, c = shapes.get(idx, (512, 512) if idx > 18 else (256, 256))
            if idx == 19:
                o, c = 512, 256
            raw[name] = [np.zeros((3, 3, c, o), np.float32), np.zeros(o, np.float32)]
    np.save(tmp_path / "vgg19.npy", raw, allow_pickle=True)
    res = run("vgg-convert", tmp_path / "vgg19.npy", "-o", tmp_path / "vgg19")
    assert res.exit_code == 1 and "--trust-pickle" in res.output
    res = run("vgg-convert", tmp_path / "vgg19.npy", "-o", tmp_path / "vgg19", "--trust-pickle")
    assert res.exit_code == 0, res.output
    net = V.build_perceptual(str(tmp_path / "vgg19.safetensors"), layer="relu1_1")
    assert net.normalization == "caffe"
    assert torch.equal(net(torch.zeros(1, 3, 4, 4)), torch.zeros(1, 64, 4, 4))
