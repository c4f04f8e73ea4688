"""The server on inputs that used to crash or lie: a 1×1 image (was HTTP 500), a truncated MP4 (was "done")."""

from __future__ import annotations

import io
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image
from server_helpers import Server, encoded


def _cut_mp4(path: Path, frames: int = 60) -> bytes:
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:  # index first: the cut file opens
        stream = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        rng = np.random.default_rng(0)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    data = path.read_bytes()
    return data[: int(len(data) * 0.6)]


def test_one_pixel_image_is_stylized(server: Server) -> None:
    with server.client() as client:
        for size in [(1, 1), (3, 50)]:
            response = client.post("/api/v1/stylize", files={"image": ("dot.png", encoded(Image.new("RGB", size)))})
            assert response.status_code == 200, response.text
            assert Image.open(io.BytesIO(response.content)).size == size


def test_truncated_video_job_fails_instead_of_done(server: Server, tmp_path: Path) -> None:
    with server.client() as client:
        created = client.post("/api/v1/videos", files={"video": ("cut.mp4", _cut_mp4(tmp_path / "clip.mp4"))})
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        deadline = time.monotonic() + 120
        while (state := client.get(f"/api/v1/videos/{job_id}").json())["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline, state
            time.sleep(0.2)
        assert state["status"] == "failed", state
        assert state["error"].startswith("cut.mp4: truncated video: only") and str(tmp_path) not in state["error"]
        assert client.get(f"/api/v1/videos/{job_id}/result").status_code != 200
