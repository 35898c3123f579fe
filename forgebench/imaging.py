"""Image <-> tensor conversions and square resizing, one of each per purpose.

Every network of forgebench gets its images through :func:`images_to_tensor` and gives
them back through :func:`tensor_to_images`, and every crop is resized to a network's input
side by :func:`resize_square`: shrinking always uses ``cv2.INTER_AREA`` (no aliasing);
enlarging uses the interpolation of the purpose, passed explicitly:

- :data:`SYNTHESIS` (``cv2.INTER_CUBIC``): generators' inputs and outputs (face swap,
  pix2pix, FOMM), where sharpness of the pasted face matters;
- :data:`ANALYSIS` (``cv2.INTER_LINEAR``): detectors' inputs (recorded with every score as
  ``resize``), as most detection code bases do.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
import torch

__all__ = ["SYNTHESIS", "ANALYSIS", "resize_square", "images_to_tensor", "tensor_to_images"]

#: Enlarging interpolation of generator inputs and outputs.
SYNTHESIS = cv2.INTER_CUBIC
#: Enlarging interpolation of detector inputs.
ANALYSIS = cv2.INTER_LINEAR

Range = Literal["unit", "signed"]


def resize_square(image: np.ndarray, size: int, enlarge: int) -> np.ndarray:
    """Resize an ``(H, W, C)`` uint8 image to ``(size, size, C)``.

    ``cv2.INTER_AREA`` when shrinking (``size`` below the smaller side), ``enlarge``
    (:data:`SYNTHESIS` or :data:`ANALYSIS`) otherwise; an image already ``size`` x
    ``size`` is returned unchanged (not copied).

    Raises:
        ValueError: not an ``(H, W, C)`` array, or ``size`` < 1.
    """
    if image.ndim != 3 or size < 1:
        raise ValueError(f"expected an (H, W, C) image and a size >= 1, got shape {image.shape} and size {size}")
    h, w = image.shape[:2]
    if (h, w) == (size, size):
        return image
    interp = cv2.INTER_AREA if size < min(h, w) else enlarge
    return cv2.resize(image, (size, size), interpolation=interp)


def images_to_tensor(
    images: np.ndarray, device: torch.device | str | None = None, value_range: Range = "unit"
) -> torch.Tensor:
    """``(N, H, W, 3)`` uint8 RGB -> ``(N, 3, H, W)`` float32 on ``device`` (CPU when None).

    Args:
        images: the batch (one array; stack a list first).
        device: where the tensor goes.
        value_range: ``"unit"`` = [0, 1] (``x / 255``; detectors, swap, FOMM) or
            ``"signed"`` = [-1, 1] (``x / 127.5 - 1``; pix2pix's tanh output range).

    Raises:
        ValueError: not a 4-D uint8 array with 3 channels.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected (N, H, W, 3) uint8 RGB images, got {images.shape} {images.dtype}")
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device or "cpu").permute(0, 3, 1, 2).float()
    return x.div_(255.0) if value_range == "unit" else x.div_(127.5).sub_(1.0)


def tensor_to_images(x: torch.Tensor, value_range: Range = "unit") -> np.ndarray:
    """``(N, 3, H, W)`` float in ``value_range`` -> ``(N, H, W, 3)`` uint8 RGB on the CPU,
    values clamped to the range and rounded to the nearest level."""
    x = x.detach()
    if value_range == "unit":
        out = (x.clamp(0, 1) * 255.0).round()
    else:
        out = ((x.clamp(-1, 1) + 1.0) * 127.5).round()
    return out.to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
