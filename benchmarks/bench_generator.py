"""AnimeGANv2 generator speed on CPU: plain eager fp32 NCHW against each faster path, side by side.

Paths: ``fp32_nchw`` (plain eager, the baseline), ``fp32_channels_last``, ``bf16_channels_last``
(fp32 weights under autocast), and ``stylizer_default`` (what ``animegan stylize`` runs: the
Stylizer's torch backend under ``resolve_policy("cpu", "auto")``, bf16 weights cast once where the
CPU has fast bf16). Each runs with and without ``THP_MEM_ALLOC_ENABLE=1``
(PyTorch's huge-page allocator; it must be set before torch starts, so each setting is its own
child process). Timings interleave the paths so load changes hit them alike; the table gives the
median, its speed-up over plain eager fp32 without huge pages, and the mean absolute difference of
the output from fp32 (in 1/255 units). Random weights: the cost does not depend on them.

    python benchmarks/bench_generator.py                      # 256² 512² 1024²
    python benchmarks/bench_generator.py --sizes 256 512 --repeats 3 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
PATHS = ["fp32_nchw", "fp32_channels_last", "bf16_channels_last", "stylizer_default"]


def child(size: int, repeats: int, threads: int) -> dict:
    """Time every path at ``size`` in this process (its THP setting came from the parent)."""
    import copy

    import torch

    torch.set_num_threads(threads)
    from animegan.device import resolve_policy
    from animegan.inference.backends import TorchBackend
    from animegan.nn.animeganv2 import AnimeGANv2Generator

    torch.manual_seed(0)
    model = AnimeGANv2Generator().eval()
    model_cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
    # a smooth input, like a photo (uniform noise would be an unusual workload)
    x = torch.nn.functional.interpolate(torch.rand(1, 3, size // 16, size // 16) * 2 - 1, size=(size, size),
                                        mode="bicubic", align_corners=False).clamp(-1, 1)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    backend = TorchBackend(model, resolve_policy("cpu", "auto"))

    def run(path: str) -> torch.Tensor:
        with torch.inference_mode():
            if path == "fp32_nchw":
                return model(x)
            if path == "fp32_channels_last":
                return model_cl(x_cl)
            if path == "bf16_channels_last":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return model_cl(x_cl).float()
            return backend(x)

    outputs = {p: run(p).float().clamp(-1, 1) for p in PATHS}  # warm-up (oneDNN primitives) + outputs
    times: dict[str, list[float]] = {p: [] for p in PATHS}
    for _ in range(repeats):
        for p in PATHS:
            start = time.perf_counter()
            run(p)
            times[p].append(time.perf_counter() - start)
    ref = outputs["fp32_nchw"]
    return {"size": size, "thp": os.environ.get("THP_MEM_ALLOC_ENABLE", "0"), "policy": backend.policy.describe(),
            "paths": {p: {"times": [round(t, 3) for t in times[p]],
                          "median_s": round(statistics.median(times[p]), 3),
                          "mean_abs_diff_255": round(float((outputs[p] - ref).abs().mean()) * 127.5, 3)}
                      for p in PATHS}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--repeats", type=int, nargs="+", default=[3, 2, 1],
                        help="timed runs per path, one number per size (after one warm-up run)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.repeats[0], args.threads)))
        return
    repeats = (args.repeats + [args.repeats[-1]] * len(args.sizes))[: len(args.sizes)]
    runs = []
    started = time.perf_counter()
    for size, rep in zip(args.sizes, repeats, strict=True):
        for thp in ("0", "1"):
            env = dict(os.environ, THP_MEM_ALLOC_ENABLE=thp)
            cmd = [sys.executable, __file__, "--child", str(size), "--repeats", str(rep),
                   "--threads", str(args.threads)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
            if proc.returncode != 0:
                raise SystemExit(f"child {size} THP={thp} failed:\n{proc.stderr[-3000:]}")
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"{size}² THP={thp}: " + ", ".join(f"{p} {v['median_s']}s" for p, v in runs[-1]["paths"].items()),
                  flush=True)
    write_results(runs, args, time.perf_counter() - started)


def write_results(runs: list[dict], args: argparse.Namespace, elapsed: float) -> None:
    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.machine(),
            "cpu_capability": _capability(), "threads": args.threads, "elapsed_s": round(elapsed, 1),
            "load_avg_1m_at_end": round(os.getloadavg()[0], 1)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "generator-cpu.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=2) + "\n")
    base = {r["size"]: r["paths"]["fp32_nchw"]["median_s"] for r in runs if r["thp"] == "0"}
    lines = ["# AnimeGANv2 generator on CPU: eager fp32 NCHW vs faster paths", "",
             (f"{meta['date']}, {meta['threads']} threads, CPU capability {meta['cpu_capability']}, "
             f"load average {meta['load_avg_1m_at_end']} at the end (shared machine: absolute times swing; "
             "the paths are interleaved, so ratios are the robust part). Speed-up is against plain eager "
             "fp32 NCHW without huge pages at the same size. `stylizer_default` is `animegan stylize`'s path "
             f"({runs[0]['policy']}); the CLI runs with THP_MEM_ALLOC_ENABLE=1."), "",
             "| size | THP | path | median s | speed-up | mean abs diff vs fp32 (/255) |", "|---|---|---|---|---|---|"]
    for r in runs:
        for p, v in r["paths"].items():
            lines.append(f"| {r['size']}² | {r['thp']} | {p} | {v['median_s']} | "
                         f"{base[r['size']] / v['median_s']:.2f}× | {v['mean_abs_diff_255']} |")
    (RESULTS / "generator-cpu.md").write_text("\n".join(lines) + "\n")


def _capability() -> str:
    try:
        import torch

        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # noqa: BLE001
        return "unknown"


if __name__ == "__main__":
    main()
