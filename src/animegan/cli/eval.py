"""`animegan eval [STYLE...]`: colour-fidelity figures, speed and a contact sheet for styles on photos.

For each style (default: every shipped style) and each photo of ``--photos`` (default: the bundled
samples) at ``--max-side``: the five figures of issue 16 for the raw network output and after the
colour-and-tone stage (``--palette``), time per image, a contact sheet (photo | each style) as PNG,
and everything as JSON. Writes OUT/eval.json and OUT/contact-sheet.png; prints a Markdown table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..inference.options import StylizeOptions
from ..params import spec
from .common import cli_errors, err_console

_PALETTE, _PALETTE_SPEC = spec(StylizeOptions, "palette")
_CHROMA, _CHROMA_SPEC = spec(StylizeOptions, "chroma_smoothing")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_styles)


def eval_styles(
    styles: Annotated[list[str] | None, typer.Argument(
        metavar="[STYLE...]", help="Zoo names or weights files (default: every shipped style).")] = None,
    photos: Annotated[str | None, typer.Option(
        "--photos", metavar="DIR", help="Folder of photos (default: the bundled sample photos).")] = None,
    output: Annotated[str, typer.Option(
        "--output", "-o", metavar="OUT", help="Folder for eval.json and contact-sheet.png.")] = "eval",
    max_side: Annotated[int, typer.Option(help="Downscale each photo so its longer side is at most this.")] = 512,
    limit: Annotated[int, typer.Option(help="Only the first N photos (0: all).")] = 0,
    palette: Annotated[float, typer.Option(help=_PALETTE_SPEC.help)] = _PALETTE,
    chroma_smoothing: Annotated[float, typer.Option(help=_CHROMA_SPEC.help)] = _CHROMA,
    sheet_photos: Annotated[int, typer.Option(help="Photos (rows) on the contact sheet.")] = 8,
    per_image: Annotated[bool, typer.Option("--per-image", help="Also write every photo's figures.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    precision: Annotated[str, typer.Option(help="auto, fp32, bf16 or fp16 (CUDA).")] = "auto",
) -> None:
    """Colour fidelity of styles on photos: the five figures (raw and with the colour stage), speed, sheet."""
    from ..evaluation import quality
    from ..io.atomic import atomic_write_bytes
    from ..io.images import save_image
    from ..resources import samples_dir

    with cli_errors():
        StylizeOptions(max_side=max_side, palette=palette, chroma_smoothing=chroma_smoothing)  # checks them
        files = quality.find_photos(photos if photos is not None else samples_dir(), limit)
        chosen = list(styles) if styles else quality.shipped_styles()
        out_dir = Path(output)
        if out_dir.exists() and not out_dir.is_dir():
            raise quality.InputError(f"-o {out_dir}: exists and is not a folder")
        with err_console.status("") as status:
            def progress(style: str, done: int, total: int) -> None:
                status.update(f"{style}: {done}/{total} photos")

            report = quality.evaluate(chosen, files, max_side=max_side, palette=palette,
                                      chroma_smoothing=chroma_smoothing, device=device, precision=precision,
                                      sheet_photos=sheet_photos, progress=progress)
        sheet = quality.contact_sheet(report.sheet_rows, labels=["photo", *chosen])
        out_dir.mkdir(parents=True, exist_ok=True)
        sheet_path = save_image(sheet, out_dir / "contact-sheet.png", ext="png")
        data = report.to_dict(per_image=per_image)
        data["contact_sheet"] = sheet_path.name
        atomic_write_bytes(out_dir / "eval.json", (json.dumps(data, indent=2) + "\n").encode())
    typer.echo(report.markdown())
    err_console.print(f"wrote {out_dir / 'eval.json'} and {sheet_path}", highlight=False)
