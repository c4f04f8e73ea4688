"""Importers of foreign weights: torch pickles (safely), CartoonGAN .npy folders and .pth, checkpoints."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from animegan.errors import ModelError
from animegan.hub.importers import CARTOONGAN_LICENCE, detect_arch, import_weights, infer_config
from animegan.hub.loading import load_generator_file
from animegan.hub.weights import load_state_strict, save_weights
from animegan.nn import build_generator
from animegan.nn.animeganv2 import AnimeGANv2Generator
from animegan.nn.resnet_sam import ResNetSAMConfig, ResNetSAMGenerator


def cartoongan_shapes(c: int, n_res: int) -> dict[str, tuple]:
    """Tensor names and shapes of a CartoonGAN generator, from the teacher folder's README."""
    shapes: dict[str, tuple] = {}

    def conv(name: str, cin: int, cout: int, k: int, transposed: bool = False) -> None:
        shapes[f"{name}.weight"] = (cin, cout, k, k) if transposed else (cout, cin, k, k)
        shapes[f"{name}.bias"] = (cout,)

    def norm(name: str, ch: int) -> None:
        shapes[f"{name}.scale"] = shapes[f"{name}.shift"] = (ch,)

    conv("conv01_1", 3, c, 7), norm("in01_1", c)
    conv("conv02_1", c, 2 * c, 3), conv("conv02_2", 2 * c, 2 * c, 3), norm("in02_1", 2 * c)
    conv("conv03_1", 2 * c, 4 * c, 3), conv("conv03_2", 4 * c, 4 * c, 3), norm("in03_1", 4 * c)
    for i in range(4, 4 + n_res):
        conv(f"conv{i:02d}_1", 4 * c, 4 * c, 3), norm(f"in{i:02d}_1", 4 * c)
        conv(f"conv{i:02d}_2", 4 * c, 4 * c, 3), norm(f"in{i:02d}_2", 4 * c)
    conv("deconv01_1", 4 * c, 2 * c, 3, transposed=True), conv("deconv01_2", 2 * c, 2 * c, 3)
    norm("in12_1", 2 * c)
    conv("deconv02_1", 2 * c, c, 3, transposed=True), conv("deconv02_2", c, c, 3), norm("in13_1", c)
    conv("deconv03_1", c, 3, 7)
    return shapes


