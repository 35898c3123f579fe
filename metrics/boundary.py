"""How visible the blending boundary of a fake face is: gradient energy in a band around
the blending mask's edge, relative to the same band of the real frame.

Face-swap and reenactment methods blend a generated face into the target frame through a
mask; where the blend is not seamless, the mask's outline shows as an edge that the real
frame does not have. That seam is the cue Face X-ray exploits (Li et al. 2020, "Face
X-ray for More General Face Forgery Detection", CVPR), which learns to locate it. This
module measures it directly on an aligned (fake, real) pair:

    score = gradient_energy(fake, band) / gradient_energy(real, band)

with ``band`` the pixels within ``width`` px of the mask's edge (:func:`boundary_band`)
and the energy the mean squared Sobel gradient magnitude there (:func:`gradient_energy`).
1 = the band is as smooth (as textured) as in the real frame; > 1 = extra edges, a seam;
< 1 = the band is smoother than the real one (e.g. over-blurred). Closer to 1 is better.
"""

from __future__ import annotations

import cv2
import numpy as np

from forgebench.metrics._declaration import MetricDecl, declare_quality

__all__ = [
    "DECLARED",
    "DEFAULT_WIDTH_FRACTION",
    "MIN_WIDTH",
    "default_width",
    "boundary_band",
    "gradient_energy",
    "boundary_score",
]

#: The metric of the quality tables computed here (:func:`boundary_score`), declared.
DECLARED: tuple[MetricDecl, ...] = (
    declare_quality(
        "boundary",
        "boundary (fake / real)",
        ("video",),
        "ratio, 1 = as smooth as real",
        False,
        "Face X-ray's cue, Li et al. 2020",
        "gradient energy in a band across the blending boundary, fake over real",
        needs="pixels",
    ),
)

#: Default band half-width as a fraction of the mask's equivalent diameter ``sqrt(area)``.
DEFAULT_WIDTH_FRACTION = 0.05
#: Smallest default band half-width, pixels.
MIN_WIDTH = 2


def _check_mask(mask: np.ndarray, name: str = "mask") -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype != bool:
        raise ValueError(f"{name} must be an (H, W) bool array, got {mask.shape} {mask.dtype} (use mask.astype(bool))")
    return mask


