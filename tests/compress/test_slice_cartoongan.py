"""Slicing a narrower CartoonGAN out of a trained one: exact at full width, close when narrower."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from animegan.compress.distill import DistillConfig, distill
from animegan.compress.slice_cartoongan import channel_importance, slice_cartoongan
from animegan.errors import ModelError
from animegan.hub.loading import load_generator_file
from animegan.nn.cartoongan import CartoonGANConfig, CartoonGANGenerator

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "animegan" / "samples"
SHIPPED = Path(__file__).resolve().parents[2] / "src" / "animegan" / "weights" / "shinkai.safetensors"


def photos(size: int = 64) -> torch.Tensor:
    """The bundled sample photos, centre-cropped to ``size``², RGB in [-1, 1]."""
    out = []
    for p in sorted(SAMPLES.glob("*.jpg")):
        with Image.open(p) as im:
            im = im.convert("RGB")
            s = size / min(im.size)
            im = im.resize((max(size, round(im.width * s)), max(size, round(im.height * s))))
            x, y = (im.width - size) // 2, (im.height - size) // 2
            out.append(np.asarray(im.crop((x, y, x + size, y + size))))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 127.5 - 1


@pytest.fixture(scope="module")
def shipped() -> CartoonGANGenerator:
    return load_generator_file(SHIPPED)[0]


def test_full_width_slice_is_the_same_network():
    torch.manual_seed(0)
    src = CartoonGANGenerator(CartoonGANConfig(base_channels=8, n_res_blocks=2)).eval()
    x = photos(32)
    same = slice_cartoongan(src, x, base_channels=8)
    with torch.no_grad():
        assert (same(x) - src(x)).abs().max() < 1e-5


def test_narrower_slice_keeps_the_look_of_the_trained_network(shipped):
    x = photos(64)
    width = shipped.config.base_channels // 2
    half = slice_cartoongan(shipped, x[:2], base_channels=width, n_res_blocks=8)
    assert half.config == CartoonGANConfig(width, 8)
    assert sum(p.numel() for p in half.parameters()) < 0.26 * sum(p.numel() for p in shipped.parameters())
    torch.manual_seed(0)
    fresh = CartoonGANGenerator(CartoonGANConfig(width, 8)).eval()
    with torch.no_grad():
        target = shipped(x)
        sliced_err = (half(x) - target).abs().mean().item()
        fresh_err = (fresh(x) - target).abs().mean().item()
    # the slice starts much nearer the trained network than a fresh one of the same size
    assert sliced_err < 0.6 * fresh_err


def _padded_with_dead_channels(small: CartoonGANGenerator, base: int) -> CartoonGANGenerator:
    """A wider copy of ``small``: every extra channel is produced (random weights) but read by nothing."""
    wide = CartoonGANGenerator(CartoonGANConfig(base, small.config.n_res_blocks)).eval()
    state = wide.state_dict()
    with torch.no_grad():
        for key, value in small.state_dict().items():
            target = state[key]
            if key.endswith("weight"):
                transposed = isinstance(getattr(wide, key.split(".")[0]), torch.nn.ConvTranspose2d)
                in_dim = 0 if transposed else 1
                index = [slice(None)] * target.dim()
                index[in_dim] = slice(value.shape[in_dim], None)
                target[tuple(index)] = 0  # extra input channels are not read
            target[tuple(slice(0, n) for n in value.shape)] = value
    wide.load_state_dict(state)
    return wide


def test_slicing_finds_the_unread_channels_and_drops_exactly_those():
    torch.manual_seed(0)
    small = CartoonGANGenerator(CartoonGANConfig(base_channels=6, n_res_blocks=2)).eval()
    wide = _padded_with_dead_channels(small, base=8)
    x = photos(32)
    with torch.no_grad():
        assert (wide(x) - small(x)).abs().max() < 1e-5  # the extra channels change nothing
    scores = channel_importance(wide, x)
    assert float(scores["g8"][6:].max()) == 0.0 < float(scores["g8"][:6].min())
    assert float(scores["R"][24:].max()) == 0.0 < float(scores["R"][:24].min())
    for refit in (False, True):
        cut = slice_cartoongan(wide, x, base_channels=6, refit=refit)
        with torch.no_grad():
            assert (cut(x) - small(x)).abs().max() < 1e-4, refit


@pytest.mark.parametrize("kwargs, message", [({"base_channels": 0}, "base_channels must be in 1..8"),
                                             ({"base_channels": 9}, "base_channels must be in 1..8"),
                                             ({"base_channels": 4, "n_res_blocks": 3}, "n_res_blocks must be in 1..2")])
def test_bad_widths_are_clear_errors(kwargs, message):
    src = CartoonGANGenerator(CartoonGANConfig(base_channels=8, n_res_blocks=2))
    with pytest.raises(ModelError, match=message):
        slice_cartoongan(src, photos(32), **kwargs)


def test_distill_starts_from_a_slice_of_the_teacher(tmp_path):
    torch.manual_seed(0)
    teacher = CartoonGANGenerator(CartoonGANConfig(base_channels=8, n_res_blocks=2))
    from animegan.hub.weights import ModelInfo, save_weights

    save_weights(tmp_path / "t.safetensors", teacher, ModelInfo(arch="cartoongan", config={"base_channels": 8, "n_res_blocks": 2}))
    (tmp_path / "photos").mkdir()
    for p in sorted(SAMPLES.glob("*.jpg"))[:2]:
        Image.open(p).convert("RGB").resize((64, 48)).save(tmp_path / "photos" / f"{p.stem}.png")
    cfg = DistillConfig(teacher=str(tmp_path / "t.safetensors"), photos=[str(tmp_path / "photos")],
                        run_dir=str(tmp_path / "run"), style="t", student_arch="cartoongan",
                        student_config={"base_channels": 4, "n_res_blocks": 1}, student_init="teacher-slice",
                        crop_size=32, n_crops=4, long_side_range=(48, 64), steps=2, batch_size=2,
                        w_perceptual=0.0, checkpoint_every=1, log_every=1, threads=1)
    student, info = load_generator_file(distill(cfg))
    assert info.arch == "cartoongan" and student.config == CartoonGANConfig(4, 1)

    bad = DistillConfig(**{**cfg.__dict__, "student_arch": "animeganv2", "student_config": {},
                           "run_dir": str(tmp_path / "run2")})
    with pytest.raises(ModelError, match="teacher-slice' needs a CartoonGAN teacher and a CartoonGAN student"):
        distill(bad)
