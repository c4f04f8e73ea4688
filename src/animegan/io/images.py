"""Opening and saving images: full decode with clear errors, EXIF orientation, atomic writes.

:func:`open_image` decodes the whole file up front, so a truncated JPEG or a text file named
``.jpg`` fails here with one clear :class:`~animegan.errors.ImageDecodeError` instead of deep inside
the network. The pixel limit is checked from the header, before any pixel is decoded.
:func:`save_image` writes through a temporary file and a rename, and picks PNG when the image has
an alpha channel (``ext="auto"``).
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from ..errors import ImageDecodeError, ImageTooLargeError, InputError, ParamError
from .atomic import atomic_path
from .discovery import OUTPUT_EXTENSIONS

ImageSource = str | os.PathLike | bytes | BinaryIO

#: default refusal limit (64 MP): a decompression-bomb guard that still opens any camera photo. The one
#: definition: ``StylizeOptions.max_pixels`` takes its default from here
DEFAULT_MAX_PIXELS = 8192 * 8192
#: hard cap when ``max_side`` asks for a downscale: Pillow's own decompression-bomb limit
HARD_MAX_PIXELS = 2 * 89_478_485

#: image formats :func:`open_image` decodes by default (Pillow format ids; GIF gives its first frame).
#: Every other decoder Pillow has (EPS runs Ghostscript, PSD, FITS, ...) is refused before it is tried.
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")

#: the Pillow format behind each output extension (:data:`~animegan.io.discovery.OUTPUT_EXTENSIONS`:
#: the formats ``save_image`` writes, the one list ``StylizeOptions.ext`` and ``--ext`` accept)
SAVE_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP"}
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def source_name(source: ImageSource) -> str:
    """A short human name for an input, used at the start of every error message."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    return str(getattr(source, "name", "<stream>"))


