"""Downloads against a real HTTP server on 127.0.0.1: verify while streaming, atomic landing, clear errors."""

from __future__ import annotations

import hashlib
import itertools
import shutil
import subprocess
from pathlib import Path

import pytest
from http_helpers import QuietHandler, closed_port, serve_folder

from animegan.errors import DownloadError, ModelError
from animegan.hub.download import download_file, git_blob_sha1, sha256_file, verify_file


class _Handler(QuietHandler):
    """Serves the test's folder; /nolen/X omits Content-Length, /truncate/X stops half-way."""

    def do_GET(self) -> None:
        for prefix in ("/nolen/", "/truncate/"):
            if self.path.startswith(prefix):
                data = (Path(self.directory) / self.path[len(prefix):]).read_bytes()
                self.send_response(200)
                if prefix == "/truncate/":
                    self.send_header("Content-Length", str(len(data)))
                    data = data[: len(data) // 2]
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                self.close_connection = True
                return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    """(base URL, folder it serves) for a threaded HTTP server on an ephemeral port."""
    root = tmp_path / "served"
    root.mkdir()
    with serve_folder(root, _Handler) as url:
        yield url, root


PAYLOAD = bytes(range(256)) * 4099 + b"tail"  # ~1 MiB, crosses the 1 MiB chunk boundary


def test_git_blob_sha1_equals_git_hash_object(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    path = tmp_path / "blob.bin"
    path.write_bytes(PAYLOAD)
    expected = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True,
                              check=True).stdout.strip()
    assert git_blob_sha1(path) == expected
    assert git_blob_sha1(PAYLOAD) == expected
    assert git_blob_sha1(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # the empty blob


def test_good_download_is_verified_and_lands_with_no_temp_files(server, tmp_path):
    base, root = server
    (root / "model.pt").write_bytes(PAYLOAD)
    dest = tmp_path / "cache" / "model.pt"
    seen: list[tuple[int, int | None]] = []
    out = download_file(f"{base}/model.pt", dest, sha256=hashlib.sha256(PAYLOAD).hexdigest(),
                        git_blob_sha1=git_blob_sha1(PAYLOAD), size=len(PAYLOAD),
                        progress=lambda done, total: seen.append((done, total)))
    assert out == dest
    assert dest.read_bytes() == PAYLOAD
    assert sorted(p.name for p in dest.parent.iterdir()) == ["model.pt"]
    assert len(seen) >= 2 and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert all(a[0] < b[0] for a, b in itertools.pairwise(seen))


def test_git_blob_is_checked_when_the_server_sends_no_length(server, tmp_path):
    base, root = server
    (root / "model.pt").write_bytes(PAYLOAD)
    dest = tmp_path / "model.pt"
    download_file(f"{base}/nolen/model.pt", dest, git_blob_sha1=git_blob_sha1(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD
    wrong = git_blob_sha1(PAYLOAD + b"x")
    with pytest.raises(DownloadError, match=f"expected {wrong}, got {git_blob_sha1(PAYLOAD)}"):
        download_file(f"{base}/nolen/model.pt", tmp_path / "other.pt", git_blob_sha1=wrong)
    assert not (tmp_path / "other.pt").exists()


def test_wrong_checksum_raises_naming_both_and_leaves_no_file(server, tmp_path):
    base, root = server
    (root / "model.pt").write_bytes(PAYLOAD)
    cache = tmp_path / "cache"
    expected = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(DownloadError) as info:
        download_file(f"{base}/model.pt", cache / "model.pt", sha256=expected)
    message = str(info.value)
    assert f"expected {expected}" in message
    assert f"got {hashlib.sha256(PAYLOAD).hexdigest()}" in message
    assert f"{base}/model.pt" in message
    assert list(cache.iterdir()) == []


def test_failed_download_keeps_the_previous_file(server, tmp_path):
    base, root = server
    (root / "model.pt").write_bytes(PAYLOAD)
    dest = tmp_path / "model.pt"
    dest.write_bytes(b"old and good")
    with pytest.raises(DownloadError):
        download_file(f"{base}/model.pt", dest, git_blob_sha1="0" * 40)
    assert dest.read_bytes() == b"old and good"
    assert [p.name for p in tmp_path.iterdir() if p.name != "served"] == ["model.pt"]


def test_server_down_names_url_and_appends_the_hint(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/weights/model.pt"
    with pytest.raises(DownloadError) as info:
        download_file(url, tmp_path / "model.pt", what="model 'x'", hint="put it at /some/where")
    message = str(info.value)
    assert message.startswith("model 'x': cannot download " + url)
    assert message.endswith("; put it at /some/where")
    assert "\n" not in message
    assert not (tmp_path / "model.pt").exists()


def test_http_404_is_a_download_error(server, tmp_path):
    base, _ = server
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_file(f"{base}/missing.pt", tmp_path / "missing.pt")
    assert list(tmp_path.iterdir()) == [tmp_path / "served"]


def test_truncated_body_is_rejected(server, tmp_path):
    base, root = server
    (root / "model.pt").write_bytes(PAYLOAD)
    with pytest.raises(DownloadError, match="truncated|broke off"):
        download_file(f"{base}/truncate/model.pt", tmp_path / "model.pt")
    assert not (tmp_path / "model.pt").exists()


def test_size_from_the_zoo_must_match_the_server(server, tmp_path):
    base, root = server
    (root / "model.pt").write_bytes(PAYLOAD)
    with pytest.raises(DownloadError, match=f"offers {len(PAYLOAD)} bytes, the zoo expects 10"):
        download_file(f"{base}/model.pt", tmp_path / "model.pt", size=10)


def test_verify_file_reports_expected_and_actual(tmp_path):
    path = tmp_path / "w.pt"
    path.write_bytes(PAYLOAD)
    good = sha256_file(path)
    assert good == hashlib.sha256(PAYLOAD).hexdigest()
    assert verify_file(path, sha256=good, git_blob_sha1=git_blob_sha1(PAYLOAD)) == f"sha256:{good}"
    with pytest.raises(ModelError, match=f"git blob sha1 mismatch: expected {'a' * 40}"):
        verify_file(path, git_blob_sha1="a" * 40)
    with pytest.raises(ModelError, match=f"size {len(PAYLOAD)} bytes, expected 3"):
        verify_file(path, size=3)


def test_file_urls_work_for_local_mirrors(tmp_path):
    src = tmp_path / "mirror" / "model.pt"
    src.parent.mkdir()
    src.write_bytes(PAYLOAD)
    dest = download_file(src.as_uri(), tmp_path / "cache" / "model.pt", git_blob_sha1=git_blob_sha1(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD
