"""ONNX Runtime backend: the Stylizer's ``backend="onnx"``.

It takes a generator (exported in memory, see :mod:`animegan.compress.onnx_export`), an ``.onnx``
file (fp32 or INT8) or a mobile ``.ort`` file. Session options are explicit and logged: full graph
optimisation, ``threads`` intra-op threads (default: torch's thread count, so ``--threads`` and
the tests' limit apply alike), no busy-wait spinning between ops (measured faster on these shared
CPUs), one inter-op thread. The execution provider follows the policy's device and is never a silent
fall-back: ``cuda`` needs ``CUDAExecutionProvider``, ``tensorrt`` needs ``TensorrtExecutionProvider``
(``ANIMEGAN_ORT_PROVIDER=tensorrt`` or ``providers=("tensorrt",)``); either missing is a DeviceError.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..device import ExecutionPolicy, resolve_policy
from ..errors import DeviceError, InputError, ModelError
from ..extras import require
from ..hub.weights import ModelInfo
from ..nn import generator_config
from .onnx_graph import export_bytes, read_onnx_metadata

log = logging.getLogger("animegan")

FEATURE = "the onnx backend (--backend onnx)"

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


def resolve_providers(names: Sequence[str]) -> list[str]:
    """ORT provider names for short names (cpu, cuda, tensorrt); DeviceError if one is absent.

    CPU is always appended last so that ops a GPU provider lacks still run.
    """
    ort = require("onnxruntime", extra="onnx", feature=FEATURE)

    available = ort.get_available_providers()
    chosen: list[str] = []
    for name in names:
        key = name.lower().removesuffix("executionprovider")
        if key not in PROVIDERS:
            raise DeviceError(f"ONNX Runtime provider {name!r}: unknown (choose {', '.join(PROVIDERS)})")
        full = PROVIDERS[key]
        if full not in available:
            raise DeviceError(f"ONNX Runtime provider {key} was asked for but this onnxruntime build has only "
                              f"{', '.join(available)} (pip install onnxruntime-gpu for cuda/tensorrt)")
        if full not in chosen:
            chosen.append(full)
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


def session_options(threads: int | None = None, spinning: bool = False) -> Any:
    """The SessionOptions every animegan session uses (see the module docstring)."""
    ort = require("onnxruntime", extra="onnx", feature=FEATURE)

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = int(threads or torch.get_num_threads())
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    opts.log_severity_level = 3
    return opts


def make_session(model: bytes | str | os.PathLike, *, threads: int | None = None,
                 providers: Sequence[str] = ("cpu",), spinning: bool = False) -> Any:
    """An ``onnxruntime.InferenceSession`` for ONNX bytes or a ``.onnx``/``.ort`` file."""
    ort = require("onnxruntime", extra="onnx", feature=FEATURE)

    chosen = resolve_providers(providers)
    source = model if isinstance(model, bytes) else str(model)
    if not isinstance(model, bytes):
        path = Path(model)
        if not path.is_file():
            raise InputError(f"{path}: ONNX file not found")
    try:
        session = ort.InferenceSession(source, sess_options=session_options(threads, spinning), providers=chosen)
    except Exception as exc:  # noqa: BLE001 (ORT raises its own Fail/InvalidGraph/... types)
        name = "in-memory model" if isinstance(model, bytes) else str(model)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"{name}: not a loadable ONNX model ({first[:200]})") from None
    return session


class OnnxBackend:
    """Runs a generator with ONNX Runtime; a :class:`~animegan.inference.backends.Backend`.

    ``model``: an ``nn.Module`` (exported in memory), ONNX bytes, or a path to ``.onnx``/``.ort``.
    ``providers``: short provider names; default from the policy (cpu, or cuda for a CUDA policy)
    or ``ANIMEGAN_ORT_PROVIDER``. ``threads``: intra-op threads (default torch's thread count).
    """

    name = "onnx"

    def __init__(self, model: nn.Module | bytes | str | os.PathLike, policy: ExecutionPolicy | None = None, *,
                 providers: Sequence[str] | None = None, threads: int | None = None, info: ModelInfo | None = None):
        self.policy = policy or resolve_policy("cpu", "fp32")
        if providers is None:
            env = os.environ.get("ANIMEGAN_ORT_PROVIDER", "").strip()
            providers = [p for p in env.split(",") if p] if env else [self.policy.device.type]
        self.size_multiple = int(getattr(model, "size_multiple", 4))
        self.bytes_per_pixel = int(getattr(model, "bytes_per_pixel", 2000))
        if isinstance(model, nn.Module):
            self.info = info or ModelInfo(arch=str(getattr(model, "arch", type(model).__name__)),
                                          config=generator_config(model))
            model = export_bytes(model)
            self.source = "in-memory export"
        else:
            self.source = "in-memory model" if isinstance(model, bytes) else str(model)
            self.info = info or _info_from_file(model)
        self.session = make_session(model, threads=threads, providers=providers)
        self.providers = list(self.session.get_providers())
        self._check_io()
        opts = self.session.get_session_options()
        if self.policy.precision != "fp32":
            log.debug("onnx backend: --precision %s does not apply; the graph runs in its own precision",
                      self.policy.precision)
        log.info("onnx backend: %s on %s, %d intra-op threads, graph optimisation all, spinning off",
                 self.source, ", ".join(self.providers), opts.intra_op_num_threads)

    def describe(self) -> str:
        """Where and how the graph runs, for the Stylizer's log line (ORT runs the graph's own precision)."""
        return f"{self.policy.device.type} (ONNX Runtime, the graph's own precision)"

    @classmethod
    def from_file(cls, path: str | os.PathLike, device: str = "cpu", **kwargs: Any) -> OnnxBackend:
        """A backend for an ``.onnx`` or ``.ort`` file on ``device`` (cpu or cuda)."""
        return cls(path, resolve_policy(device, "fp32"), **kwargs)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Forward ``x`` (float32 NCHW in [-1, 1]); float32 CPU NCHW out, clamped."""
        arr = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        out = self.session.run([self._output], {self._input: arr})[0]
        return torch.from_numpy(out).clamp_(-1, 1)

    def _check_io(self) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1 or len(inputs[0].shape) != 4:
            raise ModelError(f"{self.source}: expected one N×3×H×W input and one output, got "
                             f"{[i.name for i in inputs]} -> {[o.name for o in outputs]}")
        self._input, self._output = inputs[0].name, outputs[0].name


def _info_from_file(model: bytes | str | os.PathLike) -> ModelInfo:
    if isinstance(model, bytes) or Path(model).suffix.lower() != ".onnx":
        return ModelInfo(arch="onnx")
    import json

    meta = read_onnx_metadata(model)
    try:
        config = json.loads(meta.get("config", "{}"))
    except json.JSONDecodeError:
        config = {}
    return ModelInfo(arch=meta.get("arch", "onnx"), config=config, style=meta.get("style", ""),
                     provenance=meta.get("provenance", f"ONNX file {model}"))
