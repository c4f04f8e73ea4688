"""`animegan stylize INPUT... -o OUT`: photos in, anime-style images out, in batches.

Inputs are files, folders (recursive; subfolders mirrored in OUT), glob patterns or ``-`` (stdin).
Every bad input gets one error line and the others are still processed; the exit code is 1 when
any input failed. Outputs are written atomically, and existing outputs are skipped by default so
re-running an interrupted batch resumes it.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from PIL import Image
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from ..errors import AnimeGANError, InputError, input_error_line
from ..inference.options import StylizeOptions
from ..io.discovery import (
    OUTPUT_EXTENSIONS,
    STDIN,
    InputItem,
    Location,
    discover_inputs,
    has_glob_magic,
    is_image_name,
    is_uri,
    location_key,
    plan_outputs,
)
from ..params import params
from .common import cli_errors, err_console, fail, print_error_line

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..inference.stylizer import Stylizer

log = logging.getLogger("animegan")
T = TypeVar("T")

#: at most this many decoded images wait for same-size partners under --batch-size
_MAX_PENDING_FACTOR = 4

#: the stylize flags' defaults and help texts: StylizeOptions declares each once (animegan.params)
DEFAULT = {name: default for name, (default, _) in params(StylizeOptions).items()}
HELP = {name: spec.help for name, (_, spec) in params(StylizeOptions).items()}


@dataclass
class RunTally:
    """What happened to each input, for the summary line and the exit code."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0  # the whole run
    stylize_seconds: float = 0.0  # decoding, stylizing and saving, model loading left out
    written: list[Location] = field(default_factory=list)

    def summary(self) -> str:
        per = f", {self.stylize_seconds / self.done:.2f} s/image" if self.done else ""
        return (f"done {self.done}, skipped {self.skipped} (already there), failed {self.failed} "
                f"in {self.seconds:.1f} s{per}")


def register(app: typer.Typer) -> None:
    app.command("stylize", no_args_is_help=True)(stylize)


