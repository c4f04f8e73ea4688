"""Our safetensors weights format: round trips, strict loading, corrupt files, fp16 shipping."""

from __future__ import annotations

import json

import pytest
import torch

from animegan.errors import ModelError, WeightsMismatchError
from animegan.hub.importers import import_weights
from animegan.hub.loading import load_generator_file
from animegan.hub.weights import (
    ModelInfo,
    info_for,
    load_state_strict,
    read_safetensors,
    save_weights,
)
from animegan.nn import build_generator
from animegan.nn.animeganv2 import AnimeGANv2Generator
from animegan.nn.resnet_sam import ResNetSAMConfig, ResNetSAMGenerator


def _random_animeganv2(seed: int = 0) -> AnimeGANv2Generator:
    torch.manual_seed(seed)
    model = AnimeGANv2Generator()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p + 0.05 * torch.randn_like(p))  # norm affines away from 1/0 so they matter
    return model.eval()


def _image(h: int = 40, w: int = 56, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_pt_import_then_safetensors_round_trip_gives_identical_outputs(tmp_path):
    model = _random_animeganv2()
    x = _image()
    with torch.no_grad():
        bare = model(x)
    torch.save(model.state_dict(), tmp_path / "published_like.pt")
    state, info = import_weights(tmp_path / "published_like.pt")
    assert info.arch == "animeganv2"
    save_weights(tmp_path / "style.safetensors", state, info)
    loaded, loaded_info = load_generator_file(tmp_path / "style.safetensors")
    with torch.no_grad():
        assert torch.equal(loaded(x), bare)
    assert loaded_info.provenance == info.provenance and "published_like.pt" in info.provenance
    assert not loaded.training


def test_metadata_survives_the_round_trip(tmp_path):
    model = ResNetSAMGenerator(ResNetSAMConfig(width=8, n_res_blocks=1, res_norm=True))
    info = info_for(model, style="ink", provenance="unit test", licence="MIT", card="# card")
    path = save_weights(tmp_path / "ink.safetensors", model, info)
    state, read_info = read_safetensors(path)
    assert read_info == info
    assert read_info.config == {"width": 8, "n_res_blocks": 1, "n_down": 3, "sam_kernel": 7, "res_norm": True}
    assert set(state) == set(model.state_dict())


def test_resnet_sam_is_rebuilt_from_its_saved_config_and_gives_identical_outputs(tmp_path):
    torch.manual_seed(3)
    model = ResNetSAMGenerator(ResNetSAMConfig(width=8, n_res_blocks=2, n_down=2)).eval()
    path = save_weights(tmp_path / "sam.safetensors", model, info_for(model))
    loaded, _ = load_generator_file(path)
    assert isinstance(loaded, ResNetSAMGenerator) and loaded.config == model.config
    x = _image(30, 22)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_save_is_atomic_and_leaves_only_the_target(tmp_path):
    model = ResNetSAMGenerator(ResNetSAMConfig(width=4, n_res_blocks=1))
    save_weights(tmp_path / "a.safetensors", model, info_for(model))
    save_weights(tmp_path / "a.safetensors", model, info_for(model, style="again"))  # overwrite in place
    assert [p.name for p in tmp_path.iterdir()] == ["a.safetensors"]
    assert read_safetensors(tmp_path / "a.safetensors")[1].style == "again"


def test_wrong_architecture_weights_list_missing_and_unexpected_keys(tmp_path):
    sam = ResNetSAMGenerator(ResNetSAMConfig(width=4, n_res_blocks=1))
    with pytest.raises(WeightsMismatchError) as err:
        load_state_strict(AnimeGANv2Generator(), sam.state_dict(), "sam.safetensors")
    assert "block_a.0.1.weight" in err.value.missing and len(err.value.missing) == 77
    assert "down.0.1.weight" in err.value.unexpected
    message = str(err.value)
    assert message.startswith("sam.safetensors: weights do not fit the architecture: 77 missing keys")
    assert "unexpected keys" in message and "\n" not in message


def test_forced_architecture_on_foreign_keys_fails_with_the_key_lists(tmp_path):
    sam = ResNetSAMGenerator(ResNetSAMConfig(width=4, n_res_blocks=1))
    torch.save(sam.state_dict(), tmp_path / "sam.pt")
    with pytest.raises(ModelError):
        load_generator_file(tmp_path / "sam.pt", arch="animeganv2")
    state, info = import_weights(tmp_path / "sam.pt", arch="animeganv2")
    with pytest.raises(WeightsMismatchError) as err:
        load_state_strict(build_generator(info.arch, info.config), state, "sam.pt")
    assert err.value.missing and err.value.unexpected


def test_shape_mismatch_is_reported_per_key(tmp_path):
    narrow = ResNetSAMGenerator(ResNetSAMConfig(width=4, n_res_blocks=1))
    with pytest.raises(WeightsMismatchError) as err:
        load_state_strict(ResNetSAMGenerator(ResNetSAMConfig(width=8, n_res_blocks=1)), narrow.state_dict(), "w4")
    assert not err.value.missing and not err.value.unexpected
    assert any(s.startswith("down.0.1.weight (4, 3, 7, 7) vs (8, 3, 7, 7)") for s in err.value.shape)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "huge_header", "empty"])
