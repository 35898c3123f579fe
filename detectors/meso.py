"""MesoNet family: Meso-4 and MesoInception-4 of Afchar et al., "MesoNet: a Compact Facial
Video Forgery Detection Network", WIFS 2018 (arXiv:1809.00888). Written from the paper's
description (architecture figures and the trainable-parameter counts it reports).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from forgebench.detectors._registry import Detector, DetectorCfg, register_detector
from forgebench.errors import DataError

__all__ = ["Meso4", "MesoInception4", "InceptionLayer", "meso4", "mesoinception4"]

PAPER = "Afchar et al., MesoNet: a Compact Facial Video Forgery Detection Network, WIFS 2018"


def _block(c_in: int, c_out: int, kernel: int, pool: int) -> nn.Sequential:
    """Conv (``same`` padding) -> ReLU -> BatchNorm -> MaxPool, as in the paper's Meso-4."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2),
        nn.ReLU(inplace=True),
        nn.BatchNorm2d(c_out),
        nn.MaxPool2d(pool, ceil_mode=True),  # ceil_mode = Keras "same" pooling
    )


def _head(dropout: float) -> nn.Sequential:
    """The MesoNet classifier on an ``(N, 16, 8, 8)`` map: flatten (1024) -> dropout ->
    dense 16 -> LeakyReLU(0.1) -> dropout -> dense 1 (logit), shared by both networks."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(16 * 8 * 8, 16),
        nn.LeakyReLU(0.1),
        nn.Dropout(dropout),
        nn.Linear(16, 1),
    )


def _random_init_note(name: str, pretrained: bool | str) -> str:
    """``pretrained_note`` of a MesoNet (no pretrained weights exist in forgebench).

    Raises:
        DataError: ``pretrained=True``.
    """
    if pretrained is True:
        raise DataError(f"{name}: has no pretrained weights; use pretrained: false")
    return f"{name} has no pretrained weights: random init"


class Meso4(Detector):
    """Meso-4 (Afchar et al. 2018): four conv blocks and a small dense head, ~28k weights.

    Layers: conv 8@3x3, BN, maxpool 2 -> conv 8@5x5, BN, maxpool 2 -> conv 16@5x5, BN,
    maxpool 2 -> conv 16@5x5, BN, maxpool 4 (each conv with ReLU, ``same`` padding) ->
    adaptive average pooling to 8x8 -> flatten (1024) -> dropout 0.5 -> dense 16 ->
    LeakyReLU(0.1) -> dropout 0.5 -> dense 1 (logit; the paper's sigmoid is applied by
    the loss / at inference).

    Input: ``(N, 3, H, W)`` float RGB in [0, 1], ``H, W >= 32`` (paper: 256x256). The
    paper scales pixels to [0, 1] and nothing else, so the normalisation is the identity
    (mean 0, std 1). At 256 px the feature map before the head is exactly 8x8 and the
    adaptive pooling is the identity; other sizes are pooled (or repeated) to 8x8 so the
    dense layer keeps the paper's 1024 inputs. Output: logits ``(N,)``.

    Args:
        dropout: dropout probability of the head (paper: 0.5).
    """

    def __init__(self, dropout: float = 0.5) -> None:
        super().__init__(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), min_input_size=32)
        self.features = nn.Sequential(
            _block(3, 8, 3, 2),
            _block(8, 8, 5, 2),
            _block(8, 16, 5, 2),
            _block(16, 16, 5, 4),
        )
        self.pool = nn.AdaptiveAvgPool2d(8)
        self.head = _head(dropout)

    def forward_features_logits(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` (already normalised) -> logits ``(N, 1)``."""
        return self.head(self.pool(self.features(x)))


