"""Shared CLI plumbing: logging to stderr through rich, and errors turned into one clear line."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from ..errors import AnimeGANError

#: diagnostics go to stderr so `-` (stdout) outputs stay clean
err_console = Console(stderr=True)


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logger = logging.getLogger("animegan")
    logger.handlers[:] = [RichHandler(console=err_console, show_time=False, show_path=False, markup=False)]
    logger.setLevel(level)
    logger.propagate = False
    # Libraries that log through the root logger (onnxruntime.quantization's "Please consider to run
    # pre-processing" advice) would make `logging.warning` install its own "WARNING:root:" handler.
    # The root logger gets ours: their errors show as our lines, their advice only with --verbose.
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not getattr(h, "_animegan_root", False)]
    handler = RichHandler(console=err_console, show_time=False, show_path=False, markup=False)
    handler._animegan_root = True  # type: ignore[attr-defined]
    handler.setLevel(logging.WARNING if verbose else logging.ERROR)
    root.addHandler(handler)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one error line and return the Exit to raise."""
    print_error_line(message)
    return typer.Exit(code)


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Turn library errors (and Ctrl-C) into one line and a non-zero exit, never a traceback.

    Library messages name the library's parameters (``max_side 8: ...``); here they are said as
    the command line's flags (``--max-side 8: ...``, :meth:`~animegan.errors.AnimeGANError.as_flag`).
    """
    try:
        yield
    except AnimeGANError as exc:
        raise fail(exc.as_flag()) from None
    except KeyboardInterrupt:
        raise fail("interrupted", code=130) from None


def print_error_line(message: str) -> None:
    """``error: message`` on stderr, on one line; the message is plain text (``[video]`` stays as written)."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True)


def eprint(*args: object) -> None:
    print(*args, file=sys.stderr)
