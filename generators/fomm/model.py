"""Networks of the First Order Motion Model (FOMM), loadable from the authors' checkpoints.

Follows Siarohin et al., "First Order Motion Model for Image Animation", NeurIPS 2019, and the
module structure of github.com/AliaksandrSiarohin/first-order-model (``modules/*.py``), re-written:
names equal the official ``state_dict`` (``shared/reference/fomm_vox256_state_dict.txt``),
constructors take the keys of the authors' YAML ``model_params`` (:func:`build_fomm`), and
``vox-cpk.pth.tar`` loads with ``strict=True`` (:func:`load_checkpoint`). Images ``(N, C, H, W)``
float in [0, 1]; keypoints ``{'value': (N, K, 2) (x, y) in [-1, 1], 'jacobian': (N, K, 2, 2)}``.
No ``.cuda()``: devices follow the inputs.

``align_corners``: the official code calls ``F.grid_sample`` without it and was trained on torch
1.0; the PyTorch ``grid_sample`` docs say "the default behavior up to version 1.2.0 was
align_corners = True" (changed in 1.3, pytorch/pytorch PR #23923; the authors' README and issues
#13, #320 warn that newer torch behaves differently), and the model's grid puts pixel centres at
exactly -1 and +1 (``x / (w - 1)``), the True convention. So ``grid_sample`` uses ``True``, which
reproduces the official outputs of the released checkpoints; bilinear ``interpolate`` uses False
(its default since torch 0.4.0, so torch 1.0's); nearest ``interpolate`` takes none (``None``).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn
from torch.nn import functional as F

from forgebench.errors import ConfigError, DataError
from forgebench.fileio import load_checkpoint as load_checkpoint_file
from forgebench.generators.fomm.motion import (
    BILINEAR_ALIGN_CORNERS,
    GRID_ALIGN_CORNERS,
    AntiAliasInterpolation2d,
    kp2gaussian,
    make_coordinate_grid,
    warp,
)

#: ``model_params`` of the authors' ``config/vox-256.yaml`` (the ``vox-cpk.pth.tar`` model).
VOX256_MODEL_PARAMS: dict[str, Any] = {
    "common_params": {"num_kp": 10, "num_channels": 3, "estimate_jacobian": True},
    "kp_detector_params": {
        "temperature": 0.1,
        "block_expansion": 32,
        "max_features": 1024,
        "scale_factor": 0.25,
        "num_blocks": 5,
    },
    "generator_params": {
        "block_expansion": 64,
        "max_features": 512,
        "num_down_blocks": 2,
        "num_bottleneck_blocks": 6,
        "estimate_occlusion_map": True,
        "dense_motion_params": {"block_expansion": 64, "max_features": 1024, "num_blocks": 5, "scale_factor": 0.25},
    },
    "discriminator_params": {"scales": [1], "block_expansion": 32, "max_features": 512, "num_blocks": 4, "sn": True},
}


def _width(block_expansion: int, max_features: int, i: int) -> int:
    return min(max_features, block_expansion * (2**i))


class ResBlock2d(nn.Module):
    """Pre-activation residual block, (BN, ReLU, conv) x 2 plus skip; keeps ``(N, C, H, W)``."""

    def __init__(self, in_features: int, kernel_size=3, padding=1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_features, in_features, kernel_size=kernel_size, padding=padding)
        self.conv2 = nn.Conv2d(in_features, in_features, kernel_size=kernel_size, padding=padding)
        self.norm1 = nn.BatchNorm2d(in_features, affine=True)
        self.norm2 = nn.BatchNorm2d(in_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.norm2(self.conv1(F.relu(self.norm1(x)))))) + x


class SameBlock2d(nn.Module):
    """Conv, BN, ReLU keeping the spatial size: ``(N, in, H, W)`` -> ``(N, out, H, W)``."""

    def __init__(self, in_features: int, out_features: int, groups: int = 1, kernel_size=3, padding=1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=kernel_size, padding=padding, groups=groups)
        self.norm = nn.BatchNorm2d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))


class UpBlock2d(SameBlock2d):
    """Nearest 2x upsampling, then SameBlock2d (same arguments): ``(N, in, H, W)`` -> ``(N, out, 2H, 2W)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # mode='nearest': align_corners does not apply (None is the only valid value).
        return super().forward(F.interpolate(x, scale_factor=2, mode="nearest", align_corners=None))


