"""Backends: what runs the network. A backend is a callable on float32 NCHW tensors in [-1, 1].

The Stylizer only needs ``backend(x) -> y`` (CPU float32 in and out, same H×W) plus three
attributes: ``name``, ``size_multiple`` and ``bytes_per_pixel``. Backends that can freeze the
network's normalisation statistics (needed for exact tiling, see :mod:`.tiling`) also offer
``record_norm_stats(x)`` and ``frozen_norm_stats(stats)`` (and optionally ``isolated()``, a copy
safe to modify while other threads run); without them tiles run on their own.

``torch`` is here; ``onnx`` lives in :mod:`animegan.inference.onnx_backend` (imported lazily,
constructed as ``OnnxBackend(model, policy)``).
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import logging
from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from ..device import ExecutionPolicy
from ..errors import InputError
from .tiling import NormStats, frozen_norm_stats, recording_norm_stats

log = logging.getLogger("animegan")


@runtime_checkable
class Backend(Protocol):
    """The seam between the Stylizer and whatever runs the network."""

    name: str
    size_multiple: int
    bytes_per_pixel: int

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


class TorchBackend:
    """Eager PyTorch under an :class:`~animegan.device.ExecutionPolicy`.

    fp32 on CPU runs the module exactly as given (NCHW, no autocast): bit-for-bit a bare forward.
    Other policies run a private copy converted to the device and memory layout. bf16 on CPU casts
    that copy's weights to bf16 once and feeds it bf16 (``cast_weights``): autocast would re-cast
    every weight on every call, which took 1.41× as long for AnimeGANv2 at 512² on a Xeon with AMX
    (benchmarks/results/deploy-20261202-0655.md, ``torch-bf16-autocast-cl`` against ``torch-bf16-cl``). Norm
    layers still accumulate in fp32 inside PyTorch's bf16 kernels. CUDA runs under autocast.
    """

    name = "torch"

    def __init__(self, model: nn.Module, policy: ExecutionPolicy, cast_weights: bool | None = None):
        self.policy = policy
        model.eval()
        exact = policy.device.type == "cpu" and policy.dtype == torch.float32 and not policy.channels_last
        if cast_weights is None:
            cast_weights = policy.device.type == "cpu" and policy.dtype == torch.bfloat16
        self.cast_weights = cast_weights
        if not exact:
            model = copy.deepcopy(model).to(policy.device)
            if cast_weights:
                model = model.to(policy.dtype)
            if policy.channels_last:
                model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.size_multiple = int(getattr(model, "size_multiple", 4))
        self.bytes_per_pixel = int(getattr(model, "bytes_per_pixel", 2000))
        #: tile overlap the network needs at least (its receptive field); a model may declare it
        self.min_tile_pad = int(getattr(model, "min_tile_pad", 0))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Forward ``x`` (float32 NCHW in [-1, 1], any device); float32 CPU NCHW out, clamped."""
        policy = self.policy
        x = x.to(policy.device, policy.dtype if self.cast_weights else torch.float32)
        if policy.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            with self._autocast():
                y = self.model(x)
            return y.float().clamp_(-1, 1).to("cpu").contiguous()

    def isolated(self) -> TorchBackend:
        """This backend on a private copy of the model, so tiling's statistics swaps touch no shared state.

        Freezing statistics changes norm layers for a while; on a copy, other threads using this
        backend at the same time are unaffected. The copy costs the weights' size (8 MB for AnimeGANv2).
        """
        twin = copy.copy(self)
        twin.model = copy.deepcopy(self.model)
        return twin

    def record_norm_stats(self, x: torch.Tensor) -> NormStats:
        """Run ``x`` once and return every whole-image norm layer's statistics."""
        with recording_norm_stats(self.model) as stats:
            self(x)
        return stats

    @contextlib.contextmanager
    def frozen_norm_stats(self, stats: NormStats) -> Iterator[None]:
        """Forward passes inside the block normalise with ``stats``."""
        with frozen_norm_stats(self.model, stats):
            yield

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.policy.dtype == torch.float32 or self.cast_weights:
            return contextlib.nullcontext()
        return torch.autocast(self.policy.device.type, dtype=self.policy.dtype)


#: backend name -> "module:Class", imported on first use
BACKENDS = {
    "torch": "animegan.inference.backends:TorchBackend",
    "onnx": "animegan.inference.onnx_backend:OnnxBackend",
}


def create_backend(name: str, model: Any, policy: ExecutionPolicy) -> Backend:
    """Build the backend called ``name`` for ``model`` under ``policy``."""
    if name not in BACKENDS:
        raise InputError(f"backend {name}: unknown (choose {', '.join(BACKENDS)})", params=("backend",))
    module_name, cls_name = BACKENDS[name].split(":")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("animegan"):
            raise InputError(f"backend {name}: not available in this build of animegan", params=("backend",)) from None
        raise InputError(f"backend {name}: not available ({exc.name} is not installed; "
                         f"pip install 'animegan[{name}]')", params=("backend",)) from None
    return cls(model, policy)
