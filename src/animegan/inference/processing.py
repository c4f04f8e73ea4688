"""Pre- and post-processing around the network, on float arrays in [0, 1].

An input image is split into RGB (H×W×3 float32), an optional alpha plane and the mode it should
come back in, so grayscale stays grayscale, 16-bit keeps its depth and RGBA keeps its alpha.
Geometry (``max_side`` downscale, face crop) runs on the float planes with Lanczos, the network
sees RGB only, and the alpha plane is re-attached at the end.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import ModelError

_16BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
#: ITU-R 601 luma weights (Pillow's "L" conversion and the official brightness match)
log = logging.getLogger("animegan")

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass
class Planes:
    """An image as float planes: ``rgb`` H×W×3 and ``alpha`` H×W (or None), both in [0, 1]."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    #: the mode the result is given back in: RGB, RGBA, L, LA, I;16 or I
    mode: str

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), like PIL."""
        return self.rgb.shape[1], self.rgb.shape[0]


def split_image(img: Image.Image) -> Planes:
    """Planes of any PIL image; CMYK, P, YCbCr, ... become RGB, palette transparency becomes alpha."""
    mode = img.mode
    if mode in _16BIT_MODES or mode == "I":
        gray = np.clip(np.asarray(img, dtype=np.float32), 0, 65535) / 65535.0
        return Planes(np.repeat(gray[:, :, None], 3, axis=2), None, "I" if mode == "I" else "I;16")
    if mode == "F":
        gray = np.clip(np.asarray(img, dtype=np.float32), 0, 255) / 255.0
        return Planes(np.repeat(gray[:, :, None], 3, axis=2), None, "L")
    if mode in ("L", "1", "LA", "La"):
        la = img.convert("LA") if mode != "L" else img
        arr = np.asarray(la, dtype=np.float32) / 255.0
        gray = arr if arr.ndim == 2 else arr[:, :, 0]
        alpha = arr[:, :, 1] if mode in ("LA", "La") else None
        return Planes(np.repeat(gray[:, :, None], 3, axis=2), alpha, "LA" if alpha is not None else "L")
    has_alpha = mode in ("RGBA", "RGBa", "PA") or (mode == "P" and "transparency" in img.info)
    if has_alpha:
        arr = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        return Planes(np.ascontiguousarray(arr[:, :, :3]), np.ascontiguousarray(arr[:, :, 3]), "RGBA")
    rgb = img if mode == "RGB" else img.convert("RGB")
    return Planes(np.asarray(rgb, dtype=np.float32) / 255.0, None, "RGB")


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """[0, 1] floats to uint8 by rounding."""
    return np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)


def merge_image(planes: Planes) -> Image.Image:
    """The PIL image of ``planes`` in ``planes.mode``."""
    mode, rgb = planes.mode, planes.rgb
    if mode in ("RGB", "RGBA"):
        out = to_uint8(rgb)
        if mode == "RGBA":
            out = np.concatenate([out, to_uint8(planes.alpha)[:, :, None]], axis=2)
        return Image.fromarray(out, mode)
    gray = np.clip(rgb @ LUMA, 0.0, 1.0)
    if mode == "I;16":
        return Image.fromarray(np.round(gray * 65535.0).astype(np.uint16))  # uint16 arrays are I;16
    if mode == "I":
        return Image.fromarray(np.round(gray * 65535.0).astype(np.int32))  # int32 arrays are I
    if mode == "LA":
        return Image.fromarray(np.stack([to_uint8(gray), to_uint8(planes.alpha)], axis=2), "LA")
    return Image.fromarray(to_uint8(gray), "L")


def resize_planes(planes: Planes, size: tuple[int, int]) -> Planes:
    """Lanczos resize of every plane to ``size`` (width, height), in float (no 8-bit rounding)."""
    if planes.size == size:
        return planes
    rgb = np.stack([_resize_plane(planes.rgb[:, :, c], size) for c in range(3)], axis=2)
    alpha = None if planes.alpha is None else _resize_plane(planes.alpha, size)
    return replace(planes, rgb=rgb, alpha=alpha)


def _resize_plane(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    img = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32), "F")
    return np.clip(np.asarray(img.resize(size, Image.Resampling.LANCZOS)), 0.0, 1.0)


def limit_side(planes: Planes, max_side: int | None) -> Planes:
    """Downscale (never upscale) so the longer side is at most ``max_side``."""
    width, height = planes.size
    if max_side is None or max(width, height) <= max_side:
        return planes
    scale = max_side / max(width, height)
    return resize_planes(planes, (max(1, round(width * scale)), max(1, round(height * scale))))


def face_crop(planes: Planes, face_size: int, detect: bool = True) -> Planes:
    """Square crop resized to ``face_size`` (how the published face weights expect faces).

    With ``detect`` and the face detector installed (the ``face`` extra), the square is centred on
    the largest face, about twice its size; otherwise it is the centre square.
    """
    width, height = planes.size
    left, top, side = face_square(planes) if detect else _centre_square(width, height)
    alpha = None if planes.alpha is None else planes.alpha[top:top + side, left:left + side]
    square = replace(planes, rgb=planes.rgb[top:top + side, left:left + side], alpha=alpha)
    return resize_planes(square, (face_size, face_size))


def _centre_square(width: int, height: int) -> tuple[int, int, int]:
    side = min(width, height)
    return (width - side) // 2, (height - side) // 2, side


#: the square around a detected face spans this many face-box sides (hair, chin and some shoulders)
FACE_CONTEXT = 2.0


def face_square(planes: Planes) -> tuple[int, int, int]:
    """(left, top, side) of the crop square around the largest detected face, else the centre square."""
    width, height = planes.size
    try:
        from . import faces

        faces.check_available()
    except (ModelError, ImportError):  # detector not installed: the published helper's centre crop
        log.info("face detector not installed (pip install 'animegan[face]'): using the centre square")
        return _centre_square(width, height)
    scale = min(1.0, 800 / max(width, height))  # detect on a small copy: HOG cost grows with pixels
    small = Image.fromarray(to_uint8(planes.rgb)).convert("RGB")
    if scale < 1.0:
        small = small.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.BILINEAR)
    boxes = faces.detect_faces(small, upsample=1, min_score=0.5)
    if not boxes:
        log.info("no face found: using the centre square")
        return _centre_square(width, height)
    box = boxes[0]
    cx, cy = (box.left + box.right) / 2 / scale, (box.top + box.bottom) / 2 / scale
    side = min(width, height, round(FACE_CONTEXT * max(box.right - box.left, box.bottom - box.top) / scale))
    left = int(min(max(0, round(cx - side / 2)), width - side))
    top = int(min(max(0, round(cy - side / 2)), height - side))
    return left, top, side


def match_brightness(output: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Scale ``output`` so its mean luma equals ``reference``'s (official AnimeGANv2 inference)."""
    out_luma = float((output @ LUMA).mean())
    ref_luma = float((reference @ LUMA).mean())
    if out_luma <= 1e-6:
        return output
    return np.clip(output * (ref_luma / out_luma), 0.0, 1.0).astype(np.float32)


