"""animegan from a wheel, in a fresh venv outside the checkout, at default settings (see conftest)."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import REPO, Env, wheel_names

# one xdist worker builds the wheel and both venvs once (make test runs with --dist loadfile)
pytestmark = [pytest.mark.installed, pytest.mark.xdist_group("installed")]

SAMPLE = REPO / "src" / "animegan" / "samples" / "chelsea.jpg"


def _photo(folder: Path, name: str = "photo.jpg", side: int = 160) -> Path:
    img = Image.open(SAMPLE).convert("RGB")
    img.thumbnail((side, side))
    path = folder / name
    img.save(path, quality=92)
    return path


def _error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]


def _assert_stylized(src: Path, out: Path) -> None:
    a = np.asarray(Image.open(src).convert("RGB"), dtype=np.float32)
    b = np.asarray(Image.open(out).convert("RGB"), dtype=np.float32)
    assert a.shape == b.shape
    assert np.abs(a - b).mean() > 5, "the output is (nearly) the input: nothing was stylized"


# ---- the wheel itself ---------------------------------------------------------------------------

def test_wheel_ships_weights_presets_samples_and_page(wheel):
    names = set(wheel_names(wheel))
    for needed in ["animegan/weights/shinkai.safetensors", "animegan/weights/hayao.safetensors",
                   "animegan/weights/paprika.safetensors", "animegan/weights/shinkai_lite.safetensors",
                   "animegan/weights/shinkai_lite.md", "animegan/configs/tiny.toml",
                   "animegan/configs/hayao.toml", "animegan/samples/chelsea.jpg", "animegan/hub/zoo.json",
                   "animegan/server/static/index.html", "animegan/server/static/app.js"]:
        assert needed in names, f"{needed} missing from {wheel.name}"
    assert not any(n.startswith(("tests/", "benchmarks/", "shared/")) for n in names)


# ---- base install: no extras --------------------------------------------------------------------

def test_base_version_matches_the_wheel(base_env: Env, wheel: Path):
    proc = base_env.run("--version")
    assert proc.returncode == 0, proc.stderr
    assert wheel.name.split("-")[1] in proc.stdout


def test_base_stylize_at_default_settings(base_env: Env):
    photo = _photo(base_env.workdir)
    proc = base_env.run("stylize", photo.name, "-o", "out")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    _assert_stylized(photo, base_env.workdir / "out" / "photo.jpg")


def test_base_stylize_the_bundled_samples_like_make_demo(base_env: Env):
    """``make demo`` stylizes the samples that ship inside the package; the same from an install."""
    code = "from animegan.resources import samples_dir; print(samples_dir())"
    samples = Path(base_env.python(code).stdout.strip())
    assert samples.is_dir() and str(samples).startswith(str(base_env.root))
    proc = base_env.run("stylize", str(samples), "-o", "demo", "--max-side", "128")
    assert proc.returncode == 0, proc.stderr
    written = sorted(p.name for p in (base_env.workdir / "demo").iterdir())
    assert written == sorted(p.name for p in samples.glob("*.jpg")) and len(written) == 4


def test_base_models_list_train_preset_and_bench_help(base_env: Env):
    listing = base_env.run("models", "list")
    assert listing.returncode == 0, listing.stderr
    for style in ("shinkai", "hayao", "paprika", "shinkai_lite"):
        assert style in listing.stdout
    dry = base_env.run("train", "tiny", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "Traceback" not in dry.stderr
    helped = base_env.run("bench", "--help")
    assert helped.returncode == 0 and "--sizes" in helped.stdout, helped.stderr


@pytest.mark.parametrize(("args", "extra"), [
    (["video", "clip.mp4", "-o", "clip-out.mp4"], "video"),
    (["serve", "--port", "0"], "server"),
    (["export", "onnx", "shinkai", "-o", "m.onnx"], "onnx"),
    (["quantize", "m.onnx", "-o", "q.onnx"], "onnx"),
    (["stylize", "photo.jpg", "-o", "onnx-out", "--backend", "onnx"], "onnx"),
    (["stylize", "photo.jpg", "-o", "ray-out", "--ray", "local"], "ray"),
])
def test_base_optional_commands_name_their_extra_in_one_line(base_env: Env, args: list[str], extra: str):
    _photo(base_env.workdir)
    (base_env.workdir / "clip.mp4").write_bytes(b"\x00" * 64)
    (base_env.workdir / "m.onnx").write_bytes(b"\x00" * 64)
    proc = base_env.run(*args, timeout=120)
    assert proc.returncode != 0
    lines = _error_lines(proc)
    assert len(lines) == 1, proc.stderr
    assert f"animegan[{extra}]" in lines[0] and "Traceback" not in proc.stderr, lines[0]


# ---- with every extra -----------------------------------------------------------------------------

def test_all_version(all_env: Env, wheel: Path):
    proc = all_env.run("--version")
    assert proc.returncode == 0 and wheel.name.split("-")[1] in proc.stdout, proc.stderr


def test_all_video_keeps_every_frame_and_the_audio(all_env: Env):
    import av

    from animegan.video.samples import write_clip

    clip = write_clip(all_env.workdir / "clip.mp4", width=96, height=64, seconds=1.2, audio="aac")
    proc = all_env.run("video", "clip.mp4", "-o", "clip-anime.mp4")
    assert proc.returncode == 0, proc.stderr
    out = all_env.workdir / "clip-anime.mp4"

    def frames_and_audio(path: Path) -> tuple[int, list[bytes]]:
        with av.open(str(path)) as container:
            n = sum(1 for _ in container.decode(video=0))
        with av.open(str(path)) as container:
            packets = [bytes(p) for p in container.demux(audio=0) if p.size]
        return n, packets

    n_in, audio_in = frames_and_audio(clip)
    n_out, audio_out = frames_and_audio(out)
    assert n_out == n_in == 30
    assert audio_out == audio_in, "the audio was not copied packet for packet"


def test_all_export_onnx_with_no_path_arguments(all_env: Env):
    proc = all_env.run("export", "onnx", "shinkai", "-o", "m.onnx", timeout=600)
    assert proc.returncode == 0, proc.stderr
    import onnxruntime as ort

    session = ort.InferenceSession(str(all_env.workdir / "m.onnx"), providers=["CPUExecutionProvider"])
    x = np.zeros((1, 3, 64, 64), np.float32)
    y = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert y.shape == (1, 3, 64, 64) and np.isfinite(y).all()


def test_all_bench_with_no_path_arguments(all_env: Env):
    # no --calib/--photo: INT8 calibration and the quality column use the bundled sample photos.
    # One INT8 variant (torch-fp32 is always added as the reference) exercises every default path;
    # all variants took 131 s here, which the installed tier cannot afford on every run.
    proc = all_env.run("bench", "--sizes", "256", "--variants", "ort-int8-static", timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "ort-int8-static" in proc.stdout and "torch-fp32" in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stderr
    assert not (all_env.workdir / "benchmarks").exists(), "bench wrote a benchmarks/ folder into the user's cwd"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_all_serve_page_docs_and_a_round_trip(all_env: Env):
    port = _free_port()
    server = subprocess.Popen([str(all_env.bin / "animegan"), "serve", "--host", "127.0.0.1", "--port", str(port)],
                              cwd=all_env.workdir, env=all_env.env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=5) as resp:
                    health = json.loads(resp.read())
                break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "the server did not answer within 120 s"
                time.sleep(0.3)
        assert health["version"]
        with urllib.request.urlopen(base + "/", timeout=10) as resp:
            page = resp.read().decode()
        assert "<html" in page.lower()
        with urllib.request.urlopen(base + "/docs", timeout=10) as resp:
            docs = resp.read().decode()
        assert "cdn." not in docs and "unpkg" not in docs, "/docs loads its assets from the internet"

        photo = _photo(all_env.workdir, "upload.jpg", side=128).read_bytes()
        boundary = "animegan-test-boundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"upload.jpg\"\r\n"
                f"Content-Type: image/jpeg\r\n\r\n").encode() + photo + f"\r\n--{boundary}--\r\n".encode()
        req = urllib.request.Request(base + "/api/v1/stylize", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        with urllib.request.urlopen(req, timeout=120) as resp:
            out = Image.open(io.BytesIO(resp.read()))
            out.load()
        assert out.size == Image.open(io.BytesIO(photo)).size
    finally:
        server.terminate()
        server.wait(timeout=30)
