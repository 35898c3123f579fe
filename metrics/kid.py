"""Kernel Inception Distance (Bińkowski et al., "Demystifying MMD GANs", ICLR 2018).

KID is the squared maximum mean discrepancy between the Inception features of the real
and the fake images under the cubic polynomial kernel ``k(x, y) = (x . y / d + 1) ** 3``
(``d`` the feature dimension), with the unbiased estimator, averaged over random subsets
of both sets. Unlike FID it is unbiased, so values from sets of different sizes can be
compared, and it may come out slightly negative when the sets are alike.

It runs on the same 2048-d pytorch-fid Inception features as FID
(:func:`forgebench.metrics.fid.inception_features`). The defaults follow torch-fidelity
(100 subsets of 1,000 images, subsets drawn with ``numpy.random.RandomState(seed)``,
first from the real then from the fake features in each round); with those settings and
seed the value equals torch-fidelity's ``kid_features_to_metric`` on the same features
(``tests/test_quality_metrics.py``). Written here in NumPy rather than called from
torch-fidelity because only these few lines of it are needed, and torch-fidelity would
add its own network and weight downloads to the dependencies. Sets smaller than
``subset_size`` use subsets of the smaller set's size (torch-fidelity refuses them); the
result records the size used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forgebench.metrics._declaration import MetricDecl, declare_quality

__all__ = ["DECLARED", "KidResult", "kid_from_features", "polynomial_mmd2"]

#: The metric of the quality tables computed here (on FID's Inception features, hence its
#: weights), declared.
DECLARED: tuple[MetricDecl, ...] = (
    declare_quality(
        "kid",
        "KID",
        ("set",),
        "≈ 0 for alike sets",
        False,
        "Bińkowski et al. 2018",
        "unbiased squared MMD of the same features, cubic polynomial kernel",
        needs="weights: inception_fid",
        weights=("pt_inception",),
    ),
)


@dataclass(frozen=True)
class KidResult:
    """KID over subsets.

    Attributes:
        mean: mean unbiased MMD² over the subsets (unit-free; lower = closer; about 0 for
            the same distribution).
        std: standard deviation over the subsets.
        subsets, subset_size: the subsets drawn and their size.
    """

    mean: float
    std: float
    subsets: int
    subset_size: int


def polynomial_mmd2(
    x: np.ndarray, y: np.ndarray, degree: int = 3, coef0: float = 1.0, gamma: float | None = None
) -> float:
    """Unbiased MMD² between feature sets ``x`` ``(m, d)`` and ``y`` ``(n, d)`` (m, n >= 2)
    under ``k(a, b) = (gamma * a . b + coef0) ** degree`` (``gamma`` default ``1 / d``):
    the off-diagonal means of ``K_xx`` and ``K_yy`` minus twice the mean of ``K_xy``.

    Raises:
        ValueError: not 2-d, different feature dimensions, or fewer than 2 rows.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"features must be (m, d) and (n, d), got {x.shape} and {y.shape}")
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError(f"the unbiased MMD needs >= 2 samples per set, got {m} and {n}")
    g = 1.0 / x.shape[1] if gamma is None else float(gamma)
    k_xx = (g * x @ x.T + coef0) ** degree
    k_yy = (g * y @ y.T + coef0) ** degree
    k_xy = (g * x @ y.T + coef0) ** degree
    xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(xx + yy - 2.0 * k_xy.mean())


def kid_from_features(
    real: np.ndarray, fake: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 2020
) -> KidResult:
    """KID between Inception features ``real`` ``(N, D)`` and ``fake`` ``(M, D)``.

    Each of ``subsets`` rounds draws ``min(subset_size, N, M)`` rows of each set without
    replacement (``numpy.random.RandomState(seed)``, real first) and takes
    :func:`polynomial_mmd2`; ``seed`` 2020 is torch-fidelity's default.

    Raises:
        ValueError: fewer than 2 rows in a set, ``subsets`` or ``subset_size`` < 1 (< 2
            for the size), or features of different dimensions.
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if subsets < 1 or subset_size < 2:
        raise ValueError(f"KID needs subsets >= 1 and subset_size >= 2, got {subsets} and {subset_size}")
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features must be (N, D) and (M, D), got {real.shape} and {fake.shape}")
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError(f"KID needs >= 2 feature rows per set, got {len(real)} real and {len(fake)} fake")
    rng = np.random.RandomState(seed)
    values = []
    for _ in range(subsets):
        a = real[rng.choice(len(real), size, replace=False)]
        b = fake[rng.choice(len(fake), size, replace=False)]
        values.append(polynomial_mmd2(a, b))
    return KidResult(float(np.mean(values)), float(np.std(values)), subsets, size)