def stylize(
    inputs: Annotated[list[str], typer.Argument(
        metavar="INPUT...", help="Image files, folders (recursive), glob patterns, or - for stdin.")],
    output: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="OUT",
        help="Output folder (subfolders mirrored); a file name for one input; - for stdout.")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", "-m", metavar="NAME|PATH", help="Zoo model name or weights file (default: the zoo's).")] = None,
    suffix: Annotated[str, typer.Option(help="Added to each output's name, e.g. _anime.")] = "",
    ext: Annotated[str, typer.Option(help=HELP["ext"])] = DEFAULT["ext"],
    quality: Annotated[int, typer.Option(help=HELP["quality"])] = DEFAULT["quality"],
    skip_existing: Annotated[bool, typer.Option(
        "--skip-existing/--overwrite", help="Leave outputs that already exist (resumes a batch).")] = True,
    tile: Annotated[int, typer.Option(help=HELP["tile"])] = DEFAULT["tile"],
    tile_pad: Annotated[int, typer.Option(help=HELP["tile_pad"])] = DEFAULT["tile_pad"],
    max_side: Annotated[int | None, typer.Option(help=HELP["max_side"])] = DEFAULT["max_side"],
    max_pixels: Annotated[int, typer.Option(help=HELP["max_pixels"])] = DEFAULT["max_pixels"],
    batch_size: Annotated[int, typer.Option(help=HELP["batch_size"])] = DEFAULT["batch_size"],
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    precision: Annotated[str, typer.Option(
        help="auto, fp32 (exact), bf16 (fast on recent CPUs) or fp16 (CUDA).")] = "auto",
    face: Annotated[bool, typer.Option("--face", help=HELP["face"])] = DEFAULT["face"],
    side_by_side: Annotated[bool, typer.Option("--side-by-side", help=HELP["side_by_side"])] = DEFAULT["side_by_side"],
    strength: Annotated[float, typer.Option(help=HELP["strength"])] = DEFAULT["strength"],
    match_brightness: Annotated[bool, typer.Option(
        "--match-brightness", help=HELP["match_brightness"])] = DEFAULT["match_brightness"],
    palette: Annotated[float, typer.Option(help=HELP["palette"])] = DEFAULT["palette"],
    chroma_smoothing: Annotated[float, typer.Option(help=HELP["chroma_smoothing"])] = DEFAULT["chroma_smoothing"],
    backend: Annotated[str, typer.Option(
        help="torch, or onnx (ONNX Runtime; --model may then be an .onnx/.ort file, e.g. INT8).")] = "torch",
    ray: Annotated[str | None, typer.Option(
        "--ray", metavar="auto|local|HOST:PORT",
        help="Run on a Ray cluster (pip install \"animegan[ray]\"): auto (this machine's cluster), local "
             "(a Ray started for this run on 127.0.0.2), or a head node's HOST:PORT.")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, help="With --ray: worker actors (default: as many as the cluster's CPUs/GPUs fit).")] = None,
    cpus_per_worker: Annotated[float, typer.Option(
        min=0.0, help="With --ray: CPUs per worker actor (fractions allowed).")] = 1.0,
    gpus_per_worker: Annotated[float, typer.Option(
        min=0.0, help="With --ray: GPUs per worker actor (fractions allowed: 0.5 puts two on a GPU).")] = 0.0,
) -> None:
    """Stylize photos: files, folders, globs or - (stdin) into OUT."""
    with cli_errors():  # a bad value: one line naming its flag (ParamError.as_flag)
        options = StylizeOptions(max_side=max_side, tile=tile, tile_pad=tile_pad, face=face,
                                 side_by_side=side_by_side, match_brightness=match_brightness,
                                 strength=strength, palette=palette, chroma_smoothing=chroma_smoothing,
                                 ext=ext, quality=quality, batch_size=batch_size, max_pixels=max_pixels)
    stdio = inputs == [STDIN] or output == STDIN
    if output is None and not stdio:
        raise fail("no output given: pass -o OUT (a folder), or -o - to write one image to stdout")
    if ray is None and (workers is not None or cpus_per_worker != 1.0 or gpus_per_worker != 0.0):
        raise fail("--workers, --cpus-per-worker and --gpus-per-worker size the actors of --ray: add --ray")
    if stdio and ray is not None:
        raise fail("--ray stylizes files into a folder: not with - (stdin/stdout)")
    if stdio:
        _run_single_stdio(inputs, output, model, device, precision, options, backend=backend)
        return
    assert output is not None
    cluster = None if ray is None else {"address": ray, "workers": workers, "cpus_per_worker": cpus_per_worker,
                                        "gpus_per_worker": gpus_per_worker}
    uris = [value for value in (*inputs, output) if is_uri(value)]
    if uris and cluster is None:
        raise fail(f"{uris[0]}: object-store URIs (s3://, gs://, file://) are supported with --ray only "
                   "(add --ray local to run on this machine)")
    tally = _run_batch(inputs, output, model, device, precision, options, suffix, skip_existing,
                       backend=backend, cluster=cluster)
    if tally.failed:
        raise typer.Exit(1)


def _make_stylizer(model: str | None, device: str, precision: str, options: StylizeOptions,
                   backend: str = "torch") -> Stylizer:
    """The Stylizer, built as `video` and the library build it (it loads the weights first, so a bad
    model is the only line printed; an .onnx/.ort --model runs on the onnx backend)."""
    from ..inference.stylizer import Stylizer

    return Stylizer(model, device=device, precision=precision, backend=backend, options=options)


# ---- one image through stdin/stdout ------------------------------------------------------------


