"""Device and precision policy, in one place.

`auto` means CUDA when present, else CPU. Asking for CUDA where there is none is an error, never
a silent fall-back. fp16 runs only on CUDA; on CPU the fast path is bf16 (weights cast once) +
channels_last where the CPU supports bf16 well (measured in benchmarks/), exact fp32 on request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import torch

from .errors import DeviceError

log = logging.getLogger("animegan")

DeviceName = Literal["auto", "cpu", "cuda"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]


@dataclass(frozen=True)
class ExecutionPolicy:
    """Where and how a forward pass runs."""

    device: torch.device
    dtype: torch.dtype  # compute dtype: CUDA autocasts to it, CPU bf16 casts the weights (TorchBackend)
    channels_last: bool

    @property
    def precision(self) -> str:
        return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    def describe(self) -> str:
        layout = "channels_last" if self.channels_last else "NCHW"
        return f"{self.device.type} {self.precision} {layout}"


def cpu_has_fast_bf16() -> bool:
    """True where the CPU has native bf16 or AVX-512 paths that make bf16 pay off."""
    try:
        caps = torch.backends.cpu.get_cpu_capability()
    except (AttributeError, RuntimeError):  # pragma: no cover - very old torch
        return False
    return caps in ("AVX512", "AVX512_BF16", "AMX") or "AVX512" in str(caps)


def resolve_device(name: str = "auto") -> torch.device:
    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device {name}: CUDA was asked for but no CUDA device is available "
                              "(use cpu or auto)", params=("device",))
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise DeviceError(f"device {name}: unknown (choose auto, cpu or cuda)", params=("device",))


def resolve_policy(device: str = "auto", precision: str = "auto") -> ExecutionPolicy:
    """Turn the user's --device/--precision into a concrete, logged policy."""
    dev = resolve_device(device)
    precision = (precision or "auto").lower()
    if precision not in ("auto", "fp32", "bf16", "fp16"):
        raise DeviceError(f"precision {precision}: unknown (choose auto, fp32, bf16 or fp16)", params=("precision",))
    if dev.type == "cuda":
        dtype = {"auto": torch.float16, "fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[precision]
        policy = ExecutionPolicy(dev, dtype, channels_last=True)
    else:
        if precision == "fp16":
            raise DeviceError("precision fp16 runs only on CUDA; on CPU use bf16 or fp32", params=("precision",))
        if precision == "auto":
            dtype = torch.bfloat16 if cpu_has_fast_bf16() else torch.float32
        else:
            dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        # exact fp32 means plain NCHW eager: bit-for-bit the reference forward pass
        policy = ExecutionPolicy(dev, dtype, channels_last=precision != "fp32")
    log.debug("inference on %s", policy.describe())
    return policy
