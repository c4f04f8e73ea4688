"""Time per 512×512 image of each shipped default style next to its CartoonGAN teacher, as JSON.

    python benchmarks/bench_styles.py --threads 2 --repeat 5 --out benchmarks/results/bench_styles.json

For every style, three paths run interleaved (teacher, ours, ours through the default Stylizer path,
then again, ``--repeat`` times) so machine noise hits all of them alike: the CartoonGAN teacher
(torch fp32 eager), our shipped style (torch fp32 eager) and our style through
``animegan.Stylizer()`` with its defaults (what ``animegan stylize`` runs: device/precision
``auto``, i.e. bf16 + channels-last on CPUs with AVX-512, fp32 elsewhere; includes pre- and
post-processing). Medians and the speed-up ratios are recorded with the 1-minute load average.
The teacher is read from ``shared/data/teachers`` when present (otherwise skipped). The AnimeGANv2
generator (random weights; its speed does not depend on them) runs interleaved too (torch fp32
eager), for the student-architecture trade-off in docs/default-styles.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from animegan.hub.loading import load_generator_file

ROOT = Path(__file__).resolve().parents[1]
TEACHERS = ROOT.parent / "shared" / "data" / "teachers" / "cartoongan"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--styles", nargs="+", default=["shinkai", "hayao", "paprika"])
    ap.add_argument("--weights", default=str(ROOT / "src" / "animegan" / "weights"))
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from animegan import Stylizer
    from animegan.compress.distill import load_teacher
    from animegan.nn import build_generator

    torch.manual_seed(0)
    animeganv2 = build_generator("animeganv2").eval()  # random weights: its speed, for the trade-off
    results = {}
    x = torch.rand(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    photo = Image.fromarray(((x[0].permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8))
    for style in args.styles:
        path = Path(args.weights) / f"{style}.safetensors"
        ours, info = load_generator_file(path)  # eval mode, fp32
        paths = {"ours_fp32": lambda m=ours: m(x)}
        stylizer = Stylizer(str(path))
        paths["ours_default_path"] = lambda s=stylizer: s.stylize(photo)
        teacher_dir = TEACHERS / style
        if teacher_dir.is_dir():
            teacher, _ = load_teacher(str(teacher_dir))
            paths = {"teacher_fp32": lambda m=teacher: m(x)} | paths
        paths["animeganv2_fp32"] = lambda m=animeganv2: m(x)
        times: dict[str, list[float]] = {k: [] for k in paths}
        load_before = os.getloadavg()[0]
        with torch.inference_mode():
            for fn in paths.values():
                fn()  # warm-up (allocator, kernels, bf16 weight cast)
            for _ in range(args.repeat):
                for k, fn in paths.items():
                    t0 = time.perf_counter()
                    fn()
                    times[k].append(time.perf_counter() - t0)
        med = {k: round(statistics.median(v), 3) for k, v in times.items()}
        row = {"arch": info.arch, "config": info.config, "params": sum(p.numel() for p in ours.parameters()),
               "file_mb": round(path.stat().st_size / 1e6, 2), "median_sec": med,
               "default_path": stylizer.policy.describe(),
               "load_avg_1m": [round(load_before, 1), round(os.getloadavg()[0], 1)]}
        if "teacher_fp32" in med:
            row["speedup_vs_teacher_fp32"] = round(med["teacher_fp32"] / med["ours_fp32"], 2)
            row["speedup_default_path_vs_teacher_fp32"] = round(med["teacher_fp32"] / med["ours_default_path"], 2)
        row["speedup_vs_animeganv2_fp32"] = round(med["animeganv2_fp32"] / med["ours_fp32"], 2)
        results[style] = row
        print(style, json.dumps(row), flush=True)
    meta = {"size": args.size, "threads": args.threads, "repeat": args.repeat, "torch": torch.__version__,
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "results": results}
    if args.out:
        Path(args.out).write_text(json.dumps(meta, indent=2) + "\n")


if __name__ == "__main__":
    main()
