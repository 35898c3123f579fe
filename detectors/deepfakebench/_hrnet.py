"""DeepfakeBench's HRNet backbone (``training/networks/cls_hrnet.py`` with
``training/config/backbone/cls_hrnet_w48.yaml`` at 8a4a7bf, itself from Microsoft's
HRNet-Image-Classification), the backbone of the facexray detector.

Written from the facts of DeepfakeBench's file: a stride-4 stem (two 3x3 stride-2 convs,
each BN + ReLU), stage 1 = four Bottlenecks (64 -> 256 channels), then stages 2-4 of
multi-resolution modules (BasicBlock branches, fusion by sum: a higher-resolution branch
reaches a lower one through 3x3 stride-2 conv + BN units, ReLU between them but not after
the last; a lower one reaches a higher one through 1x1 conv + BN + nearest upsampling; ReLU
after each sum). Every BatchNorm has DeepfakeBench's ``BN_MOMENTUM`` 0.1 and eps 1e-5 (the
torch defaults); the in-place ReLUs of DeepfakeBench act on fresh tensors only, so they do
not change any result. :meth:`HRNet.features` (what facexray uses) resizes the three lower
branches to the highest one with bilinear ``align_corners=False`` (DeepfakeBench's
``F.upsample(mode='bilinear')``) and concatenates them (48 + 96 + 192 + 384 = 720 channels at
1/4 of the input side). The ImageNet classification head (``incre_modules``,
``downsamp_modules``, ``final_layer``, ``fc``) is built, as DeepfakeBench builds it, and is
available as :meth:`HRNet.imagenet_head`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["StageCfg", "HRNET_W48", "BasicBlock", "Bottleneck", "HRModule", "HRNet"]

#: DeepfakeBench's BatchNorm momentum (cls_hrnet.py ``BN_MOMENTUM``); eps is torch's 1e-5.
BN_MOMENTUM = 0.1


@dataclass(frozen=True)
class StageCfg:
    """One stage of an HRNet (a ``STAGE<k>`` entry of DeepfakeBench's yaml).

    Attributes:
        num_modules: multi-resolution modules in the stage (stage 1: a plain layer, 1).
        block: ``"bottleneck"`` or ``"basic"``.
        num_blocks: residual blocks per branch.
        num_channels: block width per branch (output = width x block expansion).
    """

    num_modules: int
    block: str
    num_blocks: tuple[int, ...]
    num_channels: tuple[int, ...]


#: HRNet-W48 (DeepfakeBench ``config/backbone/cls_hrnet_w48.yaml``; fusion by sum).
HRNET_W48: tuple[StageCfg, ...] = (
    StageCfg(1, "bottleneck", (4,), (64,)),
    StageCfg(1, "basic", (4, 4), (48, 96)),
    StageCfg(4, "basic", (4, 4, 4), (48, 96, 192)),
    StageCfg(3, "basic", (4, 4, 4, 4), (48, 96, 192, 384)),
)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=BN_MOMENTUM)


def _projection(c_in: int, c_out: int, stride: int) -> nn.Sequential | None:
    """1x1 conv + BN shortcut (``downsample``) when the shape changes, else ``None``."""
    if stride == 1 and c_in == c_out:
        return None
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), _bn(c_out))


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN units with a residual shortcut, ReLU after the first unit and after
    the sum: ``(N, c_in, H, W)`` -> ``(N, planes, H / stride, W / stride)``."""

    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, planes, 3, stride, 1, bias=False)
        self.bn1 = _bn(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = _bn(planes)
        self.downsample = _projection(c_in, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block output, ReLU applied."""
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut, inplace=True)


class Bottleneck(nn.Module):
    """1x1 (``planes``), 3x3 (``stride``), 1x1 (``4 * planes``) conv + BN units with a
    residual shortcut: ``(N, c_in, H, W)`` -> ``(N, 4 * planes, H / stride, W / stride)``."""

    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, planes, 1, bias=False)
        self.bn1 = _bn(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = _bn(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = _bn(planes * self.expansion)
        self.downsample = _projection(c_in, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block output, ReLU applied."""
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut, inplace=True)


_BLOCKS: dict[str, type[BasicBlock] | type[Bottleneck]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


def _layer(
    block: type[BasicBlock] | type[Bottleneck], c_in: int, planes: int, blocks: int, stride: int = 1
) -> nn.Sequential:
    """``blocks`` blocks in a row, the first one changing width/stride (DeepfakeBench's
    ``_make_layer``)."""
    layers = [block(c_in, planes, stride)]
    layers += [block(planes * block.expansion, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def _conv_bn(c_in: int, c_out: int, relu: bool, stride: int = 2, bias: bool = False) -> nn.Sequential:
    """3x3 conv (padding 1) + BN (+ ReLU): keys ``0.*`` and ``1.*``."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=bias), _bn(c_out)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class HRModule(nn.Module):
    """One multi-resolution module (DeepfakeBench's ``HighResolutionModule``, multi-scale
    output, fusion by sum): a list of ``num_branches`` tensors ``(N, C_i, H / 2^i, W / 2^i)``
    -> a list of the same shapes.

    ``fuse_layers[i][j]`` brings branch ``j`` to branch ``i``: ``None`` for ``j == i``;
    1x1 conv + BN + nearest upsampling ``2^(j-i)`` for ``j > i``; ``i - j`` 3x3 stride-2
    conv + BN units (ReLU between them, not after the last; width ``C_j`` until the last)
    for ``j < i``.

    Args:
        block: the branches' block type.
        num_blocks: blocks per branch.
        c_in: input channels per branch.
        num_channels: block width per branch.
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        num_blocks: tuple[int, ...],
        c_in: tuple[int, ...],
        num_channels: tuple[int, ...],
    ) -> None:
        super().__init__()
        if not len(num_blocks) == len(c_in) == len(num_channels):
            raise ValueError(
                f"HRModule: branch counts differ: blocks {num_blocks}, inputs {c_in}, widths {num_channels}"
            )
        self.num_branches = len(num_blocks)
        self.branches = nn.ModuleList(_layer(block, c, w, n) for c, w, n in zip(c_in, num_channels, num_blocks))
        self.out_channels = tuple(w * block.expansion for w in num_channels)
        self.fuse_layers = self._fuse_layers(self.out_channels) if self.num_branches > 1 else None

    @staticmethod
    def _fuse_layers(ch: tuple[int, ...]) -> nn.ModuleList:
        rows = []
        for i in range(len(ch)):
            row: list[nn.Module | None] = []
            for j in range(len(ch)):
                if j > i:
                    row.append(
                        nn.Sequential(
                            nn.Conv2d(ch[j], ch[i], 1, bias=False),
                            _bn(ch[i]),
                            nn.Upsample(scale_factor=2 ** (j - i), mode="nearest"),
                        )
                    )
                elif j == i:
                    row.append(None)
                else:
                    steps = [_conv_bn(ch[j], ch[j], relu=True) for _ in range(i - j - 1)]
                    steps.append(_conv_bn(ch[j], ch[i], relu=False))
                    row.append(nn.Sequential(*steps))
            rows.append(nn.ModuleList(row))
        return nn.ModuleList(rows)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Branch outputs, fused (ReLU of each sum)."""
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        if self.fuse_layers is None:
            return xs
        out = []
        for i, row in enumerate(self.fuse_layers):
            y = xs[0] if i == 0 else row[0](xs[0])
            for j in range(1, self.num_branches):
                y = y + (xs[j] if j == i else row[j](xs[j]))
            out.append(F.relu(y))
        return out


class HRNet(nn.Module):
    """DeepfakeBench's HRNet (``HighResolutionNet`` of cls_hrnet.py) on normalised input
    ``(N, 3, H, W)``; :meth:`features` gives ``(N, 720, H / 4, W / 4)`` for W48.

    Submodules in DeepfakeBench's order (so its state-dict keys): ``conv1``, ``bn1``,
    ``conv2``, ``bn2``, ``layer1``, ``transition1``, ``stage2``, ``transition2``, ``stage3``,
    ``transition3``, ``stage4``, then the ImageNet head ``incre_modules``,
    ``downsamp_modules``, ``final_layer``, ``fc``.

    Args:
        stages: the four stages (:data:`HRNET_W48`).
        num_classes: outputs of the ImageNet head's ``fc`` (1000).
    """

    HEAD_CHANNELS = (32, 64, 128, 256)

    def __init__(self, stages: tuple[StageCfg, ...] = HRNET_W48, num_classes: int = 1000) -> None:
        super().__init__()
        if len(stages) != 4 or len(stages[0].num_channels) != 1:
            raise ValueError("HRNet: needs four stages, the first with one branch")
        self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)
        self.bn1 = _bn(64)
        self.conv2 = nn.Conv2d(64, 64, 3, 2, 1, bias=False)
        self.bn2 = _bn(64)
        first = stages[0]
        block = _BLOCKS[first.block]
        self.layer1 = _layer(block, 64, first.num_channels[0], first.num_blocks[0])
        channels: tuple[int, ...] = (first.num_channels[0] * block.expansion,)
        for k, cfg in enumerate(stages[1:], start=1):
            block = _BLOCKS[cfg.block]
            wanted = tuple(w * block.expansion for w in cfg.num_channels)
            setattr(self, f"transition{k}", self._transition(channels, wanted))
            modules = []
            for _ in range(cfg.num_modules):
                modules.append(HRModule(block, cfg.num_blocks, wanted, cfg.num_channels))
                wanted = modules[-1].out_channels
            setattr(self, f"stage{k + 1}", nn.Sequential(*modules))
            channels = wanted
        self.out_channels = sum(channels)
        self.incre_modules, self.downsamp_modules, self.final_layer = self._head(channels)
        self.fc = nn.Linear(2048, num_classes)

    @staticmethod
    def _transition(before: tuple[int, ...], after: tuple[int, ...]) -> nn.ModuleList:
        """Per branch of the next stage: ``None`` (same width), 3x3 conv + BN + ReLU (width
        change) or, for a new branch, stride-2 3x3 conv + BN + ReLU units from the last
        branch (DeepfakeBench's ``_make_transition_layer``)."""
        layers: list[nn.Module | None] = []
        for i, c_out in enumerate(after):
            if i < len(before):
                layers.append(None if before[i] == c_out else _conv_bn(before[i], c_out, relu=True, stride=1))
            else:
                extra = i + 1 - len(before)
                c_last = before[-1]
                layers.append(
                    nn.Sequential(
                        *(_conv_bn(c_last, c_out if s == extra - 1 else c_last, relu=True) for s in range(extra))
                    )
                )
        return nn.ModuleList(layers)

    def _head(self, channels: tuple[int, ...]) -> tuple[nn.ModuleList, nn.ModuleList, nn.Sequential]:
        """The ImageNet head (DeepfakeBench's ``_make_head``): a Bottleneck per branch to
        128/256/512/1024 channels, stride-2 3x3 conv (with bias) + BN + ReLU between them,
        1x1 conv to 2048 + BN + ReLU."""
        widths = self.HEAD_CHANNELS
        e = Bottleneck.expansion
        incre = nn.ModuleList(_layer(Bottleneck, c, w, 1) for c, w in zip(channels, widths))
        down = nn.ModuleList(
            _conv_bn(widths[i] * e, widths[i + 1] * e, relu=True, bias=True) for i in range(len(channels) - 1)
        )
        final = nn.Sequential(nn.Conv2d(widths[-1] * e, 2048, 1), _bn(2048), nn.ReLU(inplace=True))
        return incre, down, final

    @staticmethod
    def _next_inputs(transition: nn.ModuleList, ys: list[torch.Tensor]) -> list[torch.Tensor]:
        """Inputs of the next stage: a new branch starts from the last branch; an existing
        branch passes through (or through its width change)."""
        out = []
        for i, t in enumerate(transition):
            if t is None:
                out.append(ys[i])
            else:
                out.append(t(ys[i] if i < len(ys) else ys[-1]))
        return out

    def branches(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Stem, layer1 and stages 2-4: ``(N, 3, H, W)`` -> four tensors
        ``(N, C_i, H / 2^(i+2), W / 2^(i+2))`` (W48: C = 48, 96, 192, 384)."""
        x = F.relu(self.bn1(self.conv1(x)), inplace=True)
        x = F.relu(self.bn2(self.conv2(x)), inplace=True)
        ys = [self.layer1(x)]
        for k in (1, 2, 3):
            ys = getattr(self, f"stage{k + 1}")(self._next_inputs(getattr(self, f"transition{k}"), ys))
        return ys

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """All branches resized to the first (bilinear, ``align_corners=False``) and
        concatenated: ``(N, 3, H, W)`` -> ``(N, 720, H / 4, W / 4)`` for W48."""
        ys = self.branches(x)
        size = ys[0].shape[2:]
        ups = [F.interpolate(y, size=size, mode="bilinear", align_corners=False) for y in ys[1:]]
        return torch.cat([ys[0], *ups], dim=1)

    def imagenet_head(self, ys: list[torch.Tensor]) -> torch.Tensor:
        """HRNet's ImageNet classifier on :meth:`branches` output -> ``(N, num_classes)``
        (unused by DeepfakeBench's facexray)."""
        y = self.incre_modules[0](ys[0])
        for i, down in enumerate(self.downsamp_modules):
            y = self.incre_modules[i + 1](ys[i + 1]) + down(y)
        y = self.final_layer(y)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`features` ``(N, 720, H / 4, W / 4)``."""
        return self.features(x)
