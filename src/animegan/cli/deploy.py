"""`animegan export onnx|ort`, `animegan quantize`, `animegan prune`, `animegan bench`: deployment commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import InputError
from .common import cli_errors, eprint

if TYPE_CHECKING:
    from ..compress.prune import PruneResult

export_app = typer.Typer(help="Export a generator for other runtimes (onnx, ort).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")
    app.command("quantize", no_args_is_help=True)(quantize)
    app.command("prune", no_args_is_help=True)(prune)
    app.command("bench")(bench)


@export_app.command("onnx", no_args_is_help=True)
def export_onnx_cmd(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="Zoo name or weights file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The .onnx file to write.")],
    images: Annotated[Path | None, typer.Option(
        help="Folder of real photos for the parity check (default: the bundled sample photos).")] = None,
    count: Annotated[int, typer.Option(help="How many of those photos to check.")] = 5,
    sizes: Annotated[str, typer.Option(help="Parity sizes, WxH comma-separated.")] = "256x256,513x389,200x300",
    opset: Annotated[int, typer.Option(help="ONNX opset (17 is what is tested).")] = 17,
) -> None:
    """Export MODEL to ONNX (input `input`, output `output`, dynamic N/H/W); written only if it matches PyTorch."""
    from ..compress.onnx_export import PARITY_TOLERANCE, export_onnx
    from ..compress.quantize import calibration_photos
    from ..inference.stylizer import load_model

    with cli_errors():
        parsed = _parse_sizes(sizes)
        if count < 1:
            raise InputError(f"--count {count}: must be at least 1")
        files = calibration_photos(images, count)
        module, info = load_model(model)
        result = export_onnx(module, output, images=files, sizes=parsed, opset=opset,
                             metadata={"style": info.style, "licence": info.licence})
    for row in result.parity.rows:
        eprint(f"  {row.image} {row.width}x{row.height}: max {row.max_abs:.2e} mean {row.mean_abs:.2e}")
    print(f"wrote {result.path} ({result.size_bytes / 2**20:.2f} MiB, opset {result.opset}); parity on "
          f"{len(result.parity.rows)} image/size pairs: max abs diff {result.parity.max_abs:.2e}, "
          f"mean {result.parity.mean_abs:.2e} (tolerance {PARITY_TOLERANCE:.0e})")


@export_app.command("ort", no_args_is_help=True)
def export_ort_cmd(
    model: Annotated[Path, typer.Argument(metavar="MODEL.onnx", help="An exported ONNX file.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="The .ort file (default: beside).")] = None,
    platform: Annotated[str, typer.Option(help="arm (phones) or amd64.")] = "arm",
) -> None:
    """Convert an ONNX file to ONNX Runtime's mobile format (.ort) with its required-operators config."""
    from ..compress.mobile import convert_to_ort

    with cli_errors():
        result = convert_to_ort(model, output, target_platform=platform)
    print(f"wrote {result.ort_path} ({result.ort_path.stat().st_size / 2**20:.2f} MiB) and "
          f"{result.config_path} ({len(result.operators)} operator lines)")


