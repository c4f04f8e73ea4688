"""Shared CLI plumbing: logging to stderr through rich, and errors turned into one clear line."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.logging import RichHandler

from ..errors import AnimeGANError

#: diagnostics go to stderr so `-` (stdout) outputs stay clean
err_console = Console(stderr=True)


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logger = logging.getLogger("animegan")
    logger.handlers[:] = [RichHandler(console=err_console, show_time=False, show_path=False, markup=False)]
    logger.setLevel(level)
    logger.propagate = False


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one error line and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", markup=True, highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Turn library errors (and Ctrl-C) into one line and a non-zero exit, never a traceback."""
    try:
        yield
    except AnimeGANError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted", code=130) from None


def print_error_line(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}", markup=True, highlight=False, soft_wrap=True)


def eprint(*args: object) -> None:
    print(*args, file=sys.stderr)
