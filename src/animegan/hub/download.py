"""Fetching model files: stream to a temp file beside the target, hash while streaming, verify, rename.

Checksums: sha256, and/or the git blob id (SHA-1 of ``b"blob <len>\\0" + data``), which is the only
checksum published for the AnimeGANv2 PyTorch weights. A git blob id needs the length before the
data, so it is hashed while streaming when the length is known (the zoo's ``size`` or the server's
Content-Length) and from the finished temp file otherwise. Nothing lands under the final name until
every check passed; a failed download leaves no file behind.

Bounds: a download never brings more bytes than its cap (the zoo's exact ``size``, else its
``max_size``, else :data:`DEFAULT_MAX_BYTES`) and is aborted as soon as more arrive or a
Content-Length announces more; and it never runs longer than its deadline (``deadline=``, else
``$ANIMEGAN_DOWNLOAD_DEADLINE`` seconds, else :data:`DEFAULT_DEADLINE`) in all, so a mirror that
trickles bytes cannot hold it forever. The per-read ``timeout`` still catches a silent server.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ..errors import DownloadError, ModelError
from ..io.atomic import atomic_path

#: called as ``progress(bytes_done, bytes_total_or_None)`` after every chunk
ProgressCallback = Callable[[int, "int | None"], None]

CHUNK = 1 << 20
#: the most bytes a download may bring when nothing declares its size (models here are MBs)
DEFAULT_MAX_BYTES = 2 << 30
#: the longest one whole download may take, in seconds (``$ANIMEGAN_DOWNLOAD_DEADLINE`` overrides)
DEFAULT_DEADLINE = 1800.0
DEADLINE_ENV = "ANIMEGAN_DOWNLOAD_DEADLINE"


def download_deadline(deadline: float | None = None) -> float:
    """The overall time limit of a download: ``deadline``, else ``$ANIMEGAN_DOWNLOAD_DEADLINE``, else the default."""
    if deadline is None:
        raw = os.environ.get(DEADLINE_ENV, "").strip()
        if not raw:
            return DEFAULT_DEADLINE
        try:
            deadline = float(raw)
        except ValueError:
            deadline = float("nan")
        source = f"${DEADLINE_ENV}={raw!r}"
    else:
        source = f"deadline={deadline!r}"
    if not deadline > 0 or deadline == float("inf"):
        raise DownloadError(f"{source}: not a positive number of seconds")
    return float(deadline)


def _git_blob_hasher(length: int) -> hashlib._Hash:
    return hashlib.sha1(b"blob %d\0" % length)


def git_blob_sha1(path_or_data: str | os.PathLike | bytes) -> str:
    """The git blob id of a file or of bytes (what ``git hash-object`` prints)."""
    if isinstance(path_or_data, bytes):
        h = _git_blob_hasher(len(path_or_data))
        h.update(path_or_data)
        return h.hexdigest()
    path = Path(path_or_data)
    h = _git_blob_hasher(path.stat().st_size)
    _hash_file(path, [h])
    return h.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """The sha256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    _hash_file(Path(path), [h])
    return h.hexdigest()


def verify_file(path: str | os.PathLike, *, sha256: str | None = None, git_blob_sha1: str | None = None,
                size: int | None = None, source: str | None = None) -> str:
    """Check a file against the given size and checksums; return the checksum it matched.

    Raises :class:`ModelError` naming the file, the expected and the actual value. With no
    checksum given it only checks the size and returns "".
    """
    path = Path(path)
    source = source or str(path)
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise ModelError(f"{source}: size {actual_size} bytes, expected {size}")
    hashers: dict[str, hashlib._Hash] = {}
    if sha256:
        hashers["sha256"] = hashlib.sha256()
    if git_blob_sha1:
        hashers["git blob sha1"] = _git_blob_hasher(actual_size)
    _hash_file(path, list(hashers.values()))
    return _compare(hashers, sha256, git_blob_sha1, source, ModelError)


def checksum_label(sha256: str | None, git_blob_sha1: str | None) -> str:
    """The checksum a verified-file marker records: the strongest one known."""
    return f"sha256:{sha256}" if sha256 else f"git:{git_blob_sha1}" if git_blob_sha1 else ""


