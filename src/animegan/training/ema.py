"""The exponential moving average of a generator's weights: what the trainer and distillation save.

The decay warms up (``(1 + step) / (10 + step)``, capped at the configured decay) so the average
does not stay anchored to the random initialisation for the first thousand steps.
"""

from __future__ import annotations

import torch
from torch import nn


def ema_decay_at(step: int, decay: float) -> float:
    """The decay to use at ``step``: the configured one, lower while the run is young."""
    return min(decay, (1 + step) / (10 + step))


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """``ema <- decay * ema + (1 - decay) * model`` for parameters; buffers copied as they are."""
    for pe, ps in zip(ema.parameters(), model.parameters(), strict=True):
        pe.lerp_(ps.detach(), 1.0 - decay)
    for be, bs in zip(ema.buffers(), model.buffers(), strict=True):
        be.copy_(bs)