def _run_single_stdio(inputs: list[str], output: str | None, model: str | None, device: str, precision: str,
                      options: StylizeOptions, backend: str = "torch") -> None:
    """``-`` in and/or out: exactly one image, its bytes on stdout when the output is ``-``/absent."""
    from ..io.images import open_image, save_image

    with cli_errors():
        if inputs == [STDIN]:
            source: str | bytes = sys.stdin.buffer.read()
            name = "<stdin>"
        else:
            found = discover_inputs(inputs)
            for error in found.errors:
                raise error
            if len(found.items) != 1:
                raise InputError(f"-o - writes one image to stdout, but the inputs hold {len(found.items)}")
            source = name = str(found.items[0].path)
        if isinstance(source, bytes) and not source:
            raise InputError("<stdin>: no data (pipe an image in, e.g. `animegan stylize - < photo.jpg`)")
        image = open_image(source, max_pixels=options.max_pixels, max_side=options.max_side)
        result = _make_stylizer(model, device, precision, options, backend).stylize(image)
        fmt = options.ext
        if output not in (None, STDIN):
            target = Path(output)
            if target.is_dir():
                target = target / f"stdin{OUTPUT_EXTENSIONS.get(fmt, '.png')}"
            written = save_image(result, target, ext=fmt, quality=options.quality)
            log.info("%s -> %s", name, written)
            return
        fmt = "png" if fmt == "auto" else fmt
        with tempfile.TemporaryDirectory(prefix="animegan-") as tmp:
            written = save_image(result, Path(tmp) / f"stdout.{fmt}", ext=fmt, quality=options.quality)
            data = written.read_bytes()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


# ---- batches of files --------------------------------------------------------------------------


def _kind(location: Location) -> str | None:
    """``"file"``, ``"folder"`` or None, for a path or (through ``pyarrow.fs``) a URI."""
    if is_uri(location):
        from ..distributed import storage

        return storage.kind(str(location))
    path = Path(location)
    return "file" if path.is_file() else "folder" if path.is_dir() else None


def _parent(location: Location) -> Location:
    return location.parent if isinstance(location, Path) else location.rstrip("/").rsplit("/", 1)[0]


def _single_file_target(inputs: list[str], output: Location, first: str | None = None) -> bool:
    """True for ``stylize photo.jpg -o result.png``: one file in, -o names the output file.
    ``first``: the kind of ``inputs[0]`` when already known."""
    return (len(inputs) == 1 and (first or _kind(inputs[0])) == "file" and is_image_name(output)
            and _kind(output) != "folder")


def _named_target(output: Location, fmt: str) -> Location:
    """The output of ``-o result.png``: keep png/jpg/webp under ``--ext auto``, else png (the rule
    plan_outputs applies to folders); ``--ext`` replaces the extension."""
    if isinstance(output, Path):
        head, leaf = None, output
    else:
        head, name = output.rstrip("/").rsplit("/", 1)
        leaf = PurePosixPath(name)
    if fmt == "auto":
        named = leaf if leaf.suffix.lower().lstrip(".") in OUTPUT_EXTENSIONS else leaf.with_suffix(".png")
    else:
        named = leaf.with_suffix(OUTPUT_EXTENSIONS[fmt])
    return named if head is None else f"{head}/{named}"


def _existing(targets: list[Location], folder: Location) -> set[Path | str]:
    """The :func:`location_key` of each target that exists: one listing of ``folder`` for a URI (not
    one request per output), a look at each file for paths."""
    if not is_uri(folder):
        return {location_key(t) for t in targets if Path(t).exists()}
    from ..distributed import storage

    return {location_key(storage.join(str(folder), rel)) for rel in storage.list_files(str(folder))}


def _check_writable(targets: list[Location], folder: Location, label: str) -> None:
    """Prove the outputs can be written before any image is stylized (a probe under a URI)."""
    if is_uri(folder):
        from ..distributed import storage

        storage.check_writable(str(folder), label=label)
        return
    from ..io.atomic import check_writable_folder

    for parent in sorted({Path(t).parent for t in targets}):
        check_writable_folder(parent, label=label)


