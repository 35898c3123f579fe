"""Training augmentation of face-swap autoencoders: random affine + random warp.

The scheme of the classic Deepfakes / faceswap training (faceswap's
``lib/training/augmentation.py``), written here with OpenCV: every training face gets a
random similarity transform (rotation, zoom, shift) and a random horizontal flip; the
model's *input* is that face further distorted by a smooth random warp (a coarse grid of
control points displaced at random, interpolated to a dense map, ``cv2.remap``), and its
*target* is the same face without the warp. Learning to undo the warp is what makes the
shared encoder identity-agnostic enough for the swap.

Images are ``uint8`` RGB arrays ``(H, W, 3)``; all randomness comes from the
``numpy.random.Generator`` passed in, so a seed fixes the batches.
"""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from forgebench.config import Strict
from forgebench.imaging import SYNTHESIS, resize_square


class AugmentSettings(Strict):
    """Random augmentation of training faces (the ``augment`` section of generator settings).

    Attributes:
        rotation: maximum rotation in degrees (uniform in ``[-rotation, rotation]``).
        zoom: maximum relative zoom (scale uniform in ``[1 - zoom, 1 + zoom]``).
        shift: maximum shift as a fraction of the image side, per axis.
        flip: probability of a horizontal flip.
        warp_grid: control points per side of the random-warp grid (>= 3).
        warp_scale: standard deviation of the control-point displacement as a fraction of
            the image side (faceswap: 5 px on a 256-px face = 0.02); 0 disables the warp.
    """

    rotation: float = Field(default=10.0, ge=0.0, le=180.0)
    zoom: float = Field(default=0.05, ge=0.0, lt=1.0)
    shift: float = Field(default=0.05, ge=0.0, le=0.5)
    flip: float = Field(default=0.5, ge=0.0, le=1.0)
    warp_grid: int = Field(default=5, ge=3, le=32)
    warp_scale: float = Field(default=0.02, ge=0.0, le=0.2)


def random_affine(image: np.ndarray, settings: AugmentSettings, rng: np.random.Generator) -> np.ndarray:
    """Random rotation/zoom/shift about the centre and random horizontal flip.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        settings: ranges of the transform.
        rng: source of randomness.

    Returns:
        ``(H, W, 3)`` uint8, borders filled by edge replication.
    """
    h, w = image.shape[:2]
    angle = rng.uniform(-settings.rotation, settings.rotation)
    scale = rng.uniform(1.0 - settings.zoom, 1.0 + settings.zoom)
    tx, ty = rng.uniform(-settings.shift, settings.shift, size=2) * (w, h)
    matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, scale)
    matrix[:, 2] += (tx, ty)
    out = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if rng.random() < settings.flip:
        out = np.ascontiguousarray(out[:, ::-1])
    return out


def random_warp(image: np.ndarray, settings: AugmentSettings, rng: np.random.Generator) -> np.ndarray:
    """Smooth random warp: a ``warp_grid x warp_grid`` grid of control points spanning the
    image, each displaced by Gaussian noise (std ``warp_scale`` x side), interpolated
    bicubically to a dense map and applied with ``cv2.remap``. The border control points
    move too, as in faceswap; borders are replicated.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        settings: grid size and displacement.
        rng: source of randomness.

    Returns:
        ``(H, W, 3)`` uint8.
    """
    h, w = image.shape[:2]
    if settings.warp_scale == 0:
        return image.copy()
    n = settings.warp_grid
    gx, gy = np.meshgrid(np.linspace(0, w - 1, n), np.linspace(0, h - 1, n))
    gx = gx + rng.normal(0.0, settings.warp_scale * w, size=gx.shape)
    gy = gy + rng.normal(0.0, settings.warp_scale * h, size=gy.shape)
    map_x = cv2.resize(gx.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    map_y = cv2.resize(gy.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    return cv2.remap(image, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def coverage_box(size: int, coverage: float) -> tuple[int, int, int, int]:
    """Centred square ``(x0, y0, x1, y1)`` (end exclusive, pixels) covering ``coverage`` of
    a ``size`` x ``size`` crop's side."""
    side = max(1, int(round(size * coverage)))
    off = (size - side) // 2
    return off, off, off + side, off + side


def prepare_faces(crops: list[np.ndarray], image_size: int, coverage: float) -> np.ndarray:
    """Resize aligned crops so that their centred ``coverage`` region is ``image_size``
    pixels, keeping the surrounding context for augmentation.

    Args:
        crops: ``(S, S, 3)`` uint8 RGB aligned crops (S may differ between crops).
        image_size: model input side in pixels.
        coverage: share of the crop side the model sees, in ``(0, 1]``.

    Returns:
        ``(N, P, P, 3)`` uint8 with ``P = round(image_size / coverage)``.
    """
    padded = int(round(image_size / coverage))
    out = np.empty((len(crops), padded, padded, 3), np.uint8)
    for k, crop in enumerate(crops):
        out[k] = resize_square(crop, padded, SYNTHESIS)
    return out


def training_batch(
    faces: np.ndarray, batch_size: int, image_size: int, settings: AugmentSettings, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One augmented batch from :func:`prepare_faces` output.

    Faces are drawn with replacement; each gets :func:`random_affine` on the padded face;
    its centred ``image_size`` square is the target, and the same square of
    :func:`random_warp` of the padded face is the input (so the warp pulls in real
    context at the borders, not replicated edges).

    Returns:
        ``(warped, target)``, both ``(batch_size, image_size, image_size, 3)`` uint8.
    """
    pick = rng.integers(0, len(faces), size=batch_size)
    padded = faces.shape[1]
    off = (padded - image_size) // 2
    warped = np.empty((batch_size, image_size, image_size, 3), np.uint8)
    target = np.empty_like(warped)
    for k, idx in enumerate(pick):
        face = random_affine(faces[idx], settings, rng)
        target[k] = face[off : off + image_size, off : off + image_size]
        warped[k] = random_warp(face, settings, rng)[off : off + image_size, off : off + image_size]
    return warped, target
