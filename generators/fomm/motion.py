"""The math around the First Order Motion Model networks (``fomm.model``), as plain functions.

Coordinates and warping (``make_coordinate_grid``, ``kp2gaussian``, ``warp``, the blur-and-
subsample ``AntiAliasInterpolation2d``), relative motion transfer (:func:`normalize_kp`,
:func:`animate`, :func:`best_frame`) and the training losses (:class:`Transform`,
:func:`equivariance_losses`, :func:`pyramid_l1_loss`, :func:`perceptual_loss`,
:class:`Vgg19Features`, :func:`generator_full_step`), following Siarohin et al., NeurIPS
2019 (Sec. 3.3 and 4) and the official ``animate.py``, ``demo.py`` and ``modules/model.py``
of github.com/AliaksandrSiarohin/first-order-model. Images are float ``[0, 1]`` tensors
``(N, C, H, W)``; keypoints are ``{'value': (N, K, 2) in [-1, 1], 'jacobian': (N, K, 2, 2)}``.
``align_corners`` is always explicit: True for ``grid_sample`` (the torch <= 1.2 behaviour the
checkpoints were trained with), False for bilinear ``interpolate``; see ``fomm.model``.
This module imports nothing from ``fomm.model``; the networks are passed in.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from scipy.spatial import ConvexHull, QhullError
from torch import nn
from torch.nn import functional as F

from forgebench.errors import DataError

GRID_ALIGN_CORNERS = True
BILINEAR_ALIGN_CORNERS = False
SCALES = (1, 0.5, 0.25, 0.125)  # train_params.scales of the authors' configs
PERCEPTUAL_WEIGHTS = (10, 10, 10, 10, 10)  # relu1_1 .. relu5_1, loss_weights.perceptual
VOX256_TRANSFORM_PARAMS = {"sigma_affine": 0.05, "sigma_tps": 0.005, "points_tps": 5}
DEFAULT_LOSS_WEIGHTS: dict[str, Any] = {
    "perceptual": list(PERCEPTUAL_WEIGHTS),
    "pyramid_l1": 10.0,
    "equivariance_value": 10.0,
    "equivariance_jacobian": 10.0,
    "generator_gan": 0.0,
    "feature_matching": [10, 10, 10, 10],
}
KP = dict[str, torch.Tensor]


def make_coordinate_grid(spatial_size, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """``(H, W, 2)`` pixel-centre coordinates ``(x, y)``, each from -1 to 1 (``2 j/(W-1) - 1``)."""
    h, w = int(spatial_size[0]), int(spatial_size[1])
    x = 2 * (torch.arange(w, dtype=dtype, device=device) / (w - 1)) - 1
    y = 2 * (torch.arange(h, dtype=dtype, device=device) / (h - 1)) - 1
    return torch.stack([x.view(1, w).expand(h, w), y.view(h, 1).expand(h, w)], dim=-1)


def kp2gaussian(kp: KP, spatial_size, kp_variance: float) -> torch.Tensor:
    """``exp(-|z - kp|^2 / (2 kp_variance))``: ``kp['value']`` ``(..., K, 2)`` -> ``(..., K, H, W)``
    in ``(0, 1]`` for ``spatial_size = (H, W)``; variance in squared grid units (0.01)."""
    mean = kp["value"]
    diff = make_coordinate_grid(spatial_size, mean.dtype, mean.device) - mean[..., None, None, :]
    return torch.exp(-0.5 * (diff**2).sum(-1) / kp_variance)


def warp(inp: torch.Tensor, deformation: torch.Tensor) -> torch.Tensor:
    """Sample ``inp`` ``(N, C, H, W)`` at ``deformation`` ``(N, h, w, 2)`` (coordinates in
    ``[-1, 1]``, resized bilinearly to ``(H, W)`` if needed); zeros outside."""
    if deformation.shape[1:3] != inp.shape[2:]:
        deformation = F.interpolate(
            deformation.permute(0, 3, 1, 2), size=inp.shape[2:], mode="bilinear", align_corners=BILINEAR_ALIGN_CORNERS
        ).permute(0, 2, 3, 1)
    return F.grid_sample(inp, deformation, mode="bilinear", padding_mode="zeros", align_corners=GRID_ALIGN_CORNERS)


class AntiAliasInterpolation2d(nn.Module):
    """Gaussian blur (sigma ``(1/scale - 1)/2``, buffer ``weight`` ``(channels, 1, k, k)``), then
    nearest subsampling: ``(N, channels, H, W)`` -> ``(N, channels, floor(H s), floor(W s))``."""

    def __init__(self, channels: int, scale: float) -> None:
        super().__init__()
        sigma = (1 / scale - 1) / 2
        size = 2 * round(sigma * 4) + 1
        self.ka = size // 2
        self.kb = self.ka - 1 if size % 2 == 0 else self.ka
        t = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
        g = torch.exp(-(t**2) / (2 * sigma**2)) if sigma > 0 else (t == 0).float()
        kernel = g[:, None] * g[None, :]
        self.register_buffer("weight", (kernel / kernel.sum()).expand(channels, 1, size, size).clone())
        self.groups, self.scale = channels, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale == 1.0:
            return x
        out = F.conv2d(F.pad(x, (self.ka, self.kb, self.ka, self.kb)), weight=self.weight, groups=self.groups)
        # mode='nearest': align_corners does not apply (None); recompute_scale_factor = torch < 1.6 indices.
        return F.interpolate(
            out, scale_factor=(self.scale, self.scale), mode="nearest", align_corners=None, recompute_scale_factor=True
        )


class ImagePyramid(nn.Module):
    """``forward(x (N, C, H, W))`` -> ``{'prediction_<scale>': x at that scale}`` (official keys)."""

    def __init__(self, scales: Sequence[float], num_channels: int) -> None:
        super().__init__()
        self.downs = nn.ModuleDict(
            {str(s).replace(".", "-"): AntiAliasInterpolation2d(num_channels, s) for s in scales}
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"prediction_" + k.replace("-", "."): down(x) for k, down in self.downs.items()}


def _hull_scale(kp_target: KP, kp_initial: KP) -> float:
    try:
        areas = [ConvexHull(kp["value"][0].detach().cpu().double().numpy()).volume for kp in (kp_target, kp_initial)]
    except QhullError:
        warnings.warn("FOMM keypoints are degenerate (no 2-D convex hull): movement scale 1 used", stacklevel=3)
        return 1.0
    return math.sqrt(areas[0]) / math.sqrt(areas[1])


def normalize_kp(
    kp_target: KP,
    kp_driving: KP,
    kp_driving_initial: KP,
    adapt_movement_scale: bool = False,
    use_relative_movement: bool = False,
    use_relative_jacobian: bool = False,
) -> KP:
    """Driving keypoints for the target frame (official ``animate.normalize_kp``, paper Sec.
    4; ``kp_target`` is the official ``kp_source``: the keypoints of the still image being
    animated, the paper's "source image", which shows our target identity).

    Relative: ``value = kp_target + s (kp_driving - kp_driving_initial)`` and ``jacobian =
    J_driving J_initial^-1 J_target``; ``s = sqrt(hull area(target) / hull area(initial))``
    (keypoint convex hulls of batch item 0) with ``adapt_movement_scale``, else 1. Otherwise
    ``kp_driving`` unchanged (absolute). ``kp_target``/``kp_driving_initial`` ``(1, K, ...)``
    broadcast against ``kp_driving`` ``(N, K, ...)``. Degenerate hulls warn and use ``s = 1``.
    """
    scale = _hull_scale(kp_target, kp_driving_initial) if adapt_movement_scale else 1.0
    kp_new = dict(kp_driving)
    if use_relative_movement:
        kp_new["value"] = (kp_driving["value"] - kp_driving_initial["value"]) * scale + kp_target["value"]
        if use_relative_jacobian and "jacobian" in kp_driving:
            diff = torch.matmul(kp_driving["jacobian"], torch.inverse(kp_driving_initial["jacobian"]))
            kp_new["jacobian"] = torch.matmul(diff, kp_target["jacobian"])
    return kp_new


def animate(
    target: torch.Tensor,
    driving: torch.Tensor,
    modules: dict[str, nn.Module],
    relative: bool = True,
    adapt_movement_scale: bool = True,
    batch_size: int = 8,
    reference_frame: int = 0,
) -> torch.Tensor:
    """Animate the still frame ``target`` ``(1, 3, H, W)`` (the FOMM paper's "source image",
    showing the target identity) with ``driving`` ``(T, 3, H, W)``, both float in ``[0, 1]``.

    As the official ``demo.make_animation``: keypoints of each driving frame are transferred
    with :func:`normalize_kp` (``use_relative_movement = use_relative_jacobian = relative``)
    relative to ``driving[reference_frame]`` (0, or :func:`best_frame`'s choice, which equals
    the demo's forward/backward pass from that frame); ``modules`` holds ``'generator'`` and
    ``'kp_detector'``, used as they are (call ``.eval()`` first; :func:`load_checkpoint` does).
    Runs under ``torch.inference_mode`` on the generator's device, ``batch_size`` frames at a
    time. Returns ``(T, 3, H, W)`` float32 in ``[0, 1]`` on ``driving``'s device.
    Raises ``ValueError`` on wrong shapes, values outside ``[0, 1]`` or a bad ``reference_frame``.
    """
    if target.ndim != 4 or target.shape[0] != 1 or driving.ndim != 4 or driving.shape[1:] != target.shape[1:]:
        raise ValueError(
            f"target must be (1, C, H, W) and driving (T, C, H, W), got {tuple(target.shape)}, {tuple(driving.shape)}"
        )
    if not 0 <= reference_frame < driving.shape[0] or batch_size < 1:
        raise ValueError(f"reference_frame {reference_frame} / batch_size {batch_size} invalid for T={len(driving)}")
    for name, x in (("target", target), ("driving", driving)):
        if x.numel() and (float(x.min()) < 0 or float(x.max()) > 1):
            raise ValueError(f"{name} values must lie in [0, 1], got [{float(x.min()):.3g}, {float(x.max()):.3g}]")
    generator, kp_detector = modules["generator"], modules["kp_detector"]
    device = next(generator.parameters()).device
    outputs = []
    with torch.inference_mode():
        still = target.to(device, torch.float32)
        kp_target = kp_detector(still)
        kp_initial = kp_detector(driving[reference_frame : reference_frame + 1].to(device, torch.float32))
        scale_kp = adapt_movement_scale and relative
        for start in range(0, driving.shape[0], batch_size):
            frames = driving[start : start + batch_size].to(device, torch.float32)
            n = frames.shape[0]
            kp_norm = normalize_kp(kp_target, kp_detector(frames), kp_initial, scale_kp, relative, relative)
            kp_still = {k: v.expand(n, *v.shape[1:]) for k, v in kp_target.items()}
            out = generator(
                still.expand(n, -1, -1, -1), kp_driving=kp_norm, kp_source=kp_still
            )  # the authors' argument names
            outputs.append(out["prediction"].float().to(driving.device))
    return torch.cat(outputs)


def best_frame(target_landmarks, driving_landmarks) -> int:
    """Index of the driving frame whose landmarks best match the target frame's (official
    ``demo.find_best_frame`` on given landmarks): each ``(P, 2)`` set (68 points, pixels) is
    centred and divided by the square root of its convex-hull area, then the frame with the
    least sum of squared differences wins. ``driving_landmarks``: ``(T, P, 2)``.
    Raises ``ValueError`` on wrong shapes, no frames or degenerate (collinear) landmarks."""
    src, drv = np.asarray(target_landmarks, np.float64), np.asarray(driving_landmarks, np.float64)
    if src.ndim != 2 or src.shape[1] != 2 or drv.ndim != 3 or drv.shape[1:] != src.shape or len(drv) == 0:
        raise ValueError(f"landmarks must be (P, 2) and (T, P, 2), got {src.shape} and {drv.shape}")

    def normalised(points: np.ndarray) -> np.ndarray:
        points = points - points.mean(axis=0, keepdims=True)
        try:
            return points / math.sqrt(ConvexHull(points).volume)
        except QhullError as exc:
            raise ValueError("landmarks are degenerate (no 2-D convex hull)") from exc

    ref = normalised(src)
    return int(np.argmin([((normalised(d) - ref) ** 2).sum() for d in drv]))


class Transform:
    """Random affine + thin-plate-spline warp for the equivariance losses (paper Sec. 3.3,
    official ``modules/model.Transform``): ``theta = I + N(0, sigma_affine^2)`` ``(bs, 2, 3)``
    and, when ``sigma_tps`` and ``points_tps`` are given, TPS weights ``N(0, sigma_tps^2)`` on a
    ``points_tps^2`` control grid with the official L1-distance kernel ``r^2 log(r + 1e-6)``
    (same offset added to x and y). ``generator``: optional ``torch.Generator`` for the draws.
    """

    def __init__(
        self,
        bs: int,
        sigma_affine: float,
        sigma_tps: float | None = None,
        points_tps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        self.bs = bs
        self.theta = torch.eye(2, 3).unsqueeze(0) + sigma_affine * torch.randn(bs, 2, 3, generator=generator)
        self.tps = sigma_tps is not None and points_tps is not None
        if self.tps:
            self.control_points = make_coordinate_grid((points_tps, points_tps)).reshape(1, 1, -1, 2)
            self.control_params = sigma_tps * torch.randn(bs, 1, points_tps**2, generator=generator)

    def warp_coordinates(self, coordinates: torch.Tensor) -> torch.Tensor:
        """``(bs or 1, P, 2)`` coordinates in ``[-1, 1]`` -> their images ``(bs, P, 2)``."""
        theta = self.theta.to(coordinates)
        coords = coordinates.expand(self.bs, *coordinates.shape[1:])
        out = torch.einsum("bij,bpj->bpi", theta[:, :, :2], coords) + theta[:, None, :, 2]
        if self.tps:
            dist = (coords.unsqueeze(2) - self.control_points.to(coordinates)).abs().sum(-1)
            out = out + (dist**2 * torch.log(dist + 1e-6) * self.control_params.to(coordinates)).sum(-1, keepdim=True)
        return out

    def transform_frame(self, frame: torch.Tensor) -> torch.Tensor:
        """Warp ``frame`` ``(bs, C, H, W)``: output pixel ``z`` samples ``frame`` at ``warp(z)``
        (reflection padding)."""
        n, _, h, w = frame.shape
        grid = make_coordinate_grid((h, w), frame.dtype, frame.device).reshape(1, h * w, 2)
        grid = self.warp_coordinates(grid).view(n, h, w, 2)
        return F.grid_sample(frame, grid, mode="bilinear", padding_mode="reflection", align_corners=GRID_ALIGN_CORNERS)

    def jacobian(self, coordinates: torch.Tensor) -> torch.Tensor:
        """``d warp / d z`` at ``coordinates`` ``(bs, P, 2)`` -> ``(bs, P, 2, 2)`` (rows: x, y), by
        autograd with ``create_graph=True`` (differentiable); not usable in inference mode."""
        with torch.enable_grad():
            if not coordinates.requires_grad:
                coordinates = coordinates.detach().requires_grad_(True)
            new = self.warp_coordinates(coordinates)
            rows = [torch.autograd.grad(new[..., i].sum(), coordinates, create_graph=True)[0] for i in (0, 1)]
        return torch.stack(rows, dim=-2)


def equivariance_losses(kp_driving: KP, kp_transformed: KP, transform: Transform, jacobian: bool = True) -> KP:
    """Unweighted equivariance losses (paper Eq. 10-11, official ``GeneratorFullModel``).

    ``kp_transformed`` are the keypoints of ``transform.transform_frame(driving)``.
    ``'equivariance_value'`` = mean ``|kp_D - T(kp_T)|``; ``'equivariance_jacobian'`` (if
    ``jacobian`` and both have jacobians) = mean ``|I - J_D^-1 (dT/dz(kp_T) J_T)|``. Scalars.
    """
    out = {
        "equivariance_value": (kp_driving["value"] - transform.warp_coordinates(kp_transformed["value"])).abs().mean()
    }
    if jacobian and "jacobian" in kp_driving and "jacobian" in kp_transformed:
        jac_t = torch.matmul(transform.jacobian(kp_transformed["value"]), kp_transformed["jacobian"])
        value = torch.matmul(torch.inverse(kp_driving["jacobian"]), jac_t)
        out["equivariance_jacobian"] = (torch.eye(2, dtype=value.dtype, device=value.device) - value).abs().mean()
    return out


def _pyramid_l1(fake: dict, real: dict, features: Callable, weights: Sequence[float]) -> torch.Tensor:
    total = 0.0
    for key in fake:
        for weight, x, y in zip(weights, features(fake[key]), features(real[key])):
            if weight:
                total = total + weight * (x - y.detach()).abs().mean()
    return torch.as_tensor(total) if isinstance(total, float) else total


def pyramid_l1_loss(
    prediction: torch.Tensor, target: torch.Tensor, scales: Sequence[float] = SCALES, weight: float = 10.0
) -> torch.Tensor:
    """``sum_s weight * mean |P_s(prediction) - P_s(target)|`` over an anti-aliased image pyramid
    (:class:`ImagePyramid`, ``scales`` as the paper's perceptual loss): the pixel stand-in used
    when VGG-19 weights are unavailable. ``(N, C, H, W)`` inputs, scalar output; target detached."""
    pyramid = ImagePyramid(scales, prediction.shape[1]).to(prediction)
    return _pyramid_l1(pyramid(prediction), pyramid(target), lambda x: [x], [weight])


def perceptual_loss(
    vgg_features_fn: Callable[[torch.Tensor], Sequence[torch.Tensor]],
    prediction: torch.Tensor,
    target: torch.Tensor,
    scales: Sequence[float] = SCALES,
    weights: Sequence[float] = PERCEPTUAL_WEIGHTS,
) -> torch.Tensor:
    """Multi-scale perceptual loss (paper Sec. 3.3): ``sum_s sum_i weights[i] * mean |V_i(P_s(x))
    - V_i(P_s(y))|`` with ``V`` e.g. :class:`Vgg19Features` (relu1_1..relu5_1), scales
    ``[1, 0.5, 0.25, 0.125]`` and weights ``[10] * 5`` as vox-256. Scalar; target detached."""
    pyramid = ImagePyramid(scales, prediction.shape[1]).to(prediction)
    return _pyramid_l1(pyramid(prediction), pyramid(target), vgg_features_fn, weights)


class Vgg19Features(nn.Module):
    """torchvision VGG-19 ``features[:30]`` returning relu1_1, relu2_1, relu3_1, relu4_1,
    relu5_1 of ImageNet-normalised ``(N, 3, H, W)`` inputs in ``[0, 1]`` (official ``Vgg19``).

    ``state_dict``: a torchvision ``vgg19`` state dict (``features.<i>.weight``...; classifier
    keys ignored) or one of ``features`` alone; it is required, nothing is downloaded and
    random weights are never used. Frozen, eval mode. Raises ``DataError`` if keys or shapes
    do not match.
    """

    CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512)
    SLICES = (2, 7, 12, 21, 30)

    def __init__(self, state_dict: dict[str, torch.Tensor]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for v in self.CFG:
            layers += [nn.MaxPool2d(2, 2)] if v == "M" else [nn.Conv2d(in_ch, int(v), 3, padding=1), nn.ReLU()]
            in_ch = in_ch if v == "M" else int(v)
        self.features = nn.Sequential(*layers)
        state = {
            k[len("features.") :] if k.startswith("features.") else k: v
            for k, v in state_dict.items()
            if not k.startswith("classifier.")
        }
        state = {k: v for k, v in state.items() if not (k.split(".")[0].isdigit() and int(k.split(".")[0]) >= 30)}
        try:
            self.features.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise DataError(f"VGG-19 weights do not match torchvision's vgg19 features: {exc}") from exc
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out, h, start = [], (x - self.mean) / self.std, 0
        for end in self.SLICES:
            h = self.features[start:end](h)
            out.append(h)
            start = end
        return out


def generator_full_step(
    modules: dict[str, nn.Module],
    target: torch.Tensor,
    driving: torch.Tensor,
    loss_weights: dict[str, Any] | None = None,
    vgg: Callable | None = None,
    transform_params: dict[str, Any] | None = None,
    scales: Sequence[float] = SCALES,
    rng: torch.Generator | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict]:
    """Losses of one reconstruction training step (official ``GeneratorFullModel.forward``).

    ``target``, ``driving``: ``(N, 3, H, W)`` in ``[0, 1]``, frames of the same videos (the
    still frame animated, the official ``source``, and the frame whose motion it follows). The
    reconstruction loss is ``'perceptual'`` (weights ``loss_weights['perceptual']``) when a
    ``vgg`` features callable is given, else ``'pyramid_l1'`` (weight
    ``loss_weights['pyramid_l1']``); plus ``'equivariance_value'`` and
    ``'equivariance_jacobian'`` (a :class:`Transform` of ``transform_params``, vox-256's by
    default, drawn with ``rng``) and, when ``loss_weights['generator_gan']`` is non-zero and
    ``modules`` has a ``'discriminator'``, LSGAN ``'gen_gan'`` and ``'feature_matching'``.
    ``loss_weights`` update :data:`DEFAULT_LOSS_WEIGHTS` (vox-256, GAN off). Returns
    ``(total, {name: weighted loss}, generated)``; ``generated`` is the generator's output dict
    plus keypoints. The caller runs ``backward`` and the optimizer steps.
    """
    w = {**DEFAULT_LOSS_WEIGHTS, **(loss_weights or {})}
    kp_detector, generator = modules["kp_detector"], modules["generator"]
    kp_target, kp_driving = kp_detector(target), kp_detector(driving)
    generated = generator(target, kp_driving=kp_driving, kp_source=kp_target)  # the authors' argument names
    generated.update(kp_source=kp_target, kp_driving=kp_driving)  # the official output keys
    pyramid = ImagePyramid(scales, target.shape[1]).to(target)
    real, fake = pyramid(driving), pyramid(generated["prediction"])
    losses: dict[str, torch.Tensor] = {}
    if vgg is not None:
        losses["perceptual"] = _pyramid_l1(fake, real, vgg, w["perceptual"])
    else:
        losses["pyramid_l1"] = _pyramid_l1(fake, real, lambda x: [x], [w["pyramid_l1"]])
    disc = modules.get("discriminator")
    if w["generator_gan"] and disc is not None:
        kp_fixed = {k: v.detach() for k, v in kp_driving.items()}
        d_fake, d_real = disc(fake, kp=kp_fixed), disc(real, kp=kp_fixed)
        losses["gen_gan"] = sum(
            w["generator_gan"] * ((1 - d_fake[f"prediction_map_{s}"]) ** 2).mean() for s in disc.scales
        )
        if sum(w["feature_matching"]):
            losses["feature_matching"] = sum(
                wi * (a - b).abs().mean()
                for s in disc.scales
                for wi, a, b in zip(w["feature_matching"], d_real[f"feature_maps_{s}"], d_fake[f"feature_maps_{s}"])
                if wi
            )
    if w["equivariance_value"] or w["equivariance_jacobian"]:
        transform = Transform(driving.shape[0], **(transform_params or VOX256_TRANSFORM_PARAMS), generator=rng)
        transformed = transform.transform_frame(driving)
        kp_transformed = kp_detector(transformed)
        generated.update(transformed_frame=transformed, transformed_kp=kp_transformed)
        eq = equivariance_losses(kp_driving, kp_transformed, transform, jacobian=bool(w["equivariance_jacobian"]))
        losses.update({k: w[k] * v for k, v in eq.items() if w[k]})
    total = sum(losses.values())
    return total, losses, generated
