"""Photos on Ray against plain `animegan stylize`, on the same photos, in one run (issue 15).

Three commands over the same 48 photos with the shipped default style, in alternating blocks
(each round runs every command once, in a rotated order, into a fresh output folder):

- ``local``: ``animegan stylize PHOTOS -o OUT`` (torch on every CPU of the machine);
- ``ray-1``: ``... --ray local --workers 1 --cpus-per-worker N`` (one actor, all N CPUs: what is
  left is Ray's own cost: starting a local Ray, the actor, scheduling, moving rows);
- ``ray-2``: ``... --ray local --workers 2 --cpus-per-worker N/2`` (two actors sharing the CPUs).

Each is timed as a whole command (wall clock, child process), and its own summary line gives the
time inside the command (``stylize_seconds``). Reported: median wall time and throughput (photos/s)
per command, and the ratios: Ray's overhead at one worker (ray-1 wall / local wall) and the scaling
to two workers (ray-2 throughput / ray-1 throughput). Then, apart: the time to start a local Ray
(``ray.init`` on 127.0.0.2 until the first actor answers) and its idle memory (RSS and PSS summed
over Ray's processes, idle, with that one actor alive). Loopback only: node IP 127.0.0.2.

    python benchmarks/bench_ray.py                      # 48 photos made from the bundled samples
    python benchmarks/bench_ray.py --photos ../shared/data/eval/animegan_test   # its first 48
    python benchmarks/bench_ray.py --quick              # a smoke run: 6 photos, 1 round, temp results

Writes ``benchmarks/results/ray-<date>.md`` and ``.json`` (``--quick``: a temporary folder, printed).
Record figures only on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
NODE_IP = "127.0.0.2"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")

START_CHILD = r"""
import json, os, sys, time
from pathlib import Path
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
t0 = time.perf_counter()
import ray
t_import = time.perf_counter()
ray.init(_node_ip_address=sys.argv[1], include_dashboard=False, num_cpus=int(sys.argv[2]), logging_level="ERROR",
         log_to_driver=False)
t_init = time.perf_counter()

@ray.remote(num_cpus=1)
class Probe:
    def ping(self):
        return os.getpid()

actor = Probe.remote()
ray.get(actor.ping.remote())
t_actor = time.perf_counter()
time.sleep(float(sys.argv[3]))  # idle

def children(root):
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, grew = {root}, True
    while grew:
        more = {p for p, q in parents.items() if q in found} - found
        found |= more
        grew = bool(more)
    return found - {root}

def memory(pid):
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss, pss

procs = []
for pid in sorted(children(os.getpid())):
    try:
        name = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        continue
    rss, pss = memory(pid)
    procs.append({"pid": pid, "name": os.path.basename(name)[:60], "rss": rss, "pss": pss})
driver_rss, driver_pss = memory(os.getpid())
ray.shutdown()
print(json.dumps({"import_s": t_import - t0, "init_s": t_init - t_import, "first_actor_s": t_actor - t_init,
                  "start_to_actor_s": t_actor - t_import, "processes": procs,
                  "driver_rss": driver_rss, "driver_pss": driver_pss}))
