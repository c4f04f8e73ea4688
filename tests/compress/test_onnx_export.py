"""ONNX export: names, dynamic sizes, parity with PyTorch on real photos, refusal when it fails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from animegan.compress.onnx_export import export_onnx
from animegan.errors import InputError, ModelError
from animegan.inference.onnx_backend import make_session
from animegan.inference.onnx_graph import INPUT_NAME, OPSET, OUTPUT_NAME, export_bytes, load_onnx
from animegan.io.discovery import list_images
from animegan.nn import build_generator


def test_graph_has_named_io_with_dynamic_batch_height_width(onnx_file: Path) -> None:
    proto = onnx.load(str(onnx_file))
    assert [i.name for i in proto.graph.input] == [INPUT_NAME]
    assert [o.name for o in proto.graph.output] == [OUTPUT_NAME]
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]
    assert any(op.domain in ("", "ai.onnx") and op.version == OPSET for op in proto.opset_import)


@pytest.mark.parametrize("shape", [(1, 3, 64, 64), (2, 3, 37, 53), (1, 3, 65, 49)])
def test_export_matches_pytorch_at_any_size(generator: torch.nn.Module, onnx_file: Path, shape: tuple) -> None:
    session = make_session(onnx_file, threads=2)
    x = torch.rand(shape) * 2 - 1
    with torch.inference_mode():
        ref = generator(x).numpy()
    out = session.run(None, {INPUT_NAME: x.numpy()})[0]
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() < 1e-4


@pytest.mark.parametrize("arch", ["animeganv2_slim", "cartoongan", "resnet_sam"])
def test_other_generators_export_with_dynamic_sizes(arch: str) -> None:
    torch.manual_seed(0)
    model = build_generator(arch).eval()
    session = make_session(export_bytes(model), threads=2)
    x = torch.rand(1, 3, 36, 44) * 2 - 1
    with torch.inference_mode():
        ref = model(x).numpy()
    out = session.run(None, {INPUT_NAME: x.numpy()})[0]
    assert out.shape == ref.shape and np.abs(out - ref).max() < 1e-4


def test_parity_check_on_real_photos_at_odd_sizes_writes_the_file(generator: torch.nn.Module, shared_data: Path,
                                                                  tmp_path: Path) -> None:
    images = list_images(shared_data / "eval" / "animegan_test", limit=2)
    result = export_onnx(generator, tmp_path / "g.onnx", images=images, sizes=[(49, 65), (64, 64)])
    assert result.path.is_file() and result.size_bytes == result.path.stat().st_size
    assert len(result.parity.rows) == 4
    assert result.parity.ok and result.parity.max_abs < 1e-4 and result.parity.mean_abs < 1e-5
    assert onnx.load(str(result.path)).metadata_props[0].key == "producer"


def test_failed_parity_check_writes_nothing(generator: torch.nn.Module, photos: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "g.onnx"
    target.parent.mkdir()
    with pytest.raises(ModelError, match="not written: ONNX output differs"):
        export_onnx(generator, target, images=list_images(photos, limit=1), sizes=[(32, 32)], tolerance=1e-12)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no temporary file left behind


def test_missing_and_non_onnx_files_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="ONNX file not found"):
        load_onnx(tmp_path / "nope.onnx")
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a model\n")
    with pytest.raises(InputError, match="not an ONNX model"):
        load_onnx(text)


def test_folder_without_images_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no photos here")
    with pytest.raises(InputError, match="no images found"):
        list_images(tmp_path)
