"""Device and precision policy, in one place.

`auto` means CUDA when present, else CPU. Asking for CUDA where there is none is an error, never
a silent fall-back. fp16 runs only on CUDA; on CPU, auto is bf16 (weights cast once) + channels_last
where that was measured faster than fp32 on the CPU's class (:data:`MEASURED_SPEED`, from the recorded
benchmarks), fp32 elsewhere; exact fp32 (NCHW, the reference forward pass) on request.
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


#: What ``--precision auto`` on a CPU is decided from: the speed of each path of the AnimeGANv2
#: generator at 512² on 2 threads, as a multiple of eager fp32 NCHW on the same machine in the same
#: run (``animegan bench``, the recorded file named in each row), by CPU class (:func:`cpu_class`).
#: Every path here is within 2/255 of fp32 (mean abs: bf16 0.19, INT8 1.53). Auto takes
#: the fastest path the torch backend runs (fp32 or bf16 + channels_last); INT8 runs through ONNX
#: Runtime on a model quantized with ``animegan quantize`` and is listed for comparison. A CPU class
#: with no row here has not been measured: auto stays at exact-layout fp32 there.
MEASURED_SPEED: dict[str, dict[str, float | str]] = {
    "amx": {"fp32": 1.0, "bf16": 3.92, "int8": 1.34,
            "source": "benchmarks/results/deploy-20261202-0655.md (Intel Xeon, AMX-BF16)"},
    "avx512_bf16": {"fp32": 1.0, "bf16": 2.09, "int8": 2.14,
                    "source": "benchmarks/results/deploy-20261203-0713.md (AMD EPYC, AVX512-BF16, VNNI)"},
}
_TORCH_PATHS = ("fp32", "bf16")


def cpu_class() -> str:
    """The CPU's class for :data:`MEASURED_SPEED`: ``amx``, ``avx512_bf16``, ``avx512``, ``avx2`` or
    ``other``, from the CPU flags (``/proc/cpuinfo``) where the OS lists them, else from torch's own
    CPU capability (which does not tell AVX512 with bf16 from without)."""
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    if not flags:
        try:
            caps = str(torch.backends.cpu.get_cpu_capability()).upper()
        except (AttributeError, RuntimeError):  # pragma: no cover - very old torch
            return "other"
        return "amx" if "AMX" in caps else "avx512" if "AVX512" in caps else "avx2" if "AVX2" in caps else "other"
    if "amx_bf16" in flags:
        return "amx"
    if "avx512_bf16" in flags:
        return "avx512_bf16"
    return "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "other"


def auto_cpu_precision(cls: str | None = None) -> str:
    """``fp32`` or ``bf16``: the fastest torch path measured on this CPU class (:data:`MEASURED_SPEED`),
    fp32 where the class was not measured."""
    row = MEASURED_SPEED.get(cls or cpu_class())
    if row is None:
        return "fp32"
    return max(_TORCH_PATHS, key=lambda path: float(row.get(path, 0.0)))


def cpu_has_fast_bf16() -> bool:
    """True where bf16 was measured faster than fp32 on this CPU's class (:func:`auto_cpu_precision`)."""
    return auto_cpu_precision() == "bf16"


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
