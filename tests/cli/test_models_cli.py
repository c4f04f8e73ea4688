"""`animegan models ...`: list, info, path, import, remove, download; exit codes and one-line errors."""

from __future__ import annotations

import functools
import http.server
import json
import os
import socket
import subprocess
import sys
import threading

import pytest
from typer.testing import CliRunner

from animegan.cli.main import app
from animegan.hub import cache
from animegan.hub.weights import ModelInfo, save_weights
from animegan.nn import build_generator


@pytest.fixture
def run(monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")  # rich tables: no wrapping inside names in captured output

    def invoke(*args: str):
        return CliRunner().invoke(app, ["models", *args])

    return invoke


@pytest.fixture
def tiny_weights(tmp_path):
    path = tmp_path / "tiny.safetensors"
    save_weights(path, build_generator("animeganv2", {}), ModelInfo(arch="animeganv2", style="ink"))
    return path


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_list_shows_the_zoo_with_status(run):
    result = run("list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    row = next(line for line in lines if "face_paint_512_v2" in line)
    assert "animeganv2" in row and "non-commercial" in row and "not downloaded" in row
    assert any("cartoongan_shinkai" in line and "import only" in line for line in lines)
    assert any("shinkai *" in line for line in lines)


def test_list_json_is_machine_readable(run):
    result = run("list", "--json")
    assert result.exit_code == 0
    data = {m["name"]: m for m in json.loads(result.stdout)}
    assert data["face_paint_512_v2"]["files"][0]["git_blob_sha1"] == "d75102f8f201ddaf8dbe6b913b1a97585b55f838"
    assert data["face_paint_512_v2"]["status"] == "not downloaded"
    assert [n for n, m in data.items() if m["default"]] == ["shinkai"]


def test_info_prints_every_field_with_full_urls_and_cache_path(run):
    result = run("info", "Face-Paint")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "face_paint_512_v2" in out and "face portraits, 512 px" in out
    assert "https://github.com/bryandlee/animegan2-pytorch/raw/main/weights/face_paint_512_v2.pt" in out
    assert str(cache.models_dir() / "face_paint_512_v2.pt") in out
    assert "git_blob_sha1 d75102f8f201ddaf8dbe6b913b1a97585b55f838" in out


def test_unknown_name_exits_1_with_one_line(run):
    result = run("info", "no_such_model")
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown model 'no_such_model' (known: shinkai")
    assert "Traceback" not in result.output


def test_path_prints_the_cache_dir(run):
    result = run("path")
    assert result.exit_code == 0
    assert result.stdout.strip() == str(cache.cache_dir()) == os.environ["ANIMEGAN_HOME"]


def test_import_then_path_list_and_remove(run, tiny_weights):
    result = run("import", str(tiny_weights), "--name", "my-ink", "--style", "sumi")
    assert result.exit_code == 0, result.output
    target = cache.models_dir() / "my_ink.safetensors"
    assert result.stdout.strip() == str(target) and target.is_file()
    assert "--model my_ink" in result.stderr
    assert run("path", "my_ink").stdout.strip() == str(target)
    row = next(line for line in run("list").stdout.splitlines() if "my_ink" in line)
    assert "sumi" in row and "imported" in row
    again = run("import", str(tiny_weights), "--name", "my_ink")
    assert again.exit_code == 1 and "already imported; add --force" in again.stderr
    removed = run("remove", "my_ink")
    assert removed.exit_code == 0 and removed.stdout.strip() == str(target) and not target.exists()


def test_import_errors_exit_1(run, tiny_weights, tmp_path):
    missing = run("import", str(tmp_path / "nope.pt"), "--name", "x")
    assert missing.exit_code == 1 and "nope.pt: weights file not found" in missing.stderr
    bad_name = run("import", str(tiny_weights), "--name", "a/b")
    assert bad_name.exit_code == 1 and "not a usable model name" in bad_name.stderr
    no_name = run("import", str(tiny_weights))
    assert no_name.exit_code == 2  # usage error: --name is required


def test_download_offline_says_what_to_fetch_and_where(run, monkeypatch):
    base = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("ANIMEGAN_ZOO_URL_BASE", base)
    result = run("download", "celeba_distill")
    assert result.exit_code == 1
    message = result.stderr.strip()
    assert message.startswith(f"error: model 'celeba_distill': cannot download {base}/celeba_distill.pt")
    assert str(cache.models_dir() / "celeba_distill.pt") in message
    assert "animegan models import PATH --name celeba_distill" in message


def test_download_with_a_wrong_file_fails_and_leaves_nothing(run, monkeypatch, tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    (root / "paprika.pt").write_bytes(os.urandom(300_000))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("ANIMEGAN_ZOO_URL_BASE", f"http://127.0.0.1:{httpd.server_address[1]}")
        result = run("download", "paprika_official")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result.exit_code == 1
    assert "git blob sha1 mismatch: expected 58086c9db9fc7a9e5c2876ca31b8079599352643" in result.stderr
    assert not any(cache.models_dir().iterdir())


def test_download_of_an_import_only_model_explains_the_import(run):
    result = run("download", "cartoongan_hayao")
    assert result.exit_code == 1
    assert "animegan models import PATH --name cartoongan_hayao --arch cartoongan" in result.stderr


def test_console_script_runs_models_path(tmp_path):
    env = {**os.environ, "ANIMEGAN_HOME": str(tmp_path / "home")}
    out = subprocess.run([sys.executable, "-m", "animegan", "models", "path"], capture_output=True, text=True,
                         env=env, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(tmp_path / "home")
