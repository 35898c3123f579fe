"""Small shape helpers shared by the template fitting and alignment code: the similarity
fit and point transform that :mod:`forgebench.faces.align` builds its crops on."""

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


def similarity_matrix(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation; Umeyama
    1991, through scikit-image) mapping ``src`` points onto ``dst`` points.

    Args:
        src, dst: ``(N, 2)`` point sets, same order, N >= 2.

    Returns:
        ``(2, 3)`` float64 affine matrix for :func:`cv2.warpAffine`.

    Raises:
        ValueError: the estimate is degenerate (e.g. all points equal).
    """
    # imported here, not at the top: scikit-image's transforms import scipy.spatial, 0.3 s on a
    # small CPU that a stage's main process, which lists and collects but aligns no face, would
    # pay before its first unit; worker processes import it beforehand (forgebench.stages.WORKER_MODULES)
    from skimage.transform import SimilarityTransform

    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if hasattr(SimilarityTransform, "from_estimate"):
        tform = SimilarityTransform.from_estimate(src, dst)
        if not tform:
            raise ValueError("degenerate landmarks: similarity transform cannot be estimated")
    else:  # scikit-image < 0.26
        tform = SimilarityTransform()
        if not tform.estimate(src, dst):
            raise ValueError("degenerate landmarks: similarity transform cannot be estimated")
    matrix = np.asarray(tform.params, dtype=np.float64)[:2]
    if not np.all(np.isfinite(matrix)):
        raise ValueError("degenerate landmarks: similarity transform is not finite")
    return matrix


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a ``(2, 3)`` affine to ``(N, 2)`` points; returns ``(N, 2)`` float64."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """``src`` ``(N, 2)`` mapped by the least-squares similarity transform onto ``dst``."""
    return transform_points(src, similarity_matrix(src, dst))
