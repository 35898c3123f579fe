"""EfficientNet-B4 as DeepfakeBench builds it (``training/networks/efficientnetb4.py`` at
8a4a7bf: ``efficientnet_pytorch`` 0.7.1 ``EfficientNet.from_name('efficientnet-b4')`` with its
stem swapped and its ``_fc`` removed), shared by the efficientnetb4 and sbi detectors.

Written from the facts of those files (no efficientnet_pytorch code or dependency); the
state-dict keys are efficientnet_pytorch's (``efficientnet._conv_stem``, ``_bn0``,
``_blocks.<i>._expand_conv`` ..., ``_conv_head``, ``_bn1``) plus DeepfakeBench's
``last_layer``. What differs from a textbook (or timm ``tf_efficientnet_b4``) network:

- the stem is a plain ``Conv2d(3, 48, 3, stride=2, bias=False)`` with **no padding**
  (256 -> 127 px), DeepfakeBench's replacement of efficientnet_pytorch's same-padded stem;
- every other conv is efficientnet_pytorch's "static same padding" conv, whose zero pads
  were computed once for B4's design size of **380** px and stay fixed whatever the input
  size: a stride-1 k x k conv pads k // 2 on each side, and the four stride-2 depthwise
  convs pad (left, right, top, bottom) = ``_blocks.2`` (0, 1, 0, 1), ``_blocks.6``
  (2, 2, 2, 2), ``_blocks.10`` (0, 1, 0, 1), ``_blocks.22`` (1, 2, 1, 2); at 256 px the
  feature map is 1792 x 8 x 8 (a dynamic "same" padding gives other numbers);
- BatchNorm eps 1e-3, momentum 0.01 (efficientnet_pytorch's ``1 - 0.99``); Swish
  (``x * sigmoid(x)``); squeeze-and-excitation on the block's *input* width / 4;
- drop-connect (stochastic depth on the residual branch) only in training, at rate
  ``0.2 * block index / 32`` as DeepfakeBench's ``extract_features`` passes it;
- head: global average pool -> (optional dropout, off in both yamls) -> ``last_layer``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "BlockArgs",
    "round_filters",
    "round_repeats",
    "b4_block_args",
    "StaticSameConv2d",
    "drop_connect",
    "MBConvBlock",
    "EfficientNet",
    "EfficientNetB4",
]

#: efficientnet_pytorch's BatchNorm settings (``batch_norm_momentum=0.99`` in TF convention).
BN_EPS = 1e-3
BN_MOMENTUM = 1 - 0.99
#: EfficientNet-B4's compound-scaling coefficients (Tan and Le, Table/efficientnet_params):
#: width 1.4, depth 1.8, design resolution 380, drop-connect rate 0.2.
B4_WIDTH = 1.4
B4_DEPTH = 1.8
B4_IMAGE_SIZE = 380
B4_DROP_CONNECT = 0.2

# EfficientNet-B0's stages (the paper's Table 1): (repeats, kernel, stride, expand ratio,
# input filters, output filters); every stage has squeeze-and-excitation ratio 0.25.
_B0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_SE_RATIO = 0.25


@dataclass(frozen=True)
class BlockArgs:
    """One MBConv block: ``kernel`` x ``kernel`` depthwise conv of ``stride``, expansion
    ``expand_ratio`` of ``c_in``, output ``c_out`` channels, SE ratio ``se_ratio``."""

    kernel: int
    stride: int
    expand_ratio: int
    c_in: int
    c_out: int
    se_ratio: float = _SE_RATIO


def round_filters(filters: int, width: float = B4_WIDTH, divisor: int = 8) -> int:
    """Channels scaled by ``width``, rounded to a multiple of ``divisor`` and never more than
    10 % below the scaled value (efficientnet_pytorch's ``round_filters``; 32 -> 48 for B4)."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def round_repeats(repeats: int, depth: float = B4_DEPTH) -> int:
    """Blocks of a stage scaled by ``depth``, rounded up (efficientnet_pytorch's ``round_repeats``)."""
    return int(math.ceil(depth * repeats))


def b4_block_args() -> list[BlockArgs]:
    """The 32 MBConv blocks of EfficientNet-B4: B0's stages with widths ``round_filters``
    (x1.4) and repeats ``round_repeats`` (x1.8: 2, 4, 4, 6, 6, 8, 2 blocks); only a stage's
    first block changes width and stride, its repeats map ``c_out -> c_out`` at stride 1."""
    blocks = []
    for repeats, kernel, stride, expand, c_in, c_out in _B0_STAGES:
        c_in, c_out = round_filters(c_in), round_filters(c_out)
        blocks.append(BlockArgs(kernel, stride, expand, c_in, c_out))
        blocks += [BlockArgs(kernel, 1, expand, c_out, c_out)] * (round_repeats(repeats) - 1)
    return blocks


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) zero pads of TF "same" padding along one axis of ``size`` pixels."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class StaticSameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with zero padding fixed at construction as TF "same" padding for a
    ``design_size`` x ``design_size`` input (efficientnet_pytorch's ``Conv2dStaticSamePadding``):
    the pads are applied unchanged to inputs of any size. Symmetric pads use the conv's own
    ``padding``; asymmetric ones (stride 2, even total) an explicit ``F.pad`` (left, right,
    top, bottom) = :attr:`pads`. Keys ``weight`` (and ``bias``) as ``nn.Conv2d``.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        stride: int = 1,
        groups: int = 1,
        bias: bool = False,
        design_size: int = B4_IMAGE_SIZE,
    ) -> None:
        before, after = _same_pads(design_size, kernel, stride)
        symmetric = before == after
        super().__init__(c_in, c_out, kernel, stride, padding=before if symmetric else 0, groups=groups, bias=bias)
        self.pads = (before, after, before, after)
        self._explicit = not symmetric

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, c_in, H, W)`` -> ``(N, c_out, H', W')`` with the fixed pads."""
        if self._explicit:
            x = F.pad(x, self.pads)
        return super().forward(x)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


def drop_connect(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Zero whole samples of the residual branch ``x`` ``(N, C, H, W)`` with probability
    ``rate`` and rescale the others by ``1 / (1 - rate)`` (training only; identity otherwise)."""
    if not training or rate <= 0.0:
        return x
    keep = 1.0 - rate
    mask = torch.floor(keep + torch.rand((x.shape[0], 1, 1, 1), dtype=x.dtype, device=x.device))
    return x / keep * mask


