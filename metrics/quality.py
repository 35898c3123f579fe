"""Pixel and geometry quality metrics of a fake face against the real face it replaced.

All functions are pure: aligned crop pairs in, one number out. The score stage
(:mod:`forgebench.stages.score`) aligns a fake frame and the real frame it replaced with
the same frame -> crop transform, masks the face with the convex hull of the target
landmarks, and calls these. ``ssim`` and ``psnr`` are registered frame-pair metrics
(:func:`forgebench.metrics.register_metric`), beside which ``metrics.extra`` names others.
:func:`landmark_distance` (300-W NME) and :func:`average_keypoint_distance` (FOMM's AKD)
compare landmarks found with one landmark model on both sides. The metrics of the quality
tables computed here are declared here (:data:`PAIR_DECLARED`, :data:`LANDMARK_DECLARED`).
"""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field, field_validator
from skimage.metrics import structural_similarity

from forgebench.config import Strict
from forgebench.faces.align import inter_ocular_distance
from forgebench.metrics._declaration import MetricDecl, declare_quality
from forgebench.metrics._registry import PAIR_METRICS, list_metrics, register_metric

#: The frame-pair metrics of every run, declared (columns of the quality tables).
PAIR_DECLARED: tuple[MetricDecl, ...] = (
    declare_quality(
        "ssim",
        "SSIM",
        ("video",),
        "[0, 1]",
        True,
        "Wang et al. 2004, scikit-image",
        "structural similarity to the replaced target frame inside the face mask",
        needs="pixels",
    ),
    declare_quality(
        "psnr",
        "PSNR (dB)",
        ("video",),
        "dB",
        True,
        "peak signal-to-noise ratio",
        "PSNR to the replaced target frame inside the face mask",
        needs="pixels",
    ),
)
#: The landmark metrics, declared.
LANDMARK_DECLARED: tuple[MetricDecl, ...] = (
    declare_quality(
        "landmark_distance",
        "landmark dist.",
        ("video",),
        "÷ inter-ocular distance",
        False,
        "300-W NME",
        "mean 68-landmark Euclidean error to what the fake should match (swap: the target frame; reenactment: "
        "the driving landmarks it was drawn to) / inter-ocular distance",
    ),
    declare_quality(
        "akd",
        "AKD (px)",
        ("video",),
        "pixels at faces.crop_size",
        False,
        "Siarohin et al. 2019, pose-evaluation cmp_kp.py",
        "mean absolute coordinate difference of the 68 landmarks, one landmark model on both sides",
    ),
    declare_quality(
        "akd_iod",
        "AKD / IOD",
        ("video",),
        "÷ inter-ocular distance",
        False,
        "as AKD",
        "AKD normalised by the inter-ocular distance",
    ),
)
#: Frame-pair metrics every run computes (columns of the quality tables).
BUILTIN_PAIR_METRICS = tuple(d.name for d in PAIR_DECLARED)


class QualitySettings(Strict):
    """The ``metrics`` section of the config (quality metrics of the fakes).

    Attributes:
        frames_per_video: frames scored per fake video, sampled evenly among the frames
            whose target face was replaced.
        fid: compute FID and KID (pytorch-fid Inception weights must be in the cache).
        lpips: compute LPIPS (torchvision AlexNet weights must be in the cache).
        kid_subsets, kid_subset_size: KID's random subsets and their size (capped at the
            smaller set; torch-fidelity's defaults 100 and 1,000), on FID's features.
        batch_size: images per network forward pass (Inception, LPIPS).
        extra: further registered frame-pair metrics (:func:`forgebench.metrics.list_metrics`,
            e.g. from an installed package) computed on every scored frame, one column each.
    """

    frames_per_video: int = Field(default=16, ge=1)
    fid: bool = True
    lpips: bool = True
    kid_subsets: int = Field(default=100, ge=1)
    kid_subset_size: int = Field(default=1000, ge=2)
    batch_size: int = Field(default=16, ge=1)
    extra: list[str] = Field(default_factory=list)

    @field_validator("extra")
    @classmethod
    def _registered(cls, v: list[str]) -> list[str]:
        unknown = [m for m in v if m not in PAIR_METRICS]
        if unknown:
            raise ValueError(f"unknown frame-pair metric(s) {unknown}; registered: {list_metrics()}")
        clash = [m for m in v if m in BUILTIN_PAIR_METRICS]
        if clash:
            raise ValueError(f"{clash} are always computed; list only further metrics")
        return list(dict.fromkeys(v))


