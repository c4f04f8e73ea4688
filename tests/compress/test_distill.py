"""Distillation: loss goes down, the teacher runs once per crop, resume continues bit-for-bit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from animegan.compress.distill import DistillConfig, TeacherCache, batch_indices, distill, plan_crops
from animegan.errors import ConfigError, InputError
from animegan.hub.loading import load_generator_file
from animegan.hub.weights import ModelInfo, save_weights
from animegan.nn.cartoongan import CartoonGANConfig, CartoonGANGenerator


def make_photos(folder: Path, n: int = 4) -> None:
    folder.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:56]
    for i in range(n):
        img = np.stack([(xx * (3 + i)) % 256, (yy * 5 + 40 * i) % 256, ((xx + yy) * 2) % 256], -1)
        img = (img + rng.integers(0, 30, img.shape)).clip(0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"p{i}.png")


def make_teacher(path: Path) -> Path:
    torch.manual_seed(1)
    teacher = CartoonGANGenerator(CartoonGANConfig(base_channels=4, n_res_blocks=1))
    save_weights(path, teacher, ModelInfo(arch="cartoongan", config={"base_channels": 4, "n_res_blocks": 1}))
    return path


@pytest.fixture
def cfg(tmp_path) -> DistillConfig:
    make_photos(tmp_path / "photos")
    return DistillConfig(teacher=str(make_teacher(tmp_path / "teacher.safetensors")),
                         photos=[str(tmp_path / "photos")], run_dir=str(tmp_path / "run"), style="test",
                         student_arch="cartoongan", student_config={"base_channels": 4, "n_res_blocks": 1},
                         crop_size=32, n_crops=4, long_side_range=(40, 56), steps=30, batch_size=2, lr=3e-3,
                         ema_decay=0.9, w_perceptual=0.5, perceptual_res_blocks=1, w_color=0.2,
                         checkpoint_every=5, log_every=1, threads=1)


def stats(run_dir: str) -> list[dict]:
    return [json.loads(line) for line in (Path(run_dir) / "stats.jsonl").read_text().splitlines()]


def test_loss_decreases_and_teacher_runs_once_per_crop(cfg):
    out = distill(cfg)
    rows = stats(cfg.run_dir)
    first = np.mean([r["loss"] for r in rows[:5]])
    last = np.mean([r["loss"] for r in rows[-5:]])
    assert last < 0.8 * first
    # 4 crops, batch 2: epoch one calls the teacher twice, later epochs hit the cache
    assert rows[1]["teacher_calls"] == 2 and rows[-1]["teacher_calls"] == 2
    cached = list((Path(cfg.run_dir) / "teacher-cache").rglob("*.png"))
    assert len(cached) == 4 and all(np.asarray(Image.open(p)).shape == (32, 32, 3) for p in cached)
    _, info = load_generator_file(out)
    assert info.arch == "cartoongan" and info.style == "test"
    prov = json.loads(info.provenance)
    assert prov["steps"] == 30 and prov["teacher"] == cfg.teacher and prov["losses"]["w_color"] == 0.2
    assert "research" in info.licence


def test_bf16_autocast_trains_fp32_weights(cfg):
    cfg.precision = "bf16"
    module, _ = load_generator_file(distill(cfg))
    rows = stats(cfg.run_dir)
    assert np.mean([r["loss"] for r in rows[-5:]]) < 0.8 * np.mean([r["loss"] for r in rows[:5]])
    assert all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in module.state_dict().values())


def test_unknown_precision_is_one_clear_error(tmp_path):
    preset = tmp_path / "d.toml"
    preset.write_text('precision = "fp8"\n')
    with pytest.raises(ConfigError, match=r"d\.toml: precision 'fp8': choose fp32 or bf16"):
        DistillConfig.from_toml(preset)
    with pytest.raises(ConfigError, match=r"^precision 'fp16': choose fp32 or bf16$"):
        DistillConfig(precision="fp16")


def test_resume_continues_exactly_where_it_stopped(cfg, tmp_path):
    full = load_generator_file(distill(cfg))[0].state_dict()
    part = DistillConfig(**{**cfg.__dict__, "run_dir": str(tmp_path / "run2"), "steps": 10})
    distill(part)
    resumed_cfg = DistillConfig(**{**part.__dict__, "steps": 30})
    resumed = load_generator_file(distill(resumed_cfg))[0].state_dict()
    rows = stats(resumed_cfg.run_dir)
    assert [r["step"] for r in rows] == list(range(1, 31))
    for key in full:
        assert torch.allclose(full[key], resumed[key], atol=1e-5), key


def test_second_run_reuses_the_cache_without_the_teacher(cfg, tmp_path):
    distill(DistillConfig(**{**cfg.__dict__, "steps": 2}))
    cache = TeacherCache(Path(cfg.run_dir) / "teacher-cache", next((Path(cfg.run_dir) / "teacher-cache").iterdir()).name)
    crops = plan_crops([str(p) for p in sorted((tmp_path / "photos").glob("*.png"))], 4, 32, (40, 56), 0)
    got = cache.get(crops, None, [c.load() for c in crops])  # no teacher: every crop must be on disk
    assert len(got) == 4 and cache.teacher_calls == 0


def test_batches_cover_every_crop_once_per_epoch():
    seen = [i for step in range(5) for i in batch_indices(step, 2, 10, seed=3)]
    assert sorted(seen) == list(range(10))
    assert batch_indices(7, 2, 10, 3) == batch_indices(7, 2, 10, 3)


def test_missing_photo_folder_is_a_clear_error(cfg, tmp_path):
    bad = DistillConfig(**{**cfg.__dict__, "photos": [str(tmp_path / "nope")]})
    with pytest.raises(InputError, match="nope: not a folder"):
        distill(bad)


def test_config_reads_a_toml_preset(tmp_path):
    p = tmp_path / "d.toml"
    p.write_text('teacher = "t"\nphotos = ["a"]\nsteps = 7\nlong_side_range = [100, 200]\n')
    cfg = DistillConfig.from_toml(p, steps=9)
    assert cfg.steps == 9 and cfg.long_side_range == (100, 200) and cfg.photos == ["a"]
    p.write_text('stepz = 3\n')
    with pytest.raises(ConfigError, match=r"d\.toml: unknown key stepz"):
        DistillConfig.from_toml(p)


def test_cli_distills_from_a_toml_and_resumes(cfg, tmp_path):
    from typer.testing import CliRunner

    from animegan.cli.main import app

    toml = tmp_path / "d.toml"
    toml.write_text(f'teacher = "{cfg.teacher}"\nphotos = ["{cfg.photos[0]}"]\nstudent_arch = "cartoongan"\n'
                    'student_config = { base_channels = 4, n_res_blocks = 1 }\ncrop_size = 32\nn_crops = 2\n'
                    'long_side_range = [40, 48]\nbatch_size = 1\nw_perceptual = 0.0\nthreads = 1\n')
    run = str(tmp_path / "clirun")
    res = CliRunner().invoke(app, ["distill", str(toml), "--run-dir", run, "--steps", "3"])
    assert res.exit_code == 0, res.output
    assert Path(res.stdout.strip().splitlines()[-1]).name == "student.safetensors"
    res = CliRunner().invoke(app, ["distill", str(toml), "--run-dir", run, "--steps", "5"])
    assert res.exit_code == 0
    assert [json.loads(x)["step"] for x in (Path(run) / "stats.jsonl").read_text().splitlines()][-1] == 5
    bad = CliRunner().invoke(app, ["distill", str(tmp_path / "missing.toml")])
    assert bad.exit_code != 0 and "missing.toml" in bad.output


def test_config_types_and_ranges_are_checked_naming_key_and_file(tmp_path):
    p = tmp_path / "d.toml"
    for text, message in [('steps = "ten"\n', r"d\.toml: steps must be an integer, got 'ten'"),
                          ("crop_size = 8\n", r"d\.toml: crop_size must be >= 16"),
                          ("long_side_range = [300]\n", r"d\.toml: long_side_range must be a list of 2"),
                          ("w_l1 = -1.0\n", r"d\.toml: loss weights \(w_\*\) must be >= 0"),
                          ("student_config = 3\n", r"d\.toml: student_config must be a table")]:
        p.write_text(text)
        with pytest.raises(ConfigError, match=message):
            DistillConfig.from_toml(p)


def test_shipped_configs_load_and_name_their_teacher_from_any_folder(tmp_path, monkeypatch):
    from animegan.compress.distill import find_distill_config, load_teacher
    from animegan.training.config import distill_presets

    monkeypatch.chdir(tmp_path)  # not the repository root
    for name in distill_presets():
        DistillConfig.from_toml(find_distill_config(name))
    cfg = DistillConfig.from_toml(find_distill_config("distill-animeganv2-shinkai"))
    teacher, path = load_teacher(cfg.teacher)  # a zoo name: the bundled default style
    assert cfg.teacher == "shinkai" and path.name == "shinkai.safetensors" and teacher.arch == "cartoongan"


def test_adversarial_term_uses_the_shared_discriminator(cfg, tmp_path):
    from animegan.compress.distill.data import style_batch
    from animegan.training.checkpoint import list_checkpoints, load_checkpoint

    styles = tmp_path / "styles"
    styles.mkdir()
    for i, colour in enumerate([(250, 10, 10), (10, 250, 10), (10, 10, 250), (200, 200, 20)]):
        Image.new("RGB", (64, 64), colour).save(styles / f"s{i}.png")
    batch = style_batch(sorted(str(p) for p in styles.iterdir()), 6, 16, step=3, seed=0)
    assert batch.shape == (6, 3, 16, 16) and len({tuple(b[:, 0, 0].tolist()) for b in batch}) > 1
    adv = DistillConfig(**{**cfg.__dict__, "steps": 3, "w_adv": 0.1, "style_images": str(styles),
                           "discriminator_config": {"channels": 8, "n_down": 1}})
    distill(adv)
    assert {"adv", "d"} <= set(stats(adv.run_dir)[-1])
    state = load_checkpoint(list_checkpoints(adv.run_dir)[-1])
    assert state["disc"]["layers.0.parametrizations.weight.original"].shape[0] == 8  # the configured width
    bad = DistillConfig(**{**adv.__dict__, "run_dir": str(tmp_path / "bad"), "discriminator_config": {"chanels": 8}})
    with pytest.raises(ConfigError, match="discriminator_config: .*unknown config keys"):
        distill(bad)


def test_cli_cache_only_runs_a_zoo_teacher_on_every_crop(cfg, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from animegan.cli.main import app

    monkeypatch.chdir(tmp_path)
    toml = tmp_path / "c.toml"
    toml.write_text(f'teacher = "shinkai"\nphotos = ["{cfg.photos[0]}"]\ncrop_size = 32\nn_crops = 3\n'
                    'long_side_range = [40, 48]\nthreads = 1\n')
    res = CliRunner().invoke(app, ["distill", str(toml), "--run-dir", "run", "--cache-only"])
    assert res.exit_code == 0, res.output
    assert "teacher cache:" in res.output and "(1 teacher batches run now)" in res.output
    cached = list((tmp_path / "run" / "teacher-cache").rglob("*.png"))
    assert len(cached) == 3 and cached[0].parent.name.startswith("shinkai-")
    assert not (tmp_path / "run" / "student.safetensors").exists()
