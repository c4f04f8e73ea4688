"""Start-up of `animegan stylize one.jpg -o out/`: the whole process against the image's own stylize time.

One process, one run, side by side, in alternating blocks (so both sides see the same machine load):

* whole process: ``animegan stylize one.jpg -o out/`` (a fresh process each time, a fresh output
  folder, the default style, a 512² JPEG made from a bundled sample photo), wall time from spawn to exit;
* in-process: a Stylizer built once here (the shipped default, same threads and allocator setting as
  the command), ``stylize`` of the same decoded photo.

Start-up = median(whole process) − median(in-process stylize); target ≤ 1.0 s (exit status 1 above
``--limit-s``). Also records where the start-up goes: the interpreter alone, ``import torch`` alone,
and ``python -X importtime`` of the command itself (the heaviest packages, and any package imported
that `stylize` never uses). Writes benchmarks/results/startup-<date>.md and .json.

    .venv/bin/python benchmarks/bench_startup.py [--quick] [--blocks 4] [--n 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

# the command sets this before torch loads (cli/main.py); the in-process side must run the same allocator
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

import torch
from _record import write_record

REPO = Path(__file__).resolve().parents[1]

#: packages `animegan stylize` (local, torch backend) has no use for: importing one is start-up wasted
UNUSED_BY_STYLIZE = ("animegan.training", "animegan.video", "animegan.server", "animegan.compress",
                     "animegan.evaluation", "animegan.cli.train", "animegan.cli.data", "animegan.cli.distill",
                     "animegan.cli.video", "animegan.cli.serve", "animegan.cli.deploy", "animegan.cli.eval",
                     "animegan.cli.models", "animegan.inference.faces", "animegan.inference.onnx_backend",
                     "fastapi", "uvicorn", "starlette", "av", "onnx", "onnxruntime", "ray", "pyarrow", "cv2",
                     "scipy", "matplotlib", "pandas", "torchvision", "httpx", "tomllib", "tomli")


def command() -> list[str]:
    script = Path(sys.executable).with_name("animegan")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "animegan"]


def make_photo(folder: Path, side: int) -> Path:
    from PIL import Image

    from animegan.resources import sample_photos

    with Image.open(sample_photos()[0]) as img:
        target = folder / "one.jpg"
        img.convert("RGB").resize((side, side), Image.Resampling.LANCZOS).save(target, quality=95)
    return target


def whole_process(photo: Path, out: Path, env: dict[str, str]) -> float:
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    done = subprocess.run([*command(), "stylize", str(photo), "-o", f"{out}/"], env=env, check=False,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0 or not any(out.iterdir()):
        raise SystemExit(f"animegan stylize failed ({done.returncode}): {done.stderr.strip()}")
    return seconds


def timed_run(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def import_profile(photo: Path, out: Path, env: dict[str, str]) -> dict:
    """``-X importtime`` of the real command: total, heaviest top-level packages, unused ones imported."""
    shutil.rmtree(out, ignore_errors=True)
    argv = [sys.executable, "-X", "importtime", "-c",
            "import sys; from animegan.cli.main import main; sys.argv[0] = 'animegan'; main()",
            "stylize", str(photo), "-o", f"{out}/"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    rows = []  # (self µs, cumulative µs, depth, module)
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            rows.append((int(match[1]), int(match[2]), len(match[3]) // 2, match[4]))
    total_self = sum(r[0] for r in rows)
    by_top: dict[str, int] = defaultdict(int)
    for self_us, _, _, name in rows:
        by_top[name.split(".")[0]] += self_us
    modules = [r[3] for r in rows]
    unused = sorted({m for m in modules for u in UNUSED_BY_STYLIZE if m == u or m.startswith(u + ".")})
    ours = [(m, c) for _, c, _, m in rows if m.startswith("animegan")]
    return {"total_import_s": round(total_self / 1e6, 3), "modules": len(rows),
            "heaviest_packages_ms": {k: round(v / 1000, 1) for k, v in
                                     sorted(by_top.items(), key=lambda kv: -kv[1])[:12]},
            "animegan_modules": [m for m, _ in ours],
            "unused_imported": unused}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 blocks of 2 (make bench)")
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--n", type=int, default=3, help="runs per block on each side")
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--limit-s", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--no-record", action="store_true", help="print only (make bench --quick)")
    args = parser.parse_args()
    if args.quick:
        args.blocks, args.n = 2, 2

    from animegan.inference.stylizer import Stylizer
    from animegan.io.images import open_image

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = {**os.environ, "ANIMEGAN_HOME": str(tmp / "home")}
        photo = make_photo(tmp, args.side)
        out = tmp / "out"
        image = open_image(photo)
        stylizer = Stylizer(None)
        stylizer.stylize(image)  # warm: the in-process figure is the steady per-image time
        process_s: list[list[float]] = []
        inproc_s: list[list[float]] = []
        for block in range(args.blocks):
            process_s.append([whole_process(photo, out, env) for _ in range(args.n)])
            row = []
            for _ in range(args.n):
                t0 = time.perf_counter()
                stylizer.stylize(image)
                row.append(time.perf_counter() - t0)
            inproc_s.append(row)
            print(f"block {block + 1}: whole process {statistics.median(process_s[-1]):.2f} s, "
                  f"in-process stylize {statistics.median(row):.2f} s", flush=True)
        python_s = statistics.median(timed_run([sys.executable, "-c", "pass"], env) for _ in range(3))
        torch_s = statistics.median(timed_run([sys.executable, "-c", "import torch"], env) for _ in range(3))
        help_s = statistics.median(timed_run([*command(), "--help"], env) for _ in range(3))
        stylize_help_s = statistics.median(timed_run([*command(), "stylize", "--help"], env) for _ in range(3))
        imports = import_profile(photo, out, env)

    whole = statistics.median(v for b in process_s for v in b)
    own = statistics.median(v for b in inproc_s for v in b)
    startup = whole - own
    ok = startup <= args.limit_s
    record = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(), "side": args.side, "blocks": args.blocks, "n": args.n,
        "load_avg_before": round(load_before, 2), "load_avg_after": round(os.getloadavg()[0], 2),
        "model": f"{stylizer.info.style} ({stylizer.info.arch}), {stylizer.policy.describe()}",
        "whole_process_median_s": round(whole, 3), "in_process_stylize_median_s": round(own, 3),
        "startup_s": round(startup, 3), "limit_s": args.limit_s, "ok": ok,
        "python_alone_s": round(python_s, 3), "import_torch_process_s": round(torch_s, 3),
        "help_process_s": round(help_s, 3), "stylize_help_process_s": round(stylize_help_s, 3), "imports": imports,
        "process_blocks_s": [[round(v, 3) for v in b] for b in process_s],
        "in_process_blocks_s": [[round(v, 3) for v in b] for b in inproc_s],
    }
    lines = report(record)
    print("\n".join(lines))
    if not args.no_record:
        write_record(args.out, f"startup-{time.strftime('%Y%m%d-%H%M')}", record, lines)
    if not ok:
        print(f"FAIL: start-up {startup:.2f} s over the image's own stylize time (limit {args.limit_s:g} s)")
    return 0 if ok else 1


def report(r: dict) -> list[str]:
    imp = r["imports"]
    blocks = "\n".join(f"| {i + 1} | {statistics.median(p):.2f} | {statistics.median(s):.2f} |"
                       for i, (p, s) in enumerate(zip(r["process_blocks_s"], r["in_process_blocks_s"], strict=True)))
    heavy = ", ".join(f"{k} {v:.0f}" for k, v in imp["heaviest_packages_ms"].items())
    return [
        f"# Start-up of `animegan stylize one.jpg -o out/` ({r['date']})",
        "",
        (f"Recorded by `benchmarks/bench_startup.py`: {r['machine']}, {r['cpus']} CPUs, torch {r['torch']} "
         f"({r['cpu_capability']}), {r['threads']} threads; load average {r['load_avg_before']} before, "
         f"{r['load_avg_after']} after. One run. Model: {r['model']}; a {r['side']}² JPEG."),
        (f"{r['blocks']} blocks of {r['n']} whole-process runs (fresh process and output folder each) alternating "
         f"with blocks of {r['n']} in-process `Stylizer.stylize` calls of the same photo (Stylizer built once, warm)."),
        "",
        "| | value |",
        "|---|---|",
        f"| whole process, median | {r['whole_process_median_s']:.3f} s |",
        f"| in-process stylize, median | {r['in_process_stylize_median_s']:.3f} s |",
        (f"| **start-up** (difference; limit {r['limit_s']:g} s) | **{r['startup_s']:.3f} s** "
        f"({'ok' if r['ok'] else 'OVER'}) |"),
        f"| `python -c pass` | {r['python_alone_s']:.3f} s |",
        f"| `python -c 'import torch'` | {r['import_torch_process_s']:.3f} s |",
        f"| `animegan --help` (imports every command module) | {r['help_process_s']:.3f} s |",
        f"| `animegan stylize --help` (imports the stylize command only) | {r['stylize_help_process_s']:.3f} s |",
        (f"| imports of the command (`-X importtime`, sum of self times) | {imp['total_import_s']:.3f} s, "
        f"{imp['modules']} modules |"),
        "",
        f"Heaviest packages imported (self ms): {heavy}.",
        "",
        "Imported by `stylize` without being used: " + (", ".join(imp["unused_imported"]) or "none") + ".",
        "",
        "| block | whole process median s | in-process stylize median s |",
        "|---|---|---|",
        blocks,
    ]


if __name__ == "__main__":
    sys.exit(main())
