"""Peak memory of stylizing a 3840×2160 image through the default Stylizer path (tiled automatically).

Each case runs in a child process under ``/usr/bin/time -v`` and reports its maximum resident set
size; the requirement is < 3 GB for 4K. Random AnimeGANv2 weights (the cost does not depend on them).

    python benchmarks/bench_memory.py            # writes benchmarks/results/memory-cpu.{json,md}
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

CHILD = r"""
import sys, time, numpy as np, torch
torch.set_num_threads(int(sys.argv[3]))
from PIL import Image
from animegan.inference.options import StylizeOptions
from animegan.inference.stylizer import Stylizer
from animegan.nn.animeganv2 import AnimeGANv2Generator
width, height = map(int, sys.argv[1].split("x"))
torch.manual_seed(0)
rng = np.random.default_rng(0)
img = Image.fromarray(rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8)).resize(
    (width, height), Image.Resampling.BICUBIC)
stylizer = Stylizer(AnimeGANv2Generator(), precision=sys.argv[2])
start = time.perf_counter()
out = stylizer.stylize(img, StylizeOptions())
assert out.size == img.size
print(f"RESULT seconds={time.perf_counter() - start:.1f} policy={stylizer.policy.describe()}")
"""


def run_case(size: str, precision: str, threads: int) -> dict:
    env = dict(os.environ, THP_MEM_ALLOC_ENABLE=os.environ.get("THP_MEM_ALLOC_ENABLE", "1"))
    cmd = ["/usr/bin/time", "-v", sys.executable, "-c", CHILD, size, precision, str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{size} {precision}: child failed\n{proc.stdout}\n{proc.stderr[-3000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    result = re.search(r"RESULT seconds=([\d.]+) policy=(.*)", proc.stdout)
    return {"size": size, "precision": precision, "policy": result.group(2).strip(),
            "seconds": float(result.group(1)), "peak_rss_gb": round(rss_kb / 1024**2, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["3840x2160"])
    parser.add_argument("--precisions", nargs="+", default=["auto"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        for precision in args.precisions:
            row = run_case(size, precision, args.threads)
            print(json.dumps(row), flush=True)
            rows.append(row)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "cpu": platform.processor() or platform.machine(),
            "threads": args.threads, "thp": os.environ.get("THP_MEM_ALLOC_ENABLE", "1"),
            "note": "peak RSS of the whole process (/usr/bin/time -v), default options (auto tiling)"}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "memory-cpu.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = ["# Peak memory, stylizing through the default Stylizer path", "",
             f"{meta['date']}, {meta['threads']} threads, THP_MEM_ALLOC_ENABLE={meta['thp']}. {meta['note']}.", "",
             "| size | precision | policy | seconds | peak RSS (GB) |", "|---|---|---|---|---|"]
    lines += [f"| {r['size']} | {r['precision']} | {r['policy']} | {r['seconds']} | {r['peak_rss_gb']} |"
              for r in rows]
    (RESULTS / "memory-cpu.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
