"""DeepfakeBench's Xception backbone (``training/networks/xception.py`` at 8a4a7bf, itself
from FaceForensics++'s ``classification/network/xception.py``), shared by the xception, fwa,
core, ffd, f3net, spsl, srm, ucf and recce detectors.

Written from the facts of DeepfakeBench's file: conv1 (3x3, stride 2) and conv2 (3x3) have
**no padding** (256 -> 127 -> 125 px); in a block that starts with a ReLU the first ReLU is
not in place, so the shortcut adds the un-activated input; every BatchNorm has eps 1e-5;
the features end at ``bn4`` without ReLU and the classifier is ReLU -> global average pool
-> ``last_linear`` (or, in mode ``adjust_channel``, the 1x1 conv ``adjust_channel`` -> BN ->
ReLU gives 512 channels and the classifier pools them without another ReLU).
``adjust_channel`` exists in every mode, so every checkpoint holds it. timm's
``legacy_xception`` has the same body (recce's encoder uses it) but another head (``fc``,
ReLU inside the features), no ``adjust_channel`` and no partial forwards, which the f3net,
spsl, ffd, srm and ucf detectors need; hence this module.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SeparableConv2d", "XceptionBlock", "Xception"]


class SeparableConv2d(nn.Module):
    """Depthwise ``kernel`` x ``kernel`` conv (``conv1``) then pointwise 1x1 conv
    (``pointwise``), no biases."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_in, kernel, stride, padding, groups=c_in, bias=False)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, c_in, H, W)`` -> ``(N, c_out, H', W')``."""
        return self.pointwise(self.conv1(x))


