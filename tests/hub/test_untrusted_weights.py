"""Weights from elsewhere: foreign safetensors go to the importers; crafted and NaN files are refused early."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from typer.testing import CliRunner

from animegan.cli.main import app
from animegan.errors import ModelError, WeightsMismatchError
from animegan.hub import cache, zoo
from animegan.hub.loading import load_generator_file, read_any_weights
from animegan.hub.weights import ModelInfo, read_safetensors, save_weights
from animegan.nn import build_generator

TINY_CARTOON = {"base_channels": 2, "n_res_blocks": 1}


def _state(arch: str, config: dict | None = None, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return build_generator(arch, config or {}).state_dict()


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


# -- item 6: foreign .safetensors are imported, not refused ------------------------------------------

@pytest.mark.parametrize(("arch", "config"), [("cartoongan", TINY_CARTOON), ("animeganv2", {})])
def test_models_import_of_a_foreign_safetensors_with_arch_works(tmp_path, arch, config):
    state = _state(arch, config)
    foreign = tmp_path / "foreign.safetensors"
    save_file(state, str(foreign), metadata={"format": "pt"})  # what other tools write
    result = _cli("models", "import", str(foreign), "--name", "theirs", "--arch", arch)
    assert result.exit_code == 0, result.output
    assert Path(result.stdout.strip()) == cache.models_dir() / "theirs.safetensors"
    model, info = load_generator_file(zoo.resolve_model("theirs", download=False))
    assert info.arch == arch and "foreign.safetensors (safetensors" in info.provenance
    for key, value in state.items():
        assert torch.equal(model.state_dict()[key], value)


def test_foreign_safetensors_load_as_model_files_and_read_safetensors_still_wants_ours(tmp_path):
    state = _state("cartoongan", TINY_CARTOON)
    foreign = tmp_path / "bare.safetensors"
    save_file(state, str(foreign))
    model, info = load_generator_file(foreign)  # arch recognised by its keys, config by its shapes
    assert info.arch == "cartoongan" and model.config.base_channels == 2
    with pytest.raises(ModelError, match="no animegan metadata.*animegan models import"):
        read_safetensors(foreign)  # the reader of our own format alone


def test_a_safetensors_that_is_neither_ours_nor_importable_gets_one_clear_line(tmp_path):
    odd = tmp_path / "odd.safetensors"
    save_file({"encoder.layer.0.weight": torch.zeros(2, 2)}, str(odd))
    result = _cli("models", "import", str(odd), "--name", "odd")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{odd}: cannot tell the architecture" in lines[0] and "--arch" in lines[0]
    forced = _cli("models", "import", str(odd), "--name", "odd", "--arch", "cartoongan")
    assert forced.exit_code == 1 and "weights do not fit the architecture" in forced.stderr
    assert not cache.index_path().exists()


# -- item 8: crafted headers are refused before anything is allocated --------------------------------

def _crafted(tmp_path: Path, name: str, config: dict, state: dict | None = None) -> Path:
    """A file in our format whose metadata claims ``config`` but which holds tiny tensors."""
    path = tmp_path / name
    save_weights(path, state or _state("cartoongan", TINY_CARTOON), ModelInfo(arch="cartoongan", config=config))
    return path


_LIMITED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # 3 GiB address space: a big allocation fails
from animegan.cli.main import main
sys.argv = ["animegan", *sys.argv[1:]]
main()
"""