class InceptionLayer(nn.Module):
    """MesoInception-4's inception module (Afchar et al. 2018, Fig. 4): four parallel
    branches concatenated along channels, all convolutions ReLU-activated, stride 1,
    ``same`` padding, so the spatial size is kept.

    Branches: ``a`` 1x1 convs | ``b`` 1x1 -> ``b`` 3x3 | ``c`` 1x1 -> ``c`` 3x3 with
    dilation 2 | ``d`` 1x1 -> ``d`` 3x3 with dilation 3.

    Input ``(N, c_in, H, W)``; output ``(N, a + b + c + d, H, W)``.

    Args:
        c_in: input channels.
        a, b, c, d: output channels of the four branches (paper: 1, 4, 4, 2 then 2, 4, 4, 2).
    """

    def __init__(self, c_in: int, a: int, b: int, c: int, d: int) -> None:
        super().__init__()

        def conv(ci: int, co: int, k: int, dilation: int = 1) -> nn.Sequential:
            pad = dilation * (k // 2)  # "same" padding
            return nn.Sequential(nn.Conv2d(ci, co, k, padding=pad, dilation=dilation), nn.ReLU(inplace=True))

        self.branch1 = conv(c_in, a, 1)
        self.branch2 = nn.Sequential(conv(c_in, b, 1), conv(b, b, 3))
        self.branch3 = nn.Sequential(conv(c_in, c, 1), conv(c, c, 3, dilation=2))
        self.branch4 = nn.Sequential(conv(c_in, d, 1), conv(d, d, 3, dilation=3))
        self.out_channels = a + b + c + d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, c_in, H, W)`` -> ``(N, a + b + c + d, H, W)``."""
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class MesoInception4(Detector):
    """MesoInception-4 (Afchar et al. 2018): Meso-4 with its first two convolutions
    replaced by inception modules with dilated 3x3 branches; 28,615 trainable weights at
    256x256 px, the count the paper reports.

    Layers: inception(1, 4, 4, 2) (11 channels), BN, maxpool 2 -> inception(2, 4, 4, 2)
    (12 channels), BN, maxpool 2 -> conv 16@5x5 + ReLU, BN, maxpool 2 -> conv 16@5x5 +
    ReLU, BN, maxpool 4 -> adaptive average pooling to 8x8 -> the Meso-4 head (flatten
    1024, dropout 0.5, dense 16, LeakyReLU(0.1), dropout 0.5, dense 1 -> logit; the
    paper's sigmoid is applied by the loss / at inference).

    Input: ``(N, 3, H, W)`` float RGB in [0, 1], ``H, W >= 32`` (paper: 256x256), not
    normalised further (mean 0, std 1), as the paper. At 256 px the map before the head
    is exactly 8x8; other sizes are pooled (or repeated) to 8x8 as in :class:`Meso4`.
    Output: logits ``(N,)``.

    Args:
        dropout: dropout probability of the head (paper: 0.5).
    """

    def __init__(self, dropout: float = 0.5) -> None:
        super().__init__(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), min_input_size=32)
        inc1 = InceptionLayer(3, 1, 4, 4, 2)
        inc2 = InceptionLayer(inc1.out_channels, 2, 4, 4, 2)
        self.features = nn.Sequential(
            inc1,
            nn.BatchNorm2d(inc1.out_channels),
            nn.MaxPool2d(2, ceil_mode=True),
            inc2,
            nn.BatchNorm2d(inc2.out_channels),
            nn.MaxPool2d(2, ceil_mode=True),
            _block(inc2.out_channels, 16, 5, 2),
            _block(16, 16, 5, 4),
        )
        self.pool = nn.AdaptiveAvgPool2d(8)
        self.head = _head(dropout)

    def forward_features_logits(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` (already normalised) -> logits ``(N, 1)``."""
        return self.head(self.pool(self.features(x)))


def _register_mesonet(name: str, cls: type[Detector]) -> Callable[..., Detector]:
    """Register MesoNet ``cls`` as detector ``name``: 256 px, inputs in [0, 1] unnormalised,
    AdamW lr 1e-3. The factory ``name(pretrained=False, dropout=0.5)`` builds
    ``cls(dropout=dropout)`` (config: ``detectors.<name>.model_kwargs.dropout``) with random
    init, recorded in ``pretrained_note``; ``pretrained=True`` raises :class:`DataError` (no
    pretrained MesoNet weights exist in forgebench; :func:`forgebench.detectors.create_detector`
    passes ``False`` for it, origin ``none``)."""

    def factory(pretrained: bool | str = False, dropout: float = 0.5) -> Detector:
        note = _random_init_note(name, pretrained)
        model = cls(dropout=dropout)
        model.pretrained_note = note
        return model

    factory.__name__ = name
    factory.__doc__ = f"{cls.__name__} with random init (see :func:`_register_mesonet`)."
    cfg = DetectorCfg(
        name=name,
        input_size=256,
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        min_input_size=32,
        lr=1e-3,
        paper=PAPER,
        pretrained_source="",
    )
    return register_detector(factory, name=name, default_cfg=cfg)


meso4 = _register_mesonet("meso4", Meso4)
mesoinception4 = _register_mesonet("mesoinception4", MesoInception4)
