"""DeepfakeBench's SPSL: ``dfb_spsl`` (``SpslDetector``, DeepfakeBench
``training/detectors/spsl_detector.py`` at 8a4a7bf).

The input of DeepfakeBench's Xception (4-channel conv1, no dropout) is the normalised RGB
crop concatenated with the phase-only reconstruction of its channel mean: 2-D FFT over
(H, W) of each image, the spectrum replaced by ``exp(1j * angle)`` (unit magnitude, same
phase), inverse FFT, real part. Since 8a4a7bf's ancestor db3e348 the FFT is per image; at
v1.0.1 it ran over every dimension of the gray batch, so a crop's score depended on the
other crops of its batch. DeepfakeBench uses the full Xception, not the paper's shallow one.
"""

from __future__ import annotations

import torch

from forgebench.detectors.deepfakebench._base import DFBDetector, PublishedCfg, register_published
from forgebench.detectors.deepfakebench._xception import Xception

__all__ = ["SPSL", "phase_only_gray", "SpslDetector"]

SPSL = PublishedCfg(
    name="spsl",
    detector_class="SpslDetector (training/detectors/spsl_detector.py)",
    paper="Liu et al., Spatial-Phase Shallow Learning: Rethinking Face Forgery Detection in Frequency Domain, CVPR 2021",
    notes="the full DeepfakeBench Xception (not the paper's shallow Xception) with a 4-channel conv1 reading RGB plus "
    "the per-image phase-only reconstruction of the channel mean; backbone.adjust_channel is stored but unused",
    unused=("backbone.adjust_channel",),
)


def phase_only_gray(x: torch.Tensor) -> torch.Tensor:
    """Phase-only reconstruction of the channel mean (DeepfakeBench's
    ``phase_without_amplitude``): ``(N, C, H, W)`` -> ``(N, 1, H, W)``, the real part of
    ``ifft2(exp(1j * angle(fft2(mean_c x))))`` per image (autograd-friendly ``torch.fft``)."""
    gray = x.mean(dim=1, keepdim=True)
    phase = torch.angle(torch.fft.fftn(gray, dim=(-1, -2)))
    spectrum = torch.polar(torch.ones_like(phase), phase)
    return torch.fft.ifftn(spectrum, dim=(-1, -2)).real


class SpslDetector(DFBDetector):
    """DeepfakeBench's SPSL as a detector: crops ``(N, 3, H, W)`` RGB in [0, 1] (256 px as
    trained) -> fake logits ``(N,)`` (normalised with mean = std = 0.5 inside)."""

    def __init__(self, cfg: PublishedCfg = SPSL) -> None:
        super().__init__(cfg)
        self.backbone = Xception(num_classes=2, in_chans=4)
        self.freeze_unused()

    def class_scores(self, x: torch.Tensor) -> torch.Tensor:
        """``backbone(cat(x, phase_only_gray(x)))`` ``(N, 2)``."""
        return self.backbone(torch.cat((x, phase_only_gray(x)), dim=1))


register_published(SPSL, SpslDetector)