def _check_pair(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b, mask = np.asarray(a), np.asarray(b), np.asarray(mask)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got {a.shape} {a.dtype}")
    if b.shape != a.shape or b.dtype != np.uint8:
        raise ValueError(f"images differ: {a.shape} {a.dtype} vs {b.shape} {b.dtype}")
    if mask.shape != a.shape[:2]:
        raise ValueError(f"mask must be (H, W) = {a.shape[:2]}, got {mask.shape}")
    weights = mask.astype(np.float64)
    if weights.min() < 0 or weights.max() > 1:
        raise ValueError("mask values must be in [0, 1] (bool or float weights)")
    if weights.sum() <= 0:
        raise ValueError("mask is empty: nothing to compare")
    return a, b, weights


#: side of scikit-image's Gaussian SSIM window at sigma 1.5 (``2 * int(3.5 * 1.5 + 0.5) + 1``).
_SSIM_WINDOW = 11


@register_metric(
    "ssim", units="unit-free, [-1, 1]", reference="Wang et al. 2004 (scikit-image), averaged inside the face mask"
)
def masked_ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Structural similarity of ``a`` and ``b`` averaged inside ``mask``.

    The SSIM map is scikit-image's ``structural_similarity(full=True)`` with the settings
    of Wang et al. 2004 (Gaussian window, sigma 1.5, so an 11-px window; population
    covariance, ``data_range=255``), computed per colour channel and averaged over
    channels; the result is the mask-weighted mean of the map without its 5-px border,
    which scikit-image also leaves out of its mean (the window there overlaps the padding).
    With a mask of ones the value therefore equals scikit-image's ``structural_similarity``
    on the same images (``tests/test_quality_metrics.py``); with the face mask it is that
    mean restricted to the face.

    Args:
        a, b: ``(H, W, 3)`` uint8 images (aligned crops), H, W >= 11.
        mask: ``(H, W)`` bool, or float weights in [0, 1].

    Returns:
        SSIM in [-1, 1] (1 = identical inside the mask; in practice [0, 1]), unit-free.

    Raises:
        ValueError: wrong shapes or dtypes, images below 11 px, an empty mask, or a mask
            only on the border.
    """
    a, b, weights = _check_pair(a, b, mask)
    _, ssim_map = structural_similarity(
        a,
        b,
        channel_axis=2,
        data_range=255,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        full=True,
    )
    ssim_map = ssim_map.mean(axis=2)
    pad = (_SSIM_WINDOW - 1) // 2
    inner = weights[pad:-pad, pad:-pad]
    if inner.sum() <= 0:
        raise ValueError(f"mask lies only in the {pad}-px border that SSIM leaves out")
    return float((ssim_map[pad:-pad, pad:-pad] * inner).sum() / inner.sum())


@register_metric("psnr", units="dB", reference="10 log10(255^2 / MSE) inside the face mask")
def masked_psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Peak signal-to-noise ratio of ``b`` against ``a`` inside ``mask``.

    ``PSNR = 10 log10(255^2 / MSE)`` with the MSE averaged over the three channels of the
    (weighted) mask pixels.

    Args:
        a, b: ``(H, W, 3)`` uint8 images.
        mask: ``(H, W)`` bool, or float weights in [0, 1].

    Returns:
        PSNR in dB (higher = closer); ``inf`` when the masked pixels are identical.

    Raises:
        ValueError: wrong shapes or dtypes, or an empty mask.
    """
    a, b, weights = _check_pair(a, b, mask)
    err = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean(axis=2)
    mse = float((err * weights).sum() / weights.sum())
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(255.0**2 / mse))


