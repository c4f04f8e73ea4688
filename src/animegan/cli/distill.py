"""`animegan distill`: train a student generator on a teacher's outputs (TOML config in configs/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .common import cli_errors, err_console


def register(app: typer.Typer) -> None:
    app.command("distill", help="Distil a teacher (e.g. CartoonGAN) into a smaller student generator.")(distill)


def distill(
    config: Annotated[Path, typer.Argument(help="Distillation TOML, e.g. src/animegan/configs/distill-shinkai.toml.")],
    run_dir: Annotated[str | None, typer.Option("--run-dir", help="Run folder (resumes if it has a "
                                                                   "checkpoint).")] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Total steps (overrides the config).")] = None,
    teacher: Annotated[str | None, typer.Option("--teacher", help="Teacher weights file or .npy folder.")] = None,
    cache_only: Annotated[bool, typer.Option("--cache-only", help="Only run the teacher on every planned "
                                                                  "crop (fills the cache), no training.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved config and stop.")] = False,
) -> None:
    """Distil, resume a run, or pre-compute the teacher cache."""
    import dataclasses

    from ..training.distill import DistillConfig, cache_teacher
    from ..training.distill import distill as run_distill

    with cli_errors():
        cfg = DistillConfig.from_toml(config, run_dir=run_dir, steps=steps, teacher=teacher)
        if dry_run:
            typer.echo(json.dumps(dataclasses.asdict(cfg), indent=2))
            return
        if cache_only:
            cache = cache_teacher(cfg)
            err_console.print(f"teacher cache: {cache.folder} ({cache.teacher_calls} teacher batches run now)")
            return

        def show(row: dict[str, float]) -> None:
            terms = " ".join(f"{k}={v:.4f}" for k, v in row.items() if k not in ("step", "teacher_calls"))
            err_console.print(f"step {int(row['step'])}/{cfg.steps} {terms}", highlight=False)

        out = run_distill(cfg, on_log=show)
        typer.echo(str(out))
