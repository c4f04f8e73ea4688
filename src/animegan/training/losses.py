"""Losses as small pure functions on tensors (no modules, no state).

Images are NCHW RGB in [-1, 1]; features are NCHW. Formulas follow the AnimeGANv2 TF release
(``docs/REFERENCE.md`` §3) and the seed article's hinge loss (§4). Discriminator outputs may be one
map or a list of maps (multi-scale discriminators): a list is averaged over its scales so a loss
weight means the same whatever the number of scales.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

Maps = torch.Tensor | Sequence[torch.Tensor]

#: ITU-R BT.601 luma weights, as in TF's ``rgb_to_grayscale``
LUMA = (0.299, 0.587, 0.114)
# RGB -> YUV rows (Y, U, V), the matrix of TF's ``rgb_to_yuv`` used by the official colour loss
_YUV = (
    (0.299, 0.587, 0.114),
    (-0.14714119, -0.28886916, 0.43601035),
    (0.61497538, -0.51496512, -0.10001026),
)


def content_loss(f_real: torch.Tensor, f_fake: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of two feature maps (L1, mean over every element)."""
    return (f_real - f_fake).abs().mean()


def gram(feat: torch.Tensor) -> torch.Tensor:
    """Per-image Gram matrix ``FᵀF / (H·W·C)`` of N×C×H×W features, shaped N×C×C."""
    n, c, h, w = feat.shape
    flat = feat.reshape(n, c, h * w)
    return torch.bmm(flat, flat.transpose(1, 2)) / float(h * w * c)


def style_loss(f_style: torch.Tensor, f_fake: torch.Tensor) -> torch.Tensor:
    """L1 (mean) between the Gram matrices of style features and generated features.

    Batches of different sizes are compared through their mean Gram matrix.
    """
    g_style, g_fake = gram(f_style), gram(f_fake)
    if g_style.shape[0] != g_fake.shape[0]:
        g_style, g_fake = g_style.mean(0, keepdim=True), g_fake.mean(0, keepdim=True)
    return (g_style - g_fake).abs().mean()


def rgb_to_yuv(x: torch.Tensor) -> torch.Tensor:
    """YUV of an RGB batch in [-1, 1] (converted through ``(x + 1) / 2``), N×3×H×W."""
    m = torch.tensor(_YUV, dtype=x.dtype, device=x.device)
    return torch.einsum("kc,nchw->nkhw", m, (x + 1.0) / 2.0)


def color_loss(p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Official colour loss between photo ``p`` and its stylisation ``g``: L1(Y) + Huber(U) + Huber(V).

    Huber uses delta 1 and mean reduction (TF's ``huber_loss`` defaults).
    """
    yp, yg = rgb_to_yuv(p), rgb_to_yuv(g)
    return ((yp[:, 0] - yg[:, 0]).abs().mean()
            + F.huber_loss(yg[:, 1], yp[:, 1], delta=1.0)
            + F.huber_loss(yg[:, 2], yp[:, 2], delta=1.0))


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Total variation ``0.5·mean(dh²) + 0.5·mean(dw²)`` of an N×C×H×W batch."""
    dh = x[:, :, 1:, :] - x[:, :, :-1, :]
    dw = x[:, :, :, 1:] - x[:, :, :, :-1]
    return 0.5 * dh.pow(2).mean() + 0.5 * dw.pow(2).mean()


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """Luma of an RGB batch replicated to 3 channels (same range as the input)."""
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    y = LUMA[0] * r + LUMA[1] * g + LUMA[2] * b
    return y.expand(-1, 3, -1, -1).contiguous()


def _as_list(maps: Maps) -> list[torch.Tensor]:
    return [maps] if isinstance(maps, torch.Tensor) else list(maps)


def _scale_mean(maps: Maps, fn) -> torch.Tensor:
    items = _as_list(maps)
    if not items:
        raise ValueError("discriminator output is an empty list")
    return sum(fn(m) for m in items) / len(items)


def lsgan_d_loss(d_real: Maps, d_fake: Maps, d_gray: Maps | None = None, d_smooth: Maps | None = None, *,
                 weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0),
                 scale: float = 1.0) -> torch.Tensor:
    """LSGAN discriminator loss with AnimeGANv2's four terms.

    ``scale·[w_r·mean((D(a)−1)²) + w_f·mean(D(G(p))²) + w_g·mean(D(gray(a))²) + w_b·mean(D(smooth)²)]``:
    real anime frames are real; generated images, grayscale anime and edge-smoothed anime are fake.
    ``weights`` is (real, fake, gray, smooth); a term whose map is ``None`` is left out. The
    official release uses ``scale`` 300 (its adversarial weight) with e.g. Hayao (1.2, 1.2, 1.2, 0.8).
    """
    w_r, w_f, w_g, w_b = weights
    loss = w_r * _scale_mean(d_real, lambda m: (m - 1.0).pow(2).mean())
    loss = loss + w_f * _scale_mean(d_fake, lambda m: m.pow(2).mean())
    if d_gray is not None:
        loss = loss + w_g * _scale_mean(d_gray, lambda m: m.pow(2).mean())
    if d_smooth is not None:
        loss = loss + w_b * _scale_mean(d_smooth, lambda m: m.pow(2).mean())
    return scale * loss


def lsgan_g_loss(d_fake: Maps, *, scale: float = 1.0) -> torch.Tensor:
    """LSGAN generator loss ``scale·mean((D(G(p))−1)²)`` (official ``scale`` 300)."""
    return scale * _scale_mean(d_fake, lambda m: (m - 1.0).pow(2).mean())


def hinge_d_loss(d_real: Maps, d_fake: Maps, d_gray: Maps | None = None, d_smooth: Maps | None = None, *,
                 weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0),
                 scale: float = 1.0) -> torch.Tensor:
    """Hinge discriminator loss ``E[max(0, 1 − D(x))] + E[max(0, 1 + D(G(z)))]`` (seed article).

    Optional grayscale / smoothed anime maps are extra fakes, weighted like :func:`lsgan_d_loss`.
    """
    w_r, w_f, w_g, w_b = weights
    loss = w_r * _scale_mean(d_real, lambda m: F.relu(1.0 - m).mean())
    loss = loss + w_f * _scale_mean(d_fake, lambda m: F.relu(1.0 + m).mean())
    if d_gray is not None:
        loss = loss + w_g * _scale_mean(d_gray, lambda m: F.relu(1.0 + m).mean())
    if d_smooth is not None:
        loss = loss + w_b * _scale_mean(d_smooth, lambda m: F.relu(1.0 + m).mean())
    return scale * loss


def hinge_g_loss(d_fake: Maps, *, scale: float = 1.0) -> torch.Tensor:
    """Hinge generator loss ``−scale·E[D(G(z))]``."""
    return -scale * _scale_mean(d_fake, lambda m: m.mean())


__all__ = ["LUMA", "color_loss", "content_loss", "gram", "grayscale", "hinge_d_loss", "hinge_g_loss",
           "lsgan_d_loss", "lsgan_g_loss", "rgb_to_yuv", "style_loss", "tv_loss"]
