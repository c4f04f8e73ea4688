"""The server round trip on the shipped default style at each precision a user can pick (issue 12).

``animegan serve --precision auto|fp32|bf16`` with the bundled default model: upload a photo, get an
anime image of the same size back; bf16 and auto stay close to fp32 (auto is fp32 on CPUs without
fast bf16, bf16 on AVX512-BF16/AMX ones).
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from server_helpers import start_server, stop_server

from animegan.hub import zoo
from animegan.resources import samples_dir

DEFAULT = zoo.default_model_name()
PRECISIONS = ("fp32", "auto", "bf16")


@pytest.fixture(scope="module")
def photo_bytes() -> bytes:
    source = min(p for p in Path(samples_dir()).iterdir() if p.suffix == ".jpg")
    buffer = io.BytesIO()
    Image.open(source).convert("RGB").resize((96, 64)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, photo_bytes: bytes) -> dict[str, np.ndarray]:
    if zoo.shipped_zoo().status(zoo.get_entry(DEFAULT)) != "bundled":
        pytest.skip(f"the default style {DEFAULT} is not bundled in this checkout")
    folders = {p: tmp_path_factory.mktemp(f"prec-{p}") for p in PRECISIONS}

    def round_trip(precision: str) -> httpx.Response:
        srv = start_server(folders[precision], None, "--model", DEFAULT, "--precision", precision)
        try:
            return httpx.post(srv.url + "/api/v1/stylize", files={"image": ("p.png", photo_bytes)}, timeout=120)
        finally:
            stop_server(srv)

    with ThreadPoolExecutor(len(PRECISIONS)) as pool:  # the three servers start side by side
        responses = dict(zip(PRECISIONS, pool.map(round_trip, PRECISIONS)))
    out = {}
    for precision, response in responses.items():
        assert response.status_code == 200, (precision, response.text)
        assert response.headers["x-model"] == DEFAULT
        out[precision] = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"), dtype=np.float32)
    return out


@pytest.mark.parametrize("precision", PRECISIONS)
def test_round_trip_on_the_default_style(results: dict[str, np.ndarray], photo_bytes: bytes, precision: str) -> None:
    image = results[precision]
    src = np.asarray(Image.open(io.BytesIO(photo_bytes)), dtype=np.float32)
    assert image.shape == (64, 96, 3) and image.std() > 5.0
    assert np.abs(image - src).mean() > 3.0  # stylized, not the photo handed back
    diff = np.abs(image - results["fp32"]).mean()
    print(f"{precision}: mean |diff| to fp32 = {diff:.3f} levels")
    assert diff < 2.5, f"{precision} is {diff:.2f} levels from fp32"
