"""Typed exceptions with actionable messages.

Library code raises these and never prints; the CLI turns them into one clear line per failed
input and a non-zero exit, the server into a 4xx/5xx JSON body with the same message.
"""

from __future__ import annotations


class AnimeGANError(Exception):
    """Base class: every error the library raises on purpose."""

    #: HTTP status the server answers with when this error reaches it.
    http_status: int = 500


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

    def as_flag(self) -> str:
        """The same error as the command line says it."""
        return f"--{self.param.replace('_', '-')} {self.value}: {self.problem}"


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


def _short(items: list[str], n: int = 4) -> str:
    shown = ", ".join(items[:n])
    return shown + (f", ... {len(items) - n} more" if len(items) > n else "")
