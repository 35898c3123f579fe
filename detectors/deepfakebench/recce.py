"""DeepfakeBench's RECCE detector: ``dfb_recce`` (``training/detectors/recce_detector.py`` at
8a4a7bf; Cao et al., CVPR 2022).

The network (DeepfakeBench's ``Recce``, under ``model.*``) is a timm ``xception`` encoder
(timm 0.6.12's ``xception``, ``legacy_xception`` in timm >= 0.9: same keys and numerics, stem
convolutions unpadded) run block by block with three additions:

- a reconstruction decoder from block4's output (16 x 16 at 256 px): three times nearest
  upsampling x2 -> separable conv -> BN -> ReLU, with a DeepfakeBench Xception block after the
  first two, and a 1x1 conv + tanh to a 3-channel image at 128 px, resized (bilinear,
  ``align_corners=True``) to the input size;
- graph reasoning after block7: block7's output, the first decoder block's output (32 px,
  2 x 2 patches) and the second's (64 px, 4 x 4 patches) exchange information; the result is
  added to block7's output before block8;
- reconstruction-guided attention after block8: ``|input - reconstruction|`` resized to
  block8's grid gates ``h(block8)``, added to block8's output before block9.

The head is the encoder's exit flow (conv3 ... bn4 and ReLU) -> global average pool ->
dropout -> ``model.fc``. The decoder is therefore part of inference. DeepfakeBench also builds
its own Xception as ``backbone`` (285 entries) that is never called, and timm's 1000-class
``model.encoder.fc`` is never called either: both are stored in the checkpoint, built here
and frozen. The white noise RECCE adds to the input in training and the contrastive
correlation maps (training losses DeepfakeBench does not use) are omitted.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from forgebench.detectors.deepfakebench._base import DFBDetector, PublishedCfg, register_published
from forgebench.detectors.deepfakebench._xception import SeparableConv2d, Xception, XceptionBlock

__all__ = ["RECCE", "GraphReasoning", "GuidedAttention", "Recce", "RecceDetector"]

RECCE = PublishedCfg(
    name="recce",
    detector_class="RecceDetector (training/detectors/recce_detector.py)",
    paper="Cao et al., End-to-End Reconstruction-Classification Learning for Face Forgery Detection, CVPR 2022",
    notes="timm legacy_xception encoder with a reconstruction decoder used at inference (guided attention); "
    "backbone (an unused DeepfakeBench Xception) and model.encoder.fc are stored but unused",
    unused=("backbone", "model.encoder.fc"),
)


class GraphReasoning(nn.Module):
    """RECCE's graph reasoning: each cell of the encoder map ``vert_a`` ``(N, va_in, h, w)``
    aggregates the ``r x r`` patch under it of two decoder maps ``vert_b``
    ``(N, vb_in, 2h, 2w)`` and ``vert_c`` ``(N, vc_in, 4h, 4w)`` -> ``(N, va_in, h, w)``.

    Follows DeepfakeBench's ``GraphReasoning`` (recce_detector.py), which loops over the
    ``h * w`` cells; here all cells are computed at once (same numbers). Per cell: embed the
    cell (``va_embedding``) and each patch position (``vb_embedding``, ``vc_embedding``), weight
    the positions by ``softmax_r2(relu(reweight([a, b])))``, sum, gate by
    ``1 - sigmoid(va_gated_*(a))``; then sigmoid of the concatenation ``[b, c, a]`` ->
    ``reproject`` (1x1 conv, ReLU, 1x1 conv, dropout).

    Args:
        va_in, va_out, vb_in, vb_out, vc_in, vc_out: channels in and embedding widths.
        spatial_ratio: patch sides ``(r_b, r_c)`` of ``vert_b`` and ``vert_c``.
        drop_rate: dropout at the end of ``reproject``.
    """

    def __init__(
        self,
        va_in: int,
        va_out: int,
        vb_in: int,
        vb_out: int,
        vc_in: int,
        vc_out: int,
        spatial_ratio: tuple[int, int] = (2, 4),
        drop_rate: float = 0.2,
    ) -> None:
        super().__init__()
        self.ratio = tuple(spatial_ratio)
        self.va_embedding = nn.Sequential(
            nn.Conv2d(va_in, va_out, 1, bias=False), nn.ReLU(inplace=True), nn.Conv2d(va_out, va_out, 1, bias=False)
        )
        self.va_gated_b = nn.Sequential(nn.Conv2d(va_in, va_out, 1, bias=False), nn.Sigmoid())
        self.va_gated_c = nn.Sequential(nn.Conv2d(va_in, va_out, 1, bias=False), nn.Sigmoid())
        self.vb_embedding = nn.Sequential(
            nn.Linear(vb_in, vb_out, bias=False), nn.ReLU(inplace=True), nn.Linear(vb_out, vb_out, bias=False)
        )
        self.vc_embedding = nn.Sequential(
            nn.Linear(vc_in, vc_out, bias=False), nn.ReLU(inplace=True), nn.Linear(vc_out, vc_out, bias=False)
        )
        self.unfold_b = nn.Unfold(kernel_size=self.ratio[0], stride=self.ratio[0])
        self.unfold_c = nn.Unfold(kernel_size=self.ratio[1], stride=self.ratio[1])
        # softmax over dim 1: the patch positions of (N, r*r, L, 1) here, of (N, r*r, 1) in DeepfakeBench's loop
        self.reweight_ab = nn.Sequential(
            nn.Linear(va_out + vb_out, 1, bias=False), nn.ReLU(inplace=True), nn.Softmax(dim=1)
        )
        self.reweight_ac = nn.Sequential(
            nn.Linear(va_out + vc_out, 1, bias=False), nn.ReLU(inplace=True), nn.Softmax(dim=1)
        )
        self.reproject = nn.Sequential(
            nn.Conv2d(va_out + vb_out + vc_out, va_in, 1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(va_in, va_in, 1, bias=False),
            nn.Dropout(drop_rate),
        )

    @staticmethod
    def propagate(
        emb_a: torch.Tensor,
        vert: torch.Tensor,
        unfold: nn.Unfold,
        ratio: int,
        embedding: nn.Module,
        reweight: nn.Module,
    ) -> torch.Tensor:
        """Patch aggregation of one decoder map: ``emb_a`` ``(N, Ca, L)`` (L cells), ``vert``
        ``(N, C, ratio * h, ratio * w)`` -> ``(N, D, L)``, the patch positions' embeddings
        (``(N, ratio**2, L, D)``) summed with weights ``softmax over positions of
        reweight([emb_a, emb])``."""
        n, c = vert.shape[:2]
        patches = unfold(vert).reshape(n, c, ratio * ratio, -1).permute(0, 2, 3, 1)  # (N, r*r, L, C)
        emb = embedding(patches)  # (N, r*r, L, D)
        cell = emb_a.transpose(1, 2).unsqueeze(1).expand(-1, emb.shape[1], -1, -1)  # (N, r*r, L, Ca)
        weight = reweight(torch.cat([cell, emb], dim=-1))  # (N, r*r, L, 1), sums to 1 over dim 1
        return (emb * weight).sum(dim=1).transpose(1, 2)

    def forward(self, vert_a: torch.Tensor, vert_b: torch.Tensor, vert_c: torch.Tensor) -> torch.Tensor:
        """``(N, va_in, h, w)``, ``(N, vb_in, r_b h, r_b w)``, ``(N, vc_in, r_c h, r_c w)`` ->
        ``(N, va_in, h, w)``."""
        n, _, h, w = vert_a.shape
        emb_a = self.va_embedding(vert_a).flatten(2)  # (N, va_out, L)
        gate_b = 1 - self.va_gated_b(vert_a).flatten(2)
        gate_c = 1 - self.va_gated_c(vert_a).flatten(2)
        agg_b = self.propagate(emb_a, vert_b, self.unfold_b, self.ratio[0], self.vb_embedding, self.reweight_ab)
        agg_c = self.propagate(emb_a, vert_c, self.unfold_c, self.ratio[1], self.vc_embedding, self.reweight_ac)
        agg = torch.cat([agg_b * gate_b, agg_c * gate_c, emb_a], dim=1)
        return self.reproject(torch.sigmoid(agg).reshape(n, -1, h, w))


class GuidedAttention(nn.Module):
    """RECCE's reconstruction-guided attention (DeepfakeBench's ``GuidedAttention``):
    ``gated(resize(|x - recons|)) * h(embedding) + dropout(embedding)``, the residual resized
    to the embedding's grid (bilinear, ``align_corners=True``); ``gated`` is 3x3 conv, ReLU,
    1x1 conv to one channel, sigmoid; ``h`` is 1x1 conv, BN, ReLU.

    Args:
        depth: channels of the embedding.
        drop_rate: dropout of the embedding's identity path.
    """

    def __init__(self, depth: int = 728, drop_rate: float = 0.2) -> None:
        super().__init__()
        self.gated = nn.Sequential(
            nn.Conv2d(3, 3, 3, 1, 1, bias=False), nn.ReLU(inplace=True), nn.Conv2d(3, 1, 1, bias=False), nn.Sigmoid()
        )
        self.h = nn.Sequential(nn.Conv2d(depth, depth, 1, 1, bias=False), nn.BatchNorm2d(depth), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(drop_rate)

    def forward(self, x: torch.Tensor, recons: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """Input and reconstruction ``(N, 3, H, W)``, embedding ``(N, depth, h, w)`` -> ``(N, depth, h, w)``."""
        residual = F.interpolate(torch.abs(x - recons), size=embedding.shape[-2:], mode="bilinear", align_corners=True)
        return self.gated(residual) * self.h(embedding) + self.dropout(embedding)


def upsampling_stage(c_in: int, c_out: int) -> nn.Sequential:
    """A decoder stage of RECCE: nearest upsampling x2, separable 3x3 conv, BN, ReLU
    (``(N, c_in, h, w)`` -> ``(N, c_out, 2h, 2w)``; keys ``1.*``, ``2.*``)."""
    return nn.Sequential(
        nn.UpsamplingNearest2d(scale_factor=2),
        SeparableConv2d(c_in, c_out, 3, 1, 1),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class Recce(nn.Module):
    """DeepfakeBench's ``Recce`` (recce_detector.py): normalised crops ``(N, 3, H, W)`` ->
    class scores ``(N, num_classes)`` (any size from 64 px: the decoder maps the graph
    reasoning reads are exactly 2x and 4x block4's grid).

    Args:
        num_classes: outputs of ``fc``.
        drop_rate: dropout of the embedding before the decoder and before ``fc``, in the
            attention and in the graph reasoning.
    """

    def __init__(self, num_classes: int = 2, drop_rate: float = 0.2) -> None:
        super().__init__()
        import timm  # heavy: imported when a RECCE is built, not when the registry lists detectors

        self.encoder = timm.create_model("legacy_xception", pretrained=False)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(drop_rate)
        self.fc = nn.Linear(2048, num_classes)
        self.attention = GuidedAttention(depth=728, drop_rate=drop_rate)
        self.reasoning = GraphReasoning(728, 256, 256, 256, 128, 256, (2, 4), drop_rate)
        self.decoder1 = upsampling_stage(728, 256)
        self.decoder2 = XceptionBlock(256, 256, 3, 1)
        self.decoder3 = upsampling_stage(256, 128)
        self.decoder4 = XceptionBlock(128, 128, 3, 1)
        self.decoder5 = upsampling_stage(128, 64)
        self.decoder6 = nn.Sequential(nn.Conv2d(64, 3, 1, 1, bias=False), nn.Tanh())

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(N, 2048)`` (after dropout) of normalised crops ``(N, 3, H, W)``."""
        enc = self.encoder
        out = enc.act1(enc.bn1(enc.conv1(x)))
        out = enc.act2(enc.bn2(enc.conv2(out)))
        embedding = enc.block4(enc.block3(enc.block2(enc.block1(out))))
        # reconstruction branch
        out_d2 = self.decoder2(self.decoder1(self.dropout(embedding)))
        out_d4 = self.decoder4(self.decoder3(out_d2))
        recons = self.decoder6(self.decoder5(out_d4))
        recons = F.interpolate(recons, size=x.shape[-2:], mode="bilinear", align_corners=True)
        # classification branch
        embedding = enc.block7(enc.block6(enc.block5(embedding)))
        embedding = enc.block8(self.reasoning(embedding, out_d2, out_d4) + embedding)
        embedding = self.attention(x, recons, embedding)
        for block in (enc.block9, enc.block10, enc.block11, enc.block12):
            embedding = block(embedding)
        embedding = enc.act3(enc.bn3(enc.conv3(embedding)))
        embedding = enc.act4(enc.bn4(enc.conv4(embedding)))
        return self.dropout(torch.flatten(self.global_pool(embedding), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``(N, num_classes)``."""
        return self.fc(self.features(x))


class RecceDetector(DFBDetector):
    """DeepfakeBench's RECCE as a detector: crops ``(N, 3, H, W)`` RGB in [0, 1] -> fake logits
    ``(N,)`` (normalised with mean = std = 0.5 inside); ``backbone`` and ``model.encoder.fc``
    are stored but unused (frozen)."""

    def __init__(self) -> None:
        super().__init__(RECCE)
        self.backbone = Xception(num_classes=2)
        self.model = Recce(num_classes=2)
        self.freeze_unused()

    def class_scores(self, x: torch.Tensor) -> torch.Tensor:
        """``model(x)`` ``(N, 2)``."""
        return self.model(x)


register_published(RECCE, RecceDetector)
