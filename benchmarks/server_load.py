"""Overload and memory of `animegan serve`: bursts of concurrent requests against a real uvicorn process.

Starts the server (concurrency 1, queue 8) with a random AnimeGANv2 generator, warms it up, then fires
``--bursts`` bursts of ``--requests`` simultaneous POST /api/v1/stylize and records status codes,
latencies and the server's RSS (from /proc) after each burst. Writes benchmarks/results/server-load.md.

    .venv/bin/python benchmarks/server_load.py [--bursts 5] [--requests 30] [--side 192]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "server"))
from server_helpers import burst, encoded, make_model, photo, rss_bytes, start_server, stop_server, wait_idle

MiB = 1024 * 1024


class PeakSampler:
    """Samples a process's RSS every 20 ms on a thread; :meth:`stop` returns the largest value seen."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, rss_bytes(pid), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--side", type=int, default=192)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "server-load.md")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        server = start_server(tmp, make_model(tmp), "--concurrency", "1", "--queue", "8")
        try:
            data = encoded(photo(args.side, args.side, seed=7))
            with server.client() as client:
                t0 = time.perf_counter()
                for _ in range(3):
                    assert client.post("/api/v1/stylize", files={"image": ("w.png", data)}).status_code == 200
                single = (time.perf_counter() - t0) / 3
            time.sleep(0.5)
            start_rss = rss_bytes(server.proc.pid)
            rows = []
            for i in range(args.bursts):
                sampler = PeakSampler(server.proc.pid)
                t0 = time.perf_counter()
                responses = burst(server, data, args.requests)
                wall = time.perf_counter() - t0
                peak = sampler.stop()
                codes = Counter(r.status_code for r in responses)
                ok_ms = [r.elapsed.total_seconds() * 1000 for r in responses if r.status_code == 200]
                busy_ms = [r.elapsed.total_seconds() * 1000 for r in responses if r.status_code == 503]
                wait_idle(server)
                time.sleep(0.5)
                idle = rss_bytes(server.proc.pid)
                time.sleep(2.5)
                rows.append((i + 1, codes, wall, ok_ms, busy_ms, peak, idle, rss_bytes(server.proc.pid)))
                print(rows[-1][:3], f"rss {rows[-1][-1] / MiB:.1f} MiB", flush=True)
            log = server.log_text()
        finally:
            stop_server(server)

    lines = [
        "# `animegan serve` under overload",
        "",
        (f"Recorded by `benchmarks/server_load.py` on {time.strftime('%Y-%m-%d')}: "
         f"{platform.machine()}, {torch.get_num_threads()} CPU threads, server run with `--threads 1`,"),
        "`--concurrency 1 --queue 8` (capacity 9), a random AnimeGANv2 generator (2.1 M parameters),",
        (f"{args.side}×{args.side} PNG uploads. Each burst: {args.requests} requests released together from "
         f"{args.requests} threads. The CPU is shared with other work, so latencies are indicative only."),
        "",
        f"Single request, warm: {single * 1000:.0f} ms. RSS after warm-up (baseline): {start_rss / MiB:.1f} MiB.",
        "",
        ("| burst | 200 | 503 | other | burst wall s | 200 median ms | 503 median ms | peak RSS MiB "
         "| RSS idle +0.5 s MiB | RSS idle +3 s MiB | vs baseline MiB |"),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, codes, wall, ok_ms, busy_ms, peak, idle, settled in rows:
        other = sum(v for k, v in codes.items() if k not in (200, 503))
        lines.append(f"| {n} | {codes[200]} | {codes[503]} | {other} | {wall:.2f} | "
                     f"{statistics.median(ok_ms) if ok_ms else 0:.0f} | "
                     f"{statistics.median(busy_ms) if busy_ms else 0:.0f} | {peak / MiB:.1f} | {idle / MiB:.1f} | "
                     f"{settled / MiB:.1f} | {(settled - start_rss) / MiB:+.1f} |")
    lines += ["", (f"Server log: {'no tracebacks' if 'Traceback' not in log else 'TRACEBACKS PRESENT'}; "
                   f"{log.count(' 503 ')} lines logging 503, {log.count(' 500 ')} logging 500."), ""]
    args.out.write_text("\n".join(lines))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
