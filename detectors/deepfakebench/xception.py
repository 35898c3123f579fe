"""DeepfakeBench's Xception detectors: ``dfb_xception``, ``dfb_fwa`` and ``dfb_core``.

The three are one network (DeepfakeBench's Xception, :mod:`._xception`, mode ``original``)
with the same checkpoint layout (283 entries); they differ only in how DeepfakeBench trained
them: FWA's face-warping augmentation, CORE's consistency loss. At inference each is
``softmax(backbone(x), 1)[:, 1]`` (DeepfakeBench ``training/detectors/xception_detector.py``,
``fwa_detector.py``, ``core_detector.py`` at 8a4a7bf).
"""

from __future__ import annotations

import torch

from forgebench.detectors.deepfakebench._base import DFBDetector, PublishedCfg, register_published
from forgebench.detectors.deepfakebench._xception import Xception

__all__ = ["XCEPTION", "FWA", "CORE", "XceptionDetector"]

XCEPTION = PublishedCfg(
    name="xception",
    detector_class="XceptionDetector (training/detectors/xception_detector.py)",
    paper="Rössler et al., FaceForensics++: Learning to Detect Manipulated Facial Images, ICCV 2019 (Xception: Chollet, CVPR 2017)",
    notes="unpadded stem convolutions (256 -> 127 -> 125 px); backbone.adjust_channel is stored but unused",
    unused=("backbone.adjust_channel",),
)
FWA = PublishedCfg(
    name="fwa",
    detector_class="FWADetector (training/detectors/fwa_detector.py)",
    paper="Li and Lyu, Exposing DeepFake Videos By Detecting Face Warping Artifacts, CVPR Workshops 2019 (DSP-FWA)",
    notes="DeepfakeBench's Xception, as xception",
    unused=("backbone.adjust_channel",),
)
CORE = PublishedCfg(
    name="core",
    detector_class="CoreDetector (training/detectors/core_detector.py)",
    paper="Ni et al., CORE: Consistent Representation Learning for Face Forgery Detection, CVPR Workshops 2022",
    notes="DeepfakeBench's Xception, as xception",
    unused=("backbone.adjust_channel",),
)


class XceptionDetector(DFBDetector):
    """DeepfakeBench's Xception as a detector: crops ``(N, 3, 256, 256)`` RGB in [0, 1] ->
    fake logits ``(N,)`` (normalised with mean = std = 0.5 inside).

    Args:
        cfg: which of :data:`XCEPTION`, :data:`FWA`, :data:`CORE`.
    """

    def __init__(self, cfg: PublishedCfg = XCEPTION) -> None:
        super().__init__(cfg)
        self.backbone = Xception(num_classes=2)
        self.freeze_unused()

    def class_scores(self, x: torch.Tensor) -> torch.Tensor:
        """``backbone(x)`` ``(N, 2)``."""
        return self.backbone(x)


for _cfg in (XCEPTION, FWA, CORE):
    register_published(_cfg, lambda cfg=_cfg: XceptionDetector(cfg))
