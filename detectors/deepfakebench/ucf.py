"""DeepfakeBench's UCF detector: ``dfb_ucf`` (Yan et al., ICCV 2023).

DeepfakeBench ``training/detectors/ucf_detector.py`` at 8a4a7bf (``training/config/detector/
ucf.yaml``: ``encoder_feat_dim`` 512, four training sets, so five specific classes). Two
DeepfakeBench Xceptions (:mod:`._xception`) in mode ``adjust_channel`` (512-channel 8x8
features): ``encoder_f`` (forgery) and ``encoder_c`` (content); the forgery features are
split by two stacks of 1x1 convs into specific (``block_spe``) and common (``block_sha``)
parts, each read by an MLP head (``head_spe``: 5 forgery methods, ``head_sha``: real/fake);
the conditional U-Net ``con_gan`` reconstructs images from forgery + content features for
the training losses.

At inference (``forward(inference=True)``) DeepfakeBench's ``cls`` is ``head_sha(block_sha(
encoder_f.features(x)))``; ``encoder_c`` and ``head_spe`` run there but do not affect it and
are not run here; ``con_gan`` and both ``last_linear`` are never used at inference.
Training under forgebench is plain binary classification through this same common branch
(``encoder_f`` -> ``block_sha`` -> ``head_sha``); UCF's paired-batch training (feature
shuffling, specific-class, reconstruction and contrastive losses) is not reproduced.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from forgebench.detectors.deepfakebench._base import DFBDetector, PublishedCfg, register_published
from forgebench.detectors.deepfakebench._xception import Xception

__all__ = ["UCF", "ConditionalUNet", "Conv1x1Stack", "Head", "UCFDetector"]

UCF = PublishedCfg(
    name="ucf",
    detector_class="UCFDetector (training/detectors/ucf_detector.py)",
    paper="Yan et al., UCF: Uncovering Common Features for Generalizable Deepfake Detection, ICCV 2023",
    notes="inference and forgebench training use only the common-feature branch (encoder_f -> block_sha -> "
    "head_sha); the content encoder, specific branch and reconstruction U-Net are stored but unused",
    unused=("encoder_f.last_linear", "encoder_c", "con_gan", "head_spe", "block_spe"),
)


class ConditionalUNet(nn.Module):
    """The parameter layers of UCF's reconstruction decoder (DeepfakeBench's
    ``Conditional_UNet``): ``dconv_up3`` (512 -> 256), ``dconv_up2`` (256 -> 128), ``dconv_up1``
    (128 -> 64), each ``Sequential(conv 3x3, ReLU, conv 3x3, ReLU)``, and ``conv_last`` (1x1,
    64 -> 3). Only UCF's training losses use it; it is built so the checkpoint loads and is
    never run (no forward)."""

    def __init__(self) -> None:
        super().__init__()
        self.dconv_up3 = self._double_conv(512, 256)
        self.dconv_up2 = self._double_conv(256, 128)
        self.dconv_up1 = self._double_conv(128, 64)
        self.conv_last = nn.Conv2d(64, 3, 1)

    @staticmethod
    def _double_conv(c_in: int, c_out: int) -> nn.Sequential:
        """DeepfakeBench's ``r_double_conv``: conv 3x3, ReLU, conv 3x3, ReLU (padding 1)."""
        return nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1),
            nn.ReLU(inplace=True),
        )


class Conv1x1Stack(nn.Module):
    """UCF's ``Conv2d1x1``: 1x1 conv (``c_in`` -> ``hidden``), LeakyReLU(0.01), 1x1 conv, LeakyReLU,
    1x1 conv (-> ``c_out``), all with bias, in ``conv2d``: ``(N, c_in, H, W)`` -> ``(N, c_out, H, W)``."""

    def __init__(self, c_in: int, hidden: int, c_out: int) -> None:
        super().__init__()
        self.conv2d = nn.Sequential(
            nn.Conv2d(c_in, hidden, 1),
            nn.LeakyReLU(),
            nn.Conv2d(hidden, hidden, 1),
            nn.LeakyReLU(),
            nn.Conv2d(hidden, c_out, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, c_in, H, W)`` -> ``(N, c_out, H, W)``."""
        return self.conv2d(x)


class Head(nn.Module):
    """UCF's ``Head``: global average pool -> Linear(``c_in``, ``hidden``) -> LeakyReLU(0.01) ->
    Linear(``hidden``, ``num_classes``) (``mlp``) -> Dropout(0.2) (on the logits, training only):
    ``(N, c_in, H, W)`` -> ``(N, num_classes)``."""

    def __init__(self, c_in: int, hidden: int, num_classes: int) -> None:
        super().__init__()
        self.do = nn.Dropout(0.2)
        self.mlp = nn.Sequential(nn.Linear(c_in, hidden), nn.LeakyReLU(), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)``."""
        return self.do(self.mlp(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)))


class UCFDetector(DFBDetector):
    """DeepfakeBench's UCF: crops ``(N, 3, 256, 256)`` RGB in [0, 1] -> fake logits ``(N,)``
    (normalised with mean = std = 0.5 inside), from the common-feature branch.

    Args:
        cfg: the detector's metadata (:data:`UCF`).
        feat_dim: the encoders' output channels (DeepfakeBench's ``encoder_feat_dim``, 512).
        num_specific: classes of ``head_spe`` (training sets + 1; 5 in the released model).
    """

    def __init__(self, cfg: PublishedCfg = UCF, feat_dim: int = 512, num_specific: int = 5) -> None:
        super().__init__(cfg)
        half = feat_dim // 2
        self.encoder_f = Xception(num_classes=2, mode="adjust_channel")
        self.encoder_c = Xception(num_classes=2, mode="adjust_channel")
        self.con_gan = ConditionalUNet()
        self.head_spe = Head(half, feat_dim, num_specific)
        self.head_sha = Head(half, feat_dim, 2)
        self.block_spe = Conv1x1Stack(feat_dim, half, half)
        self.block_sha = Conv1x1Stack(feat_dim, half, half)
        self.freeze_unused()

    def class_scores(self, x: torch.Tensor) -> torch.Tensor:
        """``head_sha(block_sha(encoder_f.features(x)))``: DeepfakeBench's ``cls`` ``(N, 2)``."""
        return self.head_sha(self.block_sha(self.encoder_f.features(x)))


register_published(UCF, UCFDetector)
