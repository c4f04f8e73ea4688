"""Teacher comparison of the shipped default styles (issue 4) on the evaluation photos.

The colour-fidelity figures (issue 16: chroma deviation and shift, brightness shift, luminance
structure change, gradient ratio; raw network output and with the colour-and-tone stage) are
``animegan eval`` now (library: :mod:`animegan.evaluation.quality`)::

    animegan eval --photos ../shared/data/eval/animegan_test --max-side 512 -o benchmarks/results/colour-eval

This script keeps what ``animegan eval`` cannot do without the research-only teacher weights: for
every photo of ``eval/animegan_test`` (resized to ``--max-side``, sides multiples of 4) and
each style: mean absolute difference of our output to the CartoonGAN teacher's, mean absolute U
and V deviation from the input photo (YUV, 0-255) for ours and for the teacher, and mean absolute
difference from the input (0-255). Teacher outputs are cached as PNG under ``--work`` so they are
computed once; the raw student outputs also get the five figures of :func:`animegan.evaluation.quality.image_figures`
(``ours_<figure>``). Writes a JSON file and prints a Markdown table.

    python scripts/eval_styles.py --styles hayao shinkai paprika --max-side 384 --out benchmarks/results/eval_styles.json
    python scripts/eval_styles.py --teacher-only   # fill the teacher cache (slow), nothing else
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from animegan.compress.distill import load_teacher
from animegan.evaluation.quality import image_figures
from animegan.hub.loading import load_generator_file
from animegan.training.losses import rgb_to_yuv

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def load_photo(path: Path, max_side: int) -> np.ndarray:
    """The photo as uint8 RGB, long side ``max_side``, both sides multiples of 4."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        s = max_side / max(im.size)
        size = (max(4, round(im.width * s) // 4 * 4), max(4, round(im.height * s) // 4 * 4))
        return np.asarray(im.resize(size, Image.Resampling.BICUBIC))


def run(model: torch.nn.Module, img: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
    with torch.no_grad():
        y = model(x)
    return ((y[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


def yuv255(img: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
    return rgb_to_yuv(x)[0] * 255


def teacher_outputs(style: str, photos: list[Path], max_side: int, work: Path) -> list[np.ndarray]:
    """Teacher outputs for every photo, from the PNG cache under ``work`` or computed (and cached) now."""
    folder = work / f"teacher-{style}-{max_side}"
    folder.mkdir(parents=True, exist_ok=True)
    teacher = None
    outs = []
    for p in photos:
        f = folder / f"{p.stem}.png"
        if not f.exists():
            teacher = teacher or load_teacher(str(DATA / "teachers" / "cartoongan" / style))[0]
            Image.fromarray(run(teacher, load_photo(p, max_side))).save(f)
        with Image.open(f) as im:
            outs.append(np.asarray(im.convert("RGB")))
    return outs


def evaluate(style: str, weights: Path, photos: list[Path], max_side: int, work: Path) -> dict[str, float]:
    """The figures for one style over ``photos``."""
    teacher = teacher_outputs(style, photos, max_side, work)
    model, _ = load_generator_file(weights)  # eval mode, fp32
    sums = dict.fromkeys(["to_teacher", "ours_u", "ours_v", "teacher_u", "teacher_v", "ours_to_input",
                          "teacher_to_input"], 0.0)
    seconds = 0.0
    for p, t in zip(photos, teacher, strict=True):
        img = load_photo(p, max_side)
        t0 = time.perf_counter()
        ours = run(model, img)
        seconds += time.perf_counter() - t0
        yi, yo, yt = yuv255(img), yuv255(ours), yuv255(t)
        sums["to_teacher"] += float(np.abs(ours.astype(float) - t).mean())
        sums["ours_to_input"] += float(np.abs(ours.astype(float) - img).mean())
        sums["teacher_to_input"] += float(np.abs(t.astype(float) - img).mean())
        for name, value in image_figures(img, ours).items():
            sums[f"ours_{name}"] = sums.get(f"ours_{name}", 0.0) + value
        for who, y in (("ours", yo), ("teacher", yt)):
            sums[f"{who}_u"] += float((y[1] - yi[1]).abs().mean())
            sums[f"{who}_v"] += float((y[2] - yi[2]).abs().mean())
    res = {k: round(v / len(photos), 2) for k, v in sums.items()}
    res["student_sec_per_image"] = round(seconds / len(photos), 3)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--styles", nargs="+", default=["hayao", "shinkai", "paprika"])
    ap.add_argument("--weights", default=str(ROOT / "src" / "animegan" / "weights"),
                    help="folder holding <style>.safetensors")
    ap.add_argument("--max-side", type=int, default=256)
    ap.add_argument("--limit", type=int, default=0, help="first N photos only (0: all)")
    ap.add_argument("--work", default=str(ROOT / "runs" / "eval"))
    ap.add_argument("--out", default="")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--teacher-only", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    photos = sorted((DATA / "eval" / "animegan_test").glob("*.jpg"))
    photos = photos[:args.limit] if args.limit else photos
    results = {}
    for style in args.styles:
        if args.teacher_only:
            teacher_outputs(style, photos, args.max_side, Path(args.work))
            print(style, "teacher outputs cached", flush=True)
            continue
        results[style] = evaluate(style, Path(args.weights) / f"{style}.safetensors", photos, args.max_side,
                                  Path(args.work))
        print(style, json.dumps(results[style]), flush=True)
    if results:
        meta = {"photos": len(photos), "max_side": args.max_side, "threads": args.threads, "results": results}
        print("| style | ours→teacher | U ours / teacher | V ours / teacher | ours→input | teacher→input | s/img |")
        print("|---|---|---|---|---|---|---|")
        for s, r in results.items():
            print(f"| {s} | {r['to_teacher']} | {r['ours_u']} / {r['teacher_u']} | {r['ours_v']} / {r['teacher_v']} "
                  f"| {r['ours_to_input']} | {r['teacher_to_input']} | {r['student_sec_per_image']} |")
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(meta, indent=2) + "\n")


if __name__ == "__main__":
    main()
