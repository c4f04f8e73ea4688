"""StylizeOptions is the one home of every stylize parameter: the CLI's and the server's defaults,
bounds and help come from its declaration, a bad value is refused when it is built, and each front
end says the refusal in its own words (``--max-side 8: ...`` / the form field ``max_side``)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from animegan.cli.main import app
from animegan.errors import InputError, ParamError
from animegan.inference.options import EXT_CHOICES, StylizeOptions
from animegan.io.discovery import OUTPUT_EXTENSIONS
from animegan.io.images import DEFAULT_MAX_PIXELS
from animegan.params import params

#: the parameters issue 14 names, and a value each refuses (as the command line would give it)
STYLIZE_PARAMS = {"max_side": 8, "ext": "gif", "quality": 0, "tile": 10, "tile_pad": -1, "strength": 2.0,
                  "batch_size": 0, "max_pixels": 10}
#: of these, the ones the HTTP API takes as form fields (the others are the server's settings or its
#: own: format is ext without auto; tiling and the pixel limit stay under the operator's control)
SERVER_FIELDS = ("max_side", "quality", "strength")


@pytest.fixture(scope="module")
def cli_params(command_params) -> dict:
    return command_params("stylize")


@pytest.fixture(scope="module")
def form_schema(tmp_path_factory) -> dict:
    from animegan.server.app import create_app
    from animegan.server.settings import ServerSettings

    openapi = create_app(ServerSettings(jobs_dir=tmp_path_factory.mktemp("jobs"))).openapi()
    body = openapi["paths"]["/api/v1/stylize"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    ref = body["$ref"].rsplit("/", 1)[-1]
    return openapi["components"]["schemas"][ref]["properties"]


@pytest.mark.parametrize("name", STYLIZE_PARAMS)
def test_cli_default_and_help_are_the_dataclass_declaration(cli_params, name):
    default, declared = params(StylizeOptions)[name]
    flag = cli_params[name]
    assert flag.opts == ["--" + name.replace("_", "-")]
    assert flag.default == default and flag.help == declared.help


@pytest.mark.parametrize("name", STYLIZE_PARAMS)
def test_server_default_bounds_and_description_are_the_dataclass_declaration(form_schema, name):
    default, declared = params(StylizeOptions)[name]
    if name not in SERVER_FIELDS:
        assert name not in form_schema  # no second default can live there
        return
    field = form_schema[name]
    for branch in field.get("anyOf", ()):  # an optional field: its bounds sit on the non-null branch
        field = {**branch, **field} if branch.get("type") != "null" else field
    assert field.get("default") == default and field["description"] == declared.help
    assert field.get("minimum") == declared.ge and field.get("maximum") == declared.le


def test_server_formats_are_the_library_output_formats(form_schema):
    assert set(form_schema["format"]["enum"]) == {suffix.lstrip(".") for suffix in OUTPUT_EXTENSIONS.values()}
    assert set(form_schema["format"]["enum"]) < set(EXT_CHOICES)


def test_one_definition_of_ext_choices_and_max_pixels():
    assert EXT_CHOICES == ("auto", *OUTPUT_EXTENSIONS)
    assert StylizeOptions().max_pixels == DEFAULT_MAX_PIXELS


def test_options_are_frozen_and_normalised():
    opts = StylizeOptions(ext=".JPEG", palette=1)
    assert opts.ext == "jpg" and opts.palette == 1.0 and isinstance(opts.palette, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.max_side = 64  # type: ignore[misc]
    assert dataclasses.replace(opts, max_side=64).max_side == 64
    with pytest.raises(ParamError, match="^max_side 8: "):
        dataclasses.replace(opts, max_side=8)  # a changed copy is checked like a new one


@pytest.mark.parametrize(("name", "bad"), STYLIZE_PARAMS.items())
def test_bad_value_names_the_parameter_in_the_library_and_the_flag_in_the_cli(tmp_path: Path, tiny_weights,
                                                                               name, bad):
    with pytest.raises(ParamError) as info:
        StylizeOptions(**{name: bad})
    error = info.value
    assert isinstance(error, InputError) and str(error).startswith(f"{name} {bad}: must be ")
    assert "--" not in str(error)

    src = tmp_path / "a.png"
    Image.new("RGB", (24, 16), (90, 120, 200)).save(src)
    flag = "--" + name.replace("_", "-")
    result = CliRunner().invoke(app, ["stylize", str(src), "-o", str(tmp_path / "out"), "-m", str(tiny_weights),
                                      flag, str(bad)])
    assert result.exit_code != 0
    assert result.stderr.strip().splitlines() == [f"error: {error.as_flag()}"]
    assert result.stderr.startswith(f"error: {flag} {bad}: must be ")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("name", "bad"), [("max_side", 8), ("quality", 0), ("strength", 2.0)])
def test_bad_value_is_422_naming_the_form_field(tmp_path: Path, name, bad):
    from fastapi.testclient import TestClient

    from animegan.server.app import create_app
    from animegan.server.settings import ServerSettings

    png = io.BytesIO()
    Image.new("RGB", (24, 16)).save(png, "PNG")
    with TestClient(create_app(ServerSettings(jobs_dir=tmp_path))) as client:
        response = client.post("/api/v1/stylize", data={name: str(bad)},
                               files={"image": ("a.png", png.getvalue(), "image/png")})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith(f"{name}: ") and "--" not in detail
