"""Fréchet Inception Distance (Heusel et al. 2017) with pytorch-fid's Inception-v3.

Glue around ``pytorch_fid``: its ``InceptionV3`` (FID weights, a port of the TensorFlow
FID network) extracts pool features, its ``calculate_frechet_distance`` compares them.
The weights come from :mod:`forgebench.weights` (entry ``pt_inception``), never from a
download: pytorch-fid's loader ``load_state_dict_from_url`` is replaced, while the
network is built, by one returning the state dict of our resolved, hash-checked file
(loaded with ``weights_only=True``; pytorch-fid then loads it strictly).

FID with few samples is biased upwards (Chong & Forsyth 2020) and its covariance is
singular below 2048 samples: always report the number of images behind a value and
compare values only at equal sample counts.

CLI: ``python -m forgebench.metrics.fid REAL_DIR FAKE_DIR`` (PNG/JPEG files).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from unittest import mock

import numpy as np
from tqdm.auto import tqdm

from forgebench.errors import DataError, ForgebenchError
from forgebench.fileio import load_checkpoint
from forgebench.media import read_image
from forgebench.metrics._declaration import MetricDecl, declare_quality
from forgebench.metrics.identity import frechet_distance_features
from forgebench.weights import WeightsFile, WeightsUnavailable, resolve_weights

WEIGHTS_NAME = "pt_inception"
#: The metric of the quality tables computed here, declared.
DECLARED: tuple[MetricDecl, ...] = (
    declare_quality(
        "fid",
        "FID",
        ("set",),
        "≥ 0",
        False,
        "Heusel et al. 2017, pytorch-fid",
        "Fréchet distance of Inception pool features, real vs fake crops",
        needs="weights: inception_fid",
        weights=(WEIGHTS_NAME,),
    ),
)
DIMS = (64, 192, 768, 2048)  # pytorch-fid's feature blocks; 2048 = standard FID
_MODELS: dict[tuple, object] = {}


def load_inception(dims: int = 2048, device=None):
    """pytorch-fid's ``InceptionV3`` with the FID weights from the registry, in eval mode.

    Args:
        dims: feature dimension / block: 64, 192, 768 or 2048 (standard FID).
        device: ``torch.device`` or name (default CPU).

    Returns:
        ``(model, WeightsFile)``; the model maps ``(N, 3, H, W)`` float in [0, 1] to a
        list with one ``(N, dims, h, w)`` tensor (resizes to 299 px itself).

    Raises:
        WeightsUnavailable: the weights file is missing, has the wrong hash, or does not
            hold the FID Inception state dict.
        ValueError: unsupported ``dims``.
    """
    # torch and pytorch-fid (torchvision) take seconds to import: imported by the functions
    # that compute, so DECLARED above is read without them (the report stage, the docs)
    import torch
    from pytorch_fid import inception as fid_inception

    if dims not in DIMS:
        raise ValueError(f"dims must be one of {DIMS}, got {dims}")
    device = torch.device(device or "cpu")
    wf = resolve_weights(WEIGHTS_NAME)
    key = (str(wf.path), wf.sha256, dims, str(device))
    if key in _MODELS:
        return _MODELS[key], wf
    try:
        state = load_checkpoint(wf.path, "FID Inception weights file")
    except DataError as exc:
        raise WeightsUnavailable(WEIGHTS_NAME, str(exc)) from None

    def _from_registry(url, *args, **kwargs):
        if url != fid_inception.FID_WEIGHTS_URL:
            raise RuntimeError(f"unexpected weights URL {url} while building the FID Inception")
        return state

    try:
        with mock.patch.object(fid_inception, "load_state_dict_from_url", _from_registry):
            model = fid_inception.InceptionV3([fid_inception.InceptionV3.BLOCK_INDEX_BY_DIM[dims]])
    except (RuntimeError, TypeError, AttributeError, KeyError) as exc:
        raise WeightsUnavailable(WEIGHTS_NAME, f"{wf.path}: not the FID Inception state dict ({exc})") from None
    model = model.eval().to(device)
    _MODELS.clear()  # keep one network in memory
    _MODELS[key] = model
    return model, wf


def _check_images(images: np.ndarray, what: str) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"{what} images must be (N, H, W, 3) uint8, got {images.shape} {images.dtype}")
    return images


def inception_features(
    images: np.ndarray, dims: int = 2048, batch_size: int = 16, device=None, progress: bool = False
) -> np.ndarray:
    """Inception pool features of images, as pytorch-fid computes them.

    Args:
        images: ``(N, H, W, 3)`` uint8 RGB (any size; resized to 299 px bilinearly).
        dims: feature block (2048 = standard FID).
        batch_size: images per forward pass.
        device: torch device (default CPU).
        progress: show a tqdm bar.

    Returns:
        ``(N, dims)`` float64 features.

    Raises:
        WeightsUnavailable: no valid weights file.
        ValueError: wrong image shape or dtype.
    """
    import torch  # heavy: see load_inception

    images = _check_images(images, "input")
    model, _ = load_inception(dims, device)
    dev = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for i in tqdm(range(0, len(images), batch_size), desc="inception", disable=not progress, leave=False):
            batch = torch.from_numpy(np.ascontiguousarray(images[i : i + batch_size])).to(dev)
            batch = batch.permute(0, 3, 1, 2).float() / 255.0
            feat = model(batch)[0]
            # Blocks below 2048 are spatial maps; pytorch-fid averages them to 1x1.
            if feat.shape[2] != 1 or feat.shape[3] != 1:
                feat = torch.nn.functional.adaptive_avg_pool2d(feat, (1, 1))
            out.append(feat.reshape(feat.shape[0], -1).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, dims))


def fid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    """FID from precomputed Inception features ``(N, D)`` and ``(M, D)``, N, M >= 2
    (see :func:`forgebench.metrics.identity.frechet_distance_features`)."""
    return frechet_distance_features(real, fake)


def fid_from_images(
    real: np.ndarray, fake: np.ndarray, dims: int = 2048, batch_size: int = 16, device=None, progress: bool = False
) -> float:
    """Fréchet Inception Distance between two image sets.

    Args:
        real: ``(N, H, W, 3)`` uint8 RGB, N >= 2.
        fake: ``(M, H', W', 3)`` uint8 RGB, M >= 2.
        dims: Inception block (2048 = the standard FID; smaller blocks are for quick
            checks and are not comparable with published FIDs).
        batch_size, device, progress: see :func:`inception_features`.

    Returns:
        FID >= 0 (squared feature units; lower = closer). Biased upwards for small sets:
        report N and M with it.

    Raises:
        WeightsUnavailable: the FID Inception weights cannot be had.
        ValueError: wrong shapes or fewer than 2 images per set.
    """
    real = _check_images(real, "real")
    fake = _check_images(fake, "fake")
    if len(real) < 2 or len(fake) < 2:
        raise ValueError(f"FID needs >= 2 images per set, got {len(real)} real and {len(fake)} fake")
    fr = inception_features(real, dims, batch_size, device, progress)
    ff = inception_features(fake, dims, batch_size, device, progress)
    return fid_from_features(fr, ff)


def weights_file() -> WeightsFile:
    """The resolved FID Inception weights (raises :class:`WeightsUnavailable`)."""
    return resolve_weights(WEIGHTS_NAME)


def main(argv: list[str] | None = None) -> int:
    """``python -m forgebench.metrics.fid REAL_DIR FAKE_DIR [--dims D]``: print the FID of
    two folders of images; exit status 2 with the reason when the weights are missing."""
    parser = argparse.ArgumentParser(description="FID between two folders of images (pytorch-fid Inception).")
    parser.add_argument("real", type=Path)
    parser.add_argument("fake", type=Path)
    parser.add_argument("--dims", type=int, default=2048, choices=DIMS)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args(argv)

    def load(folder: Path) -> np.ndarray:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        if len(files) < 2:
            raise ValueError(f"{folder}: need >= 2 PNG/JPEG images, found {len(files)}")
        imgs = [read_image(p) for p in files]
        if len({im.shape for im in imgs}) > 1:
            raise ValueError(f"{folder}: images differ in size")
        return np.stack(imgs)

    try:
        real, fake = load(args.real), load(args.fake)
        value = fid_from_images(real, fake, dims=args.dims, batch_size=args.batch_size, progress=True)
    except (ForgebenchError, ValueError) as exc:
        print(f"fid: error: {exc}", file=sys.stderr)
        return 2
    print(f"FID: {value:.4f}  (n_real={len(real)}, n_fake={len(fake)}, dims={args.dims})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
