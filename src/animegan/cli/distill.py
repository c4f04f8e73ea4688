"""`animegan distill`: train a student generator on a teacher's outputs (a shipped config or a TOML file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from .common import cli_errors, err_console


def register(app: typer.Typer) -> None:
    from ..training.config import distill_presets

    names = ", ".join(distill_presets()) or "none"
    app.command("distill", help="Distil a teacher (e.g. CartoonGAN) into a smaller student generator "
                                f"(shipped configs: {names}).")(distill)


def resolve_distill_config(name_or_path: str) -> Path:
    """A distillation TOML: an existing file, or a shipped config by name (``distill-shinkai``)."""
    from ..training.config import DISTILL_PREFIX, PRESET_DIR, distill_presets, training_presets

    path = Path(name_or_path)
    if path.is_file():
        return path
    for stem in (name_or_path, DISTILL_PREFIX + name_or_path):
        candidate = PRESET_DIR / f"{stem}.toml"
        if stem.startswith(DISTILL_PREFIX) and candidate.is_file():
            return candidate
    if name_or_path in training_presets():
        raise ConfigError(f"{name_or_path}: a training preset, not a distillation config; run it with "
                          f"`animegan train {name_or_path}` (distillation configs: {', '.join(distill_presets())})")
    raise ConfigError(f"{name_or_path}: no such distillation config file or shipped config "
                      f"(shipped: {', '.join(distill_presets()) or 'none'})")


def distill(
    config: Annotated[str, typer.Argument(metavar="CONFIG", help="A shipped config name (e.g. distill-shinkai) "
                                                                 "or a distillation TOML file.")],
    photos: Annotated[list[str] | None, typer.Option("--photos", metavar="DIR", help="Folder of training photos "
                                                     "(repeatable; replaces the config's photos).")] = None,
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

    from ..compress.distill import DistillConfig, cache_teacher
    from ..compress.distill import distill as run_distill

    with cli_errors():
        path = resolve_distill_config(config)
        cfg = DistillConfig.from_toml(path, run_dir=run_dir, steps=steps, teacher=teacher,
                                      photos=list(photos) if photos else None)
        if dry_run:
            typer.echo(json.dumps(dataclasses.asdict(cfg), indent=2))
            for line in _missing(cfg):
                err_console.print(f"note: {line}", markup=False, highlight=False, soft_wrap=True)
            return
        missing = _missing(cfg)
        if missing:
            raise ConfigError(f"{path}: {missing[0]}")
        if cache_only:
            cache = cache_teacher(cfg)
            err_console.print(f"teacher cache: {cache.folder} ({cache.teacher_calls} teacher batches run now)")
            return

        def show(row: dict[str, float]) -> None:
            terms = " ".join(f"{k}={v:.4f}" for k, v in row.items() if k not in ("step", "teacher_calls"))
            err_console.print(f"step {int(row['step'])}/{cfg.steps} {terms}", highlight=False)

        out = run_distill(cfg, on_log=show)
        typer.echo(str(out))


def _missing(cfg: object) -> list[str]:
    """What a run still needs: unset photos or teacher, one line each."""
    needs = []
    if not getattr(cfg, "photos", None):
        needs.append("photos is not set: name a folder of photos with --photos DIR")
    if not getattr(cfg, "teacher", ""):
        needs.append("teacher is not set: name the teacher's weights file or .npy folder with --teacher PATH")
    return needs
