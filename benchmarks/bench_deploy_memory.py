"""Peak memory of the deployment commands as a user runs them: `animegan quantize` and `animegan bench`.

Each command runs as a child under ``/usr/bin/time -v`` from an empty temporary folder; the figure
is its "Maximum resident set size" (the largest single process of the command: bench runs every
variant in its own process). ``--src`` runs an older source tree instead (``git archive <rev> |
tar -x -C /tmp/old``, then ``--src /tmp/old/src``) for a before/after comparison.

    python benchmarks/bench_deploy_memory.py                      # the bundled sample photos
    python benchmarks/bench_deploy_memory.py --calib ../shared/data/photos --photo ../shared/data/eval/animegan_test
    python benchmarks/bench_deploy_memory.py --cases quantize --label before --src /tmp/old/src

Appends one JSON line per case to benchmarks/results/deploy-memory.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def peak_rss(args: list[str], cwd: Path, src: str | None) -> tuple[int, float, int, str]:
    """(max RSS in KiB, wall seconds, exit status, last output line) of ``python -m animegan ARGS``."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "animegan", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    out_lines = [line for line in (proc.stdout + proc.stderr).splitlines()
                 if line.strip() and not line.startswith(("\t", "WARNING:root"))]
    return int(match.group(1)) if match else -1, seconds, proc.returncode, (out_lines or [""])[-1][:200]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="quantize,bench", help="quantize and/or bench")
    parser.add_argument("--model", default="shinkai", help="zoo name or weights file (quantize exports it first)")
    parser.add_argument("--calib", default=None, help="calibration photos (default: the bundled samples)")
    parser.add_argument("--photo", default=None, help="bench quality photo folder (default: the bundled samples)")
    parser.add_argument("--bench-model", default=None, help="bench -m (default: none given)")
    parser.add_argument("--sizes", default="256")
    parser.add_argument("--src", default=None, help="run this source tree (PYTHONPATH) instead of the installed one")
    parser.add_argument("--label", default="current")
    parser.add_argument("--out", type=Path, default=RESULTS / "deploy-memory.jsonl")
    args = parser.parse_args()
    calib = ["--calib", str(Path(args.calib).resolve())] if args.calib else []
    photo = ["--photo", str(Path(args.photo).resolve())] if args.photo else []
    model = str(Path(args.model).resolve()) if Path(args.model).exists() else args.model
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        for case in [c.strip() for c in args.cases.split(",") if c.strip()]:
            if case == "quantize":
                fp32 = cwd / "fp32.onnx"
                if not fp32.exists():  # the export's memory is not what is measured here
                    export = ["export", "onnx", model, "-o", str(fp32), "--count", "1", "--sizes", "64x64"]
                    if args.calib:
                        export += ["--images", str(Path(args.calib).resolve())]
                    peak_rss(export, cwd, None)
                command = ["quantize", str(fp32), "-o", str(cwd / "int8.onnx"), *calib]
            elif case == "bench":
                command = ["bench", "--sizes", args.sizes, *calib, *photo]
                if args.bench_model:
                    command += ["-m", args.bench_model]
            else:
                raise SystemExit(f"--cases: unknown case {case!r}")
            kib, seconds, status, last = peak_rss(command, cwd, args.src)
            row = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "label": args.label,
                   "case": case, "command": "animegan " + " ".join(command).replace(str(cwd) + "/", ""),
                   "peak_rss_mib": round(kib / 1024), "seconds": round(seconds, 1), "exit": status,
                   "load_avg": round(os.getloadavg()[0], 1), "last_line": last}
            print(json.dumps(row), flush=True)
            rows.append(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
