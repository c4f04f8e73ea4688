"""Structured channel pruning of AnimeGANv2: channels are removed, the result is a smaller network.

Prunable dimensions (see :mod:`animegan.nn.animeganv2_slim`): the outputs of the 12 ConvNormLReLU
layers and the expansion width of the 4 InvertedResBlocks. Removing output channel ``c`` of a layer
slices its conv's filters, its GroupNorm's affine parameters (and, for the expansion width, the
depthwise conv's filters and bias) and the next conv's input channels. GroupNorm(1, C) normalises
over all channels, so removing one shifts the others' statistics: a fine-tune that distils from
the unpruned network (:func:`finetune`, built on :mod:`animegan.compress.distill`) restores quality.

Rules: ``threshold`` (the seed article's: drop channels whose filter weights all have magnitude
below ``threshold``) and ``ratio`` (drop the ``ratio`` least important channels of every layer;
importance is the mean |activation| of the channel on calibration photos times the L1 norm of the
weights that read it, or |GN scale| × filter L1 norm without photos).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import InputError, ModelError
from ..hub.loading import load_generator_file
from ..hub.weights import ModelInfo, info_for, save_weights
from ..inference.stylizer import load_model
from ..io.discovery import list_images
from ..nn.animeganv2_slim import HIDDEN_NAMES, WIDTH_NAMES, AnimeGANv2SlimConfig, AnimeGANv2SlimGenerator
from .distill import check_precision
from .flops import gflops
from .onnx_export import photo_tensor
from .quantize import psnr

log = logging.getLogger("animegan")

RULES = ("threshold", "ratio")
#: architectures :func:`prune_model` can cut channels out of
PRUNABLE_ARCHS = ("animeganv2", "animeganv2_slim")
#: each unit's output is read by this conv (its input channels are sliced with it)
_CONSUMER = {"block_a.0": "block_a.1.1", "block_a.1": "block_a.2.1", "block_a.2": "block_b.0.1",
             "block_b.0": "block_b.1.1", "block_b.1": "block_c.0.1", "block_c.0": "block_c.1.layers.0.1",
             "block_c.5": "block_d.0.1", "block_d.0": "block_d.1.1", "block_d.1": "block_e.0.1",
             "block_e.0": "block_e.1.1", "block_e.1": "block_e.2.1", "block_e.2": "out_layer.0"}


@dataclass(frozen=True)
class Unit:
    """One prunable channel dimension: tensors sliced on dim 0, the consumer sliced on dim 1."""

    name: str
    outputs: tuple[str, ...]   # parameter names whose dim 0 are this unit's channels
    consumer: str              # conv weight whose dim 1 reads these channels
    activation: str            # module whose output is this unit's (post-LReLU) activation
    filters: tuple[str, ...]   # conv weights scored by the threshold rule


def units() -> list[Unit]:
    """The 16 prunable dimensions of AnimeGANv2, widths first, then expansion widths."""
    out = [Unit(n, (f"{n}.1.weight", f"{n}.2.weight", f"{n}.2.bias"), f"{_CONSUMER[n]}.weight", n,
                (f"{n}.1.weight",)) for n in WIDTH_NAMES]
    for b in HIDDEN_NAMES:
        out.append(Unit(f"{b}.hidden",
                        (f"{b}.layers.0.1.weight", f"{b}.layers.0.2.weight", f"{b}.layers.0.2.bias",
                         f"{b}.layers.1.1.weight", f"{b}.layers.1.1.bias", f"{b}.layers.1.2.weight",
                         f"{b}.layers.1.2.bias"),
                        f"{b}.layers.2.weight", f"{b}.layers.1", (f"{b}.layers.0.1.weight", f"{b}.layers.1.1.weight")))
    return out


def check_prunable(model: nn.Module, name: str = "model") -> None:
    """Raise :class:`ModelError` (saying what works instead) unless ``model`` is an AnimeGANv2 generator."""
    arch = str(getattr(model, "arch", "") or type(model).__name__)
    if arch in PRUNABLE_ARCHS:
        return
    hint = ""
    if arch == "cartoongan":
        hint = ("; a CartoonGAN gets smaller by slicing and distillation instead: `animegan distill "
                "distill-shinkai` (a half-width student sliced from the teacher), or distil it into an "
                "AnimeGANv2 (`animegan distill distill-shinkai-animeganv2`) and prune that")
    raise ModelError(f"{name}: a {arch} generator; pruning supports AnimeGANv2 generators only "
                     f"({', '.join(PRUNABLE_ARCHS)}){hint}")


def as_slim(model: nn.Module) -> AnimeGANv2SlimGenerator:
    """An AnimeGANv2 or AnimeGANv2-slim generator as a slim one with the same weights."""
    check_prunable(model)
    state = model.state_dict()
    cfg = AnimeGANv2SlimConfig(widths=[int(state[f"{n}.1.weight"].shape[0]) for n in WIDTH_NAMES],
                               hidden=[int(state[f"{b}.layers.0.1.weight"].shape[0]) for b in HIDDEN_NAMES])
    slim = AnimeGANv2SlimGenerator(cfg)
    slim.load_state_dict(state, strict=True)
    return slim.eval()


def activation_means(model: nn.Module, photos: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean |activation| per channel of every unit on ``photos`` (N×3×H×W in [-1, 1])."""
    modules = dict(model.named_modules())
    sums: dict[str, torch.Tensor] = {}
    hooks = []
    for unit in units():
        def hook(_m: nn.Module, _i: Any, out: torch.Tensor, key: str = unit.name) -> None:
            sums[key] = sums.get(key, 0) + out.abs().mean(dim=(0, 2, 3))
        hooks.append(modules[unit.activation].register_forward_hook(hook))
    try:
        with torch.inference_mode():
            for i in range(photos.shape[0]):
                model(photos[i:i + 1])
    finally:
        for h in hooks:
            h.remove()
    return {k: v / photos.shape[0] for k, v in sums.items()}


