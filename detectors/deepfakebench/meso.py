"""DeepfakeBench's MesoNet detectors: ``dfb_meso4`` and ``dfb_meso4inception``.

Written from the facts of DeepfakeBench's ``training/networks/mesonet.py`` and
``training/detectors/meso4_detector.py`` / ``meso4Inception_detector.py`` at 8a4a7bf (itself
from HongguLiu/MesoNet-Pytorch), which differ from the paper's Keras network
(forgebench's own :mod:`forgebench.detectors.meso`): every conv is bias-free with "same"
padding; each conv block is conv -> ReLU -> BatchNorm -> max-pool, and Meso4 has only two
BatchNorms, ``bn1`` (8 channels) applied after both conv1 and conv2 and ``bn2`` (16 channels)
after both conv3 and conv4 (MesoInception4: ``bn1`` after both of its plain convs); the
pools are 2, 2, 2, 4 (floor mode), so only 256 px crops give the 16 x 8 x 8 map that ``fc1``
takes; the head is dropout(0.5) -> ``fc1`` -> LeakyReLU(0.1) -> dropout(0.5) -> ``fc2`` with
two classes. The inception layers have no ReLU: four bias-free branches (1x1; 1x1 -> 3x3;
1x1 -> 3x3 dilation 2; 1x1 -> 3x3 dilation 3) concatenated, BatchNorm, max-pool 2.
At inference each detector is ``softmax(backbone(x), 1)[:, 1]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from forgebench.detectors.deepfakebench._base import DFBDetector, PublishedCfg, register_published

__all__ = ["MESO4", "MESO4_INCEPTION", "Meso4", "MesoInception4", "Meso4Detector", "Meso4InceptionDetector"]

_PAPER = "Afchar et al., MesoNet: a Compact Facial Video Forgery Detection Network, WIFS 2018"

MESO4 = PublishedCfg(
    name="meso4",
    detector_class="Meso4Detector (training/detectors/meso4_detector.py)",
    paper=_PAPER,
    fixed_size=True,
    notes="ReLU before BatchNorm with bn1 and bn2 each shared by two conv layers, bias-free convs and a two-class head, "
    "unlike the paper's Keras Meso-4 (forgebench's meso4)",
)
MESO4_INCEPTION = PublishedCfg(
    name="meso4Inception",
    detector_class="Meso4InceptionDetector (training/detectors/meso4Inception_detector.py)",
    paper=_PAPER,
    fixed_size=True,
    notes="inception layers without ReLU, bn1 shared by both plain conv layers (ReLU before it), bias-free convs and "
    "a two-class head, unlike the paper's Keras MesoInception-4 (forgebench's mesoinception4)",
)


class _MesoHead(nn.Module):
    """Shared pieces of both networks: the classifier ``(N, 1024)`` -> ``(N, num_classes)``
    (dropout -> ``fc1`` -> LeakyReLU(0.1) -> dropout -> ``fc2``).

    DeepfakeBench's ``Dropout2d(0.5)`` on a flat ``(N, 1024)`` tensor drops single elements,
    which is what ``nn.Dropout(0.5)`` does (identity in eval mode).
    """

    fc1: nn.Linear
    fc2: nn.Linear
    dropout: nn.Dropout

    def classifier(self, features: torch.Tensor) -> torch.Tensor:
        """Class scores ``(N, num_classes)`` of flat features ``(N, 16 * 8 * 8)``."""
        x = F.leaky_relu(self.fc1(self.dropout(features)), 0.1)
        return self.fc2(self.dropout(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Flat features ``(N, 1024)`` of normalised crops ``(N, 3, 256, 256)``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``(N, num_classes)`` of normalised crops ``(N, 3, 256, 256)``."""
        return self.classifier(self.features(x))


