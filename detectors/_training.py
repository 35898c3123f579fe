"""The detector training loop: train on one frame table, choose the checkpoint on another.

1. Train on the training frames (real and fake face crops), class balanced with
   ``BCEWithLogitsLoss`` ``pos_weight = n_real / n_fake``, AdamW, cosine schedule over the
   epochs, the configured augmentations (:mod:`forgebench.detectors._augment`), mixed
   precision on CUDA (``amp``), deterministic kernels on the CPU, several processes with
   ``torchrun`` (:mod:`forgebench.detectors._distributed`).
2. After each epoch score the validation frames; keep the checkpoint with the best
   validation frame AUC (ties and undefined AUC fall back to the lower validation loss),
   stop early after ``patience`` epochs without a better one, log the history.

The protocol around it (which frames, sealed test labels, thresholds, the one test
evaluation) is :mod:`forgebench.protocol`; this module gets frame tables whose
``crop_path`` are the PNG files and the files it must write (:class:`TrainFiles`), and
never sees a run directory. Everything is written atomically; an interrupted training
resumes from ``last`` (model, optimizer, schedule and RNG states after the last finished
epoch), giving the same weights as an uninterrupted run on the CPU.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from forgebench.detectors._data import RESIZE_MODE, make_loader
from forgebench.detectors._distributed import broadcast_flag, dist_info, is_main, wrap_ddp
from forgebench.detectors._inference import predict_loader, read_detector_checkpoint, save_detector_checkpoint
from forgebench.detectors._registry import create_detector
from forgebench.detectors._settings import TrainSettings, resolve_defaults
from forgebench.fileio import write_csv
from forgebench.metrics.detection import detection_metrics
from forgebench.runtime import seed_everything
from forgebench.schemas import HISTORY

__all__ = ["TrainSettings", "TrainFiles", "TrainResult", "train_detector", "amp_dtype", "bce_of_logits", "sigmoid"]


@dataclass(frozen=True)
class TrainFiles:
    """The files one training writes.

    Attributes:
        best: checkpoint with the best validation AUC.
        last: resume state after the last finished epoch (the caller deletes it when the
            whole job is done).
        history: per-epoch CSV (``epoch, train_loss, val_loss, val_auc, lr``).
    """

    best: Path
    last: Path
    history: Path


@dataclass
class TrainResult:
    """What :func:`train_detector` returns (on rank 0; other ranks get ``meta = {}``).

    Attributes:
        meta: the metadata stored in the checkpoints (detector, image size, settings,
            model_kwargs, pretrained facts, ``weights_origin``: ``imagenet:<sha256>`` of
            the ImageNet weights file it started from or ``none``, counts, ...).
        history: one dict per epoch run (``epoch, train_loss, val_loss, val_auc, lr``).
        stopped_early: training stopped after ``patience`` epochs without improvement.
        amp: the autocast dtype used (``None`` = float32).
    """

    meta: dict[str, Any]
    history: list[dict[str, float]]
    stopped_early: bool
    amp: torch.dtype | None


def bce_of_logits(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean (unweighted) binary cross-entropy of logits ``(n,)`` against 0/1 labels, nats."""
    if len(labels) == 0:
        return float("nan")
    return float(
        torch.nn.functional.binary_cross_entropy_with_logits(
            torch.from_numpy(logits), torch.from_numpy(labels.astype(np.float64))
        )
    )


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Float64 logistic of logits (any shape): probabilities in [0, 1]."""
    return torch.sigmoid(torch.from_numpy(np.asarray(logits, dtype=np.float64))).numpy()


def _fingerprint(
    name: str,
    settings: TrainSettings,
    seed: int,
    train_df: pd.DataFrame,
    val_df: pd.DataFrame,
    weights: str | None,
    world_size: int = 1,
) -> str:
    """SHA-256 of everything that determines training (to resume only the same job):
    detector, settings, seed, pretrained weights, world size and which frames (video id,
    frame index, label) are trained and validated on, in order."""
    h = hashlib.sha256()
    h.update(
        json.dumps([name, settings.model_dump(mode="json"), int(seed), weights, world_size], sort_keys=True).encode()
    )
    for df in (train_df, val_df):
        h.update(json.dumps(df[["video_id", "frame_index", "label"]].astype(str).values.tolist()).encode())
    return h.hexdigest()


def _key(val_auc: float, val_loss: float) -> tuple[float, float]:
    """Checkpoint ranking: higher validation AUC, then lower validation loss."""
    return (val_auc if np.isfinite(val_auc) else -np.inf, -val_loss if np.isfinite(val_loss) else -np.inf)


def _rng_state(loader_gen: torch.Generator) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "loader": loader_gen.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], loader_gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    loader_gen.set_state(state["loader"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def amp_dtype(device: torch.device, enabled: bool) -> torch.dtype | None:
    """Autocast dtype for mixed precision: bfloat16 on CUDA devices that support it, else
    float16; ``None`` (float32) on the CPU or when ``enabled`` is False."""
    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _train_epoch(
    model,
    loader,
    opt,
    loss_fn,
    device,
    progress: bool,
    desc: str,
    amp: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> float:
    """One pass over the training loader; returns the mean (class-weighted) loss."""
    model.train()
    total, count = 0.0, 0
    bar = tqdm(loader, desc=desc, disable=None if progress and is_main() else True, leave=False)
    for x, y in bar:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            loss = loss_fn(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        total += float(loss.detach()) * len(y)
        count += len(y)
        bar.set_postfix(loss=f"{total / count:.4f}")
    return total / max(count, 1)


def train_detector(
    name: str,
    settings: TrainSettings,
    train_df: pd.DataFrame,
    val_df: pd.DataFrame,
    files: TrainFiles,
    device: torch.device | str,
    seed: int,
    *,
    progress: bool = True,
    desc: str = "",
    extra_meta: dict[str, Any] | None = None,
) -> TrainResult:
    """Train detector ``name`` on ``train_df``, choosing the checkpoint on ``val_df``.

    Args:
        name: a registered detector (:func:`forgebench.detectors.list_detectors`), built
            with ``create_detector(name, pretrained=settings.pretrained, **settings.model_kwargs)``.
        settings: its :class:`TrainSettings` (``image_size`` and ``lr`` left unset take the
            detector's defaults, :func:`forgebench.detectors.resolve_defaults`).
        train_df, val_df: frame tables (``video_id``, ``frame_index``, ``label`` 0/1,
            ``crop_path`` = the PNG file); both classes must be in ``train_df``.
        files: where ``best``, ``last`` and ``history`` go (:class:`TrainFiles`).
        device: torch device (under ``torchrun``: this process's device).
        seed: seeds torch, NumPy, Python and the data order (deterministic on CPU).
        progress: tqdm bars.
        desc: prefix of the progress bars (``"meso4/all"``).
        extra_meta: plain facts stored in the checkpoints' ``meta`` (train set, methods).

    Returns:
        :class:`TrainResult`; if ``last`` holds the state of the same job (same
        fingerprint), training continues from it.

    Raises:
        KeyError: unknown detector name.
        forgebench.weights.WeightsUnavailable: ``settings.pretrained`` and the detector's
            pretrained weights are not in the local caches (raised before any training).
        forgebench.errors.DataError: a crop cannot be read, or the model factory rejects
            ``model_kwargs``.
    """
    device = torch.device(device)
    dist = dist_info()
    settings = resolve_defaults(settings, name)
    image_size, lr = int(settings.image_size), float(settings.lr)
    n_fake = int((train_df["label"] == 1).sum())
    n_real = int(len(train_df) - n_fake)
    seed_everything(seed)
    model = create_detector(name, pretrained=settings.pretrained, **settings.model_kwargs).to(device)
    train_loader = make_loader(
        train_df,
        image_size,
        settings.batch_size,
        train=True,
        augment=settings.augment,
        seed=seed,
        num_workers=settings.num_workers,
        distributed=dist.enabled,
    )
    val_loader = make_loader(val_df, image_size, settings.batch_size, train=False, num_workers=settings.num_workers)
    amp = amp_dtype(device, settings.amp)
    scaler = torch.amp.GradScaler("cuda") if amp == torch.float16 else None
    net = wrap_ddp(model, device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=settings.weight_decay)
    sched = (
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=settings.epochs)
        if settings.scheduler == "cosine"
        else None
    )
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(n_real / n_fake, device=device))
    val_labels = val_df["label"].to_numpy(dtype=np.int64)
    meta: dict[str, Any] = {
        "detector": name,
        "image_size": image_size,
        **(extra_meta or {}),
        "seed": int(seed),
        "settings": settings.model_dump(mode="json"),
        "lr": lr,
        "model_kwargs": dict(settings.model_kwargs),
        "pretrained": bool(model.pretrained_loaded),
        "pretrained_note": model.pretrained_note,
        "pretrained_file": model.pretrained_file,
        "pretrained_sha256": model.pretrained_sha256,
        "weights_origin": model.weights_origin,
        "default_cfg": model.default_cfg,
        "resize": RESIZE_MODE,
        "n_train_frames": int(len(train_df)),
        "n_train_videos": int(train_df["video_id"].nunique()),
        "amp": str(amp).replace("torch.", "") if amp is not None else "off (float32)",
        "world_size": dist.world_size,
        "fingerprint": _fingerprint(name, settings, seed, train_df, val_df, model.pretrained_sha256, dist.world_size),
    }

    history: list[dict[str, float]] = []
    best: dict[str, Any] | None = None
    if files.last.is_file() and files.best.is_file():
        last = read_detector_checkpoint(files.last)
        if last["meta"].get("fingerprint") == meta["fingerprint"]:
            model.load_state_dict(last["state_dict"])
            opt.load_state_dict(last["optimizer"])
            if sched is not None:
                sched.load_state_dict(last["scheduler"])
            _set_rng_state(last["rng"], train_loader.generator)
            history, best = list(last["history"]), dict(last["best"])
    stopped_early = False
    for epoch in range(len(history), settings.epochs):
        stop = best is not None and settings.patience is not None and epoch - best["epoch"] >= settings.patience
        if broadcast_flag(stop):
            stopped_early = True
            break
        if dist.enabled:
            train_loader.sampler.set_epoch(epoch)
        current_lr = opt.param_groups[0]["lr"]
        train_loss = _train_epoch(
            net,
            train_loader,
            opt,
            loss_fn,
            device,
            progress,
            f"{desc} epoch {epoch + 1}/{settings.epochs}",
            amp,
            scaler,
        )
        if sched is not None:
            sched.step()
        # Validation and checkpoints on rank 0; the others learn rank 0's decision above.
        if is_main():
            val_logits = predict_loader(model, val_loader, device, progress, desc=f"{desc} val", amp=amp)
            val_loss = bce_of_logits(val_logits, val_labels)
            val_auc = float(detection_metrics(val_labels, sigmoid(val_logits))["auc"])
            history.append(
                {
                    "epoch": epoch + 1,
                    "train_loss": train_loss,
                    "val_loss": val_loss,
                    "val_auc": val_auc,
                    "lr": current_lr,
                }
            )
            if best is None or _key(val_auc, val_loss) > _key(best["val_auc"], best["val_loss"]):
                best = {"epoch": epoch + 1, "val_auc": val_auc, "val_loss": val_loss}
                save_detector_checkpoint(files.best, model.state_dict(), {**meta, **best})
            write_csv(files.history, pd.DataFrame(history, columns=list(HISTORY.columns)))
            save_detector_checkpoint(
                files.last,
                model.state_dict(),
                meta,
                optimizer=opt.state_dict(),
                scheduler=sched.state_dict() if sched is not None else {},
                rng=_rng_state(train_loader.generator),
                history=history,
                best=best,
            )
        else:
            history.append({"epoch": epoch + 1})
            best = best or {"epoch": epoch + 1}
    return TrainResult(meta if is_main() else {}, history, stopped_early, amp)