def blend_strength(output: np.ndarray, reference: np.ndarray, strength: float) -> np.ndarray:
    """``strength`` × output + (1 − strength) × input; 1 is full style, 0 the input unchanged."""
    if strength >= 1.0:
        return output
    if strength <= 0.0:
        return reference
    return (strength * output + (1.0 - strength) * reference).astype(np.float32)


def side_by_side(left: Planes, right: Planes) -> Planes:
    """``left`` and ``right`` (same height and mode) next to each other."""
    rgb = np.concatenate([left.rgb, right.rgb], axis=1)
    alpha = None
    if left.alpha is not None and right.alpha is not None:
        alpha = np.concatenate([left.alpha, right.alpha], axis=1)
    return replace(right, rgb=rgb, alpha=alpha)


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """H×W×3 or N×H×W×3 floats in [0, 1] to N×3×H×W in [-1, 1] (the published ``x/255*2-1``)."""
    t = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32))
    if t.ndim == 3:
        t = t[None]
    return t.permute(0, 3, 1, 2).contiguous() * 2.0 - 1.0


def from_tensor(y: torch.Tensor) -> np.ndarray:
    """N×3×H×W in [-1, 1] to N×H×W×3 floats in [0, 1]."""
    return (y.clamp(-1, 1) * 0.5 + 0.5).permute(0, 2, 3, 1).contiguous().numpy()


