"""Hardening against a real ``animegan serve``: video limits from the container, per-job time limit,
slow clients timed out, the connection bound, and no server paths in what clients are told."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import httpx
import pytest
from server_helpers import Server, encoded, photo, start_server, stop_server
from test_video_jobs import _wait_done, make_clip

HEADER_TIMEOUT, BODY_TIMEOUT, MAX_CONNECTIONS = 1.0, 2.0, 8
# an absolute path on this machine (what a client must never see)
ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:tmp|root|home|work|usr|var|opt|srv)/")


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory, model_file: Path):
    """Small limits the tests can reach; a second offered model whose weights file is broken."""
    tmp = tmp_path_factory.mktemp("tight")
    broken = tmp / "models" / "broken.safetensors"
    broken.parent.mkdir()
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    srv = start_server(tmp, model_file, "--model", str(broken), "--video-max-frames", "100",
                       "--video-max-seconds", "30", "--video-max-megapixels", "0.01", "--max-megapixels", "1", "--video-job-timeout", "1.5",
                       "--header-timeout", str(HEADER_TIMEOUT), "--body-timeout", str(BODY_TIMEOUT),
                       "--max-connections", str(MAX_CONNECTIONS))
    srv.private_dir = tmp  # type: ignore[attr-defined]
    yield srv
    stop_server(srv)


def _post_video(server: Server, clip: Path, **fields: str) -> httpx.Response:
    with server.client() as client:
        return client.post("/api/v1/videos", files={"video": (clip.name, clip.read_bytes(), "video/mp4")},
                           data=fields)


def _active_jobs(server: Server) -> int:
    return httpx.get(server.url + "/healthz", timeout=10).json()["video_jobs_active"]


# -- video limits, checked from the container before a job is queued -----------------------------------------

@pytest.mark.parametrize(("frames", "size", "fps", "needle"), [
    (120, (16, 16), 25, "120 frames are over the limit of 100"),
    (40, (16, 16), 1, "40.0 s is over the limit of 30 s"),
    (4, (160, 96), 12, "frames of 160×96 (0.0154 MP) are over the limit of 0.01 MP"),
])
def test_video_over_the_limits_is_refused_before_a_job_exists(tight: Server, tmp_path: Path, frames: int,
                                                              size: tuple[int, int], fps: int, needle: str) -> None:
    clip = make_clip(tmp_path / "long.mp4", frames=frames, size=size, fps=fps)
    response = _post_video(tight, clip)
    assert response.status_code == 413, response.text
    detail = response.json()["detail"]
    assert detail.startswith("long.mp4: video too large for this server: ") and needle in detail
    assert _active_jobs(tight) == 0


def test_video_job_is_stopped_at_the_servers_time_limit_and_the_worker_is_free(tight: Server,
                                                                               tmp_path: Path) -> None:
    slow = make_clip(tmp_path / "slow.mp4", frames=100, size=(96, 64), fps=25)
    quick = make_clip(tmp_path / "quick.mp4", frames=4, size=(64, 48))
    with tight.client() as client:
        job = _post_video(tight, slow).json()
        state = _wait_done(client, job["id"], timeout=60)
        assert state["status"] == "failed", state
        assert "over this server's time limit of 1.5 s per video job" in state["error"]
        assert 0 < state["frames_done"] < 100 and state["seconds"] < 5
        result = client.get(job["result_url"])
        assert result.status_code == 413 and "time limit" in result.json()["detail"]
        after = _post_video(tight, quick).json()
        assert _wait_done(client, after["id"], timeout=60)["status"] == "done"


# -- models and paths -------------------------------------------------------------------------------------

def test_a_broken_model_file_is_reported_without_the_servers_paths(tight: Server) -> None:
    with tight.client() as client:
        response = client.post("/api/v1/stylize", files={"image": ("a.png", encoded(photo(32, 32)))},
                               data={"model": "broken"})
    assert 400 <= response.status_code < 500, response.text
    detail = response.json()["detail"]
    assert "broken.safetensors" in detail
    assert str(tight.private_dir) not in detail and not ABSOLUTE_PATH.search(detail), detail
    assert str(tight.private_dir) in tight.log_text()  # the operator still sees where the file is


def test_model_without_weights_here_is_422_without_the_cache_path(zoo_server: Server, tmp_path: Path) -> None:
    models = httpx.get(zoo_server.url + "/api/v1/models", timeout=30).json()["models"]
    missing = next(m["name"] for m in models if not m["available"] and m["status"] == "not downloaded")
    clip = make_clip(tmp_path / "clip.mp4", frames=4)
    with zoo_server.client() as client:
        image = client.post("/api/v1/stylize", files={"image": ("a.png", encoded(photo(32, 32)))},
                            data={"model": missing})
        video = client.post("/api/v1/videos", files={"video": ("clip.mp4", clip.read_bytes())},
                            data={"model": missing})
        junk = client.post("/api/v1/videos", files={"video": ("junk.mp4", b"not a video" * 50)},
                           data={"model": missing})
    for response in (image, video, junk):  # junk: the model is refused before the upload is even probed
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert f"model {missing!r}: not available on this server" in detail
        assert not ABSOLUTE_PATH.search(detail) and "home" not in detail, detail
    assert _active_jobs(zoo_server) == 0


def test_too_many_pixels_speaks_of_the_api_not_the_cli(tight: Server) -> None:
    with tight.client() as client:
        response = client.post("/api/v1/stylize", files={"image": ("big.png", encoded(photo(1200, 1000)))})
    assert response.status_code == 413
    detail = response.json()["detail"]
    assert detail.startswith("big.png: image is 1200×1000 (1.2 MP), over this server's limit of")
    assert "--" not in detail and "max_side" in detail


def test_eps_upload_is_415_naming_the_format(tight: Server) -> None:
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\nshowpage\n%%EOF\n"
    with tight.client() as client:
        response = client.post("/api/v1/stylize", files={"image": ("art.eps", eps)})
    assert response.status_code == 415
    assert response.json()["detail"].startswith("art.eps: not an accepted image format (it looks like EPS;")


# -- slow clients --------------------------------------------------------------------------------------------

def _drain_until_closed(sock: socket.socket, trickle: bytes | None, limit: float,
                        started: float | None = None) -> tuple[bytes, float]:
    """Send ``trickle`` one byte every 0.1 s (None: send nothing) until the server closes.

    Returns the server's answer and the seconds from ``started`` (default: now) until the close."""
    started = time.monotonic() if started is None else started
    sock.settimeout(0.1)
    answer = b""
    sent = 0
    while time.monotonic() - started < limit:
        try:
            chunk = sock.recv(65536)
            if not chunk:
                return answer, time.monotonic() - started
            answer += chunk
        except TimeoutError:
            pass
        except ConnectionResetError:
            return answer, time.monotonic() - started
        if trickle is not None:
            try:
                sock.sendall(trickle[sent % len(trickle): sent % len(trickle) + 1])
                sent += 1
            except (BrokenPipeError, ConnectionResetError):
                return answer, time.monotonic() - started
    raise AssertionError(f"connection still open after {limit} s (got {answer[:200]!r})")


