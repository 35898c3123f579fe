"""Identity metrics on face descriptors (ArcFace embeddings of :mod:`.arcface`, or dlib's
128-d ResNet descriptors) and the Fréchet distance between two feature sets.

Identity similarity of a fake to its source and target identities follows the ID
metrics of face swapping papers (FaceShifter, Li et al. 2020; SimSwap, Chen et al. 2020:
cosine similarity of ArcFace embeddings to the identity's, and ID retrieval = share of
fakes whose nearest real face frame, among every frame of every identity, shows the
identity the fake should show). The Fréchet distance is the FID formula (Heusel et al. 2017) applied to any
features, computed with pytorch-fid's ``calculate_frechet_distance``.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from forgebench.metrics._declaration import MetricDecl, declare_quality

_ARCFACE = ("arcface_r100_glint360k",)  # forgebench.weights entry of forgebench.metrics.arcface
#: The per-video identity metrics of the quality tables computed here (cosine similarity
#: to an identity's mean descriptor), declared.
VIDEO_DECLARED: tuple[MetricDecl, ...] = (
    declare_quality(
        "id_sim_source",
        "ID sim. source (ArcFace)",
        ("video",),
        "cosine, [-1, 1]",
        True,
        "FaceShifter / SimSwap; insightface IResNet-100 Glint360K",
        "cosine similarity of the fake face's ArcFace embedding to the source identity's mean",
        needs="weights: arcface_r100_glint360k",
        weights=_ARCFACE,
    ),
    declare_quality(
        "id_sim_target",
        "ID sim. target (ArcFace)",
        ("video",),
        "cosine, [-1, 1]",
        None,
        "as above",
        "the same to the target identity's mean",
        needs="weights: arcface_r100_glint360k",
        weights=_ARCFACE,
    ),
    declare_quality(
        "id_sim_driving",
        "ID sim. driving (ArcFace)",
        ("video",),
        "cosine, [-1, 1]",
        False,
        "as above",
        "the same to the driving identity's mean (identity leaking from the motion)",
        needs="weights: arcface_r100_glint360k",
        weights=_ARCFACE,
    ),
    declare_quality(
        "id_sim_source_dlib",
        "ID sim. source (dlib)",
        ("video",),
        "cosine, [-1, 1]",
        True,
        "dlib 128-d ResNet descriptor",
        "as ID sim. source with dlib's descriptor (not comparable with published numbers)",
    ),
    declare_quality(
        "id_sim_target_dlib",
        "ID sim. target (dlib)",
        ("video",),
        "cosine, [-1, 1]",
        None,
        "dlib",
        "as ID sim. target with dlib",
    ),
    declare_quality(
        "id_sim_driving_dlib",
        "ID sim. driving (dlib)",
        ("video",),
        "cosine, [-1, 1]",
        False,
        "dlib",
        "as ID sim. driving with dlib",
    ),
)
#: The set-level metrics of the quality tables computed here (Fréchet distance of dlib
#: descriptors, ID retrieval), declared.
SET_DECLARED: tuple[MetricDecl, ...] = (
    declare_quality(
        "frechet_dlib",
        "Fréchet (dlib)",
        ("set",),
        "≥ 0",
        False,
        "FID's formula on dlib descriptors",
        "Fréchet distance of dlib descriptors, real vs fake",
    ),
    declare_quality(
        "id_retrieval",
        "ID retrieval (ArcFace)",
        ("set",),
        "share, [0, 1]",
        True,
        "FaceShifter's protocol",
        "share of fake frames whose nearest real frame shows the identity the fake should show",
        needs="weights: arcface_r100_glint360k",
        weights=_ARCFACE,
    ),
    declare_quality(
        "id_retrieval_dlib", "ID retrieval (dlib)", ("set",), "share, [0, 1]", True, "as above", "the same with dlib"
    ),
)


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


def nearest_reference(
    desc: np.ndarray, reference: np.ndarray, reference_ids: Sequence[str], chunk: int = 4096
) -> list[str]:
    """For each descriptor row, the identity of the most similar reference *frame*
    (cosine over every reference row, not over identity means): the retrieval step of
    FaceShifter's ID retrieval (Li et al. 2020: nearest face among all frames of the
    original videos).

    Args:
        desc: ``(N, D)`` descriptors or embeddings (fake faces).
        reference: ``(R, D)`` descriptors of the real face frames, R >= 1.
        reference_ids: ``R`` identity names, one per reference row.
        chunk: query rows per matrix product (bounds memory at ``chunk * R`` floats).

    Returns:
        ``N`` identity names (ties: the first reference row).

    Raises:
        ValueError: no reference rows, lengths or dimensions differ, or a zero vector.
    """
    desc = (
        np.asarray(desc, dtype=np.float64).reshape(len(desc), -1)
        if len(desc)
        else np.zeros((0, np.shape(reference)[-1]))
    )
    reference = np.asarray(reference, dtype=np.float64)
    if reference.ndim != 2 or len(reference) == 0:
        raise ValueError(f"need (R, D) reference descriptors with R >= 1, got {reference.shape}")
    if len(reference_ids) != len(reference):
        raise ValueError(f"{len(reference_ids)} identity names for {len(reference)} reference rows")
    if desc.shape[1] != reference.shape[1]:
        raise ValueError(f"descriptors differ in length: {desc.shape[1]} vs {reference.shape[1]}")
    norms = np.linalg.norm(reference, axis=1)
    q_norms = np.linalg.norm(desc, axis=1)
    if (norms == 0).any() or (q_norms == 0).any():
        raise ValueError("cosine similarity of a zero vector is undefined")
    ref_unit = reference / norms[:, None]
    ids = np.asarray(reference_ids, dtype=object)
    out: list[str] = []
    for a in range(0, len(desc), chunk):
        q = desc[a : a + chunk] / q_norms[a : a + chunk, None]
        out += [str(x) for x in ids[np.argmax(q @ ref_unit.T, axis=1)]]
    return out


def id_retrieval(fake_desc: np.ndarray, expected: str, reference: np.ndarray, reference_ids: Sequence[str]) -> float:
    """ID retrieval (FaceShifter's protocol): share of fake faces whose nearest real face
    frame (cosine, over every frame of every identity in ``reference``) shows
    ``expected``, the identity the fake should show (a swap's source; a reenactment's
    target).

    Args:
        fake_desc: ``(N, D)`` descriptors of fake faces, N >= 1.
        expected: the identity the fakes should show.
        reference, reference_ids: ``(R, D)`` real face descriptors and their identities.

    Returns:
        Share in [0, 1] (higher = identity kept; chance = that identity's share of the
        reference frames).

    Raises:
        ValueError: ``expected`` has no reference frame, or no fake descriptor.
    """
    if expected not in set(reference_ids):
        raise ValueError(f"identity {expected!r} has no reference frame (known: {sorted(set(reference_ids))})")
    fake_desc = np.asarray(fake_desc, dtype=np.float64)
    if fake_desc.ndim != 2 or len(fake_desc) == 0:
        raise ValueError(f"need (N, D) fake descriptors with N >= 1, got {fake_desc.shape}")
    return float(np.mean([n == expected for n in nearest_reference(fake_desc, reference, reference_ids)]))


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
    # pytorch-fid's module imports torch and torchvision (seconds): imported here, so this
    # module's declarations are read without them (the report stage, the docs)
    from pytorch_fid.fid_score import calculate_frechet_distance

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
