"""Contact sheets of the default styles: one row per evaluation photo, input | teacher | ours.

Uses the teacher outputs cached by ``scripts/eval_styles.py``, so run that first with the same
``--max-side``.

    python scripts/contact_sheets.py --out docs/styles
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from eval_styles import DATA, ROOT, load_photo, run
from PIL import Image

from animegan.hub.weights import load_generator_file

#: six photos spread over the set (streets, station, shops, greenery, sky)
PICKS = (0, 22, 45, 68, 91, 114)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--styles", nargs="+", default=["hayao", "shinkai", "paprika"])
    ap.add_argument("--weights", default=str(ROOT / "src" / "animegan" / "weights"))
    ap.add_argument("--max-side", type=int, default=256)
    ap.add_argument("--work", default=str(ROOT / "runs" / "eval"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "styles"))
    ap.add_argument("--png-copy", default="", help="also write PNG copies here (for viewers without JPEG)")
    args = ap.parse_args()
    photos = sorted((DATA / "eval" / "animegan_test").glob("*.jpg"))
    picks = [photos[i] for i in PICKS if i < len(photos)]
    for style in args.styles:
        model, _ = load_generator_file(Path(args.weights) / f"{style}.safetensors")  # eval mode, fp32
        folder = Path(args.work) / f"teacher-{style}-{args.max_side}"
        rows = []
        for p in picks:
            img = load_photo(p, args.max_side)
            with Image.open(folder / f"{p.stem}.png") as im:
                teacher = np.asarray(im.convert("RGB"))
            ours = run(model, img)
            row = np.concatenate([img, teacher, ours], axis=1)
            rows.append(np.asarray(Image.fromarray(row).resize((3 * 192, round(row.shape[0] * 3 * 192 / row.shape[1])),
                                                              Image.Resampling.LANCZOS)))
        sheet = Image.fromarray(np.concatenate(rows, axis=0))
        Path(args.out).mkdir(parents=True, exist_ok=True)
        sheet.save(Path(args.out) / f"{style}.jpg", quality=82, optimize=True)
        if args.png_copy:
            sheet.save(Path(args.png_copy) / f"{style}.png")
        print(style, Path(args.out) / f"{style}.jpg", sheet.size)


if __name__ == "__main__":
    main()
