"""Helpers for the server tests: a real ``animegan serve`` process, a tiny random model, test images."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import torch
from PIL import Image

from animegan.hub.weights import ModelInfo, save_weights
from animegan.nn.animeganv2 import AnimeGANv2Generator

API_KEY = "test-key-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_model(folder: Path, style: str = "tiny") -> Path:
    """A random AnimeGANv2 generator saved with our metadata (seeded: the same weights every run)."""
    torch.manual_seed(0)
    model = AnimeGANv2Generator().eval()
    return save_weights(folder / f"{style}.safetensors", model,
                        ModelInfo(arch="animeganv2", style=style, provenance="random test weights"))


def photo(width: int = 96, height: int = 64, seed: int = 0) -> Image.Image:
    """A photo-like RGB image: smooth gradients, a few shapes and a little noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([x / width * 255, y / height * 255, (x + y) / (width + height) * 255], axis=-1)
    rgb[height // 4: height // 2, width // 4: width // 2] = (200, 40, 60)
    rgb += rng.normal(0, 6, rgb.shape)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def encoded(img: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt)
    return buffer.getvalue()


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass
class Server:
    """A running server: its base URL, process and log file."""

    url: str
    port: int
    proc: subprocess.Popen
    log: Path

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(tmp: Path, model: Path | None, *args: str, env: dict[str, str] | None = None) -> Server:
    """``animegan serve`` offering ``model`` (None: every zoo model, as a plain ``animegan serve`` does)."""
    port = free_port()
    log = tmp / f"server-{port}.log"
    full_env = {**os.environ, "ANIMEGAN_HOME": str(tmp / "home"), "OMP_NUM_THREADS": "1", **(env or {})}
    cmd = [sys.executable, "-m", "animegan", "serve", "--port", str(port),
           *(("--model", str(model)) if model is not None else ()), "--threads", "1", *args]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=full_env)
    server = Server(f"http://127.0.0.1:{port}", port, proc, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{server.log_text()}")
        try:
            if httpx.get(server.url + "/healthz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop_server(server)
    raise RuntimeError(f"server did not answer within 60 s:\n{server.log_text()}")


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


def burst(server: Server, data: bytes, n: int = 30) -> list[httpx.Response]:
    """``n`` stylize requests released at the same instant from ``n`` threads; the responses, in order."""
    import threading

    barrier = threading.Barrier(n)
    results: list[httpx.Response | BaseException] = [None] * n  # type: ignore[list-item]

    def one(i: int) -> None:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            barrier.wait()
            try:
                results[i] = client.post("/api/v1/stylize", files={"image": (f"p{i}.png", data, "image/png")})
            except httpx.HTTPError as exc:
                results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise AssertionError(f"{len(errors)} requests failed at the transport level: {errors[0]!r}")
    return results  # type: ignore[return-value]


def wait_idle(server: Server, timeout: float = 60) -> None:
    """Until the server reports no request running or queued."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(server.url + "/healthz", timeout=5).json()["in_flight"] == 0:
            return
        time.sleep(0.1)
    raise AssertionError("server still busy")