class MBConvBlock(nn.Module):
    """Mobile inverted bottleneck with squeeze-and-excitation (efficientnet_pytorch's
    ``MBConvBlock``): [1x1 expand, BN, Swish] -> depthwise k x k, BN, Swish -> SE (pool, 1x1
    reduce to ``c_in * se_ratio``, Swish, 1x1 expand, sigmoid gate) -> 1x1 project, BN
    (no activation) -> + input when stride 1 and ``c_in == c_out``.

    Keys ``_expand_conv``/``_bn0`` (only when ``expand_ratio != 1``), ``_depthwise_conv``,
    ``_bn1``, ``_se_reduce``, ``_se_expand``, ``_project_conv``, ``_bn2``, in this order.

    Args:
        args: the block's :class:`BlockArgs`.
        design_size: input side (px) at this block for B4's 380 px design, which fixes the
            depthwise conv's padding.
    """

    def __init__(self, args: BlockArgs, design_size: int) -> None:
        super().__init__()
        self.args = args
        mid = args.c_in * args.expand_ratio
        if args.expand_ratio != 1:
            self._expand_conv = StaticSameConv2d(args.c_in, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = StaticSameConv2d(mid, mid, args.kernel, args.stride, groups=mid, design_size=design_size)
        self._bn1 = _bn(mid)
        squeezed = max(1, int(args.c_in * args.se_ratio))
        self._se_reduce = StaticSameConv2d(mid, squeezed, 1, bias=True, design_size=1)
        self._se_expand = StaticSameConv2d(squeezed, mid, 1, bias=True, design_size=1)
        self._project_conv = StaticSameConv2d(mid, args.c_out, 1)
        self._bn2 = _bn(args.c_out)
        self.residual = args.stride == 1 and args.c_in == args.c_out

    def forward(self, inputs: torch.Tensor, drop_connect_rate: float = 0.0) -> torch.Tensor:
        """``(N, c_in, H, W)`` -> ``(N, c_out, H', W')``; ``drop_connect_rate`` acts in
        training on residual blocks only."""
        x = inputs
        if self.args.expand_ratio != 1:
            x = F.silu(self._bn0(self._expand_conv(x)))
        x = F.silu(self._bn1(self._depthwise_conv(x)))
        gate = self._se_expand(F.silu(self._se_reduce(F.adaptive_avg_pool2d(x, 1))))
        x = torch.sigmoid(gate) * x
        x = self._bn2(self._project_conv(x))
        if self.residual:
            x = drop_connect(x, drop_connect_rate, self.training) + inputs
        return x


class EfficientNet(nn.Module):
    """EfficientNet-B4 feature extractor as DeepfakeBench's ``backbone.efficientnet``:
    unpadded stem conv (``_conv_stem``, ``_bn0``, Swish) -> 32 :class:`MBConvBlock` s
    (``_blocks``) -> 1x1 ``_conv_head`` to 1792 channels, ``_bn1``, Swish.
    ``(N, in_chans, H, W)`` -> ``(N, 1792, h, w)`` (8 x 8 at 256 px). ``_fc`` is an
    Identity in DeepfakeBench (no keys) and is not built.

    Args:
        in_chans: input channels of the stem (DeepfakeBench's ``inc``).
        drop_connect_rate: the training-time drop-connect rate of the last block (block ``i``
            of 32 gets ``rate * i / 32``).
    """

    def __init__(self, in_chans: int = 3, drop_connect_rate: float = B4_DROP_CONNECT) -> None:
        super().__init__()
        self.drop_connect_rate = drop_connect_rate
        stem = round_filters(32)
        self._conv_stem = nn.Conv2d(in_chans, stem, 3, stride=2, bias=False)
        self._bn0 = _bn(stem)
        # efficientnet_pytorch fixes each conv's padding from the design size it tracks:
        # ceil(380 / 2) = 190 after its (same-padded) stem, halved by every stride-2 block.
        size = math.ceil(B4_IMAGE_SIZE / 2)
        blocks = []
        for args in b4_block_args():
            blocks.append(MBConvBlock(args, size))
            size = math.ceil(size / args.stride)
        self._blocks = nn.ModuleList(blocks)
        c_last = blocks[-1].args.c_out
        self.num_features = round_filters(1280)
        self._conv_head = StaticSameConv2d(c_last, self.num_features, 1, design_size=size)
        self._bn1 = _bn(self.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(N, 1792, h, w)`` (efficientnet_pytorch's ``extract_features``)."""
        x = F.silu(self._bn0(self._conv_stem(x)))
        n = len(self._blocks)
        for i, block in enumerate(self._blocks):
            x = block(x, self.drop_connect_rate * i / n)
        return F.silu(self._bn1(self._conv_head(x)))


class EfficientNetB4(nn.Module):
    """DeepfakeBench's ``EfficientNetB4`` backbone (mode ``original``): ``efficientnet``
    features -> global average pool -> (dropout) -> ``last_layer`` Linear(1792, num_classes).

    Args:
        num_classes: outputs of ``last_layer`` (2; 3 for sbi).
        in_chans: input channels (DeepfakeBench's ``inc``).
        dropout: dropout probability before ``last_layer`` (``dropout_layer``, no keys);
            0 = none, as in both DeepfakeBench yamls.
    """

    def __init__(self, num_classes: int = 2, in_chans: int = 3, dropout: float = 0.0) -> None:
        super().__init__()
        self.efficientnet = EfficientNet(in_chans)
        self.dropout_layer = nn.Dropout(dropout) if dropout else nn.Identity()
        self.last_layer = nn.Linear(self.efficientnet.num_features, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_chans, H, W)`` -> ``(N, 1792, h, w)``."""
        return self.efficientnet(x)

    def classifier(self, features: torch.Tensor) -> torch.Tensor:
        """Global average pool -> (dropout) -> ``last_layer``: ``(N, 1792, h, w)`` -> ``(N, num_classes)``."""
        return self.last_layer(self.dropout_layer(torch.flatten(F.adaptive_avg_pool2d(features, 1), 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``(N, num_classes)``."""
        return self.classifier(self.features(x))
