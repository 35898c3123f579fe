"""Frequency-domain detectors: fixed high-pass (noise-residual) filters in front of a CNN.

``srm_cnn``: the three SRM kernels of Zhou et al., "Learning Rich Features for Image
Manipulation Detection", CVPR 2018 (the SRM layer of their noise stream), taken from the
spatial rich model of Fridrich & Kodovsky, "Rich Models for Steganalysis of Digital
Images", IEEE TIFS 2012, applied as in the ``SRMConv2d_simple`` layer of Luo et al.,
"Generalizing Face Forgery Detection with High-frequency Features", CVPR 2021 (each
kernel summed over the RGB channels, zero padding, output truncated to [-3, 3]), followed
by a small CNN written here. Written from the papers' descriptions.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from forgebench.detectors._registry import Detector, DetectorCfg, register_detector
from forgebench.errors import DataError

__all__ = ["SRM_KERNELS", "srm_kernels", "SRMFilter", "SrmCnn", "srm_cnn"]

PAPER = (
    "SRM noise residuals (3 kernels) of Zhou et al., Learning Rich Features for Image Manipulation Detection, "
    "CVPR 2018, from Fridrich & Kodovsky, Rich Models for Steganalysis of Digital Images, TIFS 2012, as the "
    "SRM layer of Luo et al., Generalizing Face Forgery Detection with High-frequency Features, CVPR 2021; "
    "small CNN of forgebench"
)

# (name, integer 5x5 kernel, divisor q): the kernel used is kernel / q.
SRM_KERNELS: tuple[tuple[str, tuple[tuple[int, ...], ...], float], ...] = (
    (  # 3x3 "KB" second-order kernel (SRM class 3x3), centred in 5x5
        "KB 3x3 / 4",
        ((0, 0, 0, 0, 0), (0, -1, 2, -1, 0), (0, 2, -4, 2, 0), (0, -1, 2, -1, 0), (0, 0, 0, 0, 0)),
        4.0,
    ),
    (  # 5x5 "KV" kernel (SRM class 5x5)
        "KV 5x5 / 12",
        ((-1, 2, -2, 2, -1), (2, -6, 8, -6, 2), (-2, 8, -12, 8, -2), (2, -6, 8, -6, 2), (-1, 2, -2, 2, -1)),
        12.0,
    ),
    (  # horizontal second-order residual (SRM class 2nd), centred in 5x5
        "2nd-order horizontal / 2",
        ((0, 0, 0, 0, 0), (0, 0, 0, 0, 0), (0, 1, -2, 1, 0), (0, 0, 0, 0, 0), (0, 0, 0, 0, 0)),
        2.0,
    ),
)


def srm_kernels(in_channels: int = 3) -> torch.Tensor:
    """The three SRM high-pass kernels as a convolution weight.

    Kernel k (see :data:`SRM_KERNELS`: KB 3x3 / 4, KV 5x5 / 12, horizontal second order
    / 2, each zero-padded to 5x5) is repeated over the input channels, so output channel
    k is the sum over RGB of kernel k applied to each channel (Zhou et al. 2018; Luo et
    al. 2021's ``SRMConv2d_simple``). Every kernel sums to 0: a constant image gives 0.

    Args:
        in_channels: number of input channels (>= 1).

    Returns:
        float32 tensor ``(3, in_channels, 5, 5)``, dimensionless coefficients.

    Raises:
        ValueError: ``in_channels < 1``.
    """
    if in_channels < 1:
        raise ValueError(f"in_channels must be >= 1, got {in_channels}")
    k = torch.tensor([kernel for _, kernel, _ in SRM_KERNELS], dtype=torch.float32)
    q = torch.tensor([q for _, _, q in SRM_KERNELS], dtype=torch.float32).view(3, 1, 1)
    return (k / q).unsqueeze(1).repeat(1, in_channels, 1, 1)


class SRMFilter(nn.Module):
    """Fixed (not trained) SRM noise-residual layer: 5x5 convolution with
    :func:`srm_kernels`, stride 1, zero padding 2, then truncation to
    ``[-truncation, truncation]`` (Luo et al. 2021: ``Hardtanh(-3, 3)``).

    Input ``(N, C, H, W)`` float (the detector feeds RGB mapped to [-1, 1]); output
    ``(N, 3, H, W)`` residuals in the input's units, in ``[-truncation, truncation]``.
    The kernels are a non-persistent buffer: they are constants of this code, not
    weights, and are not in the state dict.

    Args:
        in_channels: input channels.
        truncation: truncation threshold ``T > 0`` in input units.

    Raises:
        ValueError: ``truncation <= 0`` or ``in_channels < 1``.
    """

    def __init__(self, in_channels: int = 3, truncation: float = 3.0) -> None:
        super().__init__()
        if truncation <= 0:
            raise ValueError(f"truncation must be > 0, got {truncation}")
        self.register_buffer("weight", srm_kernels(in_channels), persistent=False)
        self.truncation = float(truncation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` -> truncated residuals ``(N, 3, H, W)``."""
        out = F.conv2d(x, self.weight.to(x.dtype), stride=1, padding=2)
        return out.clamp(-self.truncation, self.truncation)


def _conv_bn(c_in: int, c_out: int, pool: bool) -> nn.Sequential:
    """3x3 conv (``same`` padding, no bias) -> BatchNorm -> ReLU [-> MaxPool 2]."""
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2, ceil_mode=True))
    return nn.Sequential(*layers)


