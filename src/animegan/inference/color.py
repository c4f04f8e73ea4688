"""The colour-and-tone stage: keep the style's luminance work, keep the photo's colours.

The shipped styles flatten shading and draw outlines (their *luminance* work) well, but their
CartoonGAN teachers also put casts into tone and colour (olive skies, red-brown snow). This stage
runs after the network, in YUV as in AnimeGANv2's colour loss (BT.601, ``Y = .299R+.587G+.114B``):

- **tone**: the output's luma with its mean matched to the photo's and its spread to the photo's
  where that lowers it (never stretched; a smooth roll-off instead of clipping at the ends), so the flat areas and outlines stay while overall brightness
  and contrast are the photo's;
- **colour**: the photo's chroma (U, V) plus ``palette`` × (the style's chroma, its mean and spread
  matched to the photo's, − the photo's chroma): up to ``palette`` 0.5 the style's colour *variation*
  comes in while the photo's overall colour stays; from 0.5 to 1 the matched statistics move back to
  the network's own (its cast, brightness and contrast), and 1 is exactly the raw network output
  (the stage is skipped, bit for bit). ``palette`` 0 is the photo's colours under the style's shading;
- optional **edge-aware chroma smoothing**: a guided filter (He et al., 2010) of the chroma with the
  result's luma as the guide, so colour follows the style's flat regions instead of photo noise
  (off by default: it bought nothing visible and cost chroma fidelity, docs/colour.md).

All of it is a handful of vectorised numpy passes over float32 H×W×3 arrays in [0, 1]
(benchmarks/bench_color.py: its cost per 720p frame against the model's).
"""

from __future__ import annotations

import numpy as np

from ..errors import ParamError

#: RGB → YUV, rows Y, U, V (AnimeGANv2's colour loss; RGB and YUV on the same 0..1 or 0..255 scale)
YUV_FROM_RGB = np.array([[0.299, 0.587, 0.114],
                         [-0.14713, -0.28886, 0.436],
                         [0.615, -0.51499, -0.10001]], dtype=np.float64)
RGB_FROM_YUV = np.linalg.inv(YUV_FROM_RGB)
_TO_YUV = np.ascontiguousarray(YUV_FROM_RGB.T, dtype=np.float32)
_TO_RGB = np.ascontiguousarray(RGB_FROM_YUV.T, dtype=np.float32)

#: how much of the style's own colour and tone a stylization keeps by default (chosen from the
#: measurements in docs/colour.md: every shipped style meets the colour targets of issue 16 there)
DEFAULT_PALETTE = 0.5
#: guided-filter radius for the chroma, as a fraction of the image's shorter side (0 = off)
DEFAULT_CHROMA_SMOOTHING = 0.0
#: per channel (Y, U, V): at most this enlargement of the output's spread when matching it to the
#: photo's. Luma is never stretched: that would sharpen the style's soft gradients back toward the
#: photo (hayao's gradient ratio out/in went 0.67 → 0.82 with full matching, docs/colour.md)
_MAX_SCALE = np.array([1.0, np.inf, np.inf])
#: matched luma above this (and below 1 − this) rolls off smoothly instead of clipping
LUMA_KNEE = 0.9
#: the user-facing help of the palette control (CLI flag, server field)
PALETTE_HELP = ("How much of the style's own colour and tone to keep: 0 = the photo's colours, "
                "1 = the style's palette (the raw network output).")
CHROMA_SMOOTHING_HELP = ("Edge-aware smoothing of the colours (guided filter), radius as a fraction of the "
                         "shorter side; 0 = off.")
#: guided-filter regularisation (luma variance, 0..1 scale): edges weaker than ~sqrt(eps) get smoothed
GUIDE_EPS = 0.02 ** 2


def rgb_to_yuv(rgb: np.ndarray) -> np.ndarray:
    """…×3 RGB to …×3 YUV (same scale)."""
    return np.asarray(rgb, dtype=np.float32) @ _TO_YUV


def yuv_to_rgb(yuv: np.ndarray) -> np.ndarray:
    """…×3 YUV to …×3 RGB (same scale, not clipped)."""
    return np.asarray(yuv, dtype=np.float32) @ _TO_RGB