def fake_cartoongan_folder(folder, c: int = 4, n_res: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for key, shape in cartoongan_shapes(c, n_res).items():
        arrays[key] = (0.1 * rng.standard_normal(shape)).astype(np.float32)
        np.save(folder / f"{key}.npy", arrays[key])
    return arrays


def _sam_state(**cfg) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return ResNetSAMGenerator(ResNetSAMConfig(**{"width": 4, "n_res_blocks": 1, **cfg})).state_dict()


class _RunsCode:
    """Pickles to a call of ``os.mkdir(marker)``: loading it unsafely would create the folder."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_malicious_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"block_a.0.1.weight": torch.zeros(1), "payload": _RunsCode(str(marker))}, path)
    with pytest.raises(ModelError) as err:
        import_weights(path)
    message = str(err.value)
    assert message.startswith(f"{path}: refused to unpickle: it calls ")
    assert "mkdir" in message and message.endswith("(only plain tensor state dicts are accepted)")
    assert "\n" not in message
    assert not marker.exists()
    with pytest.raises(ModelError, match="refused to unpickle"):
        load_generator_file(path)
    assert not marker.exists()


def test_numpy_arrays_inside_a_pickle_are_refused(tmp_path):
    torch.save({"w": np.zeros(3)}, tmp_path / "np.pt")
    with pytest.raises(ModelError, match="refused to unpickle: it calls numpy"):
        import_weights(tmp_path / "np.pt")


@pytest.mark.parametrize("content,reason", [
    (b"", "empty file"),
    (b"hello, not weights", "neither a zip archive nor a pickle"),
    (b"PK\x03\x04broken zip", "not a readable PyTorch weights file"),
])
def test_foreign_bytes_with_a_torch_suffix_are_a_clear_error(tmp_path, content, reason):
    path = tmp_path / "w.pth"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=reason) as err:
        import_weights(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_truncated_torch_file_is_a_clear_error(tmp_path):
    path = tmp_path / "cut.pt"
    torch.save(AnimeGANv2Generator().state_dict(), path)
    path.write_bytes(path.read_bytes()[:100_000])
    with pytest.raises(ModelError, match="not a readable PyTorch weights file"):
        import_weights(path)


def test_unknown_format_and_missing_paths_are_named(tmp_path):
    (tmp_path / "w.onnx").write_bytes(b"onnx")
    with pytest.raises(ModelError, match=r"unknown weights format '\.onnx'"):
        import_weights(tmp_path / "w.onnx")
    with pytest.raises(ModelError, match="weights file not found"):
        import_weights(tmp_path / "absent.pt")
    with pytest.raises(ModelError, match="unknown architecture 'vgg'"):
        import_weights(tmp_path / "w.onnx", arch="vgg")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="holds no .npy files"):
        import_weights(tmp_path / "empty")


def test_published_layout_pt_is_recognised_and_loads_strictly(tmp_path):
    torch.manual_seed(0)
    model = AnimeGANv2Generator()
    torch.save(model.state_dict(), tmp_path / "my_paprika.pt")
    state, info = import_weights(tmp_path / "my_paprika.pt")
    assert info.arch == "animeganv2" and info.config == {} and info.style == "my_paprika"
    assert "my_paprika.pt" in info.provenance and "sha256 " in info.provenance
    # not one of the published files (git blob differs), so the licence stays cautious
    assert info.licence.startswith("unknown") and "non-commercial" in info.licence
    assert all(v.dtype == torch.float32 for v in state.values())
    load_state_strict(AnimeGANv2Generator(), state, "my_paprika.pt")


def test_fp16_pt_comes_back_fp32(tmp_path):
    state = {k: v.half() if v.is_floating_point() else v for k, v in _sam_state().items()}
    torch.save(state, tmp_path / "half.pt")
    loaded, info = import_weights(tmp_path / "half.pt")
    assert info.arch == "resnet_sam"
    assert loaded["down.0.1.weight"].dtype == torch.float32
    assert loaded["down.0.2.num_batches_tracked"].dtype == torch.int64
    assert torch.equal(loaded["down.0.1.weight"], state["down.0.1.weight"].float())


@pytest.mark.parametrize("wrap", ["state_dict", "module_prefix"])
def test_wrapped_state_dicts_are_unwrapped(tmp_path, wrap):
    state = _sam_state()
    obj = {"state_dict": state} if wrap == "state_dict" else {f"module.{k}": v for k, v in state.items()}
    torch.save(obj, tmp_path / "w.pt")
    loaded, info = import_weights(tmp_path / "w.pt")
    assert set(loaded) == set(state) and info.arch == "resnet_sam"


def test_training_checkpoint_yields_its_ema_generator_and_saved_config(tmp_path):
    ema = _sam_state(width=4, n_res_blocks=2, sam_kernel=3)
    raw = {k: torch.zeros_like(v) for k, v in ema.items()}
    checkpoint = {"format": "animegan-train-checkpoint/1", "step": 1200, "g": raw, "ema": ema,
                  "d": {"conv.weight": torch.zeros(1)}, "config": '{"training": "json"}'}
    torch.save(checkpoint, tmp_path / "00001200.pt")
    state, info = import_weights(tmp_path / "00001200.pt")
    assert all(torch.equal(state[k], ema[k]) for k in ema)
    assert info.arch == "resnet_sam"
    assert info.config == {"width": 4, "n_down": 3, "n_res_blocks": 2, "res_norm": False, "sam_kernel": 3}
    assert "under 'ema'" in info.provenance and "step 1200" in info.provenance
    model, _ = load_generator_file(tmp_path / "00001200.pt")
    assert model.config == ResNetSAMConfig(width=4, n_res_blocks=2, sam_kernel=3)


def test_checkpoint_with_recorded_arch_and_config_uses_them(tmp_path):
    state = _sam_state(width=4, n_res_blocks=1, res_norm=True)
    config = {"width": 4, "n_res_blocks": 1, "res_norm": True}
    torch.save({"g_ema": state, "arch": "resnet_sam", "config": config, "style": "ink", "licence": "CC-BY"},
               tmp_path / "run.pt")
    _, info = import_weights(tmp_path / "run.pt")
    assert (info.arch, info.config, info.style, info.licence) == ("resnet_sam", config, "ink", "CC-BY")


def test_checkpoint_without_a_generator_is_refused_with_its_keys(tmp_path):
    torch.save({"optimizer": {"lr": torch.tensor(1.0), "step": 3}, "epoch": 3}, tmp_path / "opt.pt")
    with pytest.raises(ModelError, match=r"no generator state dict found \(top-level keys: epoch, optimizer"):
        import_weights(tmp_path / "opt.pt")


def test_unrecognised_keys_ask_for_the_architecture(tmp_path):
    torch.save({"encoder.weight": torch.zeros(2)}, tmp_path / "x.pt")
    with pytest.raises(ModelError, match=r"cannot tell the architecture.*encoder\.weight.*--arch"):
        import_weights(tmp_path / "x.pt")


def test_cartoongan_npy_folder_imports_with_inferred_config_and_loads_strictly(tmp_path):
    arrays = fake_cartoongan_folder(tmp_path / "tiny_style", c=4, n_res=2)
    state, info = import_weights(tmp_path / "tiny_style")
    assert info.arch == "cartoongan" and info.config == {"base_channels": 4, "n_res_blocks": 2}
    assert info.style == "tiny_style" and info.licence == CARTOONGAN_LICENCE
    assert "folder of .npy" in info.provenance
    assert set(state) == set(arrays) and len(state) == 16 + 2 * 8 + 14
    assert np.array_equal(state["deconv01_1.weight"].numpy(), arrays["deconv01_1.weight"])
    model, _ = load_generator_file(tmp_path / "tiny_style")
    assert torch.equal(model.state_dict()["in13_1.shift"], torch.from_numpy(arrays["in13_1.shift"]))


def test_cartoongan_pth_gives_the_same_tensors_and_outputs_as_its_npy_folder(tmp_path):
    arrays = fake_cartoongan_folder(tmp_path / "npy", c=4, n_res=2, seed=1)
    torch.save({k: torch.from_numpy(v) for k, v in arrays.items()}, tmp_path / "style.pth")
    from_npy, info_npy = import_weights(tmp_path / "npy")
    from_pth, info_pth = import_weights(tmp_path / "style.pth")
    assert info_pth.arch == "cartoongan" and info_pth.config == info_npy.config
    assert all(torch.equal(from_npy[k], from_pth[k]) for k in from_npy)
    a, _ = load_generator_file(tmp_path / "npy")
    b, _ = load_generator_file(tmp_path / "style.pth")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


def test_npy_holding_a_pickled_object_is_refused(tmp_path):
    fake_cartoongan_folder(tmp_path / "style")
    np.save(tmp_path / "style" / "in01_1.scale.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ModelError, match=r"in01_1\.scale\.npy: not a readable \.npy tensor"):
        import_weights(tmp_path / "style")


def test_foreign_and_own_safetensors(tmp_path):
    from safetensors.torch import save_file

    state = _sam_state()
    save_file(state, str(tmp_path / "bare.safetensors"))
    loaded, info = import_weights(tmp_path / "bare.safetensors")
    assert info.arch == "resnet_sam" and info.config["width"] == 4 and set(loaded) == set(state)
    model = build_generator("resnet_sam", info.config)
    save_weights(tmp_path / "own.safetensors", model, info)
    _, own_info = import_weights(tmp_path / "own.safetensors")
    assert own_info == info
    with pytest.raises(ModelError, match="holds a 'resnet_sam' generator, not 'cartoongan'"):
        import_weights(tmp_path / "own.safetensors", arch="cartoongan")


def test_arch_detection_and_config_inference_on_state_dicts():
    assert detect_arch(AnimeGANv2Generator().state_dict()) == "animeganv2"
    assert detect_arch({k: torch.zeros(1) for k in cartoongan_shapes(2, 1)}) == "cartoongan"
    assert detect_arch(_sam_state()) == "resnet_sam"
    both = {"block_a.0.1.weight": torch.zeros(1), "conv01_1.weight": torch.zeros(1)}
    with pytest.raises(ModelError, match="matches several architectures"):
        detect_arch(both, "both.pt")
    cfg = infer_config("resnet_sam", _sam_state(width=4, n_res_blocks=0, n_down=2))
    assert cfg == {"width": 4, "n_down": 2, "n_res_blocks": 0, "res_norm": False}
    assert infer_config("cartoongan", AnimeGANv2Generator().state_dict()) == {}


def test_real_cartoongan_teacher_folder_imports_94_tensors_and_loads_strictly(shared_data):
    pytest.importorskip("animegan.nn.cartoongan")
    folder = shared_data / "teachers" / "cartoongan" / "shinkai"
    if not folder.is_dir():
        pytest.skip(f"{folder} is not present")
    state, info = import_weights(folder)
    assert len(state) == 94
    assert set(state) == set(cartoongan_shapes(64, 8))
    assert all(tuple(state[k].shape) == s for k, s in cartoongan_shapes(64, 8).items())
    assert info.arch == "cartoongan" and info.config == {"base_channels": 64, "n_res_blocks": 8}
    assert info.style == "shinkai" and "research use" in info.licence
    model = load_state_strict(build_generator(info.arch, info.config), state, str(folder)).eval()
    x = torch.linspace(-1, 1, 3 * 32 * 32).reshape(1, 3, 32, 32)
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape and y.abs().max() <= 1 and y.std() > 0.01


def test_a_published_file_is_named_and_gets_the_non_commercial_licence(tmp_path):
    # the real published files cannot be fetched here: a zoo entry carries this file's git blob id instead
    from animegan.hub.catalogue import Catalogue, ZooEntry
    from animegan.hub.download import git_blob_sha1
    from animegan.hub.importers import ANIMEGANV2_LICENCE

    path = tmp_path / "face_paint_512_v2.pt"
    torch.save(AnimeGANv2Generator().state_dict(), path)
    entry = ZooEntry.from_dict({"name": "face_paint_512_v2", "arch": "animeganv2", "style": "face_paint",
                                "files": [{"filename": path.name, "url": "https://example.invalid/x.pt",
                                           "git_blob_sha1": git_blob_sha1(path)}]})
    _, info = import_weights(path, catalogue=Catalogue((entry,), entry.name))
    assert info.licence == ANIMEGANV2_LICENCE and "non-commercial AnimeGANv2 release" in info.licence
    assert info.style == "face_paint"
    assert "published AnimeGANv2 'face_paint_512_v2' weights (git blob verified)" in info.provenance
