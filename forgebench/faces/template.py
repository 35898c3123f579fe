"""The canonical 68-point face template that crops are aligned to.

``TEMPLATE_68`` ``(68, 2)`` float64, iBUG 300-W point order, x to the right and y down,
landmark bounding box centred on the origin with its longer side 1 (unitless).

How it was made (reproducible with ``python -m forgebench.faces.template_cli VIDEO...``):
dlib 68-point landmarks of 32 evenly sampled frames of each of the six sample clips
(``../shared/data/clips``, see SOURCES.md there) were brought to a common frame by
generalised Procrustes analysis (:func:`fit_template`), averaged, made left-right
symmetric by averaging with the mirrored shape, and normalised as above. Only its
geometry matters for alignment: a similarity transform has 4 degrees of freedom, so
the template fixes where the face sits in the crop, its size and its roll.
"""

from __future__ import annotations

import numpy as np

from forgebench.faces.align_util import MIRROR_68, normalise_shape, similarity_fit

# fmt: off
TEMPLATE_68 = np.array([
    [-0.500000, -0.332012],
    [-0.492314, -0.194284],
    [-0.472136, -0.058379],
    [-0.444524,  0.074193],
    [-0.398012,  0.198397],
    [-0.323963,  0.309246],
    [-0.231808,  0.402330],
    [-0.124789,  0.474906],
    [ 0.000000,  0.496454],
    [ 0.124789,  0.474906],
    [ 0.231808,  0.402330],
    [ 0.323963,  0.309246],
    [ 0.398012,  0.198397],
    [ 0.444524,  0.074193],
    [ 0.472136, -0.058379],
    [ 0.492314, -0.194284],
    [ 0.500000, -0.332012],
    [-0.408997, -0.418190],
    [-0.347420, -0.478969],
    [-0.258318, -0.496454],
    [-0.166781, -0.484244],
    [-0.081668, -0.448850],
    [ 0.081668, -0.448850],
    [ 0.166781, -0.484244],
    [ 0.258318, -0.496454],
    [ 0.347420, -0.478969],
    [ 0.408997, -0.418190],
    [ 0.000000, -0.342811],
    [ 0.000000, -0.248889],
    [ 0.000000, -0.157261],
    [ 0.000000, -0.062593],
    [-0.103497, -0.005286],
    [-0.053387,  0.012734],
    [ 0.000000,  0.028212],
    [ 0.053387,  0.012734],
    [ 0.103497, -0.005286],
    [-0.303412, -0.329383],
    [-0.248847, -0.353542],
    [-0.187550, -0.352183],
    [-0.132079, -0.315997],
    [-0.191540, -0.306752],
    [-0.252723, -0.307609],
    [ 0.132079, -0.315997],
    [ 0.187550, -0.352183],
    [ 0.248847, -0.353542],
    [ 0.303412, -0.329383],
    [ 0.252723, -0.307609],
    [ 0.191540, -0.306752],
    [-0.187699,  0.165605],
    [-0.119945,  0.131326],
    [-0.050837,  0.113078],
    [ 0.000000,  0.125963],
    [ 0.050837,  0.113078],
    [ 0.119945,  0.131326],
    [ 0.187699,  0.165605],
    [ 0.123058,  0.235325],
    [ 0.055363,  0.267978],
    [ 0.000000,  0.274544],
    [-0.055363,  0.267978],
    [-0.123058,  0.235325],
    [-0.158919,  0.168757],
    [-0.051359,  0.156892],
    [ 0.000000,  0.162658],
    [ 0.051359,  0.156892],
    [ 0.158919,  0.168757],
    [ 0.052404,  0.200673],
    [ 0.000000,  0.208035],
    [-0.052404,  0.200673],
], dtype=np.float64)
# fmt: on


def fit_template(shapes: np.ndarray, iterations: int = 10) -> np.ndarray:
    """Generalised Procrustes mean of landmark sets, mirrored to be symmetric.

    Args:
        shapes: ``(N, 68, 2)`` landmarks in any pixel frames, N >= 1.
        iterations: Procrustes iterations.

    Returns:
        ``(68, 2)`` float64 template, normalised like :data:`TEMPLATE_68`.
    """
    shapes = np.asarray(shapes, dtype=np.float64)
    if shapes.ndim != 3 or shapes.shape[1:] != (68, 2) or len(shapes) == 0:
        raise ValueError(f"shapes must be (N, 68, 2), got {shapes.shape}")
    mean = normalise_shape(shapes[0])
    for _ in range(iterations):
        aligned = np.stack([similarity_fit(s, mean) for s in shapes])
        mean = normalise_shape(aligned.mean(axis=0))
    mirrored = mean[MIRROR_68] * np.array([-1.0, 1.0])
    return normalise_shape((mean + mirrored) / 2.0)
