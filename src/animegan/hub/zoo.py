"""The model zoo: named models as data (``zoo.json``), resolved to a weights file on this machine.

A name resolves, in order, to: the bundled file shipped inside the package, a model the user
imported under that name (``animegan models import``), a verified file in the cache, a download
(when allowed), or a :class:`ModelError` that says what to fetch from where and where to put it.

``$ANIMEGAN_ZOO_URL_BASE`` (or ``url_base=``) replaces every download URL's folder with a mirror:
``<base>/<filename>`` (``http(s)://`` or ``file://``); the checksums still apply.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ModelError
from ..nn import build_generator
from . import cache
from .catalogue import Catalogue, ZooEntry, ZooFile, name_key, shipped_catalogue
from .download import download_file, verify_file
from .importers import TORCH_SUFFIXES
from .loading import read_any_weights
from .weights import load_state_strict, save_weights

log = logging.getLogger(__name__)

#: environment variable naming a mirror folder for every zoo download
URL_BASE_ENV = "ANIMEGAN_ZOO_URL_BASE"
#: suffixes that make a string a weights path rather than a model name: every file kind a model can
#: be loaded from (ours, the importers' PyTorch and .npy files, ONNX graphs and ORT's mobile format)
#: model files run by ONNX Runtime (an ``.ort`` file is the mobile format); animegan.inference.onnx_graph runs them
ONNX_SUFFIXES = (".onnx", ".ort")
WEIGHT_SUFFIXES = (".safetensors", ".npy", *TORCH_SUFFIXES, *ONNX_SUFFIXES)
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.]{0,63}$")

__all__ = ["FileProgress", "Zoo", "ZooEntry", "ZooFile", "default_model_name", "get_entry", "list_models",
           "resolve_model", "shipped_zoo", "validate_name"]

#: called as ``progress(filename, bytes_done, bytes_total_or_None)``
FileProgress = Callable[[str, int, "int | None"], None]


class Zoo:
    """A catalogue of models plus this machine's cache; the module functions use the shipped one."""

    def __init__(self, entries: list[ZooEntry], default: str, package_root: str | os.PathLike | None = None):
        self.entries = list(entries)
        self.default = name_key(default)
        #: folder that ``bundled`` paths are relative to (the folder holding the ``animegan`` package)
        self.package_root = Path(package_root) if package_root else Path(__file__).resolve().parents[2]
        self._by_name: dict[str, ZooEntry] = {}
        for entry in self.entries:
            for key in (entry.name, *entry.aliases):
                if key in self._by_name:
                    raise ModelError(f"zoo: the name {key!r} is used twice")
                self._by_name[key] = entry

    @classmethod
    def from_dict(cls, data: dict[str, Any], package_root: str | os.PathLike | None = None) -> Zoo:
        return cls.from_catalogue(Catalogue.from_dict(data), package_root)

    @classmethod
    def from_catalogue(cls, catalogue: Catalogue, package_root: str | os.PathLike | None = None) -> Zoo:
        return cls(list(catalogue.entries), catalogue.default, package_root)

    # -- lookup ---------------------------------------------------------------------------------

    def list_models(self) -> list[ZooEntry]:
        """The zoo's models, then the models only the user imported."""
        imported = cache.read_index()
        extra = [_imported_entry(name, rec) for name, rec in imported.items() if name not in self._by_name]
        return self.entries + extra

    def names(self) -> list[str]:
        return [e.name for e in self.list_models()]

    def default_model_name(self) -> str:
        if self.default not in self._by_name:
            raise ModelError(f"zoo: the default model {self.default!r} is not in the zoo")
        return self._by_name[self.default].name

    def find(self, name: str) -> ZooEntry | None:
        """The entry for a name or alias ("default" included), or None."""
        key = name_key(name)
        if key == "default":
            key = self.default_model_name()
        if key in self._by_name:
            return self._by_name[key]
        rec = cache.read_index().get(key)
        return _imported_entry(key, rec) if rec is not None else None

    def get_entry(self, name: str) -> ZooEntry:
        """The entry for a name or alias; :class:`ModelError` listing the known names otherwise."""
        entry = self.find(name)
        if entry is None:
            raise ModelError(f"unknown model {name!r} (known: {', '.join(self.names())}; "
                             "or give the path of a weights file)")
        return entry

    # -- where files are ------------------------------------------------------------------------

    def bundled_path(self, entry: ZooEntry) -> Path | None:
        return self.package_root / entry.bundled if entry.bundled else None

    def imported_path(self, entry: ZooEntry) -> Path | None:
        rec = cache.read_index().get(entry.name)
        return cache.models_dir() / rec["file"] if rec else None

    def cache_path(self, zfile: ZooFile) -> Path:
        """Where a downloaded file lives (or should be put by hand)."""
        return cache.models_dir() / zfile.filename

    def status(self, entry: ZooEntry) -> str:
        """bundled, imported, cached, not downloaded, import only, or missing (a bundled file not built)."""
        if entry.bundled:
            bundled = self.bundled_path(entry)
            return "bundled" if bundled is not None and bundled.is_file() else "missing"
        imported = self.imported_path(entry)
        if imported is not None:
            return "imported" if imported.is_file() else "missing"
        if entry.files:
            return "cached" if all(self.cache_path(f).is_file() for f in entry.files) else "not downloaded"
        return "import only"

    # -- resolving ------------------------------------------------------------------------------

    def resolve_model(self, name_or_path: str | os.PathLike | None = None, download: bool = True, *,
                      progress: FileProgress | None = None, url_base: str | None = None) -> Path:
        """A weights path for a file path, a zoo name or alias, or None (the default model)."""
        if name_or_path is None or (isinstance(name_or_path, str) and not name_or_path.strip()):
            name_or_path = self.default_model_name()
        text = os.fspath(name_or_path)
        path = Path(text).expanduser()
        if path.is_file():
            return path
        entry = None if isinstance(name_or_path, os.PathLike) else self.find(text)
        if entry is not None:
            return self._resolve_entry(entry, download, progress, url_base)
        if path.is_dir():  # a folder of .npy tensors (CartoonGAN teachers)
            return path
        if isinstance(name_or_path, os.PathLike) or "/" in text or os.sep in text \
                or text.lower().endswith(WEIGHT_SUFFIXES):
            raise ModelError(f"{text}: weights file not found")
        self.get_entry(text)  # raises the unknown-name error
        raise AssertionError("unreachable")

    def _resolve_entry(self, entry: ZooEntry, download: bool, progress: FileProgress | None,
                       url_base: str | None) -> Path:
        if entry.bundled:
            bundled = self.bundled_path(entry)
            assert bundled is not None
            if not bundled.is_file():
                raise ModelError(
                    f"model {entry.name!r}: its bundled weights {entry.bundled} are not in this installation "
                    f"(looked in {self.package_root}; the default styles have not been trained yet, or this "
                    "install left them out); use another --model (`animegan models list`) or a weights file")
            return bundled
        imported = self.imported_path(entry)
        if imported is not None:
            if not imported.is_file():
                raise ModelError(f"model {entry.name!r}: its imported file {imported} is gone; import it again "
                                 f"with `animegan models import PATH --name {entry.name} --force`")
            return imported
        if not entry.files:
            raise ModelError(f"model {entry.name!r}: {entry.import_hint or 'has no weights file to fetch'}")
        paths = [self._resolve_file(entry, f, download, progress, url_base) for f in entry.files]
        return paths[0]

    def _resolve_file(self, entry: ZooEntry, zfile: ZooFile, download: bool, progress: FileProgress | None,
                      url_base: str | None) -> Path:
        dest = self.cache_path(zfile)
        if dest.is_file():
            if not zfile.checksum or cache.is_marked_verified(dest, zfile.checksum):
                return dest
            try:  # first use of a file that someone put here by hand, or whose marker is stale
                verify_file(dest, sha256=zfile.sha256, git_blob_sha1=zfile.git_blob_sha1, size=zfile.size,
                            source=f"model {entry.name!r}: cached file {dest}")
            except ModelError as exc:
                if not download:
                    raise ModelError(f"{exc}; delete it or run `animegan models download {entry.name} "
                                     "--force`") from None
                log.warning("%s; downloading it again", exc)
            else:
                cache.mark_verified(dest, zfile.checksum)
                return dest
        if not download:
            url = zfile.url_from(self.mirror_base(url_base))
            raise ModelError(f"model {entry.name!r} is not downloaded: run `animegan models download "
                             f"{entry.name}`, or fetch {url} and put it at {dest}")
        return self._download_file(entry, zfile, progress, url_base)

    # -- downloading ----------------------------------------------------------------------------

    def download(self, name: str, *, force: bool = False, progress: FileProgress | None = None,
                 url_base: str | None = None) -> Path:
        """Fetch a model's files into the cache (again with ``force``); the bundled ones need nothing."""
        entry = self.get_entry(name)
        if not force or not entry.downloadable:
            return self._resolve_entry(entry, True, progress, url_base)
        paths = [self._download_file(entry, f, progress, url_base) for f in entry.files]
        return paths[0]

    def _download_file(self, entry: ZooEntry, zfile: ZooFile, progress: FileProgress | None,
                       url_base: str | None) -> Path:
        url = zfile.url_from(self.mirror_base(url_base))
        dest = self.cache_path(zfile)
        hint = (f"fetch that file another way and put it at {dest} (it is checked against the zoo's checksum "
                f"on first use), or run `animegan models import PATH --name {entry.name}`")
        callback = None if progress is None else functools.partial(progress, zfile.filename)
        cache.clear_verified(dest)
        download_file(url, dest, sha256=zfile.sha256, git_blob_sha1=zfile.git_blob_sha1, size=zfile.size,
                      max_bytes=zfile.max_size, progress=callback, what=f"model {entry.name!r}", hint=hint)
        if zfile.checksum:
            cache.mark_verified(dest, zfile.checksum)
        return dest

    # -- importing and removing -----------------------------------------------------------------

    def import_model(self, path: str | os.PathLike, name: str, *, arch: str | None = None,
                     style: str | None = None, force: bool = False) -> ZooEntry:
        """Convert a weights file (ours or foreign) into ``<cache>/models/<name>.safetensors``.

        Under the name of a downloadable zoo model the file must match that model's checksum, so
        the name always means the same weights. Checked by building the generator and loading the
        weights strictly before anything is written.
        """
        path = Path(path).expanduser()
        if not path.exists():
            raise ModelError(f"{path}: weights file not found")
        key = validate_name(name)
        entry = self._by_name.get(key)
        if entry is not None:
            key = entry.name
            if entry.bundled:
                raise ModelError(f"{key!r} is a bundled model; import under another name")
            if arch is not None and arch != entry.arch:
                raise ModelError(f"{key!r} is a {entry.arch!r} model in the zoo, not {arch!r}")
            arch = entry.arch
            if entry.files and path.is_file():
                f = entry.files[0]
                try:
                    verify_file(path, sha256=f.sha256, git_blob_sha1=f.git_blob_sha1, size=f.size,
                                source=str(path))
                except ModelError as exc:
                    raise ModelError(f"{exc}: not the published {key!r} weights; import it under another "
                                     "--name") from None
        if key in cache.read_index() and not force:  # early answer; decided again under the lock below
            raise ModelError(_already_imported(key))
        state, info = read_any_weights(path, arch)
        load_state_strict(build_generator(info.arch, info.config), state, str(path))
        info.style = style or info.style or (entry.style if entry else "")
        info.licence = info.licence or (entry.licence if entry else "")
        info.provenance = info.provenance or f"imported from {path.name}"
        filename = f"{key}.safetensors"
        record = {"file": filename, "arch": info.arch, "config": info.config, "style": info.style,
                  "licence": info.licence, "description": f"imported from {path}", "provenance": info.provenance}
        folder = cache.models_dir()
        folder.mkdir(parents=True, exist_ok=True)
        # the slow part (writing the file) happens outside the lock, under a temp name; the lock is
        # held only to decide, move the file into place and record it, so no concurrent import or
        # remove can lose an entry, leave an orphan, or let two imports of one name both win
        fd, tmp_name = tempfile.mkstemp(prefix=f".{key}.", suffix=".part.safetensors", dir=folder)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            save_weights(tmp, state, info)

            def commit(index: dict[str, dict[str, Any]]) -> None:
                if key in index and not force:
                    raise ModelError(_already_imported(key))
                os.replace(tmp, folder / filename)
                index[key] = record

            cache.update_index(commit)
        finally:
            tmp.unlink(missing_ok=True)
        return entry if entry is not None else _imported_entry(key, record)

    def remove(self, name: str) -> list[Path]:
        """Delete a model's imported and downloaded files from the cache; return what was deleted."""
        entry = self.get_entry(name)
        removed = []
        targets = [self.cache_path(f) for f in entry.files]
        if entry.name in cache.read_index():

            def drop(index: dict[str, dict[str, Any]]) -> None:
                rec = index.pop(entry.name, None)
                if rec is not None:
                    imported = cache.models_dir() / rec["file"]
                    if imported.is_file():  # under the lock: a concurrent re-import is not deleted
                        imported.unlink()
                        removed.append(imported)

            cache.update_index(drop)
        for target in targets:
            cache.clear_verified(target)
            if target.is_file():
                target.unlink()
                removed.append(target)
        return removed

    @staticmethod
    def mirror_base(url_base: str | None = None) -> str | None:
        """The mirror folder in use: ``url_base``, else ``$ANIMEGAN_ZOO_URL_BASE``, else None."""
        return url_base or os.environ.get(URL_BASE_ENV, "").strip() or None


