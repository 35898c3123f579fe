"""LPIPS perceptual distance (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep
Features as a Perceptual Metric") through the ``lpips`` package.

Weights: the ImageNet backbone (torchvision AlexNet for ``net="alex"``, VGG-16 for
``net="vgg"``) comes from :mod:`forgebench.weights` (entries ``alexnet``, ``vgg16``),
never from a download; the calibrated linear layers (v0.1) ship inside the ``lpips``
package. The network is built with ``lpips.LPIPS(pretrained=False, pnet_rand=True)``
(nothing fetched), then every backbone layer is loaded from the resolved file and the
linear layers from the package file, both with ``torch.load(weights_only=True)`` and
checked to cover every parameter: the metric is never computed with random weights.

CLI: ``python -m forgebench.metrics.lpips_metric A.png B.png``.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from pathlib import Path

import numpy as np

from forgebench.errors import DataError, ForgebenchError
from forgebench.fileio import load_checkpoint
from forgebench.media import read_image
from forgebench.metrics._declaration import MetricDecl, declare_quality
from forgebench.weights import WeightsFile, WeightsUnavailable, record_file, resolve_weights

NETS = {"alex": "alexnet", "vgg": "vgg16"}  # lpips net name -> weights registry name
#: The metric of the quality tables computed here (net="alex"), declared.
DECLARED: tuple[MetricDecl, ...] = (
    declare_quality(
        "lpips",
        "LPIPS",
        ("video",),
        "distance, ≥ 0",
        False,
        "Zhang et al. 2018, lpips (AlexNet)",
        "learned perceptual distance to the replaced target frame, spatial map averaged inside the face mask",
        needs="pixels; weights: lpips_alex",
        weights=(NETS["alex"],),
    ),
)
VERSION = "0.1"
_MODELS: dict[tuple, object] = {}


def _backbone(net: str, wf: WeightsFile):
    import torchvision  # heavy: see load_lpips

    builder = {"alex": torchvision.models.alexnet, "vgg": torchvision.models.vgg16}[net]
    model = builder(weights=None)
    try:
        model.load_state_dict(load_checkpoint(wf.path, f"torchvision {NETS[net]} weights file"))
    except (DataError, RuntimeError) as exc:  # unreadable or wrong state dict: unusable file
        raise WeightsUnavailable(wf.name, f"{wf.path}: not a torchvision {NETS[net]} state dict ({exc})") from None
    return model.features


def load_lpips(net: str = "alex", spatial: bool = False, device=None):
    """An ``lpips.LPIPS`` network (v0.1, eval mode) with all weights from files.

    Args:
        net: ``alex`` (the default of the LPIPS paper and this project) or ``vgg``.
        spatial: return a per-pixel distance map instead of one number per image.
        device: ``torch.device`` or name (default CPU).

    Returns:
        ``(model, WeightsFile of the backbone)``. The model maps two ``(N, 3, H, W)``
        tensors in [-1, 1] to ``(N, 1, 1, 1)`` distances, or ``(N, 1, H, W)`` maps when
        ``spatial``.

    Raises:
        WeightsUnavailable: the backbone weights are missing, have the wrong hash or do
            not fit the network.
        DataError: the linear-layer weights of the lpips package are missing or broken.
        ValueError: unknown ``net``.
    """
    # lpips and torch take seconds to import: imported by the functions that compute, so
    # DECLARED above is read without them (the report stage, the docs)
    import lpips
    import torch

    if net not in NETS:
        raise ValueError(f"LPIPS net must be one of {sorted(NETS)}, got {net!r}")
    device = torch.device(device or "cpu")
    wf = resolve_weights(NETS[net])
    lin_path = Path(lpips.__file__).parent / "weights" / f"v{VERSION}" / f"{net}.pth"
    key = (str(wf.path), wf.sha256, net, spatial, str(device))
    if key in _MODELS:
        record_file(f"lpips_{net}_v{VERSION}_linear", lin_path)
        return _MODELS[key], wf
    features = _backbone(net, wf)
    with warnings.catch_warnings():  # lpips passes torchvision's deprecated pretrained=False
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(pretrained=False, net=net, version=VERSION, pnet_rand=True, spatial=spatial, verbose=False)
    copied = set()
    for slice_name, block in model.net.named_children():
        for idx, layer in block.named_children():
            layer.load_state_dict(features[int(idx)].state_dict())
            copied |= {f"net.{slice_name}.{idx}.{k}" for k in layer.state_dict()}
    try:
        lin_state = load_checkpoint(lin_path, "LPIPS linear-layer weights file")
    except DataError as exc:
        raise DataError(f"{exc}; reinstall lpips") from None
    result = model.load_state_dict(lin_state, strict=False)
    lin_keys = {k for k in model.state_dict() if re.match(r"lin\d+\.", k)}
    if result.unexpected_keys or not lin_keys <= set(lin_state):
        raise DataError(f"{lin_path}: does not hold the LPIPS {net} linear layers; reinstall lpips")
    # Every parameter must come from a file (buffers of the scaling layer are constants).
    params = {k for k, _ in model.named_parameters()}
    loaded = copied | lin_keys | {k.replace("lin", "lins.", 1) for k in lin_keys}
    if params - loaded:
        raise DataError(f"LPIPS {net}: parameters not loaded from any file: {sorted(params - loaded)[:5]}")
    record_file(f"lpips_{net}_v{VERSION}_linear", lin_path)
    model = model.eval().to(device)
    _MODELS.clear()
    _MODELS[key] = model
    return model, wf


def _check(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim == 3:
        a, b = a[None], b[None]
    if a.ndim != 4 or a.shape[-1] != 3 or a.dtype != np.uint8 or b.shape != a.shape or b.dtype != np.uint8:
        raise ValueError(
            f"LPIPS inputs must be two (N, H, W, 3) uint8 batches of one shape, got {a.shape} {a.dtype} and {b.shape} {b.dtype}"
        )
    if min(a.shape[1:3]) < 32:
        raise ValueError(f"LPIPS needs images of at least 32 px, got {a.shape[1:3]}")
    return a, b


def lpips_distance(
    a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None, net: str = "alex", batch_size: int = 16, device=None
) -> np.ndarray:
    """LPIPS distance between two image batches, pair by pair.

    Args:
        a, b: ``(N, H, W, 3)`` uint8 RGB (or one ``(H, W, 3)`` image each), H, W >= 32.
        mask: optional ``(H, W)`` or ``(N, H, W)`` bool / [0, 1] weights: the spatial
            LPIPS map (the paper's ``spatial=True`` variant) is averaged inside it;
            without a mask, the standard image-level LPIPS.
        net: backbone, ``alex`` (default) or ``vgg``.
        batch_size: pairs per forward pass.
        device: torch device (default CPU).

    Returns:
        ``(N,)`` float64 distances >= 0 (0 = identical; typical fakes 0.05-0.5), unit-free.

    Raises:
        WeightsUnavailable: the backbone weights cannot be had.
        ValueError: wrong shapes or dtypes, or an empty mask.
    """
    import torch  # heavy: see load_lpips

    a, b = _check(a, b)
    weights = None
    if mask is not None:
        weights = np.broadcast_to(np.asarray(mask, dtype=np.float64), a.shape[:3])
        if (weights.reshape(len(a), -1).sum(axis=1) <= 0).any():
            raise ValueError("LPIPS mask is empty for at least one image")
    model, _ = load_lpips(net, spatial=weights is not None, device=device)
    dev = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for i in range(0, len(a), batch_size):
            ta = (
                torch.from_numpy(np.ascontiguousarray(a[i : i + batch_size])).to(dev).permute(0, 3, 1, 2).float()
                / 127.5
                - 1
            )
            tb = (
                torch.from_numpy(np.ascontiguousarray(b[i : i + batch_size])).to(dev).permute(0, 3, 1, 2).float()
                / 127.5
                - 1
            )
            d = model(ta, tb).double().cpu().numpy()
            if weights is None:
                out.append(d.reshape(len(d)))
            else:
                w = weights[i : i + batch_size]
                out.append((d[:, 0] * w).sum(axis=(1, 2)) / w.sum(axis=(1, 2)))
    return np.concatenate(out)


def main(argv: list[str] | None = None) -> int:
    """``python -m forgebench.metrics.lpips_metric A B [--net alex|vgg]``: print the LPIPS
    distance of two images of one size; exit status 2 with the reason on failure."""
    parser = argparse.ArgumentParser(description="LPIPS distance between two images.")
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--net", default="alex", choices=sorted(NETS))
    args = parser.parse_args(argv)
    try:
        value = float(lpips_distance(read_image(args.a), read_image(args.b), net=args.net)[0])
    except (ForgebenchError, ValueError) as exc:
        print(f"lpips: error: {exc}", file=sys.stderr)
        return 2
    print(f"LPIPS ({args.net}, v{VERSION}): {value:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