def download_file(url: str, dest: str | os.PathLike, *, sha256: str | None = None,
                  git_blob_sha1: str | None = None, size: int | None = None, max_bytes: int | None = None,
                  progress: ProgressCallback | None = None, timeout: float = 30.0, deadline: float | None = None,
                  what: str | None = None, hint: str = "") -> Path:
    """Download ``url`` to ``dest`` atomically and verify it.

    ``size`` is the exact size expected; without it, ``max_bytes`` (default
    :data:`DEFAULT_MAX_BYTES`) caps what is accepted. ``deadline`` bounds the whole download in
    seconds (see :func:`download_deadline`); ``timeout`` bounds each connect and read.
    ``what`` names the thing in messages (e.g. "model 'paprika'"); ``hint`` is appended to the
    message when the server cannot be reached (what else the user can do). Raises
    :class:`DownloadError` on a connection failure, an HTTP error, a truncated or oversized body,
    a download past its deadline, or a size or checksum mismatch; in every case the temp file is
    removed and ``dest`` is left untouched.
    """
    dest = Path(dest)
    what = what or dest.name
    tail = f"; {hint}" if hint else ""
    limit = download_deadline(deadline)
    cap = size if size is not None else max_bytes if max_bytes is not None else DEFAULT_MAX_BYTES
    why = "the size the zoo declares" if size is not None else "the most this download may bring"
    gone = "; aborted and the partial file deleted"
    start = time.monotonic()
    request = urllib.request.Request(url, headers={"User-Agent": "animegan (model download)"})
    try:
        response = urllib.request.urlopen(request, timeout=min(timeout, limit))
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{what}: {url} answered HTTP {exc.code} {exc.reason}{tail}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(f"{what}: cannot download {url} ({_reason(reason)}){tail}") from None

    with response, atomic_path(dest) as tmp:
        header = response.headers.get("Content-Length")
        length = int(header) if header and header.isdigit() else None
        if size is not None and length is not None and length != size:
            raise DownloadError(f"{what}: {url} offers {length} bytes, the zoo expects {size}; "
                                "the file on the server changed or the URL is wrong")
        if length is not None and length > cap:
            raise DownloadError(f"{what}: {url} offers {length} bytes, more than the {cap} allowed ({why}); "
                                "refused before downloading")
        total = size if size is not None else length
        hashers: dict[str, hashlib._Hash] = {}
        if sha256:
            hashers["sha256"] = hashlib.sha256()
        if git_blob_sha1 and total is not None:
            hashers["git blob sha1"] = _git_blob_hasher(total)
        read = getattr(response, "read1", response.read)  # read1: return what has arrived, do not wait for a full chunk
        done = 0
        with open(tmp, "wb") as out:
            while True:
                if time.monotonic() - start > limit:
                    raise DownloadError(f"{what}: download of {url} took longer than {limit:g} s in all "
                                        f"(got {done} bytes){gone}; a slow mirror? set ${DEADLINE_ENV} to "
                                        f"allow more{tail}")
                try:
                    chunk = read(CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    raise DownloadError(f"{what}: download of {url} broke off after {done} bytes "
                                        f"({_reason(exc)}){tail}") from None
                if not chunk:
                    break
                if done + len(chunk) > cap:
                    raise DownloadError(f"{what}: download of {url} brings more than {cap} bytes ({why}){gone}")
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise DownloadError(f"{what}: cannot write {dest.parent} ({_reason(exc)})") from None
                for h in hashers.values():
                    h.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        if total is not None and done != total:
            raise DownloadError(f"{what}: download of {url} is truncated: got {done} of {total} bytes{tail}")
        if git_blob_sha1 and "git blob sha1" not in hashers:  # length was unknown while streaming
            h = _git_blob_hasher(done)
            _hash_file(tmp, [h])
            hashers["git blob sha1"] = h
        _compare(hashers, sha256, git_blob_sha1, f"{what}: download of {url}", DownloadError,
                 suffix="; the downloaded file was deleted")
    return dest


def _compare(hashers: dict[str, hashlib._Hash], sha256: str | None, git_blob_sha1: str | None,
             source: str, error: type[ModelError], suffix: str = "") -> str:
    expected = {"sha256": sha256, "git blob sha1": git_blob_sha1}
    for kind, h in hashers.items():
        want = (expected[kind] or "").lower()
        got = h.hexdigest()
        if got != want:
            raise error(f"{source}: {kind} mismatch: expected {want}, got {got}{suffix}")
    return checksum_label(sha256, git_blob_sha1)


def _hash_file(path: Path, hashers: list[hashlib._Hash]) -> None:
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            for h in hashers:
                h.update(chunk)


def _reason(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    text = str(reason).strip()
    return text.splitlines()[0] if text else type(reason).__name__
