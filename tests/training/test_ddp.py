"""Two-process DistributedDataParallel training on CPU (gloo) through torchrun."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from animegan.training.checkpoint import list_checkpoints, load_checkpoint
from animegan.training.runs import read_stats

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # ~40 s on 2 shared cores: two processes start torch and train 6 steps
def test_two_process_gloo_run_finishes_and_rank0_writes(tmp_path):
    rng = np.random.default_rng(2)
    for kind in ("photos", "style"):
        (tmp_path / kind).mkdir()
        for i in range(8):
            img = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)
            Image.fromarray(img).resize((40, 40), Image.Resampling.BICUBIC).save(tmp_path / kind / f"{i}.png")
    runs = tmp_path / "runs"
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    cmd = [torchrun, "--standalone", "--nproc-per-node", "2", "-m", "animegan", "train", "tiny",
           "--set", f"data.photos='{tmp_path / 'photos'}'", "--set", f"data.style='{tmp_path / 'style'}'",
           "--set", f"run.runs_dir='{runs}'", "--set", "schedule.steps_per_epoch=0",
           "--set", "schedule.epochs=3"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dirs = list(runs.iterdir())
    assert [p.name for p in run_dirs] == ["00000-tiny"]  # one folder, made by rank 0
    run = run_dirs[0]
    # 8 photos / (batch 2 × 2 ranks) = 2 steps per epoch, 3 epochs
    rows = read_stats(run)
    assert [r["step"] for r in rows] == list(range(1, 7))
    assert all(np.isfinite(r["g_total"]) for r in rows) and "d_total" in rows[-1]
    ckpt = list_checkpoints(run)[-1]
    state = load_checkpoint(ckpt)
    assert state["step"] == 6 and state["world_size"] == 2
    assert not any(k.startswith("module.") for k in state["g"])  # the bare networks, not the DDP wrappers
    assert torch.isfinite(next(iter(state["ema"].values()))).all()
    assert (run / "generator.safetensors").is_file() and len(list((run / "images").iterdir())) >= 2
