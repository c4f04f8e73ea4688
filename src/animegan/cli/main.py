"""The `animegan` command: a thin typer app; each sub-command lives in its own module.

Each module exposes ``register(app)`` and imports its optional dependencies inside the commands,
through :func:`animegan.extras.require`, so every command is listed (and ``--help`` works) on a
base install, and running one without its extra prints the ``pip install "animegan[EXTRA]"`` line.
A module is imported only when one of its commands is asked for (:class:`_LazyCommands`):
``animegan stylize`` never imports the training, video, server or ONNX commands, ``--help`` all of them.

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
from collections.abc import Iterator, MutableMapping
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
    """The root command group: turns any exception a command lets through into one line.

    Its commands are a :class:`_LazyCommands`: each command module is imported on first use.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _LazyCommands(self.commands)

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


class _LazyCommands(MutableMapping[str, Any]):
    """The root group's click commands by name, in ``_COMMAND_MODULES`` order, each module imported and
    converted the first time one of its commands is looked up (``animegan stylize`` imports only
    ``animegan.cli.stylize``: start-up, benchmarks/bench_startup.py). Iterating the names imports
    nothing; ``items()`` (the root ``--help``) imports every module."""

    def __init__(self, loaded: MutableMapping[str, Any]):
        self._loaded: dict[str, Any] = dict(loaded)  # commands registered on ``app`` itself come first
        self._absent: set[str] = set()

    def _names(self) -> list[str]:
        declared = [name for _, commands, _ in _COMMAND_MODULES for name in commands]
        return [n for n in dict.fromkeys([*declared, *self._loaded]) if n not in self._absent]

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded and name not in self._absent:
            for module_name, commands, extra in _COMMAND_MODULES:
                if name in commands:
                    for loaded_name, command in _module_commands(module_name, commands, extra).items():
                        self._loaded.setdefault(loaded_name, command)
                    self._absent.update(c for c in commands if c not in self._loaded)
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        for name in self._names():
            self.get(name)
        return [(name, self._loaded[name]) for name in self._names()]


def _module_commands(module_name: str, commands: list[str], extra: str | None) -> dict[str, Any]:
    """The click commands ``module_name.register`` adds (stubs naming the extra when a dependency is missing)."""
    sub = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("animegan"):
            return {}  # not built yet in this checkout
        _register_missing(sub, commands, extra, exc.name or "a dependency")
    else:
        module.register(sub)
    return dict(typer.main.get_group(sub).commands)


def _register_missing(target: typer.Typer, commands: list[str], extra: str | None, missing: str) -> None:
    for name in commands:
        def stub(_name: str = name) -> None:
            hint = install_hint(extra) if extra else "reinstall animegan"
            raise fail(f"`animegan {_name}` needs {missing}, which is not installed ({hint})")

        target.command(name, help=f"(needs the '{extra}' extra)",
                       context_settings={"ignore_unknown_options": True, "allow_extra_args": True})(stub)


def main() -> None:
    app()
