"""The HTTP API against a real uvicorn process: round trips, errors as JSON, and upload limits."""

from __future__ import annotations

import io
import json
import select
import socket

import numpy as np
from PIL import Image
from server_helpers import Server, encoded, photo


def _stylize(server: Server, data: bytes, name: str = "photo.png", **fields: str):
    with server.client() as client:
        return client.post("/api/v1/stylize", files={"image": (name, data, "application/octet-stream")},
                           data=fields)


def test_stylize_round_trip_returns_png_of_the_same_size(server: Server) -> None:
    response = _stylize(server, encoded(photo(96, 64)))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    out = Image.open(io.BytesIO(response.content))
    assert out.format == "PNG" and out.size == (96, 64) and out.mode == "RGB"
    pixels = np.asarray(out, dtype=np.float32)
    assert pixels.std() > 1.0  # a real picture, not a flat fill
    assert response.headers["x-model"] == "tiny"
    assert 'filename="photo-anime.png"' in response.headers["content-disposition"]


def test_strength_zero_gives_back_the_photo(server: Server) -> None:
    src = photo(64, 64, seed=3)
    response = _stylize(server, encoded(src), strength="0")
    assert response.status_code == 200, response.text
    diff = np.abs(np.asarray(Image.open(io.BytesIO(response.content)), dtype=np.int16)
                  - np.asarray(src, dtype=np.int16))
    assert diff.max() <= 1


def test_output_formats_max_side_and_face(server: Server) -> None:
    for fmt, pil_format in (("jpg", "JPEG"), ("webp", "WEBP")):
        response = _stylize(server, encoded(photo(80, 60)), format=fmt)
        assert response.status_code == 200, response.text
        assert Image.open(io.BytesIO(response.content)).format == pil_format
    response = _stylize(server, encoded(photo(128, 64)), max_side="64")
    assert Image.open(io.BytesIO(response.content)).size == (64, 32)
    response = _stylize(server, encoded(photo(128, 64)), face="true")
    out = Image.open(io.BytesIO(response.content))
    assert out.size[0] == out.size[1]  # face mode: a centre square


def test_quality_field_sets_the_jpeg_quality(server: Server) -> None:
    sizes = {}
    for quality in ("20", "95", None):
        fields = {"format": "jpg", **({"quality": quality} if quality else {})}
        response = _stylize(server, encoded(photo(96, 64)), **fields)
        assert response.status_code == 200, response.text
        sizes[quality] = len(response.content)
    assert sizes["20"] < sizes["95"] and sizes[None] == sizes["95"]  # the default is StylizeOptions.quality


def test_models_and_health_and_docs(server: Server) -> None:
    with server.client() as client:
        models = client.get("/api/v1/models").json()
        assert models["default"] == "tiny"
        assert [m["name"] for m in models["models"]] == ["tiny"]
        assert models["models"][0]["available"] is True and models["models"][0]["arch"] == "animeganv2"
        health = client.get("/healthz").json()
        assert health["status"] == "ok" and health["capacity"] == 9
        schema = client.get("/openapi.json").json()
        assert {"/api/v1/stylize", "/api/v1/models", "/api/v1/videos", "/api/v1/videos/{job_id}",
                "/api/v1/videos/{job_id}/result", "/healthz"} <= set(schema["paths"])
        assert "swagger" in client.get("/docs").text.lower()
        page = client.get("/")
        assert page.status_code == 200 and "/static/app.js" in page.text
        assert client.get("/static/app.js").status_code == 200


def test_text_file_is_415_with_a_message_naming_the_file(server: Server) -> None:
    response = _stylize(server, b"hello, I am not a picture\n" * 10, name="notes.txt")
    assert response.status_code == 415
    assert response.json()["detail"].startswith("notes.txt: not a decodable image")


def test_truncated_jpeg_is_415(server: Server) -> None:
    data = encoded(photo(96, 64), "JPEG")
    response = _stylize(server, data[: len(data) // 2], name="cut.jpg")
    assert response.status_code == 415
    assert "cut.jpg" in response.json()["detail"] and "truncated" in response.json()["detail"]


def test_decompression_bomb_is_413_before_decoding(server: Server) -> None:
    bomb = encoded(Image.new("L", (3000, 3000)))  # 9 MP of zeros: a few KiB compressed, server limit 1 MP
    assert len(bomb) < 64 * 1024
    response = _stylize(server, bomb, name="bomb.png")
    assert response.status_code == 413
    detail = response.json()["detail"]
    assert "bomb.png" in detail and "3000×3000" in detail


def test_bad_options_and_unknown_model_are_422(server: Server) -> None:
    png = encoded(photo(32, 32))
    for fields, needle in (({"strength": "1.5"}, "strength"), ({"format": "gif"}, "format"),
                           ({"max_side": "8"}, "max_side"), ({"max_side": "100000"}, "max_side"),
                           ({"quality": "0"}, "quality"), ({"palette": "1.5"}, "palette"),
                           ({"model": "nope"}, "nope")):
        response = _stylize(server, png, **fields)
        assert response.status_code == 422, (fields, response.text)
        detail = response.json()["detail"]
        assert needle in detail and "--" not in detail  # the API's field names, never a CLI flag
    with server.client() as client:
        response = client.post("/api/v1/stylize", data={"strength": "1"})
        assert response.status_code == 422 and "image" in response.json()["detail"]


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def test_declared_oversize_upload_is_413_before_the_body_is_sent(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /api/v1/stylize HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                     b"boundary=b\r\nContent-Length: 50000000\r\n\r\n" + b"x" * 1024)
        # only 1 KiB of the promised 50 MB was sent: the answer cannot have waited for the body
        status, headers, body = _read_response(sock)
    assert status == 413
    assert headers["content-type"] == "application/json"
    assert "50000000 bytes is over the limit" in json.loads(body)["detail"]


def test_chunked_oversize_upload_is_cut_off_at_the_limit(server: Server) -> None:
    limit = 256 * 1024
    sent = 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /api/v1/stylize HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                     b"boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\n"
        chunk += b"\0" * (32 * 1024 - len(chunk))
        while sent < 4 * limit:
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable:
                break
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sent += len(chunk)
            chunk = b"\0" * (32 * 1024)
        status, _, body = _read_response(sock)
    assert status == 413
    assert f"upload passed {limit} bytes" in json.loads(body)["detail"]
    assert sent < 4 * limit  # the server answered while the client was still sending


def test_video_uploads_have_their_own_larger_limit(server: Server) -> None:
    junk = b"\0" * (1024 * 1024)  # over the 256 KiB image limit, under the 4 MiB video limit
    with server.client() as client:
        image = client.post("/api/v1/stylize", files={"image": ("big.png", junk)})
        video = client.post("/api/v1/videos", files={"video": ("big.mp4", junk)})
    assert image.status_code == 413
    assert video.status_code == 415 and video.json()["detail"].startswith("big.mp4: not a readable video")


def test_server_still_serves_after_the_refused_uploads(server: Server) -> None:
    assert _stylize(server, encoded(photo(32, 32))).status_code == 200
