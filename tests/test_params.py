"""animegan.params: one declaration per parameter gives its default, bounds and help."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from animegan.errors import InputError, ParamError
from animegan.params import check, param, params, spec


@dataclass(frozen=True)
class Example:
    side: int | None = param(None, "longest side", ge=16)
    tile: int = param(0, "tile side", ge=64, allow=(0, -1))
    strength: float = param(1.0, "how much style", ge=0.0, le=1.0)
    ext: str = param("auto", "format", choices=("auto", "png", "jpg"))
    codec: str | None = param(None, "encoder", text=True)
    flag: bool = param(False, "yes or no")

    def __post_init__(self) -> None:
        check(self)


def test_defaults_bounds_and_help_come_from_one_declaration():
    assert spec(Example, "tile") == (0, params(Example)["tile"][1])
    assert params(Example)["strength"][1].le == 1.0
    assert params(Example)["side"][1].help == "longest side"
    with pytest.raises(KeyError):
        spec(Example, "nope")


@pytest.mark.parametrize(("kwargs", "message", "flag"), [
    ({"side": 8}, "side 8: must be at least 16", "--side 8: must be at least 16"),
    ({"tile": 10}, "tile 10: must be 0 or -1 or at least 64", "--tile 10"),
    ({"strength": 1.5}, "strength 1.5: must be between 0 and 1", "--strength 1.5"),
    ({"ext": "gif"}, "ext gif: must be one of auto, png, jpg", "--ext gif"),
    ({"strength": "x"}, "strength x: must be a number, not str", "--strength x"),
    ({"strength": float("nan")}, "strength nan: must be a number, not NaN", "--strength nan"),
    ({"codec": " "}, "codec  : must be a non-empty name", "--codec  "),
    ({"flag": 1}, "flag 1: must be true or false", "--flag 1"),
])
def test_out_of_bounds_names_the_parameter(kwargs, message, flag):
    with pytest.raises(ParamError) as info:
        Example(**kwargs)
    assert str(info.value) == message
    assert info.value.as_flag().startswith(flag)
    assert isinstance(info.value, InputError)  # one line in the CLI, 422 in the server


def test_accepted_values_pass():
    Example(side=None, tile=-1, strength=0.0, ext=".PNG")
    Example(side=16, tile=64, strength=1, codec="libx264", flag=True)
