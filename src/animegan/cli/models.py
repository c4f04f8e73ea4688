"""`animegan models`: list, inspect, download, import and remove models; print the cache dir.

Results (tables, paths, JSON) go to stdout; progress and notes go to stderr.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TransferSpeedColumn
from rich.table import Table

from ..errors import AnimeGANError
from .common import cli_errors, err_console, print_error_line

models_app = typer.Typer(name="models", no_args_is_help=True,
                         help="The model zoo: bundled styles, downloadable weights and your imported models.")


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")


def _zoo() -> Any:
    from ..hub.zoo import shipped_zoo

    return shipped_zoo()


def _entry_dict(zoo: Any, entry: Any) -> dict[str, Any]:
    from ..hub.zoo import URL_BASE_ENV

    data = entry.to_dict()
    data["status"] = zoo.status(entry)
    data["default"] = entry.name == zoo.default_model_name()
    data["path"] = _local_path(zoo, entry)
    mirror = zoo.mirror_base()
    for f, raw in zip(entry.files, data["files"]):
        raw["cache_path"] = str(zoo.cache_path(f))
        if mirror:
            raw["url"] = f.url_from(mirror)
            raw["mirror"] = URL_BASE_ENV
    return data


def _local_path(zoo: Any, entry: Any) -> str | None:
    """The weights file on this machine, without downloading anything (None when absent)."""
    try:
        return str(zoo.resolve_model(entry.name, download=False))
    except AnimeGANError:
        return None


@models_app.command("list")
def list_models(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Every known model: name, architecture, style, licence and whether it is here."""
    with cli_errors():
        zoo = _zoo()
        entries = zoo.list_models()
        default = zoo.default_model_name()
        if as_json:
            typer.echo(json.dumps([_entry_dict(zoo, e) for e in entries], indent=2))
            return
        console = Console()
        statuses = [zoo.status(e) for e in entries]
        names = [f"{e.name} *" if e.name == default else e.name for e in entries]
        columns = {"name": names, "arch": [e.arch for e in entries], "style": [e.style for e in entries],
                   "licence": [e.licence for e in entries], "status": statuses}
        widths = _column_widths(columns, console.width)
        with_licence = "licence" in widths
        caption = "* the default model; `animegan models info NAME` for details"
        if not with_licence:
            caption += " and the licence"
        table = Table()  # the caption is printed below it: a table caption widens rich's layout past the width
        for column, width in widths.items():
            table.add_column(column, width=width, no_wrap=column in ("name", "arch"))
        colours = {"bundled": "green", "cached": "green", "imported": "green", "missing": "red"}
        for e, name, status in zip(entries, names, statuses):
            cells = [name, e.arch, e.style] + ([e.licence] if with_licence else [])
            table.add_row(*cells, f"[{colours.get(status, 'yellow')}]{status}[/]")
        console.print(table)
        console.print(caption, markup=False, highlight=False)


def _longest(values: list[str], words: bool = True) -> int:
    """Length of the longest value (or of the longest word in any value)."""
    return max((len(part) for value in values for part in (value.split() if words else [value])), default=1)


def _column_widths(columns: dict[str, list[str]], total: int) -> dict[str, int | None]:
    """Column widths that fit ``total`` characters and wrap only between words.

    Wide enough for every value on one line: rich's own layout (None). Narrower: names and archs keep
    their full width, style and status wrap down to their longest word, the licence takes what is
    left; where that is less than its longest word, the licence column is left out.
    """
    def room(widths: dict[str, int]) -> int:  # borders and one space of padding each side
        return sum(widths.values()) + 3 * len(widths) + 1

    natural = {k: max(len(k), _longest(v, words=False)) for k, v in columns.items()}
    if room(natural) <= total:
        return dict.fromkeys(natural)
    widths = {k: max(len(k), _longest(v, words=k not in ("name", "arch"))) for k, v in columns.items()}
    others = {k: w for k, w in widths.items() if k != "licence"}
    left = total - room(others) - 3
    if left >= widths["licence"]:
        widths["licence"] = min(left, natural["licence"])
        return dict(widths)
    return dict(others)


