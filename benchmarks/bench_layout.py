"""Before and after a restructure: the same photos through `animegan stylize`'s default path at two
commits, side by side, in alternating blocks on one machine.

It answers two questions a layout change must answer with "no change": are the pixels the same
(every output of the working tree against the base commit's, max |diff| in 1/255), and is it as fast
(per-image stylize time and the whole CLI run, working tree / base, per block; median ratio). Each
block is a fresh child process per tree with ``PYTHONPATH`` pointing at that tree's ``src``; the base
tree is a ``git worktree`` of ``--base``. The photos are the bundled samples, so it runs anywhere.

    python benchmarks/bench_layout.py --base 415544d            # writes results/layout-<base>.md
    python benchmarks/bench_layout.py --base 415544d --rounds 5
    python benchmarks/bench_layout.py --base 415544d --deploy    # also `animegan bench --sizes 256` in each tree

``--deploy`` runs the deployment bench (the `make bench` table at 256², a subset of variants) once in
each tree and compares each variant's speed-up over eager fp32, peak memory and PSNR, which are
ratios and qualities measured inside one run and so comparable across the two.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"

CHILD = r"""
import json, sys, time
from pathlib import Path
from animegan.inference.stylizer import Stylizer
from animegan.resources import sample_photos
out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
t0 = time.perf_counter(); stylizer = Stylizer(); load = time.perf_counter() - t0
times = []
for photo in sample_photos():
    t = time.perf_counter(); stylizer.stylize_file(photo, out / (photo.stem + ".png")); times.append(time.perf_counter() - t)
import animegan
print(json.dumps({"load": load, "per_image": times, "package": animegan.__file__}))
"""


def run_child(tree: Path, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "ANIMEGAN_HOME": str(out / "home")}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(out / "lib")], env=env, capture_output=True,
                          text=True, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if not Path(result["package"]).is_relative_to(tree):  # PYTHONPATH must win over the installed package
        raise SystemExit(f"the child imported {result['package']}, not the tree {tree}")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "animegan", "-q", "stylize", str(tree / "src/animegan/samples"),
                    "-o", str(out / "cli"), "--overwrite"], env=env, check=True, capture_output=True)
    result["cli"] = time.perf_counter() - started
    return result


DEPLOY_VARIANTS = "torch-fp32,torch-bf16-cl,ort-fp32,ort-int8-static"


def run_deploy(tree: Path, out: Path) -> dict[str, dict]:
    """`animegan bench --sizes 256` in ``tree``: variant -> its row of the JSON table."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "ANIMEGAN_HOME": str(out / "home")}
    subprocess.run([sys.executable, "-m", "animegan", "-q", "bench", "--sizes", "256", "--variants", DEPLOY_VARIANTS,
                    "--out", str(out / "deploy")], env=env, check=True, capture_output=True)
    data = json.loads(next((out / "deploy").glob("deploy-*.json")).read_text())
    return {row["variant"]: row for row in data["rows"]}


def deploy_lines(head: dict[str, dict], base: dict[str, dict]) -> list[str]:
    lines = ["", "Deployment bench at 256² (`animegan bench`, one run per tree):", "",
             "| variant | × eager fp32 (head, base) | peak RSS MiB (head, base) | PSNR dB (head, base) |",
             "|---|---|---|---|"]
    for name in DEPLOY_VARIANTS.split(","):
        h, b = head.get(name), base.get(name)
        if h is None or b is None:
            lines.append(f"| {name} | missing in {'head' if h is None else 'base'} | | |")
            continue
        lines.append(f"| {name} | {h['speedup']:.2f}, {b['speedup']:.2f} | {h['peak_rss_mib']:.0f}, "
                     f"{b['peak_rss_mib']:.0f} | {h['psnr_db']:.1f}, {b['psnr_db']:.1f} |")
    return lines


def max_diff(a: Path, b: Path) -> float:
    worst = 0.0
    for file in sorted(a.glob("*.png")):
        x = np.asarray(Image.open(file), dtype=np.int16)
        y = np.asarray(Image.open(b / file.name), dtype=np.int16)
        worst = max(worst, float(np.abs(x - y).max()) if x.shape == y.shape else float("inf"))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the commit before the change")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--deploy", action="store_true", help="also compare the deployment bench at 256²")
    args = parser.parse_args()
    sha = subprocess.run(["git", "rev-parse", "--short", args.base], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.strip()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="animegan-layout-") as tmp:
        base_tree = Path(tmp) / f"base-{sha}"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(base_tree), sha], cwd=REPO, check=True)
        try:
            rows = []
            for r in range(args.rounds):
                order = [("base", base_tree), ("head", REPO)] if r % 2 == 0 else [("head", REPO), ("base", base_tree)]
                block = {name: run_child(tree, Path(tmp) / f"{name}-{r}") for name, tree in order}
                rows.append(block)
            deploy = ({name: run_deploy(tree, Path(tmp) / f"deploy-{name}") for name, tree in
                       (("base", base_tree), ("head", REPO))} if args.deploy else None)
            diff_lib = max_diff(Path(tmp) / "head-0/lib", Path(tmp) / "base-0/lib")
            diff_cli = max_diff(Path(tmp) / "head-0/cli", Path(tmp) / "base-0/cli")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=REPO, check=False)
    per_image = [statistics.median(b["head"]["per_image"]) / statistics.median(b["base"]["per_image"]) for b in rows]
    cli = [b["head"]["cli"] / b["base"]["cli"] for b in rows]
    load = [b["head"]["load"] / b["base"]["load"] for b in rows]
    lines = [
        f"# Layout change: working tree ({head}+) against {sha}, same machine, alternating blocks",
        "",
        (f"{len(rows)} blocks; each block runs both trees in fresh processes (order alternates). Photos: the "
        f"bundled samples ({len(rows[0]['head']['per_image'])}), `Stylizer()` defaults and `animegan stylize` "
        f"with no flags. Load: {os.getloadavg()[0]:.1f} (1-min average at the end)."),
        "",
        "| figure | per block (head / base) | median ratio |",
        "|---|---|---|",
        f"| stylize_file, median s/image | {', '.join(f'{x:.3f}' for x in per_image)} | {statistics.median(per_image):.3f} |",
        f"| whole `animegan stylize` run | {', '.join(f'{x:.3f}' for x in cli)} | {statistics.median(cli):.3f} |",
        f"| Stylizer() construction | {', '.join(f'{x:.3f}' for x in load)} | {statistics.median(load):.3f} |",
        "",
        f"Pixels: max |head - base| = {diff_lib:g}/255 (library), {diff_cli:g}/255 (CLI) over every output.",
        "",
        "Absolute medians, s/image (head, base) per block: "
        + "; ".join(f"{statistics.median(b['head']['per_image']):.3f}, {statistics.median(b['base']['per_image']):.3f}"
                    for b in rows),
    ]
    if deploy is not None:
        lines += deploy_lines(deploy["head"], deploy["base"])
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / f"layout-{sha}.md"
    target.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwritten: {target}")


if __name__ == "__main__":
    main()