class DownBlock2d(SameBlock2d):
    """SameBlock2d (same arguments), then 2x2 average pool: ``(N, in, H, W)`` -> ``(N, out, H/2, W/2)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(super().forward(x), (2, 2))


class Encoder(nn.Module):
    """Hourglass encoder, ``num_blocks`` DownBlock2d; returns the input and each block's output."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256) -> None:
        super().__init__()
        w = [in_features] + [_width(block_expansion, max_features, i + 1) for i in range(num_blocks)]
        self.down_blocks = nn.ModuleList(DownBlock2d(w[i], w[i + 1]) for i in range(num_blocks))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class Decoder(nn.Module):
    """Hourglass decoder with skips: encoder outputs -> ``(N, block_expansion + in_features, H, W)``."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256) -> None:
        super().__init__()
        self.up_blocks = nn.ModuleList(
            UpBlock2d(
                (1 if i == num_blocks - 1 else 2) * _width(block_expansion, max_features, i + 1),
                _width(block_expansion, max_features, i),
            )
            for i in reversed(range(num_blocks))
        )
        self.out_filters = block_expansion + in_features

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        *skips, out = x
        for block in self.up_blocks:
            out = torch.cat([block(out), skips.pop()], dim=1)
        return out


class Hourglass(nn.Module):
    """U-Net: ``(N, in_features, H, W)`` -> ``(N, out_filters, H, W)``, H, W multiples of ``2**num_blocks``."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256) -> None:
        super().__init__()
        self.encoder = Encoder(block_expansion, in_features, num_blocks, max_features)
        self.decoder = Decoder(block_expansion, in_features, num_blocks, max_features)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class KPDetector(nn.Module):
    """Hourglass, ``num_kp`` heatmaps, softmax(/temperature), soft-argmax (paper Sec. 3.1).

    ``forward(x (N, C, H, W) in [0, 1])`` (downsampled by ``scale_factor`` first) -> ``{'value':
    (N, K, 2) in [-1, 1], 'jacobian': (N, K, 2, 2)}``; the jacobian (``estimate_jacobian``) is the
    heatmap-weighted mean of 4 channels per keypoint, initialised to identity."""

    def __init__(
        self,
        block_expansion: int,
        num_kp: int,
        num_channels: int,
        max_features: int,
        num_blocks: int,
        temperature: float,
        estimate_jacobian: bool = False,
        scale_factor: float = 1,
        single_jacobian_map: bool = False,
        pad: int = 0,
    ) -> None:
        super().__init__()
        self.predictor = Hourglass(block_expansion, num_channels, num_blocks, max_features)
        self.kp = nn.Conv2d(self.predictor.out_filters, num_kp, kernel_size=(7, 7), padding=pad)
        self.jacobian = None
        if estimate_jacobian:
            self.num_jacobian_maps = 1 if single_jacobian_map else num_kp
            self.jacobian = nn.Conv2d(self.predictor.out_filters, 4 * self.num_jacobian_maps, (7, 7), padding=pad)
            nn.init.zeros_(self.jacobian.weight)
            self.jacobian.bias.data.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0] * self.num_jacobian_maps))
        self.temperature, self.scale_factor = temperature, scale_factor
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.scale_factor != 1:
            x = self.down(x)
        features = self.predictor(x)
        logits = self.kp(features)
        n, k, h, w = logits.shape
        heatmap = F.softmax(logits.view(n, k, -1) / self.temperature, dim=2).view(n, k, h, w)
        out = {"value": torch.einsum("nkhw,hwc->nkc", heatmap, make_coordinate_grid((h, w), x.dtype, x.device))}
        if self.jacobian is not None:
            jmap = self.jacobian(features).reshape(n, self.num_jacobian_maps, 4, h, w)
            out["jacobian"] = (heatmap.unsqueeze(2) * jmap).sum(dim=(-2, -1)).view(n, k, 2, 2)
        return out


