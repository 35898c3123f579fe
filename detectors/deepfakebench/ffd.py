"""DeepfakeBench's FFD detector: ``dfb_ffd`` (Dang et al., CVPR 2020).

DeepfakeBench ``training/detectors/ffd_detector.py`` at 8a4a7bf with ``maptype: reg``
(``training/config/detector/ffd.yaml``): DeepfakeBench's Xception (:mod:`._xception`, mode
``original``) whose block7 output ``(N, 728, 16, 16)`` is multiplied by a regression
attention map ``sigmoid(SeparableConv2d(728 -> 1, 3x3, padding 1)(x))`` before block8; the
classifier is the backbone's. The map is also DeepfakeBench's ``pred_dict['mask']``, which
only its training loss reads (against a ground-truth mask when the data has one); under
forgebench the network trains through the classification output alone.
"""

from __future__ import annotations

import torch
from torch import nn

from forgebench.detectors.deepfakebench._base import DFBDetector, PublishedCfg, register_published
from forgebench.detectors.deepfakebench._xception import SeparableConv2d, Xception

__all__ = ["FFD", "RegressionMap", "FFDDetector"]

FFD = PublishedCfg(
    name="ffd",
    detector_class="FFDDetector (training/detectors/ffd_detector.py)",
    paper="Dang et al., On the Detection of Digital Face Manipulation, CVPR 2020",
    notes="the regression attention map (maptype reg, no templates) is applied after block7 of DeepfakeBench's "
    "unpadded-stem Xception; the mask loss is not used; backbone.adjust_channel is stored but unused",
    unused=("backbone.adjust_channel",),
)


class RegressionMap(nn.Module):
    """FFD's regression attention map: separable 3x3 conv (``c``, ``c_in`` -> 1, padding 1, no
    bias) then sigmoid; ``(N, c_in, H, W)`` -> ``(N, 1, H, W)`` in (0, 1)."""

    def __init__(self, c_in: int = 728) -> None:
        super().__init__()
        self.c = SeparableConv2d(c_in, 1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The attention map ``(N, 1, H, W)``."""
        return torch.sigmoid(self.c(x))


class FFDDetector(DFBDetector):
    """DeepfakeBench's FFD: crops ``(N, 3, 256, 256)`` RGB in [0, 1] -> fake logits ``(N,)``
    (normalised with mean = std = 0.5 inside)."""

    def __init__(self, cfg: PublishedCfg = FFD) -> None:
        super().__init__(cfg)
        self.backbone = Xception(num_classes=2)
        self.map = RegressionMap(728)
        self.freeze_unused()

    def attention_map(self, x: torch.Tensor) -> torch.Tensor:
        """The attention map ``(N, 1, 16, 16)`` of normalised crops (DeepfakeBench's ``mask``)."""
        b = self.backbone
        return self.map(b.middle_flow(b.entry_flow(b.stem(x)), last=7))

    def class_scores(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone to block7, times the map, block8 on, the backbone's classifier: ``(N, 2)``."""
        b = self.backbone
        x = b.middle_flow(b.entry_flow(b.stem(x)), last=7)
        x = x * self.map(x)
        x = b.exit_flow(b.middle_flow(x, first=8))
        return b.classifier(x)


register_published(FFD, FFDDetector)
