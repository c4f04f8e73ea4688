"""The distillation loop on the trainer's infrastructure: run folder, stats, checkpoints, exact resume.

A run folder (``run_dir``, resumed by running the same config again) holds ``config.toml`` (and
``config.json`` for tools), ``stats.jsonl`` (:class:`animegan.training.runs.StatsLog`), full-state
checkpoints under ``checkpoints/`` (:mod:`animegan.training.checkpoint`: student, EMA, optimisers,
step, the config, and every RNG state) and, at the end, the EMA student as ``student.safetensors``
with provenance metadata. A resumed run continues bit-for-bit where the uninterrupted one would be.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...errors import ConfigError, InputError, ModelError
from ...hub.weights import info_for, read_safetensors, save_weights
from ...io.atomic import atomic_write_bytes, sweep_stale_temps
from ...nn import build_generator
from ...nn.discriminator import build_discriminator
from ...training.checkpoint import (
    CHECKPOINT_DIR,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
    set_rng_state,
)
from ...training.ema import ema_decay_at, update_ema
from ...training.losses import lsgan_d_loss
from ...training.runs import StatsLog
from ..slice_cartoongan import slice_cartoongan
from .config import DistillConfig, check_resumable, config_from_toml_text
from .data import (
    CropSpec,
    TeacherCache,
    batch_indices,
    batch_tensor,
    file_id,
    list_photos,
    load_teacher,
    plan_crops,
    style_batch,
    sub_crop,
)
from .losses import WEIGHTS, CartoonGANFeatures, student_terms

log = logging.getLogger("animegan.distill")
#: what a checkpoint of this loop says it is (training checkpoints share the file format)
KIND = "distill"


@dataclass
class Run:
    """A distillation run being trained: its inputs, networks, optimisers and step."""

    cfg: DistillConfig
    run_dir: Path
    teacher: nn.Module
    cache: TeacherCache
    crops: list[CropSpec]
    student: nn.Module
    ema: nn.Module
    opt: torch.optim.Optimizer
    feats: CartoonGANFeatures | None = None
    disc: nn.Module | None = None
    opt_d: torch.optim.Optimizer | None = None
    style_files: list[str] | None = None
    step: int = 0


def _inputs(cfg: DistillConfig) -> tuple[nn.Module, TeacherCache, list[CropSpec]]:
    """The teacher, its output cache and the planned crops."""
    teacher, path = load_teacher(cfg.teacher, cfg.teacher_arch)
    cache = TeacherCache(cfg.cache_dir or Path(cfg.run_dir) / "teacher-cache", file_id(path))
    crops = plan_crops(list_photos(cfg.photos), cfg.n_crops, cfg.crop_size, cfg.long_side_range, cfg.seed)
    return teacher, cache, crops


def cache_teacher(cfg: DistillConfig, batch: int = 4) -> TeacherCache:
    """Run the teacher once on every planned crop not cached yet (``animegan distill --cache-only``)."""
    torch.set_num_threads(cfg.threads)
    teacher, cache, crops = _inputs(cfg)
    for i in range(0, len(crops), batch):
        chunk = crops[i:i + batch]
        cache.get(chunk, teacher, [c.load() for c in chunk])
    return cache


def init_student(cfg: DistillConfig, teacher: nn.Module, crops: list[CropSpec]) -> nn.Module:
    """The student generator, initialised as ``cfg.student_init`` says."""
    student = build_generator(cfg.student_arch, cfg.student_config)
    if cfg.student_init == "random":
        return student
    if cfg.student_init == "teacher-slice":
        if cfg.student_arch != "cartoongan" or getattr(teacher, "arch", "") != "cartoongan":
            raise ModelError("student_init 'teacher-slice' needs a CartoonGAN teacher and a CartoonGAN student")
        sliced = slice_cartoongan(teacher, batch_tensor([c.load() for c in crops[:16]]),
                                  student.config.base_channels,  # type: ignore[union-attr]
                                  student.config.n_res_blocks)  # type: ignore[union-attr]
        log.info("student init: %s sliced out of the teacher", sliced.config)
        return sliced
    src = teacher.state_dict() if cfg.student_init == "teacher" else read_safetensors(cfg.student_init)[0]
    own = student.state_dict()
    fit = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
    if not fit:
        raise ModelError(f"student_init {cfg.student_init!r}: no tensor fits a {cfg.student_arch} student")
    student.load_state_dict(fit, strict=False)
    log.info("student init: %d of %d tensors from %s", len(fit), len(own), cfg.student_init)
    return student


def _adversary(cfg: DistillConfig) -> tuple[nn.Module | None, torch.optim.Optimizer | None, list[str] | None]:
    """The discriminator, its optimiser and the style images, when ``w_adv`` asks for them."""
    if cfg.w_adv <= 0:
        return None, None, None
    if not cfg.style_images:
        raise ConfigError("w_adv > 0 needs style_images (a folder of style images)")
    files = list_photos([cfg.style_images])
    try:
        disc = build_discriminator(cfg.discriminator, cfg.discriminator_config)
    except ConfigError as exc:
        raise ConfigError(f"discriminator_config: {exc}") from None
    return disc, torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(0.5, 0.999)), files


def build_run(cfg: DistillConfig, run_dir: Path, resume: dict[str, Any] | None) -> Run:
    """Everything a run trains with; from ``resume`` (a checkpoint) when given, RNG states included."""
    teacher, cache, crops = _inputs(cfg)
    # a resumed run overwrites every tensor from the checkpoint: skip the (possibly slow) init
    student = (build_generator(cfg.student_arch, cfg.student_config) if resume
               else init_student(cfg, teacher, crops)).train()
    if not resume and cfg.student_init != "random":
        # the starting point, reusable as ``student_init = "<run_dir>/init.safetensors"`` by later runs
        save_weights(run_dir / "init.safetensors", student, info_for(student, style=cfg.style))
    for name, p in student.named_parameters():
        if any(name.startswith(prefix) for prefix in cfg.freeze):
            p.requires_grad_(False)
    trained = [p for p in student.parameters() if p.requires_grad]
    run = Run(cfg, run_dir, teacher, cache, crops, student, copy.deepcopy(student).eval().requires_grad_(False),
              torch.optim.Adam(trained, lr=cfg.lr, betas=(0.5, 0.999)))
    if cfg.w_perceptual > 0:
        net = load_teacher(cfg.perceptual_net, key="perceptual_net")[0] if cfg.perceptual_net else teacher
        run.feats = CartoonGANFeatures(net, cfg.perceptual_res_blocks)
    run.disc, run.opt_d, run.style_files = _adversary(cfg)
    if resume:
        _restore(run, resume)
    return run


def _state(run: Run) -> dict[str, Any]:
    state = {"kind": KIND, "config": run.cfg.to_toml(), "student": run.student.state_dict(),
             "ema": run.ema.state_dict(), "opt": run.opt.state_dict()}
    if run.disc is not None and run.opt_d is not None:
        state |= {"disc": run.disc.state_dict(), "opt_d": run.opt_d.state_dict()}
    return state


def _restore(run: Run, state: dict[str, Any]) -> None:
    """Networks, optimisers and step from a checkpoint, then every RNG state (last: building consumed some)."""
    try:
        run.student.load_state_dict(state["student"])
        run.ema.load_state_dict(state["ema"])
        run.opt.load_state_dict(state["opt"])
        if run.disc is not None and run.opt_d is not None:
            run.disc.load_state_dict(state["disc"])
            run.opt_d.load_state_dict(state["opt_d"])
    except (KeyError, RuntimeError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"{run.run_dir}: checkpoint does not fit this config ({first[:160]})") from None
    run.step = int(state["step"])
    set_rng_state(state["rng"])
    log.info("resumed %s at step %d", run.run_dir, run.step)


def read_resume(run_dir: Path, cfg: DistillConfig) -> dict[str, Any] | None:
    """The newest checkpoint of ``run_dir`` when there is one (checked against ``cfg``), else None."""
    found = list_checkpoints(run_dir)
    if not found:
        if (run_dir / "checkpoint.pt").exists():
            raise ConfigError(f"{run_dir}: holds a checkpoint of an older animegan (checkpoint.pt, without "
                              "the config and every RNG state); use a new run_dir")
        return None
    state = load_checkpoint(found[-1])
    if state.get("kind") != KIND:
        raise InputError(f"{found[-1]}: a training checkpoint, not a distillation one; use another run_dir")
    check_resumable(config_from_toml_text(state["config"], str(found[-1])), cfg, str(found[-1]))
    return state


def _train_step(run: Run) -> dict[str, torch.Tensor]:
    """One optimiser step of the student (and of the discriminator): the loss and its terms."""
    cfg, step = run.cfg, run.step
    chunk = [run.crops[i] for i in batch_indices(step, cfg.batch_size, len(run.crops), cfg.seed)]
    inputs = [c.load() for c in chunk]
    x, target = batch_tensor(inputs), batch_tensor(run.cache.get(chunk, run.teacher, inputs))
    if cfg.train_crop and cfg.train_crop < cfg.crop_size:
        x, target = sub_crop((x, target), cfg.train_crop, step, cfg.seed)
    # bf16 autocast covers the forward and the losses; the backward follows the recorded dtypes
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
        out = run.student(x)
        terms = student_terms(cfg, out, x, target, run.feats, run.disc)
        loss = sum(terms.values())
    run.opt.zero_grad(set_to_none=True)
    loss.backward()  # type: ignore[union-attr]
    run.opt.step()
    if run.disc is not None and run.opt_d is not None and run.style_files:
        fake = out.detach().float()
        real = style_batch(run.style_files, len(chunk), fake.shape[-1], step, cfg.seed)
        d_loss = lsgan_d_loss(run.disc(real), run.disc(fake))
        run.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        run.opt_d.step()
        terms["d"] = d_loss
    return {"loss": loss, **terms}  # type: ignore[dict-item]


@torch.no_grad()
def _checkpoint(run: Run) -> Path:
    return save_checkpoint(run.run_dir, run.step, _state(run), keep=run.cfg.keep_checkpoints)


def train(run: Run, stats: StatsLog, on_log: Callable[[dict[str, float]], None] | None = None) -> None:
    """Step until ``cfg.steps`` or the time limit; log every ``log_every`` and checkpoint as configured."""
    cfg = run.cfg
    t0 = started = time.time()
    while run.step < cfg.steps:
        if cfg.time_limit_min and time.time() - started > 60 * cfg.time_limit_min:
            log.info("time limit reached at step %d", run.step)
            _checkpoint(run)
            break
        terms = _train_step(run)
        run.step += 1
        update_ema(run.ema, run.student, ema_decay_at(run.step, cfg.ema_decay))
        if run.step % cfg.log_every == 0 or run.step == cfg.steps:
            row = {"step": run.step, **{k: float(v.detach()) for k, v in terms.items()},
                   "sec_per_step": (time.time() - t0) / cfg.log_every, "teacher_calls": run.cache.teacher_calls}
            t0 = time.time()
            stats.log(row)
            if on_log:
                on_log(row)
        if run.step % cfg.checkpoint_every == 0 or run.step == cfg.steps:
            _checkpoint(run)


def write_student(run: Run) -> Path:
    """The EMA student as ``student.safetensors`` (atomically), with where it came from."""
    cfg = run.cfg
    provenance = json.dumps({"method": "distillation", "teacher": str(cfg.teacher), "data": cfg.photos,
                             "crops": cfg.n_crops, "crop_size": cfg.crop_size, "steps": run.step,
                             "losses": {k: getattr(cfg, k) for k in WEIGHTS}})
    info = info_for(run.ema, style=cfg.style, provenance=provenance,
                    licence="research use only (inherited from the teacher and the training photos)")
    return save_weights(run.run_dir / "student.safetensors", run.ema, info)


def distill(cfg: DistillConfig, on_log: Callable[[dict[str, float]], None] | None = None) -> Path:
    """Run (or resume) a distillation; returns the path of the student's safetensors file."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    for folder in (run_dir, run_dir / CHECKPOINT_DIR):
        sweep_stale_temps(folder)  # temp files of a killed earlier run (checkpoint, student, config)
    resume = read_resume(run_dir, cfg)
    atomic_write_bytes(run_dir / "config.toml", cfg.to_toml().encode())
    atomic_write_bytes(run_dir / "config.json", cfg.to_json().encode())
    run = build_run(cfg, run_dir, resume)
    # rows logged after the checkpoint (before a kill) are logged again by the steps re-run now;
    # a fresh start (no checkpoint yet) keeps none of a killed run's rows
    stats = StatsLog(run_dir, tensorboard=False, resume_step=run.step)
    try:
        train(run, stats, on_log)
    finally:
        stats.close()
    return write_student(run)
