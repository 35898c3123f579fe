"""DeepfakeBench's F3-Net: ``dfb_f3net`` (``F3netDetector``, DeepfakeBench
``training/detectors/f3net_detector.py`` at 8a4a7bf).

DeepfakeBench keeps only F3-Net's frequency-aware decomposition (FAD) branch, as the
reference implementation yyk-wew/F3Net does: the crop is taken to the 2-D DCT domain
(``D @ x @ D^T`` with the orthonormal DCT-II matrix ``D``, 256 x 256), multiplied by four
band filters (low, middle, high, all frequencies by ``i + j``; each a fixed 0/1 mask
``base`` plus a learnable ``2 * sigmoid(learnable) - 1``), taken back (``D^T @ . @ D``)
and concatenated: 4 x 3 = 12 channels into DeepfakeBench's Xception (12-channel conv1,
dropout 0.5 before ``last_linear``). The DCT matrices and masks are frozen parameters, so
they are checkpoint entries (``FAD_head._DCT_all``, ``_DCT_all_T``, ``filters.<b>.base``);
this module computes the same values at construction. The filters are 256 x 256, so the
network takes 256 px crops only.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from forgebench.detectors.deepfakebench._base import DFBDetector, PublishedCfg, register_published
from forgebench.detectors.deepfakebench._xception import Xception

__all__ = ["F3NET", "dct_matrix", "band_mask", "DCTBandFilter", "FADHead", "F3netDetector"]

F3NET = PublishedCfg(
    name="f3net",
    detector_class="F3netDetector (training/detectors/f3net_detector.py)",
    paper="Qian et al., Thinking in Frequency: Face Forgery Detection by Mining Frequency-aware Clues, ECCV 2020",
    fixed_size=True,
    notes="only the FAD branch (DCT band filters -> 12 channels) into DeepfakeBench's Xception with a 12-channel "
    "conv1, without the paper's LFS branch and MixBlock fusion; backbone.adjust_channel is stored but unused",
    unused=("backbone.adjust_channel",),
)


def dct_matrix(size: int) -> torch.Tensor:
    """Orthonormal DCT-II matrix ``(size, size)`` float32:
    ``m[i, j] = c_i * cos((j + 0.5) * pi * i / size)``, ``c_0 = sqrt(1 / size)``, else ``sqrt(2 / size)``
    (DeepfakeBench's ``DCT_mat``, computed in float64)."""
    i = torch.arange(size, dtype=torch.float64).unsqueeze(1)
    j = torch.arange(size, dtype=torch.float64).unsqueeze(0)
    scale = torch.full((size, 1), math.sqrt(2.0 / size), dtype=torch.float64)
    scale[0] = math.sqrt(1.0 / size)
    return (scale * torch.cos((j + 0.5) * math.pi * i / size)).float()


def band_mask(start: float, end: float, size: int) -> torch.Tensor:
    """``(size, size)`` float32 mask, 1 where ``start <= i + j <= end`` else 0
    (DeepfakeBench's ``generate_filter``)."""
    idx = torch.arange(size)
    diag = idx.unsqueeze(1) + idx.unsqueeze(0)
    return ((diag >= start) & (diag <= end)).float()


class DCTBandFilter(nn.Module):
    """One FAD band filter (DeepfakeBench's ``Filter`` with ``use_learnable=True,
    norm=False``): ``x * (base + 2 * sigmoid(learnable) - 1)`` on DCT coefficients
    ``(..., size, size)``; ``base`` is a frozen parameter (a checkpoint entry).

    Args:
        size: the DCT side (the crop side).
        start, end: the band, inclusive bounds on ``i + j``.
    """

    def __init__(self, size: int, start: float, end: float) -> None:
        super().__init__()
        self.base = nn.Parameter(band_mask(start, end, size), requires_grad=False)
        self.learnable = nn.Parameter(torch.empty(size, size).normal_(0.0, 0.1))

    def weight(self) -> torch.Tensor:
        """The filter ``(size, size)``: ``base + 2 * sigmoid(learnable) - 1``."""
        return self.base + (2.0 * torch.sigmoid(self.learnable) - 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """DCT coefficients ``(..., size, size)`` -> filtered, same shape."""
        return x * self.weight()


class FADHead(nn.Module):
    """F3-Net's frequency-aware decomposition (DeepfakeBench's ``FAD_Head``): RGB
    ``(N, 3, size, size)`` -> 12 band images ``(N, 12, size, size)`` (channels 3b..3b+2
    from band b: low ``[0, size // 2.82]``, middle ``[size // 2.82, size // 2]``, high
    ``[size // 2, 2 size]``, all ``[0, 2 size]``).

    Args:
        size: the input side (DeepfakeBench's ``resolution``, 256).
    """

    def __init__(self, size: int = 256) -> None:
        super().__init__()
        dct = dct_matrix(size)
        self._DCT_all = nn.Parameter(dct, requires_grad=False)
        self._DCT_all_T = nn.Parameter(dct.t().contiguous(), requires_grad=False)
        bands = [(0, size // 2.82), (size // 2.82, size // 2), (size // 2, size * 2), (0, size * 2)]
        self.filters = nn.ModuleList([DCTBandFilter(size, start, end) for start, end in bands])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, size, size)`` -> ``(N, 4 C, size, size)``."""
        freq = self._DCT_all @ x @ self._DCT_all_T
        weights = torch.stack([f.weight() for f in self.filters])  # (4, size, size)
        bands = freq.unsqueeze(1) * weights.unsqueeze(1)  # (N, 4, C, size, size)
        out = self._DCT_all_T @ bands @ self._DCT_all
        return out.flatten(1, 2)


class F3netDetector(DFBDetector):
    """DeepfakeBench's F3-Net (FAD branch) as a detector: crops ``(N, 3, 256, 256)`` RGB in
    [0, 1] -> fake logits ``(N,)`` (normalised with mean = std = 0.5 inside)."""

    def __init__(self, cfg: PublishedCfg = F3NET) -> None:
        super().__init__(cfg)
        self.backbone = Xception(num_classes=2, in_chans=12, dropout=0.5)
        self.FAD_head = FADHead(cfg.input_size)
        self.freeze_unused()

    def class_scores(self, x: torch.Tensor) -> torch.Tensor:
        """``backbone(FAD_head(x))`` ``(N, 2)``."""
        return self.backbone(self.FAD_head(x))


register_published(F3NET, F3netDetector)
