"""The zoo's catalogue as data: the named models of ``zoo.json`` and their published files.

Only what the shipped catalogue says (names, architectures, files and their checksums), read once;
nothing here looks at this machine. :mod:`.zoo` adds the cache, imported models, resolving and
downloads on top; :mod:`.importers` reads the catalogue to recognise a published file by its git
blob id.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ..errors import ModelError
from .download import checksum_label


@dataclass(frozen=True)
class ZooFile:
    """One downloadable file of a model, with what it is checked against."""

    filename: str
    url: str
    sha256: str | None = None
    git_blob_sha1: str | None = None
    size: int | None = None  # exact size in bytes, when published
    max_size: int | None = None  # without an exact size: the most bytes a download of it may bring

    @property
    def checksum(self) -> str:
        return checksum_label(self.sha256, self.git_blob_sha1)

    def url_from(self, url_base: str | None) -> str:
        """This file's URL, or ``<url_base>/<filename>`` on a mirror."""
        return f"{url_base.rstrip('/')}/{self.filename}" if url_base else self.url


@dataclass(frozen=True)
class ZooEntry:
    """A named model: what it is, where its weights come from, and how to use it."""

    name: str
    arch: str
    description: str = ""
    style: str = ""
    licence: str = ""
    terms: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    files: tuple[ZooFile, ...] = ()
    aliases: tuple[str, ...] = ()
    face: bool = False  # recommended: face-portrait mode (centre crop + resize)
    size: int | None = None  # recommended working size in pixels (None: any)
    bundled: str | None = None  # path inside the installation, e.g. animegan/weights/hayao.safetensors
    import_hint: str | None = None  # how to get a model that cannot be downloaded here
    source: str = "zoo"  # "zoo" or "imported"

    @property
    def downloadable(self) -> bool:
        return bool(self.files) and not self.bundled

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["files"] = [dataclasses.asdict(f) for f in self.files]
        data["aliases"] = list(self.aliases)
        return data

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "zoo") -> ZooEntry:
        where = f"zoo entry {raw.get('name', '?')!r}"
        try:
            files = tuple(ZooFile(**f) for f in raw.get("files", []))
            rec = raw.get("recommended") or {}
            return cls(name=name_key(raw["name"]), arch=raw["arch"], description=raw.get("description", ""),
                       style=raw.get("style", ""), licence=raw.get("licence", ""), terms=raw.get("terms", ""),
                       config=dict(raw.get("config") or {}), files=files,
                       aliases=tuple(name_key(a) for a in raw.get("aliases", [])), face=bool(rec.get("face")),
                       size=rec.get("size"), bundled=raw.get("bundled"), import_hint=raw.get("import_hint"),
                       source=source)
        except (KeyError, TypeError) as exc:
            raise ModelError(f"{where}: malformed ({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True)
class Catalogue:
    """The models a ``zoo.json`` names, and the one used when none is given."""

    entries: tuple[ZooEntry, ...]
    default: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Catalogue:
        return cls(tuple(ZooEntry.from_dict(raw) for raw in data.get("models", [])), name_key(data.get("default", "")))

    def published_entry(self, git_blob: str) -> ZooEntry | None:
        """The entry one of whose published files has this git blob id, or None."""
        return next((e for e in self.entries if any(f.git_blob_sha1 == git_blob for f in e.files)), None)


@functools.lru_cache(maxsize=1)
def shipped_catalogue() -> Catalogue:
    """The catalogue shipped as package data (``animegan/hub/zoo.json``)."""
    try:
        data = json.loads(resources.files("animegan.hub").joinpath("zoo.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"animegan/hub/zoo.json: cannot read the model zoo ({exc})") from None
    return Catalogue.from_dict(data)


def name_key(name: str) -> str:
    """The normalised form of a model name or alias (case and ``-`` ignored)."""
    return str(name).strip().lower().replace("-", "_")
