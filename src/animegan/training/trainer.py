"""The GAN trainer: content-only init phase, then D and G steps, EMA, checkpoints, exact resume.

One iteration ("step") is: G forward on a photo batch; ``optim.d_steps`` D updates on that fake
(skipped while D is frozen); one G update. Batches are a pure function of the step (seeded epoch
permutations sharded over ranks, augmentation seeded per item), so a run resumed from a checkpoint
sees the same data and, with the restored RNG and optimiser states, gives the same losses as an
uninterrupted run. Library code: it never prints; progress goes to an ``on_progress`` callback.
"""

from __future__ import annotations

import copy
import json
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..device import resolve_device
from ..errors import InputError
from ..hub.weights import info_for, save_weights
from ..io.atomic import sweep_stale_temps
from ..nn import build_generator
from ..nn.discriminator import build_discriminator
from ..nn.vgg import build_perceptual
from . import losses as L
from .checkpoint import CHECKPOINT_DIR, list_checkpoints, load_checkpoint, save_checkpoint, set_rng_state
from .config import TrainConfig
from .distributed import DistInfo, any_rank, barrier, init_distributed, local_device, mean_over_ranks
from .ema import ema_decay_at, update_ema
from .runs import StatsLog, make_grid, new_run_dir, save_grid, save_options
from .sampling import Datasets, EvalPhotos, StepBatches, build_datasets, plan_steps

ProgressFn = Callable[[int, int, dict[str, Any] | None], None]


@dataclass
class TrainResult:
    """How a :meth:`Trainer.fit` call ended."""

    run_dir: Path
    step: int
    total_steps: int
    interrupted: bool
    checkpoint: Path | None
    weights: Path | None


def _split(maps: torch.Tensor | list[torch.Tensor], n: int) -> list[Any]:
    """Split a D output for ``n`` concatenated equal batches (a list of maps splits per scale)."""
    if isinstance(maps, torch.Tensor):
        return list(maps.chunk(n))
    per_scale = [m.chunk(n) for m in maps]
    return [[s[i] for s in per_scale] for i in range(n)]


