"""Distillation's loss terms, built on :mod:`animegan.training.losses`.

L1 to the teacher (RGB, or luma only), perceptual (features of a frozen CartoonGAN encoder, since
no VGG weights reach our machines), AnimeGANv2's YUV colour loss and an L1 chroma loss to the
*input photo* (they keep the photo's colours where the teacher casts them), and an optional LSGAN
adversarial term against a folder of style images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ModelError
from ...training.losses import color_loss, lsgan_g_loss, rgb_to_yuv
from .config import DistillConfig

#: the loss weights of a config, as recorded in the student's provenance
WEIGHTS = ("w_l1", "w_l1_luma", "w_perceptual", "w_color", "w_chroma", "w_adv")


class CartoonGANFeatures(nn.Module):
    """Frozen features of a CartoonGAN encoder for a perceptual loss (input RGB [-1, 1])."""

    def __init__(self, net: nn.Module, res_blocks: int):
        super().__init__()
        if getattr(net, "arch", "") != "cartoongan":
            raise ModelError("perceptual features need a CartoonGAN network; set perceptual_net")
        self.net, self.res_blocks = net.eval().requires_grad_(False), res_blocks

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.net.encode(x.flip(1), self.res_blocks)  # type: ignore[operator]


def perceptual_loss(feats: CartoonGANFeatures, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over encoder stages of the L1 between the features of ``out`` and of ``target``."""
    with torch.no_grad():
        ft = feats(target)
    return sum(F.l1_loss(a, b) for a, b in zip(feats(out), ft, strict=True)) / len(ft)  # type: ignore[return-value]


def luma_l1(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between the Y planes (inputs RGB in [-1, 1])."""
    return F.l1_loss(rgb_to_yuv(out)[:, 0], rgb_to_yuv(target)[:, 0])


def chroma_loss(out: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    """L1 between the U and V planes of ``out`` and the photo (inputs RGB in [-1, 1])."""
    return F.l1_loss(rgb_to_yuv(out)[:, 1:], rgb_to_yuv(photo)[:, 1:])


def student_terms(cfg: DistillConfig, out: torch.Tensor, x: torch.Tensor, target: torch.Tensor,
                  feats: CartoonGANFeatures | None, disc: nn.Module | None) -> dict[str, torch.Tensor]:
    """The weighted terms of the student's loss (those with a non-zero weight) for output ``out`` of
    photo ``x`` whose teacher output is ``target``."""
    terms: dict[str, torch.Tensor] = {}
    if cfg.w_l1 > 0:
        terms["l1"] = cfg.w_l1 * F.l1_loss(out, target)
    if cfg.w_l1_luma > 0:
        terms["l1_luma"] = cfg.w_l1_luma * luma_l1(out, target)
    if feats is not None:
        terms["perceptual"] = cfg.w_perceptual * perceptual_loss(feats, out, target)
    if cfg.w_color > 0:
        terms["color"] = cfg.w_color * color_loss(x, out)
    if cfg.w_chroma > 0:
        terms["chroma"] = cfg.w_chroma * chroma_loss(out, x)
    if disc is not None:
        terms["adv"] = lsgan_g_loss(disc(out), scale=cfg.w_adv)
    return terms