class DenseMotionNetwork(nn.Module):
    """Dense motion from sparse keypoint motions (paper Sec. 3.1-3.2, Eq. 4-8).

    ``forward(source_image (N, C, H, W), kp_driving, kp_source)`` at ``scale_factor`` size ``(h, w)``
    -> ``'sparse_motion'`` ``(N, K+1, h, w, 2)`` (0 = background identity), ``'sparse_deformed'``
    ``(N, K+1, C, h, w)``, ``'mask'`` ``(N, K+1, h, w)`` (softmax over K+1), ``'deformation'`` ``(N,
    h, w, 2)`` and, if ``estimate_occlusion_map``, ``'occlusion_map'`` ``(N, 1, h, w)`` in (0, 1)."""

    def __init__(
        self,
        block_expansion: int,
        num_blocks: int,
        max_features: int,
        num_kp: int,
        num_channels: int,
        estimate_occlusion_map: bool = False,
        scale_factor: float = 1,
        kp_variance: float = 0.01,
    ) -> None:
        super().__init__()
        self.hourglass = Hourglass(block_expansion, (num_kp + 1) * (num_channels + 1), num_blocks, max_features)
        self.mask = nn.Conv2d(self.hourglass.out_filters, num_kp + 1, kernel_size=(7, 7), padding=(3, 3))
        self.occlusion = (
            nn.Conv2d(self.hourglass.out_filters, 1, kernel_size=(7, 7), padding=(3, 3))
            if estimate_occlusion_map
            else None
        )
        self.num_kp, self.scale_factor, self.kp_variance = num_kp, scale_factor, kp_variance
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    def forward(self, source_image: torch.Tensor, kp_driving, kp_source) -> dict[str, torch.Tensor]:
        if self.scale_factor != 1:
            source_image = self.down(source_image)
        n, c, h, w = source_image.shape
        k1 = self.num_kp + 1
        heat = kp2gaussian(kp_driving, (h, w), self.kp_variance) - kp2gaussian(kp_source, (h, w), self.kp_variance)
        heat = torch.cat([heat.new_zeros(n, 1, h, w), heat], dim=1).unsqueeze(2)
        # Eq. 4, sparse motions (N, K+1, h, w, 2): kp_S + J_S J_D^-1 (z - kp_D), background identity first.
        grid = make_coordinate_grid((h, w), source_image.dtype, source_image.device).view(1, 1, h, w, 2)
        coords = grid - kp_driving["value"].view(n, self.num_kp, 1, 1, 2)
        if "jacobian" in kp_driving:
            jac = torch.matmul(kp_source["jacobian"], torch.inverse(kp_driving["jacobian"]))
            coords = torch.einsum("nkij,nkhwj->nkhwi", jac, coords)
        to_source = coords + kp_source["value"].view(n, self.num_kp, 1, 1, 2)
        sparse = torch.cat([grid.expand(n, 1, h, w, 2), to_source], dim=1)
        repeated = source_image.unsqueeze(1).expand(n, k1, c, h, w).reshape(n * k1, c, h, w)
        deformed = F.grid_sample(
            repeated,
            sparse.reshape(n * k1, h, w, 2),
            mode="bilinear",
            padding_mode="zeros",
            align_corners=GRID_ALIGN_CORNERS,
        ).view(n, k1, c, h, w)
        prediction = self.hourglass(torch.cat([heat, deformed], dim=2).view(n, -1, h, w))
        mask = F.softmax(self.mask(prediction), dim=1)
        out = {
            "sparse_motion": sparse,
            "sparse_deformed": deformed,
            "mask": mask,
            "deformation": torch.einsum("nkhw,nkhwc->nhwc", mask, sparse),
        }
        if self.occlusion is not None:
            out["occlusion_map"] = torch.sigmoid(self.occlusion(prediction))
        return out


class OcclusionAwareGenerator(nn.Module):
    """Encoder, feature warping by the dense motion times occlusion, ResBlocks, decoder (Sec. 3.2).

    ``forward(source_image (N, C, H, W) in [0, 1], kp_driving, kp_source)`` -> ``'prediction'`` ``(N,
    C, H, W)`` in (0, 1), ``'deformed'`` (warped source) and the dense motion's outputs but
    ``'sparse_motion'``. ``estimate_jacobian`` (a common param) is unused, as officially."""

    def __init__(
        self,
        num_channels: int,
        num_kp: int,
        block_expansion: int,
        max_features: int,
        num_down_blocks: int,
        num_bottleneck_blocks: int,
        estimate_occlusion_map: bool = False,
        dense_motion_params: dict | None = None,
        estimate_jacobian: bool = False,
    ) -> None:
        super().__init__()
        self.dense_motion_network = (
            None
            if dense_motion_params is None
            else DenseMotionNetwork(
                num_kp=num_kp,
                num_channels=num_channels,
                estimate_occlusion_map=estimate_occlusion_map,
                **dense_motion_params,
            )
        )
        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=(7, 7), padding=(3, 3))
        w = [_width(block_expansion, max_features, i) for i in range(num_down_blocks + 1)]
        self.down_blocks = nn.ModuleList(DownBlock2d(w[i], w[i + 1]) for i in range(num_down_blocks))
        self.up_blocks = nn.ModuleList(UpBlock2d(w[i + 1], w[i]) for i in reversed(range(num_down_blocks)))
        self.bottleneck = nn.Sequential()
        for i in range(num_bottleneck_blocks):
            self.bottleneck.add_module(f"r{i}", ResBlock2d(w[-1], kernel_size=(3, 3), padding=(1, 1)))
        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=(7, 7), padding=(3, 3))
        self.estimate_occlusion_map, self.num_channels = estimate_occlusion_map, num_channels

    def forward(self, source_image: torch.Tensor, kp_driving, kp_source) -> dict[str, torch.Tensor]:
        out = self.first(source_image)
        for block in self.down_blocks:
            out = block(out)
        result: dict[str, torch.Tensor] = {}
        if self.dense_motion_network is not None:
            motion = self.dense_motion_network(source_image, kp_driving=kp_driving, kp_source=kp_source)
            result.update({k: v for k, v in motion.items() if k != "sparse_motion"})
            out = warp(out, motion["deformation"])
            if "occlusion_map" in motion:
                occlusion = motion["occlusion_map"]
                if occlusion.shape[2:] != out.shape[2:]:
                    occlusion = F.interpolate(
                        occlusion, size=out.shape[2:], mode="bilinear", align_corners=BILINEAR_ALIGN_CORNERS
                    )
                out = out * occlusion
            result["deformed"] = warp(source_image, motion["deformation"])
        out = self.bottleneck(out)
        for block in self.up_blocks:
            out = block(out)
        result["prediction"] = torch.sigmoid(self.final(out))
        return result


