"""The CLI as users install and run it: missing extras, presets from any folder, one-line errors,
--version/--debug, and the README's own snippet."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from animegan import __version__
from animegan.cli.main import app
from animegan.resources import sample_photos

REPO = Path(__file__).resolve().parents[2]

# Runs commands in one fresh interpreter where the optional packages cannot be imported, as on a
# base `pip install animegan`; prints one JSON row per command.
_NO_EXTRAS = r"""
import json, sys
for name in ("av", "onnx", "onnxruntime", "fastapi", "uvicorn"):
    sys.modules[name] = None  # `import name` now raises ModuleNotFoundError, as when it is not installed
from typer.testing import CliRunner
from animegan.cli.main import app
rows = []
for args in json.loads(sys.argv[1]):
    r = CliRunner().invoke(app, args)
    rows.append({"args": args, "code": r.exit_code, "out": r.stdout, "err": r.stderr,
                 "exc": None if r.exception is None or isinstance(r.exception, SystemExit) else repr(r.exception)})
print(json.dumps(rows))
"""


def test_commands_without_their_extra_print_one_line_naming_it(tmp_path: Path) -> None:
    photo = str(sample_photos()[0])
    commands = {
        ("video", "clip.mp4"): "video",
        ("serve",): "server",
        ("export", "onnx", "shinkai", "-o", "m.onnx", "--images", str(REPO / "src/animegan/samples")): "onnx",
        ("quantize", "m.onnx", "-o", "q.onnx"): "onnx",
        ("stylize", photo, "-o", "out.png", "--backend", "onnx"): "onnx",
    }
    helps = [["video", "--help"], ["serve", "--help"], ["export", "onnx", "--help"], ["quantize", "--help"]]
    (tmp_path / "m.onnx").write_bytes(b"not looked at")
    (tmp_path / "clip.mp4").write_bytes(b"not looked at")
    proc = subprocess.run([sys.executable, "-c", _NO_EXTRAS, json.dumps([list(c) for c in commands] + helps)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300, check=True)
    rows = json.loads(proc.stdout)
    for row, extra in zip(rows, commands.values()):
        lines = [line for line in row["err"].splitlines() if line.strip() and not line.startswith("INFO")]
        assert row["code"] == 1 and row["exc"] is None, row
        assert len(lines) == 1 and f'pip install "animegan[{extra}]"' in lines[0], row
    for row in rows[len(commands):]:  # every command stays registered, with its real help
        assert row["code"] == 0 and "Usage:" in row["out"], row
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "q.onnx").exists()


def test_third_party_root_warnings_do_not_leak() -> None:
    """onnxruntime.quantization logs advice through the root logger ("WARNING:root:Please consider ...")."""
    code = ("from animegan.cli.common import setup_logging; import logging; setup_logging(); "
            "logging.warning('Please consider to run pre-processing'); logging.error('a real problem')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert "WARNING:root" not in proc.stderr and "Please consider" not in proc.stderr
    assert "a real problem" in proc.stderr


def _invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_version() -> None:
    result = _invoke("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"animegan {__version__}"


def test_unexpected_errors_are_one_line_and_debug_shows_the_traceback() -> None:
    @app.command("_boom", hidden=True)
    def boom() -> None:
        {}["block_a.1.1.weight"]

    try:
        result = _invoke("_boom")
        assert result.exit_code == 1
        lines = result.stderr.strip().splitlines()
        assert lines == ["error: KeyError: 'block_a.1.1.weight' (run with --debug for the traceback)"]
        result = _invoke("--debug", "_boom")
        assert result.exit_code == 1
        assert "Traceback (most recent call last)" in result.stderr and "block_a.1.1.weight" in result.stderr
    finally:
        app.registered_commands[:] = [c for c in app.registered_commands if c.name != "_boom"]
    # typer's own usage errors keep their usual form
    result = _invoke("stylize", "--no-such-flag", "x.jpg")
    assert result.exit_code == 2 and "No such option" in result.stderr


def test_presets_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no configs/ and no ../shared here
    result = _invoke("train", "tiny", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "data.tiny" not in result.stdout and "note: data.photos is not set" in result.stdout
    result = _invoke("train", "hayao", "--dry-run")  # prints the config, even with no data folders
    assert result.exit_code == 0 and "model.vgg_weights" in result.stdout
    assert "shared" not in result.stdout
    result = _invoke("train", "tiny")
    assert result.exit_code == 1 and "--set data.photos=DIR" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    help_text = _invoke("train", "--help").stdout
    assert "tiny" in help_text and "distill-" not in help_text


def test_train_points_distillation_configs_to_distill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = _invoke("train", "distill-shinkai", "--dry-run")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "`animegan distill distill-shinkai`" in lines[0]
    result = _invoke("distill", "distill-shinkai", "--dry-run")
    assert result.exit_code == 0, result.stderr
    cfg = json.loads(result.stdout)
    assert cfg["style"] == "shinkai" and cfg["photos"] == []
    result = _invoke("distill", "distill-shinkai")
    assert result.exit_code == 1 and "--photos DIR" in result.stderr


def test_no_shipped_config_points_into_the_development_data() -> None:
    from animegan.resources import presets_dir
    from animegan.training.config import TrainConfig

    for path in presets_dir().glob("*.toml"):
        assert "shared/" not in re.sub(r"#.*", "", path.read_text()), path
    assert "shared" not in json.dumps(TrainConfig().to_dict())


def test_missing_vgg_message_names_the_file_the_preset_looks_for(tmp_path, monkeypatch) -> None:
    from animegan.errors import ModelError
    from animegan.nn.vgg import build_perceptual
    from animegan.training.config import load_config

    monkeypatch.chdir(tmp_path)
    weights = load_config("hayao").model.vgg_weights
    with pytest.raises(ModelError) as info:
        build_perceptual(weights, layer="conv4_4", normalization="caffe")
    message = str(info.value)
    assert f"-o {weights}" in message and "vgg-convert" in message
    assert ".pth" not in message.split("(--set")[0]  # no "save a torchvision .pth" the preset would not find


def test_several_inputs_to_an_image_named_output_is_one_error(tmp_path: Path) -> None:
    photos = [str(p) for p in sample_photos()[:2]]
    result = _invoke("stylize", *photos, "-o", str(tmp_path / "single.png"))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "single.png" in lines[0] and "folder" in lines[0]
    assert not (tmp_path / "single.png").exists()


def test_an_onnx_model_picks_the_onnx_backend(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    import torch

    from animegan.compress.onnx_export import export_bytes
    from animegan.nn import build_generator

    torch.manual_seed(0)
    (tmp_path / "tiny.onnx").write_bytes(export_bytes(build_generator("cartoongan", {"base_channels": 4,
                                                                                    "n_res_blocks": 1})))
    result = _invoke("stylize", str(sample_photos()[0]), "-o", str(tmp_path / "out.png"), "--max-side", "32",
                     "--model", str(tmp_path / "tiny.onnx"), "--precision", "bf16")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out.png").is_file()
    assert "via onnx" in result.stderr and "bf16" not in result.stderr  # ORT runs the graph's own precision


def test_models_list_at_80_columns_never_cuts_a_word() -> None:
    env = dict(os.environ, COLUMNS="80")
    proc = subprocess.run([sys.executable, "-m", "animegan", "models", "list"], capture_output=True, text=True,
                          env=env, timeout=120, check=True)
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in proc.stdout
    for word in ("research", "non-commercial", "downloaded", "cartoongan_paprika"):  # whole words of the zoo
        assert word in proc.stdout


def test_readme_library_snippet_runs_as_written(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", readme, re.DOTALL).group(1)
    (tmp_path / "photo.jpg").write_bytes(sample_photos()[0].read_bytes())
    proc = subprocess.run([sys.executable, "-c", block + "\nprint(image.size)"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    from animegan.cli.video import default_output

    assert default_output(Path("clip.mp4")).name in readme  # the README names the real default output
