"""MesoNet family: Meso-4 of Afchar et al., "MesoNet: a Compact Facial Video Forgery
Detection Network", WIFS 2018 (arXiv:1809.00888). Written from the paper's description.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from forgebench.errors import DataError
from forgebench.detectors.registry import Detector, DetectorCfg, register_detector

__all__ = ["Meso4", "meso4"]

PAPER = "Afchar et al., MesoNet: a Compact Facial Video Forgery Detection Network, WIFS 2018"


def _block(c_in: int, c_out: int, kernel: int, pool: int) -> nn.Sequential:
    """Conv (``same`` padding) -> ReLU -> BatchNorm -> MaxPool, as in the paper's Meso-4."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2),
        nn.ReLU(inplace=True),
        nn.BatchNorm2d(c_out),
        nn.MaxPool2d(pool, ceil_mode=True),  # ceil_mode = Keras "same" pooling
    )


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
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(16 * 8 * 8, 16),
            nn.LeakyReLU(0.1),
            nn.Dropout(dropout),
            nn.Linear(16, 1),
        )

    def forward_features_logits(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` (already normalised) -> logits ``(N, 1)``."""
        return self.head(self.pool(self.features(x)))


@register_detector(
    default_cfg=DetectorCfg(
        name="meso4", input_size=256, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), min_input_size=32,
        lr=1e-3, paper=PAPER, pretrained_source="",
    )
)
def meso4(pretrained: bool | str = False, **kwargs: Any) -> Meso4:
    """Meso-4 with random init (no pretrained weights exist in forgebench).

    Args:
        pretrained: ``False`` or ``"auto"`` (both give random init, recorded in
            ``pretrained_note``); ``True`` raises.
        **kwargs: :class:`Meso4` arguments (``dropout``).

    Raises:
        DataError: ``pretrained=True``.
    """
    if pretrained is True:
        raise DataError("meso4: has no pretrained weights; use pretrained: false or auto")
    model = Meso4(**kwargs)
    model.pretrained_note = "meso4 has no pretrained weights: random init" if pretrained == "auto" else "random init"
    return model
