"""Identity metrics on face descriptors (dlib's 128-d ResNet descriptors by default) and
the Fréchet distance between two feature sets.

Identity similarity of a fake to its source and target identities follows the ID
metrics of face swapping papers (e.g. FaceShifter, SimSwap: cosine similarity to the
identity's embedding, and ID retrieval = share of fakes whose nearest identity is the
source). The Fréchet distance is the FID formula (Heusel et al. 2017) applied to any
features, computed with pytorch-fid's ``calculate_frechet_distance``.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import Mapping

import numpy as np
from pytorch_fid.fid_score import calculate_frechet_distance


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """Cosine similarity along the last axis, with NumPy broadcasting.

    Args:
        a: ``(D,)`` or ``(..., D)`` vectors.
        b: ``(D,)`` or ``(..., D)`` vectors broadcastable against ``a``.

    Returns:
        Similarity in [-1, 1] with the broadcast shape minus the last axis; a Python
        float when both inputs are single vectors.

    Raises:
        ValueError: last dimensions differ or a vector has zero norm.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"vectors differ in length: {a.shape[-1]} vs {b.shape[-1]}")
    na = np.linalg.norm(a, axis=-1)
    nb = np.linalg.norm(b, axis=-1)
    if np.any(na == 0) or np.any(nb == 0):
        raise ValueError("cosine similarity of a zero vector is undefined")
    sim = np.clip((a * b).sum(axis=-1) / (na * nb), -1.0, 1.0)
    return float(sim) if np.ndim(sim) == 0 else sim


def identity_means(descriptors_by_identity: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Mean descriptor of each identity.

    Args:
        descriptors_by_identity: ``{identity: (n_i, D) descriptors}``, n_i >= 1.

    Returns:
        ``{identity: (D,) float64 mean}`` (not re-normalised; cosine ignores the norm).

    Raises:
        ValueError: an identity has no descriptor, or dimensions differ.
    """
    out: dict[str, np.ndarray] = {}
    dims = set()
    for identity, desc in descriptors_by_identity.items():
        desc = np.asarray(desc, dtype=np.float64)
        if desc.ndim != 2 or len(desc) == 0:
            raise ValueError(f"identity {identity!r}: need (n, D) descriptors with n >= 1, got {desc.shape}")
        dims.add(desc.shape[1])
        out[identity] = desc.mean(axis=0)
    if len(dims) > 1:
        raise ValueError(f"descriptor dimensions differ between identities: {sorted(dims)}")
    return out


def nearest_identity(desc: np.ndarray, means: Mapping[str, np.ndarray]) -> list[str]:
    """For each descriptor row, the identity whose mean is most similar (cosine).

    Args:
        desc: ``(N, D)`` descriptors.
        means: ``{identity: (D,)}`` (see :func:`identity_means`), at least one.

    Returns:
        ``N`` identity names (ties: first in sorted name order).
    """
    if not means:
        raise ValueError("no identity means to compare with")
    names = sorted(means)
    sims = cosine_similarity(np.asarray(desc, dtype=np.float64)[:, None, :], np.stack([means[n] for n in names])[None])
    return [names[i] for i in np.argmax(np.atleast_2d(sims), axis=1)]


def id_retrieval(fake_desc: np.ndarray, source: str, means: Mapping[str, np.ndarray]) -> float:
    """ID retrieval: share of fake faces whose nearest identity mean (cosine, over all
    identities in ``means``) is ``source``.

    Args:
        fake_desc: ``(N, D)`` descriptors of fake faces, N >= 1.
        source: the identity the fakes should show.
        means: ``{identity: (D,)}`` mean descriptors, including ``source``.

    Returns:
        Share in [0, 1] (chance level = 1 / number of identities).

    Raises:
        ValueError: ``source`` not in ``means``, or no descriptors.
    """
    if source not in means:
        raise ValueError(f"source identity {source!r} has no mean descriptor (known: {sorted(means)})")
    fake_desc = np.asarray(fake_desc, dtype=np.float64)
    if fake_desc.ndim != 2 or len(fake_desc) == 0:
        raise ValueError(f"need (N, D) fake descriptors with N >= 1, got {fake_desc.shape}")
    return float(np.mean([n == source for n in nearest_identity(fake_desc, means)]))


def frechet_distance_features(real: np.ndarray, fake: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets:
    ``|mu_r - mu_f|^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2))`` (Heusel et al. 2017), with
    pytorch-fid's ``calculate_frechet_distance`` on the means and sample covariances.

    With fewer samples than dimensions the covariances are singular (pytorch-fid then
    adds 1e-6 to their diagonals) and the estimate is biased upwards: compare numbers
    only at equal sample counts.

    Args:
        real: ``(N, D)`` features, N >= 2.
        fake: ``(M, D)`` features, M >= 2.

    Returns:
        Distance >= 0 in squared feature units (0 for identical sets; tiny negative
        round-off is clipped to 0).

    Raises:
        ValueError: fewer than 2 samples, dimensions differ, or non-finite features.
    """
    real = np.asarray(real, dtype=np.float64)
    fake = np.asarray(fake, dtype=np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features must be (N, D) and (M, D), got {real.shape} and {fake.shape}")
    if len(real) < 2 or len(fake) < 2:
        raise ValueError(f"need >= 2 samples per set for a covariance, got {len(real)} and {len(fake)}")
    if not (np.isfinite(real).all() and np.isfinite(fake).all()):
        raise ValueError("features contain non-finite values")
    mu1, mu2 = real.mean(axis=0), fake.mean(axis=0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        # pytorch-fid prints its eps fallback and passes scipy's deprecated sqrtm(disp=).
        warnings.filterwarnings("ignore", message=".*disp.*", category=DeprecationWarning)
        # Singular covariances (fewer samples than dimensions) are expected; see above.
        warnings.filterwarnings("ignore", message=".*singular.*")
        value = float(calculate_frechet_distance(mu1, s1, mu2, s2))
    return max(value, 0.0)
