"""Time per 512×512 image of each shipped default style (torch, CPU, fp32), written as JSON.

    python benchmarks/bench_styles.py --threads 2 --repeat 2 --out benchmarks/results/bench_styles.json

The machine is shared: the 1-minute load average before and after is recorded with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from animegan.hub.weights import load_generator_file

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--styles", nargs="+", default=["hayao", "shinkai", "paprika"])
    ap.add_argument("--weights", default=str(ROOT / "src" / "animegan" / "weights"))
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    x = torch.rand(1, 3, args.size, args.size) * 2 - 1
    for style in args.styles:
        path = Path(args.weights) / f"{style}.safetensors"
        model, info = load_generator_file(path)
        load_before = os.getloadavg()[0]
        with torch.no_grad():
            model(x[:, :, :64, :64])  # warm-up at a small size (allocator, kernels)
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                model(x)
                times.append(time.perf_counter() - t0)
        results[style] = {"arch": info.arch, "params": sum(p.numel() for p in model.parameters()),
                          "file_mb": round(path.stat().st_size / 1e6, 1), "sec_min": round(min(times), 2),
                          "sec_mean": round(sum(times) / len(times), 2),
                          "load_avg_1m": [round(load_before, 1), round(os.getloadavg()[0], 1)]}
        print(style, json.dumps(results[style]), flush=True)
    meta = {"size": args.size, "threads": args.threads, "repeat": args.repeat, "torch": torch.__version__,
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "results": results}
    if args.out:
        Path(args.out).write_text(json.dumps(meta, indent=2) + "\n")


if __name__ == "__main__":
    main()
