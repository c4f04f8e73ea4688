"""Turn a finished distillation run into a shipped default style: fp16 safetensors with provenance.

Reads ``<run>/student.safetensors`` (the EMA student) and ``<run>/config.toml``, and writes the
student as fp16 with metadata that names the real teacher chain (the released CartoonGAN weights,
then the colour-refit output layer of ``scripts/fit_color_head.py``), the data, the steps and the
loss weights, the licence and the model card's file name.

    python scripts/ship_style.py runs/distill-shinkai --style shinkai --alpha 0.5
    python scripts/ship_style.py runs/distill-shinkai-lite --style shinkai-lite --from-style shinkai

A lite style (``--from-style``) is distilled from a shipped style, itself distilled from CartoonGAN:
its provenance names that chain.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from animegan.compress.distill import WEIGHTS, DistillConfig
from animegan.hub.loading import load_generator_file
from animegan.hub.weights import ModelInfo, save_weights

ROOT = Path(__file__).resolve().parents[1]
LICENCE = ("research use only (inherited from the CartoonGAN teacher weights and the training photos: "
           "BSDS500 non-commercial research, Sun-Hays80 research use)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="distillation run folder (student.safetensors, config.toml)")
    ap.add_argument("--style", required=True)
    ap.add_argument("--alpha", type=float, default=None, help="the stage-1 colour-refit alpha (model card)")
    ap.add_argument("--from-style", default=None, help="the shipped style a lite style was distilled from")
    ap.add_argument("--out", type=Path, default=None, help="default: src/animegan/weights/<style>.safetensors")
    args = ap.parse_args()
    if (args.alpha is None) == (args.from_style is None):
        ap.error("give --alpha (a style distilled from CartoonGAN) or --from-style (a lite style)")
    cfg = DistillConfig.from_toml(args.run / "config.toml")
    student, info = load_generator_file(args.run / "student.safetensors")
    steps = json.loads(info.provenance)["steps"]
    base = args.from_style or args.style
    provenance = {
        "method": "distillation",
        "teacher": f"CartoonGAN {base} (Chen et al., CVPR 2018; mnicnc404/CartoonGan-tensorflow @ 2f26a52)",
        "stage1": f"teacher trunk + output layer refit for the photo's colours (scripts/fit_color_head.py "
                  f"--style {base} --alpha {args.alpha})",
        "stage2": "student sliced out of the stage-1 model (animegan.compress.slice_cartoongan: channel "
                  "importance + layer-wise least-squares refit), then distilled (animegan distill "
                  f"distill-{base})",
    }
    if args.from_style:
        provenance |= {
            "teacher": f"the shipped style {base!r} (animegan/weights/{base}.md: itself sliced and distilled "
                       f"from CartoonGAN {base}, Chen et al., CVPR 2018)",
            "stage1": f"none: the teacher is the shipped {base!r} student",
            "stage2": f"student sliced out of {base!r} (animegan.compress.slice_cartoongan), then distilled "
                      f"from it (animegan distill distill-{args.style})",
        }
    provenance |= {
        "data": ["shared/data/photos (BSDS500, Sun-Hays80); never the evaluation photos"],
        "crops": cfg.n_crops, "crop_size": cfg.crop_size, "train_crop": cfg.train_crop,
        "steps": steps, "batch_size": cfg.batch_size, "lr": cfg.lr, "ema_decay": cfg.ema_decay,
        "losses": {k: getattr(cfg, k) for k in WEIGHTS},
        "student": {"arch": info.arch, "config": info.config},
    }
    out = args.out or ROOT / "src" / "animegan" / "weights" / f"{args.style}.safetensors"
    shipped = ModelInfo(arch=info.arch, config=info.config, style=args.style,
                        provenance=json.dumps(provenance), licence=LICENCE, card=f"{args.style}.md")
    save_weights(out, student, shipped, dtype=torch.float16)
    params = sum(p.numel() for p in student.parameters())
    print(f"{out}: {out.stat().st_size / 1e6:.2f} MB, {params:,} parameters, {steps} steps")


if __name__ == "__main__":
    main()