def _served_meanwhile(server: Server) -> None:
    with server.client() as client:
        assert client.post("/api/v1/stylize", files={"image": ("a.png", encoded(photo(32, 32)))}).status_code == 200


def test_client_trickling_its_headers_is_dropped(tight: Server) -> None:
    with socket.create_connection(("127.0.0.1", tight.port)) as sock:
        opened = time.monotonic()
        sock.sendall(b"POST /api/v1/stylize HTTP/1.1\r\nHost: x\r\n")
        _served_meanwhile(tight)
        answer, seconds = _drain_until_closed(sock, b"X-Slow: aaaaaaaa\r\n", HEADER_TIMEOUT + 8, opened)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"request headers not received within 1 s" in answer
    print(f"header trickler dropped {seconds:.2f} s after connecting (header timeout {HEADER_TIMEOUT} s)")
    assert seconds > HEADER_TIMEOUT - 0.2
    assert seconds < HEADER_TIMEOUT + 3


def test_second_request_trickling_its_headers_on_a_kept_alive_connection_is_dropped(tight: Server) -> None:
    with socket.create_connection(("127.0.0.1", tight.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while b"\r\n\r\n" not in first or not first.rstrip().endswith(b"}"):
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        answer, seconds = _drain_until_closed(sock, b"X-Slow: a\r\n", limit=HEADER_TIMEOUT + 8)
    assert answer.startswith(b"HTTP/1.1 408 ") and seconds < HEADER_TIMEOUT + 3


def test_silent_connection_is_dropped(tight: Server) -> None:
    with socket.create_connection(("127.0.0.1", tight.port)) as sock:
        answer, seconds = _drain_until_closed(sock, None, limit=HEADER_TIMEOUT + 8)
    assert answer.startswith(b"HTTP/1.1 408 ") and seconds < HEADER_TIMEOUT + 3


def test_client_trickling_its_body_is_dropped_after_the_body_timeout(tight: Server) -> None:
    head = (b"POST /api/v1/stylize HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 100000\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"image\"; "
            b"filename=\"a.png\"\r\n\r\n")
    with socket.create_connection(("127.0.0.1", tight.port)) as sock:
        sock.sendall(head)
        sent = time.monotonic()
        _served_meanwhile(tight)
        answer, seconds = _drain_until_closed(sock, b"\0", BODY_TIMEOUT + 8, sent)
    status, _, rest = answer.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 408"), answer[:300]
    detail = json.loads(rest.partition(b"\r\n\r\n")[2])["detail"]
    assert detail.startswith(f"request body not received within {BODY_TIMEOUT:g} s")
    print(f"body trickler dropped {seconds:.2f} s after its headers (body timeout {BODY_TIMEOUT} s)")
    assert BODY_TIMEOUT - 0.2 < seconds < BODY_TIMEOUT + 3


def test_open_connections_are_bounded_and_idle_ones_do_not_last(tight: Server) -> None:
    socks = [socket.create_connection(("127.0.0.1", tight.port)) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.2)
        busy = httpx.get(tight.url + "/healthz", timeout=10)
        assert busy.status_code == 503  # uvicorn's limit: the idle connections fill it
        time.sleep(HEADER_TIMEOUT + 1.0)  # ...until the header timeout drops them
        assert httpx.get(tight.url + "/healthz", timeout=10).status_code == 200
        for sock in socks:
            sock.settimeout(1)
            assert sock.recv(4096).startswith(b"HTTP/1.1 408 ")
    finally:
        for sock in socks:
            sock.close()