class DiscriminatorBlock2d(nn.Module):
    """Unpadded conv (spectral-normalised if ``sn``), InstanceNorm if ``norm``, LeakyReLU(0.2),
    2x2 average pool if ``pool`` (the official discriminator's ``DownBlock2d``)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        norm: bool = False,
        kernel_size: int = 4,
        pool: bool = False,
        sn: bool = False,
    ) -> None:
        super().__init__()
        conv = nn.Conv2d(in_features, out_features, kernel_size=kernel_size)
        self.conv = nn.utils.spectral_norm(conv) if sn else conv
        self.norm = nn.InstanceNorm2d(out_features, affine=True) if norm else None
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        out = F.leaky_relu(self.norm(out) if self.norm is not None else out, 0.2)
        return F.avg_pool2d(out, (2, 2)) if self.pool else out


class Discriminator(nn.Module):
    """Pix2Pix-style patch discriminator: ``forward(x (N, C, H, W), kp=None)`` ->
    ``(feature_maps, prediction_map (N, 1, h, w))``; with ``use_kp`` the keypoint Gaussians
    (``kp`` required) are concatenated to the input. ``estimate_jacobian`` is unused."""

    def __init__(
        self,
        num_channels: int = 3,
        block_expansion: int = 64,
        num_blocks: int = 4,
        max_features: int = 512,
        sn: bool = False,
        use_kp: bool = False,
        num_kp: int = 10,
        kp_variance: float = 0.01,
        estimate_jacobian: bool = False,
    ) -> None:
        super().__init__()
        w = [num_channels + num_kp * use_kp] + [_width(block_expansion, max_features, i + 1) for i in range(num_blocks)]
        self.down_blocks = nn.ModuleList(
            DiscriminatorBlock2d(w[i], w[i + 1], norm=i != 0, kernel_size=4, pool=i != num_blocks - 1, sn=sn)
            for i in range(num_blocks)
        )
        conv = nn.Conv2d(w[-1], 1, kernel_size=1)
        self.conv = nn.utils.spectral_norm(conv) if sn else conv
        self.use_kp, self.kp_variance = use_kp, kp_variance

    def forward(self, x: torch.Tensor, kp: dict[str, torch.Tensor] | None = None):
        out = torch.cat([x, kp2gaussian(kp, x.shape[2:], self.kp_variance)], dim=1) if self.use_kp else x
        feature_maps = []
        for block in self.down_blocks:
            out = block(out)
            feature_maps.append(out)
        return feature_maps, self.conv(out)


class MultiScaleDiscriminator(nn.Module):
    """One :class:`Discriminator` per scale in ``discs[str(scale).replace('.', '-')]``;
    ``forward(x, kp=None)`` takes ``{'prediction_<scale>': image}`` and returns
    ``'feature_maps_<scale>'`` and ``'prediction_map_<scale>'``."""

    def __init__(self, scales=(), **kwargs) -> None:
        super().__init__()
        self.scales = list(scales)
        self.discs = nn.ModuleDict({str(s).replace(".", "-"): Discriminator(**kwargs) for s in self.scales})

    def forward(self, x: dict[str, torch.Tensor], kp=None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, disc in self.discs.items():
            scale = key.replace("-", ".")
            out["feature_maps_" + scale], out["prediction_map_" + scale] = disc(x["prediction_" + scale], kp)
        return out


def build_fomm(model_params: dict | str | os.PathLike | None = None) -> dict[str, nn.Module]:
    """Build ``{'generator', 'kp_detector', 'discriminator'}`` as the official ``run.py``: each
    ``*_params`` section plus ``common_params`` are a constructor's keyword arguments.

    ``model_params``: ``None`` (vox-256, :data:`VOX256_MODEL_PARAMS`), a dict, or a YAML path
    (``yaml.safe_load``); either an authors' whole config or its ``model_params``; no
    ``'discriminator'`` without ``discriminator_params``. Raises ``ConfigError`` (naming the file)
    for an unreadable file, a missing section or a key no constructor takes."""
    where, p = "model_params", VOX256_MODEL_PARAMS if model_params is None else model_params
    if isinstance(p, (str, os.PathLike)):
        where = str(p)
        try:
            p = yaml.safe_load(Path(p).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{where}: cannot read the FOMM config ({exc})") from exc
    p = copy.deepcopy(p["model_params"] if isinstance(p, dict) and "model_params" in p else p)
    sections = ("common_params", "kp_detector_params", "generator_params")
    if not isinstance(p, dict) or any(not isinstance(p.get(k), dict) for k in sections):
        raise ConfigError(f"{where}: FOMM model_params must be a mapping with sections {list(sections)}")
    common = p["common_params"]
    try:
        modules: dict[str, nn.Module] = {
            "generator": OcclusionAwareGenerator(**p["generator_params"], **common),
            "kp_detector": KPDetector(**p["kp_detector_params"], **common),
        }
        if p.get("discriminator_params") is not None:
            modules["discriminator"] = MultiScaleDiscriminator(**p["discriminator_params"], **common)
    except TypeError as exc:
        raise ConfigError(f"{where}: FOMM model_params do not match the constructors: {exc}") from exc
    return modules


def _state_problems(module: nn.Module, state: Any) -> list[str]:
    if not isinstance(state, dict):
        return [f"is a {type(state).__name__}, not a state_dict"]
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    got = {k: tuple(v.shape) if torch.is_tensor(v) else type(v).__name__ for k, v in state.items()}
    return (
        [f"missing {k}" for k in expected if k not in got]
        + [f"unexpected {k}" for k in got if k not in expected]
        + [f"{k} has shape {got[k]}, the model {v}" for k, v in expected.items() if k in got and got[k] != v]
    )


def load_checkpoint(path: str | os.PathLike, config: dict | str | os.PathLike | None = None) -> dict[str, nn.Module]:
    """Load an official FOMM checkpoint (``vox-cpk.pth.tar`` or a file of the same layout).

    The file, a dict of ``'generator'``, ``'kp_detector'``, optional ``'discriminator'`` state
    dicts (optimizer states and ``'epoch'`` ignored), is read with ``torch.load`` and
    ``weights_only=True`` (on the CPU) and never unpickled. ``config``: as ``model_params`` of :func:`build_fomm`
    (``None`` = vox-256). Returns the modules loaded with ``strict=True``, in eval mode on the CPU;
    ``'discriminator'`` only if the file has one. A ``'module.'`` prefix on all keys is removed.

    Raises:
        DataError: naming the file: missing or unreadable, refused for safety (objects that
            ``weights_only`` rejects), a state dict missing, keys/shapes differing (first few listed).
        ConfigError: invalid ``config``.
    """
    path = Path(path)
    ckpt = load_checkpoint_file(path, "FOMM checkpoint")
    if not isinstance(ckpt, dict) or not {"generator", "kp_detector"} <= ckpt.keys():
        raise DataError(f"{path}: not a FOMM checkpoint (a dict with 'generator' and 'kp_detector' state dicts)")
    modules = build_fomm(config)
    if "discriminator" not in ckpt:
        modules.pop("discriminator", None)
    for name, module in modules.items():
        state = ckpt[name]
        if isinstance(state, dict) and state and all(str(k).startswith("module.") for k in state):
            state = {k[len("module.") :]: v for k, v in state.items()}
        problems = _state_problems(module, state)
        if problems:
            raise DataError(
                f"{path}: '{name}' does not match the FOMM model ({len(problems)} problems): " + "; ".join(problems[:5])
            )
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise DataError(f"{path}: '{name}' cannot be loaded: {exc}") from exc
        module.eval()
    return modules
