"""Small shape helpers shared by the template fitting and alignment code."""

from __future__ import annotations

import numpy as np

# Index of each iBUG 68 point's left-right mirror partner.
MIRROR_68 = np.array(
    list(range(16, -1, -1))  # jaw
    + list(range(26, 16, -1))  # brows
    + [27, 28, 29, 30]  # nose bridge
    + [35, 34, 33, 32, 31]  # lower nose
    + [45, 44, 43, 42, 47, 46]  # right eye <-> left eye
    + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65]  # inner lips
)


def normalise_shape(shape: np.ndarray) -> np.ndarray:
    """Translate and scale ``(68, 2)`` points so their bounding box is centred on the origin
    with its longer side 1."""
    shape = np.asarray(shape, dtype=np.float64)
    lo, hi = shape.min(axis=0), shape.max(axis=0)
    return (shape - (lo + hi) / 2.0) / float((hi - lo).max())


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """``src`` ``(N, 2)`` mapped by the least-squares similarity transform onto ``dst``."""
    from forgebench.faces.align import similarity_matrix, transform_points

    return transform_points(src, similarity_matrix(src, dst))
