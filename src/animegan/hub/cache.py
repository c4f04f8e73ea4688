"""Where models live on this machine: the cache dir, its layout, and the index of imported models.

Layout (``cache_dir()`` is the platformdirs user cache dir for "animegan", or ``$ANIMEGAN_HOME``)::

    <cache_dir>/models/face_paint_512_v2.pt            a zoo download, under its published name
    <cache_dir>/models/face_paint_512_v2.pt.verified   marker: size, mtime and checksum seen at verification
    <cache_dir>/models/my_style.safetensors            a model brought in by `animegan models import`
    <cache_dir>/models/index.json                      the imported models (written atomically)
    <cache_dir>/models/index.lock                      held while a process reads-modifies-writes the index
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import ModelError
from ..io.atomic import atomic_write_bytes

#: environment variable that moves the whole cache (tests set it per test)
HOME_ENV = "ANIMEGAN_HOME"
INDEX_VERSION = 1


def cache_dir() -> Path:
    """The animegan cache dir: ``$ANIMEGAN_HOME`` if set, else the platform's user cache dir."""
    home = os.environ.get(HOME_ENV, "").strip()
    if home:
        return Path(home).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("animegan", appauthor=False))


def models_dir() -> Path:
    """The folder holding downloaded and imported model files (not created here)."""
    return cache_dir() / "models"


def index_path() -> Path:
    return models_dir() / "index.json"


def lock_path() -> Path:
    return models_dir() / "index.lock"


@contextlib.contextmanager
def index_lock() -> Iterator[None]:
    """Hold an exclusive lock on the index (blocking) for one short read-modify-write.

    An advisory ``flock`` on ``index.lock`` beside the index: every writer in this package takes
    it, so concurrent ``models import`` / ``remove`` never lose each other's entries. The lock
    file stays (deleting it would let two processes lock two different files); the kernel drops
    the lock when its holder exits, kill -9 included.
    """
    path = lock_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise ModelError(f"{path}: cannot open the imported-models index lock ({exc.strerror or exc})") from None
    try:
        _lock(fd)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def update_index(change: Callable[[dict[str, dict[str, Any]]], Any]) -> Any:
    """Read the index, let ``change`` edit it in place, write it back: all under :func:`index_lock`.

    Returns what ``change`` returns; when ``change`` raises, the index is left as it was.
    """
    with index_lock():
        models = read_index()
        result = change(models)
        write_index(models)
        return result


def read_index() -> dict[str, dict[str, Any]]:
    """The imported models by name (empty when nothing was imported yet)."""
    path = index_path()
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the imported-models index ({exc.strerror or exc})") from None
    try:
        data = json.loads(raw)
        models = data["models"]
        if not isinstance(models, dict):
            raise TypeError("'models' is not an object")
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ModelError(f"{path}: the imported-models index is corrupt ({exc}); delete it and "
                         "re-import with `animegan models import PATH --name NAME`") from None
    return models


def write_index(models: dict[str, dict[str, Any]]) -> None:
    """Replace the index atomically (a crash leaves the old index or the new one, never half)."""
    data = {"version": INDEX_VERSION, "models": dict(sorted(models.items()))}
    atomic_write_bytes(index_path(), (json.dumps(data, indent=2) + "\n").encode("utf-8"))


def _lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: lock the first byte instead
        import msvcrt

        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                return
            except OSError:  # LK_LOCK gives up after ~10 s; keep waiting
                continue
    fcntl.flock(fd, fcntl.LOCK_EX)


# -- verification markers: a file checked once is trusted while its size and mtime stay the same --

def _marker_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def is_marked_verified(path: Path, checksum: str) -> bool:
    """True when ``path`` was verified against ``checksum`` and has not changed since."""
    try:
        marker = json.loads(_marker_path(path).read_text(encoding="utf-8"))
        st = path.stat()
    except (OSError, json.JSONDecodeError):
        return False
    return (isinstance(marker, dict) and marker.get("checksum") == checksum
            and marker.get("size") == st.st_size and marker.get("mtime_ns") == st.st_mtime_ns)


def mark_verified(path: Path, checksum: str) -> None:
    """Record that ``path`` matched ``checksum`` (best effort: a read-only cache only costs a re-hash)."""
    st = path.stat()
    body = json.dumps({"checksum": checksum, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    try:
        atomic_write_bytes(_marker_path(path), body.encode("utf-8"))
    except OSError:
        pass


def clear_verified(path: Path) -> None:
    try:
        _marker_path(path).unlink()
    except FileNotFoundError:
        pass
