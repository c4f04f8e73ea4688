"""The colour-and-tone stage on video: flicker with and without it, and its cost per 720p frame.

    python benchmarks/bench_color.py            # -> benchmarks/results/colour-video.md (+ .json)

Flicker: a clip made here from evaluation photos (``../shared/data/eval/animegan_test``; the
bundled samples when absent) with small pans and camera noise, encoded with x264, decoded, run
through the shipped default style once; the raw frames and the same frames through the stage are
encoded and decoded again, then measured with the video benchmark's frame-to-frame measure
(``animegan.video.temporal.flicker_ratio``'s ratio, and over still / moving pixels as in
bench_video.py).

Cost: one 1280×720 frame, the model (``Stylizer.forward_rgb``) and the stage (``apply_palette``)
timed alternately in one process; medians.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from animegan.inference import processing as proc
from animegan.inference.color import DEFAULT_CHROMA_SMOOTHING, DEFAULT_PALETTE, apply_palette
from animegan.inference.stylizer import Stylizer
from animegan.resources import sample_photos
from animegan.video.samples import read_frames, write_clip

RESULTS = Path(__file__).resolve().parent / "results"
EVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval" / "animegan_test"
#: photos the pans run over (sky, foliage, street, a face)
CLIP_PHOTOS = ("HR_photo_31.jpg", "val_15.jpg", "HR_photo_1.jpg", "val_zl.jpg")


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
            f"with {torch.get_num_threads()} threads, load average {load:.1f} at the start (shared machine)")


def pan_frames(photos: list[Path], width: int, height: int, per_photo: int, step: int = 2, noise: float = 2.0,
               seed: int = 0):
    """For each photo: ``per_photo`` frames of a ``width``×``height`` window panning right by ``step`` px
    per frame over the photo (resized to leave room), plus Gaussian camera noise."""
    rng = np.random.default_rng(seed)
    for path in photos:
        with Image.open(path) as im:
            im = im.convert("RGB")
            scale = max((width + step * per_photo) / im.width, height / im.height)
            im = im.resize((round(im.width * scale) + 1, round(im.height * scale) + 1), Image.Resampling.LANCZOS)
            big = np.asarray(im, dtype=np.float32)
        top = (big.shape[0] - height) // 2
        for i in range(per_photo):
            frame = big[top:top + height, i * step:i * step + width]
            yield np.clip(frame + rng.normal(0, noise, frame.shape), 0, 255).astype(np.uint8)


def flicker_rows(inputs: np.ndarray, outputs: dict[str, np.ndarray]) -> list[dict[str, float]]:
    """Frame-to-frame ratios (all, still, moving pixels) for each output sequence.

    ``ratio`` is :func:`flicker_ratio` over each photo's run of frames (the cuts between photos are
    scene changes, not flicker), pooled over the photos.
    """
    d_in_px = np.abs(np.diff(inputs.astype(np.float32), axis=0)).mean(axis=-1)
    same = d_in_px.mean(axis=(1, 2)) < 30  # pairs of frames of one photo, not a cut
    moved = d_in_px[same] > 40
    d_in = d_in_px[same]
    rows = []
    for label, out in outputs.items():
        d_out = np.abs(np.diff(out.astype(np.float32), axis=0)).mean(axis=-1)[same]
        rows.append({"output": label, "ratio": float(d_out.mean() / d_in.mean()),
                     "still": float(d_out[~moved].mean() / d_in[~moved].mean()),
                     "moving": float(d_out[moved].mean() / max(float(d_in[moved].mean()), 1e-6))
                     if moved.any() else float("nan")})
    return rows


def bench_flicker(stylizer: Stylizer, args: argparse.Namespace, tmp: Path) -> dict:
    photos = [EVAL / n for n in CLIP_PHOTOS if (EVAL / n).is_file()] or sample_photos()[:4]
    width, height = args.width, args.height
    clip = write_clip(tmp / "pans.mp4", width=width, height=height, seconds=len(photos) * args.per_photo / 25,
                      audio=None, codec="libx264",
                      frames=pan_frames(photos, width, height, args.per_photo))
    inputs = read_frames(clip)
    t0 = time.perf_counter()
    raw = np.stack([stylizer.forward_rgb(f[None].astype(np.float32) / 255)[0] for f in inputs])
    model_s = time.perf_counter() - t0
    variants = {"raw network (palette 1)": [proc.to_uint8(r) for r in raw]}
    for palette, smooth in args.variants:
        label = f"palette {palette:g}" + (f", chroma smoothing {smooth:g}" if smooth else "")
        variants[label] = [proc.to_uint8(apply_palette(r, f.astype(np.float32) / 255, palette, smooth))
                           for r, f in zip(raw, inputs, strict=True)]
    decoded = {}
    for i, (label, frames) in enumerate(variants.items()):
        path = write_clip(tmp / f"out{i}.mp4", width=width, height=height, seconds=len(frames) / 25, audio=None,
                          codec="libx264", frames=iter(frames))
        decoded[label] = read_frames(path)
    return {"clip": {"width": width, "height": height, "frames": len(inputs), "photos": [p.name for p in photos],
                     "model_seconds": round(model_s, 1)},
            "rows": flicker_rows(inputs, decoded)}


def bench_cost(stylizer: Stylizer, args: argparse.Namespace) -> dict:
    photo = (EVAL / CLIP_PHOTOS[0]) if (EVAL / CLIP_PHOTOS[0]).is_file() else sample_photos()[0]
    with Image.open(photo) as im:
        frame = np.asarray(im.convert("RGB").resize((1280, 720), Image.Resampling.LANCZOS), np.float32) / 255
    stylizer.forward_rgb(frame[None, :64, :64])  # warm-up
    model, stage, smooth = [], [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        out = stylizer.forward_rgb(frame[None])[0]
        t1 = time.perf_counter()
        apply_palette(out, frame, DEFAULT_PALETTE, DEFAULT_CHROMA_SMOOTHING)
        t2 = time.perf_counter()
        apply_palette(out, frame, DEFAULT_PALETTE, 0.01)
        t3 = time.perf_counter()
        model.append(t1 - t0)
        stage.append(t2 - t1)
        smooth.append(t3 - t2)
    m, s, g = statistics.median(model), statistics.median(stage), statistics.median(smooth)
    return {"model_s": round(m, 4), "stage_s": round(s, 4), "stage_ratio": round(s / m, 4),
            "stage_with_smoothing_s": round(g, 4), "stage_with_smoothing_ratio": round(g / m, 4),
            "repeat": args.repeat, "device": stylizer.policy.describe()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="style (default: the zoo's default)")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=144)
    parser.add_argument("--per-photo", type=int, default=12, help="frames of pan per photo")
    parser.add_argument("--repeat", type=int, default=5, help="720p cost: alternating runs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()
    args.variants = [(DEFAULT_PALETTE, DEFAULT_CHROMA_SMOOTHING), (0.0, 0.0), (DEFAULT_PALETTE, 0.01)]
    args.variants = list(dict.fromkeys(args.variants))
    torch.set_num_threads(args.threads)
    stylizer = Stylizer(args.model, device="cpu", precision=args.precision)
    name = stylizer.info.style or "default"
    with tempfile.TemporaryDirectory() as tmp:
        flicker = bench_flicker(stylizer, args, Path(tmp))
    cost = bench_cost(stylizer, args)
    result = {"model": name, "machine": machine(), "flicker": flicker, "cost_720p": cost}
    clip = flicker["clip"]
    lines = [
        "# Colour-and-tone stage on video: flicker and cost",
        "",
        (f"Clip: made from {len(clip['photos'])} evaluation photos ({', '.join(clip['photos'])}), "
         f"{clip['width']}×{clip['height']}, {args.per_photo} frames per photo panning right 2 px per frame, "
         "Gaussian noise σ=2 levels, x264 crf 18; decoded, stylized once, each variant encoded (x264 crf 18) "
         "and decoded again. Cuts between photos are left out of the measure."),
        f"Model: `{name}`, {cost['device']}. Machine: {result['machine']}.",
        "",
        ("ratio = mean|out[t] − out[t−1]| / mean|in[t] − in[t−1]| (benchmarks/bench_video.py's measure; 1.0 = "
         "the output changes as much as the footage); still / moving = over pixels whose input changed by "
         "≤ / > 40 levels."),
        "",
        "| output | ratio (all) | still areas | moving areas |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r['output']} | {r['ratio']:.3f} | {r['still']:.3f} | {r['moving']:.3f} |" for r in flicker["rows"]]
    lines += [
        "",
        f"Cost per 1280×720 frame (median of {cost['repeat']}, model and stage alternating in one process):",
        "",
        "| | seconds | share of the model's time |",
        "|---|---|---|",
        f"| model (`Stylizer.forward_rgb`) | {cost['model_s']:.3f} | 100% |",
        f"| stage, default settings | {cost['stage_s']:.4f} | {cost['stage_ratio']:.1%} |",
        (f"| stage with chroma smoothing 0.01 | {cost['stage_with_smoothing_s']:.4f} | "
         f"{cost['stage_with_smoothing_ratio']:.1%} |"),
        "",
        "Target (issue 16): no added flicker, cost ≤ 10% of the model's time per 720p frame.",
        "",
    ]
    text = "\n".join(lines)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "colour-video.md").write_text(text)
    (RESULTS / "colour-video.json").write_text(json.dumps(result, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
