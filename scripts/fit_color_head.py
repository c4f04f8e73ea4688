"""Make a shipped default style: the CartoonGAN teacher with its output layer re-distilled for colour.

The teacher's trunk (everything before the 7×7 output conv) is kept; the output layer is trained on
training-photo crops (never the evaluation set) to reproduce the teacher's luma (L1 on Y) while its
chroma follows a blend of the input photo's and the teacher's (L1 on U, V to
``alpha·photo + (1 − alpha)·teacher``) — the job AnimeGANv2's colour loss does, without pulling luma
back to the photo. Trunk features are computed once per crop and cached, so only the 9.4 k-parameter
head trains (this is what fits the project's 2 shared CPU cores). Writes fp16 safetensors with
provenance metadata and prints the figures for the model card.

    python scripts/fit_color_head.py --style hayao --alpha 0.7 --out src/animegan/weights/hayao.safetensors
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from animegan.compress.distill import batch_tensor, list_photos, load_teacher, plan_crops
from animegan.hub.weights import info_for, save_weights
from animegan.training.losses import rgb_to_yuv

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def trunk_cache(teacher, crops, work: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(trunk features fp16, photos, teacher outputs) for every crop, computed once and cached."""
    hs, xs, ys = [], [], []
    for c in crops:
        f = work / f"{c.key()}.pt"
        if not f.exists():
            x = batch_tensor([c.load()])
            with torch.no_grad():
                h = teacher.trunk(x)
                y = teacher.head(h)
            torch.save({"h": h.half(), "x": x, "y": y}, f)
        d = torch.load(f, weights_only=True)
        hs.append(d["h"])
        xs.append(d["x"])
        ys.append(d["y"])
    return torch.cat(hs), torch.cat(xs), torch.cat(ys)


class ColourHead(torch.nn.Module):
    """The teacher's output conv W, b refit as ``A·(W + ΔW)``, ``A·b + c`` (pre-tanh), folded back on save.

    A 3×3 colour mix ``A`` (init identity) and bias ``c`` move colour globally at a normal learning
    rate; the spatial correction ``ΔW`` (init zero) gets a much smaller one, so a step never wrecks
    the 3,136-input sums of the original kernel.
    """

    def __init__(self, conv: torch.nn.Conv2d):
        super().__init__()
        self.w0 = conv.weight.detach().clone()
        self.b0 = conv.bias.detach().clone()
        self.dw = torch.nn.Parameter(torch.zeros_like(self.w0))
        self.a = torch.nn.Parameter(torch.eye(3))
        self.c = torch.nn.Parameter(torch.zeros(3))

    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        w = torch.einsum("oc,cikl->oikl", self.a, self.w0 + self.dw)
        return w, self.a @ self.b0 + self.c

    def head(self, h: torch.Tensor) -> torch.Tensor:
        w, b = self.folded()
        z = F.conv2d(F.pad(h, (3, 3, 3, 3), mode="reflect"), w, b)
        return torch.tanh(z).flip(1)  # the network is BGR inside


def head_loss(model, h, x, y, alpha: float) -> tuple[torch.Tensor, dict[str, float]]:
    out = model.head(h.float())
    yo, yp, yt = rgb_to_yuv(out), rgb_to_yuv(x), rgb_to_yuv(y)
    luma = F.l1_loss(yo[:, 0], yt[:, 0])
    chroma = F.l1_loss(yo[:, 1:], alpha * yp[:, 1:] + (1 - alpha) * yt[:, 1:])
    uv_photo = (yo[:, 1:] - yp[:, 1:]).abs().mean() * 255
    return luma + chroma, {"luma_l1_255": float(luma.detach()) * 255, "uv_to_target_255": float(chroma.detach()) * 255,
                           "uv_to_photo_255": float(uv_photo.detach())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--style", required=True, choices=["hayao", "shinkai", "paprika"])
    ap.add_argument("--alpha", type=float, default=0.6, help="chroma target: share of the photo's U, V")
    ap.add_argument("--crops", type=int, default=48)
    ap.add_argument("--val", type=int, default=8, help="last N crops held out")
    ap.add_argument("--crop-size", type=int, default=160)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--spatial-lr-scale", type=float, default=0.01, help="lr of the kernel correction ΔW, relative")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", default="")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    teacher_dir = DATA / "teachers" / "cartoongan" / args.style
    photo_dirs = [str(DATA / "photos")]
    teacher, _ = load_teacher(str(teacher_dir))
    crops = plan_crops(list_photos(photo_dirs), args.crops, args.crop_size, (320, 480), seed=1)
    work = Path(args.work or ROOT / "runs" / f"head-{args.style}")
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    h, x, y = trunk_cache(teacher, crops, work)
    print(f"trunk cache: {len(crops)} crops in {time.time() - t0:.0f} s", flush=True)
    n = len(crops) - args.val
    head = ColourHead(teacher.deconv03_1)
    opt = torch.optim.Adam([{"params": [head.a, head.c], "lr": args.lr},
                            {"params": [head.dw], "lr": args.lr * args.spatial_lr_scale}])
    with torch.no_grad():
        _, before = head_loss(head, h[n:], x[n:], y[n:], args.alpha)
    print("val before", json.dumps(before), flush=True)
    g = torch.Generator().manual_seed(0)
    for epoch in range(args.epochs):
        for idx in torch.randperm(n, generator=g).split(4):
            loss, _ = head_loss(head, h[idx], x[idx], y[idx], args.alpha)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if epoch % 5 == 4 or epoch == args.epochs - 1:
            with torch.no_grad():
                _, val = head_loss(head, h[n:], x[n:], y[n:], args.alpha)
            print(f"epoch {epoch + 1} val", json.dumps(val), flush=True)
    student = copy.deepcopy(teacher)
    with torch.no_grad():
        w, b = head.folded()
        student.deconv03_1.weight.copy_(w)
        student.deconv03_1.bias.copy_(b)
        _, check = head_loss(student, h[n:], x[n:], y[n:], args.alpha)
    print("folded val", json.dumps(check), flush=True)
    provenance = {"method": "output-layer distillation with a chroma target (scripts/fit_color_head.py)",
                  "teacher": f"CartoonGAN {args.style} (mnicnc404/CartoonGan-tensorflow @ 2f26a52)",
                  "data": "shared/data/photos (BSDS500 + Sun-Hays80), never the evaluation set",
                  "crops": len(crops), "train_crops": n, "crop_size": args.crop_size, "epochs": args.epochs,
                  "alpha": args.alpha, "losses": "L1(Y, teacher Y) + L1(UV, alpha*photo UV + (1-alpha)*teacher UV)",
                  "trained_parameters": "deconv03_1 (output layer); all others = teacher",
                  "val_before": before, "val_after": val}
    info = info_for(student.eval(), style=args.style, provenance=json.dumps(provenance),
                    licence="research use only: inherited from the CartoonGAN weights and the training photos")
    save_weights(args.out, student, info, dtype=torch.float16)
    print("wrote", args.out, f"{Path(args.out).stat().st_size / 1e6:.1f} MB", flush=True)


if __name__ == "__main__":
    main()
