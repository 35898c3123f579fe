"""DeepfakeBench's Capsule-Forensics detector: ``dfb_capsule_net``.

Written from the facts of DeepfakeBench's ``training/detectors/capsule_net_detector.py`` at
8a4a7bf (the network is defined in that file; the yaml's ``backbone_name: xception`` is not
built). Three parts, in state-dict order:

- ``vgg_ext.vgg_1``: VGG-19's ``features[0:19]`` (conv1_1 .. conv3_4 and the third max-pool,
  ReLUs included, so the keys are ``vgg_1.0, 2, 5, 7, 10, 12, 14, 16``): ``(N, 3, H, W)`` ->
  ``(N, 256, H / 8, W / 8)``.
- ``fea_ext.capsules.0..9``: ten primary capsules, each ``nn.Sequential`` of conv 3x3
  256 -> 64 (bias), BN, ReLU, conv 3x3 64 -> 16, BN, ReLU, stats pooling (per-channel mean
  and **unbiased** std over space: ``(N, 2, 16)``), Conv1d 2 -> 8 (k5, s2, p2), BN, Conv1d
  8 -> 1 (k3, p1), BN, flatten -> 8 values; stacked ``(N, 8, 10)`` and squashed along the
  **capsule** axis (the last one), as DeepfakeBench does.
- ``routing_stats.route_weights`` ``(2, 10, 4, 8)``: dynamic routing from the ten 8-d
  capsules to two 4-d class capsules, 2 iterations, agreement updated per element (no sum
  over the 4 dims), never noisy nor dropped (DeepfakeBench calls it with ``random=False,
  dropout=0.0`` in training too) -> ``(N, 4, 2)``.

DeepfakeBench's ``cls`` is ``softmax(routing, -1).mean(1)``: ``(N, 2)`` class
probabilities, and its fake probability ``softmax(cls, 1)[:, 1]`` (two softmaxes, so it
stays in [0.269, 0.731]); the base class's logit ``cls[:, 1] - cls[:, 0]`` gives exactly it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from forgebench.detectors.deepfakebench._base import DFBDetector, PublishedCfg, register_published

__all__ = [
    "CAPSULE_NET",
    "vgg19_head",
    "StatsPool",
    "squash",
    "capsule",
    "CapsuleFeatures",
    "VggExtractor",
    "RoutingLayer",
    "CapsuleNetDetector",
]

CAPSULE_NET = PublishedCfg(
    name="capsule_net",
    detector_class="CapsuleNetDetector (training/detectors/capsule_net_detector.py)",
    paper="Nguyen et al., Capsule-Forensics: Using Capsule Networks to Detect Forged Images and Videos, ICASSP 2019",
    notes="primary capsules squashed across the 10 capsules (not within each), element-wise routing agreement, and "
    "cls = class probabilities averaged over the 4 output dims, so the fake probability is a softmax of probabilities",
)

#: VGG-19's ``features`` up to index 18: channel widths, ``"M"`` a 2x2 max-pool.
_VGG19_HEAD = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M")


def vgg19_head() -> nn.Sequential:
    """VGG-19's ``features[0:19]`` as torchvision builds it (same indices, 3x3 convs with
    bias and padding 1, ReLU, 2x2 max-pools), without torchvision's classifier:
    ``(N, 3, H, W)`` -> ``(N, 256, H / 8, W / 8)``. Initialised as torchvision does."""
    layers: list[nn.Module] = []
    c_in = 3
    for v in _VGG19_HEAD:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        conv = nn.Conv2d(c_in, v, 3, padding=1)
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(conv.bias)
        layers += [conv, nn.ReLU(inplace=True)]
        c_in = v
    return nn.Sequential(*layers)


class StatsPool(nn.Module):
    """Per-channel mean and unbiased standard deviation over space:
    ``(N, C, H, W)`` -> ``(N, 2, C)`` (DeepfakeBench's ``StatsNet``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` -> ``(N, 2, C)``: row 0 the means, row 1 the stds."""
        x = torch.flatten(x, 2)
        return torch.stack((x.mean(2), x.std(2)), dim=1)


def squash(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Capsule squash along ``dim``: ``|x|^2 / (1 + |x|^2) * x / |x|`` (as DeepfakeBench
    writes it, no epsilon)."""
    sq = (x * x).sum(dim=dim, keepdim=True)
    return sq / (1 + sq) * x / torch.sqrt(sq)


def capsule() -> nn.Sequential:
    """One primary capsule: ``(N, 256, h, w)`` -> ``(N, 8)``; indices as DeepfakeBench's
    (0 conv, 1 BN, 2 ReLU, 3 conv, 4 BN, 5 ReLU, 6 stats, 7 Conv1d, 8 BN, 9 Conv1d, 10 BN,
    11 flatten)."""
    return nn.Sequential(
        nn.Conv2d(256, 64, 3, 1, 1),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.Conv2d(64, 16, 3, 1, 1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        StatsPool(),
        nn.Conv1d(2, 8, 5, stride=2, padding=2),
        nn.BatchNorm1d(8),
        nn.Conv1d(8, 1, 3, stride=1, padding=1),
        nn.BatchNorm1d(1),
        nn.Flatten(1),
    )


class CapsuleFeatures(nn.Module):
    """DeepfakeBench's ``FeatureExtractor``: ``capsules`` (ten :func:`capsule`) stacked and
    squashed along the capsule axis: ``(N, 256, h, w)`` -> ``(N, 8, 10)``.

    Args:
        num_capsules: primary capsules.
    """

    def __init__(self, num_capsules: int = 10) -> None:
        super().__init__()
        self.capsules = nn.ModuleList([capsule() for _ in range(num_capsules)])
        for m in self.modules():  # DeepfakeBench's weights_init (fresh networks only)
            if isinstance(m, (nn.Conv1d, nn.Conv2d)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 256, h, w)`` -> squashed capsules ``(N, 8, num_capsules)``."""
        return squash(torch.stack([c(x) for c in self.capsules], dim=-1), dim=-1)


class VggExtractor(nn.Module):
    """DeepfakeBench's ``VggExtractor``: ``vgg_1`` = :func:`vgg19_head`."""

    def __init__(self) -> None:
        super().__init__()
        self.vgg_1 = vgg19_head()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` -> ``(N, 256, H / 8, W / 8)``."""
        return self.vgg_1(x)


class RoutingLayer(nn.Module):
    """Dynamic routing (Sabour et al.) as DeepfakeBench writes it, without its training-time
    noise and dropout (DeepfakeBench never enables them).

    Priors ``u[n, o, i] = W[o, i] @ x[n, :, i]`` ``(N, out, in, data_out)``; logits start at
    0; each iteration ``v = squash(sum_i softmax_i(logits) * u, over data_out)`` and, but
    after the last, ``logits += u * v`` element-wise.

    Args:
        num_input_capsules, num_output_capsules: capsule counts (10, 2).
        data_in, data_out: capsule sizes (8, 4).
        num_iterations: routing iterations (2).
    """

    def __init__(
        self,
        num_input_capsules: int = 10,
        num_output_capsules: int = 2,
        data_in: int = 8,
        data_out: int = 4,
        num_iterations: int = 2,
    ) -> None:
        super().__init__()
        self.num_iterations = num_iterations
        self.route_weights = nn.Parameter(torch.randn(num_output_capsules, num_input_capsules, data_out, data_in))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Input capsules ``(N, data_in, in)`` -> output capsules ``(N, data_out, out)``."""
        priors = torch.einsum("oidk,nki->noid", self.route_weights, x)
        logits = torch.zeros_like(priors)
        outputs = priors
        for i in range(self.num_iterations):
            probs = F.softmax(logits, dim=2)
            outputs = squash((probs * priors).sum(dim=2, keepdim=True), dim=3)
            if i != self.num_iterations - 1:
                logits = logits + priors * outputs
        return outputs.squeeze(2).transpose(1, 2)


class CapsuleNetDetector(DFBDetector):
    """DeepfakeBench's Capsule-Forensics as a detector: crops ``(N, 3, 256, 256)`` RGB in
    [0, 1] -> fake logits ``(N,)`` (normalised with mean = std = 0.5 inside); ``vgg_ext``,
    ``fea_ext``, ``routing_stats`` as DeepfakeBench names them."""

    def __init__(self) -> None:
        super().__init__(CAPSULE_NET)
        self.vgg_ext = VggExtractor()
        self.fea_ext = CapsuleFeatures(num_capsules=10)
        self.routing_stats = RoutingLayer(10, CAPSULE_NET.num_classes, data_in=8, data_out=4, num_iterations=2)

    def class_scores(self, x: torch.Tensor) -> torch.Tensor:
        """DeepfakeBench's ``cls`` ``(N, 2)``: the class capsules' softmax over classes,
        averaged over their 4 dims (probabilities, each row sums to 1)."""
        z = self.routing_stats(self.fea_ext(self.vgg_ext(x)))
        return F.softmax(z, dim=-1).mean(dim=1)


register_published(CAPSULE_NET, CapsuleNetDetector)