def uint8_to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """H×W×3 (or N×H×W×3) uint8 to a float 3×H×W (or N×3×H×W) tensor in [-1, 1]: ``x / 127.5 − 1``.

    The training side's conversion (8-bit crops, no batch axis added); :func:`to_tensor` is the
    Stylizer's, from [0, 1] floats.
    """
    t = torch.from_numpy(np.array(rgb, dtype=np.uint8))
    return (t.permute(2, 0, 1) if t.ndim == 3 else t.permute(0, 3, 1, 2)).float().div(127.5).sub(1.0)


def tensor_to_uint8(x: torch.Tensor) -> np.ndarray:
    """A 3×H×W (or N×3×H×W) tensor in [-1, 1] to H×W×3 (or N×H×W×3) uint8, rounded; the inverse of
    :func:`uint8_to_tensor` (any device or dtype; detached)."""
    x = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().byte()
    return (x.permute(1, 2, 0) if x.ndim == 3 else x.permute(0, 2, 3, 1)).numpy()


#: the smallest side the generators run on: the first layer's 7×7 reflection pad needs 4 px, and
#: after two stride-2 downsamplings the 3×3 reflection pads need 2 px, so 4 × 2 = 8 at the input
MIN_NETWORK_SIDE = 8


def pad_to_multiple(x: torch.Tensor, multiple: int, min_side: int = 0) -> torch.Tensor:
    """Pad the right and bottom edges of ``x`` up to multiples of ``multiple`` and at least ``min_side``.

    Reflection where it fits (the pad smaller than the side); tiny images (a side of a few pixels,
    padded up to the network's minimum) are padded by edge replication instead.
    """
    height, width = x.shape[-2:]
    pad_h, pad_w, mode = pad_amounts(height, width, multiple, min_side)
    if not pad_h and not pad_w:
        return x
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


def pad_amounts(height: int, width: int, multiple: int, min_side: int = 0) -> tuple[int, int, str]:
    """(bottom pad, right pad, "reflect" or "replicate"): what :func:`pad_to_multiple` adds."""
    pad_h = max(-height % multiple, _ceil_to(min_side, multiple) - height)
    pad_w = max(-width % multiple, _ceil_to(min_side, multiple) - width)
    return pad_h, pad_w, "reflect" if pad_h < height and pad_w < width else "replicate"


def padded_index(length: int, pad: int, mode: str) -> np.ndarray:
    """For each position of a side of ``length`` padded by ``pad`` at its end (as :func:`pad_to_multiple`
    does), the source position it copies."""
    index = np.arange(length + pad)
    if mode == "reflect":
        return np.where(index < length, index, 2 * (length - 1) - index)
    return np.minimum(index, length - 1)


def network_min_side(multiple: int) -> int:
    """The least padded side a generator with this size multiple runs on (2 downsamplings of margin)."""
    return max(MIN_NETWORK_SIDE, 2 * multiple)


def _ceil_to(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


class ChannelStats:
    """Mean and spread per channel of …×C arrays added band by band (float64 sums: exact enough for
    any image size, and the same figures as ``mean``/``std`` over the whole image at once)."""

    def __init__(self) -> None:
        self.count = 0
        self.total: np.ndarray | float = 0.0
        self.squares: np.ndarray | float = 0.0

    def add(self, arr: np.ndarray) -> None:
        flat = arr.reshape(-1, arr.shape[-1]).astype(np.float64)
        self.count += flat.shape[0]
        self.total = self.total + flat.sum(axis=0)
        self.squares = self.squares + np.einsum("ij,ij->j", flat, flat)

    @property
    def mean(self) -> np.ndarray:
        return np.asarray(self.total, dtype=np.float64) / max(1, self.count)

    @property
    def std(self) -> np.ndarray:
        mean = self.mean
        return np.sqrt(np.maximum(np.asarray(self.squares) / max(1, self.count) - mean * mean, 0.0))

    def figures(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, spread) as float32: the statistics the colour stage takes."""
        return self.mean.astype(np.float32), self.std.astype(np.float32)
