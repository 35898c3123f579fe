"""Detector checkpoints and inference: save/load a checkpoint file, score crops and loaders.

A checkpoint is ``{"state_dict": ..., "meta": {...}}`` saved with ``torch.save`` and read
back with ``torch.load(..., weights_only=True)`` only: ``meta`` holds plain values
(detector name, image size, epoch, validation AUC, settings, pretrained flag, ...).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from forgebench.detectors._data import crops_to_tensor
from forgebench.detectors._external import use_external
from forgebench.detectors._registry import create_detector
from forgebench.errors import DataError
from forgebench.fileio import load_checkpoint, save_checkpoint

__all__ = ["save_detector_checkpoint", "read_detector_checkpoint", "load_detector", "predict_crops", "predict_loader"]


def save_detector_checkpoint(
    path: Path, state_dict: dict[str, torch.Tensor], meta: dict[str, Any], **extra: Any
) -> Path:
    """Save ``{"state_dict", "meta", **extra}`` atomically (:func:`forgebench.fileio.save_checkpoint`).

    ``meta`` and ``extra`` must hold only types ``torch.load(weights_only=True)`` accepts
    (tensors, dicts, lists, str, int, float, bool, None). Tensors are copied to the CPU.
    """
    cpu = {k: v.detach().cpu() for k, v in state_dict.items()}
    return save_checkpoint(path, {"state_dict": cpu, "meta": meta, **extra})


def read_detector_checkpoint(path: Path) -> dict[str, Any]:
    """Load a detector checkpoint dict with ``torch.load(weights_only=True)`` on the CPU
    (:func:`forgebench.fileio.load_checkpoint`).

    Raises:
        DataError: missing, truncated, holding code, or not a forgebench detector
            checkpoint (names the file).
    """
    ckpt = load_checkpoint(path, "detector checkpoint")
    if not isinstance(ckpt.get("state_dict"), dict) or not isinstance(ckpt.get("meta"), dict):
        raise DataError(f"{path}: not a forgebench detector checkpoint (expected keys 'state_dict' and 'meta')")
    return ckpt


def load_detector(
    checkpoint: str | os.PathLike, device: torch.device | str = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a trained detector from its checkpoint file (:func:`save_detector_checkpoint`).

    Args:
        checkpoint: the checkpoint file (a run's ``detectors/<detector>/<train_set>/best.pt``,
            the run's ``best.pt``).
        device: where to put the module.

    Returns:
        ``(module, meta)``: the detector in eval mode on ``device`` (random init replaced
        by the stored weights; no pretrained weights are needed; the factory gets the
        ``model_kwargs`` it was trained with; an external detector's factory, recorded as
        ``meta["factory"]``, is imported and registered first), and the checkpoint
        metadata (``detector``,
        ``image_size``, ``epoch``, ``val_auc``, ``settings``, ``model_kwargs``, ...).

    Raises:
        DataError: the file is missing/unreadable, names an unknown detector, or its
            weights do not fit the architecture.
    """
    path = Path(checkpoint)
    ckpt = read_detector_checkpoint(path)
    meta = ckpt["meta"]
    if meta.get("factory"):  # an external detector: its factory, registered in this process too
        use_external(str(meta["factory"]), str(meta.get("detector")))
    try:
        model = create_detector(str(meta.get("detector")), pretrained=False, **meta.get("model_kwargs", {}))
    except (KeyError, DataError) as exc:
        raise DataError(f"{path}: {exc.args[0]}") from None
    try:
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except RuntimeError as exc:
        raise DataError(f"{path}: weights do not fit detector {meta.get('detector')!r} ({exc})") from None
    model.pretrained_loaded = bool(meta.get("pretrained", False))
    model.pretrained_note = f"trained weights from {path}"
    return model.to(device).eval(), meta


@torch.inference_mode()
def predict_loader(
    model: nn.Module,
    loader,
    device: torch.device | str,
    progress: bool = False,
    desc: str = "predict",
    amp: torch.dtype | None = None,
) -> np.ndarray:
    """Logits ``(N,)`` float64 of every batch ``(x, _)`` of ``loader``, in order (eval mode);
    ``amp``: autocast dtype on CUDA (``None`` = float32). A model whose class sets
    ``channels_last = True`` (DeepfakeBench's networks: separable convolutions that oneDNN
    and cuDNN run faster in NHWC, same float32 numbers within 1e-6) is scored in that memory
    format."""
    model.eval()
    device = torch.device(device)
    layout = torch.channels_last if getattr(model, "channels_last", False) else torch.contiguous_format
    model.to(memory_format=layout)
    out = []
    for x, _ in tqdm(loader, desc=desc, disable=None if progress else True, leave=False):
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            out.append(model(x.to(device).contiguous(memory_format=layout)).float().cpu())
    return torch.cat(out).double().numpy() if out else np.zeros(0)


@torch.inference_mode()
def predict_crops(
    module: nn.Module,
    crops: list[np.ndarray] | np.ndarray,
    image_size: int,
    device: torch.device | str = "cpu",
    batch_size: int = 64,
    progress: bool = False,
) -> np.ndarray:
    """Probability of "fake" for each crop.

    Args:
        module: a detector (e.g. from :func:`load_detector`); put in eval mode.
        crops: ``N`` RGB crops ``(H, W, 3)`` uint8 (or float in [0, 1]), a list or one
            ``(N, H, W, 3)`` array; resized to ``image_size`` as in training
            (:func:`forgebench.detectors.resize_crop`).
        image_size: detector input side, pixels (the ``image_size`` of the checkpoint).
        device: where to run.
        batch_size: crops per forward pass.
        progress: show a tqdm bar.

    Returns:
        ``(N,)`` float64 sigmoid probabilities in [0, 1].

    Raises:
        ValueError: a crop is not an ``(H, W, 3)`` RGB image.
    """
    module.eval()
    crops = list(crops)
    probs = []
    for start in tqdm(
        range(0, len(crops), batch_size), desc="predict", disable=None if progress else True, leave=False
    ):
        x = crops_to_tensor(crops[start : start + batch_size], image_size).to(device)
        probs.append(torch.sigmoid(module(x).float()).cpu())
    return torch.cat(probs).double().numpy() if probs else np.zeros(0)
