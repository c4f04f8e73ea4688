"""`animegan video IN -o OUT`: a video, GIF or folder of frames in, a stylized video out, sound kept.

Thin: parse, build the VideoOptions and the Stylizer, call :func:`animegan.video.stylize_video`, render a progress
bar (frames/s and ETA) on stderr. Errors are one line and a non-zero exit.
"""

from __future__ import annotations

import inspect
import logging
import re
from pathlib import Path
from typing import Annotated, get_type_hints

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from ..errors import InputError
from ..inference.options import StylizeOptions
from ..params import params
from ..video.options import VideoOptions
from .common import cli_errors, err_console, fail
from .stylize import stylize as _stylize_command

#: every flag's default and help but the model's and the device's: from VideoOptions (palette: StylizeOptions)
DEFAULT = {name: default for name, (default, _) in params(VideoOptions).items()}
HELP = {name: spec.help for name, (_, spec) in params(VideoOptions).items()}
STYLIZE_DEFAULT = {name: default for name, (default, _) in params(StylizeOptions).items()}
STYLIZE_HELP = {name: spec.help for name, (_, spec) in params(StylizeOptions).items()}
TIME_FORMATS = " Also mm:ss or hh:mm:ss (decimals allowed)."

#: --ray, --workers, --cpus-per-worker, --gpus-per-worker: declared once, by `stylize`, reused here as they are
_STYLIZE_HINTS = get_type_hints(_stylize_command, include_extras=True)
_STYLIZE_DEFAULTS = {name: p.default for name, p in inspect.signature(_stylize_command).parameters.items()}
RayFlag = _STYLIZE_HINTS["ray"]
WorkersFlag = _STYLIZE_HINTS["workers"]
CpusPerWorkerFlag = _STYLIZE_HINTS["cpus_per_worker"]
GpusPerWorkerFlag = _STYLIZE_HINTS["gpus_per_worker"]


def register(app: typer.Typer) -> None:
    app.command("video", no_args_is_help=True)(video)