def importance(model: nn.Module, photos: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Per-channel importance of every unit (higher is kept first)."""
    check_prunable(model)
    state = model.state_dict()
    act = activation_means(model, photos) if photos is not None else None
    scores = {}
    for unit in units():
        reads = state[unit.consumer].abs().sum(dim=(0, 2, 3))
        if act is not None:
            scores[unit.name] = act[unit.name] * reads
        else:
            gamma = state[unit.outputs[-1] if unit.name.endswith("hidden") else unit.outputs[1]].abs()
            scores[unit.name] = gamma * state[unit.filters[0]].abs().flatten(1).sum(1) * reads
    return scores


def check_rule(rule: str, ratio: float, threshold: float) -> None:
    """:class:`InputError` unless ``rule`` is known and its parameter (``ratio`` or ``threshold``) usable."""
    if rule not in RULES:
        raise InputError(f"rule {rule}: unknown (choose {', '.join(RULES)})", params=("rule",))
    if rule == "ratio" and not 0.0 < ratio < 1.0:
        raise InputError(f"ratio {ratio}: must be between 0 and 1 (exclusive)", params=("ratio",))
    if rule == "threshold" and threshold <= 0:
        raise InputError(f"threshold {threshold}: must be positive", params=("threshold",))


def select_channels(model: nn.Module, rule: str, *, ratio: float = 0.4, threshold: float = 0.01,
                    photos: torch.Tensor | None = None, multiple: int = 8, min_keep: int = 8
                    ) -> dict[str, torch.Tensor]:
    """The sorted channel indices each unit keeps under ``rule``."""
    check_rule(rule, ratio, threshold)
    state = model.state_dict()
    scores = importance(model, photos)
    keep = {}
    for unit in units():
        score = scores[unit.name]
        channels = score.numel()
        if rule == "threshold":
            big = torch.zeros(channels, dtype=torch.bool)
            for name in unit.filters:
                big |= state[name].abs().flatten(1).amax(1) >= threshold
            n_keep = max(int(big.sum()), min(min_keep, channels))
            score = score + big.float() * (score.max() + 1)  # above-threshold channels first
        else:
            n_keep = round(channels * (1 - ratio) / multiple) * multiple
            n_keep = min(channels, max(n_keep, min(min_keep, channels)))
        keep[unit.name] = torch.sort(torch.topk(score, n_keep).indices).values
    return keep


def prune_model(model: nn.Module, keep: dict[str, torch.Tensor]) -> AnimeGANv2SlimGenerator:
    """A physically smaller generator holding only the channels in ``keep``."""
    slim = as_slim(model)
    state = {k: v.clone() for k, v in slim.state_dict().items()}
    for unit in units():
        idx = keep[unit.name]
        for name in unit.outputs:
            state[name] = state[name].index_select(0, idx)
        state[unit.consumer] = state[unit.consumer].index_select(1, idx)
    for b in HIDDEN_NAMES:  # depthwise convs: one group per kept channel, one input channel each
        assert state[f"{b}.layers.1.1.weight"].shape[1] == 1
    cfg = AnimeGANv2SlimConfig(widths=[len(keep[n]) for n in WIDTH_NAMES],
                               hidden=[len(keep[f"{b}.hidden"]) for b in HIDDEN_NAMES])
    pruned = AnimeGANv2SlimGenerator(cfg)
    pruned.load_state_dict(state, strict=True)
    return pruned.eval()


def count_params(model: nn.Module) -> int:
    """Number of parameters."""
    return sum(p.numel() for p in model.parameters())


def photo_batch(files: Sequence[str | os.PathLike], size: int = 128) -> torch.Tensor:
    """Photos resized to size×size as N×3×size×size in [-1, 1]."""
    return torch.cat([photo_tensor(f, size, size) for f in files])


def finetune(teacher: str | os.PathLike, student: str | os.PathLike, config: AnimeGANv2SlimConfig, *,
             photos: Sequence[str], run_dir: str | os.PathLike, steps: int = 300, crop: int = 128,
             n_crops: int = 800, batch_size: int = 4, lr: float = 2e-4, time_limit_min: float = 0.0,
             precision: str = "fp32", threads: int = 2) -> Path:
    """Distil the unpruned ``teacher`` file into the pruned ``student`` file; returns the new student file."""
    import dataclasses

    from .distill import DistillConfig, distill

    cfg = DistillConfig(teacher=str(teacher), photos=list(photos), run_dir=str(run_dir), style="pruned",
                        student_arch="animeganv2_slim", student_config=dataclasses.asdict(config),
                        student_init=str(student), crop_size=crop, n_crops=n_crops,
                        long_side_range=(max(crop + 32, 192), max(crop + 32, 320)), steps=steps,
                        batch_size=batch_size, lr=lr, ema_decay=0.95, w_l1=1.0, w_perceptual=0.0,
                        time_limit_min=time_limit_min, checkpoint_every=50, log_every=10, precision=precision,
                        threads=threads)
    return distill(cfg)


def _median_seconds(model: nn.Module, size: int, repeats: int = 3) -> float:
    x = torch.zeros(1, 3, size, size)
    with torch.inference_mode():
        model(x)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


@dataclass
class PruneQuality:
    """The pruned generator's output against the unpruned one's on held-out photos, on the 8-bit scale."""

    images: int
    size: int
    psnr_db: float          # every photo's pixels pooled
    median_psnr_db: float   # of the per-photo PSNRs
    worst_psnr_db: float
    worst_image: str
    mean_abs_255: float


@dataclass
class PruneResult:
    """Before/after figures of a pruning (what ``animegan prune`` prints)."""

    params_before: int
    params_after: int
    gflops_before: float    # convolutions, at 512²
    gflops_after: float
    speed_size: int
    seconds_before: float   # torch eager fp32, median of one forward at speed_size²
    seconds_after: float
    path: Path | None = None
    file_bytes: int | None = None
    quality: PruneQuality | None = None


def compare(before: nn.Module, after: nn.Module, after_file: str | os.PathLike | None = None,
            eval_images: Sequence[str | os.PathLike] | None = None, size: int = 256) -> PruneResult:
    """The unpruned and pruned generators side by side: params, file size, FLOPs, speed, PSNR."""
    result = PruneResult(count_params(before), count_params(after), gflops(before, 512, 512),
                         gflops(after, 512, 512), size, _median_seconds(before, size), _median_seconds(after, size))
    if after_file is not None:
        result.path = Path(after_file)
        result.file_bytes = result.path.stat().st_size
    if eval_images:
        batch = photo_batch(eval_images, size)
        with torch.inference_mode():
            ref = torch.cat([before(batch[i:i + 1]) for i in range(len(batch))]).clamp(-1, 1).numpy()
            out = torch.cat([after(batch[i:i + 1]) for i in range(len(batch))]).clamp(-1, 1).numpy()
        each = sorted((psnr(r, o), Path(f).name) for r, o, f in zip(ref, out, eval_images, strict=True))
        result.quality = PruneQuality(len(batch), size, psnr(ref, out), each[len(each) // 2][0], each[0][0],
                                      each[0][1], float(abs(ref - out).mean() * 127.5))
    return result


def prune_file(model: str | os.PathLike | None, output: str | os.PathLike, *, rule: str = "ratio",
               ratio: float = 0.4, threshold: float = 0.01, calib: str | os.PathLike | None = None,
               finetune_photos: str | os.PathLike | None = None, steps: int = 300, crop: int = 128,
               time_limit_min: float = 0.0, batch_size: int = 4, precision: str = "fp32",
               eval_images: str | os.PathLike | None = None, eval_count: int = 10, speed_size: int = 256,
               run_dir: str | os.PathLike | None = None) -> PruneResult:
    """``animegan prune``: prune ``model`` (zoo name or weights file) into ``output``; before/after figures.

    Every input is checked (the architecture included) before any work; ``output`` is written
    atomically, and re-written with the fine-tuned weights when ``finetune_photos`` is given.
    """
    check_rule(rule, ratio, threshold)
    check_precision(precision, "--precision")
    calib_files = list_images(calib, limit=8) if calib is not None else None
    evals = list_images(eval_images, limit=eval_count) if eval_images is not None else None
    if finetune_photos is not None:
        list_images(finetune_photos)
    module, info = load_model(model)
    label = str(model) if model is not None else "the default style"
    check_prunable(module, label)
    photos = photo_batch(calib_files, 128) if calib_files else None
    pruned = prune_model(module, select_channels(module, rule, ratio=ratio, threshold=threshold, photos=photos))
    output = Path(output)
    provenance = f"pruned ({rule}) from {label}"
    save_weights(output, pruned, info_for(pruned, style=info.style, licence=info.licence, provenance=provenance))
    if finetune_photos is not None:
        pruned = _finetune_into(module, info, pruned, output, photos=str(finetune_photos), run_dir=run_dir,
                                provenance=f"{provenance}, distilled", steps=steps, crop=crop,
                                time_limit_min=time_limit_min, batch_size=batch_size, precision=precision)
    return compare(module, pruned, output, evals, size=speed_size)


def _finetune_into(teacher: nn.Module, info: ModelInfo, pruned: AnimeGANv2SlimGenerator, output: Path, *,
                   photos: str, run_dir: str | os.PathLike | None, provenance: str, **options: Any) -> nn.Module:
    """Distil ``teacher`` into the pruned network saved at ``output``; re-write ``output``; the tuned network."""
    with tempfile.TemporaryDirectory() as work:
        teacher_file = Path(work) / "teacher.safetensors"
        save_weights(teacher_file, teacher, info)
        tuned_file = finetune(teacher_file, output, pruned.config, photos=[photos],
                              run_dir=run_dir or Path(work) / "run", threads=torch.get_num_threads(), **options)
        tuned, _ = load_generator_file(tuned_file)
    save_weights(output, tuned, info_for(tuned, style=info.style, licence=info.licence, provenance=provenance))
    return tuned