class Meso4(_MesoHead):
    """DeepfakeBench's Meso4 (``backbone.*`` keys: conv1, bn1, conv2, bn2, conv3, conv4, fc1, fc2).

    Features: conv1 3x3 (3 -> 8), ReLU, ``bn1``, pool 2; conv2 5x5 (8 -> 8), ReLU, ``bn1``,
    pool 2; conv3 5x5 (8 -> 16), ReLU, ``bn2``, pool 2; conv4 5x5 (16 -> 16), ReLU, ``bn2``,
    pool 4; flatten: ``(N, 3, 256, 256)`` -> ``(N, 1024)``.

    Args:
        num_classes: outputs of ``fc2``.
        in_chans: input channels of conv1.
    """

    def __init__(self, num_classes: int = 2, in_chans: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 5, padding=2, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.conv3 = nn.Conv2d(8, 16, 5, padding=2, bias=False)
        self.conv4 = nn.Conv2d(16, 16, 5, padding=2, bias=False)
        self.dropout = nn.Dropout(0.5)
        self.fc1 = nn.Linear(16 * 8 * 8, 16)
        self.fc2 = nn.Linear(16, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Flat features ``(N, 1024)`` of normalised crops ``(N, in_chans, 256, 256)``."""
        x = F.max_pool2d(self.bn1(F.relu(self.conv1(x))), 2)
        x = F.max_pool2d(self.bn1(F.relu(self.conv2(x))), 2)
        x = F.max_pool2d(self.bn2(F.relu(self.conv3(x))), 2)
        x = F.max_pool2d(self.bn2(F.relu(self.conv4(x))), 4)
        return torch.flatten(x, 1)


class MesoInception4(_MesoHead):
    """DeepfakeBench's MesoInception4 (``backbone.Incption{1,2}_*``, conv1, bn1, conv2, fc1, fc2).

    Features: inception layer 1 (3 -> 1 + 4 + 4 + 2 = 11 channels), inception layer 2
    (11 -> 2 + 4 + 4 + 2 = 12), each concat -> BN -> pool 2; conv1 5x5 (12 -> 16), ReLU,
    ``bn1``, pool 2; conv2 5x5 (16 -> 16), ReLU, ``bn1``, pool 4; flatten:
    ``(N, 3, 256, 256)`` -> ``(N, 1024)``.

    Args:
        num_classes: outputs of ``fc2``.
    """

    #: Branch widths (1x1, 3x3, 3x3 dilation 2, 3x3 dilation 3) of inception layers 1 and 2.
    WIDTHS = ((1, 4, 4, 2), (2, 4, 4, 2))

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        c_in = 3
        for layer, (w1, w2, w3, w4) in enumerate(self.WIDTHS, start=1):
            p = f"Incption{layer}_"
            setattr(self, p + "conv1", nn.Conv2d(c_in, w1, 1, bias=False))
            setattr(self, p + "conv2_1", nn.Conv2d(c_in, w2, 1, bias=False))
            setattr(self, p + "conv2_2", nn.Conv2d(w2, w2, 3, padding=1, bias=False))
            setattr(self, p + "conv3_1", nn.Conv2d(c_in, w3, 1, bias=False))
            setattr(self, p + "conv3_2", nn.Conv2d(w3, w3, 3, padding=2, dilation=2, bias=False))
            setattr(self, p + "conv4_1", nn.Conv2d(c_in, w4, 1, bias=False))
            setattr(self, p + "conv4_2", nn.Conv2d(w4, w4, 3, padding=3, dilation=3, bias=False))
            c_in = w1 + w2 + w3 + w4
            setattr(self, p + "bn", nn.BatchNorm2d(c_in))
        self.conv1 = nn.Conv2d(c_in, 16, 5, padding=2, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, 5, padding=2, bias=False)
        self.dropout = nn.Dropout(0.5)
        self.fc1 = nn.Linear(16 * 8 * 8, 16)
        self.fc2 = nn.Linear(16, num_classes)

    def inception(self, x: torch.Tensor, layer: int) -> torch.Tensor:
        """Inception layer ``layer`` (1 or 2): four branches concatenated, BN, pool 2
        (``(N, C, H, W)`` -> ``(N, 11 or 12, H / 2, W / 2)``)."""
        p = f"Incption{layer}_"
        branches = [getattr(self, p + "conv1")(x)]
        for b in (2, 3, 4):
            branches.append(getattr(self, f"{p}conv{b}_2")(getattr(self, f"{p}conv{b}_1")(x)))
        return F.max_pool2d(getattr(self, p + "bn")(torch.cat(branches, 1)), 2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Flat features ``(N, 1024)`` of normalised crops ``(N, 3, 256, 256)``."""
        x = self.inception(self.inception(x, 1), 2)
        x = F.max_pool2d(self.bn1(F.relu(self.conv1(x))), 2)
        x = F.max_pool2d(self.bn1(F.relu(self.conv2(x))), 4)
        return torch.flatten(x, 1)


class Meso4Detector(DFBDetector):
    """DeepfakeBench's Meso4 as a detector: crops ``(N, 3, 256, 256)`` RGB in [0, 1] -> fake
    logits ``(N,)`` (normalised with mean = std = 0.5 inside; 256 px only)."""

    def __init__(self) -> None:
        super().__init__(MESO4)
        self.backbone = Meso4(num_classes=2)

    def class_scores(self, x: torch.Tensor) -> torch.Tensor:
        """``backbone(x)`` ``(N, 2)``."""
        return self.backbone(x)


class Meso4InceptionDetector(DFBDetector):
    """DeepfakeBench's MesoInception4 as a detector: crops ``(N, 3, 256, 256)`` RGB in
    [0, 1] -> fake logits ``(N,)`` (normalised with mean = std = 0.5 inside; 256 px only)."""

    def __init__(self) -> None:
        super().__init__(MESO4_INCEPTION)
        self.backbone = MesoInception4(num_classes=2)

    def class_scores(self, x: torch.Tensor) -> torch.Tensor:
        """``backbone(x)`` ``(N, 2)``."""
        return self.backbone(x)


register_published(MESO4, Meso4Detector)
register_published(MESO4_INCEPTION, Meso4InceptionDetector)