class XceptionBlock(nn.Module):
    """Residual block of ``reps`` (ReLU, separable 3x3 conv, BN) units, a 3x3 max-pool of
    ``stride`` when ``stride > 1``, and a 1x1 conv + BN shortcut when the shape changes.

    ``rep`` is one ``nn.Sequential`` holding the ReLUs too, so its indices (and the state
    dict keys ``rep.<i>``) are DeepfakeBench's: with ``start_with_relu=False`` the first ReLU
    is dropped; ``grow_first`` puts the channel change in the first (else last) unit.
    """

    def __init__(
        self, c_in: int, c_out: int, reps: int, stride: int = 1, start_with_relu: bool = True, grow_first: bool = True
    ) -> None:
        super().__init__()
        if c_out != c_in or stride != 1:
            self.skip = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
            self.skipbn = nn.BatchNorm2d(c_out)
        else:
            self.skip = None
        widths = (
            [(c_in, c_out)] + [(c_out, c_out)] * (reps - 1)
            if grow_first
            else [(c_in, c_in)] * (reps - 1) + [(c_in, c_out)]
        )
        layers: list[nn.Module] = []
        for a, b in widths:
            layers += [nn.ReLU(inplace=True), SeparableConv2d(a, b, 3, 1, 1), nn.BatchNorm2d(b)]
        if start_with_relu:
            layers[0] = nn.ReLU(inplace=False)  # the shortcut reads the un-activated input
        else:
            layers = layers[1:]
        if stride != 1:
            layers.append(nn.MaxPool2d(3, stride, 1))
        self.rep = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, c_in, H, W)`` -> ``(N, c_out, H / stride, W / stride)``."""
        skip = self.skipbn(self.skip(x)) if self.skip is not None else x
        return self.rep(x) + skip


class Xception(nn.Module):
    """DeepfakeBench's Xception on normalised input ``(N, in_chans, H, W)``.

    Args:
        num_classes: outputs of ``last_linear``.
        in_chans: input channels of ``conv1`` (3; 12 for f3net, 4 for spsl).
        mode: ``"original"`` (features end at ``bn4``, 2048 channels) or
            ``"adjust_channel"`` (then ``adjust_channel``: 512 channels, as UCF uses it).
        dropout: dropout before ``last_linear`` (``last_linear`` becomes ``Sequential(Dropout,
            Linear)``, keys ``last_linear.1.*``), 0 = none.
    """

    def __init__(self, num_classes: int = 2, in_chans: int = 3, mode: str = "original", dropout: float = 0.0) -> None:
        super().__init__()
        if mode not in ("original", "adjust_channel"):
            raise ValueError(f"Xception mode must be 'original' or 'adjust_channel', got {mode!r}")
        self.mode = mode
        self.conv1 = nn.Conv2d(in_chans, 32, 3, 2, 0, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(32, 64, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.block1 = XceptionBlock(64, 128, 2, 2, start_with_relu=False)
        self.block2 = XceptionBlock(128, 256, 2, 2)
        self.block3 = XceptionBlock(256, 728, 2, 2)
        for i in range(4, 12):
            setattr(self, f"block{i}", XceptionBlock(728, 728, 3, 1))
        self.block12 = XceptionBlock(728, 1024, 2, 2, grow_first=False)
        self.conv3 = SeparableConv2d(1024, 1536, 3, 1, 1)
        self.bn3 = nn.BatchNorm2d(1536)
        self.conv4 = SeparableConv2d(1536, 2048, 3, 1, 1)
        self.bn4 = nn.BatchNorm2d(2048)
        linear = nn.Linear(2048, num_classes)
        self.last_linear = nn.Sequential(nn.Dropout(dropout), linear) if dropout else linear
        self.adjust_channel = nn.Sequential(nn.Conv2d(2048, 512, 1, 1), nn.BatchNorm2d(512), nn.ReLU(inplace=False))

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """conv1, bn1, ReLU, conv2, bn2, ReLU: ``(N, in_chans, 256, 256)`` -> ``(N, 64, 125, 125)``."""
        return self.stem_conv2(self.stem_conv1(x))

    def stem_conv1(self, x: torch.Tensor) -> torch.Tensor:
        """conv1, bn1, ReLU (DeepfakeBench's ``fea_part1_0``): -> ``(N, 32, 127, 127)`` at 256 px."""
        return self.relu(self.bn1(self.conv1(x)))

    def stem_conv2(self, x: torch.Tensor) -> torch.Tensor:
        """conv2, bn2, ReLU (DeepfakeBench's ``fea_part1_1``): ``(N, 32, 127, 127)`` -> ``(N, 64, 125, 125)``."""
        return self.relu(self.bn2(self.conv2(x)))

    def entry_flow(self, x: torch.Tensor) -> torch.Tensor:
        """block1..3 (DeepfakeBench's ``fea_part2``): -> ``(N, 728, 16, 16)`` at 256 px."""
        return self.block3(self.block2(self.block1(x)))

    def middle_flow(self, x: torch.Tensor, last: int = 11, first: int = 4) -> torch.Tensor:
        """block``first``..``last`` (DeepfakeBench's ``fea_part3`` is 4..7, ``fea_part4`` 8..11
        plus block12)."""
        for i in range(first, last + 1):
            x = getattr(self, f"block{i}")(x)
        return x

    def exit_flow(self, x: torch.Tensor) -> torch.Tensor:
        """block12, conv3, bn3, ReLU, conv4, bn4 (no ReLU): -> ``(N, 2048, 8, 8)`` at 256 px."""
        x = self.block12(x)
        x = self.relu(self.bn3(self.conv3(x)))
        return self.bn4(self.conv4(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The whole feature extractor (``adjust_channel`` applied in that mode)."""
        x = self.exit_flow(self.middle_flow(self.entry_flow(self.stem(x))))
        return self.adjust_channel(x) if self.mode == "adjust_channel" else x

    def classifier(self, features: torch.Tensor) -> torch.Tensor:
        """(ReLU unless ``adjust_channel``) -> global average pool -> ``last_linear``:
        ``(N, C, h, w)`` -> ``(N, num_classes)``."""
        x = features if self.mode == "adjust_channel" else F.relu(features)
        return self.last_linear(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``(N, num_classes)``."""
        return self.classifier(self.features(x))
