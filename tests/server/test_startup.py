"""Start-up: the default model is loaded and warmed up before the first request is accepted."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from server_helpers import encoded, make_model, photo, start_server, stop_server

from animegan.server import ServerSettings, create_app


def test_serve_loads_the_default_model_before_the_first_request(tmp_path: Path) -> None:
    server = start_server(tmp_path, make_model(tmp_path))
    try:
        health = httpx.get(server.url + "/healthz", timeout=10).json()
        assert health["loaded_models"] == ["tiny"]  # no request has been made yet
        assert "default model tiny loaded and warmed up" in server.log_text()
        with server.client() as client:
            response = client.post("/api/v1/stylize", files={"image": ("p.png", encoded(photo(64, 48)))})
        assert response.status_code == 200, response.text
        assert "loading model" not in server.log_text().split("warmed up", 1)[1]  # not loaded a second time
    finally:
        stop_server(server)


def test_no_preload_leaves_the_model_to_the_first_request(tmp_path: Path) -> None:
    settings = ServerSettings(allowed_models=(str(make_model(tmp_path)),), device="cpu", preload=False,
                              jobs_dir=tmp_path / "jobs")
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").json()["loaded_models"] == []
        response = client.post("/api/v1/stylize", files={"image": ("p.png", encoded(photo(64, 48)))})
        assert response.status_code == 200, response.text
        assert client.get("/healthz").json()["loaded_models"] == ["tiny"]


def test_a_default_model_that_cannot_load_is_reported_and_the_server_still_starts(tmp_path: Path) -> None:
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file at all")
    server = start_server(tmp_path, broken)
    try:
        assert "default model broken: not loaded at start-up" in server.log_text()
        assert httpx.get(server.url + "/healthz", timeout=10).json()["loaded_models"] == []
        with server.client() as client:
            response = client.post("/api/v1/stylize", files={"image": ("p.png", encoded(photo(64, 48)))})
        assert 400 <= response.status_code < 600 and "not a valid safetensors file" in response.json()["detail"]
    finally:
        stop_server(server)
