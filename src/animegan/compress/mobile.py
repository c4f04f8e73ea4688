"""ONNX Runtime mobile format: an ``.ort`` model plus the reduced operator configuration.

Uses ONNX Runtime's own converter (``python -m onnxruntime.tools.convert_onnx_models_to_ort``) in
a child process. ``Fixed`` optimisation style for ``arm`` by default: optimisations are applied
before saving and none of them are x86-only, so the file runs on phones and, for tests, here.
The ``.config`` lists the operators (and, with type reduction, their types) a minimal ONNX Runtime
build needs (``build.sh --minimal_build --include_ops_by_config FILE``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, ModelError
from ..inference.onnx_graph import load_onnx
from ..io.atomic import atomic_path

PLATFORMS = ("arm", "amd64")


@dataclass
class MobileExport:
    """The files :func:`convert_to_ort` wrote."""

    ort_path: Path
    config_path: Path
    operators: list[str]


def convert_to_ort(onnx_path: str | os.PathLike, ort_path: str | os.PathLike | None = None, *,
                   target_platform: str = "arm", type_reduction: bool = True) -> MobileExport:
    """Convert ``onnx_path`` to ``ort_path`` (default: same name, ``.ort``) and its operator config."""
    if target_platform not in PLATFORMS:
        raise InputError(f"platform {target_platform}: unknown (choose {', '.join(PLATFORMS)})", params=("platform",))
    load_onnx(onnx_path, load_weights=False)  # one clear error for a missing or non-ONNX file
    src = Path(onnx_path)
    dst = Path(ort_path) if ort_path is not None else src.with_suffix(".ort")
    with tempfile.TemporaryDirectory() as work:
        staged = Path(work) / "model.onnx"
        shutil.copyfile(src, staged)
        cmd = [sys.executable, "-m", "onnxruntime.tools.convert_onnx_models_to_ort", str(staged),
               "--output_dir", str(Path(work) / "out"), "--optimization_style", "Fixed",
               "--target_platform", target_platform]
        if type_reduction:
            cmd.append("--enable_type_reduction")
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        made = sorted((Path(work) / "out").glob("*.ort"))
        configs = sorted((Path(work) / "out").glob("*.config"))
        if proc.returncode != 0 or not made or not configs:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ModelError(f"{src}: ONNX Runtime could not convert it to .ort ({tail[0][:200]})")
        config_dst = dst.with_suffix(".required_operators.config")
        with atomic_path(dst) as tmp:
            shutil.copyfile(made[0], tmp)
        with atomic_path(config_dst) as tmp:
            shutil.copyfile(configs[0], tmp)
    operators = [line.strip() for line in config_dst.read_text().splitlines()
                 if line.strip() and not line.startswith("#")]
    return MobileExport(dst, config_dst, operators)
