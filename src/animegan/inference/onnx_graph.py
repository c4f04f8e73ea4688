"""ONNX graph files: the one place that says what an ONNX/ORT model file is, loads it, and reads the
metadata :mod:`animegan.compress.onnx_export` writes into it (architecture, config, style)."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError
from ..extras import require
from ..hub.zoo import ONNX_SUFFIXES

#: the pinned ONNX opset of every export
OPSET = 17

#: the exported graph's input and output names
INPUT_NAME = "input"
OUTPUT_NAME = "output"


def is_onnx_file(source: object) -> bool:
    """True for a path whose suffix is ``.onnx`` or ``.ort``."""
    return isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() in ONNX_SUFFIXES


def export_bytes(model: nn.Module, opset: int = OPSET, metadata: dict[str, str] | None = None) -> bytes:
    """The ONNX model of ``model`` (eval mode, CPU, float32) as bytes, with dynamic N, H and W."""
    onnx = require("onnx", extra="onnx", feature="ONNX export")

    model = model.eval().float().cpu()
    example = torch.zeros(1, 3, 64, 64)
    axes = {0: "batch", 2: "height", 3: "width"}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), _symbolic_resize(model):
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        with torch.no_grad():
            torch.onnx.export(model, (example,), buffer, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              opset_version=opset, dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes},
                              do_constant_folding=True, dynamo=False)
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(proto)
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString()


def _export_resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    # like nn.window.resize_aligned outside a tile, but without int(): traced sizes stay symbolic
    return torch.nn.functional.interpolate(x, (size[0], size[1]), mode="bilinear", align_corners=True)


@contextlib.contextmanager
def _symbolic_resize(model: nn.Module) -> Iterator[None]:
    """While exporting, generators' ``resize_aligned`` keeps sizes symbolic (dynamic H×W in the graph).

    ``resize_aligned`` turns sizes into Python ints, which the tracer records as constants: the
    graph would then resize to the example input's sizes whatever the input.
    """
    patched = []
    for cls in type(model).__mro__:
        module = sys.modules.get(cls.__module__)
        if module is not None and hasattr(module, "resize_aligned"):
            patched.append((module, module.resize_aligned))
            module.resize_aligned = _export_resize
    try:
        yield
    finally:
        for module, original in patched:
            module.resize_aligned = original


def read_onnx_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file (empty for files made elsewhere)."""
    onnx = require("onnx", extra="onnx", feature="ONNX export")

    proto = load_onnx(path, load_weights=False)
    return {p.key: p.value for p in proto.metadata_props} if isinstance(proto, onnx.ModelProto) else {}


def load_onnx(path: str | os.PathLike, load_weights: bool = True) -> object:
    """``onnx.load`` with one clear :class:`InputError` for a missing or non-ONNX file."""
    onnx = require("onnx", extra="onnx", feature="ONNX export")

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: ONNX file not found")
    try:
        proto = onnx.load(str(path), load_external_data=load_weights)
    except Exception as exc:  # noqa: BLE001 (onnx raises DecodeError, ValueError, ... for garbage)
        raise InputError(f"{path}: not an ONNX model ({type(exc).__name__})") from None
    if not proto.graph.node:
        raise InputError(f"{path}: not an ONNX model (no graph)")
    return proto
