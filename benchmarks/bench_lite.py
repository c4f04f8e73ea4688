"""The lite style against plain AnimeGANv2 and its full-size sibling: speed at 512², and distance.

    python benchmarks/bench_lite.py                       # speed (512²) + distance on the bundled samples
    python benchmarks/bench_lite.py --photos ../shared/data/eval/animegan_test --out benchmarks/results/lite
    python benchmarks/bench_lite.py --quick               # what `make bench` runs: speed only, 3 rounds

**Speed** (issue 17, target 1: the lite style at >= 10x plain eager fp32 AnimeGANv2 at 512²). Every path
runs once per round, in one process, rounds interleaved so machine noise hits them alike; medians:

- ``animeganv2_fp32_eager``: the reference, the AnimeGANv2 generator (published-architecture, the
  benchmark's shinkai weights) in plain eager fp32, NCHW;
- ``full_net_fp32``: the full-size sibling's network (``shinkai``, base 32, 8 blocks), eager fp32;
- ``narrow_net_fp32``: base 12 with the sibling's 8 blocks (what narrowing alone buys);
- ``lite_net_fp32``: the lite network (base 12, 4 blocks: narrowing + fewer blocks), eager fp32 NCHW;
- ``lite_net_channels_last``: the same in channels-last memory layout;
- ``full_default_path`` / ``lite_default_path``: ``Stylizer(name).stylize(photo)`` at default settings,
  what ``animegan stylize`` runs per image (precision ``auto``, pre/post-processing, the colour stage).

**Distance** to the full-size sibling on held-out photos (never used in training), both at default
settings and as raw network outputs (``--palette 1``): mean absolute difference /255, and the worst
photo. The colour figures of both styles (and the contact sheet) come from ``animegan eval``::

    animegan eval shinkai shinkai-lite --photos ../shared/data/eval/animegan_test -o benchmarks/results/lite-eval
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
ANIMEGANV2 = ROOT / "benchmarks" / "models" / "animeganv2-shinkai.safetensors"


def _timer(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def speed(lite: str, full: str, size: int, rounds: int) -> dict:
    from animegan import Stylizer
    from animegan.hub.loading import load_generator_file
    from animegan.inference.stylizer import load_model
    from animegan.nn import build_generator

    torch.manual_seed(0)
    v2, _ = load_generator_file(ANIMEGANV2) if ANIMEGANV2.is_file() else (build_generator("animeganv2").eval(), None)
    full_net, _ = load_model(full)
    lite_net, lite_info = load_model(lite)
    narrow = build_generator(lite_info.arch, {**lite_info.config, "n_res_blocks": full_net.config.n_res_blocks}).eval()
    lite_cl = build_generator(lite_info.arch, lite_info.config).eval()
    lite_cl.load_state_dict(lite_net.state_dict())
    lite_cl = lite_cl.to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    x_cl = x.contiguous(memory_format=torch.channels_last)
    photo = Image.fromarray(((x[0].permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8))
    full_s, lite_s = Stylizer(full), Stylizer(lite)
    paths = {
        "animeganv2_fp32_eager": lambda: v2(x),
        "full_net_fp32": lambda: full_net(x),
        "narrow_net_fp32": lambda: narrow(x),
        "lite_net_fp32": lambda: lite_net(x),
        "lite_net_channels_last": lambda: lite_cl(x_cl),
        "full_default_path": lambda: full_s.stylize(photo),
        "lite_default_path": lambda: lite_s.stylize(photo),
    }
    times: dict[str, list[float]] = {k: [] for k in paths}
    with torch.inference_mode():
        for fn in paths.values():  # warm-up: first-call allocations and kernel selection
            fn()
        for _ in range(rounds):
            for name, fn in paths.items():
                times[name].append(_timer(fn))
    med = {k: statistics.median(v) for k, v in times.items()}
    ref = med["animeganv2_fp32_eager"]
    return {"size": size, "rounds": rounds, "policy": lite_s.policy.describe(),
            "median_sec": {k: round(v, 4) for k, v in med.items()},
            "speedup_vs_animeganv2_fp32": {k: round(ref / v, 2) for k, v in med.items()},
            "lite_vs_full_default_path": round(med["full_default_path"] / med["lite_default_path"], 2)}


def distance(lite: str, full: str, photos: list[Path], max_side: int) -> dict:
    from animegan import Stylizer
    from animegan.evaluation.quality import load_photo
    from animegan.inference import processing as proc
    from animegan.inference.options import StylizeOptions

    out: dict = {"photos": len(photos), "max_side": max_side}
    for label, palette in (("default", None), ("raw", 1.0)):
        kw = {} if palette is None else {"options": StylizeOptions(palette=palette)}
        full_s, lite_s = Stylizer(full, **kw), Stylizer(lite, **kw)
        diffs = []
        for p in photos:
            img = proc.to_uint8(load_photo(p, max_side))
            a = np.asarray(full_s.stylize(Image.fromarray(img)), dtype=np.float32)
            b = np.asarray(lite_s.stylize(Image.fromarray(img)), dtype=np.float32)
            diffs.append(float(np.abs(a - b).mean()) / 255)
        out[label] = {"mean_abs": round(statistics.fmean(diffs), 4), "worst": round(max(diffs), 4)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lite", default="shinkai-lite")
    ap.add_argument("--full", default="shinkai")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--photos", default="", help="held-out photos for the distance (default: the bundled samples)")
    ap.add_argument("--max-side", type=int, default=512)
    ap.add_argument("--quick", action="store_true", help="speed only, 3 rounds")
    ap.add_argument("--out", default="", help="write <out>.json and <out>.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from animegan.evaluation.quality import find_photos
    from animegan.resources import samples_dir

    record = {"date": datetime.now().isoformat(timespec="minutes"), "machine": platform.processor() or platform.machine(),
              "cores": os.cpu_count(), "threads": args.threads, "torch": torch.__version__,
              "THP_MEM_ALLOC_ENABLE": os.environ.get("THP_MEM_ALLOC_ENABLE", ""),
              "load_avg_before": os.getloadavg()[0]}
    record["speed"] = speed(args.lite, args.full, args.size, 3 if args.quick else args.rounds)
    if not args.quick:
        photos = find_photos(args.photos or samples_dir())
        record["distance"] = distance(args.lite, args.full, photos, args.max_side)
        record["photos_dir"] = args.photos or "bundled samples"
    record["load_avg_after"] = os.getloadavg()[0]
    s = record["speed"]
    lines = [f"# {args.lite} against plain AnimeGANv2 and {args.full}", "",
             (f"{record['date']}, {record['cores']} cores, {args.threads} threads, load average "
             f"{record['load_avg_before']:.1f} → {record['load_avg_after']:.1f}, default path: {s['policy']}, "
             f"{s['size']}², {s['rounds']} interleaved rounds, medians."), "",
             "| path | median s | speed-up vs plain eager fp32 AnimeGANv2 |", "|---|---|---|"]
    lines += [f"| {k} | {v:.3f} | {s['speedup_vs_animeganv2_fp32'][k]:.2f}× |" for k, v in s["median_sec"].items()]
    if "distance" in record:
        d = record["distance"]
        lines += ["", (f"Distance to {args.full} on {d['photos']} photos ({record['photos_dir']}), max side "
                      f"{d['max_side']}, mean abs /255 (worst photo): default settings {d['default']['mean_abs']:.4f} "
                      f"({d['default']['worst']:.4f}); raw network {d['raw']['mean_abs']:.4f} ({d['raw']['worst']:.4f}).")]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out + ".json").write_text(json.dumps(record, indent=1) + "\n")
        Path(args.out + ".md").write_text(text)


if __name__ == "__main__":
    main()