def test_corrupt_safetensors_is_one_line_model_error(tmp_path, damage):
    model = ResNetSAMGenerator(ResNetSAMConfig(width=4, n_res_blocks=1))
    path = save_weights(tmp_path / "m.safetensors", model, info_for(model))
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x00not safetensors at all" * 10,
                      "huge_header": (10**12).to_bytes(8, "little") + data[8:], "empty": b""}[damage])
    with pytest.raises(ModelError) as err:
        read_safetensors(path)
    assert str(err.value).startswith(f"{path}: not a valid safetensors file (")
    assert "\n" not in str(err.value)
    with pytest.raises(ModelError):
        load_generator_file(path)


def test_safetensors_without_our_metadata_go_to_the_importers(tmp_path):
    from safetensors.torch import save_file

    model = _random_animeganv2(2)
    save_file(model.state_dict(), str(tmp_path / "bare.safetensors"))
    with pytest.raises(ModelError, match="no animegan metadata.*animegan models import"):
        read_safetensors(tmp_path / "bare.safetensors")  # the reader of our own format alone
    loaded, info = load_generator_file(tmp_path / "bare.safetensors")  # recognised by its keys
    assert info.arch == "animeganv2" and "bare.safetensors (safetensors" in info.provenance
    x = _image(24, 24)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_bad_config_json_in_metadata_is_a_model_error(tmp_path):
    meta = ModelInfo(arch="animeganv2").to_metadata() | {"config": "{not json"}
    with pytest.raises(ModelError, match="not valid JSON"):
        ModelInfo.from_metadata(meta, "x.safetensors")
    assert json.loads(ModelInfo(arch="resnet_sam", config={"width": 8}).to_metadata()["config"]) == {"width": 8}


def test_fp16_file_is_half_the_size_and_loads_as_fp32_within_1e_3(tmp_path):
    model = _random_animeganv2(1)
    info = info_for(model)
    full = save_weights(tmp_path / "fp32.safetensors", model, info)
    half = save_weights(tmp_path / "fp16.safetensors", model, info, dtype=torch.float16)
    assert half.stat().st_size < 0.55 * full.stat().st_size
    state, _ = read_safetensors(half)
    reference = model.state_dict()
    for key, value in state.items():
        assert value.dtype == torch.float32
        assert (value - reference[key]).abs().max() <= 1e-3, key
    loaded, _ = load_generator_file(half)
    x = _image(32, 32)
    with torch.no_grad():
        assert (loaded(x) - model(x)).abs().max() < 0.01  # measured 0.0015 (0.2/255)


def test_missing_file_and_architecture_mismatch_are_model_errors(tmp_path):
    with pytest.raises(ModelError, match="weights file not found"):
        load_generator_file(tmp_path / "absent.safetensors")
    model = ResNetSAMGenerator(ResNetSAMConfig(width=4, n_res_blocks=1))
    path = save_weights(tmp_path / "sam.safetensors", model, info_for(model))
    with pytest.raises(ModelError, match="holds a 'resnet_sam' generator, not 'animeganv2'"):
        load_generator_file(path, arch="animeganv2")
