"""Training loop of the ``fomm`` generator: frame reconstruction within each video, as the
authors' ``train.py`` (Adam with betas (0.5, 0.999) per module, learning rates divided by
10 at the milestones), with the losses of :func:`~forgebench.generators.fomm.motion.generator_full_step`.

The reconstruction loss is the paper's multi-scale perceptual loss on VGG-19 features when
the ``vgg19`` weights file is available through :mod:`forgebench.weights`; without it
(no download on an offline machine) a multi-scale L1 pyramid is used instead, and the
training log says which (``reconstruction_loss``) — never random VGG weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from forgebench.fileio import load_checkpoint
from forgebench.generators.fomm.motion import SCALES, ImagePyramid, Vgg19Features, generator_full_step
from forgebench.imaging import SYNTHESIS, images_to_tensor, resize_square
from forgebench.weights import WeightsUnavailable, resolve_weights


def vgg19_features(device) -> tuple[Any | None, str]:
    """The frozen VGG-19 feature extractor of the perceptual loss on the registry's
    ``vgg19`` weights, or ``None`` with the reason when they cannot be had.

    Returns:
        ``(Vgg19Features or None, description)``: ``"perceptual (vgg19 <sha256>)"`` or
        ``"pyramid_l1 (vgg19 unavailable: <reason>)"``.
    """
    try:
        weights = resolve_weights("vgg19")
    except WeightsUnavailable as exc:
        return None, f"pyramid_l1 (vgg19 unavailable: {exc.reason})"
    state = load_checkpoint(weights.path, "VGG-19 weights file")
    return Vgg19Features(state).to(device), f"perceptual (vgg19 {weights.sha256})"


def _faces(crops: list[np.ndarray], size: int) -> np.ndarray:
    return np.stack([resize_square(c, size, SYNTHESIS) for c in crops])


def train_fomm(
    modules: dict[str, Any], crops: dict[str, list[np.ndarray]], settings, device, seed: int, progress: bool = True
) -> dict[str, Any]:
    """Train ``modules`` (from :func:`~forgebench.generators.fomm.model.build_fomm`) in place.

    Each step draws ``batch_size`` videos (identities) uniformly and, from each, two
    different frames, the still one animated (the official ``source``) and the driving one,
    flipped horizontally together with
    probability 1/2; images are resized to ``image_size`` and scaled to ``[0, 1]``.
    The discriminator (LSGAN, multi-scale) is trained only when
    ``loss_weights['generator_gan']`` > 0 and ``modules`` has one.

    Args:
        modules: ``generator``, ``kp_detector`` (and optionally ``discriminator``) on ``device``.
        crops: ``{identity: [(S, S, 3) uint8 aligned crops of its video]}``, 2+ per identity.
        settings: :class:`~forgebench.generators.fomm.FommSettings`.
        device: torch device.
        seed: seed of the frame draws, flips and random transforms.
        progress: tqdm bar.

    Returns:
        ``iterations``, ``batch_size``, ``loss_first``, ``loss_final`` (mean of the last 10%
        of steps), ``losses_final`` (per term), ``reconstruction_loss`` (see
        :func:`vgg19_features`).
    """
    s = settings
    faces = {i: _faces(c, s.image_size) for i, c in sorted(crops.items())}
    ids = list(faces)
    rng = np.random.default_rng(seed)
    draws = torch.Generator().manual_seed(seed)
    vgg, recon = vgg19_features(device)
    gen, kp, disc = modules["generator"], modules["kp_detector"], modules.get("discriminator")
    use_gan = bool(s.loss_weights.get("generator_gan")) and disc is not None
    optimizers = [
        torch.optim.Adam(gen.parameters(), lr=s.lr_generator, betas=(0.5, 0.999)),
        torch.optim.Adam(kp.parameters(), lr=s.lr_kp_detector, betas=(0.5, 0.999)),
    ]
    if use_gan:
        optimizers.append(torch.optim.Adam(disc.parameters(), lr=s.lr_discriminator, betas=(0.5, 0.999)))
    milestones = sorted({max(1, int(round(m * s.iterations))) for m in s.milestones})
    schedulers = [torch.optim.lr_scheduler.MultiStepLR(o, milestones, gamma=0.1) for o in optimizers]
    pyramid = ImagePyramid(SCALES, 3).to(device)
    for m in modules.values():
        m.train()
    history: list[float] = []
    terms: dict[str, list[float]] = {}
    bar = tqdm(range(s.iterations), desc="fomm", unit="it", disable=None if progress else True)
    for _ in bar:
        still, drv = [], []
        for identity in rng.choice(ids, size=s.batch_size):
            a, b = rng.choice(len(faces[identity]), size=2, replace=False)
            pair = [faces[identity][a], faces[identity][b]]
            if rng.random() < 0.5:
                pair = [p[:, ::-1] for p in pair]
            still.append(pair[0])
            drv.append(pair[1])
        target, driving = images_to_tensor(np.stack(still), device), images_to_tensor(np.stack(drv), device)
        total, losses, generated = generator_full_step(
            modules if use_gan else {"generator": gen, "kp_detector": kp},
            target,
            driving,
            s.loss_weights,
            vgg,
            s.transform_params.model_dump(),
            rng=draws,
        )
        for o in optimizers[:2]:
            o.zero_grad(set_to_none=True)
        total.backward()
        for o in optimizers[:2]:
            o.step()
        if use_gan:
            optimizers[2].zero_grad(set_to_none=True)
            kp_fixed = {k: v.detach() for k, v in generated["kp_driving"].items()}
            real, fake = (
                disc(pyramid(driving), kp=kp_fixed),
                disc(pyramid(generated["prediction"].detach()), kp=kp_fixed),
            )
            d_loss = sum(
                ((1 - real[f"prediction_map_{sc}"]) ** 2 + fake[f"prediction_map_{sc}"] ** 2).mean()
                for sc in disc.scales
            )
            (s.loss_weights.get("discriminator_gan", 1.0) * d_loss).backward()
            optimizers[2].step()
        for sch in schedulers:
            sch.step()
        history.append(float(total.detach()))
        for k, v in losses.items():
            terms.setdefault(k, []).append(float(v.detach()))
        bar.set_postfix(loss=f"{history[-1]:.3f}", refresh=False)
    tail = max(1, s.iterations // 10)
    return {
        "iterations": s.iterations,
        "batch_size": s.batch_size,
        "loss_first": history[0],
        "loss_final": float(np.mean(history[-tail:])),
        "losses_final": {k: float(np.mean(v[-tail:])) for k, v in terms.items()},
        "reconstruction_loss": recon,
    }
