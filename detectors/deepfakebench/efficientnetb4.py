"""DeepfakeBench's EfficientNet-B4 detectors: ``dfb_efficientnetb4`` and ``dfb_sbi``.

The two are one network (DeepfakeBench's EfficientNet-B4 backbone, :mod:`._efficientnet`,
mode ``original``, no dropout) with the same checkpoint layout (706 entries) but for the
head: efficientnetb4 has 2 classes and inputs normalised with mean = std = 0.5, sbi 3
classes (its yaml's ``num_classes: 3``) and ImageNet normalisation. At inference each is
``softmax(backbone(x), 1)[:, 1]`` (DeepfakeBench ``training/detectors/efficientnetb4_detector.py``
and ``sbi_detector.py``, ``training/networks/efficientnetb4.py``, ``training/config/detector/
efficientnetb4.yaml`` and ``sbi.yaml`` at 8a4a7bf). SBI's self-blending and its landmarks
are training-time data synthesis only.
"""

from __future__ import annotations

import torch

from forgebench.detectors.deepfakebench._base import DFBDetector, PublishedCfg, register_published
from forgebench.detectors.deepfakebench._efficientnet import EfficientNetB4

__all__ = ["EFFICIENTNETB4", "SBI", "EfficientNetB4Detector"]

EFFICIENTNETB4 = PublishedCfg(
    name="efficientnetb4",
    detector_class="EfficientDetector (training/detectors/efficientnetb4_detector.py)",
    paper="Tan and Le, EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks, ICML 2019",
    notes="efficientnet_pytorch's B4 with an unpadded stem conv and conv paddings fixed for 380 px inputs "
    "(unlike timm's tf_efficientnet_b4, whose 'same' padding follows the input size)",
)
SBI = PublishedCfg(
    name="sbi",
    detector_class="SBIDetector (training/detectors/sbi_detector.py)",
    paper="Shiohara and Yamasaki, Detecting Deepfakes with Self-Blended Images, CVPR 2022",
    released=False,
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
    num_classes=3,
    notes="DeepfakeBench's EfficientNet-B4 as efficientnetb4, with 3 output classes (fake = class 1) "
    "and ImageNet normalisation",
)


class EfficientNetB4Detector(DFBDetector):
    """DeepfakeBench's EfficientNet-B4 as a detector: crops ``(N, 3, 256, 256)`` RGB in
    [0, 1] -> fake logits ``(N,)`` (normalised inside with the cfg's mean/std).

    Args:
        cfg: :data:`EFFICIENTNETB4` or :data:`SBI` (its ``num_classes`` sizes ``last_layer``).
    """

    def __init__(self, cfg: PublishedCfg = EFFICIENTNETB4) -> None:
        super().__init__(cfg)
        self.backbone = EfficientNetB4(num_classes=cfg.num_classes)
        self.freeze_unused()

    def class_scores(self, x: torch.Tensor) -> torch.Tensor:
        """``backbone(x)`` ``(N, num_classes)``."""
        return self.backbone(x)


for _cfg in (EFFICIENTNETB4, SBI):
    register_published(_cfg, lambda cfg=_cfg: EfficientNetB4Detector(cfg))