def _run_batch(inputs: list[str], output: Location, model: str | None, device: str, precision: str,
               options: StylizeOptions, suffix: str, skip_existing: bool, backend: str = "torch",
               cluster: dict | None = None) -> RunTally:
    """Plan and run a batch: inputs and ``output`` are paths or (with ``--ray``) object-store URIs,
    planned alike (subfolders mirrored, ``--suffix``/``--ext`` names, collisions refused, existing
    outputs skipped); URI prefixes are listed through :mod:`animegan.distributed.storage`."""
    from ..distributed import storage

    tally = RunTally()
    start = time.perf_counter()
    output = output if is_uri(output) else Path(output)
    first = _kind(inputs[0])
    several = len(inputs) > 1 or first == "folder" or (not is_uri(inputs[0]) and has_glob_magic(inputs[0]))
    if several and is_image_name(output) and _kind(output) != "folder":
        with cli_errors():  # never a folder named like an image
            what = f"{len(inputs)} inputs were given" if len(inputs) > 1 else f"{inputs[0]} can hold several images"
            raise InputError(f"-o {output}: names one image file, but {what}; give a folder for -o "
                             "(e.g. -o out/), or one photo as input")
    with cli_errors():
        found = discover_inputs(inputs, exclude=[output], expand_uri=storage.expand)
    for error in found.errors:
        print_error_line(str(error))
    tally.failed += len(found.errors)
    single = _single_file_target(inputs, output, first)
    folder = _parent(output) if single else output
    with cli_errors():
        if single:
            item = found.items[0]
            planned, plan_errors = [(item, _named_target(output, options.ext))], []
            if location_key(output) == location_key(item.path):  # type: ignore[arg-type]
                raise InputError(f"{item}: -o {output} would overwrite this input; choose another name")
        else:
            planned, plan_errors = plan_outputs(found.items, output, suffix, options.ext)
    for error in plan_errors:
        print_error_line(str(error))
    tally.failed += len(plan_errors)

    with cli_errors():
        existing = _existing([target for _, target in planned], folder) if skip_existing and planned else set()
    todo: list[tuple[InputItem, Location]] = []
    for item, target in planned:
        if location_key(target) in existing:
            tally.skipped += 1
            log.debug("skip %s: %s exists", item, target)
        else:
            todo.append((item, target))
    if todo:
        with cli_errors():
            _check_writable([target for _, target in todo], folder, label=f"-o {output}")
            if cluster is not None:  # --ray: the same plan, processed by actors on a Ray cluster
                started = time.perf_counter()
                pairs = [(item.path, target) for item, target in todo]
                _process_on_ray(pairs, model, device, precision, options, backend, cluster, tally)
            else:
                stylizer = _make_stylizer(model, device, precision, options, backend)
                started = time.perf_counter()
                _process(stylizer, todo, options, tally)  # type: ignore[arg-type]  # paths here; Ctrl-C: one line
            tally.stylize_seconds = time.perf_counter() - started
    tally.seconds = time.perf_counter() - start
    if log.isEnabledFor(logging.INFO):
        err_console.print(f"{tally.summary()} -> {folder}", highlight=False, soft_wrap=True, markup=False)
    return tally


