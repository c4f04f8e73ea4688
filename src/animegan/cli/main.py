"""The `animegan` command: a thin typer app; each sub-command lives in its own module.

Each module exposes ``register(app)``. A module whose optional dependencies are missing still
registers its commands' names through a stub that tells the user which extra to install.
"""

from __future__ import annotations

import os

# PyTorch's huge-page allocator: 1.3-2x faster CPU inference here (benchmarks/results/generator-cpu.md).
# It must be set before torch allocates, so it goes before any import that loads torch.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

import importlib

import typer

from .common import fail, setup_logging

app = typer.Typer(name="animegan", help="Photos and videos to anime-style art (AnimeGANv2 family).",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

# (module, commands it registers, pip extra that provides its optional dependencies)
_COMMAND_MODULES: list[tuple[str, list[str], str | None]] = [
    ("animegan.cli.stylize", ["stylize"], None),
    ("animegan.cli.models", ["models"], None),
    ("animegan.cli.train", ["train"], "train"),
    ("animegan.cli.data", ["data"], "train"),
    ("animegan.cli.distill", ["distill"], "train"),
    ("animegan.cli.video", ["video"], "video"),
    ("animegan.cli.serve", ["serve"], "server"),
    ("animegan.cli.deploy", ["export", "quantize", "prune", "bench"], "onnx"),
]


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
          quiet: bool = typer.Option(False, "--quiet", "-q", help="Warnings and errors only.")) -> None:
    setup_logging(verbose, quiet)


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
            hint = f"pip install 'animegan[{extra}]'" if extra else "reinstall animegan"
            raise fail(f"`animegan {_name}` needs {missing}, which is not installed ({hint})")

        app.command(name, help=f"(needs the '{extra}' extra)", context_settings={"ignore_unknown_options": True,
                                                                                "allow_extra_args": True})(stub)


_register_all()


def main() -> None:
    app()
