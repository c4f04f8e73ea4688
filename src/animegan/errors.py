"""Typed exceptions with actionable messages.

Library code raises these and never prints; the CLI turns them into one clear line per failed
input and a non-zero exit, the server into a 4xx/5xx JSON body with the same message.
"""

from __future__ import annotations

import re


class AnimeGANError(Exception):
    """Base class: every error the library raises on purpose.

    Messages speak of the library's parameters (``max_side``), never of CLI flags; an error whose
    message names parameters lists them in ``params`` (keyword), and :meth:`as_flag` says the same
    message with each as the command line's flag (``--max-side``).
    """

    #: HTTP status the server answers with when this error reaches it.
    http_status: int = 500
    #: the library parameters the message names (the server's form fields have the same names)
    params: tuple[str, ...] = ()

    def __init__(self, *args: object, params: tuple[str, ...] = ()):
        super().__init__(*args)
        if params:
            self.params = tuple(params)

    def as_flag(self) -> str:
        """The message as the command line says it: every parameter in ``params`` as its flag."""
        text = str(self)
        for name in self.params:
            text = re.sub(rf"(?<![\w-]){re.escape(name)}(?!\w)", _flag(name), text)
        return text


class InputError(AnimeGANError):
    """Bad user input: a missing path, a file that is not an image, a bad option."""

    http_status = 422


class ParamError(InputError):
    """A parameter out of its bounds or choices. The message names the library's parameter
    (``max_side 8: must be at least 16``); the CLI and the server say it in their own words with
    :meth:`as_flag` (``--max-side 8: ...``) and the form field of the same name."""

    def __init__(self, param: str, value: object, problem: str):
        self.param, self.value, self.problem = param, value, problem
        super().__init__(f"{param} {value}: {problem}")

    def __reduce__(self) -> tuple:  # picklable (server worker processes) with its three arguments
        return (type(self), (self.param, self.value, self.problem))

    def as_flag(self) -> str:
        """The same error as the command line says it."""
        return f"{_flag(self.param)} {self.value}: {self.problem}"


class ImageDecodeError(InputError):
    """The file exists but is not a decodable image (text file, truncated, empty)."""

    http_status = 415


class ImageTooLargeError(InputError):
    """The image is over the pixel limit (a decompression bomb, or simply too big)."""

    http_status = 413


class ModelError(AnimeGANError):
    """A weights file or model name that cannot be used."""

    http_status = 422


class WeightsMismatchError(ModelError):
    """Weights whose keys or shapes do not fit the architecture."""

    def __init__(self, source: str, missing: list[str], unexpected: list[str], shape: list[str] | None = None):
        self.missing, self.unexpected, self.shape = missing, unexpected, shape or []
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys ({_short(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys ({_short(unexpected)})")
        if self.shape:
            parts.append(f"{len(self.shape)} shape mismatches ({_short(self.shape)})")
        super().__init__(f"{source}: weights do not fit the architecture: " + "; ".join(parts))


class DownloadError(ModelError):
    """A model file could not be fetched or failed its checksum."""

    http_status = 503


class DeviceError(AnimeGANError):
    """A device or execution provider was asked for and is not available."""

    http_status = 500


class ConfigError(AnimeGANError):
    """A training or server configuration that is invalid."""

    http_status = 422


def input_error_line(name: str, exc: BaseException) -> str:
    """One line naming the input ``name`` and what went wrong with it, as the command line says it
    (library parameters as flags); an unexpected exception gives its type and first line."""
    if isinstance(exc, AnimeGANError):
        text = exc.as_flag()
        return text if name in text else f"{name}: {text}"
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{name}: {type(exc).__name__}: {first}".rstrip(": ")


def _flag(name: str) -> str:
    """A library parameter's command-line flag: ``max_side`` -> ``--max-side``."""
    return "--" + name.replace("_", "-")


def _short(items: list[str], n: int = 4) -> str:
    shown = ", ".join(items[:n])
    return shown + (f", ... {len(items) - n} more" if len(items) > n else "")
