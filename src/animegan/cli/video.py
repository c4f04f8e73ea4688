"""`animegan video IN -o OUT`: a video, GIF or folder of frames in, a stylized video out, sound kept.

Thin: parse, build the Stylizer, call :func:`animegan.video.pipeline.stylize_video`, render a progress
bar (frames/s and ETA) on stderr. Errors are one line and a non-zero exit.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

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
from ..inference.color import PALETTE_HELP
from ..inference.options import StylizeOptions
from .common import cli_errors, err_console, fail


def register(app: typer.Typer) -> None:
    app.command("video", no_args_is_help=True)(video)


def video(
    source: Annotated[str, typer.Argument(metavar="IN", help="Video file, GIF, or a folder of frames.")],
    output: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="OUT", help="Output file (.mp4, .mkv, .mov, .webm, .gif); "
                                              "default: IN_anime.mp4 beside the input.")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", "-m", metavar="NAME|PATH", help="Zoo model name or weights file (default: the zoo's).")] = None,
    codec: Annotated[str | None, typer.Option(
        help="Video encoder: libx264 (default), h264, hevc, vp9, gif, ... (whatever this FFmpeg has).")] = None,
    crf: Annotated[int | None, typer.Option(help="Quality: lower is better (x264/x265 default 18, vp9 31).")] = None,
    preset: Annotated[str | None, typer.Option(help="x264/x265 speed preset (ultrafast ... veryslow).")] = None,
    max_side: Annotated[int | None, typer.Option(help="Downscale so the longer side is at most this.")] = None,
    start: Annotated[str | None, typer.Option(
        help="Start at this time: seconds, mm:ss or hh:mm:ss (decimals allowed).")] = None,
    end: Annotated[str | None, typer.Option(
        help="Stop at this time: seconds, mm:ss or hh:mm:ss (decimals allowed).")] = None,
    fps: Annotated[float | None, typer.Option(help="Frame rate for a folder of frames (default 25).")] = None,
    backend: Annotated[str, typer.Option(help="torch or onnx.")] = "torch",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    precision: Annotated[str, typer.Option(help="auto, fp32, bf16 or fp16 (CUDA).")] = "auto",
    batch_size: Annotated[int, typer.Option(help="Frames per forward pass.")] = 4,
    palette: Annotated[float, typer.Option(help=PALETTE_HELP)] = StylizeOptions.palette,
    temporal: Annotated[bool, typer.Option(
        "--temporal", help="Reduce flicker: smooth the output where the input is still.")] = False,
    temporal_strength: Annotated[float, typer.Option(
        help="With --temporal: weight of the previous output in still areas, 0 to <1.")] = 0.7,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue an interrupted conversion (finished segments in OUT.parts/ are kept).")] = False,
    segment_frames: Annotated[int, typer.Option(help="Frames per resumable segment.")] = 250,
    skip_existing: Annotated[bool, typer.Option(
        "--skip-existing/--overwrite", help="Leave OUT alone when it already exists (like stylize).")] = True,
    allow_truncated: Annotated[bool, typer.Option(
        "--allow-truncated", help="Write a cut-off input's decodable frames (with a warning) instead of "
                                  "failing.")] = False,
) -> None:
    """Stylize a video (or GIF, or folder of frames), keeping its sound, frame rate and rotation."""
    from ..inference.stylizer import Stylizer
    from ..video.pipeline import VideoTruncatedError, stylize_video
    from ..video.source import open_source
    from ..video.temporal import TemporalSettings

    with cli_errors():
        src = Path(source)
        dst = Path(output) if output else default_output(src)
        t_start, t_end = parse_time(start, "--start"), parse_time(end, "--end")
        if skip_existing and dst.exists():
            err_console.print(f"skipped: {dst} already exists (pass --overwrite to convert again)",
                              highlight=False, soft_wrap=True, markup=False)
            return
        smoothing = TemporalSettings(strength=temporal_strength).validate() if temporal else None
        open_source(src, fps=fps)  # a bad input fails here, before the model loads
        options = StylizeOptions(palette=palette).validate()
        stylizer = Stylizer(model, device=device, precision=precision, backend=backend, options=options)
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      _RateColumn(), TextColumn("ETA"), TimeRemainingColumn(), TextColumn("elapsed"),
                      TimeElapsedColumn(),
                      console=err_console, transient=False) as bar:
            task = bar.add_task(src.name, total=None)

            def progress(done: int, total: int | None) -> None:
                bar.update(task, completed=done, total=total)

            try:
                result = stylize_video(src, dst, stylizer=stylizer, codec=codec, crf=crf, preset=preset,
                                       max_side=max_side, start=t_start, end=t_end, fps=fps,
                                       batch_size=batch_size, temporal=smoothing, resume=resume,
                                       segment_frames=segment_frames, progress=progress,
                                       allow_truncated=allow_truncated)
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