def landmark_distance(pred: np.ndarray, ref: np.ndarray) -> float:
    """Mean point-to-point (Euclidean) distance of 68 landmarks, normalised by the
    inter-ocular distance (outer eye corners 36-45) of ``ref``, as in the 300-W benchmark's
    NME (Sagonas et al. 2013). Which reference the score stage passes depends on the
    generator (:mod:`forgebench.stages.score`): a face swap's target landmarks (a swap
    keeps the target's expression), a reenactment's driving landmarks it was drawn to.

    Args:
        pred: ``(68, 2)`` landmarks (e.g. detected on the fake frame).
        ref: ``(68, 2)`` reference landmarks (the target face), same units as ``pred``.

    Returns:
        Unit-free distance >= 0 (0 = identical; invariant to scaling both sets).

    Raises:
        ValueError: shapes are not ``(68, 2)``, values not finite, or the reference eye
            corners coincide.
    """
    pred = np.asarray(pred, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if pred.shape != (68, 2) or ref.shape != (68, 2):
        raise ValueError(f"landmarks must be (68, 2), got {pred.shape} and {ref.shape}")
    if not (np.isfinite(pred).all() and np.isfinite(ref).all()):
        raise ValueError("landmarks contain non-finite values")
    iod = inter_ocular_distance(ref)
    if iod <= 0:
        raise ValueError("reference landmarks have zero inter-ocular distance")
    return float(np.linalg.norm(pred - ref, axis=1).mean() / iod)


def average_keypoint_distance(pred: np.ndarray, ref: np.ndarray) -> float:
    """Average keypoint distance (AKD) of FOMM's evaluation: the mean absolute coordinate
    difference ``mean_{i, c} |pred[i, c] - ref[i, c]|`` over the points ``i`` and the two
    coordinates ``c`` = x, y (not the Euclidean distance per point: a point off by
    ``(3, 4)`` px counts 3.5, not 5).

    Follows Siarohin et al. 2019, "First Order Motion Model for Image Animation" (NeurIPS),
    section 4, and its evaluation code (AliaksandrSiarohin/pose-evaluation, ``cmp_kp.py``:
    ``np.mean(np.abs(kp1 - kp2))`` per frame), where both landmark sets come from one
    landmark model (face-alignment's FAN there); the caller must pass landmarks of one model.

    Args:
        pred: ``(N, 2)`` landmarks (x, y), e.g. the 68 found on a fake or generated crop.
        ref: ``(N, 2)`` reference landmarks in the same pixels (same crop, same model).

    Returns:
        Distance >= 0 in the landmarks' units (pixels at the crop size the score stage
        aligns to, ``faces.crop_size``); 0 = identical.

    Raises:
        ValueError: shapes differ or are not ``(N, 2)`` with N >= 1, or values not finite.
    """
    pred = np.asarray(pred, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if pred.ndim != 2 or pred.shape[1] != 2 or pred.shape != ref.shape or len(pred) == 0:
        raise ValueError(f"landmarks must be two (N, 2) arrays of one shape, got {pred.shape} and {ref.shape}")
    if not (np.isfinite(pred).all() and np.isfinite(ref).all()):
        raise ValueError("landmarks contain non-finite values")
    return float(np.abs(pred - ref).mean())


def face_mask(landmarks_crop: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Face mask: the filled convex hull (OpenCV ``convexHull`` + ``fillConvexPoly``) of
    the landmarks.

    Args:
        landmarks_crop: ``(N, 2)`` points (x, y) in crop pixels, N >= 3 (68 iBUG points).
        size: crop side in pixels, or ``(H, W)``.

    Returns:
        ``(H, W)`` bool, True inside the hull (points outside the image are clipped).

    Raises:
        ValueError: fewer than 3 points, non-finite points or a non-positive size.
    """
    pts = np.asarray(landmarks_crop, dtype=np.float64).reshape(-1, 2)
    h, w = (size, size) if np.isscalar(size) else (int(size[0]), int(size[1]))
    if h <= 0 or w <= 0:
        raise ValueError(f"mask size must be positive, got {size}")
    if len(pts) < 3 or not np.isfinite(pts).all():
        raise ValueError(f"need >= 3 finite landmarks for a face mask, got {pts.shape}")
    hull = cv2.convexHull(np.round(pts).astype(np.int32))
    mask = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    return mask.astype(bool)
