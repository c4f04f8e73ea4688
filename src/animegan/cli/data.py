"""`animegan data ...`: prepare training data (edge-smoothed style sets, aligned faces, checks, VGG files)."""

from __future__ import annotations

import logging
import statistics
from pathlib import Path
from typing import Annotated

import typer

from ..errors import AnimeGANError, ImageDecodeError
from .common import cli_errors, fail, print_error_line

log = logging.getLogger("animegan.data")

data_app = typer.Typer(help="Prepare training data: smoothed style sets, aligned faces, folder checks.",
                       no_args_is_help=True)


def _outputs(src_dir: Path, files: list[Path], out_dir: Path) -> list[tuple[Path, Path]]:
    if out_dir.resolve() == src_dir.resolve():
        raise fail(f"{out_dir}: the output folder must differ from the input folder")
    return [(f, out_dir / f.relative_to(src_dir)) for f in files]


@data_app.command("smooth")
def smooth(style_dir: Annotated[Path, typer.Argument(help="Folder of anime style frames.")],
           out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the edge-smoothed copies.")],
           overwrite: Annotated[bool, typer.Option(help="Redo outputs that already exist.")] = False,
           low: Annotated[float, typer.Option(help="Canny low threshold.")] = 100,
           high: Annotated[float, typer.Option(help="Canny high threshold.")] = 200) -> None:
    """Edge-smoothed copies (Canny, dilate 5×5, Gaussian blur under the mask), same relative names."""
    from PIL import Image

    from ..io.discovery import list_images
    from ..io.images import save_image
    from ..training.data import load_rgb
    from ..training.smoothing import smooth_edges

    with cli_errors():
        files = list_images(style_dir)
    done = skipped = failed = 0
    for src, dst in _outputs(style_dir, files, out):
        if dst.exists() and not overwrite:
            skipped += 1
            continue
        try:
            save_image(Image.fromarray(smooth_edges(load_rgb(src), low, high)), dst, quality=95)
            done += 1
        except AnimeGANError as exc:
            print_error_line(str(exc))
            failed += 1
    typer.echo(f"smoothed {done} images into {out} ({skipped} already there, {failed} failed)")
    if failed:
        raise typer.Exit(1)


@data_app.command("faces")
def faces(photos: Annotated[Path, typer.Argument(help="Folder of photos with faces.")],
          out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the aligned face crops (PNG).")],
          size: Annotated[int, typer.Option(help="Side of the square crops.")] = 256,
          min_score: Annotated[float, typer.Option(help="Drop detections scoring below this (dlib HOG, ~0..3).")] = 0.5,
          upsample: Annotated[int, typer.Option(help="Upsample the photo this many times to find small faces.")] = 1,
          max_faces: Annotated[int, typer.Option(help="At most this many faces per photo, largest first (0: all).")] = 0,
          overwrite: Annotated[bool, typer.Option(help="Redo photos whose first crop already exists.")] = False) -> None:
    """Detect faces (dlib), align them (eyes level) and write SIZE² crops as NAME_face{i}.png."""
    from ..io.discovery import list_images
    from ..io.images import save_image
    from ..training.data import load_rgb

    with cli_errors():
        from ..inference.faces import check_available, extract_faces

        files = list_images(photos)
        check_available()
    n_faces = n_photos = without = failed = 0
    for src, dst in _outputs(photos, files, out):
        first = dst.with_name(f"{dst.stem}_face0.png")
        if first.exists() and not overwrite:
            continue
        try:
            crops = extract_faces(load_rgb(src), size, upsample, min_score, max_faces or None)
        except AnimeGANError as exc:
            print_error_line(str(exc))
            failed += 1
            continue
        n_photos += 1
        without += not crops
        for i, crop in enumerate(crops):
            save_image(crop, dst.with_name(f"{dst.stem}_face{i}.png"))
            n_faces += 1
    typer.echo(f"{n_faces} faces from {n_photos} photos into {out} ({without} photos without a face, "
               f"{failed} failed)")
    if failed:
        raise typer.Exit(1)


@data_app.command("check")
def check(folder: Annotated[Path, typer.Argument(help="Folder of training images.")],
          size: Annotated[int, typer.Option(help="Crop size the images must cover.")] = 256) -> None:
    """Count the images, summarise their sizes, and list files that do not decode or are too small."""
    from PIL import Image

    from ..io.discovery import list_images

    with cli_errors():
        files = list_images(folder)
    widths, heights, small, bad = [], [], [], []
    for f in files:
        try:
            with Image.open(f) as im:
                w, h = im.size
                im.verify()
        except Exception as exc:  # noqa: BLE001 - any decoder failure makes the file unusable
            bad.append(ImageDecodeError(f"{f}: does not decode ({exc.__class__.__name__})"))
            continue
        widths.append(w)
        heights.append(h)
        if min(w, h) < size:
            small.append(f)
    typer.echo(f"{folder}: {len(files)} images, {len(widths)} decode")
    if widths:
        typer.echo(f"  width  min {min(widths)}  median {statistics.median(widths):g}  max {max(widths)}")
        typer.echo(f"  height min {min(heights)}  median {statistics.median(heights):g}  max {max(heights)}")
    typer.echo(f"  {len(small)} smaller than {size} px on a side (upscaled when cropped)")
    for err in bad:
        print_error_line(str(err))
    if bad:
        raise typer.Exit(1)


@data_app.command("vgg-convert")
def vgg_convert(src: Annotated[Path, typer.Argument(help="Caffe vgg19.npy of the AnimeGANv2 TF release.")],
                out: Annotated[Path, typer.Option("--out", "-o", help="Output .safetensors file.")],
                trust_pickle: Annotated[bool, typer.Option(
                    "--trust-pickle", help="Allow unpickling the .npy (runs code in it: only for files "
                                           "from a source you trust).")] = False) -> None:
    """Convert the caffe VGG19 .npy to torchvision names (RGB input) for `vgg_weights = PATH`."""
    from safetensors.torch import save_file

    from ..io.atomic import atomic_path
    from ..nn.vgg import convert_caffe_npy

    with cli_errors():
        state = convert_caffe_npy(src, trust_pickle=trust_pickle)
        target = out if out.suffix == ".safetensors" else out.with_suffix(".safetensors")
        with atomic_path(target) as tmp:
            save_file(state, str(tmp), metadata={"source": src.name, "layout": "torchvision-vgg19-features",
                                                  "normalization": "caffe", "input": "RGB"})
    typer.echo(f"wrote {target} ({len(state)} tensors; use normalization 'caffe')")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
