"""Files that ship inside the package: training presets and the bundled sample photos.

Read through :mod:`importlib.resources`, so they are found the same way in a development checkout,
an editable install and a wheel installed anywhere. Nothing here points outside the package.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def _package_dir(name: str) -> Path:
    # a regular (non-zip) install: the Traversable is a real folder on disk
    return Path(str(resources.files("animegan") / name))


def presets_dir() -> Path:
    """The folder of shipped TOML presets (``hayao.toml``, ``distill-shinkai.toml``, …)."""
    return _package_dir("configs")


def samples_dir() -> Path:
    """The folder of bundled sample photos (public-domain / CC0; see its README.md)."""
    return _package_dir("samples")


def sample_photos() -> list[Path]:
    """The bundled sample photos, sorted by name: every file of :func:`samples_dir` but its README.

    The folder holds nothing else (a test checks that these are exactly the images
    :func:`animegan.io.discovery.list_images` finds there); this module sits below ``io`` and does
    not judge file names itself.
    """
    return sorted(p for p in samples_dir().iterdir() if p.is_file() and p.name != "README.md")
