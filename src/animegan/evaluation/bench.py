"""`animegan bench`: every backend and precision side by side, in one run.

Each variant runs in its own child process (``python -m animegan.evaluation.bench VARIANT-SPEC``) so
that its peak memory is its own and environment switches such as ``THP_MEM_ALLOC_ENABLE`` apply
from the first allocation. Per size: one warm-up, then the median of several timed forwards on a
real photo resized to size×size (batch 1). Quality is the output's difference from plain eager
fp32 PyTorch on the same photo. The model defaults to the zoo's default style, the photos (quality
input and INT8 calibration) to the bundled samples. With an output folder, results also go to
``deploy-<date>.json`` and ``.md`` there.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..compress.onnx_export import photo_tensor
from ..compress.quantize import calibration_photos, psnr, quantize_model
from ..device import resolve_policy
from ..errors import InputError
from ..extras import require
from ..hub import zoo
from ..hub.loading import load_generator_file
from ..hub.weights import save_weights
from ..inference.backends import TorchBackend
from ..inference.onnx_backend import OnnxBackend
from ..inference.onnx_graph import export_bytes
from ..inference.stylizer import load_model
from ..io.atomic import atomic_write_bytes
from ..io.discovery import list_images

REPEATS = {256: 5, 512: 3, 1024: 2}
#: a size is skipped when its warm-up alone predicts more than this many seconds of timing
SIZE_BUDGET_S = 75.0
QUALITY_LIMIT_255 = 2.0

# name -> (runner, precision, notes); the model file each uses is chosen in run_bench
VARIANTS: dict[str, dict[str, Any]] = {
    "torch-fp32": {"runner": "torch", "note": "eager fp32 NCHW (the baseline)"},
    "torch-fp32-thp": {"runner": "torch", "env": {"THP_MEM_ALLOC_ENABLE": "1"},
                       "note": "eager fp32 NCHW, THP_MEM_ALLOC_ENABLE=1"},
    "torch-bf16-cl": {"runner": "torch", "bf16": True, "env": {"THP_MEM_ALLOC_ENABLE": "1"},
                      "note": "bf16 weights and activations + channels_last, THP_MEM_ALLOC_ENABLE=1 (the default CPU path)"},
    "torch-bf16-autocast-cl": {"runner": "torch", "bf16": True, "cast": False, "env": {"THP_MEM_ALLOC_ENABLE": "1"},
                               "note": "fp32 weights under bf16 autocast + channels_last, THP_MEM_ALLOC_ENABLE=1"},
    "ort-fp32": {"runner": "onnx", "file": "fp32", "note": "ONNX Runtime fp32"},
    "ort-int8-static": {"runner": "onnx", "file": "int8-static", "note": "ORT INT8 static QDQ, convs, per-channel"},
    "ort-int8-dynamic": {"runner": "onnx", "file": "int8-dynamic", "note": "ORT INT8 dynamic (ConvInteger)"},
    "torch-pruned-fp32": {"runner": "torch", "file": "pruned", "note": "pruned (--pruned), eager fp32 NCHW"},
    "torch-pruned-bf16-cl": {"runner": "torch", "file": "pruned", "bf16": True, "env": {"THP_MEM_ALLOC_ENABLE": "1"},
                             "note": "pruned (--pruned), bf16 weights and activations + channels_last"},
    "ort-pruned-fp32": {"runner": "onnx", "file": "pruned-onnx", "note": "pruned (--pruned), ORT fp32"},
    "ort-pruned-int8-static": {"runner": "onnx", "file": "pruned-int8", "note": "pruned (--pruned), ORT INT8 static"},
}


def machine_description() -> dict[str, Any]:
    """CPU, cores, load and library versions, for the results file."""
    import torch

    onnxruntime = require("onnxruntime", extra="onnx", feature="`animegan bench`")

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
            "load_avg": list(os.getloadavg()), "platform": platform.platform(), "python": platform.python_version(),
            "torch": torch.__version__, "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "onnxruntime": onnxruntime.__version__}


def prepare_models(model: str | None, work: Path, calib: Path | None, pruned: Path | None, wanted: Sequence[str],
                   progress: Callable[[str], None]) -> dict[str, Path]:
    """Write the files the variants need (weights, ONNX, INT8) into ``work``.

    ``model`` None: the zoo's default style; ``calib`` None: the bundled sample photos.
    """

    module, info = load_model(model)
    files = {"weights": work / "model.safetensors"}
    save_weights(files["weights"], module, info)
    needs = {VARIANTS[v].get("file") for v in wanted}
    if needs & {"fp32", "int8-static", "int8-dynamic"}:
        files["fp32"] = work / "fp32.onnx"
        files["fp32"].write_bytes(export_bytes(module))
    del module  # every variant loads its own copy in its own process
    for mode in ("static", "dynamic"):
        if f"int8-{mode}" in needs:
            progress(f"quantizing ({mode})...")
            files[f"int8-{mode}"] = quantize_model(files["fp32"], work / f"int8-{mode}.onnx", mode=mode, calib=calib)
    if needs & {"pruned", "pruned-onnx", "pruned-int8"}:
        if pruned is None:
            raise InputError("the pruned variants need a pruned weights file (see `animegan prune`)")
        files["pruned"] = Path(pruned)
        files["pruned-onnx"] = work / "pruned.onnx"
        files["pruned-onnx"].write_bytes(export_bytes(load_generator_file(pruned)[0]))
        if "pruned-int8" in needs:
            progress("quantizing the pruned model (static)...")
            files["pruned-int8"] = quantize_model(files["pruned-onnx"], work / "pruned-int8.onnx", calib=calib)
    return files


def run_bench(model: str | None, sizes: Sequence[int], out_dir: str | os.PathLike | None = None, *,
              calib: str | os.PathLike | None = None, photo_dir: str | os.PathLike | None = None,
              pruned: str | os.PathLike | None = None, variants: Sequence[str] | None = None, threads: int = 2,
              progress: Callable[[str], None] = lambda _m: None) -> tuple[Path | None, Path | None, str]:
    """Run every variant at every size; return (json, md, table).

    ``model`` None: the zoo's default style. ``calib`` and ``photo_dir`` None: the bundled sample
    photos. JSON and Markdown are written into ``out_dir`` only when it is given (else both paths
    are None).
    """

    wanted = list(variants) if variants else [v for v in VARIANTS if pruned is not None or "pruned" not in v]
    unknown = [v for v in wanted if v not in VARIANTS]
    if unknown:
        raise InputError(f"variants {unknown}: unknown (choose {', '.join(VARIANTS)})", params=("variants",))
    if "torch-fp32" not in wanted:
        wanted.insert(0, "torch-fp32")  # the reference for speed-up and quality
    if not sizes or min(sizes) < 16:
        raise InputError(f"sizes {list(sizes)}: need square sides of at least 16", params=("sizes",))
    photo = calibration_photos(photo_dir, 1)[0]
    if calib is not None:
        list_images(calib, limit=1)  # a calibration folder without images fails before any work
    model_label = model if model is not None else f"{zoo.default_model_name()} (the default style)"
    machine = machine_description()
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        files = prepare_models(model, work, Path(calib) if calib is not None else None,
                               Path(pruned) if pruned else None, wanted, progress)
        rows: list[dict[str, Any]] = []
        outputs: dict[tuple[str, int], np.ndarray] = {}
        for name in wanted:
            spec = VARIANTS[name]
            model_file = files[spec.get("file", "weights")]
            progress(f"{name}: {spec['note']}")
            result = _run_child(name, spec, model_file, sizes, photo, work, threads)
            for size_row in result["sizes"]:
                row = {"variant": name, "note": spec["note"], "file_mib": model_file.stat().st_size / 2**20,
                       **size_row}
                npy = work / f"{name}-{size_row['size']}.npy"
                if npy.exists():
                    outputs[(name, size_row["size"])] = np.load(npy)
                rows.append(row)
    for row in rows:
        ref, out = outputs.get(("torch-fp32", row["size"])), outputs.get((row["variant"], row["size"]))
        if ref is not None and out is not None:
            row["mean_abs_255"] = float((np.abs(ref - out) * 127.5).mean())
            row["psnr_db"] = psnr(ref, out)
        base = next((r for r in rows if r["variant"] == "torch-fp32" and r["size"] == row["size"]), None)
        if base and base.get("median_s") and row.get("median_s"):
            row["speedup"] = base["median_s"] / row["median_s"]
    machine["load_avg_end"] = list(os.getloadavg())
    doc = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine,
           "model": model_label, "pruned": str(pruned) if pruned else None,
           "threads": threads, "photo": str(photo), "seconds": round(time.time() - started, 1), "rows": rows,
           "verdict": verdict(rows)}
    table = markdown(doc)
    if out_dir is None:
        return None, None, table
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M")
    json_path, md_path = out_dir / f"deploy-{stamp}.json", out_dir / f"deploy-{stamp}.md"

    atomic_write_bytes(json_path, (json.dumps(doc, indent=2) + "\n").encode())
    atomic_write_bytes(md_path, table.encode())
    return json_path, md_path, table


def verdict(rows: list[dict[str, Any]], size: int | None = None) -> str:
    """The fastest variants at ``size`` within the quality limit (same weights, then pruned too).

    ``size`` None: the largest size at which the eager fp32 baseline was measured (sizes skipped
    for time, or never asked for, are not judged).
    """
    if size is None:
        measured = [r["size"] for r in rows if r["variant"] == "torch-fp32" and r.get("median_s")]
        if not measured:
            return "no verdict: the eager fp32 baseline was not measured at any size"
        size = max(measured)
    parts = []
    judged = [("same weights", False)]
    if any("pruned" in r["variant"] for r in rows):
        judged.append(("pruned allowed", True))
    for label, allow_pruned in judged:
        ok = [r for r in rows if r["size"] == size and r.get("median_s") and r["variant"] != "torch-fp32"
              and (allow_pruned or "pruned" not in r["variant"])
              and r.get("mean_abs_255", 99) <= QUALITY_LIMIT_255]
        if not ok:
            parts.append(f"{label}: no variant within {QUALITY_LIMIT_255}/255 of fp32 at {size}²")
            continue
        best = min(ok, key=lambda r: r["median_s"])
        parts.append(f"{label}: {best['variant']} {best['median_s']:.3f} s, {best.get('speedup', 0):.2f}× "
                     f"eager fp32 NCHW (mean abs diff {best['mean_abs_255']:.2f}/255)")
    return f"fastest within {QUALITY_LIMIT_255}/255 of fp32 at {size}²: " + "; ".join(parts)


def markdown(doc: dict[str, Any]) -> str:
    """The results as a Markdown document with one table."""
    m = doc["machine"]
    lines = [f"# animegan bench: deployment variants ({doc['date']})", "",
             (f"Machine: {m['cpu']}, {m['affinity']} usable of {m['logical_cpus']} logical CPUs, "
              f"load average {m['load_avg'][0]:.1f} at start and {m['load_avg_end'][0]:.1f} at end; "
              f"torch {m['torch']} ({m['torch_cpu_capability']}), onnxruntime {m['onnxruntime']}; "
              f"{doc['threads']} threads."),
             f"Model: {doc['model']}" + (f"; pruned: {doc['pruned']}" if doc["pruned"] else "") + ".",
             (f"Input: {Path(doc['photo']).name} resized to each size, batch 1; latency is the median after "
              "one warm-up; quality is against eager fp32 PyTorch."), "",
             ("| variant | size | median s | img/s | MPix/s | × eager fp32 | peak RSS MiB | file MiB "
              "| mean abs /255 | PSNR dB | notes |"),
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        if not r.get("median_s"):
            lines.append(f"| {r['variant']} | {r['size']}² | — | — | — | — | — | {r['file_mib']:.2f} | — | — | "
                         f"{r.get('skipped', '')} |")
            continue
        psnr = r.get("psnr_db")
        lines.append(f"| {r['variant']} | {r['size']}² | {r['median_s']:.3f} | {1 / r['median_s']:.2f} | "
                     f"{r['size'] ** 2 / r['median_s'] / 1e6:.2f} | {r.get('speedup', 0):.2f} | "
                     f"{r['peak_rss_mib']:.0f} | {r['file_mib']:.2f} | {r.get('mean_abs_255', float('nan')):.2f} | "
                     f"{'∞' if psnr == float('inf') else f'{psnr:.1f}' if psnr is not None else '—'} | {r['note']} |")
    lines += ["", f"**{doc['verdict']}**", "", f"Whole run: {doc['seconds']:.0f} s.", ""]
    return "\n".join(lines)


def _run_child(name: str, spec: dict[str, Any], model_file: Path, sizes: Sequence[int], photo: Path,
               work: Path, threads: int) -> dict[str, Any]:
    job = {"name": name, "runner": spec["runner"], "bf16": bool(spec.get("bf16")), "cast": spec.get("cast"),
           "model": str(model_file),
           "sizes": list(sizes), "photo": str(photo), "work": str(work), "threads": threads}
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), **spec.get("env", {})}
    proc = subprocess.run([sys.executable, "-m", "animegan.evaluation.bench", json.dumps(job)], env=env,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"sizes": [{"size": s, "skipped": f"failed: {tail[:160]}"} for s in sizes]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


class _PeakRss:
    """Samples this process's resident memory every few milliseconds in a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.003)

    def __enter__(self) -> _PeakRss:  # noqa: PYI034
        self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