def _process(stylizer: Stylizer, todo: list[tuple[InputItem, Path]], options: StylizeOptions,
             tally: RunTally) -> None:
    """Open, stylize and save each planned input, reporting failures one line each."""
    # a live bar only on a terminal: in pipes and logs it would only add a blank line
    show = len(todo) > 1 and log.isEnabledFor(logging.INFO) and err_console.is_terminal
    progress = Progress(TextColumn("stylizing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("ETA"), TimeRemainingColumn(), console=err_console, disable=not show,
                        transient=True)
    with progress:
        report = _Reporter(tally, progress, progress.add_task("stylize", total=len(todo)))
        batcher = _SameSizeBatcher(stylizer, options, report)
        for item, target in todo:
            image = report.guard(item, lambda item=item: _open(item, options))
            if image is not None:
                batcher.add(item, target, image)
        batcher.flush_all()


def _process_on_ray(todo: list[tuple[Any, Any]], model: str | None, device: str, precision: str,
                    options: StylizeOptions, backend: str, cluster: dict, tally: RunTally) -> None:
    """``--ray``: each planned ``(input, output)`` (paths or URIs) stylized by a worker actor; one line
    per failed input, as locally."""
    from ..distributed import stylize_files
    from ..inference.stylizer import weights_path

    if backend == "torch":
        weights_path(model)  # a bad model name: one line now, not one per worker
    results = stylize_files(todo, model=model, options=options,
                            device=device, precision=precision, backend=backend,
                            verbose=log.isEnabledFor(logging.DEBUG), **cluster)
    for result in results:
        if result.ok:
            tally.done += 1
            tally.written.append(result.output if is_uri(result.output) else Path(result.output))
        else:
            print_error_line(result.error)
            tally.failed += 1


def _open(item: InputItem, options: StylizeOptions) -> Image.Image:
    """Decode one input; ``max_side`` only pre-reduces it here (memory), the Stylizer does the exact downscale."""
    from ..io.images import open_image

    return open_image(item.path, max_pixels=options.max_pixels, max_side=options.max_side)


@dataclass
class _Reporter:
    """Counts outcomes, advances the bar, and prints one line per failed input."""

    tally: RunTally
    progress: Progress
    task: TaskID

    def guard(self, item: InputItem, work: Callable[[], T]) -> T | None:
        """Run ``work()``; on failure print one line naming the input, count it, and return None."""
        try:
            return work()
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one bad input must not stop the batch; -v shows the traceback
            if not isinstance(exc, AnimeGANError):
                log.debug("unexpected failure on %s", item, exc_info=True)
            message = input_error_line(str(item), exc)
        self.progress.console.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)
        self.tally.failed += 1
        self.progress.advance(self.task)
        return None

    def done(self, item: InputItem, written: Path) -> None:
        self.tally.done += 1
        self.tally.written.append(written)
        self.progress.advance(self.task)
        log.debug("%s -> %s", item, written)


class _SameSizeBatcher:
    """Collects decoded images by size and stylizes them ``options.batch_size`` at a time."""

    def __init__(self, stylizer: Stylizer, options: StylizeOptions, report: _Reporter):
        self.stylizer, self.options, self.report = stylizer, options, report
        self.batch_size = options.batch_size
        self.pending: dict[tuple, list[tuple[InputItem, Path, Image.Image]]] = {}

    def add(self, item: InputItem, target: Path, image: Image.Image) -> None:
        if self.batch_size == 1:
            self._run([(item, target, image)])
            return
        key = (image.size, image.mode)
        group = self.pending.setdefault(key, [])
        group.append((item, target, image))
        if len(group) >= self.batch_size:
            self._run(self.pending.pop(key))
        elif sum(len(g) for g in self.pending.values()) > _MAX_PENDING_FACTOR * self.batch_size:
            largest = max(self.pending, key=lambda k: len(self.pending[k]))
            self._run(self.pending.pop(largest))  # bound memory when sizes rarely repeat

    def flush_all(self) -> None:
        for key in list(self.pending):
            self._run(self.pending.pop(key))

    def _run(self, group: list[tuple[InputItem, Path, Image.Image]]) -> None:
        if len(group) > 1:
            try:
                results = self.stylizer.stylize_batch([image for _, _, image in group], self.options)
            except KeyboardInterrupt:
                raise
            except Exception:  # retry one by one: the failure then names its input
                log.debug("batch of %d failed; retrying one by one", len(group), exc_info=True)
            else:
                for (item, target, _), result in zip(group, results, strict=True):
                    self._save(item, target, result)
                return
        for item, target, image in group:
            result = self.report.guard(item, lambda image=image: self.stylizer.stylize(image, self.options))
            if result is not None:
                self._save(item, target, result)

    def _save(self, item: InputItem, target: Path, result: Image.Image) -> None:
        from ..io.images import save_image

        fmt = target.suffix.lower().lstrip(".") or "png"  # the planned name decides the format
        written = self.report.guard(
            item, lambda: save_image(result, target, ext=fmt, quality=self.options.quality))
        if written is not None:
            self.report.done(item, written)
