"""Face-portrait mode: the square follows the detected face (face extra) or falls back to the centre."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animegan.inference import processing as proc

ASTRONAUT = Path(__file__).resolve().parents[2] / "src" / "animegan" / "samples" / "astronaut.jpg"


def _wide_canvas() -> proc.Planes:
    """The astronaut portrait on the left of a 3:1 grey canvas: the centre square misses the face."""
    face = Image.open(ASTRONAUT).convert("RGB").resize((256, 256))
    canvas = Image.new("RGB", (768, 256), (128, 128, 128))
    canvas.paste(face, (0, 0))
    return proc.split_image(canvas)


def test_face_square_is_centred_on_the_detected_face():
    pytest.importorskip("dlib")
    planes = _wide_canvas()
    left, top, side = proc.face_square(planes)
    # the astronaut's face sits around x≈85..150, y≈25..110 at this scale
    assert left + side <= 256, (left, top, side)
    assert side < 256
    assert left <= 85 and left + side >= 150 and top <= 40 and top + side >= 100


def test_face_crop_without_detection_is_the_centre_square():
    planes = _wide_canvas()
    out = proc.face_crop(planes, 64, detect=False)
    assert out.size == (64, 64)
    centre = proc.resize_planes(proc.Planes(planes.rgb[:, 256:512], None, planes.mode), (64, 64))
    np.testing.assert_allclose(out.rgb, centre.rgb, atol=1e-6)


def test_face_crop_with_no_face_falls_back_to_the_centre():
    pytest.importorskip("dlib")
    grey = proc.split_image(Image.new("RGB", (300, 100), (90, 90, 90)))
    assert proc.face_square(grey) == (100, 0, 100)
