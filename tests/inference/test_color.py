"""The colour-and-tone stage (palette): synthetic images, the figures, and every entry point."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from animegan.errors import InputError
from animegan.evaluation.quality import image_figures
from animegan.hub.weights import ModelInfo, save_weights
from animegan.inference import processing as proc
from animegan.inference.color import DEFAULT_PALETTE, apply_palette, guided_filter, rgb_to_yuv, yuv_to_rgb
from animegan.inference.options import StylizeOptions
from animegan.inference.stylizer import Stylizer
from animegan.nn import build_generator

DEFAULT_STYLE = "shinkai"


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_generator("cartoongan", {"base_channels": 8, "n_res_blocks": 1}).eval()


@pytest.fixture(scope="module")
def model_file(model, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("color-model") / "tiny.safetensors"
    return save_weights(path, model, ModelInfo(arch="cartoongan", config={"base_channels": 8, "n_res_blocks": 1},
                                               style="tiny", provenance="random test weights"))


@pytest.fixture(scope="module")
def shipped() -> Stylizer:
    """The package's default style, exact fp32."""
    return Stylizer(DEFAULT_STYLE, device="cpu", precision="fp32")


def _photo(width: int = 80, height: int = 56, seed: int = 0) -> Image.Image:
    """Photo-like: a blue-sky gradient over green ground, a red block, noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.zeros((height, width, 3), np.float32)
    sky = y < height / 2
    rgb[sky] = np.stack([90 + y * 2, 140 + y, 230 - x / 4], -1)[sky]
    rgb[~sky] = np.stack([50 + x / 3, 120 + x / 4, 40 + y / 4], -1)[~sky]
    rgb[height // 3: height // 3 + 14, width // 2: width // 2 + 18] = (200, 40, 50)
    rgb += rng.normal(0, 5, rgb.shape)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def _arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.float32)


# ---- the stage itself --------------------------------------------------------------------------

@pytest.mark.parametrize("colour", [(90, 150, 220), (60, 140, 50), (230, 190, 160), (128, 128, 128), (20, 20, 40)])
def test_flat_colour_keeps_its_colour_through_the_default_stage(shipped, colour):
    # a flat photo is the network's worst case: instance norm erases the input, the raw output is
    # the same dark patterned image whatever the colour (over 100 levels away)
    img = Image.new("RGB", (64, 48), colour)
    raw = _arr(shipped.stylize(img, StylizeOptions(palette=1.0)))
    assert np.abs(raw - colour).max() > 100
    out = _arr(shipped.stylize(img))
    assert np.abs(out - colour).max() <= 2


def test_flat_colour_keeps_its_colour_whatever_the_output(shipped):
    rng = np.random.default_rng(1)
    photo = np.full((40, 50, 3), (0.8, 0.3, 0.1), np.float32)
    for _ in range(3):
        out = rng.random((40, 50, 3), dtype=np.float32)  # any network output at all
        for palette in (0.0, 0.25, DEFAULT_PALETTE, 0.5):
            got = apply_palette(out, photo, palette)
            assert np.abs(got - photo).max() <= 2 / 255


def test_grey_ramp_keeps_its_tone_order_and_stays_grey():
    ramp = np.tile(np.linspace(0.0, 1.0, 200, dtype=np.float32)[None, :, None], (8, 1, 3))
    # a stylized output of it: darker, less contrast, a warm cast, a soft tone curve
    out = np.clip(0.15 + 0.55 * ramp ** 1.4 + np.array([0.06, 0.02, -0.05], np.float32), 0, 1)
    for palette in (0.0, DEFAULT_PALETTE, 0.5, 0.8):
        got = apply_palette(out, ramp, palette)
        luma = rgb_to_yuv(got)[:, :, 0].mean(axis=0)
        assert np.all(np.diff(luma) > 0), palette
    got = apply_palette(out, ramp, DEFAULT_PALETTE)
    assert np.abs(got - got.mean(axis=2, keepdims=True)).max() <= 1 / 255  # the cast is gone: still grey
    assert abs(float(got.mean()) - float(ramp.mean())) < 1 / 255  # the photo's brightness


def test_grey_steps_keep_their_order_through_the_default_style(shipped):
    steps = np.repeat(np.linspace(20, 235, 8).astype(np.uint8), 16)  # 8 flat grey bands, 16 px wide
    img = Image.fromarray(np.tile(steps[None, :, None], (48, 1, 3)))
    luma = rgb_to_yuv(_arr(shipped.stylize(img)))[:, :, 0]
    bands = [luma[8:-8, 16 * i + 4: 16 * i + 12].mean() for i in range(8)]
    assert np.all(np.diff(bands) > 0), bands


def test_palette_one_is_the_raw_network_output_and_zero_the_photo_colours(model):
    stylizer = Stylizer(model, precision="fp32")
    img = _photo()
    raw = _arr(stylizer.stylize(img, StylizeOptions(palette=1.0)))
    bare = proc.to_uint8(stylizer.forward_rgb(_arr(img)[None] / 255)[0]).astype(np.float32)
    assert np.array_equal(raw, bare)
    photo = _arr(img)
    figures = {p: image_figures(photo, _arr(stylizer.stylize(img, StylizeOptions(palette=p))))
               for p in (0.0, DEFAULT_PALETTE, 1.0)}
    assert figures[1.0]["chroma_dev"] > 10  # the random network recolours heavily
    assert figures[0.0]["chroma_dev"] < 2.0 and figures[0.0]["chroma_shift"] < 1.0
    assert figures[0.0]["brightness_shift"] < 1.0
    assert figures[0.0]["chroma_dev"] < figures[DEFAULT_PALETTE]["chroma_dev"] < figures[1.0]["chroma_dev"]
    assert figures[DEFAULT_PALETTE]["chroma_shift"] < 1.0  # below 0.5 the photo's overall colour stays


def test_palette_is_continuous_up_to_the_raw_output(model):
    stylizer = Stylizer(model, precision="fp32")
    img = _photo(seed=3)
    raw = _arr(stylizer.stylize(img, StylizeOptions(palette=1.0)))
    near = _arr(stylizer.stylize(img, StylizeOptions(palette=0.99)))
    half = _arr(stylizer.stylize(img, StylizeOptions(palette=0.5)))
    assert np.abs(near - raw).mean() < 1.0 < np.abs(half - raw).mean()


def test_chroma_smoothing_flattens_colour_noise_but_keeps_luma_edges():
    rng = np.random.default_rng(0)
    luma = np.zeros((64, 64), np.float32)
    luma[:, 32:] = 0.8
    chroma = np.zeros((64, 64, 2), np.float32)
    chroma[:, 32:] = (0.1, -0.1)
    noisy = chroma + rng.normal(0, 0.03, chroma.shape).astype(np.float32)
    smooth = guided_filter(luma, noisy, radius=4)
    assert smooth[:, 4:28].std() < 0.3 * noisy[:, 4:28].std()  # noise flattened inside each region
    assert abs(float(smooth[:, 36:, 0].mean()) - 0.1) < 0.01 and abs(float(smooth[:, :28, 0].mean())) < 0.01
    yuv = np.dstack([luma, noisy])
    assert np.abs(rgb_to_yuv(yuv_to_rgb(yuv)) - yuv).max() < 1e-5


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_bad_palette_is_one_clear_error(bad):
    with pytest.raises(InputError, match="^palette "):
        StylizeOptions(palette=bad)


# ---- every entry point -------------------------------------------------------------------------

def test_library_stylize_batch_and_frames_all_apply_the_palette(model):
    stylizer = Stylizer(model, precision="fp32")
    imgs = [_photo(seed=s) for s in range(3)]
    frames = np.stack([np.asarray(i) for i in imgs])
    for palette in (0.0, 0.3, 1.0):
        opts = StylizeOptions(palette=palette)
        one = [_arr(stylizer.stylize(i, opts)) for i in imgs]
        batch = [_arr(o) for o in stylizer.stylize_batch(imgs, opts)]
        video = stylizer.stylize_frames(frames, opts).astype(np.float32)
        for a, b, c in zip(one, batch, video, strict=True):
            assert np.abs(a - b).max() <= 1 and np.abs(a - c).max() <= 1
    low = stylizer.stylize_frames(frames, StylizeOptions(palette=0.0)).astype(np.float32)
    raw = stylizer.stylize_frames(frames, StylizeOptions(palette=1.0)).astype(np.float32)
    assert image_figures(frames[0], low[0])["chroma_dev"] < 0.3 * image_figures(frames[0], raw[0])["chroma_dev"]
    # the options given at construction are the defaults of every call
    assert np.array_equal(Stylizer(model, precision="fp32", options=StylizeOptions(palette=1.0)).stylize_frames(frames),
                          raw.astype(np.uint8))


def test_onnx_backend_applies_the_same_stage(model):
    pytest.importorskip("onnxruntime")
    img = _photo(seed=5)
    opts = StylizeOptions(palette=0.2)
    via_torch = _arr(Stylizer(model, precision="fp32").stylize(img, opts))
    via_onnx = _arr(Stylizer(model, precision="fp32", backend="onnx").stylize(img, opts))
    raw_onnx = _arr(Stylizer(model, precision="fp32", backend="onnx").stylize(img, StylizeOptions(palette=1.0)))
    assert np.abs(via_onnx - via_torch).max() <= 2
    assert np.abs(via_onnx - raw_onnx).mean() > 5


def test_cli_stylize_palette_flag(model, model_file, tmp_path):
    from typer.testing import CliRunner

    from animegan.cli.main import app

    src = tmp_path / "a.png"
    _photo(seed=7).save(src)
    for palette in ("0", "1"):
        result = CliRunner().invoke(app, ["stylize", str(src), "-o", str(tmp_path / f"p{palette}.png"),
                                          "-m", str(model_file), "--precision", "fp32", "--palette", palette])
        assert result.exit_code == 0, result.output
    stylizer = Stylizer(model, precision="fp32")
    for palette in (0.0, 1.0):
        expected = _arr(stylizer.stylize(Image.open(src), StylizeOptions(palette=palette)))
        assert np.abs(_arr(Image.open(tmp_path / f"p{palette:g}.png")) - expected).max() <= 1
    bad = CliRunner().invoke(app, ["stylize", str(src), "-o", str(tmp_path / "bad.png"), "-m", str(model_file),
                                   "--palette", "1.5"])
    assert bad.exit_code != 0 and "--palette 1.5" in bad.output and not (tmp_path / "bad.png").exists()


def test_cli_video_palette_flag(model_file, tmp_path):
    pytest.importorskip("av")
    from typer.testing import CliRunner

    from animegan.cli.main import app
    from animegan.video.samples import read_frames, write_clip

    clip = write_clip(tmp_path / "clip.mp4", width=64, height=48, seconds=0.32, audio=None)
    frames_in = read_frames(clip).astype(np.float32)
    devs = {}
    for palette in ("0", "1"):
        out = tmp_path / f"out{palette}.mp4"
        result = CliRunner().invoke(app, ["video", str(clip), "-o", str(out), "-m", str(model_file), "--device",
                                          "cpu", "--precision", "fp32", "--palette", palette])
        assert result.exit_code == 0, result.output
        frames = read_frames(out).astype(np.float32)
        assert frames.shape == frames_in.shape
        devs[palette] = np.mean([image_figures(a, b)["chroma_dev"] for a, b in zip(frames_in, frames, strict=True)])
    assert devs["0"] < 0.3 * devs["1"]
    bad = CliRunner().invoke(app, ["video", str(clip), "-o", str(tmp_path / "bad.mp4"), "-m", str(model_file),
                                   "--palette", "-1"])
    assert bad.exit_code != 0 and "--palette -1" in bad.output and not (tmp_path / "bad.mp4").exists()


def _server_helpers():
    path = Path(__file__).resolve().parents[1] / "server" / "server_helpers.py"
    spec = importlib.util.spec_from_file_location("color_server_helpers", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_server_palette_field(model, model_file, tmp_path):
    pytest.importorskip("fastapi")
    helpers = _server_helpers()
    # fp32 on both sides: the server's --precision auto is bf16 on a CPU with AVX512-BF16 or AMX
    server = helpers.start_server(tmp_path, model_file, "--precision", "fp32")
    try:
        img = _photo(seed=9)
        data = helpers.encoded(img)
        stylizer = Stylizer(model, precision="fp32")
        with server.client() as client:
            for palette in (0.0, 1.0):
                response = client.post("/api/v1/stylize", files={"image": ("p.png", data, "image/png")},
                                       data={"palette": str(palette)})
                assert response.status_code == 200, response.text
                got = _arr(Image.open(io.BytesIO(response.content)).convert("RGB"))
                expected = _arr(stylizer.stylize(img, StylizeOptions(palette=palette)))
                assert np.abs(got - expected).max() <= 1
            bad = client.post("/api/v1/stylize", files={"image": ("p.png", data, "image/png")},
                              data={"palette": "2"})
            assert bad.status_code == 422 and "palette" in bad.text
    finally:
        helpers.stop_server(server)
