"""Knowledge distillation: a student generator learns a teacher's outputs on photo crops.

The teacher runs once per crop: its outputs are cached as lossless PNG files keyed by the photo
and the crop parameters, so later epochs, resumed runs and other students reuse them. Losses:
L1 to the teacher (RGB, or luma only), perceptual (features of a frozen CartoonGAN encoder, since
no VGG weights reach our machines), AnimeGANv2's YUV colour loss to the *input photo* (keeps the
photo's colours where the teacher casts them), and an optional adversarial loss against a style set.
A run folder holds ``config.json``, ``stats.jsonl``, a full-state ``checkpoint.pt`` (student, EMA,
optimizer, step, RNG) that resumes, and the student as safetensors with provenance metadata.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from ..errors import InputError, ModelError
from ..io.atomic import atomic_path, atomic_write_bytes, sweep_stale_temps
from ..training.runs import trim_stats

log = logging.getLogger("animegan.distill")
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
PRECISIONS = ("fp32", "bf16")


def check_precision(value: str, label: str = "precision") -> str:
    """``value`` if it is a training precision distillation knows, else one clear InputError."""
    if value not in PRECISIONS:
        raise InputError(f"{label} {value!r}: choose {' or '.join(PRECISIONS)}")
    return value


@dataclass
class DistillConfig:
    """Everything a distillation run depends on; saved as ``config.json`` in the run folder."""

    teacher: str = ""                       # weights file, or folder of CartoonGAN .npy
    teacher_arch: str | None = None         # for foreign files whose arch cannot be guessed
    photos: list[str] = field(default_factory=list)
    run_dir: str = "runs/distill"
    cache_dir: str = ""                     # default: <run_dir>/teacher-cache
    style: str = ""
    student_arch: str = "animeganv2"
    student_config: dict[str, Any] = field(default_factory=dict)
    student_init: str = "random"            # "random", "teacher" (copy tensors whose key and shape fit),
    #                                         "teacher-slice" (a CartoonGAN student cut out of a CartoonGAN
    #                                         teacher, most important channels kept), or a weights path
    crop_size: int = 128                    # teacher runs (and caches) at this size
    train_crop: int = 0                     # random sub-crop of cached pairs per step (0: whole crop)
    n_crops: int = 400
    long_side_range: tuple[int, int] = (320, 480)  # photo resized to this long side before cropping
    seed: int = 0
    steps: int = 1000
    batch_size: int = 4
    lr: float = 2e-4
    ema_decay: float = 0.999
    w_l1: float = 1.0                       # L1 to the teacher, RGB
    w_l1_luma: float = 0.0                  # L1 to the teacher on Y only (texture without its colour cast)
    w_perceptual: float = 1.0
    perceptual_net: str = ""                # CartoonGAN weights for features; default: the teacher if CartoonGAN
    perceptual_res_blocks: int = 2
    w_color: float = 0.0                    # AnimeGANv2 YUV colour loss to the input photo
    w_chroma: float = 0.0                   # L1 on U, V to the input photo (colour without touching luma)
    w_adv: float = 0.0
    style_images: str = ""                  # folder of style images for the adversarial loss
    freeze: list[str] = field(default_factory=list)  # student parameter-name prefixes kept fixed
    time_limit_min: float = 0.0             # stop (and write the student) after this many minutes; 0: none
    checkpoint_every: int = 100
    log_every: int = 10
    threads: int = 2
    precision: str = "fp32"                 # "bf16": student, losses and backward under CPU bf16 autocast
    #                                         (about 2x faster per step on CPUs with AMX; weights stay fp32)

    def __post_init__(self) -> None:
        check_precision(self.precision)

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> DistillConfig:
        """Read a preset; ``overrides`` (not None) win over the file."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InputError(f"{path}: cannot read distillation config ({exc})") from None
        data.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"{path}: unknown distillation config keys {unknown}")
        if "long_side_range" in data:
            data["long_side_range"] = tuple(data["long_side_range"])
        try:
            return cls(**data)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class CropSpec:
    """One training crop: photo path, long side it is resized to, top-left corner, size, mirror."""

    photo: str
    long_side: int
    x: int
    y: int
    size: int
    flip: bool

    def key(self) -> str:
        text = f"{self.photo}|{self.long_side}|{self.x}|{self.y}|{self.size}|{int(self.flip)}"
        return hashlib.sha1(text.encode()).hexdigest()[:20]

    def load(self) -> np.ndarray:
        """The crop as H×W×3 uint8 RGB."""
        with Image.open(self.photo) as im:
            im = im.convert("RGB")
            s = self.long_side / max(im.size)
            im = im.resize((max(self.size, round(im.width * s)), max(self.size, round(im.height * s))),
                           Image.Resampling.BICUBIC)
            arr = np.asarray(im)[self.y:self.y + self.size, self.x:self.x + self.size]
        return np.ascontiguousarray(arr[:, ::-1] if self.flip else arr)


