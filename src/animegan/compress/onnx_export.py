"""ONNX export of any generator, with a parity check against PyTorch before the file is written.

The graph has one input ``input`` and one output ``output`` (N×3×H×W float32 in [-1, 1]) with
dynamic batch, height and width, at a pinned opset (:data:`OPSET`). The exporter is
TorchScript-based (``dynamo=False``): on torch 2.13 the dynamo exporter needs the extra
``onnxscript`` package and took about 100 s per export here against 5 s, for the same graph.
AnimeGANv2's resizes to intermediate sizes stay symbolic (``Shape`` → ``Resize``), so odd sizes
such as 513×389 run unpadded and match PyTorch.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..errors import InputError, ModelError
from ..inference.onnx_backend import make_session
from ..inference.onnx_graph import INPUT_NAME, OPSET, OUTPUT_NAME, export_bytes
from ..inference.processing import uint8_to_tensor
from ..io.atomic import atomic_path

#: refuse to write an export whose worst pixel differs from PyTorch by more than this ([-1, 1] units)
PARITY_TOLERANCE = 1e-3
#: (height, width) the parity check runs at: square, odd and landscape
DEFAULT_PARITY_SIZES: tuple[tuple[int, int], ...] = ((256, 256), (389, 513), (300, 200))


@dataclass
class ParityRow:
    """One (image, size) comparison between PyTorch and ONNX Runtime."""

    image: str
    height: int
    width: int
    max_abs: float
    mean_abs: float


@dataclass
class ParityReport:
    """All comparisons of one parity check; ``ok`` when every max is within ``tolerance``."""

    rows: list[ParityRow] = field(default_factory=list)
    tolerance: float = PARITY_TOLERANCE

    @property
    def max_abs(self) -> float:
        return max((r.max_abs for r in self.rows), default=0.0)

    @property
    def mean_abs(self) -> float:
        return float(np.mean([r.mean_abs for r in self.rows])) if self.rows else 0.0

    @property
    def ok(self) -> bool:
        return bool(self.rows) and self.max_abs <= self.tolerance


def photo_tensor(path: str | os.PathLike, height: int, width: int) -> torch.Tensor:
    """A photo resized (Lanczos, aspect ignored) to height×width as 1×3×H×W in [-1, 1]."""
    with Image.open(path) as img:
        rgb = img.convert("RGB").resize((width, height), Image.LANCZOS)
    return uint8_to_tensor(np.asarray(rgb))[None].contiguous()


def parity_check(model: nn.Module, session: object, images: Sequence[str | os.PathLike],
                 sizes: Sequence[tuple[int, int]] = DEFAULT_PARITY_SIZES,
                 tolerance: float = PARITY_TOLERANCE) -> ParityReport:
    """Run every image at every size through ``model`` and the ONNX Runtime ``session``; compare."""
    report = ParityReport(tolerance=tolerance)
    model = model.eval()
    for path in images:
        for height, width in sizes:
            x = photo_tensor(path, height, width)
            with torch.inference_mode():
                ref = model(x).numpy()
            out = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0]  # type: ignore[attr-defined]
            if out.shape != ref.shape:
                raise ModelError(f"ONNX output shape {out.shape} differs from PyTorch's {ref.shape} "
                                 f"at {width}×{height}")
            diff = np.abs(out - ref)
            report.rows.append(ParityRow(Path(path).name, height, width, float(diff.max()), float(diff.mean())))
    return report


@dataclass
class ExportResult:
    """What :func:`export_onnx` wrote and how well it matched PyTorch."""

    path: Path
    size_bytes: int
    opset: int
    seconds: float
    parity: ParityReport


def export_onnx(model: nn.Module, path: str | os.PathLike, *, images: Sequence[str | os.PathLike],
                sizes: Sequence[tuple[int, int]] = DEFAULT_PARITY_SIZES, opset: int = OPSET,
                tolerance: float = PARITY_TOLERANCE, metadata: dict[str, str] | None = None,
                threads: int | None = None) -> ExportResult:
    """Export ``model`` to ``path``; written (atomically) only if the parity check passes.

    Raises :class:`ModelError` naming the worst difference when it does not, and
    :class:`InputError` when no parity images are given.
    """
    if not images:
        raise InputError("export: the parity check needs at least one image")
    started = time.perf_counter()
    meta = {"producer": "animegan", "arch": str(getattr(model, "arch", type(model).__name__))}
    config = getattr(model, "config", None)
    if config is not None:
        meta["config"] = json.dumps(dataclasses.asdict(config), sort_keys=True)
    meta.update(metadata or {})
    data = export_bytes(model, opset=opset, metadata=meta)
    session = make_session(data, threads=threads)
    parity = parity_check(model, session, images, sizes, tolerance)
    if not parity.ok:
        worst = max(parity.rows, key=lambda r: r.max_abs)
        raise ModelError(f"{path}: not written: ONNX output differs from PyTorch by up to {parity.max_abs:.2e} "
                         f"(tolerance {tolerance:.0e}; worst {worst.image} at {worst.width}×{worst.height})")
    target = Path(path)
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return ExportResult(target, len(data), opset, time.perf_counter() - started, parity)