def _run_limited(*args: str) -> subprocess.CompletedProcess:
    """The real CLI in a child whose address space is capped, so a huge allocation fails instead of paging."""
    return subprocess.run([sys.executable, "-c", _LIMITED, *args], check=False, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_AS")
def test_crafted_configs_get_one_line_before_any_allocation(tmp_path):
    huge = _crafted(tmp_path, "huge.safetensors", {"base_channels": 4096, "n_res_blocks": 8})  # ~180 GB network
    big = _crafted(tmp_path, "big.safetensors", {"base_channels": 1024, "n_res_blocks": 8})  # in range, ~11 GB
    photo = tmp_path / "photo.png"
    Image.new("RGB", (16, 16), (120, 80, 40)).save(photo)

    stylize = _run_limited("stylize", str(photo), "-o", str(tmp_path / "out"), "--model", str(huge))
    assert stylize.returncode == 1, stylize.stderr
    lines = stylize.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{huge}: config base_channels=4096 out of range (1..1024 for 'cartoongan')" \
        in lines[0], stylize.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())

    imported = _run_limited("models", "import", str(big), "--name", "big")
    assert imported.returncode == 1, imported.stderr
    lines = imported.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{big}: weights do not fit the architecture" in lines[0], imported.stderr
    assert "conv01_1.weight (2, 3, 7, 7) vs (1024, 3, 7, 7)" in lines[0]
    assert not cache.index_path().exists()


def test_crafted_config_values_of_the_wrong_type_are_refused(tmp_path):
    for config, message in [({"base_channels": 2.5, "n_res_blocks": 1}, "config base_channels=2.5 is not an integer"),
                            ({"base_channels": -2, "n_res_blocks": 1}, r"config base_channels=-2 out of range"),
                            ({"n_res_blocks": 9}, r"config n_res_blocks=9 out of range \(1..8"),
                            ({"base_channels": 2, "layers": 3}, "unknown config keys")]:
        path = _crafted(tmp_path, "c.safetensors", config)
        with pytest.raises(ModelError, match=message):
            load_generator_file(path)


@pytest.mark.parametrize(("arch", "config", "message"), [
    ("cartoongan", {"base_channels": "wide", "n_res_blocks": 1}, 'config base_channels="wide" is not an integer'),
    ("cartoongan", {"base_channels": [2], "n_res_blocks": 1}, r"config base_channels=\[2\] is not an integer"),
    ("resnet_sam", {"res_norm": "yes"}, 'config res_norm="yes" is not true or false'),
    # in range for the file check, refused by the network's own config class (ValueError inside)
    ("resnet_sam", {"width": 4, "n_res_blocks": 1, "sam_kernel": 4},
     "architecture 'resnet_sam': invalid config .*sam_kernel must be a positive odd number, got 4"),
])
def test_a_config_the_network_refuses_is_one_line_naming_the_file(tmp_path, arch, config, message):
    import re

    path = tmp_path / "crafted.safetensors"
    save_weights(path, _state("cartoongan", TINY_CARTOON), ModelInfo(arch=arch, config=config))
    photo = tmp_path / "photo.png"
    Image.new("RGB", (16, 16), (120, 80, 40)).save(photo)
    result = _cli("stylize", str(photo), "-o", str(tmp_path / "out"), "-m", str(path))
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: ") and re.search(message, lines[0]), result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


def test_build_generator_refuses_a_bad_config_with_a_model_error():
    with pytest.raises(ModelError, match=r"architecture 'cartoongan': invalid config .*base_channels must be positive"):
        build_generator("cartoongan", {"base_channels": -3})
    with pytest.raises(ModelError, match="architecture 'resnet_sam': invalid config"):
        build_generator("resnet_sam", {"n_down": "3"})


def test_a_foreign_file_whose_shapes_imply_a_huge_network_is_refused_before_building_it(tmp_path):
    """Config inferred from one tensor's shape (base_channels=4096) must not build that network."""
    state = {"conv01_1.weight": torch.zeros(4096, 3, 1, 1)}
    path = tmp_path / "one_tensor.pt"
    torch.save(state, path)
    with pytest.raises(ModelError, match="config base_channels=4096 out of range"):
        read_any_weights(path)
    state = {"conv01_1.weight": torch.zeros(512, 3, 1, 1)}  # in range: the shapes tell it is not a network
    torch.save(state, path)
    with pytest.raises(WeightsMismatchError, match=r"37 missing keys .*conv01_1\.weight \(512, 3, 1, 1\) vs"):
        read_any_weights(path)


# -- item 8: non-finite weights are refused everywhere they are loaded ----------------------------

@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_weights_are_refused_at_import_and_load(tmp_path, bad):
    state = _state("cartoongan", TINY_CARTOON)
    state["in02_1.scale"] = torch.full_like(state["in02_1.scale"], bad)
    ours = _crafted(tmp_path, "nan.safetensors", TINY_CARTOON, state)
    foreign = tmp_path / "nan.pt"
    torch.save(state, foreign)
    for path in (ours, foreign):
        with pytest.raises(ModelError, match=r"weights hold NaN or infinite values \(in in02_1\.scale\)"):
            load_generator_file(path)  # --model FILE and serve --model FILE load through this
        with pytest.raises(ModelError, match="NaN or infinite"):
            zoo.shipped_zoo().import_model(path, "nan")
    assert not cache.index_path().exists()
    photo = tmp_path / "photo.png"
    Image.new("RGB", (16, 16)).save(photo)
    result = _cli("stylize", str(photo), "-o", str(tmp_path / "out.png"), "--model", str(ours))
    assert result.exit_code != 0 and "NaN or infinite" in result.stderr and not (tmp_path / "out.png").exists()
