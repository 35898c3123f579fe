"""DeepfakeBench's SRM detector: ``dfb_srm`` (Luo et al., CVPR 2021).

DeepfakeBench ``training/detectors/srm_detector.py`` at 8a4a7bf (modules by the paper's
authors): two DeepfakeBench Xceptions (:mod:`._xception`, mode ``original``), an RGB stream
``backbone_rgb`` and a high-frequency stream ``backbone_srm`` fed with the image filtered by
three fixed SRM high-pass kernels (``srm_conv0``, truncated to [-3, 3]). After each stem conv
the RGB features, SRM-filtered again per channel (``srm_conv1``/``srm_conv2``, 1x1 conv, BN,
ReLU), are added to the SRM stream; a pixel attention map computed from the SRM image
(``srm_sa``) reweights the RGB stem output as ``x * att + x``; two dual cross-modal attentions
exchange information between the streams after block3 and block7 (their attention Linear is
16 * 16 wide, so the network takes 256 px crops only); the two 2048-channel outputs are fused
(1x1 conv, BN, ReLU, times a channel attention) and read by ``backbone_rgb``'s classifier.

The five fixed kernels are parameters without gradient (``blur.weight`` a buffer), as in
DeepfakeBench, so they are checkpoint entries; they are initialised to the SRM / Gaussian
values, which the released checkpoint holds too. DeepfakeBench also builds a Gaussian noise
layer and the Gaussian blur ``blur`` (applied only in training) but its forward calls
neither, so neither is run here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from forgebench.detectors.deepfakebench._base import DFBDetector, PublishedCfg, register_published
from forgebench.detectors.deepfakebench._xception import Xception

__all__ = [
    "SRM",
    "srm_filters",
    "GaussianBlur",
    "SRMConv2dSimple",
    "SRMConv2dSeparate",
    "SpatialAttention",
    "SRMPixelAttention",
    "DualCrossModalAttention",
    "ChannelAttention",
    "FeatureFusion",
    "SRMDetector",
]

SRM = PublishedCfg(
    name="srm",
    detector_class="SRMDetector (training/detectors/srm_detector.py)",
    paper="Luo et al., Generalizing Face Forgery Detection with High-frequency Features, CVPR 2021",
    fixed_size=True,
    notes="three fixed SRM kernels (KB, KV, horizontal 2nd order) and DeepfakeBench's unpadded-stem Xceptions; "
    "the fused features go through backbone_rgb's classifier; backbone_srm.last_linear, both "
    "adjust_channel and the blur buffer are stored but unused",
    unused=("backbone_rgb.adjust_channel", "backbone_srm.last_linear", "backbone_srm.adjust_channel", "blur"),
)


def srm_filters() -> torch.Tensor:
    """The three 5x5 SRM high-pass filters ``(3, 5, 5)`` float32: KB / 4, KV / 12 and the
    horizontal second difference / 2 (DeepfakeBench's ``_build_kernel``)."""
    kb = [[0, 0, 0, 0, 0], [0, -1, 2, -1, 0], [0, 2, -4, 2, 0], [0, -1, 2, -1, 0], [0, 0, 0, 0, 0]]
    kv = [[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2], [-1, 2, -2, 2, -1]]
    hor = [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 1, -2, 1, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]
    filters = torch.tensor([kb, kv, hor], dtype=torch.float64)
    filters = filters / torch.tensor([4.0, 12.0, 2.0], dtype=torch.float64).view(3, 1, 1)
    return filters.float()


class GaussianBlur(nn.Module):
    """Depthwise ``kernel`` x ``kernel`` Gaussian blur of ``sigma`` on ``channels`` channels
    (buffer ``weight`` ``(channels, 1, kernel, kernel)``, normalised to sum 1), applied only in
    training (identity in eval), as DeepfakeBench's ``GaussianSmoothing``."""

    def __init__(self, channels: int = 3, kernel: int = 7, sigma: float = 0.8) -> None:
        super().__init__()
        t = torch.arange(kernel, dtype=torch.float32) - (kernel - 1) / 2
        g = torch.exp(-((t / sigma) ** 2) / 2) / (sigma * math.sqrt(2 * math.pi))
        k2 = torch.outer(g, g)
        k2 = k2 / k2.sum()
        self.register_buffer("weight", k2.view(1, 1, kernel, kernel).repeat(channels, 1, 1, 1))
        self.channels = channels
        self.kernel = kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, channels, H, W)`` blurred (training) or unchanged (eval)."""
        if not self.training:
            return x
        return F.conv2d(x, self.weight, padding=self.kernel // 2, groups=self.channels)


class SRMConv2dSimple(nn.Module):
    """The three SRM filters on the sum of the ``in_chans`` input channels (``kernel``
    ``(3, in_chans, 5, 5)``, fixed), padding 2, then truncation to [-3, 3]:
    ``(N, in_chans, H, W)`` -> ``(N, 3, H, W)`` (DeepfakeBench's ``SRMConv2d_simple``)."""

    def __init__(self, in_chans: int = 3) -> None:
        super().__init__()
        kernel = srm_filters().unsqueeze(1).repeat(1, in_chans, 1, 1)
        self.kernel = nn.Parameter(kernel, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_chans, H, W)`` -> ``(N, 3, H, W)`` in [-3, 3]."""
        return F.hardtanh(F.conv2d(x, self.kernel, padding=2), -3.0, 3.0)


class SRMConv2dSeparate(nn.Module):
    """Per-channel SRM filtering (DeepfakeBench's ``SRMConv2d_Separate``): a fixed grouped 5x5
    conv (``kernel`` ``(3 * c_in, 1, 5, 5)``: filter 1 for the first ``c_in`` outputs, then
    filter 2, then filter 3; output ``o`` reads input channel ``o // 3``), padding 2, truncated
    to [-3, 3], then ``out_conv`` (1x1 conv without bias, BN, ReLU):
    ``(N, c_in, H, W)`` -> ``(N, c_out, H, W)``."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.c_in = c_in
        kernel = srm_filters().unsqueeze(1).repeat_interleave(c_in, dim=0)
        self.kernel = nn.Parameter(kernel, requires_grad=False)
        self.out_conv = nn.Sequential(
            nn.Conv2d(3 * c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
        )
        nn.init.kaiming_normal_(self.out_conv[0].weight, a=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, c_in, H, W)`` -> ``(N, c_out, H, W)``."""
        out = F.hardtanh(F.conv2d(x, self.kernel, padding=2, groups=self.c_in), -3.0, 3.0)
        return self.out_conv(out)


class SpatialAttention(nn.Module):
    """CBAM spatial attention: ``sigmoid(conv7x7([mean_c(x), max_c(x)]))`` (``conv`` 2 -> 1, no
    bias, padding 3): ``(N, C, H, W)`` -> ``(N, 1, H, W)``."""

    def __init__(self, kernel: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2, bias=False)
        nn.init.xavier_normal_(self.conv.weight, gain=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The map ``(N, 1, H, W)`` in (0, 1)."""
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))


class SRMPixelAttention(nn.Module):
    """SRM-guided pixel attention (DeepfakeBench's ``SRMPixelAttention``): SRM filters (``srm``)
    -> ``conv`` (Xception-like stem: 3x3 stride 2 and 3x3 convs without padding or bias, each
    with BN and ReLU) -> :class:`SpatialAttention` (``pa``):
    ``(N, in_chans, 256, 256)`` -> ``(N, 1, 125, 125)``."""

    def __init__(self, in_chans: int = 3) -> None:
        super().__init__()
        self.srm = SRMConv2dSimple(3)
        self.conv = nn.Sequential(
            nn.Conv2d(in_chans, 32, 3, 2, 0, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
        )
        self.pa = SpatialAttention()
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The attention map ``(N, 1, H', W')``."""
        return self.pa(self.conv(self.srm(x)))


class DualCrossModalAttention(nn.Module):
    """Dual cross-modal attention between two ``(N, C, size, size)`` maps (DeepfakeBench's
    ``DualCrossModalAttention``).

    Keys of ``x`` (``key_conv1``) and ``y`` (``key_conv2``), both through ``key_conv_share``
    (``C // ratio`` channels), give the energy ``E = K_x^T K_y`` ``(N, HW, HW)``; the attention
    of y on x is ``softmax(linear1(E))`` and of x on y ``softmax(linear2(E^T))`` (rows, over the
    last dim); ``x' = x + gamma1 * value_conv2(y) A_yx^T``, ``y' = y + gamma2 * value_conv1(x)
    A_xy^T``. ``linear1``/``linear2`` are ``size * size`` wide, so the maps must be ``size`` px.
    """

    def __init__(self, in_dim: int, size: int = 16, ratio: int = 8) -> None:
        super().__init__()
        self.key_conv1 = nn.Conv2d(in_dim, in_dim // ratio, 1)
        self.key_conv2 = nn.Conv2d(in_dim, in_dim // ratio, 1)
        self.key_conv_share = nn.Conv2d(in_dim // ratio, in_dim // ratio, 1)
        self.linear1 = nn.Linear(size * size, size * size)
        self.linear2 = nn.Linear(size * size, size * size)
        self.value_conv1 = nn.Conv2d(in_dim, in_dim, 1)
        self.gamma1 = nn.Parameter(torch.zeros(1))
        self.value_conv2 = nn.Conv2d(in_dim, in_dim, 1)
        self.gamma2 = nn.Parameter(torch.zeros(1))
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_normal_(m.weight, gain=0.02)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` ``(N, C, H, W)`` each -> ``(x', y')`` of the same shapes."""
        n, c, h, w = x.shape
        key_x = self.key_conv_share(self.key_conv1(x)).flatten(2).transpose(1, 2)  # (N, HW, C')
        key_y = self.key_conv_share(self.key_conv2(y)).flatten(2)  # (N, C', HW)
        energy = torch.bmm(key_x, key_y)  # (N, HW, HW)
        att_y_on_x = torch.softmax(self.linear1(energy), dim=-1)
        att_x_on_y = torch.softmax(self.linear2(energy.transpose(1, 2)), dim=-1)
        value_y = self.value_conv2(y).flatten(2)  # (N, C, HW)
        out_x = self.gamma1 * torch.bmm(value_y, att_y_on_x.transpose(1, 2)).view(n, c, h, w) + x
        value_x = self.value_conv1(x).flatten(2)
        out_y = self.gamma2 * torch.bmm(value_x, att_x_on_y.transpose(1, 2)).view(n, c, h, w) + y
        return out_x, out_y


class ChannelAttention(nn.Module):
    """CBAM channel attention: ``sigmoid(mlp(avgpool(x)) + mlp(maxpool(x)))`` with ``sharedMLP``
    = 1x1 conv (``C -> C // ratio``, no bias), ReLU, 1x1 conv (back to ``C``, no bias):
    ``(N, C, H, W)`` -> ``(N, C, 1, 1)``."""

    def __init__(self, channels: int, ratio: int = 8) -> None:
        super().__init__()
        self.sharedMLP = nn.Sequential(
            nn.Conv2d(channels, channels // ratio, 1, bias=False),
            nn.ReLU(),
            nn.Conv2d(channels // ratio, channels, 1, bias=False),
        )
        for m in self.sharedMLP:
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_normal_(m.weight, gain=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Channel weights ``(N, C, 1, 1)`` in (0, 1)."""
        avg = self.sharedMLP(F.adaptive_avg_pool2d(x, 1))
        mx = self.sharedMLP(F.adaptive_max_pool2d(x, 1))
        return torch.sigmoid(avg + mx)


class FeatureFusion(nn.Module):
    """DeepfakeBench's ``FeatureFusionModule``: ``convblk`` (1x1 conv ``c_in -> c_out`` without
    bias, BN, ReLU) on the concatenated streams, times its :class:`ChannelAttention` (``ca``,
    ratio 16): ``(N, c_in / 2, H, W)`` x 2 -> ``(N, c_out, H, W)``."""

    def __init__(self, c_in: int = 4096, c_out: int = 2048) -> None:
        super().__init__()
        self.convblk = nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())
        self.ca = ChannelAttention(c_out, ratio=16)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Fused features ``(N, c_out, H, W)``."""
        fused = self.convblk(torch.cat((x, y), dim=1))
        return fused * self.ca(fused)


class SRMDetector(DFBDetector):
    """DeepfakeBench's SRM two-stream detector: crops ``(N, 3, 256, 256)`` RGB in [0, 1] ->
    fake logits ``(N,)`` (normalised with mean = std = 0.5 inside; 256 px only)."""

    def __init__(self, cfg: PublishedCfg = SRM) -> None:
        super().__init__(cfg)
        self.backbone_rgb = Xception(num_classes=2)
        self.backbone_srm = Xception(num_classes=2)
        self.blur = GaussianBlur(3, 7, 0.8)
        self.srm_conv0 = SRMConv2dSimple(3)
        self.srm_conv1 = SRMConv2dSeparate(32, 32)
        self.srm_conv2 = SRMConv2dSeparate(64, 64)
        self.srm_sa = SRMPixelAttention(3)
        self.srm_sa_post = nn.Sequential(nn.BatchNorm2d(64), nn.ReLU(inplace=True))
        self.dual_cma0 = DualCrossModalAttention(728)
        self.dual_cma1 = DualCrossModalAttention(728)
        self.fusion = FeatureFusion()
        self.freeze_unused()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Fused two-stream features ``(N, 2048, 8, 8)`` of normalised crops (DeepfakeBench's
        ``features``)."""
        rgb, hf = self.backbone_rgb, self.backbone_srm
        srm = self.srm_conv0(x)
        x = rgb.stem_conv1(x)
        y = F.relu(hf.stem_conv1(srm) + self.srm_conv1(x))
        x = rgb.stem_conv2(x)
        y = F.relu(hf.stem_conv2(y) + self.srm_conv2(x))
        x = self.srm_sa_post(x * self.srm_sa(srm) + x)
        x, y = self.dual_cma0(rgb.entry_flow(x), hf.entry_flow(y))
        x, y = self.dual_cma1(rgb.middle_flow(x, last=7), hf.middle_flow(y, last=7))
        x = rgb.exit_flow(rgb.middle_flow(x, first=8))
        y = hf.exit_flow(hf.middle_flow(y, first=8))
        return self.fusion(x, y)

    def class_scores(self, x: torch.Tensor) -> torch.Tensor:
        """``backbone_rgb.classifier(features(x))``: DeepfakeBench's ``cls`` ``(N, 2)``."""
        return self.backbone_rgb.classifier(self.features(x))


register_published(SRM, SRMDetector)
