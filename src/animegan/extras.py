"""Optional dependencies, imported through one helper that names the pip extra to install.

Every feature that needs a package outside the base install (PyAV for video, ONNX Runtime, FastAPI
and uvicorn for the server, TensorBoard, dlib) imports it with :func:`require`::

    av = require("av", extra="video", feature="video conversion")

Where the package is missing, the user gets one line naming the command to run, e.g.
``video conversion needs the 'av' package: pip install "animegan[video]"``, instead of a
``ModuleNotFoundError`` traceback. The error is both an :class:`~animegan.errors.AnimeGANError`
(so the CLI prints it as one line and the server answers with its message) and a
``ModuleNotFoundError`` (so code that already catches that keeps working).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .errors import AnimeGANError

#: pip extra -> what it provides, for messages and ``animegan --version``-style listings
EXTRAS = {
    "video": "video conversion (PyAV)",
    "onnx": "ONNX export, INT8 quantization and the onnx backend (onnx, onnxruntime)",
    "server": "the web service (fastapi, uvicorn)",
    "train": "training logs for TensorBoard",
    "face": "face detection for training data (dlib)",
    "ray": "stylizing on a Ray cluster (--ray, animegan.distributed)",
}


class MissingExtraError(AnimeGANError, ModuleNotFoundError):
    """An optional dependency is not installed; the message says which extra provides it."""

    http_status = 501

    def __init__(self, module: str, extra: str, feature: str):
        message = f'{feature} needs the {module.split(".")[0]!r} package: pip install "animegan[{extra}]"'
        AnimeGANError.__init__(self, message)
        self.msg = message
        self.name = module
        self.extra = extra
        self.feature = feature

    def __str__(self) -> str:
        return self.msg


def install_hint(extra: str) -> str:
    """The pip command that installs ``extra``."""
    return f'pip install "animegan[{extra}]"'


def require(module: str, *, extra: str, feature: str) -> ModuleType:
    """Import ``module``; if it (or one of its own imports) is missing, raise :class:`MissingExtraError`.

    ``extra``: the pip extra that provides it (``video``, ``onnx``, ``server``, ``train``, ``face``).
    ``feature``: what the user was doing, in words (``video conversion``, ``animegan serve``).
    """
    try:
        return importlib.import_module(module)
    except MissingExtraError:
        raise
    except ModuleNotFoundError as exc:
        missing = exc.name or module
        if missing.startswith("animegan"):  # a bug in this package, not a missing extra
            raise
        raise MissingExtraError(missing, extra, feature) from None


def available(module: str) -> bool:
    """True when ``module`` can be imported (without importing it twice if it already is)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def lazy_attributes(package: str, table: dict[str, str]) -> Callable[[str], Any]:
    """A package's ``__getattr__`` that imports ``table[name]`` (a module path) on first use.

    So a package can name its public API while importing cheaply, and never fails to import
    because a part that needs an optional dependency is broken or missing.
    """

    def __getattr__(name: str) -> Any:
        if name in table:
            return getattr(importlib.import_module(table[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
