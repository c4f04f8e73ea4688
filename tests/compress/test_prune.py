"""Channel pruning: physically smaller layers, exact slicing, rules, round trip through the weights file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from animegan.compress.flops import gflops
from animegan.compress.prune import count_params, photo_batch, prune_model, select_channels, units
from animegan.errors import InputError, ModelError
from animegan.hub.loading import load_generator_file
from animegan.hub.weights import info_for, save_weights
from animegan.nn import build_generator


def test_keeping_every_channel_reproduces_the_network_exactly(generator: torch.nn.Module) -> None:
    state = generator.state_dict()
    keep = {u.name: torch.arange(state[u.outputs[0]].shape[0]) for u in units()}
    same = prune_model(generator, keep)
    x = torch.rand(1, 3, 40, 56) * 2 - 1
    with torch.inference_mode():
        assert torch.equal(generator(x), same(x))


def test_ratio_rule_removes_channels_and_at_least_40_percent_of_params(generator: torch.nn.Module,
                                                                       tmp_path: Path) -> None:
    pruned = prune_model(generator, select_channels(generator, "ratio", ratio=0.4))
    assert count_params(pruned) <= 0.6 * count_params(generator)
    assert pruned.block_e[2][1].out_channels < 32 and pruned.block_c[2].layers[0][1].out_channels < 512
    assert gflops(pruned, 64, 64) < 0.6 * gflops(generator, 64, 64)
    path = save_weights(tmp_path / "slim.safetensors", pruned, info_for(pruned))
    loaded, info = load_generator_file(path)
    assert info.arch == "animeganv2_slim" and info.config["widths"] == pruned.config.widths
    x = torch.rand(1, 3, 33, 47) * 2 - 1
    with torch.inference_mode():
        out = loaded(x)
        assert out.shape == x.shape and torch.equal(out, pruned(x))


def test_activation_importance_keeps_a_channel_that_matters_and_drops_a_dead_one(generator: torch.nn.Module) -> None:
    model = build_generator("animeganv2").eval()
    model.load_state_dict(generator.state_dict())
    with torch.no_grad():
        model.block_e[1][2].weight[5] = 0.0   # channel 5 of block_e.1: GN scale and shift zero -> always 0
        model.block_e[1][2].bias[5] = 0.0
        model.block_e[2][1].weight[:, 9] *= 50  # channel 9 is read with large weights
    photos = torch.rand(2, 3, 32, 32) * 2 - 1
    keep = select_channels(model, "ratio", ratio=0.5, photos=photos)["block_e.1"]
    assert 5 not in keep.tolist() and 9 in keep.tolist() and len(keep) == 32


def test_threshold_rule_drops_exactly_the_channels_with_all_small_weights(generator: torch.nn.Module) -> None:
    model = build_generator("animeganv2").eval()
    model.load_state_dict(generator.state_dict())
    with torch.no_grad():
        model.block_d[0][1].weight[[3, 7, 11]] *= 1e-4
    keep = select_channels(model, "threshold", threshold=0.01)
    assert sorted(set(range(128)) - set(keep["block_d.0"].tolist())) == [3, 7, 11]
    assert len(keep["block_a.0"]) == 32  # untouched layers keep everything (random init is above 0.01)


@pytest.mark.parametrize("ratio", [0.0, 1.0, -0.2, 1.5])
def test_ratio_outside_zero_one_is_rejected(generator: torch.nn.Module, ratio: float) -> None:
    with pytest.raises(InputError, match="must be between 0 and 1"):
        select_channels(generator, "ratio", ratio=ratio)


def test_only_animeganv2_generators_are_pruned() -> None:
    with pytest.raises(ModelError, match="pruning supports AnimeGANv2"):
        prune_model(build_generator("cartoongan"), {})


def test_flops_of_animeganv2_match_the_reference_count(generator: torch.nn.Module) -> None:
    assert gflops(generator, 256, 256) == pytest.approx(52.6, abs=0.05)


def test_shipped_pruned_measurement_model_is_40_percent_smaller_and_close_to_its_parent() -> None:
    """The pruned trained AnimeGANv2 the deployment figures use: ≥40% fewer parameters, ≥28 dB."""
    from animegan.compress.quantize import psnr

    root = Path(__file__).resolve().parents[2]
    parent, _ = load_generator_file(root / "benchmarks" / "models" / "animeganv2-shinkai.safetensors")
    pruned, info = load_generator_file(root / "benchmarks" / "models" / "animeganv2-shinkai-pruned40.safetensors")
    assert info.arch == "animeganv2_slim" and count_params(pruned) <= 0.6 * count_params(parent)
    batch = photo_batch(sorted((root / "src" / "animegan" / "samples").glob("*.jpg")), 192)
    with torch.inference_mode():
        assert psnr(parent(batch).clamp(-1, 1).numpy(), pruned(batch).clamp(-1, 1).numpy()) >= 28