def quantize(
    model: Annotated[Path, typer.Argument(metavar="MODEL.onnx", help="An exported fp32 ONNX file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The INT8 .onnx file to write.")],
    mode: Annotated[str, typer.Option(help="static (QDQ, calibrated) or dynamic.")] = "static",
    calib: Annotated[Path | None, typer.Option(
        help="Folder of photos for static calibration (default: the bundled sample photos).")] = None,
    method: Annotated[str, typer.Option(help="Calibration: percentile, entropy or minmax.")] = "percentile",
    calib_count: Annotated[int, typer.Option(help="Calibration photos used.")] = 16,
    calib_size: Annotated[int, typer.Option(help="Calibration side in pixels.")] = 256,
    eval_images: Annotated[Path | None, typer.Option(
        "--eval", help="Held-out photos for the quality report (default: skip it).")] = None,
    eval_count: Annotated[int, typer.Option(help="Held-out photos used.")] = 5,
    speed_size: Annotated[int, typer.Option(help="Side of the speed test input.")] = 512,
) -> None:
    """INT8-quantize an ONNX generator; prints size, speed and quality against fp32."""
    from ..compress.quantize import evaluate_quantized, quantize_model
    from ..inference.onnx_graph import load_onnx
    from ..io.discovery import list_images

    with cli_errors():
        load_onnx(model, load_weights=False)  # a missing or non-ONNX model is the first thing reported
        if mode == "static" and calib is not None:
            list_images(calib)  # a calibration folder without images fails before any work
        evals = list_images(eval_images, limit=eval_count) if eval_images is not None else None
        quantize_model(model, output, mode=mode, calib=calib, method=method, calib_size=calib_size,
                       calib_count=calib_count)
        print(f"wrote {output} ({mode}, {output.stat().st_size / 2**20:.2f} MiB; fp32 "
              f"{model.stat().st_size / 2**20:.2f} MiB)")
        if evals:
            r = evaluate_quantized(model, output, mode, evals, speed_size=speed_size)
            q = r.quality
            print(f"speed at {speed_size}²: fp32 {r.fp32_speed.seconds:.3f} s, int8 {r.int8_speed.seconds:.3f} s "
                  f"({r.fp32_speed.seconds / r.int8_speed.seconds:.2f}×); quality on {q.images} photos at "
                  f"{q.size}²: PSNR {q.psnr_db:.2f} dB, mean abs diff {q.mean_abs_255:.2f}/255, "
                  f"max {q.max_abs_255:.0f}/255")


def prune(
    model: Annotated[str, typer.Argument(metavar="MODEL", help=(
        "AnimeGANv2 weights file or zoo name (animeganv2 and animeganv2_slim prune; CartoonGAN does not)."))],
    output: Annotated[Path, typer.Option("--output", "-o", help="The pruned .safetensors to write.")],
    rule: Annotated[str, typer.Option(help="threshold (article: all |w| < t) or ratio.")] = "ratio",
    ratio: Annotated[float, typer.Option(help="Fraction of channels removed per layer (rule ratio).")] = 0.4,
    threshold: Annotated[float, typer.Option(help="Weight magnitude (rule threshold).")] = 0.01,
    calib: Annotated[Path | None, typer.Option(help="Photos for activation-based importance.")] = None,
    finetune_photos: Annotated[Path | None, typer.Option(
        "--finetune", help="Photos to distil from the unpruned model on (default: no fine-tune).")] = None,
    steps: Annotated[int, typer.Option(help="Fine-tune steps.")] = 300,
    crop: Annotated[int, typer.Option(help="Fine-tune crop side.")] = 128,
    minutes: Annotated[float, typer.Option(help="Stop the fine-tune after this many minutes (0: no limit).")] = 0,
    batch_size: Annotated[int, typer.Option(help="Fine-tune batch size.")] = 4,
    precision: Annotated[str, typer.Option(
        help="Fine-tune precision: fp32, or bf16 (CPU autocast; about 2× faster on CPUs with AMX).")] = "fp32",
    eval_images: Annotated[Path | None, typer.Option("--eval", help="Held-out photos for PSNR.")] = None,
    eval_count: Annotated[int, typer.Option(help="Held-out photos used.")] = 10,
    speed_size: Annotated[int, typer.Option(help="Side of the before/after speed and quality test.")] = 256,
    run_dir: Annotated[Path | None, typer.Option(help="Keep the fine-tune's run folder here (default: temporary).")
                       ] = None,
) -> None:
    """Remove channels from an AnimeGANv2 generator; optionally distil it back; print before/after.

    CartoonGAN models (the shipped styles) are not prunable: make a smaller one with `animegan distill`.
    """
    from ..compress.prune import prune_file

    with cli_errors():
        result = prune_file(model, output, rule=rule, ratio=ratio, threshold=threshold, calib=calib,
                            finetune_photos=finetune_photos, steps=steps, crop=crop, time_limit_min=minutes,
                            batch_size=batch_size, precision=precision, eval_images=eval_images,
                            eval_count=eval_count, speed_size=speed_size, run_dir=run_dir)
    for line in _prune_lines(result):
        print(line)


