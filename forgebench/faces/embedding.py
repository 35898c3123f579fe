"""Identity embeddings of a video's face crops: the unit of the identity check
(:mod:`forgebench.identities`), which runs in the extract stage's worker processes, so this
module imports neither pandas nor torch (ArcFace's torch is imported inside the unit, only
when ArcFace embeds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from forgebench.faces.analyzer import descriptor_from_landmarks
from forgebench.media import read_image

__all__ = ["embedding_unit"]


def embedding_unit(crops: list[Path], landmarks: list[np.ndarray], model: str, device: str = "cpu") -> np.ndarray:
    """Identity embeddings of one video's face crops.

    Args:
        crops: the aligned face crop files (PNG).
        landmarks: their ``(68, 2)`` crop-pixel landmarks, same order.
        model: ``arcface`` (unit-norm ``(n, 512)``) or ``dlib`` (``(n, 128)``).
        device: torch device of ArcFace (``auto``: CUDA when there is one, else CPU).

    Returns:
        ``(n, d)`` float64 embeddings, one row per crop.

    Raises:
        MediaError: a crop cannot be read. WeightsUnavailable: ArcFace without its weights.
    """
    images = [read_image(p) for p in crops]
    if model == "dlib":
        return np.stack([descriptor_from_landmarks(im, lm) for im, lm in zip(images, landmarks)]).astype(np.float64)
    # imported here, not at the top: ArcFace needs torch and torchvision (seconds of imports in
    # every worker process), which the dlib embeddings, the default offline, do not
    from forgebench.metrics.arcface import arcface_align, arcface_embeddings, load_arcface
    from forgebench.runtime import select_device

    net, _ = load_arcface(str(select_device(device)))
    return arcface_embeddings(net, np.stack([arcface_align(im, lm) for im, lm in zip(images, landmarks)]))