def video(
    source: Annotated[str, typer.Argument(metavar="IN", help="Video file, GIF, or a folder of frames.")],
    output: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="OUT", help="Output file (.mp4, .mkv, .mov, .webm, .gif); "
                                              "default: IN_anime.mp4 beside the input.")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", "-m", metavar="NAME|PATH", help="Zoo model name or weights file (default: the zoo's).")] = None,
    codec: Annotated[str | None, typer.Option(help=HELP["codec"])] = DEFAULT["codec"],
    crf: Annotated[int | None, typer.Option(help=HELP["crf"])] = DEFAULT["crf"],
    preset: Annotated[str | None, typer.Option(help=HELP["preset"])] = DEFAULT["preset"],
    max_side: Annotated[int | None, typer.Option(help=HELP["max_side"])] = DEFAULT["max_side"],
    start: Annotated[str | None, typer.Option(help=HELP["start"] + TIME_FORMATS)] = DEFAULT["start"],
    end: Annotated[str | None, typer.Option(help=HELP["end"] + TIME_FORMATS)] = DEFAULT["end"],
    fps: Annotated[float | None, typer.Option(help=HELP["fps"])] = DEFAULT["fps"],
    backend: Annotated[str, typer.Option(help="torch or onnx.")] = "torch",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    precision: Annotated[str, typer.Option(help="auto, fp32, bf16 or fp16 (CUDA).")] = "auto",
    batch_size: Annotated[int, typer.Option(help=HELP["batch_size"])] = DEFAULT["batch_size"],
    palette: Annotated[float, typer.Option(help=STYLIZE_HELP["palette"])] = STYLIZE_DEFAULT["palette"],
    temporal: Annotated[bool, typer.Option("--temporal", help=HELP["temporal"])] = DEFAULT["temporal"],
    temporal_strength: Annotated[float, typer.Option(help=HELP["temporal_strength"])] = DEFAULT["temporal_strength"],
    resume: Annotated[bool, typer.Option("--resume", help=HELP["resume"])] = DEFAULT["resume"],
    segment_frames: Annotated[int, typer.Option(help=HELP["segment_frames"])] = DEFAULT["segment_frames"],
    skip_existing: Annotated[bool, typer.Option(
        "--skip-existing/--overwrite", help="Leave OUT alone when it already exists (like stylize).")] = True,
    allow_truncated: Annotated[bool, typer.Option(
        "--allow-truncated", help=HELP["allow_truncated"])] = DEFAULT["allow_truncated"],
    ray: RayFlag = _STYLIZE_DEFAULTS["ray"],
    workers: WorkersFlag = _STYLIZE_DEFAULTS["workers"],
    cpus_per_worker: CpusPerWorkerFlag = _STYLIZE_DEFAULTS["cpus_per_worker"],
    gpus_per_worker: GpusPerWorkerFlag = _STYLIZE_DEFAULTS["gpus_per_worker"],
    chunk_seconds: Annotated[float | None, typer.Option(
        min=0.001, help="With --ray: the video is cut at keyframes into chunks of whole GOPs at least this long "
                        "(default 10), one per task; --resume redoes only unfinished chunks. --temporal is "
                        "refused with --ray (chunks are stylized independently).")] = None,
) -> None:
    """Stylize a video (or GIF, or folder of frames), keeping its sound, frame rate and rotation."""
    from ..inference.stylizer import Stylizer
    from ..video import VideoTruncatedError, stylize_video
    from ..video.source import open_source

    if ray is None and (workers is not None or cpus_per_worker != 1.0 or gpus_per_worker != 0.0
                        or chunk_seconds is not None):
        raise fail("--workers, --cpus-per-worker, --gpus-per-worker and --chunk-seconds are for --ray: add --ray")
    with cli_errors():
        src = Path(source)
        dst = Path(output) if output else default_output(src)
        t_start, t_end = parse_time(start, "--start"), parse_time(end, "--end")
        if skip_existing and dst.exists():
            err_console.print(f"skipped: {dst} already exists (pass --overwrite to convert again)",
                              highlight=False, soft_wrap=True, markup=False)
            return
        options = VideoOptions(codec=codec, crf=crf, preset=preset, max_side=max_side, start=t_start, end=t_end,
                               fps=fps, batch_size=batch_size, segment_frames=segment_frames, resume=resume,
                               allow_truncated=allow_truncated, temporal=temporal,
                               temporal_strength=temporal_strength)
        if ray is not None:
            from ..video.chunks import refuse_temporal

            refuse_temporal(options, params=("ray", "temporal"))  # one line, before anything runs
        open_source(src, fps=options.fps)  # a bad input fails here, before the model loads
        if ray is None:
            stylizer = Stylizer(model, device=device, precision=precision, backend=backend,
                                options=StylizeOptions(palette=palette))

            def convert(progress):
                return stylize_video(src, dst, stylizer, options, progress=progress)
        else:  # --ray: chunks of whole GOPs on the cluster's actors, joined here
            from ..distributed import stylize_video_on_ray

            def convert(progress):
                kwargs = {} if chunk_seconds is None else {"chunk_seconds": chunk_seconds}
                return stylize_video_on_ray(src, dst, model, options, stylize_options=StylizeOptions(palette=palette),
                                            address=ray, workers=workers, cpus_per_worker=cpus_per_worker,
                                            gpus_per_worker=gpus_per_worker, device=device, precision=precision,
                                            backend=backend, progress=progress,
                                            verbose=logging.getLogger("animegan").isEnabledFor(logging.DEBUG),
                                            **kwargs)
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      _RateColumn(), TextColumn("ETA"), TimeRemainingColumn(), TextColumn("elapsed"),
                      TimeElapsedColumn(),
                      console=err_console, transient=False) as bar:
            task = bar.add_task(src.name, total=None)

            def progress(done: int, total: int | None) -> None:
                bar.update(task, completed=done, total=total)

            try:
                result = convert(progress)
            except VideoTruncatedError as exc:
                raise fail(f"{exc}; the {exc.decoded} stylized frames are kept in {dst}.parts/: run the same "
                           "command with --resume --allow-truncated to write them") from None
            except KeyboardInterrupt:
                raise fail(f"interrupted: finished segments are kept in {dst}.parts/; run the same command "
                           "with --resume to continue", code=130) from None
        err_console.print(f"wrote {result.path} ({result.frames} frames, {result.size[0]}×{result.size[1]}, "
                          f"{result.audio}; {result.fps:.2f} frames/s)", highlight=False)


def default_output(src: Path) -> Path:
    """IN_anime.mp4 beside the input (a GIF stays a GIF, mkv/mov/webm keep their container)."""
    ext = src.suffix.lower() if src.suffix.lower() in (".gif", ".mkv", ".mov", ".webm", ".mp4") else ".mp4"
    return src.with_name(f"{src.name if src.is_dir() else src.stem}_anime{ext}")


def parse_time(text: str | None, flag: str) -> float | None:
    """Seconds from ``12.5``, ``1:02`` or ``01:02:03.5``."""
    if text is None:
        return None
    if not re.fullmatch(r"(\d+:){0,2}\d+(\.\d+)?", text.strip()):
        raise InputError(f"{flag} {text}: expected seconds or [hh:]mm:ss[.ms]")
    seconds = 0.0
    for part in text.strip().split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


class _RateColumn(ProgressColumn):
    """Frames per second over the whole run so far."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} frames/s" if speed else "… frames/s", style="progress.data.speed")