def _prune_lines(r: PruneResult) -> list[str]:
    p0, p1, f0, f1, t0, t1 = (r.params_before, r.params_after, r.gflops_before, r.gflops_after,
                              r.seconds_before, r.seconds_after)
    lines = [f"params: {p0:,} -> {p1:,} ({100 * (1 - p1 / p0):.1f}% fewer)"]
    if r.file_bytes is not None:
        lines.append(f"file: {p0 * 4 / 2**20:.2f} MiB (fp32) -> {r.file_bytes / 2**20:.2f} MiB")
    lines.append(f"conv GFLOPs at 512²: {f0:.1f} -> {f1:.1f} ({f0 / f1:.2f}× fewer)")
    lines.append(f"torch eager fp32 at {r.speed_size}²: {t0:.3f} s -> {t1:.3f} s ({t0 / t1:.2f}× faster)")
    q = r.quality
    if q is not None:
        lines.append(f"PSNR vs unpruned on {q.images} held-out photos at {q.size}²: {q.psnr_db:.2f} dB (pixels "
                     f"pooled), per photo median {q.median_psnr_db:.2f} dB, worst {q.worst_psnr_db:.2f} dB "
                     f"({q.worst_image}); mean abs diff {q.mean_abs_255:.2f}/255")
    return lines


def bench(
    model: Annotated[str | None, typer.Option("--model", "-m", help=(
        "Zoo name or weights file, any architecture (default: the zoo's default style)."))] = None,
    sizes: Annotated[str, typer.Option(help="Square sides, comma-separated.")] = "256,512,1024",
    out_dir: Annotated[Path | None, typer.Option("--out", help=(
        "Also write deploy-<date>.json and .md into this folder (default: print the table only)."))] = None,
    calib: Annotated[Path | None, typer.Option(
        help="Calibration photos for INT8 (default: the bundled sample photos).")] = None,
    photo: Annotated[Path | None, typer.Option(help=(
        "Folder holding the photo the quality column uses (default: the bundled sample photos)."))] = None,
    pruned: Annotated[Path | None, typer.Option(help="A pruned .safetensors to include.")] = None,
    variants: Annotated[str, typer.Option(help="Comma-separated subset of variants (default: all).")] = "",
    threads: Annotated[int, typer.Option(help="Threads for every backend.")] = 2,
) -> None:
    """Latency, throughput, peak memory, size and quality of every backend/precision, side by side."""
    from ..evaluation.bench import run_bench

    with cli_errors():
        try:
            side_list = [int(s) for s in sizes.split(",") if s.strip()]
        except ValueError:
            raise InputError(f"--sizes {sizes}: expected square sides like 256,512") from None
        chosen = [v for v in variants.split(",") if v.strip()] or None
        json_path, md_path, table = run_bench(model, side_list, out_dir, calib=calib, photo_dir=photo,
                                              pruned=pruned, variants=chosen, threads=threads,
                                              progress=eprint)
    print(table)
    if json_path is not None:
        print(f"wrote {json_path} and {md_path}")


def _parse_sizes(text: str) -> list[tuple[int, int]]:
    out = []
    for item in text.split(","):
        try:
            width, height = (int(v) for v in item.lower().split("x"))
        except ValueError:
            raise InputError(f"--sizes {text}: expected WxH pairs like 256x256,513x389") from None
        if width < 8 or height < 8:
            raise InputError(f"--sizes {item}: sides must be at least 8")
        out.append((height, width))
    return out
