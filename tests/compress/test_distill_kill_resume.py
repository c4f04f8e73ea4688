"""After a kill: `distill` resumes from its newest checkpoint with every RNG state, repeating the same
losses; it trims stats rows logged past the checkpoint (like `train`), and temp files go."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from test_distill import make_photos, make_teacher

from animegan.compress.distill import DistillConfig, distill
from animegan.errors import ConfigError
from animegan.training.checkpoint import list_checkpoints, load_checkpoint
from animegan.training.runs import StatsLog, trim_stats


def _cfg(tmp_path: Path, steps: int) -> DistillConfig:
    if not (tmp_path / "photos").exists():
        make_photos(tmp_path / "photos")
        make_teacher(tmp_path / "teacher.safetensors")
    return DistillConfig(teacher=str(tmp_path / "teacher.safetensors"), photos=[str(tmp_path / "photos")],
                         run_dir=str(tmp_path / "run"), student_arch="cartoongan",
                         student_config={"base_channels": 4, "n_res_blocks": 1}, crop_size=32, n_crops=4,
                         long_side_range=(40, 56), steps=steps, batch_size=2, w_perceptual=0.0,
                         checkpoint_every=4, log_every=1, threads=1)


def _steps(run_dir: str) -> list[int]:
    return [json.loads(line)["step"] for line in (Path(run_dir) / "stats.jsonl").read_text().splitlines()]


def test_distill_resume_drops_rows_logged_after_the_checkpoint(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, steps=4)
    distill(cfg)  # checkpoint at step 4
    stats = Path(cfg.run_dir) / "stats.jsonl"
    # what a kill -9 between checkpoints leaves: rows 5 and 6 logged, step 7's row cut in mid-write
    with stats.open("a") as f:
        f.write(json.dumps({"step": 5, "loss": 1.0}) + "\n" + json.dumps({"step": 6, "loss": 1.0}) + "\n")
        f.write('{"step": 7, "lo')
    distill(DistillConfig(**{**cfg.__dict__, "steps": 8}))  # resumes from step 4
    assert _steps(cfg.run_dir) == list(range(1, 9))


def test_distill_killed_before_its_first_checkpoint_starts_clean(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, steps=3)
    run = Path(cfg.run_dir)
    run.mkdir()
    (run / "stats.jsonl").write_text("".join(json.dumps({"step": s, "loss": 9.0}) + "\n" for s in (1, 2)))
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout)
    stale = run / f".checkpoint.abcd1234.{dead}.part.pt"  # a checkpoint write the kill cut short
    stale.write_bytes(b"\0" * 1000)
    old = time.time() - 10 * 86400  # long before this test process started
    os.utime(stale, (old, old))
    distill(cfg)
    assert _steps(cfg.run_dir) == [1, 2, 3]
    assert all(json.loads(line)["loss"] != 9.0 for line in (run / "stats.jsonl").read_text().splitlines())
    assert not stale.exists()


def test_train_stats_trim_survives_a_torn_last_row(tmp_path: Path) -> None:
    path = tmp_path / "stats.jsonl"
    path.write_text('{"step": 10}\n{"step": 20}\n{"step": 30}\n{"step": 4')
    log = StatsLog(tmp_path, tensorboard=False, resume_step=20)
    log.log({"step": 21})
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [10, 20, 21]
    assert trim_stats(path, 20) == 1 and trim_stats(tmp_path / "none.jsonl", 5) == 0


def _seed_globals(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def test_resume_restores_every_rng_and_repeats_the_same_losses(tmp_path: Path) -> None:
    draws: dict[str, dict[int, tuple[float, float, float]]] = {"whole": {}, "resumed": {}}

    def drawing(name: str):  # a callback that uses the python, numpy and torch RNGs at every step
        def on_log(row: dict) -> None:
            draws[name][int(row["step"])] = (random.random(), float(np.random.rand()), float(torch.rand(1)))
        return on_log

    whole = _cfg(tmp_path, steps=8)
    _seed_globals(5)
    distill(whole, on_log=drawing("whole"))
    part = DistillConfig(**{**whole.__dict__, "run_dir": str(tmp_path / "part"), "steps": 4})
    _seed_globals(5)
    distill(part, on_log=drawing("resumed"))  # checkpoint at step 4
    state = load_checkpoint(list_checkpoints(part.run_dir)[-1])
    assert state["step"] == 4 and {"python", "numpy", "torch"} <= set(state["rng"])
    _seed_globals(99)  # what a new process starts with
    distill(DistillConfig(**{**part.__dict__, "steps": 8}), on_log=drawing("resumed"))
    assert draws["resumed"] == draws["whole"]  # every RNG continues where step 4 left it
    rows = [{k: v for k, v in r.items() if k not in ("sec_per_step", "teacher_calls")}
            for r in map(json.loads, (Path(whole.run_dir) / "stats.jsonl").read_text().splitlines())]
    resumed = [{k: v for k, v in r.items() if k not in ("sec_per_step", "teacher_calls")}
               for r in map(json.loads, (Path(part.run_dir) / "stats.jsonl").read_text().splitlines())]
    assert resumed == rows and len(rows) == 8  # bit-for-bit the same losses


def test_resume_refuses_a_config_that_changes_the_training(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, steps=4)
    distill(cfg)
    with pytest.raises(ConfigError, match=r"00000004\.pt: the run was started with lr = 0\.0002, not 0\.001"):
        distill(DistillConfig(**{**cfg.__dict__, "steps": 8, "lr": 1e-3}))
    assert json.loads((Path(cfg.run_dir) / "config.json").read_text())["lr"] == 2e-4  # left as it was
