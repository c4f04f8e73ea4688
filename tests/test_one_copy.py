"""One copy of each helper (issue 14): image extensions and folder listing, tensor conversions, PSNR.

The names are looked up in the source itself, so a second copy under the same name, or another
literal list of image extensions, fails here rather than drifting apart unnoticed.
"""

from __future__ import annotations

import ast
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch

from animegan.compress.quantize import psnr
from animegan.inference.processing import tensor_to_uint8, to_tensor, uint8_to_tensor
from animegan.io.discovery import list_images
from animegan.resources import sample_photos, samples_dir

SRC = Path(__file__).resolve().parents[1] / "src" / "animegan"
HELPERS = ("list_images", "psnr", "uint8_to_tensor", "tensor_to_uint8", "to_tensor", "from_tensor", "to_uint8",
           "is_onnx_file", "IMAGE_EXTENSIONS")


def _definitions() -> tuple[dict[str, list[str]], list[str]]:
    """Where each top-level function or constant is defined, and every literal holding ".jpg"."""
    defined: dict[str, list[str]] = defaultdict(list)
    jpg_lists: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                defined[node.name].append(rel)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        defined[target.id].append(rel)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and any(
                    isinstance(e, ast.Constant) and e.value in (".jpg", ".jpeg") for e in node.elts):
                jpg_lists.append(f"{rel}:{node.lineno}")
    return defined, jpg_lists


def test_each_helper_is_defined_once_and_extensions_are_listed_in_discovery_only() -> None:
    defined, jpg_lists = _definitions()
    twice = {name: defined[name] for name in HELPERS if len(defined[name]) != 1}
    assert not twice, twice
    assert defined["IMAGE_EXTENSIONS"] == ["io/discovery.py"] and defined["list_images"] == ["io/discovery.py"]
    assert all(place.startswith("io/discovery.py:") for place in jpg_lists), jpg_lists


def test_the_bundled_samples_are_exactly_the_images_list_images_finds_there() -> None:
    photos = sample_photos()
    assert photos == list_images(samples_dir(), recursive=False) and len(photos) >= 4


def test_uint8_conversion_round_trips_every_value_and_agrees_with_the_float_one() -> None:
    values = np.arange(256, dtype=np.uint8)
    rgb = np.stack([values, values[::-1], np.full(256, 128, np.uint8)], axis=-1).reshape(16, 16, 3)
    x = uint8_to_tensor(rgb)
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32
    assert x.min().item() == -1.0 and x.max().item() == 1.0
    np.testing.assert_array_equal(tensor_to_uint8(x), rgb)
    batch = uint8_to_tensor(np.stack([rgb, rgb[::-1]]))
    assert batch.shape == (2, 3, 16, 16) and torch.equal(batch[0], x)
    np.testing.assert_array_equal(tensor_to_uint8(batch)[1], rgb[::-1])
    # the Stylizer's conversion from [0, 1] floats gives the same network input for the same image
    torch.testing.assert_close(to_tensor(rgb.astype(np.float32) / 255.0)[0], x, rtol=0, atol=1e-6)
    # out-of-range network outputs are clamped, halves rounded
    assert tensor_to_uint8(torch.tensor([[[-3.0]], [[3.0]], [[0.0]]])).tolist() == [[[0, 255, 128]]]


def test_psnr_is_on_the_8_bit_scale() -> None:
    a = np.zeros((2, 3, 8, 8), np.float32)
    assert psnr(a, a) == math.inf
    one_level = a + np.float32(1 / 127.5)  # every pixel off by one 8-bit level
    assert psnr(a, one_level) == pytest.approx(20 * math.log10(255), abs=1e-4)