class Trainer:
    """Builds networks, data and optimisers from a :class:`TrainConfig`; :meth:`fit` trains."""

    def __init__(self, cfg: TrainConfig, *, run_dir: str | Path | None = None, resume: Path | None = None,
                 dist: DistInfo | None = None, datasets: Datasets | None = None):
        self.cfg = cfg
        # read a checkpoint first: a corrupt file fails before anything is built
        resume_state = load_checkpoint(resume) if resume is not None else None
        torch.set_num_threads(max(1, cfg.run.threads))
        base_device = resolve_device(cfg.run.device)
        self.dist = dist or init_distributed(base_device)
        self.device = local_device(base_device, self.dist)
        self.amp = cfg.run.amp and self.device.type == "cuda"
        torch.manual_seed(cfg.run.seed)
        self.data = datasets if datasets is not None else build_datasets(cfg)
        self.plan = plan_steps(cfg, len(self.data.photos), self.dist.world_size)
        self.g = self._build_generator().to(self.device)

        self.d = build_discriminator(cfg.model.discriminator, cfg.model.discriminator_config).to(self.device)
        self.vgg = build_perceptual(cfg.model.vgg_weights, layer=cfg.model.vgg_layer,
                                    normalization=cfg.model.vgg_normalization, teacher=cfg.model.teacher or None,
                                    n_res=cfg.model.teacher_n_res, seed=cfg.run.seed).to(self.device)
        self.ema = copy.deepcopy(self.g).eval().requires_grad_(False)
        betas = (cfg.optim.betas[0], cfg.optim.betas[1])
        self.opt_init = torch.optim.Adam(self.g.parameters(), lr=cfg.optim.init_lr, betas=betas)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=cfg.optim.g_lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=cfg.optim.d_lr, betas=betas)
        gan_steps = max(1, self.plan.total - self.plan.init)
        if cfg.optim.lr_schedule == "cosine":
            def factor(i: int) -> float:
                return 0.5 * (1.0 + math.cos(math.pi * min(i, gan_steps) / gan_steps))
        else:
            def factor(i: int) -> float:
                return 1.0
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, factor)
        self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, factor)
        self.scaler_g = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.scaler_d = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.step = 0
        self.d_frozen_until = 0
        self.stop_requested = False
        self.g_train, self.d_train = self.g, self.d
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.g_train = DDP(self.g, device_ids=ids)
            self.d_train = DDP(self.d, device_ids=ids)
        rng = None
        if resume is not None and resume_state is not None:
            rng = self._load(resume_state, resume)
        if run_dir is None:
            run_dir = new_run_dir(cfg.run.runs_dir, cfg.run.name) if self.dist.is_main else None
            run_dir = self._broadcast_path(run_dir)
        self.run_dir = Path(run_dir)
        if self.dist.is_main:
            for folder in (self.run_dir, self.run_dir / CHECKPOINT_DIR, self.run_dir / "images"):
                sweep_stale_temps(folder)  # temp files a killed earlier run left (checkpoints up to 64 MB)
            save_options(self.run_dir, cfg)
        self.eval_photos = EvalPhotos(cfg).tensor().to(self.device) if self.dist.is_main else None
        self.stats = (StatsLog(self.run_dir, cfg.run.tensorboard, resume_step=self.step if resume else None)
                      if self.dist.is_main else None)
        if rng is not None:
            set_rng_state(rng)  # last: building the networks above consumed random numbers

    # --- construction helpers ---

    def _build_generator(self) -> nn.Module:
        return build_generator(self.cfg.model.generator, self.cfg.model.generator_config)

    def _broadcast_path(self, path: Path | None) -> Path:
        if not self.dist.enabled:
            return path  # type: ignore[return-value]
        import torch.distributed as dist

        box = [str(path) if path is not None else None]
        dist.broadcast_object_list(box, src=0)
        return Path(box[0])  # type: ignore[arg-type]

    def _state(self) -> dict[str, Any]:
        return {"config": json.dumps(self.cfg.to_dict()), "g": self.g.state_dict(), "d": self.d.state_dict(),
                "ema": self.ema.state_dict(), "opt_init": self.opt_init.state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "sched_g": self.sched_g.state_dict(), "sched_d": self.sched_d.state_dict(),
                "scaler_g": self.scaler_g.state_dict(), "scaler_d": self.scaler_d.state_dict(),
                "epoch": self.step // self.plan.per_epoch, "d_frozen_until": self.d_frozen_until,
                "world_size": self.dist.world_size}

    def _load(self, state: dict[str, Any], path: Path) -> dict[str, Any]:
        try:
            self.g.load_state_dict(state["g"])
            self.d.load_state_dict(state["d"])
            self.ema.load_state_dict(state["ema"])
            for name in ("opt_init", "opt_g", "opt_d", "sched_g", "sched_d", "scaler_g", "scaler_d"):
                getattr(self, name).load_state_dict(state[name])
        except (KeyError, RuntimeError, ValueError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise InputError(f"{path}: checkpoint does not fit this config ({first[:160]})") from None
        self.step = int(state["step"])
        self.d_frozen_until = int(state.get("d_frozen_until", 0))
        return state["rng"]

    def save(self) -> Path | None:
        """Checkpoint the current step (rank 0 writes; other ranks return None)."""
        if not self.dist.is_main:
            return None
        return save_checkpoint(self.run_dir, self.step, self._state(), keep=self.cfg.run.keep_checkpoints)

    # --- one iteration ---

    def _autocast(self) -> Any:
        return torch.autocast("cuda", dtype=torch.float16, enabled=self.amp) if self.device.type == "cuda" \
            else torch.autocast("cpu", enabled=False)

    def _update(self, loss: torch.Tensor, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                params: Any) -> None:
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if self.cfg.optim.grad_clip > 0:
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(params, self.cfg.optim.grad_clip)
        scaler.step(opt)
        scaler.update()

    def _d_loss(self, style: torch.Tensor, smooth_gray: torch.Tensor | None, fake: torch.Tensor) -> torch.Tensor:
        c = self.cfg.loss
        parts = [style, fake]
        if c.d_gray > 0:
            parts.append(L.grayscale(style))
        if c.d_smooth > 0 and smooth_gray is not None:
            parts.append(smooth_gray)
        maps = _split(self.d_train(torch.cat(parts)), len(parts))  # one D pass for every term
        gray = maps[2] if c.d_gray > 0 else None
        smooth_map = maps[-1] if len(parts) > (3 if c.d_gray > 0 else 2) else None
        fn = L.lsgan_d_loss if c.adversarial == "lsgan" else L.hinge_d_loss
        return fn(maps[0], maps[1], gray, smooth_map, weights=(c.d_real, c.d_fake, c.d_gray, c.d_smooth),
                  scale=c.adv_d)

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One iteration on ``batch`` (photo, style, optional smooth); returns the logged scalars."""
        c = self.cfg.loss
        photo = batch["photo"].to(self.device, non_blocking=True)
        init_phase = self.step < self.plan.init
        out: dict[str, float] = {}
        self.g_train.train()
        with self._autocast():
            fake = self.g_train(photo)
            with torch.no_grad():
                f_photo = self.vgg(photo)
            f_fake = self.vgg(fake)
            content = L.content_loss(f_photo, f_fake)
        if init_phase:
            loss = content  # official init: content loss alone (weight 1)
            self._update(loss, self.opt_init, self.scaler_g, self.g.parameters())
            out.update(g_total=loss.item(), content=content.item(), lr_g=self.opt_init.param_groups[0]["lr"])
        else:
            style = batch["style"].to(self.device, non_blocking=True)
            smooth = batch["smooth_gray"].to(self.device, non_blocking=True) if "smooth_gray" in batch else None
            frozen = self.step < self.d_frozen_until
            d_loss = torch.zeros(())
            for _ in range(0 if frozen else self.cfg.optim.d_steps):
                self.d_train.train()
                self.d.requires_grad_(True)
                with self._autocast():
                    d_loss = self._d_loss(style, smooth, fake.detach())
                self._update(d_loss, self.opt_d, self.scaler_d, self.d.parameters())
            self.d.requires_grad_(False)  # G step: gradients flow through D to G only
            with self._autocast():
                with torch.no_grad():
                    f_style = self.vgg(L.grayscale(style) if c.style_gray else style)
                style_l = L.style_loss(f_style, f_fake)
                color = L.color_loss(photo, fake)
                tv = L.tv_loss(fake)
                d_fake = self.d(fake)  # the bare module: no DDP sync for a D that is not stepped here
                adv = (L.lsgan_g_loss(d_fake, scale=c.adv_g) if c.adversarial == "lsgan"
                       else L.hinge_g_loss(d_fake, scale=c.adv_g))
                loss = c.content * content + c.style * style_l + c.color * color + c.tv * tv + adv
            self._update(loss, self.opt_g, self.scaler_g, self.g.parameters())
            out.update(lr_g=self.opt_g.param_groups[0]["lr"], lr_d=self.opt_d.param_groups[0]["lr"])
            self.sched_g.step()
            self.sched_d.step()
            out.update(g_total=loss.item(), content=content.item(), style=style_l.item(), color=color.item(),
                       tv=tv.item(), adv=adv.item(), d_total=d_loss.item(), d_frozen=float(frozen))
            self._maybe_freeze(d_loss.item(), frozen)
        update_ema(self.ema, self.g, ema_decay_at(self.step, self.cfg.optim.ema_decay))
        self.step += 1
        return out

    def _maybe_freeze(self, d_loss: float, frozen: bool) -> None:
        o = self.cfg.optim
        if o.d_freeze_below <= 0 or o.d_freeze_steps <= 0 or frozen:
            return
        d_loss = mean_over_ranks({"d": d_loss}, self.dist, self.device)["d"]  # every rank decides alike
        if d_loss < o.d_freeze_below:
            self.d_frozen_until = self.step + 1 + o.d_freeze_steps

    # --- outputs ---

    @torch.no_grad()
    def snapshot(self) -> Path | None:
        """Save the eval-photo grid (photos above, EMA outputs below) for the current step."""
        if not self.dist.is_main or self.eval_photos is None:
            return None
        grid = make_grid([self.eval_photos, self.ema(self.eval_photos)])
        path = save_grid(self.run_dir / "images" / f"{self.step:08d}.png", grid)
        if self.stats is not None:
            self.stats.image("eval", grid, self.step)
        return path

    def export(self) -> Path | None:
        """Write the EMA generator as safetensors with its provenance (rank 0)."""
        if not self.dist.is_main:
            return None

        cfg = self.cfg
        provenance = json.dumps({"method": "gan-training", "run": str(self.run_dir), "steps": self.step,
                                 "photos": cfg.data.photos, "style_images": cfg.data.style,
                                 "losses": cfg.to_dict()["loss"], "ema_decay": cfg.optim.ema_decay})
        info = info_for(self.ema, style=cfg.run.style, provenance=provenance,
                        licence="research use only (inherits the terms of the training images)")
        return save_weights(self.run_dir / "generator.safetensors", self.ema, info)

    # --- the loop ---

    def fit(self, on_progress: ProgressFn | None = None, handle_sigint: bool = True) -> TrainResult:
        """Train until ``plan.total`` steps or Ctrl-C (which checkpoints and returns ``interrupted``)."""
        cfg, total = self.cfg, self.plan.total
        batches = StepBatches(self.data, self.plan, cfg, self.dist, start=self.step)
        loader = torch.utils.data.DataLoader(
            batches, batch_size=None, shuffle=False, num_workers=cfg.data.workers,
            generator=torch.Generator().manual_seed(cfg.run.seed),  # leaves the global RNG alone
            pin_memory=self.device.type == "cuda")
        restore = self._install_sigint() if handle_sigint else None
        window: dict[str, list[float]] = {}
        ckpt: Path | None = None
        if self.step == 0 and cfg.run.image_every:
            self.snapshot()
        t0 = time.perf_counter()
        try:
            for batch in loader:
                row = self.train_step(batch)
                for k, v in row.items():
                    window.setdefault(k, []).append(v)
                logged = None
                if self.step % cfg.run.log_every == 0 or self.step == total:
                    logged = self._log(window, t0)
                    window, t0 = {}, time.perf_counter()
                if cfg.run.image_every and self.step % cfg.run.image_every == 0:
                    self.snapshot()
                if cfg.run.checkpoint_every and self.step % cfg.run.checkpoint_every == 0:
                    ckpt = self.save()
                if on_progress is not None:
                    on_progress(self.step, total, logged)
                if any_rank(self.stop_requested, self.dist, self.device):
                    self.stop_requested = True
                    break
        finally:
            if restore is not None:
                restore()
        interrupted = self.step < total
        weights = None
        if interrupted:
            ckpt = self.save() if not ckpt or not ckpt.name.startswith(f"{self.step:08d}") else ckpt
        else:
            if not list_checkpoints(self.run_dir) or list_checkpoints(self.run_dir)[-1].stem != f"{self.step:08d}":
                ckpt = self.save()
            if cfg.run.image_every and self.step % cfg.run.image_every:
                self.snapshot()
            weights = self.export()
        barrier(self.dist)
        if self.stats is not None:
            self.stats.close()
        return TrainResult(self.run_dir, self.step, total, interrupted, ckpt, weights)

    def _log(self, window: dict[str, list[float]], t0: float) -> dict[str, Any]:
        n = max(len(v) for v in window.values())
        means = {k: sum(v) / len(v) for k, v in window.items()}
        means = mean_over_ranks(means, self.dist, self.device)
        row: dict[str, Any] = {"step": self.step, "epoch": (self.step - 1) // self.plan.per_epoch,
                               "phase": "init" if self.step <= self.plan.init else "gan", **means,
                               "sec_per_step": (time.perf_counter() - t0) / n}
        if self.stats is not None:
            self.stats.log(row)
        return row

    def _install_sigint(self) -> Callable[[], None] | None:
        """First Ctrl-C: finish the step, checkpoint, stop. A second one interrupts at once."""
        if threading.current_thread() is not threading.main_thread():
            return None
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum: int, frame: Any) -> None:
            self.stop_requested = True
            signal.signal(signal.SIGINT, previous)

        signal.signal(signal.SIGINT, handler)
        return lambda: signal.signal(signal.SIGINT, previous)
