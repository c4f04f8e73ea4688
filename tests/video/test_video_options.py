"""VideoOptions is the one home of every video parameter: `animegan video`'s defaults and help and the
server's video form come from its declaration, a bad value is refused when it is built (before any
file is read or model loaded), and each front end says the refusal in its own words."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

from animegan.cli.main import app
from animegan.errors import InputError, ParamError
from animegan.inference.options import StylizeOptions
from animegan.params import params
from animegan.video import TemporalSettings, VideoOptions, stylize_video
from animegan.video.samples import write_clip

#: a value each parameter refuses, as the command line gives it, and the library's message
BAD = {
    "crf": ("-1", "crf -1: must be between 0 and 63"),
    "max_side": ("8", "max_side 8: must be at least 16"),
    "fps": ("0", "fps 0.0: must be above 0"),
    "batch_size": ("0", "batch_size 0: must be at least 1"),
    "segment_frames": ("0", "segment_frames 0: must be at least 1"),
    "temporal_strength": ("1", "temporal_strength 1.0: must be at least 0 and below 1"),
}
#: what the command line converts before building the options (a float flag, a time string)
AS_PASSED = {"crf": -1, "max_side": 8, "fps": 0.0, "batch_size": 0, "segment_frames": 0, "temporal_strength": 1.0}


@pytest.fixture(scope="module")
def cli_params(command_params) -> dict:
    return command_params("video")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", width=48, height=32, seconds=0.2, audio=None)


@pytest.mark.parametrize("name", list(params(VideoOptions)))
def test_cli_defaults_and_help_are_the_dataclass_declaration(cli_params, name):
    default, declared = params(VideoOptions)[name]
    flag = cli_params[name]
    assert flag.opts == ["--" + name.replace("_", "-")]
    assert flag.default == default
    assert flag.help.startswith(declared.help)  # --start/--end add the time formats they parse


def test_cli_palette_is_the_stylize_declaration(cli_params):
    default, declared = params(StylizeOptions)["palette"]
    assert cli_params["palette"].default == default and cli_params["palette"].help == declared.help


def test_temporal_strength_is_declared_once():
    assert params(VideoOptions)["temporal_strength"] == params(TemporalSettings)["strength"]
    assert VideoOptions(temporal=True).temporal_settings() == TemporalSettings()
    assert VideoOptions().temporal_settings() is None  # off unless asked for


def test_server_video_form_takes_the_declarations(tmp_path):
    pytest.importorskip("fastapi")
    from animegan.server.app import create_app
    from animegan.server.settings import ServerSettings

    openapi = create_app(ServerSettings(jobs_dir=tmp_path)).openapi()
    body = openapi["paths"]["/api/v1/videos"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    form = openapi["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]["properties"]
    for name, cls in (("max_side", VideoOptions), ("strength", StylizeOptions)):
        default, declared = params(cls)[name]
        field = form[name]
        for branch in field.get("anyOf", ()):  # an optional field: its bounds sit on the non-null branch
            field = {**branch, **field} if branch.get("type") != "null" else field
        assert field.get("default") == default and field["description"] == declared.help
        assert field.get("minimum") == declared.ge and field.get("maximum") == declared.le


@pytest.mark.parametrize("name", BAD)
def test_bad_value_is_a_param_error_naming_the_library_parameter(name):
    with pytest.raises(ParamError) as info:
        VideoOptions(**{name: AS_PASSED[name]})
    assert str(info.value) == BAD[name][1]
    assert isinstance(info.value, InputError)


def test_other_refusals_and_normalisation():
    with pytest.raises(ParamError, match=r"^end 1: must be later than the start \(2 s\)$"):
        VideoOptions(start=2, end=1)
    with pytest.raises(ParamError, match="^codec 5: must be a non-empty name$"):
        VideoOptions(codec=5)  # type: ignore[arg-type]
    with pytest.raises(ParamError, match="^resume 1: must be true or false$"):
        VideoOptions(resume=1)  # type: ignore[arg-type]
    opts = VideoOptions(start=1, end=2, fps=12)
    assert (opts.start, opts.end, opts.fps) == (1.0, 2.0, 12.0) and isinstance(opts.start, float)


def test_options_are_frozen():
    opts = VideoOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.batch_size = 0  # type: ignore[misc]
    assert dataclasses.replace(opts, batch_size=8).batch_size == 8
    with pytest.raises(ParamError):
        dataclasses.replace(opts, batch_size=0)  # a changed copy is checked too


@pytest.mark.parametrize("name", BAD)
def test_cli_says_the_flag_in_one_line_before_reading_anything(clip, tmp_path, name):
    out = tmp_path / "out.mp4"
    flag = "--" + name.replace("_", "-")
    extra = ["--temporal"] if name == "temporal_strength" else []
    result = CliRunner().invoke(app, ["video", str(clip), "-o", str(out), flag, BAD[name][0], *extra,
                                      "--model", "no-such-model"])
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    message = BAD[name][1].split(" ", 1)[1]
    assert lines[0] == f"error: {flag} {message}"  # not the model's error: options are checked first
    assert not out.exists() and not (tmp_path / "out.mp4.parts").exists()


def test_cli_codec_and_range_errors_say_the_flags(clip, tiny_weights, tmp_path):
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(app, ["video", str(clip), "-o", str(out), "--model", str(tiny_weights),
                                      "--codec", "nope", "--device", "cpu", "--precision", "fp32"])
    assert result.exit_code != 0 and "error: --codec nope: no such video encoder" in result.stderr
    result = CliRunner().invoke(app, ["video", str(clip), "-o", str(out), "--start", "0:02", "--end", "1"])
    assert result.exit_code != 0
    assert result.stderr.strip() == "error: --end 1.0: must be later than the start (2 s)"
    assert not out.exists()


def test_library_takes_a_frames_function_or_a_model_not_both(clip, tmp_path):
    with pytest.raises(InputError, match="model: give a stylizer"):
        stylize_video(clip, tmp_path / "out.mp4", lambda f: f, model="hayao")
    assert not (tmp_path / "out.mp4").exists()
