"""Before/after contact sheets of the colour-and-tone stage: photo | raw network | with the stage.

One JPEG per style in ``docs/`` (``colour-<style>.jpg``), eight rows: evaluation photos with sky,
foliage, autumn leaves, snow, a face and a night scene, and the bundled astronaut portrait. The
eval photos are read from ``../shared/data/eval/animegan_test`` (rows skipped when absent).

    python scripts/contact_sheets.py                       # every shipped style, default palette
    python scripts/contact_sheets.py --styles hayao --palette 0.3 --out /tmp/sheets
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import torch
from PIL import Image

from animegan import quality
from animegan.inference import processing as proc
from animegan.inference.color import DEFAULT_CHROMA_SMOOTHING, DEFAULT_PALETTE, apply_palette
from animegan.inference.stylizer import Stylizer
from animegan.resources import samples_dir

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "data" / "eval" / "animegan_test"
#: (photo, what it shows): sky, sky + snow + blossom, foliage, autumn leaves, snow, face, night, face
PICKS = (
    (EVAL / "HR_photo_31.jpg", "blue sky, stone tower, grass"),
    (EVAL / "val_37.jpg", "Mount Fuji: blue sky, snow, pink blossom"),
    (EVAL / "val_15.jpg", "green trees reflected in water"),
    (EVAL / "real_384_632.jpg", "yellow autumn leaves on a bench"),
    (EVAL / "val_44.jpg", "snowy village"),
    (EVAL / "val_zl.jpg", "a face: portrait in an orange top"),
    (EVAL / "HR_photo_38.jpg", "night: the lit Eiffel tower"),
    (samples_dir() / "astronaut.jpg", "a face: the bundled astronaut portrait"),
)


def save_under(img: Image.Image, path: Path, limit: int = 400_000) -> int:
    """Save as JPEG at the highest quality (90 down to 50) that keeps the file under ``limit`` bytes."""
    for q in range(90, 45, -5):
        buffer = io.BytesIO()
        img.save(buffer, format="JPEG", quality=q, optimize=True)
        if buffer.tell() < limit:
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return q


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--styles", nargs="+", default=None, help="default: every shipped style")
    ap.add_argument("--palette", type=float, default=DEFAULT_PALETTE)
    ap.add_argument("--chroma-smoothing", type=float, default=DEFAULT_CHROMA_SMOOTHING)
    ap.add_argument("--weights", default="", help="folder holding <style>.safetensors (default: the zoo's files)")
    ap.add_argument("--max-side", type=int, default=512)
    ap.add_argument("--height", type=int, default=200, help="row height on the sheet")
    ap.add_argument("--out", default=str(ROOT / "docs"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    picks = [(p, what) for p, what in PICKS if p.is_file()]
    photos = [quality.load_photo(p, args.max_side) for p, _ in picks]
    for style in args.styles or quality.shipped_styles():
        model = str(Path(args.weights) / f"{style}.safetensors") if args.weights else style
        stylizer = Stylizer(model, device="cpu", precision="fp32")
        rows = []
        for rgb in photos:
            raw = stylizer.forward_rgb(rgb[None])[0]
            after = apply_palette(raw, rgb, args.palette, args.chroma_smoothing)
            rows.append([proc.to_uint8(rgb), proc.to_uint8(raw), proc.to_uint8(after)])
        sheet = quality.contact_sheet(rows, height=args.height,
                                      labels=["photo", f"{style}: raw network", f"{style}: palette {args.palette:g}"])
        target = Path(args.out) / f"colour-{style}.jpg"
        q = save_under(sheet, target)
        print(style, target, sheet.size, f"JPEG q{q}", f"{target.stat().st_size / 1000:.0f} kB", flush=True)
    for i, (p, what) in enumerate(picks, 1):
        print(f"row {i}: {p.name}: {what}")


if __name__ == "__main__":
    main()
