"""Edge smoothing: the vectorised version against a direct per-pixel loop, and real AnimeGAN data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from animegan.training import smoothing as S


def loop_canny(gray: np.ndarray, low: float, high: float) -> np.ndarray:
    """Textbook per-pixel Canny (Sobel, L1 magnitude, 4-sector NMS, DFS hysteresis)."""
    h, w = gray.shape
    g = gray.astype(float)

    def px(y, x):
        return g[min(max(y, 0), h - 1), min(max(x, 0), w - 1)]

    mag = np.zeros((h, w))
    gxs, gys = np.zeros((h, w)), np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            gx = sum(k * (px(y + dy, x + 1) - px(y + dy, x - 1)) for dy, k in ((-1, 1), (0, 2), (1, 1)))
            gy = sum(k * (px(y + 1, x + dx) - px(y - 1, x + dx)) for dx, k in ((-1, 1), (0, 2), (1, 1)))
            gxs[y, x], gys[y, x], mag[y, x] = gx, gy, abs(gx) + abs(gy)

    def m(y, x):
        return mag[y, x] if 0 <= y < h and 0 <= x < w else 0.0

    nms = np.zeros((h, w))
    t22, t67 = math.tan(math.radians(22.5)), math.tan(math.radians(67.5))
    for y in range(h):
        for x in range(w):
            ax, ay, v = abs(gxs[y, x]), abs(gys[y, x]), mag[y, x]
            if ay < ax * t22:
                ok = v > m(y, x - 1) and v >= m(y, x + 1)
            elif ay > ax * t67:
                ok = v > m(y - 1, x) and v >= m(y + 1, x)
            elif gxs[y, x] * gys[y, x] > 0:
                ok = v > m(y - 1, x - 1) and v > m(y + 1, x + 1)
            else:
                ok = v > m(y - 1, x + 1) and v > m(y + 1, x - 1)
            nms[y, x] = v if ok else 0.0
    edges = np.zeros((h, w), dtype=bool)
    stack = [(y, x) for y in range(h) for x in range(w) if nms[y, x] > high]
    while stack:
        y, x = stack.pop()
        if edges[y, x]:
            continue
        edges[y, x] = True
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                yy, xx = y + dy, x + dx
                if 0 <= yy < h and 0 <= xx < w and not edges[yy, xx] and nms[yy, xx] > low:
                    stack.append((yy, xx))
    return edges


def loop_smooth(rgb: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The official script's loop: dilate 5×5, then each masked pixel = 5×5 Gaussian of a reflect pad."""
    h, w = edges.shape
    k = np.outer(S.GAUSS5, S.GAUSS5)
    pad = np.pad(rgb.astype(float), ((2, 2), (2, 2), (0, 0)), mode="reflect")
    out = rgb.copy()
    for y in range(h):
        for x in range(w):
            if edges[max(y - 2, 0):y + 3, max(x - 2, 0):x + 3].any():
                for c in range(3):
                    out[y, x, c] = int(np.clip(np.rint(np.sum(pad[y:y + 5, x:x + 5, c] * k)), 0, 255))
    return out


def synthetic(h: int = 40, w: int = 48, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 40, dtype=np.uint8)
    img[8:30, 10:34] = (220, 180, 60)  # a bright box: strong edges
    yy, xx = np.mgrid[:h, :w]
    img[(yy - 20) ** 2 + (xx - 36) ** 2 < 60] = (90, 90, 200)  # a disc: all four NMS sectors
    img[:, 40:] = np.clip(img[:, 40:].astype(int) + 50, 0, 255)  # a weaker step
    return np.clip(img.astype(int) + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)


def test_canny_matches_a_per_pixel_loop():
    gray = S.to_gray(synthetic())
    expected = loop_canny(gray, 100, 200)
    assert expected.sum() > 50
    np.testing.assert_array_equal(S.canny(gray, 100, 200), expected)
    np.testing.assert_array_equal(S.canny(gray, 30, 60), loop_canny(gray, 30, 60))


def test_smooth_edges_matches_the_per_pixel_loop():
    rgb = synthetic(seed=1)
    edges = S.canny(S.to_gray(rgb), 100, 200)
    got = S.smooth_edges(rgb)
    want = loop_smooth(rgb, edges)
    np.testing.assert_array_equal(got, want)
    changed = (got != rgb).any(-1)
    assert 0.05 < changed.mean() < 0.9  # only pixels near edges change


def test_flat_image_is_unchanged():
    rgb = np.full((16, 16, 3), 128, dtype=np.uint8)
    assert not S.canny(S.to_gray(rgb)).any()
    np.testing.assert_array_equal(S.smooth_edges(rgb), rgb)


def test_isolated_weak_edges_are_dropped_connected_ones_kept():
    mag = np.zeros((5, 9))
    mag[2, 1:4] = [250, 150, 150]  # strong, then weak connected
    mag[2, 6:8] = 150  # weak, isolated
    edges = S.hysteresis(mag, 100, 200)
    assert edges[2, 1:4].all() and not edges[2, 6:8].any()


def test_bad_array_is_rejected():
    with pytest.raises(ValueError, match="H×W×3 uint8"):
        S.smooth_edges(np.zeros((4, 4), dtype=np.uint8))


def test_matches_the_published_smooth_sample(shared_data):
    # enyokid ships style frames with their AnimeGAN-made smooth copies (JPEG-compressed)
    folder = shared_data / "anime" / "enyokid"
    name = min(p.name for p in (folder / "smooth").glob("*.jpg"))
    style = np.asarray(Image.open(folder / "style" / name).convert("RGB"))
    ref = np.asarray(Image.open(folder / "smooth" / name).convert("RGB")).astype(int)
    ours = S.smooth_edges(style).astype(int)
    before = np.abs(style.astype(int) - ref).mean()
    after = np.abs(ours - ref).mean()
    assert after < 0.35 * before, (before, after)