def open_image(source: ImageSource, max_pixels: int | None = DEFAULT_MAX_PIXELS,
               max_side: int | None = None, formats: tuple[str, ...] | None = IMAGE_FORMATS) -> Image.Image:
    """Open and fully decode an image, with EXIF orientation applied.

    ``source`` is a path, the file's bytes, or a binary file object. Images over ``max_pixels``
    (None: no limit of ours) are refused from their header with :class:`ImageTooLargeError`.
    With ``max_side`` set the caller will downscale, so the limit rises to :data:`HARD_MAX_PIXELS`
    and the image is only *pre-reduced* for memory: JPEGs are decoded at a reduced DCT scale whose
    longer side stays >= ``max_side``, other formats shrunk by a whole factor while it stays
    >= 2 × ``max_side``. The exact ``max_side`` downscale (Lanczos) is not done here: it happens once,
    in the Stylizer (``processing.limit_side``, a no-op for an image already within ``max_side``).
    Only ``formats`` (Pillow format ids; None: every format Pillow reads) are decoded; a file in
    another format is refused with :class:`ImageDecodeError` naming the format, before any decoder runs.
    Raises :class:`ImageDecodeError` for empty, truncated or non-image files.
    """
    name = source_name(source)
    fp = _as_stream(source, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(fp, formats=list(formats) if formats is not None else None)
        except Image.DecompressionBombError as exc:
            found = re.search(r"\((\d+) pixels\)", str(exc))
            size = f" ({int(found.group(1)) / 1e6:.0f} MP)" if found else ""
            raise ImageTooLargeError(
                f"{name}: image{size} is over the hard limit of {HARD_MAX_PIXELS / 1e6:.0f} MP "
                "(a decompression-bomb guard that max_side cannot lift); reduce it with another tool first",
                params=("max_side",)) from None
        except (OSError, SyntaxError, ValueError) as exc:
            refused = _refused_format(fp, formats) if type(exc).__name__ == "UnidentifiedImageError" else None
            if refused:
                raise ImageDecodeError(f"{name}: not an accepted image format (it looks like {refused}; "
                                       f"accepted: {', '.join(formats or ())})") from None
            raise ImageDecodeError(f"{name}: not a decodable image ({_reason(exc)})") from None
        width, height = img.size
        pixels = width * height
        if max_side is not None:
            if pixels > HARD_MAX_PIXELS:
                raise ImageTooLargeError(
                    f"{name}: image is {width}×{height} ({pixels / 1e6:.0f} MP), over the hard limit of "
                    f"{HARD_MAX_PIXELS / 1e6:.0f} MP even with max_side; reduce it with another tool first",
                    params=("max_side",))
            _draft_for(img, max_side)
        elif max_pixels is not None and pixels > max_pixels:
            raise ImageTooLargeError(
                f"{name}: image is {width}×{height} ({pixels / 1e6:.1f} MP), over the limit of "
                f"{max_pixels / 1e6:.1f} MP; set max_side (e.g. max_side 2048) to downscale it "
                "before stylizing, which also lets larger images open", params=("max_side",))
        try:
            img.load()
        except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
            raise ImageDecodeError(f"{name}: not a decodable image ({_reason(exc)})") from None
        if max_side is not None:
            img = _reduce_for(img, max_side)
    if width == 0 or height == 0:
        raise ImageDecodeError(f"{name}: not a decodable image (zero-sized)")
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - a broken EXIF block should not make a good image unusable
        return img


def save_image(image: Image.Image, path: str | os.PathLike, ext: str = "auto", quality: int = 95) -> Path:
    """Write ``image`` atomically and return the path actually written.

    ``ext="auto"`` keeps the path's extension when it is one we write (png, jpg, jpeg, webp; PNG
    otherwise), except that an image with an alpha channel is always written as PNG (the suffix
    changes to ``.png``). An explicit ``ext`` (png, jpg, jpeg, webp) replaces the suffix. Modes the
    format cannot hold are converted (alpha flattened on white for JPEG; 16-bit scaled to 8-bit
    where the format has no 16-bit).
    """
    ext = (ext or "auto").lower().lstrip(".")
    target = Path(path)
    if ext == "auto":
        suffix = target.suffix.lower().lstrip(".")
        ext = suffix if suffix in OUTPUT_EXTENSIONS else "png"
        if image.mode in _ALPHA_MODES or (image.mode == "P" and "transparency" in image.info):
            ext = "png"
    if ext not in OUTPUT_EXTENSIONS:
        raise ParamError("ext", ext, f"must be one of auto, {', '.join(OUTPUT_EXTENSIONS)}")
    if target.suffix.lower().lstrip(".") != ext:
        target = target.with_name(target.stem + "." + ext) if target.suffix else target.with_name(
            target.name + "." + ext)
    fmt = SAVE_FORMATS[ext]
    image = _fit_mode(image, fmt)
    kwargs: dict = {}
    if fmt in ("JPEG", "WEBP"):
        kwargs["quality"] = int(quality)
    if image.info.get("icc_profile"):
        kwargs["icc_profile"] = image.info["icc_profile"]
    with atomic_path(target) as tmp:
        image.save(tmp, format=fmt, **kwargs)
    return target


def _fit_mode(image: Image.Image, fmt: str) -> Image.Image:
    """Convert ``image`` to a mode ``fmt`` can store, losing as little as possible."""
    mode = image.mode
    if mode == "I" and fmt in ("PNG", "TIFF"):
        return Image.fromarray(np.clip(np.asarray(image), 0, 65535).astype(np.uint16))
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        if fmt in ("PNG", "TIFF"):
            return image
        return Image.fromarray((np.clip(np.asarray(image, dtype=np.int64), 0, 65535) >> 8).astype(np.uint8))
    if fmt == "JPEG":
        if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            return flat
        return image if mode in ("RGB", "L", "CMYK") else image.convert("RGB")
    if fmt == "WEBP":
        if mode in ("RGB", "RGBA"):
            return image
        has_alpha = mode in _ALPHA_MODES or (mode == "P" and "transparency" in image.info)
        return image.convert("RGBA" if has_alpha else "RGB")
    if mode == "CMYK" and fmt != "TIFF":
        return image.convert("RGB")
    return image


def _reduce_for(img: Image.Image, max_side: int) -> Image.Image:
    """Shrink a decoded image by a whole factor (box filter) while its longer side stays >= 2 × ``max_side``.

    The caller's float Lanczos downscale then works on a few MP instead of the full image (a 13000²
    PNG with ``max_side=1024`` peaked at 4.7 GB as float planes); a reduction gap of 2 keeps the
    result indistinguishable from resampling the full image. Modes whose samples cannot be
    averaged (palette, 1-bit) are converted first, 16-bit goes through 32-bit and back.
    """
    factor = max(img.size) // (2 * max_side)
    if factor < 2:
        return img
    mode = img.mode
    if mode in ("P", "PA"):
        img = img.convert("RGBA" if mode == "PA" or "transparency" in img.info else "RGB")
    elif mode == "1":
        img = img.convert("L")
    elif mode.startswith("I;16"):
        reduced = img.convert("I").reduce(factor)
        out = Image.fromarray(np.clip(np.asarray(reduced), 0, 65535).astype(np.uint16))
        out.info = dict(img.info)
        return out
    return img.reduce(factor)


def _draft_for(img: Image.Image, max_side: int) -> None:
    """Ask a JPEG decoder for a reduced DCT scale whose longer side stays >= ``max_side``."""
    width, height = img.size
    longest = max(width, height)
    if img.format != "JPEG" or longest <= max_side:
        return
    scale = max_side / longest
    img.draft(img.mode, (math.ceil(width * scale), math.ceil(height * scale)))


def _as_stream(source: ImageSource, name: str) -> BinaryIO:
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageDecodeError(f"{name}: not a decodable image (empty data)")
        return io.BytesIO(bytes(source))
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise InputError(f"{name}: no such file")
        if path.is_dir():
            raise InputError(f"{name}: is a folder, not an image")
        if path.stat().st_size == 0:
            raise ImageDecodeError(f"{name}: not a decodable image (empty file)")
        return io.BytesIO(path.read_bytes())
    try:
        seekable = source.seekable()
    except (AttributeError, OSError):
        seekable = False
    if not seekable:
        data = source.read()
        if not data:
            raise ImageDecodeError(f"{name}: not a decodable image (empty data)")
        return io.BytesIO(data)
    return source


def _refused_format(fp: BinaryIO, formats: tuple[str, ...] | None) -> str | None:
    """The Pillow format ``fp`` looks like when it is one outside ``formats`` (from its first bytes only)."""
    if formats is None:
        return None
    try:
        fp.seek(0)
        prefix = fp.read(16)
        fp.seek(0)
    except (OSError, ValueError):
        return None
    Image.init()
    for fmt in Image.ID:
        if fmt in formats:
            continue
        accept = Image.OPEN[fmt][1]
        try:
            if accept is not None and accept(prefix) is True:
                return fmt
        except Exception:  # noqa: BLE001,S112 - a plugin's own sniffing failing means "not this format"
            continue
    return None


def _reason(exc: BaseException) -> str:
    if type(exc).__name__ == "UnidentifiedImageError":
        return "unknown or unsupported format"
    text = str(exc).split("\n")[0].strip()
    if "truncated" in text.lower():
        return "truncated file"
    return text or type(exc).__name__
