"""Face detection, landmarks and alignment (dlib, offline), for face datasets and ``stylize --face``.

Needs the ``face`` extra: ``dlib-bin`` (dlib's HOG face detector and shape predictor) and
``face-recognition-models`` (the 68- and 5-point landmark model files, found on disk without
importing that package, which needs the removed ``pkg_resources``).

Alignment follows the common FFHQ recipe: an oriented square centred a little below the eyes,
its side set by the eye distance and the eye-to-mouth distance, its rotation levelling the eyes,
resampled to ``size``×``size`` (reflect padding where the square leaves the photo).
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputError, ModelError
from ..extras import require

_INSTALL = 'face detection needs dlib and its landmark models: pip install "animegan[face]"'
# dlib's 5-point model: eye corners (0, 1 and 2, 3) and the nose base (4); no mouth, so the mouth is
# placed on the eye→nose line at this multiple of the eye→nose distance (1.16 measured against 68 points on the astronaut sample)
_MOUTH_FROM_NOSE = 1.16


@dataclass(frozen=True)
class FaceBox:
    """A detected face in pixel coordinates (right/bottom exclusive) and the detector's score."""

    left: int
    top: int
    right: int
    bottom: int
    score: float = 0.0

    @property
    def area(self) -> int:
        return max(0, self.right - self.left) * max(0, self.bottom - self.top)


def _dlib():
    return require("dlib", extra="face", feature="face detection")


def landmark_model_path(points: int = 68) -> Path:
    """The ``shape_predictor_{68,5}_face_landmarks.dat`` file of ``face-recognition-models``."""
    if points not in (68, 5):
        raise InputError(f"landmark points must be 68 or 5, got {points}")
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(_INSTALL)
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / f"shape_predictor_{points}_face_landmarks.dat"
    if not path.is_file():
        raise ModelError(f"{path}: landmark model missing; reinstall face-recognition-models")
    return path


def check_available() -> None:
    """Raise ModelError (saying what to install) unless dlib and the landmark models are present."""
    _dlib()
    landmark_model_path(68)


@functools.lru_cache(maxsize=1)
def _detector():
    return _dlib().get_frontal_face_detector()


@functools.lru_cache(maxsize=2)
def _predictor(points: int):
    return _dlib().shape_predictor(str(landmark_model_path(points)))


def _as_rgb(image: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, Image.Image):
        return np.array(image.convert("RGB"))
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise InputError(f"face detection expects an RGB image (H×W×3 uint8), got {arr.shape} {arr.dtype}")
    return np.ascontiguousarray(arr)


def detect_faces(image: Image.Image | np.ndarray, upsample: int = 1, min_score: float = 0.0) -> list[FaceBox]:
    """Frontal faces (dlib HOG), largest first. ``upsample`` doubles the image that many times to
    find small faces; ``min_score`` drops weak detections (scores are roughly 0 to 3)."""
    rgb = _as_rgb(image)
    rects, scores, _ = _detector().run(rgb, upsample, min_score)
    h, w = rgb.shape[:2]
    boxes = [FaceBox(max(0, r.left()), max(0, r.top()), min(w, r.right() + 1), min(h, r.bottom() + 1), float(s))
             for r, s in zip(rects, scores)]
    return sorted(boxes, key=lambda b: b.area, reverse=True)


def face_landmarks(image: Image.Image | np.ndarray, box: FaceBox, points: int = 68) -> np.ndarray:
    """``points``×2 (x, y) landmark coordinates of the face in ``box`` (dlib's iBUG 68 or 5 layout)."""
    rgb = _as_rgb(image)
    rect = _dlib().rectangle(box.left, box.top, box.right - 1, box.bottom - 1)
    shape = _predictor(points)(rgb, rect)
    return np.array([(shape.part(i).x, shape.part(i).y) for i in range(shape.num_parts)], dtype=np.float64)


def _eyes_mouth(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(left-in-image eye centre, right-in-image eye centre, mouth centre) from 68 or 5 points."""
    if landmarks.shape == (68, 2):
        eye_a, eye_b = landmarks[36:42].mean(0), landmarks[42:48].mean(0)
        mouth = (landmarks[48] + landmarks[54]) / 2
    elif landmarks.shape == (5, 2):
        eye_b, eye_a = landmarks[0:2].mean(0), landmarks[2:4].mean(0)
        eye_avg = (eye_a + eye_b) / 2
        mouth = eye_avg + (landmarks[4] - eye_avg) * _MOUTH_FROM_NOSE
    else:
        raise InputError(f"landmarks must be 68×2 or 5×2, got {landmarks.shape}")
    if eye_a[0] > eye_b[0]:
        eye_a, eye_b = eye_b, eye_a
    return eye_a, eye_b, mouth


def align_face(image: Image.Image | np.ndarray, landmarks: np.ndarray, size: int = 256,
               zoom: float = 1.0) -> Image.Image:
    """A ``size``×``size`` crop with the eyes level and centred; ``zoom`` > 1 crops tighter."""
    rgb = _as_rgb(image)
    eye_a, eye_b, mouth = _eyes_mouth(np.asarray(landmarks, dtype=np.float64))
    eye_avg, eye_to_eye = (eye_a + eye_b) / 2, eye_b - eye_a
    eye_to_mouth = mouth - eye_avg
    # x: the square's half-width axis, eyes' direction corrected by the face's vertical axis
    x = eye_to_eye - np.array([-eye_to_mouth[1], eye_to_mouth[0]])
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8) / zoom
    y = np.array([-x[1], x[0]])
    c = eye_avg + eye_to_mouth * 0.1
    quad = np.stack([c - x - y, c - x + y, c + x + y, c + x - y])
    side = 2 * np.hypot(*x)
    img = Image.fromarray(rgb)
    shrink = int(side / size / 2)
    if shrink > 1:  # downscale first so the final resampling does not alias
        img = img.resize((max(1, round(img.width / shrink)), max(1, round(img.height / shrink))),
                         Image.Resampling.BOX)
        quad /= shrink
    pad = int(np.ceil(max(0.0, -quad.min(), quad[:, 0].max() - img.width, quad[:, 1].max() - img.height))) + 2
    if pad > 2:
        arr = np.asarray(img)
        # reflect needs pad < side; repeat edges beyond that
        mode = "reflect" if pad < min(arr.shape[:2]) else "edge"
        img = Image.fromarray(np.pad(arr, ((pad, pad), (pad, pad), (0, 0)), mode=mode))
        quad += pad
    return img.transform((size, size), Image.Transform.QUAD, tuple((quad + 0.5).flatten()),
                         Image.Resampling.BICUBIC)


def extract_faces(image: Image.Image | np.ndarray, size: int = 256, upsample: int = 1,
                  min_score: float = 0.0, max_faces: int | None = None) -> list[Image.Image]:
    """Detect, landmark and align every face (largest first) into ``size``² crops."""
    rgb = _as_rgb(image)
    boxes = detect_faces(rgb, upsample, min_score)[:max_faces]
    return [align_face(rgb, face_landmarks(rgb, b), size) for b in boxes]


__all__ = ["FaceBox", "align_face", "check_available", "detect_faces", "extract_faces", "face_landmarks", "landmark_model_path"]