@models_app.command("info")
def info(name: str = typer.Argument(..., help="Model name or alias."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Everything the zoo knows about one model, and where its files are (or would go)."""
    with cli_errors():
        zoo = _zoo()
        data = _entry_dict(zoo, zoo.get_entry(name))
        if as_json:
            typer.echo(json.dumps(data, indent=2))
            return
        recommended = "face portraits" if data["face"] else "any photo"
        if data["size"]:
            recommended += f", {data['size']} px"
        rows = [("name", data["name"] + ("  (default)" if data["default"] else "")),
                ("aliases", ", ".join(data["aliases"]) or "-"), ("arch", data["arch"]),
                ("config", json.dumps(data["config"]) if data["config"] else "-"), ("style", data["style"]),
                ("description", data["description"]), ("licence", data["licence"]), ("terms", data["terms"]),
                ("recommended", recommended), ("source", data["source"]), ("status", data["status"]),
                ("path", data["path"] or "-")]
        if data["bundled"]:
            rows.append(("bundled", data["bundled"]))
        for i, f in enumerate(data["files"], 1):
            checks = [f"{k} {f[k]}" for k in ("sha256", "git_blob_sha1", "size", "max_size") if f.get(k)]
            rows += [(f"file {i}", f["filename"]), ("  url", f["url"]), ("  checksum", "; ".join(checks) or "-"),
                     ("  cache path", f["cache_path"])]
        if data["import_hint"]:
            rows.append(("how to get", data["import_hint"]))
        width = max(len(key) for key, _ in rows)
        for key, value in rows:  # plain lines: URLs and paths must never be cut or wrapped
            typer.echo(f"{key:<{width}}  {value}")


@models_app.command("download")
def download(names: Annotated[list[str], typer.Argument(help="Model names (see `animegan models list`).")],
             force: bool = typer.Option(False, "--force", help="Download again even when cached.")) -> None:
    """Fetch models into the cache (verified by checksum) so later runs work offline."""
    zoo = _zoo()
    failed = 0
    for name in names:
        try:
            with _download_progress() as callback:
                path = zoo.download(name, force=force, progress=callback)
        except AnimeGANError as exc:
            print_error_line(str(exc))
            failed += 1
            continue
        except KeyboardInterrupt:
            print_error_line("interrupted")
            raise typer.Exit(130) from None
        typer.echo(str(path))
    if failed:
        raise typer.Exit(1)


@contextlib.contextmanager
def _download_progress() -> Iterator[Callable[[str, int, int | None], None]]:
    """A rich download bar on stderr, one task per file, shown only once bytes arrive."""
    progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                        console=err_console)
    tasks: dict[str, TaskID] = {}

    def callback(filename: str, done: int, total: int | None) -> None:
        if not tasks:
            progress.start()
        if filename not in tasks:
            tasks[filename] = progress.add_task(filename, total=total)
        progress.update(tasks[filename], completed=done, total=total)

    try:
        yield callback
    finally:
        if tasks:
            progress.stop()


@models_app.command("import")
def import_model(path: Annotated[Path, typer.Argument(help="A weights file (.safetensors, published .pt, CartoonGAN "
                                                            ".pth) or a folder of CartoonGAN .npy tensors.")],
                 name: str = typer.Option(..., "--name", "-n", help="The name to use it by (--model NAME)."),
                 arch: str = typer.Option(None, "--arch", help="Architecture, where the file cannot tell "
                                                               "(animeganv2, resnet_sam, cartoongan)."),
                 style: str = typer.Option(None, "--style", help="Style label stored with the weights."),
                 force: bool = typer.Option(False, "--force", help="Replace a model imported under NAME.")) -> None:
    """Convert a weights file into the cache as NAME.safetensors; `--model NAME` then finds it."""
    with cli_errors():
        entry = _zoo().import_model(path, name, arch=arch, style=style, force=force)
        target = _zoo().resolve_model(entry.name, download=False)
        err_console.print(f"imported {path} as {entry.name!r} ({entry.arch}); use it with --model {entry.name}",
                          markup=False, highlight=False, soft_wrap=True)
        typer.echo(str(target))


@models_app.command("remove")
def remove(name: str = typer.Argument(..., help="Model name.")) -> None:
    """Delete a model's downloaded or imported files from the cache (bundled models stay)."""
    with cli_errors():
        removed = _zoo().remove(name)
        for path in removed:
            typer.echo(str(path))
        if not removed:
            err_console.print(f"{name}: nothing in the cache to remove", markup=False, highlight=False,
                              soft_wrap=True)


@models_app.command("path")
def path(name: str = typer.Argument(None, help="A model: print its weights file instead (no download).")) -> None:
    """Print the cache dir ($ANIMEGAN_HOME overrides it), or the weights file of NAME."""
    with cli_errors():
        if name is None:
            from ..hub.cache import cache_dir

            typer.echo(str(cache_dir()))
        else:
            typer.echo(str(_zoo().resolve_model(name, download=False)))
