"""DeepfakeBench's ResNet-34 detector (CNN-Aug): ``dfb_resnet34``.

Written from the facts of DeepfakeBench's ``training/networks/resnet34.py`` and
``training/detectors/resnet34_detector.py`` at 8a4a7bf: torchvision's resnet34 without its
average pool and fc, kept as one ``nn.Sequential`` (``backbone.resnet.0`` conv1, ``.1`` bn1,
``.2`` ReLU, ``.3`` max-pool, ``.4``-``.7`` layer1-4), then the backbone's own
``AdaptiveAvgPool2d(1)`` and ``fc`` (512 -> 2). In mode ``Original`` (the released yaml) there
is no ``adjust_channel``. torchvision's modules are used as they are (same keys and numerics);
their ImageNet weights are not loaded. At inference the detector is
``softmax(backbone(x), 1)[:, 1]``.
"""

from __future__ import annotations

import torch
from torch import nn

from forgebench.detectors.deepfakebench._base import DFBDetector, PublishedCfg, register_published

__all__ = ["RESNET34", "ResNet34", "ResnetDetector"]

RESNET34 = PublishedCfg(
    name="resnet34",
    detector_class="ResnetDetector (training/detectors/resnet34_detector.py)",
    paper="Wang et al., CNN-generated images are surprisingly easy to spot... for now, CVPR 2020 (CNN-Aug; "
    "ResNet: He et al., CVPR 2016)",
    notes="torchvision's resnet34 with a two-class fc; the layers are numbered backbone.resnet.0-7 instead of named",
)


class ResNet34(nn.Module):
    """DeepfakeBench's ResNet34 backbone: ``resnet`` (torchvision resnet34's conv1 .. layer4 as
    ``nn.Sequential``), ``avgpool``, ``fc``.

    Args:
        num_classes: outputs of ``fc``.
    """

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        import torchvision  # heavy: imported when the network is built, not when the registry lists detectors

        net = torchvision.models.resnet34(weights=None)
        self.resnet = nn.Sequential(*list(net.children())[:-2])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` -> ``(N, 512, H / 32, W / 32)``."""
        return self.resnet(x)

    def classifier(self, features: torch.Tensor) -> torch.Tensor:
        """Average pool -> ``fc``: ``(N, 512, h, w)`` -> ``(N, num_classes)``."""
        return self.fc(torch.flatten(self.avgpool(features), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``(N, num_classes)`` of normalised crops ``(N, 3, H, W)``."""
        return self.classifier(self.features(x))


class ResnetDetector(DFBDetector):
    """DeepfakeBench's ResNet-34 as a detector: crops ``(N, 3, 256, 256)`` RGB in [0, 1] ->
    fake logits ``(N,)`` (normalised with mean = std = 0.5 inside)."""

    def __init__(self) -> None:
        super().__init__(RESNET34)
        self.backbone = ResNet34(num_classes=2)

    def class_scores(self, x: torch.Tensor) -> torch.Tensor:
        """``backbone(x)`` ``(N, 2)``."""
        return self.backbone(x)


register_published(RESNET34, ResnetDetector)
