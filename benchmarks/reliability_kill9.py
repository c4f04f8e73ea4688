"""The kill -9 matrix: each long-running command killed at a random moment, then run again to completion.

Scenarios (each ``--rounds`` times, default 10): batch ``stylize`` of a folder, ``video --resume``, a
model download from a trickling 127.0.0.1 HTTP server, ``train`` (tiny preset) and ``--resume``,
``distill`` (resumes its run folder), ``models import``. Every round starts from a fresh folder, runs the
real command in a subprocess, sends SIGKILL after a random delay (uniform over the span a clean run
of that scenario took in a calibration run), checks what the kill left, reruns the same command (with
its resume flag) to completion and checks again. Counted per scenario:

- lost: expected outputs missing after the rerun (images, video frames, stats rows, index entries)
- duplicated: outputs there twice (stats rows logged twice, video frames beyond the input's, extra files)
- half-written: a file under a final name that does not read back completely (after the kill or the rerun)
- temps left: temporary files (``.NAME.*.part*``, ``*.tmp*``) anywhere in the output tree after the rerun

Run: ``.venv/bin/python benchmarks/reliability_kill9.py --rounds 10`` (writes
``benchmarks/results/reliability-kill9.md``); ``--only batch,video`` picks scenarios.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
#: a small CartoonGAN: the matrix tests what a kill leaves, not the network's speed
TINY = ("cartoongan", {"base_channels": 8, "n_res_blocks": 2})


@dataclass
class Tally:
    rounds: int = 0
    killed_mid_run: int = 0  # rounds where the kill landed before the command finished
    lost: int = 0
    duplicated: int = 0
    half_written: int = 0
    temps_left: int = 0
    rerun_failed: int = 0
    notes: list[str] = field(default_factory=list)


def run(cmd: list[str], env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def run_and_kill(cmd: list[str], env: dict[str, str], delay: float) -> float | None:
    """Start ``cmd``, SIGKILL its process group after ``delay`` s; None when killed mid-run, else its run time."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        proc.wait(timeout=delay)
        return time.perf_counter() - t0
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return None


def temp_files(root: Path) -> list[Path]:
    from animegan.io.atomic import is_temp_name

    found = []
    for path in root.rglob("*"):
        name = path.name
        if path.is_file() and (is_temp_name(name) or ".tmp" in name or name.endswith(".part")):
            found.append(path)
        if path.is_dir() and name.endswith(".parts"):
            found.append(path)
    return found


# ---- data the scenarios use -----------------------------------------------------------------------