def _already_imported(key: str) -> str:
    return f"a model named {key!r} is already imported; add --force to replace it"


def _imported_entry(name: str, rec: dict[str, Any]) -> ZooEntry:
    return ZooEntry(name=name, arch=rec.get("arch", ""), description=rec.get("description", ""),
                    style=rec.get("style", ""), licence=rec.get("licence", ""), terms=rec.get("terms", ""),
                    config=dict(rec.get("config") or {}), source="imported")


def validate_name(name: str) -> str:
    """The normalised form of a name for an imported model; ModelError when unusable."""
    key = name_key(name)
    if key == "default" or not _NAME_RE.match(key):
        raise ModelError(f"{name!r} is not a usable model name: use 1-64 letters, digits, '_', '-' or '.', "
                         "starting with a letter or digit (and not 'default')")
    return key


@functools.lru_cache(maxsize=1)
def shipped_zoo() -> Zoo:
    """The zoo shipped as package data (``animegan/hub/zoo.json``), on this machine's cache."""
    return Zoo.from_catalogue(shipped_catalogue())


def list_models() -> list[ZooEntry]:
    """Every model this installation knows: the zoo's, then the user's imported ones."""
    return shipped_zoo().list_models()


def get_entry(name: str) -> ZooEntry:
    """The zoo entry for a name or alias; :class:`ModelError` listing the known names otherwise."""
    return shipped_zoo().get_entry(name)


def default_model_name() -> str:
    """The name of the model used when none is given."""
    return shipped_zoo().default_model_name()


def resolve_model(name_or_path: str | os.PathLike | None = None, download: bool = True, *,
                  progress: FileProgress | None = None) -> Path:
    """A weights path for a file path, a zoo name or alias, or None (the default model).

    Bundled file, imported model, verified cache hit, or a download when ``download`` is true;
    otherwise a :class:`ModelError` that says what to fetch from where and where to put it.
    """
    return shipped_zoo().resolve_model(name_or_path, download, progress=progress)
