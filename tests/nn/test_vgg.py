"""VGG19 features: torchvision names and shapes, strict loading, caffe conversion, missing weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from animegan.errors import ConfigError, ModelError, WeightsMismatchError
from animegan.nn import vgg as V

# torchvision's vgg19 ``features`` conv indices and weight shapes, written out by hand
TORCHVISION_CONVS = {
    0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128),
    10: (256, 128), 12: (256, 256), 14: (256, 256), 16: (256, 256),
    19: (512, 256), 21: (512, 512), 23: (512, 512), 25: (512, 512),
    28: (512, 512), 30: (512, 512), 32: (512, 512), 34: (512, 512),
}


def torchvision_like_state(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for i, (o, c) in TORCHVISION_CONVS.items():
        state[f"features.{i}.weight"] = torch.randn(o, c, 3, 3, generator=g) * 0.05
        state[f"features.{i}.bias"] = torch.randn(o, generator=g) * 0.01
    state["classifier.0.weight"] = torch.zeros(8, 8)  # classifier keys are present in the real file
    return state


def test_names_and_shapes_match_torchvision_layout():
    net = V.VGG19Features("conv5_4")
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    expected = {}
    for i, (o, c) in TORCHVISION_CONVS.items():
        expected[f"features.{i}.weight"], expected[f"features.{i}.bias"] = (o, c, 3, 3), (o,)
    assert shapes == expected
    assert V.LAYERS["conv4_4"] == 25 and V.LAYERS["relu4_1"] == 20 and V.LAYERS["conv5_4"] == 34


def test_network_is_truncated_after_the_chosen_layer():
    conv = V.VGG19Features("conv4_4")
    relu = V.VGG19Features("relu4_1")
    assert len(conv.features) == 26 and isinstance(conv.features[-1], torch.nn.Conv2d)
    assert len(relu.features) == 21 and isinstance(relu.features[-1], torch.nn.ReLU)
    out = conv(torch.zeros(1, 3, 32, 32))
    assert out.shape == (1, 512, 4, 4)
    assert (out < 0).any()  # conv4_4 is taken before its ReLU


def test_torchvision_state_loads_strictly_and_features_depend_on_it(tmp_path):
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    state = torchvision_like_state()
    torch.save(state, path)
    a = V.build_perceptual(str(path), layer="relu4_1")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert torch.equal(a.features[19].weight, state["features.19.weight"])
    assert not any(p.requires_grad for p in a.parameters())
    torch.save(torchvision_like_state(seed=1), path)
    b = V.build_perceptual(str(path), layer="relu4_1")
    assert not torch.allclose(a(x), b(x))


def test_state_with_a_wrong_shape_is_rejected(tmp_path):
    state = torchvision_like_state()
    state["features.21.weight"] = torch.zeros(512, 256, 3, 3)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(WeightsMismatchError, match="features.21.weight"):
        V.build_perceptual(str(path))


def test_hub_cache_is_the_default_location(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(ModelError) as err:
        V.build_perceptual("torchvision")
    msg = str(err.value)
    assert V.TORCHVISION_URL in msg and str(tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth") in msg
    assert "model.vgg_weights=random" in msg and "teacher-encoder" in msg
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(torchvision_like_state(), tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth")
    assert isinstance(V.build_perceptual("torchvision"), V.VGG19Features)


def test_missing_configured_file_says_what_to_download(tmp_path):
    with pytest.raises(ModelError, match=r"save torchvision's VGG19 \(https://download.pytorch.org/models/"
                                         r"vgg19-dcbb9e9d.pth\) at .*nowhere.pth"):
        V.build_perceptual(str(tmp_path / "nowhere.pth"))


def test_caffe_npy_conversion_needs_trust_and_flips_bgr(tmp_path):
    rng = np.random.default_rng(0)
    raw = {}
    for name, idx in V.LAYERS.items():
        if name.startswith("conv"):
            o, c = TORCHVISION_CONVS[idx]
            raw[name] = [rng.standard_normal((3, 3, c, o)).astype(np.float32), rng.standard_normal(o).astype(np.float32)]
    src = tmp_path / "vgg19.npy"
    np.save(src, raw, allow_pickle=True)
    with pytest.raises(ModelError, match="trust-pickle"):
        V.convert_caffe_npy(src)
    state = V.convert_caffe_npy(src, trust_pickle=True)
    # HWIO -> OIHW; conv1_1 input channels reversed (caffe BGR -> RGB)
    assert torch.equal(state["features.0.weight"][5, 0], torch.from_numpy(raw["conv1_1"][0][:, :, 2, 5]))
    assert torch.equal(state["features.2.weight"][7, 3], torch.from_numpy(raw["conv1_2"][0][:, :, 3, 7]))
    out = tmp_path / "vgg19_caffe.safetensors"
    save_file(state, str(out))
    net = V.build_perceptual(str(out), layer="conv1_1")
    assert net.normalization == "caffe"
    # caffe net on RGB == the raw caffe conv on BGR minus the caffe mean, in 0..255
    x = torch.rand(1, 3, 8, 8) * 2 - 1
    bgr = (x.flip(1) + 1) * 127.5 - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
    w = torch.from_numpy(raw["conv1_1"][0]).permute(3, 2, 0, 1)
    ref = torch.nn.functional.conv2d(bgr, w, torch.from_numpy(raw["conv1_1"][1]), padding=1)
    assert torch.allclose(net(x), ref, atol=1e-3)


def test_npy_is_not_read_directly(tmp_path):
    (tmp_path / "vgg19.npy").write_bytes(b"x")
    with pytest.raises(ModelError, match="vgg-convert"):
        V.build_perceptual(str(tmp_path / "vgg19.npy"))


def test_imagenet_normalisation():
    net = V.VGG19Features("conv1_1", "imagenet")
    x = torch.rand(1, 3, 2, 2) * 2 - 1
    expected = ((x + 1) / 2 - torch.tensor(V.IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(V.IMAGENET_STD).view(1, 3, 1, 1)
    assert torch.allclose((x - net.shift) * net.scale, expected, atol=1e-6)


def test_random_vgg_is_seeded_and_bad_names_raise():
    a = V.build_perceptual("random", layer="relu3_1", seed=3)
    b = V.build_perceptual("random", layer="relu3_1", seed=3)
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    assert torch.equal(a(x), b(x)) and a(x).abs().mean() > 0
    with pytest.raises(ConfigError, match="unknown VGG19 layer 'relu9_9'"):
        V.VGG19Features("relu9_9")
    with pytest.raises(ConfigError, match="teacher"):
        V.build_perceptual("teacher-encoder")


def test_teacher_encoder_features(shared_data):
    net = V.build_perceptual("teacher-encoder", teacher=shared_data / "teachers/cartoongan/shinkai", n_res=2)
    out = net(torch.zeros(1, 3, 32, 32))
    assert out.shape == (1, 256, 8, 8)
