"""Fixtures: a real ``animegan serve`` process on an ephemeral 127.0.0.1 port, with a tiny random model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from server_helpers import Server, make_model, start_server, stop_server


@pytest.fixture(scope="session")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model(tmp_path_factory.mktemp("server-model"))


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, model_file: Path) -> Iterator[Server]:
    """Concurrency 1, queue 8, 256 KiB uploads, 1 MP images: small limits the tests can reach."""
    tmp = tmp_path_factory.mktemp("server")
    srv = start_server(tmp, model_file, "--concurrency", "1", "--queue", "8", "--max-upload-mb", "0.25",
                       "--max-megapixels", "1", "--max-video-mb", "4")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session")
def zoo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``animegan serve`` with no --model: every zoo model, most of them not downloaded (a fresh ANIMEGAN_HOME)."""
    srv = start_server(tmp_path_factory.mktemp("zoo"), None)
    yield srv
    stop_server(srv)
