"""With an API key set, /api needs the X-API-Key header (401 before the body is read); the page does not."""

from __future__ import annotations

from pathlib import Path

import pytest
from server_helpers import API_KEY, encoded, photo, start_server, stop_server


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory, model_file: Path):
    srv = start_server(tmp_path_factory.mktemp("keyed"), model_file, "--api-key-from-env",
                       env={"ANIMEGAN_API_KEY": API_KEY})
    yield srv
    stop_server(srv)


def test_api_key_is_required_for_the_api(keyed_server) -> None:
    png = encoded(photo(48, 48))
    with keyed_server.client() as client:
        for headers in ({}, {"X-API-Key": "wrong-key-000000"}):
            response = client.post("/api/v1/stylize", files={"image": ("a.png", png)}, headers=headers)
            assert response.status_code == 401
            assert "X-API-Key" in response.json()["detail"]
            assert client.get("/api/v1/models", headers=headers).status_code == 401
        ok = client.post("/api/v1/stylize", files={"image": ("a.png", png)}, headers={"X-API-Key": API_KEY})
        assert ok.status_code == 200 and ok.content.startswith(b"\x89PNG")
        assert client.get("/healthz").status_code == 200
        assert client.get("/").status_code == 200