def _check_image(image: np.ndarray, name: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"{name} must be an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
    return image


def default_width(mask: np.ndarray) -> int:
    """Default band half-width of :func:`boundary_score`: 5 % of the mask's equivalent
    diameter ``sqrt(area)`` (:data:`DEFAULT_WIDTH_FRACTION`), rounded, at least 2 px
    (:data:`MIN_WIDTH`); e.g. 9 px for a 180 x 180 px face.

    Args:
        mask: ``(H, W)`` bool blending mask.

    Returns:
        Width in pixels, an int >= 2.

    Raises:
        ValueError: ``mask`` is not ``(H, W)`` bool, or it is empty.
    """
    mask = _check_mask(mask)
    area = int(mask.sum())
    if area == 0:
        raise ValueError("mask is empty: it has no boundary")
    return max(MIN_WIDTH, int(round(DEFAULT_WIDTH_FRACTION * np.sqrt(area))))


def boundary_band(mask: np.ndarray, width: int) -> np.ndarray:
    """Pixels within ``width`` px of the mask's boundary, inside or outside it: the
    dilation XOR the erosion of ``mask`` by an elliptical (disc) kernel of radius
    ``width`` (``cv2.getStructuringElement(MORPH_ELLIPSE, (2 width + 1,) * 2)``).

    The frame border is not a boundary: OpenCV's default border values leave a mask that
    touches the frame edge uneroded there, so a full-frame mask has an empty band.

    Args:
        mask: ``(H, W)`` bool blending (or face) mask.
        width: band half-width in pixels, an int >= 1 (the band is about ``2 width + 1``
            px wide).

    Returns:
        ``(H, W)`` bool, True in the band.

    Raises:
        ValueError: ``mask`` is not ``(H, W)`` bool, or ``width`` is not an int >= 1.
    """
    mask = _check_mask(mask)
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError(f"width must be an int >= 1 (pixels), got {width!r}")
    width = int(width)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    m = mask.astype(np.uint8)
    return cv2.dilate(m, kernel).astype(bool) ^ cv2.erode(m, kernel).astype(bool)


def gradient_energy(image: np.ndarray, band: np.ndarray) -> float:
    """Mean squared Sobel gradient magnitude of ``image`` over the ``band`` pixels.

    The image is converted to grayscale in [0, 1] (``cv2.COLOR_RGB2GRAY`` on float32,
    i.e. 0.299 R + 0.587 G + 0.114 B); ``dx``, ``dy`` are ``cv2.Sobel`` with ``ksize=3``
    (unnormalised: 8x the derivative on a linear ramp; border ``BORDER_REFLECT_101``), and
    the energy is ``mean_{p in band} dx(p)² + dy(p)²``.

    Args:
        image: ``(H, W, 3)`` uint8 RGB image.
        band: ``(H, W)`` bool pixels to average over (e.g. :func:`boundary_band`).

    Returns:
        Energy >= 0 in (grey level per pixel)² with grey levels in [0, 1] (at most 32, a
        full 0 -> 1 step on both axes); higher = more edges/texture in the band.

    Raises:
        ValueError: ``image`` not ``(H, W, 3)`` uint8, ``band`` not ``(H, W)`` bool of the
            same size, or ``band`` empty.
    """
    image = _check_image(image, "image")
    band = _check_mask(band, "band")
    if band.shape != image.shape[:2]:
        raise ValueError(f"band must be (H, W) = {image.shape[:2]}, got {band.shape}")
    if not band.any():
        raise ValueError("band is empty: no pixels to average over")
    gray = cv2.cvtColor(image.astype(np.float32) / np.float32(255.0), cv2.COLOR_RGB2GRAY).astype(np.float64)
    dx = cv2.Sobel(gray, cv2.CV_64F, 1, 0, ksize=3)
    dy = cv2.Sobel(gray, cv2.CV_64F, 0, 1, ksize=3)
    return float((dx[band] ** 2 + dy[band] ** 2).mean())


def boundary_score(fake: np.ndarray, real: np.ndarray, mask: np.ndarray, width: int | None = None) -> float:
    """Blending-boundary score: ``gradient_energy(fake, band) / gradient_energy(real, band)``
    with ``band = boundary_band(mask, width)`` (module docstring).

    The cue of Face X-ray (Li et al. 2020, "Face X-ray for More General Face Forgery
    Detection", CVPR): a visible seam along the blending mask's outline.

    Args:
        fake: ``(H, W, 3)`` uint8 RGB fake frame (or aligned crop).
        real: ``(H, W, 3)`` uint8 RGB real frame it replaced, aligned with ``fake``.
        mask: ``(H, W)`` bool blending mask (or the face mask, when the generator's blending
            mask is not known).
        width: band half-width in pixels (int >= 1); default :func:`default_width`: 5 % of
            ``sqrt(mask area)``, at least 2 px.

    Returns:
        Unit-free ratio >= 0: 1 = the band is as smooth as in the real frame (best; exactly
        1 for ``fake`` equal to ``real``), > 1 = a seam (higher = more visible), < 1 = the
        band is smoother than the real one. NaN when the real band has zero gradient
        energy (a flat region: nothing to compare with).

    Raises:
        ValueError: images not ``(H, W, 3)`` uint8 or of different sizes, ``mask`` not
            ``(H, W)`` bool of their size, an empty mask, an empty band (e.g. a mask
            covering the whole frame), or a bad ``width``.
    """
    fake = _check_image(fake, "fake")
    real = _check_image(real, "real")
    if fake.shape != real.shape:
        raise ValueError(f"fake and real differ in size: {fake.shape} vs {real.shape}")
    mask = _check_mask(mask)
    if mask.shape != fake.shape[:2]:
        raise ValueError(f"mask must be (H, W) = {fake.shape[:2]}, got {mask.shape}")
    if not mask.any():
        raise ValueError("mask is empty: it has no boundary")
    if width is None:
        width = default_width(mask)
    band = boundary_band(mask, width)
    if not band.any():
        raise ValueError("boundary band is empty (the mask covers the whole frame)")
    e_real = gradient_energy(real, band)
    if e_real == 0:
        return float("nan")
    return gradient_energy(fake, band) / e_real
