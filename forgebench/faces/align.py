"""Similarity alignment of 68 landmarks to the canonical template, and square crops.

Canonical frame: the template (see :mod:`forgebench.faces.template`) has its landmark
bounding box centred on the origin with its longer side equal to 1. A crop of side ``S``
pixels with crop margin ``m`` maps template coordinates ``t`` to crop pixels
``t * S / m + S / 2``: the face (landmark box) fills ``1 / m`` of the crop side, as in
FaceForensics++'s 1.3x enlarged face boxes.

DeepfakeBench's alignment (``faces.alignment: deepfakebench``,
:func:`deepfakebench_matrix`) follows its ``preprocessing/preprocess.py`` (8a4a7bf,
``get_keypts`` and ``img_align_crop``): five landmarks fitted by a similarity transform to
the ArcFace 112 x 112 five-point template (x shifted by 8 px), scaled to the crop and shrunk
by ``1 / margin`` about its centre.
"""

from __future__ import annotations

import cv2
import numpy as np

from forgebench.faces.align_util import similarity_matrix, transform_points  # noqa: F401  (public here)
from forgebench.faces.template import TEMPLATE_68

# iBUG 68-point index groups (0-based).
JAW = list(range(0, 17))
RIGHT_BROW = list(range(17, 22))
LEFT_BROW = list(range(22, 27))
NOSE_BRIDGE = list(range(27, 31))
NOSE_LOWER = list(range(31, 36))
RIGHT_EYE = list(range(36, 42))
LEFT_EYE = list(range(42, 48))
OUTER_LIPS = list(range(48, 60))
INNER_LIPS = list(range(60, 68))
# Outer eye corners: the inter-ocular distance used to normalise landmark distances.
OUTER_EYE_CORNERS = (36, 45)
#: DeepfakeBench's five alignment points (0-based iBUG indices): a point on each upper
#: eyelid, the nose tip, and the lip points next to the mouth corners (preprocess.py get_keypts).
DEEPFAKEBENCH_POINTS = (37, 44, 30, 49, 55)
#: The ArcFace 112 x 112 five-point template (eyes, nose tip, mouth corners; InsightFace),
#: pixels of a 112 px crop, before DeepfakeBench's +8 px x shift.
ARCFACE_112 = np.array(
    [[30.2946, 51.6963], [65.5318, 51.5014], [48.0252, 71.7366], [33.5493, 92.3655], [62.7299, 92.2041]]
)


def template_in_crop(crop_size: int, margin: float) -> np.ndarray:
    """The canonical 68 points in crop pixels, ``(68, 2)`` float64."""
    return TEMPLATE_68 * (crop_size / margin) + crop_size / 2.0


def alignment_matrix(landmarks: np.ndarray, crop_size: int, margin: float) -> np.ndarray:
    """Frame -> crop affine ``(2, 3)`` aligning ``landmarks`` ``(68, 2)`` (frame pixels) to the
    canonical template in a ``crop_size`` crop with the given crop margin."""
    return similarity_matrix(landmarks, template_in_crop(crop_size, margin))


def deepfakebench_template(crop_size: int, margin: float) -> np.ndarray:
    """DeepfakeBench's five target points in crop pixels, ``(5, 2)`` float64: the ArcFace
    template with x + 8, scaled from 112 px to ``crop_size`` and shrunk by ``1 / margin``
    about the crop centre (256 px, 1.3: (96.87, 120.43), (158.83, 120.09), (128.04, 155.67),
    (102.59, 191.94), (153.90, 191.66))."""
    points = (ARCFACE_112 + [8.0, 0.0]) * (crop_size / 112.0)
    return (points - crop_size / 2.0) / margin + crop_size / 2.0


def deepfakebench_matrix(landmarks: np.ndarray, crop_size: int, margin: float) -> np.ndarray:
    """Frame -> crop affine ``(2, 3)`` of DeepfakeBench's alignment: ``landmarks`` ``(68, 2)``
    (frame pixels) at :data:`DEEPFAKEBENCH_POINTS` fitted to :func:`deepfakebench_template`."""
    points = np.asarray(landmarks, dtype=np.float64)[list(DEEPFAKEBENCH_POINTS)]
    return similarity_matrix(points, deepfakebench_template(crop_size, margin))


def warp_crop(frame: np.ndarray, matrix: np.ndarray, crop_size: int) -> np.ndarray:
    """Apply a frame -> crop affine: ``(H, W, 3)`` uint8 -> ``(S, S, 3)`` uint8 (bilinear,
    border pixels replicated so crops near the frame edge have no black wedges)."""
    return cv2.warpAffine(
        frame, matrix, (crop_size, crop_size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def invert_matrix(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a ``(2, 3)`` affine (crop -> frame)."""
    return cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))


def inter_ocular_distance(landmarks: np.ndarray) -> float:
    """Distance between the outer eye corners (points 36 and 45) of ``(68, 2)`` landmarks,
    in the landmarks' units."""
    a, b = OUTER_EYE_CORNERS
    return float(np.linalg.norm(np.asarray(landmarks)[a] - np.asarray(landmarks)[b]))


def landmarks_array(values) -> np.ndarray:
    """A stored landmarks cell (136 floats ``x0 y0 x1 y1 ...``, e.g. a face-manifest
    ``landmarks`` value) as ``(68, 2)`` float64.

    Raises:
        ValueError: not 136 values.
    """
    return np.asarray(values, dtype=np.float64).reshape(68, 2)
