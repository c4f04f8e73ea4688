"""INT8 quantization of an exported generator with ONNX Runtime, and its measured cost and quality.

``static``: QDQ format, per-channel symmetric int8 weights, uint8 activations (the fast
U8S8 kernels on x86), calibrated on a folder of real photos (default: the bundled samples). Only convolutions are quantized:
quantizing every op gave a graph ONNX Runtime refused to load, and GroupNorm (exported as
InstanceNormalization between reshapes) keeps its statistics in fp32. The first and last
convolutions (RGB in, RGB out) stay fp32 by default: they are cheap and carry most of the error;
so do convolutions that read a transposed convolution's output (CartoonGAN's up-sampling path: its
un-normalised activations need more than 8 bits, see :func:`fp32_conv_names`).
Calibration ranges: ``percentile`` (99.999th of |x|, default), ``entropy`` or ``minmax``.
``dynamic``: weights int8, activations quantized per call (ConvInteger); no calibration.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..extras import require
from ..inference.onnx_backend import make_session
from ..inference.onnx_graph import INPUT_NAME, load_onnx
from ..io.atomic import atomic_path
from ..io.discovery import list_images
from ..resources import sample_photos
from .onnx_export import photo_tensor

MODES = ("static", "dynamic")
CALIBRATION_METHODS = ("percentile", "entropy", "minmax")


class PhotoCalibrationReader:
    """Feeds ``count`` photos from ``folder``, resized to size×size, to ORT's calibrator.

    ``folder`` None: the bundled sample photos. ``__len__`` and ``set_range`` let ORT's strided
    calibration (``CalibStridedMinMax``) collect one photo at a time: without it the calibrator keeps
    every intermediate tensor of every photo alive at once (7 GB for AnimeGANv2 on 16 photos at 256²).
    """

    def __init__(self, folder: str | os.PathLike | None = None, size: int = 256, count: int = 16):
        self.files = [p.resolve() for p in calibration_photos(folder, count)]  # the calibrator changes folder
        self.size = size
        self._range = (0, len(self.files))
        self._iter: Iterator[dict[str, np.ndarray]] | None = None

    def __len__(self) -> int:
        return len(self.files)

    def set_range(self, start_index: int, end_index: int) -> None:
        """Feed only photos ``start_index`` to ``end_index`` (exclusive) from now on."""
        self._range = (start_index, min(end_index, len(self.files)))
        self._iter = None

    def _batches(self) -> Iterator[dict[str, np.ndarray]]:
        for path in self.files[self._range[0]:self._range[1]]:
            yield {INPUT_NAME: photo_tensor(path, self.size, self.size).numpy()}

    def get_next(self) -> dict[str, np.ndarray] | None:
        """The next calibration input, or None at the end (ORT's CalibrationDataReader protocol)."""
        if self._iter is None:
            self._iter = self._batches()
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = None


def calibration_photos(folder: str | os.PathLike | None = None, count: int | None = 16) -> list[Path]:
    """Up to ``count`` photos from ``folder``; None: the photos bundled with the package."""
    if folder is None:
        return sample_photos()[:count] if count else sample_photos()
    return list_images(folder, limit=count)


def fp32_conv_names(model_path: str | os.PathLike, keep_first_last: bool = True) -> list[str]:
    """The convs that stay fp32: first and last (optional), and every conv reading a transposed conv.

    A transposed conv's output goes into the next conv un-normalised, with a range 8 bits cannot
    hold: on the trained CartoonGAN students, quantizing those two convs alone takes the output to
    21 dB PSNR against fp32, all the other convs together cost 41 dB (docs in benchmarks/results).
    """
    nodes = load_onnx(model_path).graph.node  # type: ignore[attr-defined]
    convs = [n for n in nodes if n.op_type == "Conv"]
    upsampled = {o for n in nodes if n.op_type == "ConvTranspose" for o in n.output}
    keep = [c.name for c in convs if c.input[0] in upsampled]
    if keep_first_last and len(convs) > 2:
        keep = [convs[0].name, *keep, convs[-1].name]
    return keep


def quantize_model(src: str | os.PathLike, dst: str | os.PathLike, *, mode: str = "static",
                   calib: str | os.PathLike | None = None, method: str = "percentile",
                   calib_size: int = 256, calib_count: int = 16, keep_first_last: bool = True) -> Path:
    """Write the INT8 version of the ONNX model ``src`` to ``dst`` (atomically).

    ``calib``: the folder of photos static mode calibrates on; None: the bundled sample photos.
    """
    require("onnxruntime.quantization", extra="onnx", feature="INT8 quantization")
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    if mode not in MODES:
        raise InputError(f"mode {mode}: unknown (choose {', '.join(MODES)})", params=("mode",))
    if method not in CALIBRATION_METHODS:
        raise InputError(f"method {method}: unknown (choose {', '.join(CALIBRATION_METHODS)})", params=("method",))
    exclude = fp32_conv_names(src, keep_first_last)  # also checks src is a readable ONNX file
    dst = Path(dst)
    if mode == "static":
        reader = PhotoCalibrationReader(calib, calib_size, calib_count)
    with atomic_path(dst) as tmp, tempfile.TemporaryDirectory() as work:
        if mode == "dynamic":
            quantize_dynamic(str(src), str(tmp), op_types_to_quantize=["Conv"], per_channel=True,
                             weight_type=QuantType.QInt8, nodes_to_exclude=exclude)
        else:
            calib_method = {"percentile": CalibrationMethod.Percentile, "entropy": CalibrationMethod.Entropy,
                            "minmax": CalibrationMethod.MinMax}[method]
            # histogram methods: one photo per collection, so the whole intermediate tensors of every
            # photo are never alive at once (histograms merge across collections); min-max keeps only
            # reduced values, and its moving average would weight the first photo if strided
            strided = {} if method == "minmax" else {"CalibStridedMinMax": 1}
            src_abs, tmp_abs, cwd = str(Path(src).resolve()), str(tmp.resolve()), os.getcwd()
            os.chdir(work)  # the calibrator writes augmented-model files into the working folder
            try:
                with contextlib.redirect_stdout(io.StringIO()):  # the calibrator prints progress
                    quantize_static(src_abs, tmp_abs, reader,
                                    quant_format=QuantFormat.QDQ, op_types_to_quantize=["Conv"], per_channel=True,
                                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                                    nodes_to_exclude=exclude, calibrate_method=calib_method,
                                    extra_options={"WeightSymmetric": True, "ActivationSymmetric": False,
                                                   "CalibPercentile": 99.999, "CalibMovingAverage": True,
                                                   **strided})
            finally:
                os.chdir(cwd)
    return dst


@dataclass
class QualityReport:
    """A candidate model against its fp32 reference on held-out photos."""

    images: int
    size: int
    psnr_db: float          # of the candidate's output against fp32's, on 8-bit scale
    mean_abs_255: float     # mean |difference| in 0..255 units
    max_abs_255: float


@dataclass
class SpeedReport:
    """Median latency of one forward at size×size after warm-up."""

    size: int
    seconds: float
    repeats: int


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two arrays in [-1, 1] on the 8-bit scale (inf when identical)."""
    mse = float(np.mean(((a - b) * 127.5) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def compare_outputs(ref_session: Any, cand_session: Any, images: Sequence[str | os.PathLike],
                    size: int = 256) -> QualityReport:
    """PSNR and abs differences of two ONNX Runtime sessions' outputs on real photos."""
    refs, cands = [], []
    for path in images:
        x = {INPUT_NAME: photo_tensor(path, size, size).numpy()}
        refs.append(np.clip(ref_session.run(None, x)[0], -1, 1))
        cands.append(np.clip(cand_session.run(None, x)[0], -1, 1))
    ref, cand = np.stack(refs), np.stack(cands)
    diff = np.abs(ref - cand) * 127.5
    return QualityReport(len(refs), size, psnr(ref, cand), float(diff.mean()), float(diff.max()))


def time_session(session: Any, size: int, repeats: int = 3, warmup: int = 1) -> SpeedReport:
    """Median seconds of ``repeats`` forwards on a 1×3×size×size input after ``warmup`` runs."""
    x = {INPUT_NAME: np.random.default_rng(0).uniform(-1, 1, (1, 3, size, size)).astype(np.float32)}
    for _ in range(warmup):
        session.run(None, x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        session.run(None, x)
        times.append(time.perf_counter() - t0)
    return SpeedReport(size, float(np.median(times)), repeats)


@dataclass
class QuantizeResult:
    """What ``animegan quantize`` prints: sizes, speeds and quality of INT8 against fp32."""

    path: str
    mode: str
    fp32_bytes: int
    int8_bytes: int
    fp32_speed: SpeedReport
    int8_speed: SpeedReport
    quality: QualityReport

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_quantized(fp32: str | os.PathLike, int8: str | os.PathLike, mode: str,
                       eval_images: Sequence[str | os.PathLike], *, eval_size: int = 256, speed_size: int = 512,
                       repeats: int = 3, threads: int | None = None) -> QuantizeResult:
    """Measure ``int8`` against ``fp32``: file sizes, latency at speed_size², quality on eval photos."""
    ref = make_session(fp32, threads=threads)
    cand = make_session(int8, threads=threads)
    quality = compare_outputs(ref, cand, eval_images, eval_size)
    return QuantizeResult(str(int8), mode, Path(fp32).stat().st_size, Path(int8).stat().st_size,
                          time_session(ref, speed_size, repeats), time_session(cand, speed_size, repeats), quality)
