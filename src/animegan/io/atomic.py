"""Atomic writes: a temporary file beside the target, then ``os.replace``.

A crash never leaves a half-written image, video, checkpoint or weights file under the final name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``target`` on success.

    The temporary name keeps the target's extension (or ``suffix``) so writers that pick a format
    from the extension (Pillow, PyAV, safetensors) behave as they would on the real name.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    ext = suffix if suffix is not None else target.suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".part{ext}", dir=target.parent)
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