def make_photos(folder: Path, n: int, size: tuple[int, int], seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        small = rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
        path = folder / f"photo{i:02d}.png"
        Image.fromarray(small).resize(size, Image.Resampling.BICUBIC).save(path)
        out.append(path)
    return out


def make_weights(path: Path, arch: str = "animeganv2", config: dict | None = None) -> Path:
    import torch

    from animegan.hub.weights import ModelInfo, save_weights
    from animegan.nn import build_generator

    torch.manual_seed(0)
    return save_weights(path, build_generator(arch, config or {}), ModelInfo(arch=arch, config=config or {},
                                                                              style="kill9"))


def image_ok(path: Path, size: tuple[int, int]) -> bool:
    try:
        with Image.open(path) as img:
            img.load()
            return img.size == size
    except Exception:  # noqa: BLE001
        return False


def video_frames(path: Path) -> int | None:
    import av

    try:
        with av.open(str(path)) as c:
            return sum(1 for _ in c.decode(c.streams.video[0]))
    except Exception:  # noqa: BLE001
        return None


# ---- scenarios: (setup, command, rerun command, check-after-kill, check-after-rerun) ----------------


class Scenario:
    name = ""

    def __init__(self, work: Path, env: dict[str, str]):
        self.work, self.env = work, env

    def prepare(self, rnd: Path) -> None: ...

    def command(self, rnd: Path) -> list[str]: raise NotImplementedError

    def rerun(self, rnd: Path) -> list[str]:
        return self.command(rnd)

    def after_kill(self, rnd: Path, t: Tally) -> None: ...

    def after_rerun(self, rnd: Path, t: Tally) -> None: raise NotImplementedError

    def output_root(self, rnd: Path) -> Path:
        return rnd


class Batch(Scenario):
    name = "batch stylize"
    N, SIZE = 40, (160, 120)

    def __init__(self, work, env):
        super().__init__(work, env)
        self.photos = make_photos(work / "photos", self.N, self.SIZE)
        self.model = make_weights(work / "batch-model.safetensors", *TINY)

    def command(self, rnd):
        return [PY, "-m", "animegan", "stylize", str(self.work / "photos"), "-o", str(rnd / "out"), "--model",
                str(self.model), "--precision", "fp32"]

    def after_kill(self, rnd, t):
        for p in (rnd / "out").glob("*.png") if (rnd / "out").is_dir() else []:
            t.half_written += not image_ok(p, self.SIZE)

    def after_rerun(self, rnd, t):
        names = {p.name for p in self.photos}
        got = {p.name for p in (rnd / "out").iterdir() if not p.name.startswith(".")}
        t.lost += len(names - got)
        t.duplicated += len(got - names)
        t.half_written += sum(not image_ok(rnd / "out" / n, self.SIZE) for n in names & got)


class Video(Scenario):
    name = "video --resume"
    FRAMES = 60

    def __init__(self, work, env):
        super().__init__(work, env)
        from animegan.video.samples import write_clip

        self.clip = write_clip(work / "clip.mp4", width=128, height=96, fps=25, seconds=self.FRAMES / 25)
        self.model = make_weights(work / "video-model.safetensors", *TINY)

    def command(self, rnd):
        return [PY, "-m", "animegan", "video", str(self.clip), "-o", str(rnd / "out.mp4"), "--model",
                str(self.model), "--precision", "fp32", "--resume", "--segment-frames", "10"]

    def after_kill(self, rnd, t):
        out = rnd / "out.mp4"
        if out.exists():
            t.half_written += video_frames(out) != self.FRAMES

    def after_rerun(self, rnd, t):
        frames = video_frames(rnd / "out.mp4") or 0
        t.lost += max(0, self.FRAMES - frames)
        t.duplicated += max(0, frames - self.FRAMES)


class _Trickle(http.server.BaseHTTPRequestHandler):
    data = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.data)))
        self.end_headers()
        try:
            for i in range(0, len(self.data), 256 * 1024):
                self.wfile.write(self.data[i:i + 256 * 1024])
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


class Download(Scenario):
    name = "download"

    def __init__(self, work, env):
        super().__init__(work, env)
        _Trickle.data = np.random.default_rng(0).integers(0, 256, 8 << 20, dtype=np.uint8).tobytes()
        self.sha = hashlib.sha256(_Trickle.data).hexdigest()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/model.safetensors"

    def command(self, rnd):
        code = ("import sys; from animegan.hub.download import download_file; "
                f"download_file({self.url!r}, sys.argv[1], sha256={self.sha!r}, size={len(_Trickle.data)})")
        return [PY, "-c", code, str(rnd / "models" / "model.safetensors")]

    def _ok(self, path: Path) -> bool:
        return hashlib.sha256(path.read_bytes()).hexdigest() == self.sha

    def after_kill(self, rnd, t):
        dest = rnd / "models" / "model.safetensors"
        if dest.exists():
            t.half_written += not self._ok(dest)

    def after_rerun(self, rnd, t):
        dest = rnd / "models" / "model.safetensors"
        t.lost += not dest.exists()
        if dest.exists():
            t.half_written += not self._ok(dest)
        t.duplicated += sum(1 for p in (rnd / "models").iterdir() if not p.name.startswith(".")) - 1


def _checkpoints_check(run: Path, t) -> None:
    """Every checkpoint a killed run left must load (written atomically, never half)."""
    from animegan.training.checkpoint import list_checkpoints, load_checkpoint

    for ckpt in list_checkpoints(run):
        try:
            load_checkpoint(ckpt)
        except Exception:  # noqa: BLE001
            t.half_written += 1


def _stats_check(stats: Path, total: int, t: Tally) -> None:
    steps = []
    if stats.exists():
        for line in stats.read_text().splitlines():
            try:
                steps.append(json.loads(line)["step"])
            except ValueError:
                t.half_written += 1
    t.lost += len(set(range(1, total + 1)) - set(steps))
    t.duplicated += len(steps) - len(set(steps))


