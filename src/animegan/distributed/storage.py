"""Object-store URIs (``s3://``, ``gs://``, ``file://``, ...) for Ray runs, through ``pyarrow.fs``.

Inputs and the output folder of :func:`~animegan.distributed.stylize_files` and of
``animegan stylize ... --ray`` may be URIs. The driver lists them (discovery, skip-existing); the
workers read each input's bytes and write each output through the same filesystem.

Writes are atomic either way:

- a filesystem that can rename (``file://``, HDFS): a temporary object beside the target, named as
  :mod:`animegan.io.atomic` names its temporary files (``.NAME.<random>.<pid>.part.EXT``), then a
  move onto the final name; a killed writer's temporary object is swept at the end of the run;
- an object store without rename (S3, GCS): the final key in one upload, which the store makes
  visible only when it completes (a killed writer leaves no object, never half of one).

``pyarrow`` comes with the ``ray`` extra (``ray[data]``); it is imported when a URI is first used.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import posixpath
import re
import secrets
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import InputError
from ..extras import MissingExtraError, require
from ..io.atomic import is_temp_name, pid_alive
from ..io.discovery import IMAGE_EXTENSIONS, discover_inputs, is_uri
from ..io.discovery import join_location as join

__all__ = ["check_writable", "discover", "expand", "is_uri", "join", "kind", "list_files", "open_stream",
           "read_bytes", "resolve", "sweep_temps", "write_bytes"]
#: stores where a finished upload is the atomic step (no rename): the final key is written directly
_NO_RENAME = ("s3", "gcs")
log = logging.getLogger("animegan")
_TEMP_PID = re.compile(r"\.(\d+)\.part(?:\.[^./]*)?$")


def _pyarrow_fs() -> Any:
    return require("pyarrow.fs", extra="ray", feature="object-store URIs (s3://, gs://, file://)")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@lru_cache(maxsize=64)
def _filesystem_for(authority: str) -> tuple[Any, str]:
    """The filesystem of ``scheme://netloc[?query]`` and the prefix its paths take (``bucket`` for
    S3/GCS, empty for ``file://``): built once per process (an S3 one may look up its region)."""
    scheme, rest = authority.split("://", 1)
    netloc, _, query = rest.partition("?")
    probe = f"{scheme}://{netloc}/animegan-probe" + (f"?{query}" if query else "")
    fs, path = _pyarrow_fs().FileSystem.from_uri(probe)
    if not path.endswith("/animegan-probe"):
        raise ValueError(f"unexpected path {path!r} for {probe}")
    return fs, path[: -len("/animegan-probe")]


def resolve(uri: str) -> tuple[Any, str]:
    """``(filesystem, path)`` for ``uri``; :class:`InputError` naming it when it cannot be opened."""
    parts = urlsplit(uri)
    authority = f"{parts.scheme}://{parts.netloc}" + (f"?{parts.query}" if parts.query else "")
    try:
        fs, prefix = _filesystem_for(authority)
    except MissingExtraError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError...: one line
        reason = _first_line(exc)
        try:  # pyarrow's own words about the user's URI, not about the probe above
            _pyarrow_fs().FileSystem.from_uri(uri)
        except Exception as own:  # noqa: BLE001
            reason = _first_line(own)
        raise InputError(f"{uri}: cannot open this location ({reason})") from None
    path = unquote(parts.path)
    path = (prefix + path) if prefix else path
    return fs, path.rstrip("/") or "/"


def read_bytes(uri: str) -> bytes:
    """The whole object at ``uri``; :class:`InputError` naming it when it is missing or unreadable."""
    fs, path = resolve(uri)
    try:
        with fs.open_input_stream(path) as stream:
            return stream.read()
    except FileNotFoundError:
        raise InputError(f"{uri}: no such file") from None
    except (OSError, ValueError) as exc:
        kind = ""
        with contextlib.suppress(Exception):
            kind = fs.get_file_info(path).type.name
        if kind == "Directory":
            raise InputError(f"{uri}: is a folder, not an image") from None
        raise InputError(f"{uri}: cannot read ({_first_line(exc)})") from None


def open_stream(uri: str) -> io.BytesIO:
    """The object at ``uri`` as a named in-memory stream (error messages name the URI)."""
    stream = io.BytesIO(read_bytes(uri))
    stream.name = uri  # type: ignore[misc]
    return stream


def has_rename(fs: Any) -> bool:
    """Whether writes go through a temporary object and a move (else: one upload of the final key)."""
    return fs.type_name not in _NO_RENAME


def write_bytes(uri: str, data: bytes) -> None:
    """Write ``data`` at ``uri`` atomically (see the module's notes): readers see all of it or nothing."""
    fs, path = resolve(uri)
    if not has_rename(fs):
        with fs.open_output_stream(path) as stream:  # S3/GCS: the object appears when the upload completes
            stream.write(data)
        return
    parent, name = posixpath.split(path)
    stem, ext = posixpath.splitext(name)
    fs.create_dir(parent, recursive=True)
    temp = posixpath.join(parent, f".{stem}.{secrets.token_hex(4)}.{os.getpid()}.part{ext}")
    try:
        with fs.open_output_stream(temp) as stream:
            stream.write(data)
        fs.move(temp, path)
    except BaseException:
        with contextlib.suppress(Exception):
            fs.delete_file(temp)
        raise