def matched(planes: np.ndarray, reference: np.ndarray, toward: float = 0.0,
            max_scale: np.ndarray | float = np.inf) -> np.ndarray:
    """Each channel of H×W×C ``planes`` shifted and scaled to ``reference``'s mean and spread.

    ``toward`` (0..1) moves the target statistics from ``reference``'s back to the planes' own (1 =
    unchanged). ``max_scale`` (per channel) caps how much a channel's spread may be enlarged. A
    flat channel (no spread to scale) is only shifted; a flat reference gives a flat result.
    """
    return matched_to(planes, channel_stats(planes), channel_stats(reference), toward, max_scale)


def channel_stats(planes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, spread) of each channel of H×W×C ``planes``."""
    return planes.mean(axis=(0, 1)), planes.std(axis=(0, 1))


def matched_to(planes: np.ndarray, stats: tuple[np.ndarray, np.ndarray], reference: tuple[np.ndarray, np.ndarray],
               toward: float = 0.0, max_scale: np.ndarray | float = np.inf) -> np.ndarray:
    """:func:`matched` with the statistics given: ``stats`` of the planes (or of the whole image they
    are a band of), ``reference`` of the reference; what a band of a large image is matched with."""
    mean, spread = stats
    ref_mean, ref_spread = reference
    if toward > 0.0:
        ref_mean = ref_mean + toward * (mean - ref_mean)
        ref_spread = ref_spread + toward * (spread - ref_spread)
    scale = np.where(spread > 1e-4, ref_spread / np.maximum(spread, 1e-4), 1.0)
    scale = np.minimum(scale, max_scale)
    return ((planes - mean) * scale.astype(np.float32) + ref_mean.astype(np.float32)).astype(np.float32)


def soft_limit(luma: np.ndarray, knee: float = LUMA_KNEE) -> np.ndarray:
    """Luma squeezed smoothly into (0, 1): unchanged in [1 − knee, knee], tanh roll-off beyond.

    Strictly increasing (tone order kept, no flat clipped highlights) with a continuous slope.
    """
    span = np.float32(1.0 - knee)
    high = luma > knee
    low = luma < 1.0 - knee
    if not (high.any() or low.any()):
        return luma
    out = luma.copy()
    out[high] = knee + span * np.tanh((luma[high] - knee) / span)
    out[low] = (1.0 - knee) - span * np.tanh(((1.0 - knee) - luma[low]) / span)
    return out


def box_mean(planes: np.ndarray, radius: int) -> np.ndarray:
    """Mean over the (2r+1)² window around each pixel of H×W×C ``planes`` (windows cut at the borders).

    Summed-area table: cost independent of the radius.
    """
    height, width = planes.shape[:2]
    sat = np.zeros((height + 1, width + 1) + planes.shape[2:], dtype=np.float64)
    np.cumsum(planes, axis=0, dtype=np.float64, out=sat[1:, 1:])
    np.cumsum(sat[1:, 1:], axis=1, out=sat[1:, 1:])
    y0 = np.clip(np.arange(height) - radius, 0, height)
    y1 = np.clip(np.arange(height) + radius + 1, 0, height)
    x0 = np.clip(np.arange(width) - radius, 0, width)
    x1 = np.clip(np.arange(width) + radius + 1, 0, width)
    total = sat[y1][:, x1] - sat[y0][:, x1] - sat[y1][:, x0] + sat[y0][:, x0]
    count = ((y1 - y0)[:, None] * (x1 - x0)[None, :]).astype(np.float64)
    if planes.ndim == 3:
        count = count[:, :, None]
    return (total / count).astype(np.float32)


def guided_filter(guide: np.ndarray, planes: np.ndarray, radius: int, eps: float = GUIDE_EPS) -> np.ndarray:
    """Edge-preserving smoothing of H×W×C ``planes`` steered by the H×W ``guide`` (He et al., 2010).

    Inside each window the output is a linear function of the guide, so edges of the guide survive
    and everything flatter than ``sqrt(eps)`` in the guide is averaged.
    """
    g = guide[:, :, None]
    stack = np.concatenate([g, g * g, planes, g * planes], axis=2)
    means = box_mean(stack, radius)
    n = planes.shape[2]
    mean_g, mean_gg = means[:, :, :1], means[:, :, 1:2]
    mean_p, mean_gp = means[:, :, 2:2 + n], means[:, :, 2 + n:]
    a = (mean_gp - mean_g * mean_p) / (mean_gg - mean_g * mean_g + eps)
    b = mean_p - a * mean_g
    ab = box_mean(np.concatenate([a, b], axis=2), radius)
    return ab[:, :, :n] * g + ab[:, :, n:]


def check_palette(palette: float, name: str = "palette") -> float:
    """``palette`` as a float in [0, 1], or :class:`~animegan.errors.ParamError` naming ``name``."""

    try:
        value = float(palette)
    except (TypeError, ValueError):
        raise ParamError(name, repr(palette), "must be a number between 0 and 1") from None
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise ParamError(name, palette, "must be between 0 (photo colours) and 1 (the style's raw palette)")
    return value


def apply_palette(out: np.ndarray, photo: np.ndarray, palette: float = DEFAULT_PALETTE,
                  chroma_smoothing: float = DEFAULT_CHROMA_SMOOTHING) -> np.ndarray:
    """The colour-and-tone stage on one image: H×W×3 float ``out`` (the network's) and ``photo`` in [0, 1].

    ``palette``: how much of the style's own colour and tone to keep. 0: the photo's colours (U, V)
    under the network's luma, whose mean and spread are matched to the photo's. Up to 0.5: the
    photo's chroma plus that fraction of the style's chroma, the style's chroma first matched
    (mean and spread of U and V) to the photo's, so the photo's overall colour and brightness stay.
    From 0.5 to 1 those matched statistics move on to the network's own: its colour cast,
    brightness and contrast come back, up to the raw network output at 1 (returned unchanged).
    ``chroma_smoothing``: guided-filter radius for the chroma as a fraction of the shorter side
    (0 = off). Returns a float32 H×W×3 array in [0, 1].
    """
    if palette >= 1.0:
        return out
    o = rgb_to_yuv(out)
    p = rgb_to_yuv(photo)
    radius = round(chroma_smoothing * min(out.shape[:2]))
    return _palette_yuv(o, p, palette, channel_stats(o), channel_stats(p), radius)


def apply_palette_with_stats(out: np.ndarray, photo: np.ndarray, palette: float,
                             out_yuv: tuple[np.ndarray, np.ndarray],
                             photo_yuv: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """:func:`apply_palette` (without chroma smoothing) on a band of rows of a large image, given the
    whole image's YUV (mean, spread) of the network output and of the photo: the same per-pixel
    arithmetic, so the bands put together equal the whole image done at once."""
    if palette >= 1.0:
        return out
    return _palette_yuv(rgb_to_yuv(out), rgb_to_yuv(photo), palette, out_yuv, photo_yuv, 0)


def _palette_yuv(o: np.ndarray, p: np.ndarray, palette: float, out_stats: tuple[np.ndarray, np.ndarray],
                 photo_stats: tuple[np.ndarray, np.ndarray], radius: int) -> np.ndarray:
    toward = max(0.0, 2.0 * palette - 1.0)  # how far the statistics move back to the network's own
    styled = matched_to(o, out_stats, photo_stats, toward, max_scale=_MAX_SCALE)
    chroma = p[:, :, 1:]
    if palette > 0.0:
        chroma = chroma + np.float32(palette) * (styled[:, :, 1:] - chroma)
    luma = styled[:, :, 0]
    if toward < 1.0:  # the roll-off fades out with the matching, so palette 1 stays exactly the raw output
        luma = luma + np.float32(1.0 - toward) * (soft_limit(luma) - luma)
    if radius >= 1:
        chroma = guided_filter(np.clip(luma, 0.0, 1.0), chroma, radius)
    styled[:, :, 0] = luma
    styled[:, :, 1:] = chroma
    return np.clip(yuv_to_rgb(styled), 0.0, 1.0)
