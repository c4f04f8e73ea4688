"""Exact resume: a run stopped at step k and resumed gives the same losses and weights as one run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from animegan.errors import InputError
from animegan.training.checkpoint import load_checkpoint, resolve_resume
from animegan.training.config import load_config
from animegan.training.runs import load_options, read_stats
from animegan.training.trainer import Trainer


def make_folders(root: Path, n: int = 6, size: int = 40) -> list[str]:
    rng = np.random.default_rng(1)
    for kind in ("photos", "style"):
        (root / kind).mkdir(parents=True)
        for i in range(n):
            img = rng.integers(0, 256, (size // 4, size // 4, 3), dtype=np.uint8)
            Image.fromarray(img).resize((size, size), Image.Resampling.BICUBIC).save(root / kind / f"{i}.png")
    # jitter on: augmentation draws random numbers that must replay after a resume
    return [f"data.photos='{root / 'photos'}'", f"data.style='{root / 'style'}'", "data.jitter=0.1",
            f"run.runs_dir='{root / 'runs'}'", "run.keep_checkpoints=0", "optim.grad_clip=1.0"]


def _losses(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "sec_per_step"} for r in rows]


@pytest.mark.parametrize("stop_at", [1, 3])  # inside the init phase, and inside the GAN phase
def test_stopped_and_resumed_run_matches_an_uninterrupted_one(tmp_path, stop_at):
    cfg = load_config("tiny", make_folders(tmp_path))
    whole = Trainer(cfg)
    whole.fit()

    part = Trainer(cfg)

    def stop(step, total, row):
        if step == stop_at:
            part.stop_requested = True  # what the SIGINT handler sets

    result = part.fit(stop)
    assert result.interrupted and result.step == stop_at and result.weights is None
    run_dir, ckpt = resolve_resume(result.run_dir)
    assert ckpt.name == f"{stop_at:08d}.pt"
    resumed = Trainer(load_options(run_dir), run_dir=run_dir, resume=ckpt)
    assert resumed.step == stop_at
    end = resumed.fit()
    assert not end.interrupted and end.step == 8

    a, b = _losses(read_stats(whole.run_dir)), _losses(read_stats(run_dir))
    assert [r["step"] for r in b] == list(range(1, 9))  # no duplicated or missing rows
    assert a == b  # every loss at every step, bit for bit
    for net in ("g", "d", "ema"):
        sa, sb = getattr(whole, net).state_dict(), getattr(resumed, net).state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_resume_from_an_older_checkpoint_file_replays_the_same_steps(tmp_path):
    cfg = load_config("tiny", make_folders(tmp_path))
    first = Trainer(cfg)
    first.fit()
    rows = _losses(read_stats(first.run_dir))
    older = first.run_dir / "checkpoints" / "00000004.pt"
    run_dir, ckpt = resolve_resume(older)
    assert (run_dir, ckpt) == (first.run_dir, older)
    again = Trainer(load_options(run_dir), run_dir=run_dir, resume=ckpt)
    again.fit()
    assert _losses(read_stats(run_dir)) == rows
    state = load_checkpoint(run_dir / "checkpoints" / "00000008.pt")
    assert state["step"] == 8 and state["epoch"] == 4 and set(state["rng"]) >= {"python", "numpy", "torch"}


def test_resume_errors_are_one_line(tmp_path):
    with pytest.raises(InputError, match="no such run folder or checkpoint"):
        resolve_resume(tmp_path / "nope")
    (tmp_path / "empty-run").mkdir()
    with pytest.raises(InputError, match="has no checkpoints"):
        resolve_resume(tmp_path / "empty-run")
    bad = tmp_path / "x.pt"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a readable checkpoint") as exc:
        load_checkpoint(bad)
    assert "\n" not in str(exc.value)
    torch.save({"g": {}}, bad)
    with pytest.raises(InputError, match="not an animegan training checkpoint"):
        load_checkpoint(bad)
