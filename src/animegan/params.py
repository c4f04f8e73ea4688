"""Parameters with one home. A dataclass field declared with :func:`param` carries its default, its
bounds or choices and its help text; :func:`check` validates an instance against them, and the
command line and the server read the same declaration (:func:`spec`) for their defaults, bounds and
help, so no default or bound is written twice.

Errors are :class:`~animegan.errors.ParamError` naming the library's parameter (``max_side``); the
CLI turns them into its flag names.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .errors import ParamError


@dataclass(frozen=True)
class Param:
    """What a parameter accepts. ``allow``: values accepted outside the bounds (``tile`` 0 and -1)."""

    help: str
    ge: float | None = None
    le: float | None = None
    choices: tuple[str, ...] | None = None
    allow: tuple[Any, ...] = ()
    #: the parameter's unit or meaning in bounds messages, e.g. "pixels"
    unit: str = ""
    #: a yes/no parameter (set by :func:`param` when the default is a bool): only True and False pass
    boolean: bool = False
    #: a free-form name (an encoder, a preset): any non-empty text; what it means is checked where it is used
    text: bool = False

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not accepted, or None when it is."""
        if self.boolean:
            return None if isinstance(value, bool) else "must be true or false"
        if self.text:
            return None if isinstance(value, str) and value.strip() else "must be a non-empty name"
        if value in self.allow:
            return None
        if self.choices is not None:
            key = str(value).lower().lstrip(".")
            return None if key in self.choices else f"must be one of {', '.join(self.choices)}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be a number, not {type(value).__name__}"
        if math.isnan(value):  # NaN compares false with every bound
            return "must be a number, not NaN"
        low = f"at least {_fmt(self.ge)}" if self.ge is not None else ""
        high = f"at most {_fmt(self.le)}" if self.le is not None else ""
        if (self.ge is not None and value < self.ge) or (self.le is not None and value > self.le):
            if self.ge is not None and self.le is not None:
                span = f"between {_fmt(self.ge)} and {_fmt(self.le)}"
            else:
                span = low or high
            allowed = " or ".join(str(a) for a in self.allow)
            return f"must be {allowed + ' or ' if allowed else ''}{span}{' ' + self.unit if self.unit else ''}"
        return None


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def param(default: Any, help: str, **bounds: Any) -> Any:
    """A dataclass field with a default and a :class:`Param` (bounds, choices, help) in its metadata."""
    if isinstance(default, bool):
        bounds.setdefault("boolean", True)
    return dataclasses.field(default=default, metadata={"param": Param(help=help, **bounds)})


def spec(cls: Any, name: str) -> tuple[Any, Param]:
    """(default, Param) of field ``name`` of the dataclass ``cls``."""
    for f in dataclasses.fields(cls):
        if f.name == name and "param" in f.metadata:
            return f.default, f.metadata["param"]
    raise KeyError(f"{cls.__name__}.{name} is not a declared parameter")


def params(cls: Any) -> dict[str, tuple[Any, Param]]:
    """Every declared parameter of ``cls``: name -> (default, Param)."""
    return {f.name: (f.default, f.metadata["param"]) for f in dataclasses.fields(cls) if "param" in f.metadata}


def check(obj: Any) -> None:
    """Raise :class:`ParamError` for the first declared parameter of ``obj`` out of bounds.

    None is accepted where the default is None (the parameter is optional).
    """
    for name, (default, p) in params(type(obj)).items():
        value = getattr(obj, name)
        if value is None and default is None:
            continue
        problem = p.problem(value)
        if problem is not None:
            raise ParamError(name, value, problem)
