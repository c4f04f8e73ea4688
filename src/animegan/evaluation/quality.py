"""Colour-fidelity figures for styles on a folder of photos (the library behind ``animegan eval``).

The five figures (issue 16), on RGB 0–255 per image, then the mean over images; Y, U, V as in
AnimeGANv2's colour loss (:data:`animegan.inference.color.YUV_FROM_RGB`), primes for the output:

- ``chroma_dev``: per-pixel chroma deviation, mean|U′−U| + mean|V′−V|
- ``chroma_shift``: global chroma shift, |mean U′ − mean U| + |mean V′ − mean V|
- ``brightness_shift``: |mean Y′ − mean Y|
- ``structure_change``: luminance structure change, mean|(Y′ − mean Y′) − (Y − mean Y)|
- ``gradient_ratio``: mean|∇Y′| / mean|∇Y| (horizontal and vertical differences)

:func:`evaluate` runs each style once per photo and reports the figures of the raw network output
and of the output after the colour-and-tone stage (:mod:`animegan.inference.color`) side by side,
with the time per image; :func:`contact_sheet` puts photos and results in a grid.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import InputError
from ..hub import zoo
from ..inference import processing as proc
from ..inference.color import (
    DEFAULT_CHROMA_SMOOTHING,
    DEFAULT_PALETTE,
    apply_palette,
    check_palette,
    rgb_to_yuv,
)
from ..inference.stylizer import Stylizer
from ..io.discovery import list_images
from ..io.images import open_image

log = logging.getLogger("animegan")

FIGURES = ("chroma_dev", "chroma_shift", "brightness_shift", "structure_change", "gradient_ratio")
#: issue 16's acceptance targets: (comparison, bound)
TARGETS: dict[str, tuple[str, float]] = {
    "chroma_shift": ("<=", 4.0), "chroma_dev": ("<=", 8.0), "brightness_shift": ("<=", 5.0),
    "structure_change": (">=", 10.0), "gradient_ratio": ("<=", 0.8)}
LABELS = {"chroma_dev": "per-pixel chroma dev.", "chroma_shift": "global chroma shift",
          "brightness_shift": "brightness shift", "structure_change": "luminance structure change",
          "gradient_ratio": "gradient ratio out/in"}


def image_figures(photo: np.ndarray, out: np.ndarray) -> dict[str, float]:
    """The five figures for one H×W×3 photo and its stylization (uint8 or floats on the 0–255 scale)."""
    if photo.shape != out.shape:
        raise InputError(f"figures: photo {photo.shape} and output {out.shape} differ in shape")
    p = rgb_to_yuv(np.asarray(photo, np.float32)).astype(np.float64)
    o = rgb_to_yuv(np.asarray(out, np.float32)).astype(np.float64)
    mean_p, mean_o = p.mean(axis=(0, 1)), o.mean(axis=(0, 1))
    yp, yo = p[:, :, 0], o[:, :, 0]

    def grad(y: np.ndarray) -> float:
        return float(np.abs(np.diff(y, axis=1)).mean() + np.abs(np.diff(y, axis=0)).mean())

    return {
        "chroma_dev": float(np.abs(o[:, :, 1:] - p[:, :, 1:]).mean(axis=(0, 1)).sum()),
        "chroma_shift": float(np.abs(mean_o[1:] - mean_p[1:]).sum()),
        "brightness_shift": float(abs(mean_o[0] - mean_p[0])),
        "structure_change": float(np.abs((yo - mean_o[0]) - (yp - mean_p[0])).mean()),
        "gradient_ratio": grad(yo) / max(grad(yp), 1e-9),
    }


def summarise(rows: Sequence[dict[str, float]]) -> dict[str, Any]:
    """Mean and worst (furthest from its target) of each figure over images, and whether the mean meets it."""
    summary: dict[str, Any] = {}
    for name in FIGURES:
        values = np.array([r[name] for r in rows], dtype=np.float64)
        cmp, bound = TARGETS[name]
        mean = float(values.mean())
        summary[name] = {"mean": round(mean, 3),
                         "worst": round(float(values.max() if cmp == "<=" else values.min()), 3),
                         "target": f"{cmp} {bound:g}",
                         "meets": bool(mean <= bound if cmp == "<=" else mean >= bound)}
    return summary


def find_photos(folder: str | os.PathLike, limit: int = 0) -> list[Path]:
    """Image files directly in ``folder`` (subfolders are not read), sorted by name (first ``limit`` when > 0)."""
    return list_images(folder, recursive=False, limit=limit)


def load_photo(path: str | os.PathLike, max_side: int | None) -> np.ndarray:
    """The photo as the Stylizer sees it with ``max_side``: float32 H×W×3 RGB in [0, 1]."""

    return proc.limit_side(proc.split_image(open_image(path, max_side=max_side)), max_side).rgb


def shipped_styles() -> list[str]:
    """Names of the styles whose weights ship inside the package, default first."""

    catalogue = zoo.shipped_zoo()
    names = [e.name for e in catalogue.list_models() if e.bundled]
    default = catalogue.default_model_name()
    return sorted(names, key=lambda n: (n != default, names.index(n)))


@dataclass
class StyleResult:
    """One style over the photos: figures per image for the raw output and after the stage, and timing."""

    style: str
    photos: list[str] = field(default_factory=list)
    raw: list[dict[str, float]] = field(default_factory=list)
    staged: list[dict[str, float]] = field(default_factory=list)
    model_seconds: float = 0.0
    stage_seconds: float = 0.0

    def to_dict(self, per_image: bool = False) -> dict[str, Any]:
        n = max(1, len(self.photos))
        out: dict[str, Any] = {
            "raw": summarise(self.raw), "staged": summarise(self.staged),
            "sec_per_image": round((self.model_seconds + self.stage_seconds) / n, 4),
            "model_sec_per_image": round(self.model_seconds / n, 4),
            "stage_ms_per_image": round(1000 * self.stage_seconds / n, 2),
        }
        if per_image:
            out["per_image"] = [{"photo": p, "raw": r, "staged": s}
                                for p, r, s in zip(self.photos, self.raw, self.staged, strict=True)]
        return out


@dataclass
class EvalReport:
    """Everything ``animegan eval`` measured; :meth:`to_dict` is its JSON."""

    photos_dir: str
    photos: list[str]
    max_side: int | None
    palette: float
    chroma_smoothing: float
    device: str
    results: dict[str, StyleResult] = field(default_factory=dict)
    #: per photo: the photo and each style's staged output, uint8 (for the contact sheet)
    sheet_rows: list[list[np.ndarray]] = field(default_factory=list)

    def to_dict(self, per_image: bool = False) -> dict[str, Any]:
        return {"photos_dir": self.photos_dir, "photos": len(self.photos), "max_side": self.max_side,
                "palette": self.palette, "chroma_smoothing": self.chroma_smoothing, "device": self.device,
                "figures": {k: LABELS[k] for k in FIGURES},
                "styles": {s: r.to_dict(per_image) for s, r in self.results.items()}}

    def markdown(self) -> str:
        """A table, one row per style and variant (raw network output, and with the stage)."""
        head = ["style", "output"] + [LABELS[k] for k in FIGURES] + ["s/image"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for style, res in self.results.items():
            d = res.to_dict()
            for variant, label in (("raw", "raw network"), ("staged", f"palette {self.palette:g}")):
                cells = []
                for k in FIGURES:
                    fig = d[variant][k]
                    mark = "" if fig["meets"] else " ✗"
                    cells.append(f"{fig['mean']:.2f} (worst {fig['worst']:.1f}){mark}")
                speed = f"{d['sec_per_image']:.3f}" if variant == "staged" else f"{d['model_sec_per_image']:.3f}"
                lines.append(f"| {style} | {label} | " + " | ".join(cells) + f" | {speed} |")
        return "\n".join(lines)


def evaluate(styles: Sequence[str], photos: Sequence[str | os.PathLike], *, max_side: int | None = 512,
             palette: float = DEFAULT_PALETTE, chroma_smoothing: float = DEFAULT_CHROMA_SMOOTHING,
             device: str = "auto", precision: str = "auto", sheet_photos: int = 8,
             progress: Callable[[str, int, int], None] | None = None) -> EvalReport:
    """Run every style on every photo once; figures for the raw output and after the stage.

    ``styles``: zoo names or weights files. The model's time covers the network with its padding
    (:meth:`Stylizer.forward_rgb`); the stage's time is :func:`apply_palette` alone. The first
    ``sheet_photos`` photos are kept for :func:`contact_sheet`.
    """

    palette = check_palette(palette)
    if not styles:
        raise InputError("eval: no styles given")
    if not photos:
        raise InputError("eval: no photos given")
    images = [load_photo(p, max_side) for p in photos]
    names = [Path(p).name for p in photos]
    report = EvalReport(photos_dir=str(Path(photos[0]).parent), photos=names, max_side=max_side, palette=palette,
                        chroma_smoothing=chroma_smoothing, device="")
    report.sheet_rows = [[proc.to_uint8(img)] for img in images[:sheet_photos]]
    for style in styles:
        stylizer = Stylizer(style, device=device, precision=precision)
        report.device = stylizer.policy.describe()
        stylizer.forward_rgb(images[0][None, :64, :64])  # warm-up: first-call allocations out of the timing
        res = StyleResult(style=style)
        for i, (name, rgb) in enumerate(zip(names, images, strict=True)):
            t0 = time.perf_counter()
            raw = stylizer.forward_rgb(rgb[None])[0]
            t1 = time.perf_counter()
            staged = apply_palette(raw, rgb, palette, chroma_smoothing)
            t2 = time.perf_counter()
            res.model_seconds += t1 - t0
            res.stage_seconds += t2 - t1
            photo8, staged8 = proc.to_uint8(rgb), proc.to_uint8(staged)
            res.photos.append(name)
            res.raw.append(image_figures(photo8, proc.to_uint8(raw)))
            res.staged.append(image_figures(photo8, staged8))
            if i < sheet_photos:
                report.sheet_rows[i].append(staged8)
            if progress is not None:
                progress(style, i + 1, len(images))
        report.results[style] = res
        log.info("%s: %s", style, res.to_dict()["staged"])
    return report


def contact_sheet(rows: Sequence[Sequence[np.ndarray]], height: int = 192, gap: int = 4,
                  labels: Sequence[str] | None = None) -> Image.Image:
    """A grid: one row per entry of ``rows`` (uint8 H×W×3 images of one size each), every cell
    resized to ``height`` pixels high; white gaps. ``labels`` (one per column) go in a header."""
    from PIL import ImageDraw

    cells = []
    for row in rows:
        h, w = row[0].shape[:2]
        width = max(1, round(w * height / h))
        cells.append([np.asarray(Image.fromarray(c).resize((width, height), Image.Resampling.LANCZOS))
                      for c in row])
    columns = max(len(r) for r in cells)
    col_w = [max(r[c].shape[1] for r in cells if c < len(r)) for c in range(columns)]
    header = 18 if labels else 0
    total_w = sum(col_w) + gap * (columns + 1)
    total_h = header + len(cells) * height + gap * (len(cells) + 1)
    sheet = np.full((total_h, total_w, 3), 255, dtype=np.uint8)
    y = header + gap
    for row in cells:
        x = gap
        for c, cell in enumerate(row):
            sheet[y:y + height, x:x + cell.shape[1]] = cell
            x += col_w[c] + gap
        y += height + gap
    img = Image.fromarray(sheet)
    if labels:
        draw = ImageDraw.Draw(img)
        x = gap
        for c, text in enumerate(labels[:columns]):
            draw.text((x + 2, 3), text, fill=(0, 0, 0))
            x += col_w[c] + gap
    return img
