"""Landmark sketches and landmark retargeting for landmark-driven reenactment.

A sketch is the picture a pix2pix reenactment model translates into a face: the 68 iBUG
landmarks drawn as polylines on black, in the aligned crop's coordinates (the face-stage
alignment of :mod:`forgebench.faces.align`), one colour per facial part so the network
can tell the parts apart where lines cross.

Retargeting follows the mean-shape offset method used by landmark-driven reenactment
(e.g. the Face2Face/"deep video portraits" family's expression transfer, reduced to 2-D
landmarks): in the canonical aligned frame, where the similarity alignment has already
removed each face's position, in-plane rotation and scale, the driving face's per-frame
deviation from *its own* mean shape (its expression and out-of-plane pose change) is
added to the *target's* mean shape. The driving person's face shape (identity) is thereby
replaced by the target's, while the motion is kept.
"""

from __future__ import annotations

import cv2
import numpy as np

from forgebench.faces.align import (
    INNER_LIPS,
    JAW,
    LEFT_BROW,
    LEFT_EYE,
    NOSE_BRIDGE,
    NOSE_LOWER,
    OUTER_LIPS,
    RIGHT_BROW,
    RIGHT_EYE,
)

# (points, closed, RGB colour): jaw, both brows, nose bridge, lower nose, both eyes
# closed, outer and inner lips closed. The nose bridge joins the lower nose at point 30.
SKETCH_PARTS: tuple[tuple[list[int], bool, tuple[int, int, int]], ...] = (
    (JAW, False, (255, 255, 255)),
    (RIGHT_BROW, False, (255, 128, 0)),
    (LEFT_BROW, False, (255, 128, 0)),
    (NOSE_BRIDGE + [33], False, (0, 255, 255)),
    (NOSE_LOWER, False, (0, 255, 255)),
    (RIGHT_EYE, True, (0, 255, 0)),
    (LEFT_EYE, True, (0, 255, 0)),
    (OUTER_LIPS, True, (255, 0, 255)),
    (INNER_LIPS, True, (255, 0, 0)),
)
_SHIFT = 4  # fixed-point bits: sub-pixel accurate polylines


def _check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (68, 2) or not np.isfinite(points).all():
        raise ValueError(f"landmarks must be finite (68, 2) points, got shape {points.shape}")
    return points


def line_width(size: int) -> int:
    """Sketch line width in pixels for a ``size``-pixel image: 2 px at 256, scaled
    linearly with the side and at least 1."""
    return max(1, int(round(size / 128.0)))


def render_sketch(landmarks: np.ndarray, size: int) -> np.ndarray:
    """Draw 68 landmarks as anti-aliased polylines on black.

    Args:
        landmarks: ``(68, 2)`` iBUG points ``(x, y)`` in pixels of the ``size`` x ``size``
            image (aligned-crop coordinates scaled to ``size``).
        size: image side in pixels.

    Returns:
        ``(size, size, 3)`` uint8 RGB sketch (parts coloured as :data:`SKETCH_PARTS`,
        lines :func:`line_width` wide).

    Raises:
        ValueError: not ``(68, 2)`` finite points, or ``size < 8``.
    """
    points = _check_landmarks(landmarks)
    if size < 8:
        raise ValueError(f"sketch size must be >= 8 pixels, got {size}")
    image = np.zeros((size, size, 3), np.uint8)
    fixed = np.round(points * (1 << _SHIFT)).astype(np.int32)
    width = line_width(size)
    for indices, closed, colour in SKETCH_PARTS:
        cv2.polylines(image, [fixed[indices].reshape(-1, 1, 2)], closed, colour, width, cv2.LINE_AA, _SHIFT)
    return image


def retarget_landmarks(driving: np.ndarray, driving_mean: np.ndarray, target_mean: np.ndarray) -> np.ndarray:
    """Mean-shape offset retargeting (see the module docstring):
    ``target_mean + (driving - driving_mean)``.

    Args:
        driving: ``(68, 2)`` or ``(T, 68, 2)`` driving landmarks in aligned-crop pixels.
        driving_mean: ``(68, 2)`` mean of the driving face's aligned landmarks over its video.
        target_mean: ``(68, 2)`` mean of the target face's aligned landmarks (training crops),
            same crop size and margin.

    Returns:
        Landmarks of ``driving``'s shape (float64), in the same aligned-crop pixels.

    Raises:
        ValueError: wrong shapes or non-finite values.
    """
    driving = np.asarray(driving, dtype=np.float64)
    if driving.shape[-2:] != (68, 2) or driving.ndim not in (2, 3) or not np.isfinite(driving).all():
        raise ValueError(f"driving landmarks must be finite (68, 2) or (T, 68, 2), got {driving.shape}")
    return _check_landmarks(target_mean) + (driving - _check_landmarks(driving_mean))
