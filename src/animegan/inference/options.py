"""Inference options: one dataclass shared by the library, the CLI and the server."""

from __future__ import annotations

from dataclasses import dataclass

from .color import DEFAULT_CHROMA_SMOOTHING, DEFAULT_PALETTE


@dataclass
class StylizeOptions:
    """How one image is stylized. Every CLI flag and API field maps onto one attribute here."""

    #: downscale so the longer side is at most this many pixels before stylizing (None: keep size)
    max_side: int | None = None
    #: tile side in pixels; 0 = automatic (tile only above ``pixel_budget``), -1 = never tile
    tile: int = 0
    #: overlap between neighbouring tiles, feathered when blended
    tile_pad: int = 32
    #: above this many pixels an image is tiled automatically (bounded memory)
    pixel_budget: int = 1024 * 1024
    #: images over this many pixels are refused (decompression-bomb guard); None = Pillow's default
    max_pixels: int | None = 8192 * 8192
    #: face-portrait mode: square crop (around the largest detected face when the face extra is
    #: installed, else the centre square), resized to ``face_size`` (published face weights)
    face: bool = False
    face_detect: bool = True
    face_size: int = 512
    #: output = input and result side by side
    side_by_side: bool = False
    #: match the output's mean luma to the input's (official AnimeGANv2 inference)
    match_brightness: bool = False
    #: 1.0 = full style, 0.0 = the input photo; blended in RGB
    strength: float = 1.0
    #: how much of the style's own colour and tone to keep: 0 = the photo's colours and brightness
    #: under the style's shading and outlines, 1 = the style's palette (the raw network output)
    palette: float = DEFAULT_PALETTE
    #: edge-aware smoothing of the colour (guided filter, radius as a fraction of the shorter side;
    #: 0 = off): colour areas follow the style's flat regions instead of photo noise
    chroma_smoothing: float = DEFAULT_CHROMA_SMOOTHING
    #: output format when saving: auto (keep the extension; PNG when there is alpha), png, jpg, webp
    ext: str = "auto"
    #: JPEG/WebP quality when saving
    quality: int = 95

    def validate(self) -> StylizeOptions:
        from ..errors import InputError

        if self.max_side is not None and self.max_side < 16:
            raise InputError(f"--max-side {self.max_side}: must be at least 16")
        if self.tile not in (0, -1) and self.tile < 64:
            raise InputError(f"--tile {self.tile}: must be 0 (auto), -1 (off) or at least 64")
        if self.tile_pad < 0:
            raise InputError(f"--tile-pad {self.tile_pad}: must be >= 0")
        if not 0.0 <= self.strength <= 1.0:
            raise InputError(f"--strength {self.strength}: must be between 0 and 1")
        from .color import check_palette

        self.palette = check_palette(self.palette)
        if not 0.0 <= self.chroma_smoothing <= 0.25:
            raise InputError(f"--chroma-smoothing {self.chroma_smoothing}: must be between 0 (off) and 0.25")
        if self.ext.lower().lstrip(".") not in ("auto", "png", "jpg", "jpeg", "webp"):
            raise InputError(f"--ext {self.ext}: unknown output format (choose auto, png, jpg or webp)")
        if not 1 <= self.quality <= 100:
            raise InputError(f"--quality {self.quality}: must be between 1 and 100")
        if self.pixel_budget < 64 * 64:
            raise InputError(f"pixel budget {self.pixel_budget}: must be at least {64 * 64}")
        if self.face_size < 64:
            raise InputError(f"face size {self.face_size}: must be at least 64")
        return self
