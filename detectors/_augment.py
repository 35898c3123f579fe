"""Training augmentations of detector crops, set in the config (``detectors.<name>.augment``).

Horizontal flip, colour jitter, Gaussian blur and JPEG re-compression, the standard
augmentations of face-forgery detector training: DeepfakeBench (Yan et al., NeurIPS 2023
D&B; ``training/config/detector/*.yaml`` ``data_aug``: flip p 0.5, blur p 0.5 with kernel
3-7, brightness/contrast +-0.1 p 0.5, JPEG quality 40-100) and Wang et al. "CNN-generated
images are surprisingly easy to spot... for now" (CVPR 2020: blur sigma ~ U[0, 3] and
JPEG quality ~ U[30, 100], each p 0.5). The defaults here are milder (p 0.3, JPEG 60-100,
sigma 0.1-2) so that small benchmark runs still converge; set them in the config to
follow either paper. Blur and JPEG are the very functions of the test-time perturbations
(:mod:`forgebench.perturbations`), so training and robustness testing degrade crops the
same way.

How to use (one training crop)::

    augment = build_augment(settings.augment)        # None when everything is off
    img = resize_square(read_image(path), image_size, ANALYSIS)  # (S, S, 3) uint8 RGB
    x = augment(img) if augment is not None else crops_to_tensor([img], image_size)[0]

Randomness comes only from torch's global RNG (``torch.rand``, ``torch.randint``, and
torchvision's ``ColorJitter`` which draws with ``torch.empty().uniform_`` /
``torch.randperm``): the main process is seeded by the training seed, and DataLoader
workers get per-worker torch seeds derived from the loader's seeded generator, so the
augmented crops are the same run after run.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field, field_validator
from torchvision.transforms import v2

from forgebench.config import Strict
from forgebench.imaging import images_to_tensor
from forgebench.perturbations import perturb_crop

__all__ = ["AugmentSettings", "CropAugment", "build_augment"]


class AugmentSettings(Strict):
    """Random augmentations of training crops (all drawn from torch's RNG).

    Attributes:
        flip: probability of a horizontal flip, in [0, 1].
        color_jitter: brightness, contrast and saturation factors drawn from
            ``[1 - c, 1 + c]`` and hue shift from ``[-c/5, c/5]`` (torchvision ColorJitter,
            random order), applied to every crop; 0 = off. In [0, 1].
        jpeg_quality: inclusive range of JPEG quality factors (1..100) drawn uniformly
            (integers); ``None`` = off.
        jpeg_p: probability of JPEG re-compression, in [0, 1].
        blur_sigma: range of the Gaussian blur sigma in pixels of the resized crop,
            drawn uniformly; ``None`` = off.
        blur_p: probability of blurring, in [0, 1].
    """

    flip: float = Field(default=0.5, ge=0, le=1)
    color_jitter: float = Field(default=0.1, ge=0, le=1)
    jpeg_quality: tuple[int, int] | None = (60, 100)
    jpeg_p: float = Field(default=0.3, ge=0, le=1)
    blur_sigma: tuple[float, float] | None = (0.1, 2.0)
    blur_p: float = Field(default=0.3, ge=0, le=1)

    @field_validator("jpeg_quality")
    @classmethod
    def _quality(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and not 1 <= v[0] <= v[1] <= 100:
            raise ValueError("jpeg_quality must be (low, high) with 1 <= low <= high <= 100")
        return v

    @field_validator("blur_sigma")
    @classmethod
    def _sigma(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not 0 <= v[0] <= v[1] <= 25:
            raise ValueError("blur_sigma must be (low, high) pixels with 0 <= low <= high <= 25")
        return v

    @classmethod
    def disabled(cls) -> AugmentSettings:
        """Settings with every augmentation off (``augment: false`` in a config)."""
        return cls(flip=0.0, color_jitter=0.0, jpeg_quality=None, blur_sigma=None)

    @property
    def active(self) -> bool:
        """Whether any augmentation can change a crop."""
        return (
            self.flip > 0
            or self.color_jitter > 0
            or (self.jpeg_quality is not None and self.jpeg_p > 0)
            or (self.blur_sigma is not None and self.blur_p > 0)
        )


class CropAugment:
    """Callable applying :class:`AugmentSettings` to one training crop (picklable, so it
    works in DataLoader worker processes).

    Order (as DeepfakeBench: geometry and colour first, compression last): flip ->
    colour jitter -> Gaussian blur -> JPEG -> float.

    Call: ``augment(image) -> torch.Tensor``

    - ``image``: ``(S, S, 3)`` uint8 RGB, a NumPy array or a CPU torch tensor, already
      resized to the detector input size (blur sigma is in pixels of this size).
    - returns ``(3, S, S)`` float32 in [0, 1] (the layout of
      :func:`forgebench.detectors.crops_to_tensor`).

    Raises:
        ValueError: ``image`` is not ``(H, W, 3)`` uint8.
    """

    def __init__(self, settings: AugmentSettings) -> None:
        self.settings = settings
        self._jitter = None
        c = settings.color_jitter
        if c > 0:
            self._jitter = v2.ColorJitter(brightness=c, contrast=c, saturation=c, hue=c / 5)

    def __repr__(self) -> str:
        return f"CropAugment({self.settings!r})"

    def __call__(self, image: np.ndarray | torch.Tensor) -> torch.Tensor:
        s = self.settings
        img = image.numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"augment: crop must be (H, W, 3) uint8 RGB, got {tuple(img.shape)} {img.dtype}")
        # One draw per decision, always in the same order, whatever the settings.
        u_flip, u_blur, u_jpeg, u_sigma = torch.rand(4).tolist()
        x = torch.from_numpy(np.array(img, copy=True)).permute(2, 0, 1)  # (3, S, S) uint8, own copy
        if u_flip < s.flip:
            x = x.flip(-1)
        if self._jitter is not None:
            x = self._jitter(x)
        img = np.ascontiguousarray(x.permute(1, 2, 0).numpy())
        if s.blur_sigma is not None and u_blur < s.blur_p:
            lo, hi = s.blur_sigma
            img = perturb_crop(img, "blur", lo + (hi - lo) * u_sigma)
        if s.jpeg_quality is not None:
            quality = int(torch.randint(s.jpeg_quality[0], s.jpeg_quality[1] + 1, (1,)))
            if u_jpeg < s.jpeg_p:
                img = perturb_crop(img, "jpeg", quality)
        return images_to_tensor(img[None])[0].contiguous()


def build_augment(settings: AugmentSettings | bool | None) -> CropAugment | None:
    """The training augmentation of ``settings``.

    Args:
        settings: an :class:`AugmentSettings`; ``True`` = its defaults; ``False`` or
            ``None`` = no augmentation.

    Returns:
        A :class:`CropAugment` (``(S, S, 3)`` uint8 RGB -> ``(3, S, S)`` float32 in [0, 1]),
        or ``None`` when no augmentation is on (the caller converts crops itself).
    """
    if settings is None or settings is False:
        return None
    if settings is True:
        settings = AugmentSettings()
    if not isinstance(settings, AugmentSettings):
        settings = AugmentSettings.model_validate(settings)
    return CropAugment(settings) if settings.active else None
