"""Inference options: one frozen dataclass shared by the library, the CLI and the server.

Each field is declared once with :func:`~animegan.params.param`: its default, its bounds or
choices and its help text. ``animegan stylize`` takes its flags' defaults and help from here, the
server its form fields' defaults, bounds and descriptions (:func:`~animegan.params.spec`). A
:class:`StylizeOptions` is valid by construction (checked and normalised in ``__post_init__``):
nothing downstream validates it again; change a field with :func:`dataclasses.replace`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..io.discovery import OUTPUT_EXTENSIONS
from ..io.images import DEFAULT_MAX_PIXELS
from ..params import check, param
from .color import (
    CHROMA_SMOOTHING_HELP,
    DEFAULT_CHROMA_SMOOTHING,
    DEFAULT_PALETTE,
    PALETTE_HELP,
    check_palette,
)

#: what ``ext`` accepts: ``auto`` and the output formats :func:`~animegan.io.images.save_image` writes
EXT_CHOICES = ("auto", *OUTPUT_EXTENSIONS)


@dataclass(frozen=True)
class StylizeOptions:
    """How one image is stylized. Every CLI flag and API field maps onto one attribute here."""

    max_side: int | None = param(
        None, "Downscale so the longer side is at most this many pixels before stylizing (also lets "
              "images over the pixel limit open); unset keeps the size.", ge=16)
    tile: int = param(0, "Tile side in pixels; 0 = auto above the pixel budget, -1 = off.", ge=64, allow=(0, -1))
    tile_pad: int = param(32, "Overlap between tiles in pixels, feathered when blended.", ge=0)
    pixel_budget: int = param(1024 * 1024, "Above this many pixels an image is tiled automatically "
                                           "(bounded memory); also caps the pixels of one forward pass.",
                              ge=64 * 64)
    max_pixels: int | None = param(
        DEFAULT_MAX_PIXELS, "Images over this many pixels are refused (a decompression-bomb guard); "
                            "a max side lets larger ones open, downscaled.", ge=64 * 64, allow=(None,))
    face: bool = param(False, "Portrait mode: a square crop (around the largest face when the face extra is "
                              "installed, else the centre), resized to the face size.")
    face_detect: bool = param(True, "In portrait mode, look for a face (else the centre square).")
    face_size: int = param(512, "Side of the portrait-mode crop in pixels (the published face weights use 512).",
                           ge=64)
    side_by_side: bool = param(False, "Write the photo and the result side by side.")
    match_brightness: bool = param(False, "Keep the photo's overall brightness.")
    strength: float = param(1.0, "1 = full style, 0 = the photo (blended in RGB).", ge=0.0, le=1.0)
    palette: float = param(DEFAULT_PALETTE, PALETTE_HELP, ge=0.0, le=1.0)
    chroma_smoothing: float = param(DEFAULT_CHROMA_SMOOTHING, CHROMA_SMOOTHING_HELP, ge=0.0, le=0.25)
    ext: str = param("auto", "Output format: auto (keep png/jpg/webp, else png; png when there is alpha), "
                             "png, jpg or webp.", choices=EXT_CHOICES)
    quality: int = param(95, "JPEG/WebP quality, 1-100.", ge=1, le=100)
    batch_size: int = param(1, "Stylize up to this many same-size images per forward pass.", ge=1)

    def __post_init__(self) -> None:
        check(self)
        # normalised once, here: palette a float (check_palette also refuses what bounds cannot say),
        # ext lower-case without its dot, jpeg spelled jpg
        object.__setattr__(self, "palette", check_palette(self.palette))
        ext = self.ext.lower().lstrip(".")
        object.__setattr__(self, "ext", "jpg" if ext == "jpeg" else ext)
