"""Which offline perceptual feature works best as a content loss? (No VGG19 weights reach our machines.)

Two cheap measurements on real photos (``../shared/data/photos/bsds500``, 128² centre crops):

1. Content retrieval across a style change: every photo is stylised by a CartoonGAN teacher
   (hayao, paprika); for each photo, the feature L1 distance to every stylised image is ranked.
   A content loss needs the photo's own stylisation to be nearest (top-1 accuracy, mean rank).
2. Degradation ordering: distance grows with the strength of blur / noise / colour shift
   (Spearman ρ per photo, averaged), and a 2-px shift counts as less change than a σ=2 blur
   (a known property of human perception that pixel distances miss).

Margin: median over photos of (distance to the nearest other stylisation) / (distance to its own);
higher separates content better. Run: ``.venv/bin/python benchmarks/vgg_alternatives.py [N_PHOTOS]
[NAME_SUBSTRING ...]``; prints a Markdown table (stylised photos are cached in /tmp).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from animegan.nn.cartoongan import CartoonGANGenerator, load_npy_folder
from animegan.nn.vgg import build_perceptual

torch.set_num_threads(2)
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SIZE = 128


def photos(n: int) -> torch.Tensor:
    files = sorted((DATA / "photos" / "bsds500" / "test").glob("*.jpg"))[:n]
    out = []
    for f in files:
        im = Image.open(f).convert("RGB")
        s = SIZE / min(im.size)
        im = im.resize((round(im.width * s), round(im.height * s)), Image.Resampling.BICUBIC)
        left, top = (im.width - SIZE) // 2, (im.height - SIZE) // 2
        arr = np.asarray(im.crop((left, top, left + SIZE, top + SIZE)), dtype=np.float32)
        out.append(torch.from_numpy(arr).permute(2, 0, 1) / 127.5 - 1)
    return torch.stack(out)


def teacher(style: str) -> CartoonGANGenerator:
    g = CartoonGANGenerator()
    g.load_state_dict(load_npy_folder(str(DATA / "teachers" / "cartoongan" / style)), strict=True)
    return g.eval()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = int(3 * sigma + 0.5)
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-t**2 / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def degradations(x: torch.Tensor) -> dict[str, list[torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(x.shape, generator=g)
    warm = torch.tensor([1.0, 0.0, -1.0]).view(1, 3, 1, 1)
    return {
        "blur": [gaussian_blur(x, s) for s in (0.7, 1.4, 2.8)],
        "noise": [(x + a * noise).clamp(-1, 1) for a in (0.05, 0.1, 0.2)],
        "colour": [(x + a * warm).clamp(-1, 1) for a in (0.05, 0.1, 0.2)],
    }


def dist(feat, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image mean |f(a) − f(b)|."""
    with torch.no_grad():
        return (feat(a) - feat(b)).abs().flatten(1).mean(1)


def spearman(values: list[float]) -> float:
    ranks = np.argsort(np.argsort(values))
    return float(np.corrcoef(ranks, np.arange(len(values)))[0, 1])


def evaluate(feat, x: torch.Tensor, stylised: dict[str, torch.Tensor]) -> dict[str, float]:
    res: dict[str, float] = {}
    with torch.no_grad():
        fx = feat(x).flatten(1)

        def d_to(y: torch.Tensor) -> torch.Tensor:
            return (fx - feat(y).flatten(1)).abs().mean(1)

        for style, y in stylised.items():
            fy = feat(y).flatten(1)
            d = torch.stack([(fx[i:i + 1] - fy).abs().mean(1) for i in range(len(fx))])  # photo i × stylised j
            own = d.diag()
            ranks = (d < own[:, None]).sum(1)  # 0 = own stylisation is nearest
            others = d + torch.diag(torch.full_like(own, float("inf")))
            res[f"top1_{style}"] = float((ranks == 0).float().mean())
            res[f"rank_{style}"] = float(ranks.float().mean() + 1)
            res[f"margin_{style}"] = float((others.min(1).values / own).median())
        rhos = []
        for levels in degradations(x).values():
            ds = torch.stack([d_to(lv) for lv in levels], 1)
            rhos += [spearman(row.tolist()) for row in ds]
        res["rho"] = float(np.mean(rhos))
        shifted = torch.roll(x, shifts=(2, 2), dims=(2, 3))
        res["shift<blur"] = float((d_to(shifted) < d_to(gaussian_blur(x, 2.0))).float().mean())
    return res


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 24
    t0 = time.time()
    x = photos(n)
    cache = Path("/tmp") / f"vgg_alternatives_stylised_{n}.pt"  # the teachers are slow on 2 cores
    if cache.is_file():
        stylised = torch.load(cache, weights_only=True)
    else:
        with torch.no_grad():
            stylised = {style: teacher(style)(x) for style in ("hayao", "paprika")}
        torch.save(stylised, cache)
    print(f"{n} photos, stylised in {time.time() - t0:.1f} s", file=sys.stderr)
    shinkai = str(DATA / "teachers" / "cartoongan" / "shinkai")
    candidates = {
        "pixels (L1 on RGB)": torch.nn.Identity(),
        "random VGG19 relu3_1 (seed 0)": build_perceptual("random", layer="relu3_1", seed=0),
        "random VGG19 conv4_4 (seed 0)": build_perceptual("random", layer="conv4_4", seed=0),
        "random VGG19 conv4_4 (seed 1)": build_perceptual("random", layer="conv4_4", seed=1),
        "random VGG19 relu4_1 (seed 0)": build_perceptual("random", layer="relu4_1", seed=0),
        "teacher-encoder shinkai, 0 res blocks": build_perceptual("teacher-encoder", teacher=shinkai, n_res=0),
        "teacher-encoder shinkai, 4 res blocks": build_perceptual("teacher-encoder", teacher=shinkai, n_res=4),
        "teacher-encoder shinkai, 8 res blocks": build_perceptual("teacher-encoder", teacher=shinkai, n_res=8),
    }
    only = sys.argv[2:]  # optional substrings: evaluate only matching candidates
    print("| feature | hayao top-1 / rank / margin | paprika top-1 / rank / margin | degradation ρ | shift < blur |")
    print("|---|---|---|---|---|")
    for name, feat in candidates.items():
        if only and not any(o in name for o in only):
            continue
        t = time.time()
        r = evaluate(feat, x, stylised)
        print(f"| {name} | {r['top1_hayao']:.2f} / {r['rank_hayao']:.2f} / {r['margin_hayao']:.2f} | "
              f"{r['top1_paprika']:.2f} / {r['rank_paprika']:.2f} / {r['margin_paprika']:.2f} | "
              f"{r['rho']:.3f} | {r['shift<blur']:.2f} |", flush=True)
        print(f"  {name}: {time.time() - t:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
