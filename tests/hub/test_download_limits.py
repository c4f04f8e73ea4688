"""Download bounds against a real HTTP server on 127.0.0.1: a size cap and an overall deadline.

The server records how many bytes it managed to send before the client hung up, so the tests
see that an oversized body is abandoned early, not read to the end and then rejected.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import ClassVar

import pytest
from http_helpers import QuietHandler, serve_folder

from animegan.errors import DownloadError
from animegan.hub import cache, zoo
from animegan.hub.download import DEADLINE_ENV, download_deadline, download_file

MIB = 1 << 20
FLOOD = 128 * MIB  # what a broken or hostile mirror would send
PIECE = b"\0" * (64 << 10)


class _Handler(QuietHandler):
    """/flood/N: N bytes, no length; /biglen/N: N bytes announced and sent; /trickle/N: 1 byte per 50 ms."""

    sent: ClassVar[dict[str, int]] = {}
    finished: ClassVar[dict[str, threading.Event]] = {}

    def do_GET(self) -> None:
        kind, n = self.path.strip("/").split("/")
        n = int(n)
        done = threading.Event()
        self.finished[kind] = done
        self.sent[kind] = 0
        self.send_response(200)
        if kind != "flood":
            self.send_header("Content-Length", str(n))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            while self.sent[kind] < n:
                piece = b"x" if kind == "trickle" else PIECE[: n - self.sent[kind]]
                self.wfile.write(piece)
                self.wfile.flush()
                self.sent[kind] += len(piece)
                if kind == "trickle":
                    time.sleep(0.05)
        except OSError:  # the client hung up
            pass
        finally:
            done.set()


@pytest.fixture
def server(tmp_path):
    _Handler.sent, _Handler.finished = {}, {}
    root = tmp_path / "served"
    root.mkdir()
    with serve_folder(root, _Handler) as url:
        yield url


def _sent(kind: str) -> int:
    assert _Handler.finished[kind].wait(30), "the server never noticed the client hang up"
    return _Handler.sent[kind]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_body_over_the_declared_size_is_abandoned_as_soon_as_it_overflows(server, tmp_path):
    dest = tmp_path / "cache" / "model.pt"
    with pytest.raises(DownloadError) as err:
        download_file(f"{server}/flood/{FLOOD}", dest, size=MIB, what="model 'm'")
    message = str(err.value)
    assert message == (f"model 'm': download of {server}/flood/{FLOOD} brings more than {MIB} bytes "
                       "(the size the zoo declares); aborted and the partial file deleted")
    assert _sent("flood") < FLOOD // 4  # the client stopped reading at ~1 MiB (plus socket buffers)
    assert _leftovers(dest.parent) == []


def test_a_content_length_over_the_cap_is_refused_before_the_body(server, tmp_path):
    dest = tmp_path / "cache" / "model.pt"
    with pytest.raises(DownloadError, match=rf"offers {FLOOD} bytes, more than the {MIB} allowed \(the most this "
                                            r"download may bring\); refused before downloading"):
        download_file(f"{server}/biglen/{FLOOD}", dest, max_bytes=MIB)
    assert _sent("biglen") < FLOOD // 4
    assert _leftovers(dest.parent) == []


def _zoo(url: str, **file_fields: object) -> zoo.Zoo:
    return zoo.Zoo.from_dict({"default": "remote", "models": [
        {"name": "remote", "arch": "animeganv2",
         "files": [{"filename": "remote.pt", "url": url, "git_blob_sha1": "0" * 40, **file_fields}]}]})


def test_the_zoo_max_size_caps_a_download_with_no_exact_size(server):
    z = _zoo(f"{server}/flood/{FLOOD}", max_size=2 * MIB)
    with pytest.raises(DownloadError, match=rf"model 'remote': download of .* brings more than {2 * MIB} bytes "
                                            r"\(the most this download may bring\)"):
        z.download("remote")
    assert _sent("flood") < FLOOD // 4
    assert _leftovers(cache.models_dir()) == []


def test_a_trickling_mirror_is_aborted_at_the_overall_deadline(server, tmp_path):
    dest = tmp_path / "cache" / "model.pt"
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"took longer than 1 s in all \(got \d+ bytes\); aborted and the "
                                            rf"partial file deleted; a slow mirror\? set \${DEADLINE_ENV}"):
        download_file(f"{server}/trickle/1000", dest, deadline=1.0, timeout=10)  # every read is within timeout
    assert time.monotonic() - start < 5
    assert _sent("trickle") < 1000
    assert _leftovers(dest.parent) == []


def test_the_deadline_comes_from_the_environment_for_zoo_downloads(server, monkeypatch):
    monkeypatch.setenv(DEADLINE_ENV, "0.5")
    z = _zoo(f"{server}/trickle/1000", size=1000)
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"model 'remote': download of .* took longer than 0.5 s in all"):
        z.download("remote")
    assert time.monotonic() - start < 5
    assert _leftovers(cache.models_dir()) == []


@pytest.mark.parametrize("value", ["soon", "0", "-3", "inf", "nan"])
def test_a_bad_deadline_setting_is_one_clear_error(monkeypatch, value):
    monkeypatch.setenv(DEADLINE_ENV, value)
    with pytest.raises(DownloadError, match=rf"^\${DEADLINE_ENV}='{value}': not a positive number of seconds$"):
        download_deadline()
    monkeypatch.delenv(DEADLINE_ENV)
    assert download_deadline() == 1800.0 and download_deadline(2) == 2.0