def _weights_ok(path: Path) -> bool:
    from animegan.hub.loading import load_generator_file

    try:
        load_generator_file(path)
        return True
    except Exception:  # noqa: BLE001
        return False


class Train(Scenario):
    name = "train (tiny) + --resume"
    STEPS = 8

    def __init__(self, work, env):
        super().__init__(work, env)
        make_photos(work / "train" / "photos", 6, (40, 40), seed=1)
        make_photos(work / "train" / "style", 6, (40, 40), seed=2)

    def _sets(self, rnd):
        return ["--set", f"data.photos='{self.work / 'train' / 'photos'}'", "--set",
                f"data.style='{self.work / 'train' / 'style'}'", "--set", f"run.runs_dir='{rnd / 'runs'}'"]

    def command(self, rnd):
        return [PY, "-m", "animegan", "train", "tiny", *self._sets(rnd)]

    def rerun(self, rnd):
        runs = sorted((rnd / "runs").glob("0*")) if (rnd / "runs").is_dir() else []
        if runs and list((runs[-1] / "checkpoints").glob("*.pt")):
            return [PY, "-m", "animegan", "train", "--resume", str(runs[-1])]
        return self.command(rnd)  # killed before its first checkpoint: start again

    def after_kill(self, rnd, t):
        for run in (rnd / "runs").glob("0*") if (rnd / "runs").is_dir() else []:
            _checkpoints_check(run, t)

    def after_rerun(self, rnd, t):
        runs = sorted((rnd / "runs").glob("0*"))
        final = runs[-1]
        _stats_check(final / "stats.jsonl", self.STEPS, t)
        weights = final / "generator.safetensors"
        t.lost += not weights.exists()
        t.half_written += weights.exists() and not _weights_ok(weights)


class Distill(Scenario):
    name = "distill (resumes)"
    STEPS = 24

    def __init__(self, work, env):
        super().__init__(work, env)
        make_photos(work / "distill" / "photos", 4, (56, 48), seed=3)
        teacher = make_weights(work / "distill" / "teacher.safetensors", *TINY)
        self.toml = work / "distill" / "d.toml"
        self.toml.write_text(
            f'teacher = "{teacher}"\nphotos = ["{work / "distill" / "photos"}"]\nstudent_arch = "cartoongan"\n'
            'student_config = { base_channels = 4, n_res_blocks = 1 }\ncrop_size = 32\nn_crops = 4\n'
            'long_side_range = [40, 56]\nbatch_size = 2\nw_perceptual = 0.0\nthreads = 1\n'
            'checkpoint_every = 5\nlog_every = 1\n')

    def command(self, rnd):
        return [PY, "-m", "animegan", "distill", str(self.toml), "--run-dir", str(rnd / "run"), "--steps",
                str(self.STEPS)]

    def after_kill(self, rnd, t):
        _checkpoints_check(rnd / "run", t)  # distillation keeps the trainer's run layout

    def after_rerun(self, rnd, t):
        _stats_check(rnd / "run" / "stats.jsonl", self.STEPS, t)
        student = rnd / "run" / "student.safetensors"
        t.lost += not student.exists()
        t.half_written += student.exists() and not _weights_ok(student)


class Import(Scenario):
    name = "models import"

    def __init__(self, work, env):
        super().__init__(work, env)
        self.weights = make_weights(work / "import-src.safetensors", *TINY)

    def _env(self, rnd):
        return {**self.env, "ANIMEGAN_HOME": str(rnd / "home")}

    def command(self, rnd):
        return [PY, "-m", "animegan", "models", "import", str(self.weights), "--name", "k9"]

    def after_kill(self, rnd, t):
        index = rnd / "home" / "models" / "index.json"
        if index.exists():
            try:
                json.loads(index.read_text())
            except ValueError:
                t.half_written += 1

    def after_rerun(self, rnd, t):
        folder = rnd / "home" / "models"
        index = json.loads((folder / "index.json").read_text()).get("models", {})
        t.lost += "k9" not in index
        files = [p for p in folder.glob("*.safetensors") if not p.name.startswith(".")]
        t.duplicated += max(0, len(files) - 1)  # an orphaned copy beside the indexed one
        if "k9" in index:
            t.half_written += not _weights_ok(folder / index["k9"]["file"])

    def output_root(self, rnd):
        return rnd / "home"


