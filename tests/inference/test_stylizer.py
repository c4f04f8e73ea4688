"""Stylizer: sizes, modes, alpha, exact fp32, batching, frames, options, device errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from animegan.errors import DeviceError, InputError
from animegan.inference.options import StylizeOptions
from animegan.inference.stylizer import Stylizer, load_model, stylize_image
from animegan.nn.animeganv2 import AnimeGANv2Generator


@pytest.fixture(scope="module")
def model() -> AnimeGANv2Generator:
    torch.manual_seed(0)
    return AnimeGANv2Generator().eval()


@pytest.fixture(scope="module")
def exact(model) -> Stylizer:
    return Stylizer(model, precision="fp32")


def _rgb(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, height // 8), max(2, width // 8), 3), dtype=np.uint8)
    return Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)


def _bare_forward(model, img: Image.Image) -> np.ndarray:
    """The published recipe, written out: x/255*2-1 → G → clip → *0.5+0.5 → ×255 rounded."""
    x = torch.from_numpy(np.asarray(img, dtype=np.float32)).permute(2, 0, 1)[None] / 255 * 2 - 1
    with torch.no_grad():
        y = model(x)
    y = (y.clamp(-1, 1) * 0.5 + 0.5)[0].permute(1, 2, 0).numpy()
    return np.round(y * 255).astype(np.uint8)


def test_fp32_is_exactly_a_bare_forward(model, exact):
    img = _rgb(64, 48)
    assert exact.policy.precision == "fp32" and not exact.policy.channels_last
    raw = StylizeOptions(palette=1.0)  # the colour stage off: the network's own pixels
    assert np.array_equal(np.asarray(exact.stylize(img, raw)), _bare_forward(model, img))


@pytest.mark.parametrize("size", [(63, 37), (50, 71), (17, 9), (65, 65)])
def test_any_size_comes_back_the_same_size(exact, size):
    out = exact.stylize(_rgb(*size))
    assert out.size == size and out.mode == "RGB"


def test_padding_reflects_and_crops_back(model, exact):
    img = _rgb(62, 46)
    out = np.asarray(exact.stylize(img, StylizeOptions(palette=1.0)), np.float32)
    padded = np.pad(np.asarray(img), ((0, 2), (0, 2), (0, 0)), mode="reflect")
    ref = _bare_forward(model, Image.fromarray(padded))[:46, :62].astype(np.float32)
    assert np.array_equal(out, ref)


def test_rgba_keeps_its_alpha(exact):
    img = _rgb(40, 32).convert("RGBA")
    alpha = np.tile(np.linspace(0, 255, 40, dtype=np.uint8), (32, 1))
    img.putalpha(Image.fromarray(alpha))
    out = exact.stylize(img)
    assert out.mode == "RGBA" and np.array_equal(np.asarray(out)[:, :, 3], alpha)
    assert not np.array_equal(np.asarray(out)[:, :, :3], np.asarray(img)[:, :, :3])


@pytest.mark.parametrize("mode", ["L", "I;16", "I", "LA"])
def test_gray_and_16bit_come_back_in_their_mode(exact, mode):
    gray = np.asarray(_rgb(40, 24).convert("L"), np.uint16)
    if mode in ("I;16", "I"):
        img = Image.fromarray((gray * 257).astype(np.uint16 if mode == "I;16" else np.int32))
    else:
        img = Image.fromarray(gray.astype(np.uint8)).convert(mode)
    out = exact.stylize(img)
    assert out.mode == mode and out.size == img.size
    if mode in ("I;16", "I"):
        assert np.asarray(out).max() > 255  # the full 16-bit range, not 8-bit values in a 16-bit box


def test_strength_zero_returns_the_input(exact):
    for img in (_rgb(33, 21), Image.fromarray((np.arange(600).reshape(20, 30) * 100).astype(np.uint16))):
        out = exact.stylize(img, StylizeOptions(strength=0.0))
        assert np.array_equal(np.asarray(out), np.asarray(img))


def test_strength_blends_linearly(exact):
    img = _rgb(32, 32)
    full = np.asarray(exact.stylize(img), np.float32)
    half = np.asarray(exact.stylize(img, StylizeOptions(strength=0.5)), np.float32)
    expected = 0.5 * full + 0.5 * np.asarray(img, np.float32)
    assert np.abs(half - expected).max() <= 1.0


def test_match_brightness_equalises_mean_luma(exact):
    img = _rgb(48, 32)
    out = np.asarray(exact.stylize(img, StylizeOptions(match_brightness=True)), np.float32)
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    assert abs((out @ luma).mean() - (np.asarray(img, np.float32) @ luma).mean()) < 1.5


def test_face_mode_crops_the_centre_square_to_face_size(exact):
    img = _rgb(120, 80)
    out = exact.stylize(img, StylizeOptions(face=True, face_size=64))
    assert out.size == (64, 64)
    by_hand = img.crop((20, 0, 100, 80)).resize((64, 64), Image.Resampling.LANCZOS)
    assert np.abs(np.asarray(out, np.float32) - np.asarray(exact.stylize(by_hand), np.float32)).mean() < 2.0


def test_side_by_side_puts_input_left(exact):
    img = _rgb(30, 20)
    out = exact.stylize(img, StylizeOptions(side_by_side=True))
    assert out.size == (60, 20)
    assert np.array_equal(np.asarray(out)[:, :30], np.asarray(img))


def test_max_side_downscales_first(exact):
    out = exact.stylize(_rgb(100, 50), StylizeOptions(max_side=40))
    assert out.size == (40, 20)


def test_batch_equals_single(exact):
    images = [_rgb(40, 32, seed=s) for s in range(3)] + [_rgb(24, 24, seed=9)]
    batch = exact.stylize_batch(images)
    for img, out in zip(images, batch, strict=True):
        single = exact.stylize(img)
        assert out.size == img.size
        assert np.abs(np.asarray(out, np.int16) - np.asarray(single, np.int16)).max() <= 1


def test_frames_round_trip_and_match_stylize(exact):
    frames = np.stack([np.asarray(_rgb(32, 24, seed=s)) for s in range(3)])
    out = exact.stylize_frames(frames)
    assert out.shape == frames.shape and out.dtype == np.uint8
    single = np.asarray(exact.stylize(Image.fromarray(frames[1])), np.int16)
    assert np.abs(out[1].astype(np.int16) - single).max() <= 1


def test_bf16_default_path_stays_close_to_fp32(model, exact):
    fast = Stylizer(model, precision="bf16")
    assert fast.policy.channels_last
    img = _rgb(64, 64)
    diff = np.abs(np.asarray(fast.stylize(img), np.float32) - np.asarray(exact.stylize(img), np.float32))
    assert diff.mean() <= 2.0


def test_bf16_on_cpu_casts_a_private_copy_once(model):
    fast = Stylizer(model, precision="bf16", device="cpu")
    assert {t.dtype for t in fast.backend.model.state_dict().values()} == {torch.bfloat16}
    assert {t.dtype for t in model.state_dict().values()} == {torch.float32}  # the caller's module untouched


ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("trained", ["shinkai", str(ROOT / "benchmarks" / "models" / "animeganv2-shinkai.safetensors"),
                                     str(ROOT / "benchmarks" / "models" / "animeganv2-shinkai-pruned40.safetensors")])
def test_bf16_trained_model_stays_within_2_of_fp32_on_a_real_photo(trained):
    photo = Image.open(ROOT / "src" / "animegan" / "samples" / "chelsea.jpg").convert("RGB")
    opts = StylizeOptions(max_side=256)
    ref = np.asarray(Stylizer(trained, precision="fp32").stylize(photo, opts), np.float32)
    fast = np.asarray(Stylizer(trained, precision="bf16").stylize(photo, opts), np.float32)
    assert fast.shape == ref.shape and np.abs(fast - ref).mean() <= 2.0


def test_stylize_file_writes_png_for_alpha(exact, tmp_path):
    src = tmp_path / "in.png"
    _rgb(24, 16).convert("RGBA").save(src)
    written = exact.stylize_file(src, tmp_path / "out.jpg")
    assert written.name == "out.png" and Image.open(written).mode == "RGBA"


def test_stylize_image_accepts_a_module_and_options(model, tmp_path):
    src = tmp_path / "in.jpg"
    _rgb(40, 30).save(src)
    out = stylize_image(src, model, precision="fp32", max_side=20)
    assert out.size == (20, 15)
    with pytest.raises(InputError, match="unexpected keyword"):
        stylize_image(src, model, bogus=1)


def test_load_model_reads_a_weights_file(model, tmp_path):
    from animegan.hub.weights import ModelInfo, save_weights

    path = save_weights(tmp_path / "m.safetensors", model, ModelInfo(arch="animeganv2", style="test"))
    loaded, info = load_model(path)
    assert info.arch == "animeganv2" and not loaded.training
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values(),
                                                  strict=True))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_device_error(model):
    with pytest.raises(DeviceError, match="CUDA"):
        Stylizer(model, device="cuda")


def test_bad_options_are_input_errors_naming_the_parameter():
    # refused when built (a StylizeOptions is valid by construction), in the library's own words
    with pytest.raises(InputError, match="^strength 2.0: must be between 0 and 1$"):
        StylizeOptions(strength=2.0)
    with pytest.raises(InputError, match="^max_side 8: must be at least 16$"):
        stylize_image(_rgb(16, 16), max_side=8)


def test_public_api_is_importable_from_the_package():
    import animegan

    assert animegan.Stylizer is Stylizer and animegan.stylize_image is stylize_image
    assert animegan.StylizeOptions is StylizeOptions


def test_unknown_backend_is_an_input_error(model):
    with pytest.raises(InputError, match="^backend tensorrt: unknown") as info:
        Stylizer(model, backend="tensorrt")
    assert info.value.as_flag().startswith("--backend tensorrt: unknown")  # what the CLI prints


def test_tiling_leaves_the_shared_model_untouched(model, exact):
    img = _rgb(96, 64)
    before = np.asarray(exact.stylize(img))
    exact.stylize(img, StylizeOptions(tile=64, tile_pad=16))
    assert not any("forward" in m.__dict__ for m in model.modules())
    assert np.array_equal(np.asarray(exact.stylize(img)), before)


def test_concurrent_calls_give_the_same_result(exact):
    from concurrent.futures import ThreadPoolExecutor

    img = _rgb(96, 64)
    expected = np.asarray(exact.stylize(img))
    tiled_opts = StylizeOptions(tile=64, tile_pad=16)
    with ThreadPoolExecutor(2) as pool:
        plain = pool.submit(exact.stylize, img)
        tiled = pool.submit(exact.stylize, img, tiled_opts)
        assert np.array_equal(np.asarray(plain.result()), expected)
        assert np.abs(np.asarray(tiled.result(), np.int16) - expected).mean() < 2.0


def test_a_loaded_module_and_info_are_used_as_given(model, tmp_path):
    from animegan.hub.weights import ModelInfo, save_weights

    path = save_weights(tmp_path / "m.safetensors", model, ModelInfo(arch="animeganv2", style="given"))
    loaded = load_model(path)
    stylizer = Stylizer(loaded, precision="fp32")
    assert stylizer.info is loaded[1] and stylizer.backend.model is loaded[0]  # nothing loaded again
    img = _rgb(40, 24)
    assert np.array_equal(np.asarray(stylizer.stylize(img)), np.asarray(Stylizer(path, precision="fp32").stylize(img)))
    with pytest.raises(InputError, match=r"^model: a tuple must be \(module, ModelInfo\)"):
        Stylizer((model, "info"))


class _CountingBackend:
    """The fp32 torch backend, recording how many images each forward pass holds."""

    def __init__(self, model):
        from animegan.device import resolve_policy
        from animegan.inference.backends import TorchBackend

        self.inner = TorchBackend(model, resolve_policy("cpu", "fp32"))
        self.name, self.size_multiple = "counting", self.inner.size_multiple
        self.bytes_per_pixel, self.passes = self.inner.bytes_per_pixel, []

    def __call__(self, x):
        self.passes.append(x.shape[0])
        return self.inner(x)


def test_batch_size_sets_the_images_per_forward_pass(model, exact):
    images = [_rgb(40, 32, seed=s) for s in range(5)]
    counting = _CountingBackend(model)
    stylizer = Stylizer(backend=counting)
    batched = stylizer.stylize_batch(images, StylizeOptions(batch_size=2))
    assert counting.passes == [2, 2, 1]
    counting.passes.clear()
    stylizer.stylize_batch(images)
    assert counting.passes == [1] * 5  # the default: one image per pass
    for img, out in zip(images, batched, strict=True):
        assert np.abs(np.asarray(out, np.int16) - np.asarray(exact.stylize(img), np.int16)).max() <= 1


def test_max_side_is_applied_once_for_a_file(exact, tmp_path):
    # open_image only pre-reduces (JPEG draft never below max_side); the Stylizer does the exact downscale
    src = tmp_path / "big.jpg"
    _rgb(800, 400).save(src, quality=95)
    from animegan.io.images import open_image

    opened = open_image(src, max_side=100)
    assert 100 <= max(opened.size) < 800
    written = exact.stylize_file(src, tmp_path / "out.png", StylizeOptions(max_side=100))
    assert Image.open(written).size == (100, 50)
