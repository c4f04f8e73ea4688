"""Images with a side of a few pixels (1×1, 3×50): padded up to what the networks need, cropped back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from animegan.cli.main import app
from animegan.hub.weights import ModelInfo, save_weights
from animegan.inference.stylizer import Stylizer
from animegan.nn import GENERATORS, build_generator


@pytest.mark.parametrize("arch", sorted(GENERATORS))
def test_every_network_stylizes_tiny_images_at_their_size(arch):
    torch.manual_seed(0)
    stylizer = Stylizer(build_generator(arch).eval(), precision="fp32")
    for size in [(1, 1), (3, 50)]:
        out = stylizer.stylize(Image.new("RGB", size, (200, 40, 60)))
        assert out.size == size and out.mode == "RGB"


def test_tiny_images_keep_mode_alpha_and_frame_shape():
    torch.manual_seed(0)
    stylizer = Stylizer(build_generator("animeganv2").eval(), precision="fp32")
    assert stylizer.stylize(Image.new("L", (50, 3), 90)).size == (50, 3)
    rgba = Image.new("RGBA", (2, 2), (10, 200, 30, 77))
    out = stylizer.stylize(rgba)
    assert out.mode == "RGBA" and np.asarray(out)[..., 3].tolist() == [[77, 77], [77, 77]]
    frames = stylizer.stylize_frames(np.zeros((2, 3, 5, 3), np.uint8))
    assert frames.shape == (2, 3, 5, 3)


def test_tiny_image_matches_its_edge_replicated_padding():
    """A 1×1 photo is stylized as the 8×8 block of its colour (what the replicate padding feeds the network)."""
    torch.manual_seed(0)
    stylizer = Stylizer(build_generator("animeganv2").eval(), precision="fp32")
    colour = (120, 80, 200)
    one = np.asarray(stylizer.stylize(Image.new("RGB", (1, 1), colour)))
    block = np.asarray(stylizer.stylize(Image.new("RGB", (8, 8), colour)))
    assert np.array_equal(one[0, 0], block[0, 0])


def test_cli_stylizes_a_one_pixel_image(tmp_path: Path):
    torch.manual_seed(0)
    model = build_generator("animeganv2")
    weights = save_weights(tmp_path / "m.safetensors", model, ModelInfo(arch="animeganv2", style="t"))
    Image.new("RGB", (1, 1), (255, 0, 0)).save(tmp_path / "dot.png")
    Image.new("RGB", (3, 50), (0, 0, 255)).save(tmp_path / "line.png")
    result = CliRunner().invoke(app, ["stylize", str(tmp_path / "dot.png"), str(tmp_path / "line.png"),
                                      "-o", str(tmp_path / "out"), "--model", str(weights), "--precision", "fp32"])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "out" / "dot.png").size == (1, 1)
    assert Image.open(tmp_path / "out" / "line.png").size == (3, 50)
