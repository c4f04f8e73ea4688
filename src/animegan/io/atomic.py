"""Atomic writes: a temporary file beside the target, then ``os.replace``.

A crash never leaves a half-written image, video, checkpoint or weights file under the final name.
A crash (kill -9, power loss) can leave the temporary file itself; its name carries the writer's
PID, ``.NAME.<random>.<pid>.part.EXT``, so :func:`sweep_stale_temps` can remove those whose writer
is gone. Every :func:`atomic_path` sweeps its folder once per process, before its first write there,
and long-running jobs (training, video, downloads) sweep their folders when they start.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import InputError

#: when this process started (this module is imported before any atomic write): temporary files
#: last modified before it cannot belong to a write of this process
PROCESS_START = time.time()

#: ``.NAME.<8 random chars>[.<pid>].part[.EXT]``: what :func:`atomic_path` makes (the PID-less form
#: is what earlier versions made)
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}(?:\.(?P<pid>\d+))?\.part(?:\.[^./]*)?$")

_swept: set[str] = set()
_swept_lock = threading.Lock()


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``target`` on success.

    The temporary name keeps the target's extension (or ``suffix``) so writers that pick a format
    from the extension (Pillow, PyAV, safetensors) behave as they would on the real name.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_once(target.parent)
    ext = suffix if suffix is not None else target.suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".{os.getpid()}.part{ext}", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    mode = 0o666 & ~_umask()  # mkstemp makes 0600; outputs get the usual mode
    os.chmod(tmp_path, mode)
    try:
        yield tmp_path
        os.chmod(tmp_path, mode)  # again: some writers (safetensors) replace the file they were given
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def atomic_write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def check_writable_folder(folder: str | os.PathLike, label: str | None = None) -> None:
    """Prove outputs can be written in ``folder`` (or created under its nearest existing parent), before any
    work is done; nothing is left behind.

    Raises :class:`~animegan.errors.InputError` naming ``label`` (default: the folder) and the reason:
    a file in the way, no permission, a read-only or full disk.
    """

    folder = Path(folder)
    label = label or str(folder)
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        where = "is a file, not a folder" if existing == folder else f"cannot be created: {existing} is a file"
        raise InputError(f"{label}: {folder} {where}; outputs cannot be written there")
    try:
        fd, probe = tempfile.mkstemp(prefix=".animegan-probe.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"{label}: cannot write in {existing} ({exc.strerror or exc})") from None


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is a temporary file of :func:`atomic_path` (this version's or an earlier one's)."""
    return _TEMP_NAME.match(name) is not None


def is_stale_temp(path: str | os.PathLike) -> bool:
    """A temporary file of :func:`atomic_path` left by a dead writer.

    Stale means: last modified before this process started, and the PID in its name (if any) is
    not a live process (a PID-less name from an earlier version counts on its age alone).
    """
    path = Path(path)
    found = _TEMP_NAME.match(path.name)
    if found is None:
        return False
    try:
        if path.stat().st_mtime >= PROCESS_START:
            return False  # written since this process started: possibly by a live writer
    except OSError:
        return False
    pid = found.group("pid")
    if pid is None:
        return True
    pid_number = int(pid)
    return pid_number == os.getpid() or not pid_alive(pid_number)  # our PID: a dead predecessor's


def sweep_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove the stale temporary files (see :func:`is_stale_temp`) in ``folder``; returns them."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:  # missing or unreadable folder: nothing to sweep
        return removed
    for entry in entries:
        if not entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
            continue
        if is_stale_temp(entry.path):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def sweep_once(folder: str | os.PathLike) -> None:
    """:func:`sweep_stale_temps` on ``folder`` the first time this process asks for it."""
    key = os.path.abspath(folder)
    with _swept_lock:
        if key in _swept:
            return
        _swept.add(key)
    sweep_stale_temps(key)


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    except OSError:
        return False
    try:  # a killed child its parent has not reaped yet still answers kill(0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sweep_temps_of(targets: Iterable[str | os.PathLike]) -> list[Path]:
    """Remove the temporary files of killed writers of ``targets`` from their folders; returns them.

    Called once the job is over, so no worker of it still writes: a temporary file of one of these
    outputs whose writer's process is gone is a killed worker's, as is any stale one
    (:func:`sweep_stale_temps`).
    """
    by_folder: dict[Path, set[str]] = {}
    for target in targets:
        target = Path(target)
        by_folder.setdefault(target.parent, set()).add(target.stem)
    removed: list[Path] = []
    for folder, stems in sorted(by_folder.items()):
        removed += sweep_stale_temps(folder)
        with contextlib.suppress(OSError):
            for entry in os.scandir(folder):
                found = _TEMP_NAME.match(entry.name)
                if found is None or not entry.is_file(follow_symlinks=False):
                    continue
                ours = any(entry.name.startswith(f".{stem}.") for stem in stems)
                pid = found.group("pid")
                if ours and pid is not None and not pid_alive(int(pid)):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
                        removed.append(Path(entry.path))
    return removed
