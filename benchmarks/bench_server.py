"""Is `animegan serve` thin? Per-request overhead over the library, and the first request after start-up.

One process, one run, side by side:

1. Starts ``animegan serve`` (uvicorn, 127.0.0.1, one worker, ``--threads T``) offering the shipped
   models (the default style answers requests that name none) and times: process start to the first
   200 from /healthz, the first POST /api/v1/stylize and the second one (the same 512² PNG).
2. Builds the same Stylizer in this process (the shipped default, same precision and threads) and
   times that build: the model load the first request may cost at most over the second.
3. Alternates blocks of N sequential HTTP requests (one keep-alive client) with blocks of N library
   calls doing the same work (decode the upload's bytes, ``Stylizer.stylize``, PNG encode), for
   ``--blocks`` rounds: block by block so each side sees the same machine load.

Overhead = median(server request) − median(library call), in ms. Exit status 1 when the overhead is
over ``--limit-ms`` (50) or the first request is slower than the second by more than the model load
(``make bench`` runs ``--quick`` as a guard). Writes benchmarks/results/server-thin-<date>.md and .json.

    .venv/bin/python benchmarks/bench_server.py [--quick] [--blocks 6] [--n 8] [--side 512] [--threads 1]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# the CLI sets this before torch loads; the library side of the comparison must run the same allocator
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

import httpx
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "server"))
from _record import write_record
from server_helpers import encoded, free_port, photo

from animegan.io.images import open_image


def start_server(tmp: Path, threads: int, precision: str, *extra: str) -> tuple[subprocess.Popen, str, float, Path]:
    """``animegan serve`` with the shipped models; returns (process, url, seconds until /healthz answered, log)."""
    port = free_port()
    log = tmp / f"server-{port}.log"
    env = {**os.environ, "ANIMEGAN_HOME": str(tmp / "home"), "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "animegan", "serve", "--port", str(port), "--threads", str(threads),
           "--precision", precision, *extra]
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return proc, url, time.perf_counter() - started, log
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"server did not answer within 180 s:\n{log.read_text(errors='replace')}")


def post(client: httpx.Client, data: bytes) -> float:
    started = time.perf_counter()
    response = client.post("/api/v1/stylize", files={"image": ("photo.png", data, "image/png")},
                           data={"format": "png"})
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"server answered {response.status_code}: {response.text[:300]}")
    return seconds


def library_call(stylizer, options, data: bytes) -> float:
    """What the server does for one request, without HTTP: decode the bytes, stylize, encode PNG."""
    from animegan.server.routes import encode_image

    started = time.perf_counter()
    stream = io.BytesIO(data)
    stream.name = "photo.png"
    image = open_image(stream, max_pixels=options.max_pixels)
    out = stylizer.stylize(image, options)
    encode_image(out, "png", options.quality)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 blocks of 4 (make bench)")
    parser.add_argument("--blocks", type=int, default=6)
    parser.add_argument("--n", type=int, default=8, help="requests (and library calls) per block")
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1, help="torch threads, server and library alike")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--no-preload", action="store_true",
                        help="start the server with --no-preload (the model loads on the first request: the old way)")
    parser.add_argument("--limit-ms", type=float, default=50.0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--no-record", action="store_true", help="print only (make bench --quick)")
    args = parser.parse_args()
    if args.quick:
        args.blocks, args.n = 2, 4

    from animegan.inference.options import StylizeOptions
    from animegan.inference.stylizer import Stylizer
    from animegan.server.settings import ServerSettings

    torch.set_num_threads(args.threads)
    data = encoded(photo(args.side, args.side, seed=7))
    options = StylizeOptions(ext="png", max_pixels=ServerSettings().max_pixels)  # the server's defaults
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory() as tmp_name:
        proc, url, ready_s, log = start_server(Path(tmp_name), args.threads, args.precision,
                                               *(("--no-preload",) if args.no_preload else ()))
        try:
            with httpx.Client(base_url=url, timeout=300) as client:
                loaded_at_start = client.get("/healthz").json().get("loaded_models", [])
                first = post(client, data)
                second = post(client, data)
                # the model load, measured alone: the same Stylizer built here (torch already imported)
                t0 = time.perf_counter()
                stylizer = Stylizer(None, precision=args.precision)
                load_s = time.perf_counter() - t0
                library_call(stylizer, options, data)  # warm the library side as the two requests warmed the server
                server_ms: list[list[float]] = []
                library_ms: list[list[float]] = []
                for block in range(args.blocks):
                    server_ms.append([post(client, data) * 1000 for _ in range(args.n)])
                    library_ms.append([library_call(stylizer, options, data) * 1000 for _ in range(args.n)])
                    print(f"block {block + 1}: server median {statistics.median(server_ms[-1]):.0f} ms, "
                          f"library median {statistics.median(library_ms[-1]):.0f} ms", flush=True)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log_text = log.read_text(errors="replace")

    all_server = [v for b in server_ms for v in b]
    all_library = [v for b in library_ms for v in b]
    overhead = statistics.median(all_server) - statistics.median(all_library)
    per_block = [statistics.median(s) - statistics.median(lib) for s, lib in zip(server_ms, library_ms, strict=True)]
    first_extra = first - second
    thin_ok = overhead <= args.limit_ms
    first_ok = first_extra <= load_s
    record = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": args.threads, "precision": args.precision, "server_preload": not args.no_preload, "side": args.side, "blocks": args.blocks,
        "n": args.n, "load_avg_before": round(load_before, 2), "load_avg_after": round(os.getloadavg()[0], 2),
        "server_ready_s": round(ready_s, 3), "loaded_models_at_start": loaded_at_start,
        "first_request_s": round(first, 3), "second_request_s": round(second, 3), "model_load_s": round(load_s, 3),
        "first_minus_second_s": round(first_extra, 3), "first_ok": first_ok,
        "server_median_ms": round(statistics.median(all_server), 1),
        "library_median_ms": round(statistics.median(all_library), 1),
        "overhead_ms": round(overhead, 1), "overhead_per_block_ms": [round(v, 1) for v in per_block],
        "server_over_library": round(statistics.median(all_server) / statistics.median(all_library), 3),
        "limit_ms": args.limit_ms, "thin_ok": thin_ok,
        "server_blocks_ms": [[round(v, 1) for v in b] for b in server_ms],
        "library_blocks_ms": [[round(v, 1) for v in b] for b in library_ms],
        "server_log_tracebacks": "Traceback" in log_text,
    }
    lines = report(record)
    print("\n".join(lines))
    if not args.no_record:
        write_record(args.out, f"server-thin-{time.strftime('%Y%m%d-%H%M')}{'-no-preload' if args.no_preload else ''}",
                     record, lines)
    if not thin_ok:
        print(f"FAIL: the server adds {overhead:.0f} ms per request over the library (limit {args.limit_ms:g} ms)")
    if not first_ok:
        print(f"FAIL: the first request took {first_extra:.2f} s more than the second, more than the model "
              f"load ({load_s:.2f} s)")
    return 0 if thin_ok and first_ok else 1


def report(r: dict) -> list[str]:
    blocks = "\n".join(f"| {i + 1} | {statistics.median(s):.0f} | {statistics.median(lib):.0f} | {d:+.1f} |"
                       for i, (s, lib, d) in enumerate(zip(r["server_blocks_ms"], r["library_blocks_ms"],
                                                           r["overhead_per_block_ms"], strict=True)))
    return [
        f"# `animegan serve` over the library ({r['date']})",
        "",
        (f"Recorded by `benchmarks/bench_server.py`: {r['machine']}, {r['cpus']} CPUs, torch {r['torch']} "
         f"({r['cpu_capability']}), {r['threads']} torch thread(s) on both sides, precision {r['precision']}; "
         f"load average {r['load_avg_before']} before, {r['load_avg_after']} after. One run. Server "
         f"{'with' if r['server_preload'] else 'WITHOUT'} start-up preload (`animegan serve "
         f"{'--preload' if r['server_preload'] else '--no-preload'}`)."),
        (f"The shipped default style, a {r['side']}² PNG upload, PNG out. {r['blocks']} blocks of {r['n']} "
         "sequential requests (one keep-alive client, one uvicorn worker) alternating with blocks of "
         f"{r['n']} library calls (decode the same bytes + `Stylizer.stylize` + PNG encode)."),
        "",
        "| | value |",
        "|---|---|",
        f"| server median per request | {r['server_median_ms']:.0f} ms |",
        f"| library median per call | {r['library_median_ms']:.0f} ms |",
        (f"| **overhead** (limit {r['limit_ms']:g} ms) | **{r['overhead_ms']:+.1f} ms** "
        f"({'ok' if r['thin_ok'] else 'OVER'}; server/library {r['server_over_library']:.3f}) |"),
        f"| start-up: process start to /healthz 200 | {r['server_ready_s']:.2f} s |",
        f"| models loaded before the first request | {', '.join(r['loaded_models_at_start']) or 'none'} |",
        f"| first request / second request | {r['first_request_s']:.3f} s / {r['second_request_s']:.3f} s |",
        (f"| first − second (must be ≤ the model load) | {r['first_minus_second_s']:+.3f} s "
        f"({'ok' if r['first_ok'] else 'OVER'}) |"),
        f"| model load (Stylizer built in-process) | {r['model_load_s']:.3f} s |",
        "",
        "| block | server median ms | library median ms | overhead ms |",
        "|---|---|---|---|",
        blocks,
        "",
        f"Server log: {'TRACEBACKS PRESENT' if r['server_log_tracebacks'] else 'no tracebacks'}.",
    ]


if __name__ == "__main__":
    sys.exit(main())
