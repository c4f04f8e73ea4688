"""The `animegan` command: a thin typer app; each sub-command lives in its own module.

Each module exposes ``register(app)`` and imports its optional dependencies inside the commands,
through :func:`animegan.extras.require`, so every command is listed (and ``--help`` works) on a
base install, and running one without its extra prints the ``pip install "animegan[EXTRA]"`` line.

No command shows a traceback for a user error: library errors are one line (``cli_errors``), and
any other exception becomes ``error: <what>`` plus a hint to rerun with ``--debug``, which prints
the traceback.
"""

from __future__ import annotations

import os

# PyTorch's huge-page allocator: 1.3-2x faster CPU inference here (benchmarks/results/generator-cpu.md).
# It must be set before torch allocates, so it goes before any import that loads torch.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

import importlib
import sys
import traceback
from typing import Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from .. import __version__
from ..errors import AnimeGANError
from ..extras import install_hint
from .common import fail, setup_logging

#: set by the root ``--debug`` flag for the command being run
_DEBUG = {"on": False}


class _Group(TyperGroup):
    """The root command group: turns any exception a command lets through into one line."""

    def invoke(self, ctx: Any) -> Any:
        _DEBUG["on"] = False
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):
            raise  # typer's usage errors, --help, and exits the commands chose
        except BrokenPipeError:  # `animegan ... | head`: the reader left; stop quietly like other tools
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(1) from None
        except AnimeGANError as exc:
            if _DEBUG["on"]:
                traceback.print_exc()
            raise fail(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - the one place unexpected errors are reported
            if _DEBUG["on"]:
                traceback.print_exc()
                raise fail(_describe(exc)) from None
            raise fail(f"{_describe(exc)} (run with --debug for the traceback)") from None


def _describe(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


app = typer.Typer(name="animegan", help="Photos and videos to anime-style art (AnimeGANv2 family).",
                  cls=_Group, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

# (module, commands it registers, pip extra that provides its optional dependencies)
_COMMAND_MODULES: list[tuple[str, list[str], str | None]] = [
    ("animegan.cli.stylize", ["stylize"], None),
    ("animegan.cli.models", ["models"], None),
    ("animegan.cli.eval", ["eval"], None),
    ("animegan.cli.train", ["train"], "train"),
    ("animegan.cli.data", ["data"], "train"),
    ("animegan.cli.distill", ["distill"], "train"),
    ("animegan.cli.video", ["video"], "video"),
    ("animegan.cli.serve", ["serve"], "server"),
    ("animegan.cli.deploy", ["export", "quantize", "prune", "bench"], "onnx"),
]


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"animegan {__version__}")
        raise typer.Exit()


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
          quiet: bool = typer.Option(False, "--quiet", "-q", help="Warnings and errors only."),
          debug: bool = typer.Option(False, "--debug", help="Show the full traceback when a command fails."),
          version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                       help="Print the version and exit.")) -> None:
    setup_logging(verbose, quiet)
    _DEBUG["on"] = debug


def _register_all() -> None:
    for module_name, commands, extra in _COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("animegan"):
                continue  # not built yet in this checkout
            _register_missing(commands, extra, exc.name or "a dependency")
            continue
        module.register(app)


def _register_missing(commands: list[str], extra: str | None, missing: str) -> None:
    for name in commands:
        def stub(_name: str = name) -> None:
            hint = install_hint(extra) if extra else "reinstall animegan"
            raise fail(f"`animegan {_name}` needs {missing}, which is not installed ({hint})")

        app.command(name, help=f"(needs the '{extra}' extra)", context_settings={"ignore_unknown_options": True,
                                                                                "allow_extra_args": True})(stub)


_register_all()


def main() -> None:
    app()