class SrmCnn(Detector):
    """SRM residuals -> small CNN -> one logit (the noise stream of Zhou et al. 2018,
    SRM layer as Luo et al. 2021, with a small CNN in place of their ResNet / Xception).

    Front end (fixed): RGB mapped to [-1, 1] (mean = std = 0.5), :class:`SRMFilter`
    (KB 3x3 / 4, KV 5x5 / 12, horizontal second order / 2, each summed over RGB,
    truncated to [-3, 3]) -> 3 residual maps at full resolution. CNN (trained, written
    here): conv 16 -> conv 32, pool -> conv 64, pool -> conv 128, pool -> conv 128, pool
    (each 3x3 conv + BN + ReLU; pools are 2x2 max) -> global average pooling -> dropout ->
    dense 1 (logit). 245,521 trained weights; the 4 pools divide the side by 16.

    Input: ``(N, 3, H, W)`` float RGB in [0, 1], ``H, W >= 32`` (default 256x256).
    Output: logits ``(N,)``.

    Args:
        dropout: dropout probability before the dense layer.
        truncation: SRM truncation threshold in [-1, 1]-scaled units (Luo et al.: 3).
    """

    def __init__(self, dropout: float = 0.5, truncation: float = 3.0) -> None:
        super().__init__(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), min_input_size=32)
        self.srm = SRMFilter(3, truncation)
        self.features = nn.Sequential(
            _conv_bn(3, 16, pool=False),
            _conv_bn(16, 32, pool=True),
            _conv_bn(32, 64, pool=True),
            _conv_bn(64, 128, pool=True),
            _conv_bn(128, 128, pool=True),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(128, 1))

    def forward_features_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised ``(N, 3, H, W)`` in [-1, 1] -> logits ``(N, 1)``."""
        return self.head(self.features(self.srm(x)))


@register_detector(
    default_cfg=DetectorCfg(
        name="srm_cnn",
        input_size=256,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        min_input_size=32,
        lr=1e-3,
        paper=PAPER,
        pretrained_source="",
    )
)
def srm_cnn(pretrained: bool | str = False, **kwargs: Any) -> SrmCnn:
    """SRM + small CNN (:class:`SrmCnn`) with random init (no pretrained weights exist).

    Args:
        pretrained: ``False`` (random init, recorded in ``pretrained_note``; the registry
            passes ``False`` for it, origin ``none``); ``True`` raises.
        **kwargs: :class:`SrmCnn` arguments (``dropout``, ``truncation``).

    Raises:
        DataError: ``pretrained=True``.
        ValueError: ``truncation <= 0``.
    """
    if pretrained is True:
        raise DataError("srm_cnn: has no pretrained weights; use pretrained: false")
    model = SrmCnn(**kwargs)
    model.pretrained_note = "srm_cnn has no pretrained weights: random init"
    return model