"""


def machine() -> dict:
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {"cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "torch": torch.__version__, "ray": _ray_version(),
            "load_average_at_start": round(load, 2)}


def _ray_version() -> str:
    import ray

    return ray.__version__


def make_photos(folder: Path, count: int, source: Path | None) -> list[Path]:
    """``count`` distinct photos in ``folder``: the first ones of ``source``, or crops of the bundled samples."""
    folder.mkdir(parents=True, exist_ok=True)
    if source is not None:
        found = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())[:count]
        if len(found) < count:
            raise SystemExit(f"--photos {source}: holds {len(found)} images, {count} needed")
        made = []
        for path in found:
            target = folder / path.name
            target.write_bytes(path.read_bytes())
            made.append(target)
        return made
    from animegan.resources import sample_photos

    samples = [Image.open(p).convert("RGB") for p in sample_photos()]
    made = []
    for i in range(count):  # distinct crops, all resized to one size (so every command does the same work)
        image = samples[i % len(samples)]
        w, h = image.size
        side_w, side_h = int(w * 0.8), int(h * 0.8)
        step = i // len(samples)
        left = (step * 7) % max(1, w - side_w)
        top = (step * 5) % max(1, h - side_h)
        crop = image.crop((left, top, left + side_w, top + side_h)).resize((384, 288))
        target = folder / f"photo{i:02d}.jpg"
        crop.save(target, quality=92)
        made.append(target)
    return made


def commands(cpus: int) -> dict[str, list[str]]:
    half = max(cpus / 2, 0.5)
    return {"local": [],
            "ray-1": ["--ray", "local", "--workers", "1", "--cpus-per-worker", f"{cpus:g}"],
            "ray-2": ["--ray", "local", "--workers", "2", "--cpus-per-worker", f"{half:g}"]}


_SUMMARY = re.compile(r"done (\d+), skipped (\d+) \(already there\), failed (\d+) in ([\d.]+) s")


def run_once(photos: Path, out: Path, extra: list[str], count: int) -> dict:
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    args = [sys.executable, "-m", "animegan", "stylize", str(photos), "-o", str(out), *extra]
    start = time.perf_counter()
    run = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    found = _SUMMARY.search(run.stderr)
    if run.returncode != 0 or found is None or int(found.group(1)) != count:
        raise SystemExit(f"{' '.join(args)} failed (exit {run.returncode}):\n{run.stderr[-2000:]}")
    return {"wall_s": wall, "in_command_s": float(found.group(4)), "photos_per_s": count / wall}


def ray_start(cpus: int, idle_s: float) -> dict:
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    run = subprocess.run([sys.executable, "-c", START_CHILD, NODE_IP, str(cpus), str(idle_s)],
                         capture_output=True, text=True, env=env, check=False, timeout=300)
    if run.returncode != 0:
        raise SystemExit(f"starting a local Ray failed:\n{run.stderr[-2000:]}")
    data = json.loads(run.stdout.strip().splitlines()[-1])
    data["rss_sum"] = sum(p["rss"] for p in data["processes"])
    data["pss_sum"] = sum(p["pss"] for p in data["processes"])
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, help="a folder: its first --count images (default: bundled samples)")
    parser.add_argument("--count", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3, help="alternating blocks (each command once per round)")
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1, help="CPUs of the local Ray")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before memory is read")
    parser.add_argument("--quick", action="store_true", help="smoke run: 6 photos, 1 round, results in a temp folder")
    parser.add_argument("--results", type=Path, help="where the .md/.json go (default: benchmarks/results)")
    args = parser.parse_args()
    if args.quick:
        args.count, args.rounds, args.idle = min(args.count, 6), 1, 1.0
    results_dir = args.results or (Path(tempfile.mkdtemp(prefix="bench-ray-")) if args.quick else RESULTS)

    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        photos = Path(tmp) / "photos"
        make_photos(photos, args.count, args.photos)
        cmds = commands(args.cpus)
        names = list(cmds)
        times: dict[str, list[dict]] = {name: [] for name in names}
        for rnd in range(args.rounds):
            order = names[rnd % len(names):] + names[:rnd % len(names)]
            for name in order:
                out = Path(tmp) / f"out-{name}-{rnd}"
                result = run_once(photos, out, cmds[name], args.count)
                times[name].append(result)
                print(f"round {rnd + 1} {name:6s} wall {result['wall_s']:.1f} s, "
                      f"{result['photos_per_s']:.2f} photos/s (in command {result['in_command_s']:.1f} s)", flush=True)
        start = ray_start(args.cpus, args.idle)

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in times[name])

    summary = {name: {"wall_s": med(name, "wall_s"), "in_command_s": med(name, "in_command_s"),
                      "photos_per_s": args.count / med(name, "wall_s")} for name in names}
    ratios = {"ray1_over_local_wall": summary["ray-1"]["wall_s"] / summary["local"]["wall_s"],
              "ray2_over_ray1_throughput": summary["ray-2"]["photos_per_s"] / summary["ray-1"]["photos_per_s"],
              "ray2_over_local_throughput": summary["ray-2"]["photos_per_s"] / summary["local"]["photos_per_s"]}
    date = time.strftime("%Y%m%d")
    record = {"date": date, "machine": machine(), "photos": args.count,
              "photo_source": str(args.photos) if args.photos else "bundled samples, 384x288 crops",
              "model": "shipped default style", "rounds": args.rounds, "commands": cmds,
              "runs": times, "median": summary, "ratios": ratios, "ray_start": start, "quick": args.quick}

    mib = 1024 * 1024
    host = ", ".join(f"{key} {value}" for key, value in record["machine"].items())
    rerun = "python benchmarks/bench_ray.py" + (f" --photos {args.photos}" if args.photos else "")
    lines = [f"# Photos on Ray vs plain `animegan stylize` ({date})", "",
             (f"Machine: {host}. {args.count} photos ({record['photo_source']}), default style, "
              f"{args.rounds} rounds in alternating blocks; every command a fresh process into a fresh folder."),
             f"Rerun: `{rerun}`.", "",
             "| command | flags | median wall (s) | photos/s | in command (s) |", "|---|---|---|---|---|"]
    for name in names:
        s = summary[name]
        lines.append(f"| {name} | `{' '.join(cmds[name]) or '(none)'}` | {s['wall_s']:.1f} | "
                     f"{s['photos_per_s']:.2f} | {s['in_command_s']:.1f} |")
    overhead = f"ray-1 wall / local wall = **{ratios['ray1_over_local_wall']:.2f}**"
    scaling = (f"ray-2 / ray-1 throughput = **{ratios['ray2_over_ray1_throughput']:.2f}** "
               f"(ray-2 / local: {ratios['ray2_over_local_throughput']:.2f})")
    started = (f"{start['init_s']:.1f} s; to the first actor's answer: {start['start_to_actor_s']:.1f} s "
               f"(import ray: {start['import_s']:.1f} s)")
    idle = (f"{len(start['processes'])} Ray processes, RSS sum {start['rss_sum'] / mib:.0f} MiB, "
            f"PSS sum {start['pss_sum'] / mib:.0f} MiB (driver besides: RSS {start['driver_rss'] / mib:.0f} MiB)")
    lines += ["", f"- Ray overhead at one worker: {overhead}", f"- scaling to two workers: {scaling}",
              f"- local Ray start (`ray.init` on {NODE_IP}, {args.cpus} CPUs, no dashboard): {started}",
              f"- idle memory after {args.idle:g} s, one actor alive: {idle}", ""]
    if args.quick:
        lines.insert(1, "\n**Smoke run (--quick): not a measurement.**")
    results_dir.mkdir(parents=True, exist_ok=True)
    md, js = results_dir / f"ray-{date}.md", results_dir / f"ray-{date}.json"
    md.write_text("\n".join(lines))
    js.write_text(json.dumps(record, indent=1))
    print("\n".join(lines))
    print(f"wrote {md} and {js}")


if __name__ == "__main__":
    main()
