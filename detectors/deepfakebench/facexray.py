"""DeepfakeBench's Face X-ray detector: ``dfb_facexray``.

DeepfakeBench ``training/detectors/facexray_detector.py`` at 8a4a7bf (``FaceXrayDetector``):
HRNet-W48 features (:mod:`._hrnet`, 720 channels at 64x64 for a 256 px crop) -> mask head
``post_process`` (3x3 conv 720 -> 256, BN, ReLU, 3x3 conv 256 -> 128, BN, ReLU, 1x1 conv
128 -> 1, bilinear upsampling to 256x256 with ``align_corners=True``) -> average pool to
128x128 -> flattened (16384) into the MLP ``fc`` (Linear 1024, BatchNorm1d, ReLU, Linear
128, BatchNorm1d, ReLU, Linear 2); the fake probability is ``softmax(cls, 1)[:, 1]``. The
predicted mask (the face X-ray) enters only the training loss. HRNet's ImageNet head is in
the checkpoint but never used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from forgebench.detectors.deepfakebench._base import DFBDetector, PublishedCfg, register_published
from forgebench.detectors.deepfakebench._hrnet import HRNET_W48, HRNet

__all__ = ["FACEXRAY", "FaceXrayDetector"]

FACEXRAY = PublishedCfg(
    name="facexray",
    detector_class="FaceXrayDetector (training/detectors/facexray_detector.py)",
    paper="Li et al., Face X-ray for More General Face Forgery Detection, CVPR 2020",
    fixed_size=True,
    notes=(
        "the 1-channel X-ray map (two 3x3 conv + BN + ReLU units, then 1x1, on the 720 concatenated HRNet "
        "channels) is average-pooled to 128x128 and flattened into a BatchNorm MLP, so input is fixed at 256 px, "
        "where the paper pools globally"
    ),
    unused=("backbone.incre_modules", "backbone.downsamp_modules", "backbone.final_layer", "backbone.fc"),
)


class FaceXrayDetector(DFBDetector):
    """DeepfakeBench's Face X-ray: crops ``(N, 3, 256, 256)`` RGB in [0, 1] -> fake logits
    ``(N,)`` (normalised with mean = std = 0.5 inside).

    Args:
        cfg: :data:`FACEXRAY`.
    """

    def __init__(self, cfg: PublishedCfg = FACEXRAY) -> None:
        super().__init__(cfg)
        side = cfg.input_size
        self.backbone = HRNet(HRNET_W48)
        self.post_process = nn.Sequential(
            nn.Conv2d(self.backbone.out_channels, 256, 3, 1, 1),
            nn.BatchNorm2d(256),
            nn.ReLU(),
            nn.Conv2d(256, 128, 3, 1, 1),
            nn.BatchNorm2d(128),
            nn.ReLU(),
            nn.Conv2d(128, 1, 1),
            nn.Upsample(size=(side, side), mode="bilinear", align_corners=True),
        )
        self.pooled = side // 2
        self.fc = nn.Sequential(
            nn.Linear(self.pooled * self.pooled, 1024),
            nn.BatchNorm1d(1024),
            nn.ReLU(),
            nn.Linear(1024, 128),
            nn.BatchNorm1d(128),
            nn.ReLU(),
            nn.Linear(128, 2),
        )
        self.freeze_unused()

    def xray(self, x: torch.Tensor) -> torch.Tensor:
        """The predicted face X-ray (DeepfakeBench's ``mask_pred``, before any sigmoid):
        ``(N, 3, 256, 256)`` normalised -> ``(N, 1, 256, 256)``."""
        return self.post_process(self.backbone.features(x))

    def class_scores(self, x: torch.Tensor) -> torch.Tensor:
        """``fc(avg_pool_128(xray(x)))`` ``(N, 2)``."""
        mask = self.xray(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(mask, self.pooled), 1))


register_published(FACEXRAY, FaceXrayDetector)
