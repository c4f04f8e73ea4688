"""Which models the server offers, and a bounded LRU cache of loaded Stylizers."""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ModelError
from ..hub import zoo
from .settings import ServerSettings

log = logging.getLogger("animegan")

_AVAILABLE = ("bundled", "imported", "cached")


@dataclass(frozen=True)
class OfferedModel:
    """A model clients may ask for: its public name and where its weights come from."""

    name: str
    source: str  # a zoo name, or the path of a weights file
    is_path: bool
    style: str = ""
    description: str = ""
    arch: str = ""
    face: bool = False

    def status(self) -> str:
        if self.is_path:
            return "file" if Path(self.source).is_file() else "missing"
        return zoo.shipped_zoo().status(zoo.get_entry(self.source))

    def available(self) -> bool:
        return self.status() in ("file", *_AVAILABLE)


class ModelRegistry:
    """The offered models by name, and up to ``model_cache_size`` loaded Stylizers (LRU)."""

    def __init__(self, settings: ServerSettings):
        self.settings = settings
        self.offered: dict[str, OfferedModel] = {}
        if settings.allowed_models is None:
            for entry in zoo.list_models():
                self.offered[entry.name] = _from_entry(entry)
        else:
            for item in settings.allowed_models:
                model = _offer(item)
                if model.name in self.offered:
                    raise ConfigError(f"allowed models: two entries are both called {model.name!r}")
                self.offered[model.name] = model
        self.default = self._pick_default(settings.default_model)
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def _pick_default(self, wanted: str | None) -> str:
        if wanted:
            found = self.find(wanted)
            if found is None:
                raise ConfigError(f"default model {wanted!r}: not among the allowed models "
                                  f"({', '.join(self.offered)})")
            return found.name
        if self.settings.allowed_models is None:
            return zoo.default_model_name()
        return next(iter(self.offered))

    def find(self, name: str) -> OfferedModel | None:
        """The offered model called ``name`` (a zoo alias or the allowed path itself also match)."""
        if name in self.offered:
            return self.offered[name]
        for model in self.offered.values():
            if model.source == name:
                return model
        try:
            entry = zoo.get_entry(name)
        except ModelError:
            return None
        return self.offered.get(entry.name)

    def describe(self) -> list[dict[str, Any]]:
        """One dict per offered model, for ``GET /api/v1/models``."""
        return [{"name": m.name, "style": m.style, "description": m.description, "arch": m.arch,
                 "face": m.face, "status": m.status(), "available": m.available(),
                 "default": m.name == self.default} for m in self.offered.values()]

    def get(self, name: str | None) -> Any:
        """A ready Stylizer for ``name`` (None: the default); loads it on a cache miss (call off the loop)."""
        model = self.find(name) if name else self.offered.get(self.default) or self.find(self.default)
        if model is None:
            raise ModelError(f"model {name!r}: not offered by this server (choose one of: "
                             f"{', '.join(self.offered)})")
        self.check_available(model)
        with self._lock:  # one load at a time: two requests for a cold model load it once
            stylizer = self._cache.get(model.name)
            if stylizer is not None:
                self._cache.move_to_end(model.name)
                return stylizer
            stylizer = self._load(model)
            self._cache[model.name] = stylizer
            while len(self._cache) > self.settings.model_cache_size:
                dropped, _ = self._cache.popitem(last=False)
                log.info("model cache: dropped %s", dropped)
            return stylizer

    def check_available(self, model: OfferedModel) -> None:
        """Raise a client-facing :class:`ModelError` (no server paths in it) when ``model`` has no weights here.

        The zoo's own advice (where to put or how to fetch the file) is for the operator: it goes to the log.
        """
        status = model.status()
        if status in ("file", *_AVAILABLE):
            return
        try:
            self._load_path(model)
        except ModelError as exc:
            log.warning("model %s requested but not usable here: %s", model.name, exc)
        raise ModelError(f"model {model.name!r}: not available on this server (its weights are not on this "
                         f"machine: {status}); choose a model whose \"available\" is true in GET /api/v1/models")

    def cached_names(self) -> list[str]:
        with self._lock:
            return list(self._cache)

    def _load(self, model: OfferedModel) -> Any:
        from ..inference.stylizer import Stylizer

        path = self._load_path(model)
        log.info("loading model %s from %s", model.name, path)
        return Stylizer(path, device=self.settings.device, precision=self.settings.precision)

    @staticmethod
    def _load_path(model: OfferedModel) -> Path:
        return Path(model.source) if model.is_path else zoo.resolve_model(model.source, download=False)


def _from_entry(entry: zoo.ZooEntry) -> OfferedModel:
    return OfferedModel(name=entry.name, source=entry.name, is_path=False, style=entry.style,
                        description=entry.description, arch=entry.arch, face=entry.face)


def _offer(item: str) -> OfferedModel:
    text = os.fspath(item)
    path = Path(text).expanduser()
    if path.is_file() or "/" in text or os.sep in text or text.lower().endswith(zoo.WEIGHT_SUFFIXES):
        if not path.is_file():
            raise ConfigError(f"allowed model {text}: weights file not found")
        style, arch = _file_metadata(path)
        return OfferedModel(name=path.stem, source=str(path.resolve()), is_path=True, style=style or path.stem,
                            description=f"weights file {path.name}", arch=arch)
    try:
        return _from_entry(zoo.get_entry(text))
    except ModelError as exc:
        raise ConfigError(f"allowed model {text!r}: {exc}") from None


def _file_metadata(path: Path) -> tuple[str, str]:
    """Style and architecture from a safetensors header (cheap: no tensor is read)."""
    if path.suffix.lower() != ".safetensors":
        return "", ""
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
    except Exception:  # noqa: BLE001 - a bad file is reported when it is first used, with the loader's message
        return "", ""
    return meta.get("style", ""), meta.get("arch", "")
