"""`animegan train`: train a generator from a preset (`hayao`, `seed`, ...) or a TOML file.

Multi-process: ``torchrun --nproc-per-node N -m animegan train CONFIG`` (rank 0 logs and writes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .common import cli_errors, err_console


def register(app: typer.Typer) -> None:
    from ..training.config import training_presets

    names = ", ".join(training_presets()) or "none"
    app.command("train", help=f"Train a generator (GAN): presets {names}; data folders via --set data.photos=DIR "
                              "--set data.style=DIR.")(train)


def train(
    config: Annotated[str | None, typer.Argument(help="A preset name (listed above) or a TOML file. "
                                                       "Default: hayao.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", "-s", metavar="SECTION.KEY=VALUE",
                                                   help="Override one config value (repeatable), "
                                                        "e.g. --set loss.style=2.0")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", metavar="RUN_DIR|CKPT",
                                                help="Continue a run exactly from its newest checkpoint "
                                                     "(or the given checkpoint file).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved config and data counts, "
                                                            "then stop.")] = False,
    runs_dir: Annotated[str | None, typer.Option("--runs-dir", help="Parent of the numbered run folders "
                                                                     "(config run.runs_dir).")] = None,
) -> None:
    """Train, resume, or (with --dry-run) show what a run would do."""
    from ..training.checkpoint import resolve_resume
    from ..training.config import load_config
    from ..training.runs import load_options

    overrides = list(set_ or [])
    if runs_dir is not None:
        overrides.append(f"run.runs_dir={_quote(runs_dir)}")
    with cli_errors():
        run_dir = ckpt = None
        if resume is not None:
            if config is not None:
                err_console.print("note: --resume uses the run's saved config; the CONFIG argument is ignored")
            run_dir, ckpt = resolve_resume(resume)
            cfg = load_options(run_dir)
            if overrides:
                from ..training.config import config_from_dict, parse_override

                data = cfg.to_dict()
                for text in overrides:
                    section, key, value = parse_override(text)
                    data.setdefault(section, {})[key] = value
                cfg = config_from_dict(data, f"{run_dir} with --set overrides")
        else:
            cfg = load_config(config or "hayao", overrides)
        if dry_run:
            _dry_run(cfg)
            return
        from ..training.config import require_data

        require_data(cfg, config or "hayao")
        _fit(cfg, run_dir, ckpt)


def _quote(text: str) -> str:
    import json

    return json.dumps(text)


def _dry_run(cfg: Any) -> None:
    from rich.markup import escape

    from ..errors import AnimeGANError
    from ..training.config import TrainConfig, missing_data
    from ..training.sampling import build_datasets, plan_steps

    out = Console()
    default = TrainConfig().to_dict()
    table = Table(title="resolved config (non-default values in bold yellow)", show_header=True)
    table.add_column("key")
    table.add_column("value")
    for section, values in cfg.to_dict().items():
        for key, value in values.items():
            changed = default[section][key] != value
            style = "bold yellow" if changed else "dim"
            table.add_row(f"{section}.{key}", f"[{style}]{value!r}[/]")
    out.print(table)
    needs = missing_data(cfg)
    for line in needs:
        out.print(f"[bold yellow]note:[/] {escape(line)}", soft_wrap=True)
    if not needs:
        try:
            data = build_datasets(cfg)
        except AnimeGANError as exc:  # a dry run reports what the run would stop on, and still exits 0
            out.print(f"[bold red]warning:[/] {escape(str(exc))}; the run would stop", soft_wrap=True)
        else:
            plan = plan_steps(cfg, len(data.photos))
            out.print(f"photos: {len(data.photos)}   style images: {len(data.style)}   "
                      f"steps per epoch: {plan.per_epoch}   init steps: {plan.init}   total steps: {plan.total}",
                      soft_wrap=True)
    weights = cfg.model.vgg_weights
    if weights not in ("random", "teacher-encoder", "torchvision") and not Path(weights).is_file():
        out.print(f"[bold red]warning:[/] model.vgg_weights file {weights} does not exist; the run would stop",
                  soft_wrap=True)


def _fit(cfg: Any, run_dir: Path | None, ckpt: Path | None) -> None:
    from ..training.trainer import Trainer

    trainer = Trainer(cfg, run_dir=run_dir, resume=ckpt)
    main = trainer.dist.is_main
    if main:
        where = f"resumed at step {trainer.step}" if ckpt else "new run"
        err_console.print(f"{trainer.run_dir} ({where}; {trainer.plan.total} steps, "
                          f"{trainer.plan.init} content-only; device {trainer.device})")
    columns = [TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[losses]}")]
    with Progress(*columns, console=err_console, disable=not main, transient=False) as progress:
        task = progress.add_task("train", total=trainer.plan.total, completed=trainer.step, losses="")

        def on_progress(step: int, total: int, row: dict[str, Any] | None) -> None:
            fields: dict[str, Any] = {}
            if row is not None:
                keys = ("g_total", "d_total", "content") if "d_total" in row else ("g_total", "content")
                fields["losses"] = " ".join(f"{k}={row[k]:.3g}" for k in keys if k in row)
            progress.update(task, completed=step, **fields)

        result = trainer.fit(on_progress)
    if not main:
        return
    if result.interrupted:
        err_console.print(f"interrupted at step {result.step}/{result.total_steps}; checkpoint {result.checkpoint}; "
                          f"continue with: animegan train --resume {result.run_dir}")
        raise typer.Exit(130)
    err_console.print(f"done: {result.step} steps; weights {result.weights}")
