"""Edge smoothing of anime frames (AnimeGAN's ``smooth/`` set), vectorised in numpy, no OpenCV.

``docs/REFERENCE.md`` §3: Canny(100, 200) on the grayscale image, dilate the edges 5×5, and replace
the masked pixels by a 5×5 Gaussian blur of the image. The discriminator is taught that these
blurred-edge frames are fake, which pushes the generator toward crisp lines.

Canny follows OpenCV's defaults for ``cv2.Canny(gray, lo, hi)``: 3×3 Sobel (replicated border),
L1 magnitude ``|gx| + |gy|``, non-maximum suppression along the gradient direction quantised to
four sectors, hysteresis with 8-connectivity. The blur is OpenCV's ``GaussianBlur(5×5, σ=0)``
kernel ``[1 4 6 4 1]/16`` (outer product) with a reflect-101 border.
"""

from __future__ import annotations

import numpy as np

GAUSS5 = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
_TAN22 = np.tan(np.deg2rad(22.5))
_TAN67 = np.tan(np.deg2rad(67.5))


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """uint8 luma ``round(0.299R + 0.587G + 0.114B)`` of an H×W×3 uint8 image."""
    y = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


def sobel(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """3×3 Sobel derivatives (x, y) of a 2-D image with a replicated border, as float64."""
    p = np.pad(gray.astype(np.float64), 1, mode="edge")
    gx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2])
    gy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:])
    return gx, gy


def _shift(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``out[y, x] = a[y + dy, x + dx]``, zero outside the image."""
    h, w = a.shape
    p = np.pad(a, 1)
    return p[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]


def non_max_suppression(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Gradient magnitude where it is a local maximum across the edge, else 0."""
    mag = np.abs(gx) + np.abs(gy)
    ax, ay = np.abs(gx), np.abs(gy)
    horizontal = ay < ax * _TAN22  # gradient along x: compare left/right
    vertical = ay > ax * _TAN67  # gradient along y: compare up/down
    same_sign = (gx * gy) > 0
    keep = np.zeros(mag.shape, dtype=bool)
    # (mask, first neighbour, second neighbour, ties allowed with the second) as in OpenCV
    for mask, d1, d2, tie in (
        (horizontal, (0, -1), (0, 1), True),
        (vertical, (-1, 0), (1, 0), True),
        (~horizontal & ~vertical & same_sign, (-1, -1), (1, 1), False),
        (~horizontal & ~vertical & ~same_sign, (-1, 1), (1, -1), False),
    ):
        second = mag >= _shift(mag, *d2) if tie else mag > _shift(mag, *d2)
        keep |= mask & (mag > _shift(mag, *d1)) & second
    return np.where(keep, mag, 0.0)


def _dilate(mask: np.ndarray, k: int) -> np.ndarray:
    """Binary dilation by a k×k square (separable: rows, then columns)."""
    r = k // 2
    h, w = mask.shape
    p = np.pad(mask, r)
    rows = np.zeros((h + 2 * r, w), dtype=bool)
    for j in range(k):
        rows |= p[:, j:j + w]
    out = np.zeros((h, w), dtype=bool)
    for i in range(k):
        out |= rows[i:i + h]
    return out


def hysteresis(mag: np.ndarray, low: float, high: float) -> np.ndarray:
    """Pixels above ``high``, plus pixels above ``low`` 8-connected to them through such pixels."""
    h, w = mag.shape
    weak = np.pad(mag > low, 1).ravel()  # a False border: neighbour indices never leave the image
    edges = np.pad(mag > high, 1).ravel()
    wp = w + 2
    offsets = np.array([-wp - 1, -wp, -wp + 1, -1, 1, wp - 1, wp, wp + 1])
    frontier = np.flatnonzero(edges)
    while frontier.size:  # breadth-first growth: each pixel is visited once
        cand = np.unique((frontier[:, None] + offsets[None, :]).ravel())
        cand = cand[weak[cand] & ~edges[cand]]
        edges[cand] = True
        frontier = cand
    return edges.reshape(h + 2, wp)[1:-1, 1:-1]


def canny(gray: np.ndarray, low: float = 100, high: float = 200) -> np.ndarray:
    """Boolean edge map of a 2-D uint8 image (OpenCV ``Canny`` defaults, L1 gradient)."""
    gx, gy = sobel(gray)
    return hysteresis(non_max_suppression(gx, gy), low, high)


def gaussian_blur5(rgb: np.ndarray) -> np.ndarray:
    """5×5 Gaussian blur (``[1 4 6 4 1]/16``, reflect-101 border) of H×W×C, as float64."""
    p = np.pad(rgb.astype(np.float64), ((2, 2), (2, 2), (0, 0)), mode="reflect")
    h, w = rgb.shape[:2]
    rows = sum(GAUSS5[i] * p[i:i + h] for i in range(5))
    return sum(GAUSS5[j] * rows[:, j:j + w] for j in range(5))


def edge_mask(rgb: np.ndarray, low: float = 100, high: float = 200, dilate: int = 5) -> np.ndarray:
    """Canny edges of the gray image, dilated by a ``dilate``×``dilate`` square."""
    return _dilate(canny(to_gray(rgb), low, high), dilate)


def smooth_edges(rgb: np.ndarray, low: float = 100, high: float = 200, dilate: int = 5) -> np.ndarray:
    """The edge-smoothed copy of an H×W×3 uint8 image: blurred pixels under the dilated edge mask."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"smooth_edges expects an H×W×3 uint8 array, got {rgb.shape} {rgb.dtype}")
    mask = edge_mask(rgb, low, high, dilate)
    blurred = np.clip(np.rint(gaussian_blur5(rgb)), 0, 255).astype(np.uint8)
    out = rgb.copy()
    out[mask] = blurred[mask]
    return out


__all__ = ["canny", "edge_mask", "gaussian_blur5", "hysteresis", "non_max_suppression", "smooth_edges",
           "sobel", "to_gray"]