SCENARIOS: dict[str, type[Scenario]] = {"batch": Batch, "video": Video, "download": Download, "train": Train,
                                        "distill": Distill, "import": Import}


def play(scenario: Scenario, rounds: int, rng: random.Random, log: Callable[[str], None]) -> Tally:
    env = scenario.env
    calib = scenario.work / f"calibrate-{scenario.name.split()[0]}"
    calib.mkdir()
    scenario.prepare(calib)
    t0 = time.perf_counter()
    done = run(scenario.command(calib), scenario._env(calib) if hasattr(scenario, "_env") else env)
    span = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{scenario.name}: the clean run failed:\n{done.stderr[-2000:]}")
    log(f"{scenario.name}: a clean run takes {span:.1f} s")
    tally = Tally()
    for i in range(rounds):
        rnd = scenario.work / f"{scenario.name.split()[0]}-{i:02d}"
        rnd.mkdir()
        scenario.prepare(rnd)
        run_env = scenario._env(rnd) if hasattr(scenario, "_env") else env
        delay = rng.uniform(0.15, 0.85) * span
        finished = run_and_kill(scenario.command(rnd), run_env, delay)
        tally.killed_mid_run += finished is None
        if finished is not None:  # it ran faster than the calibration (load changed): aim the next kills there
            span = finished
        scenario.after_kill(rnd, tally)
        again = run(scenario.rerun(rnd), run_env)
        if again.returncode != 0 and not (isinstance(scenario, Import) and "already" in again.stderr):
            tally.rerun_failed += 1
            tally.notes.append(f"round {i}: rerun exit {again.returncode}: {again.stderr.strip()[-300:]}")
        try:
            scenario.after_rerun(rnd, tally)
        except Exception as exc:  # noqa: BLE001 - count it as a lost output
            tally.lost += 1
            tally.notes.append(f"round {i}: check failed: {exc}")
        left = temp_files(scenario.output_root(rnd))
        tally.temps_left += len(left)
        if left:
            tally.notes.append(f"round {i}: temp files left: {[str(p.relative_to(rnd)) for p in left]}")
        tally.rounds += 1
        log(f"  round {i}: kill at {delay:.1f} s; lost {tally.lost}, dup {tally.duplicated}, "
            f"half {tally.half_written}, temps {tally.temps_left}")
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma list of {', '.join(SCENARIOS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "reliability-kill9.md")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenarios {unknown}")
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="animegan-kill9-"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ANIMEGAN_HOME": str(work / "home"), "COLUMNS": "120"}
    results: dict[str, Tally] = {}
    started = time.time()
    try:
        for name in names:
            scenario = SCENARIOS[name](work, env)
            results[name] = play(scenario, args.rounds, rng, lambda s: print(s, flush=True))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    intro = (f"`benchmarks/reliability_kill9.py --rounds {args.rounds} --seed {args.seed}` on "
             f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d', time.gmtime(started))}, "
             f"{(time.time() - started) / 60:.0f} min. Each round: the command killed with SIGKILL at a random "
             "moment (uniform over 15-85 % of a clean run's time), checked, rerun to completion, checked.")
    header = ("| scenario | rounds | killed mid-run | outputs lost | duplicated | half-written | temp files left "
              "| rerun failed |")
    lines = ["# kill -9 reliability matrix", "", intro, "", header, "|---|---|---|---|---|---|---|---|"]
    for name, t in results.items():
        lines.append(f"| {SCENARIOS[name].name} | {t.rounds} | {t.killed_mid_run} | {t.lost} | {t.duplicated} | "
                     f"{t.half_written} | {t.temps_left} | {t.rerun_failed} |")
    notes = [f"- {SCENARIOS[n].name}: {note}" for n, t in results.items() for note in t.notes]
    if notes:
        lines += ["", "Notes:", *notes]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
