"""The AnimeGANv2 generator against REFERENCE.md §1: published key names and shapes, and the forward pass.

The expected state dict and a functional forward are written from the reference table alone, so
a renamed module, a moved ``nn.Sequential`` index or a changed op fails here.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from animegan.errors import WeightsMismatchError
from animegan.hub.weights import load_state_strict
from animegan.nn.animeganv2 import AnimeGANv2Generator

# (module, kind, in, out, kernel, stride) in forward order; "irb" is an InvertedResBlock
TREE = [
    ("block_a.0", "cnl", 3, 32, 7, 1), ("block_a.1", "cnl", 32, 64, 3, 2), ("block_a.2", "cnl", 64, 64, 3, 1),
    ("block_b.0", "cnl", 64, 128, 3, 2), ("block_b.1", "cnl", 128, 128, 3, 1),
    ("block_c.0", "cnl", 128, 128, 3, 1), ("block_c.1", "irb", 128, 256, 0, 1),
    ("block_c.2", "irb", 256, 256, 0, 1), ("block_c.3", "irb", 256, 256, 0, 1), ("block_c.4", "irb", 256, 256, 0, 1),
    ("block_c.5", "cnl", 256, 128, 3, 1),
    ("block_d.0", "cnl", 128, 128, 3, 1), ("block_d.1", "cnl", 128, 128, 3, 1),
    ("block_e.0", "cnl", 128, 64, 3, 1), ("block_e.1", "cnl", 64, 64, 3, 1), ("block_e.2", "cnl", 64, 32, 7, 1),
]


def _cnl_shapes(prefix: str, cin: int, cout: int, k: int, depthwise: bool = False) -> dict[str, tuple]:
    shapes = {f"{prefix}.1.weight": (cout, 1 if depthwise else cin, k, k),
              f"{prefix}.2.weight": (cout,), f"{prefix}.2.bias": (cout,)}
    if depthwise:
        shapes[f"{prefix}.1.bias"] = (cout,)
    return shapes


def reference_shapes() -> dict[str, tuple]:
    """Key → shape of the published state dict, from REFERENCE.md §1."""
    shapes: dict[str, tuple] = {}
    for name, kind, cin, cout, k, _ in TREE:
        if kind == "cnl":
            shapes |= _cnl_shapes(name, cin, cout, k)
        else:
            hidden = 2 * cin
            shapes |= _cnl_shapes(f"{name}.layers.0", cin, hidden, 1)
            shapes |= _cnl_shapes(f"{name}.layers.1", hidden, hidden, 3, depthwise=True)
            shapes[f"{name}.layers.2.weight"] = (cout, hidden, 1, 1)
            shapes[f"{name}.layers.3.weight"] = (cout,)
            shapes[f"{name}.layers.3.bias"] = (cout,)
    shapes["out_layer.0.weight"] = (3, 32, 1, 1)
    return shapes


def random_reference_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights in the published layout: conv weights ~N(0, 0.1), norm scales near 1."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in reference_shapes().items():
        t = torch.randn(shape, generator=gen)
        state[key] = 1 + 0.1 * t if len(shape) == 1 and key.endswith("2.weight") else 0.1 * t
    return state


def _cnl(x: torch.Tensor, s: dict, prefix: str, k: int, stride: int, groups: int = 1) -> torch.Tensor:
    pad = (0, 1, 0, 1) if stride == 2 else (k // 2,) * 4
    x = F.conv2d(F.pad(x, pad, mode="reflect"), s[f"{prefix}.1.weight"], s.get(f"{prefix}.1.bias"),
                 stride=stride, groups=groups)
    x = F.group_norm(x, 1, s[f"{prefix}.2.weight"], s[f"{prefix}.2.bias"])
    return F.leaky_relu(x, 0.2)


def reference_forward(s: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The REFERENCE.md §1 table written as plain functional ops."""
    out, half = x, None
    for name, kind, cin, cout, k, stride in TREE:
        if name == "block_d.0":
            out = F.interpolate(out, half, mode="bilinear", align_corners=True)
        if name == "block_e.0":
            out = F.interpolate(out, x.shape[-2:], mode="bilinear", align_corners=True)
        if kind == "cnl":
            out = _cnl(out, s, name, k, stride)
        else:
            h = _cnl(out, s, f"{name}.layers.0", 1, 1)
            h = _cnl(h, s, f"{name}.layers.1", 3, 1, groups=2 * cin)
            h = F.conv2d(h, s[f"{name}.layers.2.weight"])
            h = F.group_norm(h, 1, s[f"{name}.layers.3.weight"], s[f"{name}.layers.3.bias"])
            out = out + h if cin == cout else h
        if name == "block_a.2":
            half = out.shape[-2:]
    return torch.tanh(F.conv2d(out, s["out_layer.0.weight"]))


def test_reference_layout_has_77_tensors_and_2143552_parameters():
    shapes = reference_shapes()
    assert len(shapes) == 77
    assert sum(torch.Size(s).numel() for s in shapes.values()) == 2_143_552
    assert shapes["block_c.1.layers.1.1.weight"] == (256, 1, 3, 3)
    assert shapes["block_c.2.layers.0.1.weight"] == (512, 256, 1, 1)


def test_generator_state_dict_has_exactly_the_published_keys_and_shapes():
    model = AnimeGANv2Generator()
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == reference_shapes()
    assert sum(p.numel() for p in model.parameters()) == 2_143_552
    assert not list(model.buffers())


def test_hand_built_published_state_loads_strictly():
    state = random_reference_state()
    model = load_state_strict(AnimeGANv2Generator(), state, "hand-built")
    assert torch.equal(model.block_c[1].layers[1][1].bias, state["block_c.1.layers.1.1.bias"])


@pytest.mark.parametrize("size", [(67, 93), (40, 56), (33, 17)])
def test_forward_matches_the_reference_ops_and_keeps_any_input_size(size):
    state = random_reference_state(1)
    model = load_state_strict(AnimeGANv2Generator(), state, "hand-built").eval()
    x = torch.rand(1, 3, *size) * 2 - 1
    with torch.no_grad():
        y = model(x)
        expected = reference_forward(state, x)
    assert y.shape == (1, 3, *size)
    assert -1 <= y.min() and y.max() <= 1 and y.std() > 1e-3
    assert torch.allclose(y, expected, atol=1e-5)


def test_a_renamed_key_is_reported_as_missing_and_unexpected():
    state = random_reference_state()
    state["block_e.2.1.weight_renamed"] = state.pop("block_e.2.1.weight")
    with pytest.raises(WeightsMismatchError) as err:
        load_state_strict(AnimeGANv2Generator(), state, "renamed.pt")
    assert err.value.missing == ["block_e.2.1.weight"]
    assert err.value.unexpected == ["block_e.2.1.weight_renamed"]
    assert "renamed.pt" in str(err.value) and "\n" not in str(err.value)
