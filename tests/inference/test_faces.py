"""Face detection and alignment on a real photo (the astronaut sample), with dlib's real models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animegan.errors import InputError

pytest.importorskip("dlib")
F = pytest.importorskip("animegan.inference.faces")

ASTRONAUT = Path(__file__).resolve().parents[2] / "src" / "animegan" / "samples" / "astronaut.jpg"


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    if not ASTRONAUT.is_file():
        pytest.skip("src/animegan/samples/astronaut.jpg is not in this checkout")
    return np.array(Image.open(ASTRONAUT).convert("RGB"))


@pytest.fixture(scope="module")
def boxes(astronaut) -> list:
    return F.detect_faces(astronaut, min_score=0.5)


@pytest.fixture(scope="module")
def aligned(astronaut, boxes) -> Image.Image:
    box = boxes[0]
    return F.align_face(astronaut, F.face_landmarks(astronaut, box), size=256)


def test_detects_the_astronauts_face(boxes):
    assert len(boxes) == 1
    b = boxes[0]
    # the face spans about x 175..265, y 76..166 in the 512² sample
    assert abs(b.left - 175) < 15 and abs(b.top - 76) < 15 and abs(b.right - 266) < 15 and abs(b.bottom - 167) < 15
    assert b.score > 0.5


def test_landmarks_fall_on_the_face(astronaut, boxes):
    box = boxes[0]
    pts = F.face_landmarks(astronaut, box)
    assert pts.shape == (68, 2)
    inside = (pts[:, 0] >= box.left - 10) & (pts[:, 0] <= box.right + 10) & (pts[:, 1] >= box.top - 10)
    assert inside.all()
    assert pts[36:42, 0].mean() < pts[42:48, 0].mean()  # the image-left eye comes first
    assert F.face_landmarks(astronaut, box, points=5).shape == (5, 2)


def test_aligned_crop_has_level_centred_eyes(aligned):
    assert aligned.size == (256, 256)
    rgb = np.array(aligned)
    box = F.detect_faces(rgb)[0]  # the aligned face is found again
    pts = F.face_landmarks(rgb, box)
    left, right = pts[36:42].mean(0), pts[42:48].mean(0)
    assert abs(left[1] - right[1]) < 4  # level
    assert abs((left[0] + right[0]) / 2 - 128) < 6  # centred
    assert 50 < right[0] - left[0] < 80  # eye distance ≈ a quarter of the side
    assert 100 < left[1] < 140


def test_five_point_alignment_agrees_with_68(astronaut, boxes, aligned):
    box = boxes[0]
    five = np.array(F.align_face(astronaut, F.face_landmarks(astronaut, box, points=5), 256)).astype(float)
    assert np.abs(five - np.array(aligned).astype(float)).mean() < 20


def test_extract_faces_and_bad_inputs(astronaut):
    crops = F.extract_faces(astronaut, size=64, upsample=0, min_score=0.5)
    assert len(crops) == 1 and crops[0].size == (64, 64)
    assert F.detect_faces(np.full((64, 64, 3), 128, np.uint8)) == []
    with pytest.raises(InputError, match="H×W×3 uint8"):
        F.detect_faces(np.zeros((8, 8), np.uint8))
    with pytest.raises(InputError, match="68×2 or 5×2"):
        F.align_face(astronaut, np.zeros((3, 2)))
