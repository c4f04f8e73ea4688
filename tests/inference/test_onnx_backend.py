"""The ONNX Runtime backend behind the Stylizer: same pixels as PyTorch, explicit providers and threads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from animegan.errors import DeviceError, InputError
from animegan.inference.onnx_backend import OnnxBackend, make_session
from animegan.inference.onnx_graph import export_bytes
from animegan.inference.stylizer import Stylizer
from animegan.nn import build_generator


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_generator("animeganv2").eval()


def _image(width: int = 77, height: int = 61) -> Image.Image:
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([xx * 3 % 256, yy * 4 % 256, (xx + yy) % 256], -1).astype(np.uint8)
    return Image.fromarray(rgb)


def test_onnx_backend_gives_the_same_pixels_as_torch(model: torch.nn.Module) -> None:
    img = _image()
    via_torch = np.asarray(Stylizer(model, precision="fp32").stylize(img)).astype(int)
    stylizer = Stylizer(model, precision="fp32", backend="onnx")
    assert stylizer.backend.name == "onnx" and stylizer.backend.providers == ["CPUExecutionProvider"]
    via_onnx = np.asarray(stylizer.stylize(img)).astype(int)
    assert via_onnx.shape == via_torch.shape
    assert np.abs(via_onnx - via_torch).max() <= 1


def test_stylizer_runs_an_onnx_file_directly(model: torch.nn.Module, tmp_path: Path) -> None:
    path = tmp_path / "g.onnx"
    path.write_bytes(export_bytes(model, metadata={"arch": "animeganv2", "style": "test-style"}))
    stylizer = Stylizer(str(path), precision="fp32", backend="onnx")
    assert stylizer.info.style == "test-style"
    out = stylizer.stylize(_image(40, 32))
    ref = Stylizer(model, precision="fp32").stylize(_image(40, 32))
    assert np.abs(np.asarray(out).astype(int) - np.asarray(ref).astype(int)).max() <= 1


def test_session_uses_the_requested_thread_count(model: torch.nn.Module) -> None:
    backend = OnnxBackend(model, threads=1)
    assert backend.session.get_session_options().intra_op_num_threads == 1


@pytest.mark.parametrize("provider", ["cuda", "tensorrt"])
def test_gpu_provider_asked_for_and_absent_is_a_device_error(provider: str) -> None:
    full = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}[provider]
    if full in ort.get_available_providers():
        pytest.skip(f"{full} is present here")
    with pytest.raises(DeviceError, match=f"provider {provider} was asked for"):
        make_session(b"", providers=[provider])


def test_unknown_provider_and_missing_file_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match="unknown"):
        make_session(b"", providers=["fpga"])
    with pytest.raises(InputError, match="ONNX file not found"):
        OnnxBackend(tmp_path / "nope.onnx")
