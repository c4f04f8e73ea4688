"""Video jobs over HTTP: upload a generated clip, poll the job, download a video with the same frames."""

from __future__ import annotations

import time
from pathlib import Path

import av
import numpy as np
import pytest
from server_helpers import Server


def make_clip(path: Path, frames: int = 12, size: tuple[int, int] = (64, 48), fps: int = 12) -> Path:
    """A short H.264 clip of a square moving over a gradient."""
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        base = np.zeros((height, width, 3), np.uint8)
        base[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
        base[..., 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
        for i in range(frames):
            img = base.copy()
            img[10:26, 2 + 3 * i: 18 + 3 * i] = (230, 30, 30)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _wait_done(client, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get(f"/api/v1/videos/{job_id}").json()
        if state["status"] in ("done", "failed"):
            return state
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} not finished in {timeout} s: {state}")


def test_video_job_round_trip(server: Server, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4")
    with server.client() as client:
        created = client.post("/api/v1/videos", files={"video": ("clip.mp4", clip.read_bytes(), "video/mp4")},
                              data={"strength": "0.8"})
        assert created.status_code == 202, created.text
        job = created.json()
        assert job["status"] in ("queued", "running") and job["status_url"] == f"/api/v1/videos/{job['id']}"
        early = client.get(job["result_url"])
        assert early.status_code in (200, 409)  # 409 while the job is still running
        state = _wait_done(client, job["id"])
        assert state["status"] == "done", state
        assert state["frames_done"] == 12 and state["progress"] == 1.0
        result = client.get(job["result_url"])
        assert result.status_code == 200 and result.headers["content-type"] == "video/mp4"
        assert 'filename="clip-anime.mp4"' in result.headers["content-disposition"]
    out = tmp_path / "out.mp4"
    out.write_bytes(result.content)
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 12
    assert frames[0].shape == (48, 64, 3)
    assert np.std(frames[5]) > 1.0


def test_video_job_errors(server: Server) -> None:
    with server.client() as client:
        bad = client.post("/api/v1/videos", files={"video": ("notes.mp4", b"not a video at all" * 20)})
        assert bad.status_code == 415
        assert bad.json()["detail"].startswith("notes.mp4: not a readable video")
        assert client.get("/api/v1/videos/0123abcd").status_code == 404
        unknown_model = client.post("/api/v1/videos", files={"video": ("a.mp4", b"x" * 100)},
                                    data={"model": "nope"})
        assert unknown_model.status_code == 422 and "nope" in unknown_model.json()["detail"]


@pytest.mark.parametrize("fmt", ["gif"])
def test_video_job_gif_output(server: Server, tmp_path: Path, fmt: str) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=6)
    with server.client() as client:
        job = client.post("/api/v1/videos", files={"video": ("clip.mp4", clip.read_bytes())},
                          data={"format": fmt}).json()
        assert _wait_done(client, job["id"])["status"] == "done"
        result = client.get(job["result_url"])
    assert result.headers["content-type"] == "image/gif"
    out = tmp_path / "out.gif"
    out.write_bytes(result.content)
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 6


def test_delete_cancels_queued_and_running_jobs_and_frees_the_worker(server: Server, tmp_path: Path) -> None:
    long_clip = make_clip(tmp_path / "long.mp4", frames=300, size=(32, 32), fps=25)
    short_clip = make_clip(tmp_path / "short.mp4", frames=4, size=(32, 32))
    with server.client() as client:
        def post(clip: Path) -> dict:
            response = client.post("/api/v1/videos", files={"video": (clip.name, clip.read_bytes())})
            assert response.status_code == 202, response.text
            return response.json()

        running = post(long_clip)
        queued = post(short_clip)
        deadline = time.monotonic() + 60
        while client.get(running["status_url"]).json()["frames_done"] < 2:
            assert time.monotonic() < deadline, "the long job never started"
            time.sleep(0.05)
        # a queued job: cancelled at once, never runs
        gone = client.delete(queued["status_url"])
        assert gone.status_code == 200 and gone.json()["status"] == "cancelled"
        assert client.get(queued["result_url"]).status_code == 410
        # the running job: stopped between frames; the answer comes once its worker is free
        waiting = post(short_clip)
        started = time.monotonic()
        stopped = client.delete(running["status_url"])
        elapsed = time.monotonic() - started
        assert stopped.status_code == 200 and stopped.json()["status"] == "cancelled", stopped.text
        assert stopped.json()["frames_done"] < 300
        print(f"cancel of a running job answered in {elapsed:.3f} s")
        assert elapsed < 1.0, f"cancelling took {elapsed:.2f} s"
        assert _wait_done(client, waiting["id"], timeout=30)["status"] == "done"  # the worker took the next job
        assert client.get(running["status_url"]).json()["status"] == "cancelled"
        # a finished job: DELETE forgets it and its files
        assert client.delete(waiting["status_url"]).json()["status"] == "done"
        assert client.get(waiting["status_url"]).status_code == 404
        assert client.delete("/api/v1/videos/0123abcd").status_code == 404