def check_writable(uri: str, label: str) -> None:
    """Prove objects can be written under ``uri`` before any work is done (a probe written, then deleted)."""
    fs, path = resolve(uri)
    info = fs.get_file_info(path)
    if info.type.name == "File":
        raise InputError(f"{label}: {uri} is a file, not a folder; outputs cannot be written there")
    probe = join(uri, f".animegan-probe.{secrets.token_hex(4)}")
    try:
        write_bytes(probe, b"")
        fs.delete_file(resolve(probe)[1])
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - permission, missing bucket, no credentials: one line
        raise InputError(f"{label}: cannot write in {uri} ({_first_line(exc)})") from None


def _is_hidden(relative: str) -> bool:
    return any(part.startswith(".") for part in relative.split("/"))


def list_files(uri: str) -> dict[str, int]:
    """Every file below ``uri`` (recursive): ``{relative path: size}``; empty when there is none."""
    pafs = _pyarrow_fs()
    fs, path = resolve(uri)
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    except (OSError, ValueError) as exc:
        raise InputError(f"{uri}: cannot list ({_first_line(exc)})") from None
    base = path.rstrip("/") + "/"
    return {info.path[len(base):]: info.size for info in infos
            if info.type.name == "File" and info.path.startswith(base)}


def kind(uri: str) -> str | None:
    """``"file"``, ``"folder"`` or None (nothing there, or a location that cannot be opened)."""
    try:
        fs, path = resolve(uri)
        found = fs.get_file_info(path).type.name
    except (InputError, OSError, ValueError):
        return None
    return {"File": "file", "Directory": "folder"}.get(found)


def expand(spec: str) -> list[tuple[str, str]]:
    """One URI input's images: ``[(uri, relative name)]``; :class:`InputError` naming it when it has none.

    A URI naming an object is one input (relative name: its own name); one naming a folder (a
    prefix) gives its images (:data:`~animegan.io.discovery.IMAGE_EXTENSIONS`, hidden names skipped),
    each keeping its path below the prefix (one listing). It is the ``expand_uri`` of
    :func:`animegan.io.discovery.discover_inputs`, which plans URIs and paths alike.
    """
    try:
        fs, path = resolve(spec)
        found = fs.get_file_info(path).type.name
        if found == "File":
            return [(spec, posixpath.basename(path))]
        if found != "Directory":
            raise InputError(f"{spec}: no such file or folder")
        names = sorted(rel for rel in list_files(spec)
                       if not _is_hidden(rel) and posixpath.splitext(rel)[1].lower() in IMAGE_EXTENSIONS)
    except (OSError, ValueError) as exc:
        raise InputError(f"{spec}: cannot open this location ({_first_line(exc)})") from None
    if not names:
        raise InputError(f"{spec}: folder holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    return [(join(spec, rel), rel) for rel in names]


def discover(specs: Sequence[str]) -> tuple[list[tuple[str, str]], list[InputError]]:
    """URI inputs: ``([(uri, relative name)], [one error per input that gave none])`` (see :func:`expand`);
    a URI named twice is listed once."""
    found = discover_inputs(specs, expand_uri=expand)
    return [(str(item.path), item.relative.as_posix()) for item in found.items], found.errors


def sweep_temps(targets: Iterable[str]) -> list[str]:
    """Remove the temporary objects of killed writers of ``targets`` (URIs on renaming filesystems);
    returns the URIs removed. Called when the job is over; a writer still alive on this machine is left."""
    by_folder: dict[str, set[str]] = {}
    for target in targets:
        folder, name = target.rstrip("/").rsplit("/", 1)
        by_folder.setdefault(folder, set()).add(posixpath.splitext(unquote(name))[0])
    removed: list[str] = []
    for folder, stems in sorted(by_folder.items()):
        try:
            fs, path = resolve(folder)
            if not has_rename(fs):
                continue  # S3/GCS: no temporary objects are ever written
            infos = fs.get_file_info(_pyarrow_fs().FileSelector(path, allow_not_found=True))
        except Exception:  # a sweep never fails the run
            log.debug("cannot sweep %s", folder, exc_info=True)
            continue
        for info in infos:
            name = info.base_name
            if info.type.name != "File" or not is_temp_name(name):
                continue
            if not any(name.startswith(f".{stem}.") for stem in stems):
                continue
            pid = _TEMP_PID.search(name)
            if pid is not None and pid_alive(int(pid.group(1))):
                continue
            with contextlib.suppress(Exception):
                fs.delete_file(info.path)
                removed.append(join(folder, name))
    return removed
