"""`animegan distill`: train a student generator on a teacher's outputs (a shipped config or a TOML file)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import ConfigError
from ..training.config import distill_presets
from .common import cli_errors, err_console


def register(app: typer.Typer) -> None:
    names = ", ".join(distill_presets()) or "none"
    app.command("distill", help="Distil a teacher (e.g. CartoonGAN) into a smaller student generator "
                                f"(shipped configs: {names}).")(distill_command)


def distill_command(
    config: Annotated[str, typer.Argument(metavar="CONFIG", help="A shipped config name (e.g. distill-shinkai) "
                                                                 "or a distillation TOML file.")],
    photos: Annotated[list[str] | None, typer.Option("--photos", metavar="DIR", help="Folder of training photos "
                                                     "(repeatable; replaces the config's photos).")] = None,
    run_dir: Annotated[str | None, typer.Option("--run-dir", help="Run folder (resumes if it has a "
                                                                   "checkpoint).")] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Total steps (overrides the config).")] = None,
    teacher: Annotated[str | None, typer.Option("--teacher", help="Teacher: a zoo model name, a weights file "
                                                                  "or a .npy folder.")] = None,
    cache_only: Annotated[bool, typer.Option("--cache-only", help="Only run the teacher on every planned "
                                                                  "crop (fills the cache), no training.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved config and stop.")] = False,
) -> None:
    """Distil, resume a run, or pre-compute the teacher cache."""
    # here, not at the top: every `animegan` command imports this module, and torch takes seconds to load
    from ..compress.distill import DistillConfig, cache_teacher, distill, find_distill_config, missing_inputs

    with cli_errors():
        path = find_distill_config(config)
        cfg = DistillConfig.from_toml(path, run_dir=run_dir, steps=steps, teacher=teacher,
                                      photos=list(photos) if photos else None)
        missing = missing_inputs(cfg)
        if dry_run:
            typer.echo(cfg.to_json())
            for line in missing:
                err_console.print(f"note: {line}", markup=False, highlight=False, soft_wrap=True)
            return
        if missing:
            raise ConfigError(f"{path}: {missing[0]}")
        if cache_only:
            cache = cache_teacher(cfg)
            err_console.print(f"teacher cache: {cache.folder} ({cache.teacher_calls} teacher batches run now)")
            return

        def show(row: dict[str, float]) -> None:
            terms = " ".join(f"{k}={v:.4f}" for k, v in row.items() if k not in ("step", "teacher_calls"))
            err_console.print(f"step {int(row['step'])}/{cfg.steps} {terms}", highlight=False)

        typer.echo(str(distill(cfg, on_log=show)))
