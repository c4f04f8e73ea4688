"""Tiled against untiled output on real photos: is tiling with whole-image statistics seamless?

For each model, one evaluation photo is resized to the given size and stylized whole, tiled with
statistics from a full-resolution pass, and tiled with statistics from a downscaled pass (what
images over the pixel budget get). Reports mean and max absolute difference (in 1/255) and the
mean difference in the 16-pixel bands around tile borders (a seam would show there). Writes the
difference images (×20) next to the results when ``--save-diffs`` is given.

    python benchmarks/bench_tiling.py --size 1024x768
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from animegan.inference.options import StylizeOptions
from animegan.inference.stylizer import Stylizer
from animegan.inference.tiling import axis_spans

RESULTS = Path(__file__).resolve().parent / "results"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def models(which: list[str]) -> dict[str, torch.nn.Module]:
    out = {}
    if "animeganv2-random" in which:
        from animegan.nn.animeganv2 import AnimeGANv2Generator

        torch.manual_seed(0)
        out["animeganv2-random"] = AnimeGANv2Generator()
    for style in ("hayao", "shinkai", "paprika"):
        name = f"cartoongan-{style}"
        folder = DATA / "teachers" / "cartoongan" / style
        if name in which and folder.is_dir():
            from animegan.nn.cartoongan import CartoonGANGenerator, load_npy_folder

            model = CartoonGANGenerator()
            model.load_state_dict(load_npy_folder(str(folder)))
            out[name] = model
    return out


def border_band(width: int, height: int, tile: int, pad: int, multiple: int) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    for span in axis_spans(width, tile, pad, multiple)[1:]:
        mask[:, max(0, span.start + pad - 8):span.start + pad + 8] = True
    for span in axis_spans(height, tile, pad, multiple)[1:]:
        mask[max(0, span.start + pad - 8):span.start + pad + 8, :] = True
    return mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1024x768")
    parser.add_argument("--models", nargs="+", default=["animeganv2-random", "cartoongan-shinkai"])
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--tile-pad", type=int, default=32)
    parser.add_argument("--photo", default="HR_photo_1.jpg")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--save-diffs", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    width, height = map(int, args.size.split("x"))
    photo = Image.open(DATA / "eval" / "animegan_test" / args.photo).convert("RGB")
    img = photo.resize((width, height), Image.Resampling.LANCZOS)
    rows = []
    for name, model in models(args.models).items():
        stylizer = Stylizer(model, precision=args.precision)
        start = time.perf_counter()
        whole = np.asarray(stylizer.stylize(img, StylizeOptions(tile=-1, pixel_budget=width * height)), np.float32)
        cases = {"full-res statistics": width * height, "statistics at 1/2 scale": width * height // 4}
        band = border_band(width, height, args.tile, args.tile_pad, stylizer.backend.size_multiple)
        for case, budget in cases.items():
            opts = StylizeOptions(tile=args.tile, tile_pad=args.tile_pad, pixel_budget=budget)
            tiled = np.asarray(stylizer.stylize(img, opts), np.float32)
            diff = np.abs(whole - tiled)
            rows.append({"model": name, "size": args.size, "policy": stylizer.policy.describe(), "case": case,
                         "tile": args.tile, "tile_pad": args.tile_pad, "mean_abs_diff_255": round(float(diff.mean()), 3),
                         "max_abs_diff_255": int(diff.max()),
                         "border_band_mean_255": round(float(diff[band].mean()), 3)})
            print(json.dumps(rows[-1]), flush=True)
            if args.save_diffs:
                args.save_diffs.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.clip(diff * 20, 0, 255).astype(np.uint8)).save(
                    args.save_diffs / f"{name}-{case.split()[-1]}.png")
        print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"tiling-cpu-{args.size}.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = ["# Tiled vs untiled output (whole-image normalisation statistics)", "",
             f"{time.strftime('%Y-%m-%d')}, photo {args.photo} resized to {args.size}; differences in 1/255.", "",
             "| model | policy | statistics | tile/pad | mean | max | mean in border bands |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['policy']} | {r['case']} | {r['tile']}/{r['tile_pad']} | "
              f"{r['mean_abs_diff_255']} | {r['max_abs_diff_255']} | {r['border_band_mean_255']} |" for r in rows]
    (RESULTS / f"tiling-cpu-{args.size}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