def _worker(job: dict[str, Any]) -> dict[str, Any]:
    import torch


    torch.set_num_threads(job["threads"])
    if job["runner"] == "torch":
        module, _ = load_generator_file(job["model"])
        backend: Callable[[torch.Tensor], torch.Tensor] = TorchBackend(
            module, resolve_policy("cpu", "bf16" if job["bf16"] else "fp32"), cast_weights=job.get("cast"))
    else:
        backend = OnnxBackend.from_file(job["model"], threads=job["threads"])
    out_rows = []
    skip_reason = ""
    for size in job["sizes"]:
        if skip_reason:
            out_rows.append({"size": size, "skipped": skip_reason})
            continue
        x = photo_tensor(job["photo"], size, size)
        repeats = REPEATS.get(size, 3)
        with _PeakRss() as mem:
            t0 = time.perf_counter()
            y = backend(x)
            warm = time.perf_counter() - t0
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                backend(x)
                times.append(time.perf_counter() - t0)
        np.save(Path(job["work"]) / f"{job['name']}-{size}.npy", y.numpy().astype(np.float32))
        median = float(np.median(times))
        out_rows.append({"size": size, "median_s": median, "warmup_s": warm, "times_s": times,
                         "repeats": repeats, "peak_rss_mib": mem.peak / 2**20})
        later = [s for s in job["sizes"] if s > size]
        if later and median * (later[0] / size) ** 2 * (REPEATS.get(later[0], 3) + 1) > SIZE_BUDGET_S:
            skip_reason = f"skipped: {median * (later[0] / size) ** 2:.0f} s per run predicted"
    return {"sizes": out_rows}


if __name__ == "__main__":
    print(json.dumps(_worker(json.loads(sys.argv[1]))))
