"""CartoonGAN generator: teacher-file key names, instance norm maths, RGB/BGR handling, stat freezing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from animegan.nn import build_generator
from animegan.nn.cartoongan import (
    CartoonGANConfig,
    CartoonGANGenerator,
    InstanceNormScaleShift,
    load_npy_folder,
)


def tiny(seed: int = 0) -> CartoonGANGenerator:
    torch.manual_seed(seed)
    return CartoonGANGenerator(CartoonGANConfig(base_channels=4, n_res_blocks=2)).eval()


def test_state_dict_keys_are_the_teacher_file_stems(shared_data):
    stems = {p.name[:-4] for p in (shared_data / "teachers/cartoongan/shinkai").glob("*.npy")}
    assert set(CartoonGANGenerator().state_dict()) == stems


def test_npy_folder_loads_strict_and_reproduces_outputs(tmp_path):
    model = tiny()
    for key, value in model.state_dict().items():
        np.save(tmp_path / f"{key}.npy", value.numpy())
    clone = CartoonGANGenerator(CartoonGANConfig(base_channels=4, n_res_blocks=2))
    clone.load_state_dict(load_npy_folder(str(tmp_path)), strict=True)
    x = torch.rand(1, 3, 32, 24) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(model(x), clone.eval()(x), atol=1e-6)


def test_built_from_saved_config_by_arch_name():
    model = build_generator("cartoongan", {"base_channels": 8, "n_res_blocks": 3})
    assert isinstance(model, CartoonGANGenerator)
    assert "conv06_2.weight" in model.state_dict() and "conv07_1.weight" not in model.state_dict()


def test_instance_norm_matches_torch_instance_norm_then_scale_shift():
    norm = InstanceNormScaleShift(5)
    with torch.no_grad():
        norm.scale.copy_(torch.linspace(0.5, 2, 5))
        norm.shift.copy_(torch.linspace(-1, 1, 5))
    x = torch.randn(2, 5, 7, 9) * 3 + 1
    ref = F.instance_norm(x, eps=1e-9) * norm.scale.view(1, -1, 1, 1) + norm.shift.view(1, -1, 1, 1)
    assert torch.allclose(norm(x), ref, atol=1e-5)


def test_forward_takes_rgb_and_feeds_the_network_bgr():
    model = tiny()
    with torch.no_grad():
        model.conv01_1.weight[:, 1:] = 0  # the network's first input channel is blue
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    y = x.clone()
    y[:, :2] = torch.rand(1, 2, 16, 16)  # change red and green only
    with torch.no_grad():
        assert torch.allclose(model(x), model(y), atol=1e-6)
        z = x.clone()
        z[:, 2] = -z[:, 2]
        assert (model(x) - model(z)).abs().max() > 1e-3


def test_output_shape_and_range():
    with torch.no_grad():
        out = tiny()(torch.rand(2, 3, 20, 28) * 2 - 1)
    assert out.shape == (2, 3, 20, 28) and out.abs().max() <= 1


def test_frozen_statistics_make_a_crop_match_the_whole_image_interior():
    model = tiny()
    norms = [m for m in model.modules() if isinstance(m, InstanceNormScaleShift)]
    x = torch.rand(1, 3, 128, 128) * 2 - 1
    with torch.no_grad():
        for n in norms:
            n.record_stats = True
        full = model(x)
        for n in norms:
            n.freeze()
        crop = model(x[:, :, :96, :96])
        for n in norms:
            n.unfreeze()
        live_crop = model(x[:, :, :96, :96])
    # away from the crop border the frozen-stat crop equals the full image; live stats differ
    frozen_err = (crop - full[:, :, :96, :96])[:, :, :40, :40].abs().max()
    live_err = (live_crop - full[:, :, :96, :96])[:, :, :40, :40].abs().max()
    assert frozen_err < 0.2 * live_err
    assert all(n.frozen is None and n.recorded is None for n in norms)


def test_freeze_without_recorded_statistics_is_an_error():
    with pytest.raises(RuntimeError, match="no statistics recorded"):
        InstanceNormScaleShift(3).freeze()


def test_released_shinkai_teacher_stylizes_a_photo(shared_data):
    from PIL import Image

    model = CartoonGANGenerator()
    model.load_state_dict(load_npy_folder(str(shared_data / "teachers/cartoongan/shinkai")), strict=True)
    photo = min((shared_data / "eval/animegan_test").glob("*.jpg"))
    im = Image.open(photo).convert("RGB").resize((96, 64))
    x = torch.from_numpy(np.array(im)).permute(2, 0, 1)[None].float() / 127.5 - 1
    with torch.no_grad():
        y = model.eval()(x)
    diff = (y - x).abs().mean() * 127.5
    assert y.shape == x.shape
    assert 5 < diff < 60  # visibly changed, still the same picture
    assert torch.corrcoef(torch.stack([x.flatten(), y.flatten()]))[0, 1] > 0.6
