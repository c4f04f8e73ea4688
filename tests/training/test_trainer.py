"""The GAN trainer on tiny real image folders: phases, run folder contents, D freezing, errors, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from animegan.errors import InputError, ModelError
from animegan.training.config import load_config
from animegan.training.runs import load_options, read_stats
from animegan.training.trainer import Trainer

REPO = Path(__file__).resolve().parents[2]


def make_folders(root: Path, n: int = 6, size: int = 40) -> dict[str, Path]:
    """Photos (smooth gradients + noise) and 'anime' frames (flat colour blocks with dark lines) as files."""
    rng = np.random.default_rng(0)
    photos, style = root / "photos", root / "style"
    photos.mkdir(parents=True)
    style.mkdir(parents=True)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        base = np.stack([xx * (i + 1) % 1, yy, 1 - xx * yy], -1) * 255
        img = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(photos / f"p{i:02d}.jpg", quality=95)
        flat = np.zeros((size, size, 3), np.uint8) + rng.integers(60, 250, 3, dtype=np.uint8)
        flat[size // 3:, : size // 2] = rng.integers(60, 250, 3, dtype=np.uint8)
        flat[size // 3 - 1: size // 3 + 1] = 20
        Image.fromarray(flat).save(style / f"a{i:02d}.png")
    return {"photos": photos, "style": style}


def tiny_overrides(folders: dict[str, Path], runs: Path, *extra: str) -> list[str]:
    return [f"data.photos='{folders['photos']}'", f"data.style='{folders['style']}'",
            f"run.runs_dir='{runs}'", *extra]


@pytest.fixture()
def folders(tmp_path: Path) -> dict[str, Path]:
    return make_folders(tmp_path / "data")


def test_tiny_run_writes_a_complete_run_folder(folders, tmp_path):
    cfg = load_config("tiny", tiny_overrides(folders, tmp_path / "runs"))
    trainer = Trainer(cfg)
    d_before = {k: v.clone() for k, v in trainer.d.state_dict().items()}
    result = trainer.fit()
    run = tmp_path / "runs" / "00000-tiny"
    assert result.run_dir == run and not result.interrupted and result.step == result.total_steps == 8
    assert load_options(run) == cfg
    assert json.loads((run / "training_options.json").read_text())["loss"]["color"] == 15.0
    rows = read_stats(run)
    assert [r["step"] for r in rows] == list(range(1, 9))
    assert [r["phase"] for r in rows] == ["init"] * 2 + ["gan"] * 6
    assert all("d_total" not in r and r["lr_g"] == 2e-4 for r in rows[:2])
    for r in rows[2:]:
        assert r["lr_g"] == 2e-5 and r["lr_d"] == 4e-5
        assert all(np.isfinite(r[k]) for k in ("g_total", "content", "style", "color", "tv", "adv", "d_total"))
        parts = 1.5 * r["content"] + 2.5 * r["style"] + 15 * r["color"] + r["tv"] + r["adv"]
        assert r["g_total"] == pytest.approx(parts, rel=1e-4)
    assert any((trainer.d.state_dict()[k] != v).any() for k, v in d_before.items())  # D was trained
    # checkpoints every 2 steps, newest 3 kept
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["00000004.pt", "00000006.pt", "00000008.pt"]
    # grids at step 0, 4 and 8: two rows (photos, outputs) of two 32-px crops with 2-px gaps
    grids = sorted((run / "images").iterdir())
    assert [p.name for p in grids] == ["00000000.png", "00000004.png", "00000008.png"]
    with Image.open(grids[-1]) as im:
        assert im.size == (2 * 34 + 2, 2 * 34 + 2) and im.mode == "RGB"
        grid = np.asarray(im)
    with Image.open(folders["photos"] / "p00.jpg") as ph:
        ref = np.asarray(ph.convert("RGB").resize((32, 32), Image.Resampling.BICUBIC)).astype(float)
    assert np.abs(grid[2:34, 2:34].astype(float) - ref).mean() < 4  # top-left cell is the first eval photo
    assert np.abs(grid[36:68, 2:34].astype(float) - grid[2:34, 2:34]).mean() > 1  # below it: G's output
    # the exported EMA generator loads and matches the trainer's EMA
    from animegan.hub.loading import load_generator_file

    model, info = load_generator_file(result.weights)
    assert info.arch == "animeganv2" and info.style == "tiny"
    assert json.loads(info.provenance)["steps"] == 8
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(model(x), trainer.ema(x))
    # the next run takes the next number
    assert Trainer(cfg).run_dir.name == "00001-tiny"


def test_init_phase_trains_only_g_with_content_loss(folders, tmp_path):
    cfg = load_config("tiny", tiny_overrides(folders, tmp_path / "runs", "schedule.max_steps=2",
                                             "run.checkpoint_every=0"))
    trainer = Trainer(cfg)
    g0 = [p.clone() for p in trainer.g.parameters()]
    d0 = {k: v.clone() for k, v in trainer.d.state_dict().items()}
    trainer.fit()
    assert all(torch.equal(v, trainer.d.state_dict()[k]) for k, v in d0.items())
    assert any(not torch.equal(a, b) for a, b in zip(g0, trainer.g.parameters()))
    assert not trainer.opt_g.state and trainer.opt_init.state
    rows = read_stats(trainer.run_dir)
    assert all(r["g_total"] == r["content"] for r in rows)


def test_d_freezes_for_k_steps_when_its_loss_collapses(folders, tmp_path):
    cfg = load_config("tiny", tiny_overrides(folders, tmp_path / "runs", "optim.d_freeze_below=1e9",
                                             "optim.d_freeze_steps=2", "optim.d_steps=2", "optim.grad_clip=0.5"))
    trainer = Trainer(cfg)
    trainer.fit()
    rows = [r for r in read_stats(trainer.run_dir) if r["phase"] == "gan"]
    # a D update at gan step 1 drops below the threshold -> frozen for 2 steps, then again
    assert [r["d_frozen"] for r in rows] == [0, 1, 1, 0, 1, 1]
    adam_steps = {int(s["step"]) for s in trainer.opt_d.state.values()}
    assert adam_steps == {2 * 2}  # two un-frozen iterations × d_steps 2


def test_hinge_seed_recipe_with_sam_networks_runs(folders, tmp_path):
    cfg = load_config("seed", tiny_overrides(
        folders, tmp_path / "runs", "model.vgg_weights=random", "model.vgg_layer=relu2_1",
        "model.generator_config={width = 8, n_res_blocks = 1}", "model.discriminator_config={channels = 8}",
        "data.crop_size=32", "schedule.batch_size=2", "schedule.steps_per_epoch=1", "schedule.max_steps=3",
        "run.device=cpu", "run.tensorboard=false", "run.image_every=0", "run.checkpoint_every=0",
        "run.log_every=1"))
    result = Trainer(cfg).fit()
    rows = read_stats(result.run_dir)
    assert [r["phase"] for r in rows] == ["gan"] * 3
    assert rows[0]["lr_g"] == 2e-4 and rows[-1]["lr_g"] < 2e-4  # cosine annealing
    assert rows[0]["g_total"] == pytest.approx(10 * rows[0]["content"] + rows[0]["style"] + rows[0]["adv"], rel=1e-4)


def test_empty_style_folder_is_one_clear_error(folders, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    cfg = load_config("tiny", tiny_overrides(folders, tmp_path / "runs", f"data.style='{empty}'"))
    with pytest.raises(InputError, match="empty: no images"):
        Trainer(cfg)


def test_missing_vgg_file_stops_with_the_vgg_message(folders, tmp_path):
    cfg = load_config("tiny", tiny_overrides(folders, tmp_path / "runs", f"model.vgg_weights='{tmp_path}/vgg.pth'"))
    with pytest.raises(ModelError, match="VGG19 weights not found at .*vgg.pth"):
        Trainer(cfg)


def test_tensorboard_events_when_installed(folders, tmp_path):
    pytest.importorskip("tensorboard")
    cfg = load_config("tiny", tiny_overrides(folders, tmp_path / "runs", "run.tensorboard=true",
                                             "schedule.max_steps=3"))
    result = Trainer(cfg).fit()
    events = list(result.run_dir.glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 100


def test_cli_dry_run_prints_config_and_counts(folders, tmp_path):
    from animegan.cli.main import app

    args = ["train", "tiny", "--dry-run"]
    for o in tiny_overrides(folders, tmp_path / "runs"):
        args += ["--set", o]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "photos: 6" in res.output and "style images: 6" in res.output and "total steps: 8" in res.output
    assert "data.crop_size" in res.output and "32" in res.output
    assert not (tmp_path / "runs").exists()  # nothing written


def test_cli_resume_of_a_corrupt_checkpoint_is_one_line(folders, tmp_path):
    from animegan.cli.main import app

    cfg = load_config("tiny", tiny_overrides(folders, tmp_path / "runs", "schedule.max_steps=2"))
    run = Trainer(cfg).fit().run_dir
    ckpt = max((run / "checkpoints").iterdir())
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    res = CliRunner().invoke(app, ["train", "--resume", str(run)])
    assert res.exit_code == 1
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "not a readable checkpoint" in lines[0] and ckpt.name in lines[0]


def test_sigint_saves_a_checkpoint_and_exits_cleanly(folders, tmp_path):
    runs = tmp_path / "runs"
    args = [sys.executable, "-m", "animegan", "train", "tiny", "--set", "schedule.epochs=200",
            "--set", "run.checkpoint_every=0"]
    for o in tiny_overrides(folders, runs):
        args += ["--set", o]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    stats = runs / "00000-tiny" / "stats.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and not (stats.exists() and len(stats.read_text().splitlines()) >= 3):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "continue with: animegan train --resume" in err
    ckpts = list((runs / "00000-tiny" / "checkpoints").iterdir())
    assert len(ckpts) == 1
    step = int(ckpts[0].stem)
    assert 3 <= step < 400 and read_stats(runs / "00000-tiny")[-1]["step"] == step
    assert not (runs / "00000-tiny" / "generator.safetensors").exists()