def list_photos(folders: list[str]) -> list[str]:
    """Image files under ``folders`` (recursive), sorted so crop plans are reproducible."""
    files: list[str] = []
    for folder in folders:
        root = Path(folder)
        if not root.is_dir():
            raise InputError(f"{folder}: photo folder not found")
        files += sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTS)
    if not files:
        raise InputError(f"no images found under {', '.join(folders)}")
    return files


def plan_crops(photos: list[str], n_crops: int, size: int, long_side_range: tuple[int, int],
               seed: int) -> list[CropSpec]:
    """``n_crops`` crops spread evenly over ``photos`` (deterministic for a seed)."""
    rng = random.Random(seed)
    crops = []
    for i in range(n_crops):
        photo = photos[i % len(photos)] if n_crops >= len(photos) else photos[i * len(photos) // n_crops]
        with Image.open(photo) as im:
            w, h = im.size
        long_side = rng.randint(*long_side_range)
        s = long_side / max(w, h)
        rw, rh = max(size, round(w * s)), max(size, round(h * s))
        crops.append(CropSpec(photo, long_side, rng.randint(0, rw - size), rng.randint(0, rh - size), size,
                              rng.random() < 0.5))
    return crops


def to_tensor(arrays: list[np.ndarray]) -> torch.Tensor:
    """uint8 H×W×3 arrays -> float N×3×H×W in [-1, 1]."""
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 127.5 - 1


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float N×3×H×W in [-1, 1] -> uint8 N×H×W×3."""
    return ((x.detach().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


class TeacherCache:
    """Teacher outputs on disk, one lossless PNG per crop, under a folder per teacher file."""

    def __init__(self, folder: str | Path, teacher_id: str):
        self.folder = Path(folder) / teacher_id
        self.folder.mkdir(parents=True, exist_ok=True)
        sweep_stale_temps(self.folder)
        self.teacher_calls = 0

    def path(self, crop: CropSpec) -> Path:
        return self.folder / f"{crop.key()}.png"

    def get(self, crops: list[CropSpec], teacher: Callable[[torch.Tensor], torch.Tensor] | None,
            inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Teacher outputs for ``crops``; runs ``teacher`` only on the ones not cached yet."""
        out: list[np.ndarray | None] = []
        missing = []
        for i, crop in enumerate(crops):
            p = self.path(crop)
            if p.exists():
                with Image.open(p) as im:
                    out.append(np.asarray(im.convert("RGB")))
            else:
                out.append(None)
                missing.append(i)
        if missing:
            if teacher is None:
                raise ModelError(f"{self.folder}: teacher output for {crops[missing[0]].photo} not cached")
            with torch.no_grad():
                y = to_uint8(teacher(to_tensor([inputs[i] for i in missing])))
            self.teacher_calls += 1
            for j, i in enumerate(missing):
                with atomic_path(self.path(crops[i])) as tmp:
                    Image.fromarray(y[j]).save(tmp)
                out[i] = y[j]
        return out  # type: ignore[return-value]


def file_id(path: str | Path) -> str:
    """A short id for a weights file or folder from its name, size and mtime (cache folder name)."""
    p = Path(path)
    files = sorted(p.glob("*")) if p.is_dir() else [p]
    text = "|".join(f"{f.name}:{f.stat().st_size}:{int(f.stat().st_mtime)}" for f in files)
    return f"{p.stem}-{hashlib.sha1(text.encode()).hexdigest()[:10]}"


def load_any_generator(path: str, arch: str | None = None) -> nn.Module:
    """A generator from anything the project loads; CartoonGAN ``.npy`` folders also without importers."""
    from ..hub.loading import load_generator_file

    p = Path(path)
    if not p.exists():
        raise ModelError(f"{path}: teacher weights not found")
    try:
        model, _ = load_generator_file(p, arch=arch)
    except ModuleNotFoundError:
        if not (p.is_dir() and any(p.glob("*.npy"))):
            raise
        from ..hub.weights import load_state_strict
        from ..nn.cartoongan import CartoonGANGenerator, load_npy_folder

        model = load_state_strict(CartoonGANGenerator(), load_npy_folder(str(p)), str(p))
    return model.eval()


# --- losses (AnimeGANv2's colour loss; training.losses has the shared versions) ---

def _rgb_to_yuv(x: torch.Tensor) -> torch.Tensor:
    try:
        from ..training.losses import rgb_to_yuv
    except ImportError:
        rgb = (x + 1) / 2
        m = torch.tensor([[0.299, 0.587, 0.114], [-0.14714119, -0.28886916, 0.43601035],
                          [0.61497538, -0.51496512, -0.10001026]], dtype=x.dtype, device=x.device)
        return torch.einsum("nchw,dc->ndhw", rgb, m)
    return rgb_to_yuv(x)


def chroma_loss(out: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    """L1 between the U and V planes of ``out`` and the photo (inputs in [-1, 1])."""
    return F.l1_loss(_rgb_to_yuv(out)[:, 1:], _rgb_to_yuv(photo)[:, 1:])


def yuv_color_loss(out: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    """L1 on Y plus Huber on U and V (AnimeGANv2), inputs in [-1, 1]."""
    try:
        from ..training.losses import color_loss
    except ImportError:
        a, b = _rgb_to_yuv(out), _rgb_to_yuv(photo)
        return (F.l1_loss(a[:, 0], b[:, 0]) + F.smooth_l1_loss(a[:, 1], b[:, 1])
                + F.smooth_l1_loss(a[:, 2], b[:, 2]))
    return color_loss(photo, out)


class CartoonGANFeatures(nn.Module):
    """Frozen features of a CartoonGAN encoder for a perceptual loss (input RGB [-1, 1])."""

    def __init__(self, net: nn.Module, res_blocks: int):
        super().__init__()
        if getattr(net, "arch", "") != "cartoongan":
            raise ModelError("perceptual features need a CartoonGAN network; set perceptual_net")
        self.net, self.res_blocks = net.eval().requires_grad_(False), res_blocks

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.net.encode(x.flip(1), self.res_blocks)  # type: ignore[operator]


def perceptual_loss(feats: CartoonGANFeatures, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        ft = feats(target)
    return sum(F.l1_loss(a, b) for a, b in zip(feats(out), ft, strict=True)) / len(ft)  # type: ignore[return-value]


class PatchDiscriminator(nn.Module):
    """A small spectral-norm PatchGAN for the optional adversarial loss."""

    def __init__(self, ch: int = 32):
        super().__init__()
        sn = nn.utils.spectral_norm
        self.net = nn.Sequential(
            sn(nn.Conv2d(3, ch, 3, 1, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(ch, 2 * ch, 3, 2, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(2 * ch, 4 * ch, 3, 2, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(4 * ch, 1, 3, 1, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_student(cfg: DistillConfig) -> nn.Module:
    """The student generator of ``cfg``, freshly initialised."""
    from ..nn import build_generator

    return build_generator(cfg.student_arch, cfg.student_config)


def init_student(cfg: DistillConfig, teacher: nn.Module, crops: list[CropSpec] | None = None) -> nn.Module:
    """The student generator, initialised as ``cfg.student_init`` says."""
    from ..hub.weights import read_safetensors

    student = build_student(cfg)
    if cfg.student_init == "random":
        return student
    if cfg.student_init == "teacher-slice":
        from .slice_cartoongan import slice_cartoongan

        if cfg.student_arch != "cartoongan" or getattr(teacher, "arch", "") != "cartoongan":
            raise ModelError("student_init 'teacher-slice' needs a CartoonGAN teacher and a CartoonGAN student")
        if not crops:
            raise ModelError("student_init 'teacher-slice' needs training crops to rank channels")
        photos = to_tensor([c.load() for c in crops[:16]])
        sliced = slice_cartoongan(teacher, photos, student.config.base_channels,  # type: ignore[union-attr]
                                  student.config.n_res_blocks)  # type: ignore[union-attr]
        log.info("student init: %s sliced out of the teacher", student.config)  # type: ignore[union-attr]
        return sliced
    if cfg.student_init == "teacher":
        src = teacher.state_dict()
    else:
        src = read_safetensors(cfg.student_init)[0]
    own = student.state_dict()
    fit = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
    if not fit:
        raise ModelError(f"student_init {cfg.student_init!r}: no tensor fits a {cfg.student_arch} student")
    student.load_state_dict(fit, strict=False)
    log.info("student init: %d of %d tensors from %s", len(fit), len(own), cfg.student_init)
    return student


def batch_indices(step: int, batch: int, n: int, seed: int) -> list[int]:
    """Crop indices of ``step``: a fresh permutation per epoch, a pure function of the step (resumable)."""
    out = []
    for j in range(step * batch, (step + 1) * batch):
        epoch, pos = divmod(j, n)
        out.append(random.Random(seed * 100003 + epoch).sample(range(n), n)[pos])
    return out


def cache_teacher(cfg: DistillConfig, batch: int = 4) -> TeacherCache:
    """Run the teacher once on every planned crop not cached yet."""
    torch.set_num_threads(cfg.threads)
    teacher = load_any_generator(cfg.teacher, cfg.teacher_arch)
    cache = TeacherCache(cfg.cache_dir or Path(cfg.run_dir) / "teacher-cache", file_id(cfg.teacher))
    crops = plan_crops(list_photos(cfg.photos), cfg.n_crops, cfg.crop_size, cfg.long_side_range, cfg.seed)
    for i in range(0, len(crops), batch):
        chunk = crops[i:i + batch]
        cache.get(chunk, teacher, [c.load() for c in chunk])
    return cache


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def distill(cfg: DistillConfig, on_log: Callable[[dict[str, float]], None] | None = None) -> Path:
    """Run (or resume) a distillation; returns the path of the student's safetensors file."""
    from ..hub.weights import info_for, save_weights

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(run_dir)  # temp files of a killed earlier run (checkpoint, student, config)
    atomic_write_bytes(run_dir / "config.json", json.dumps(dataclasses.asdict(cfg), indent=2).encode())
    teacher = load_any_generator(cfg.teacher, cfg.teacher_arch)
    cache = TeacherCache(cfg.cache_dir or run_dir / "teacher-cache", file_id(cfg.teacher))
    crops = plan_crops(list_photos(cfg.photos), cfg.n_crops, cfg.crop_size, cfg.long_side_range, cfg.seed)
    step = 0
    ckpt_path = run_dir / "checkpoint.pt"
    resuming = ckpt_path.exists()
    # a resumed run overwrites every tensor from the checkpoint: skip the (possibly slow) init
    student = (build_student(cfg) if resuming else init_student(cfg, teacher, crops)).train()
    if not resuming and cfg.student_init != "random":
        # the starting point, reusable as ``student_init = "<run_dir>/init.safetensors"`` by later runs
        save_weights(run_dir / "init.safetensors", student, info_for(student, style=cfg.style))
    for name, p in student.named_parameters():
        if any(name.startswith(prefix) for prefix in cfg.freeze):
            p.requires_grad_(False)
    ema = copy.deepcopy(student).eval().requires_grad_(False)
    opt = torch.optim.Adam([p for p in student.parameters() if p.requires_grad], lr=cfg.lr, betas=(0.5, 0.999))
    feats = None
    if cfg.w_perceptual > 0:
        net = load_any_generator(cfg.perceptual_net) if cfg.perceptual_net else teacher
        feats = CartoonGANFeatures(net, cfg.perceptual_res_blocks)
    disc = opt_d = style_files = None
    if cfg.w_adv > 0:
        style_files = list_photos([cfg.style_images]) if cfg.style_images else None
        if not style_files:
            raise InputError("w_adv > 0 needs style_images (a folder of style images)")
        disc = PatchDiscriminator()
        opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    if resuming:
        ck = torch.load(ckpt_path, weights_only=True)
        student.load_state_dict(ck["student"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        if disc is not None and "disc" in ck:
            disc.load_state_dict(ck["disc"])
            opt_d.load_state_dict(ck["opt_d"])  # type: ignore[union-attr]
        torch.set_rng_state(ck["torch_rng"])
        step = int(ck["step"])
        log.info("resumed %s at step %d", run_dir, step)
    # rows logged after the checkpoint (before a kill) are logged again by the steps re-run now;
    # a fresh start (no checkpoint yet) keeps none of a killed run's rows
    trim_stats(run_dir / "stats.jsonl", step)

    def checkpoint() -> None:
        state = {"student": student.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                 "step": step, "torch_rng": torch.get_rng_state()}
        if disc is not None:
            state |= {"disc": disc.state_dict(), "opt_d": opt_d.state_dict()}  # type: ignore[union-attr]
        _save_checkpoint(ckpt_path, state)

    t0 = started = time.time()
    while step < cfg.steps:
        if cfg.time_limit_min and time.time() - started > 60 * cfg.time_limit_min:
            log.info("time limit reached at step %d", step)
            checkpoint()
            break
        chunk = [crops[i] for i in batch_indices(step, cfg.batch_size, len(crops), cfg.seed)]
        inputs = [c.load() for c in chunk]
        x = to_tensor(inputs)
        target = to_tensor(cache.get(chunk, teacher, inputs))
        if cfg.train_crop and cfg.train_crop < cfg.crop_size:
            r = random.Random(cfg.seed * 7919 + step)
            oy, ox = r.randint(0, cfg.crop_size - cfg.train_crop), r.randint(0, cfg.crop_size - cfg.train_crop)
            x, target = (t[:, :, oy:oy + cfg.train_crop, ox:ox + cfg.train_crop] for t in (x, target))
        # bf16 autocast covers the forward and the losses; the backward follows the recorded dtypes
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
            out = student(x)
            terms: dict[str, torch.Tensor] = {}
            if cfg.w_l1 > 0:
                terms["l1"] = cfg.w_l1 * F.l1_loss(out, target)
            if cfg.w_l1_luma > 0:
                terms["l1_luma"] = cfg.w_l1_luma * F.l1_loss(_rgb_to_yuv(out)[:, 0], _rgb_to_yuv(target)[:, 0])
            if feats is not None:
                terms["perceptual"] = cfg.w_perceptual * perceptual_loss(feats, out, target)
            if cfg.w_color > 0:
                terms["color"] = cfg.w_color * yuv_color_loss(out, x)
            if cfg.w_chroma > 0:
                terms["chroma"] = cfg.w_chroma * chroma_loss(out, x)
            if disc is not None:
                terms["adv"] = cfg.w_adv * F.mse_loss(disc(out), torch.ones_like(disc(out)))
            loss = sum(terms.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[union-attr]
        opt.step()
        if disc is not None:
            real = to_tensor([CropSpec(random.Random(step).choice(style_files), cfg.crop_size * 2, 0, 0,  # type: ignore[arg-type]
                                       cfg.crop_size, False).load() for _ in chunk])
            d_loss = F.mse_loss(disc(real), torch.ones(1)) + F.mse_loss(disc(out.detach().float()), torch.zeros(1))
            opt_d.zero_grad(set_to_none=True)  # type: ignore[union-attr]
            d_loss.backward()
            opt_d.step()  # type: ignore[union-attr]
            terms["d"] = d_loss.detach()
        step += 1
        decay = min(cfg.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, ps in zip(ema.parameters(), student.parameters(), strict=True):
                pe.lerp_(ps, 1 - decay)
            for be, bs in zip(ema.buffers(), student.buffers(), strict=True):
                be.copy_(bs)
        if step % cfg.log_every == 0 or step == cfg.steps:
            row = {"step": step, "loss": float(loss.detach()), **{k: float(v.detach()) for k, v in terms.items()},
                   "sec_per_step": (time.time() - t0) / cfg.log_every, "teacher_calls": cache.teacher_calls}
            t0 = time.time()
            with open(run_dir / "stats.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            if on_log:
                on_log(row)
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            checkpoint()
    provenance = json.dumps({"method": "distillation", "teacher": str(cfg.teacher), "data": cfg.photos,
                             "crops": cfg.n_crops, "crop_size": cfg.crop_size, "steps": step,
                             "losses": {k: getattr(cfg, k) for k in ("w_l1", "w_l1_luma", "w_perceptual",
                                                                     "w_color", "w_chroma", "w_adv")}})
    info = info_for(ema, style=cfg.style, provenance=provenance,
                    licence="research use only (inherited from the teacher and the training photos)")
    return save_weights(run_dir / "student.safetensors", ema, info)
