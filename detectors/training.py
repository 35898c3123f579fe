"""Train a detector on one train set and evaluate it once on the held-out test split.

Protocol (docs/architecture.md, DESIGN.md "Protocol rules"):

1. Train on ``split == "train"`` frames of the real videos and the train set's fakes
   (one generator, or ``all`` of them), class balanced with ``BCEWithLogitsLoss``
   ``pos_weight = n_real / n_fake``, AdamW, cosine schedule over the epochs, the
   configured augmentations (:mod:`forgebench.detectors.augment`), mixed precision on
   CUDA (``amp``), deterministic kernels on the CPU, several processes with ``torchrun``
   (:mod:`forgebench.detectors.distributed`).
2. After each epoch score ``split == "val"`` (same generators as training); keep the
   checkpoint with the best validation frame AUC (``best.pt``; ties and undefined AUC
   fall back to the lower validation loss), stop early after ``patience`` epochs without
   a better one, log ``history.csv``.
3. Choose the decision thresholds on validation: the EER threshold of the best
   checkpoint's validation frame scores and of its validation video scores (frame scores
   aggregated per video id by the protocol's ``video_aggregation``).
4. Only then read ``split == "test"``: the labels are sealed
   (:class:`forgebench.detectors.evaluation.SealedLabels`) until every test frame has
   been scored once with ``best.pt``; test sets are each generator and ``all``
   (cross-generator protocol); write ``predictions.parquet`` and ``metrics.json``
   (frame and video AUC, AP, EER, accuracy at the validation threshold and at 0.5, log
   loss, per test set).

Everything is written atomically; a finished ``out_dir`` is returned as stored, and an
interrupted training resumes from ``last.pt`` (model, optimizer, schedule and RNG states
after the last finished epoch), giving the same numbers as an uninterrupted run on CPU.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field, field_validator
from tqdm.auto import tqdm

from forgebench.config import Strict
from forgebench.detectors.augment import AugmentSettings
from forgebench.detectors.data import RESIZE_MODE, check_disjoint_splits, check_frames, make_loader, subsample_frames
from forgebench.detectors.distributed import broadcast_flag, dist_info, is_main, wrap_ddp
from forgebench.detectors.evaluation import (
    PREDICTION_COLUMNS, SealedLabels, bce_of_logits, final_evaluation, read_stored, sigmoid,
)
from forgebench.detectors.inference import (
    load_detector, predict_crops, predict_loader, read_checkpoint, save_checkpoint, write_csv,
)
from forgebench.detectors.registry import create_detector, get_detector_cfg
from forgebench.errors import DataError
from forgebench.metrics.detection import AGGREGATIONS, detection_metrics
from forgebench.runtime import seed_everything

__all__ = ["TrainSettings", "train_and_evaluate", "load_detector", "predict_crops", "PREDICTION_COLUMNS"]


class TrainSettings(Strict):
    """Training settings of one detector (config section ``detectors.<name>``).

    Defaults are a real (GPU) schedule; the quickstart config sets small values.

    Attributes:
        image_size: square input side in pixels; ``None`` = the detector's default
            (meso4 256, xception 299, efficientnet_b4 380, ...). Crops are resized with
            OpenCV.
        epochs: maximum training epochs (>= 1).
        batch_size: crops per step (training and scoring), per process under torchrun.
        lr: AdamW learning rate; ``None`` = the detector's default (meso4 1e-3, as in
            the MesoNet paper; timm backbones 2e-4).
        weight_decay: AdamW decoupled weight decay.
        pretrained: ``True`` (ImageNet weights from the local cache, error if missing),
            ``False`` (random init) or ``"auto"`` (pretrained when cached, else random
            init; what happened is recorded in ``metrics.json``). Never downloads.
        augment: training augmentations (:class:`AugmentSettings`: flip, colour jitter,
            JPEG, blur); ``true`` = their defaults, ``false`` = none.
        num_workers: DataLoader worker processes (0 = in the main process).
        max_train_frames: cap on training frames (stratified random subset, seeded);
            ``None`` = all.
        scheduler: ``cosine`` (cosine decay to 0 over ``epochs``) or ``constant``.
        patience: early stopping: stop after this many epochs without a better validation
            AUC; ``None`` = run every epoch.
        amp: mixed precision (autocast, bfloat16 where supported else float16 with a
            gradient scaler) on CUDA; ignored on the CPU, which trains in float32 with
            deterministic kernels.
    """

    image_size: int | None = Field(default=None, ge=32)
    epochs: int = Field(default=20, ge=1)
    batch_size: int = Field(default=32, ge=1)
    lr: float | None = Field(default=None, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    pretrained: bool | Literal["auto"] = "auto"
    augment: AugmentSettings = AugmentSettings()
    num_workers: int = Field(default=0, ge=0)
    max_train_frames: int | None = Field(default=None, ge=1)
    scheduler: Literal["cosine", "constant"] = "cosine"
    patience: int | None = Field(default=5, ge=1)
    amp: bool = True

    @field_validator("augment", mode="before")
    @classmethod
    def _augment_bool(cls, v: Any) -> Any:
        """``augment: true`` = the default augmentations, ``false`` = none."""
        if v is True:
            return AugmentSettings()
        if v is False or v is None:
            return AugmentSettings.disabled()
        return v


def _fingerprint(
    name: str, settings: TrainSettings, seed: int, train_df: pd.DataFrame, val_df: pd.DataFrame, weights: str | None,
    world_size: int = 1,
) -> str:
    """SHA-256 of everything that determines training (to resume only the same job)."""
    h = hashlib.sha256()
    h.update(json.dumps([name, settings.model_dump(mode="json"), int(seed), weights, world_size], sort_keys=True).encode())
    for df in (train_df, val_df):
        h.update(json.dumps(df[["crop_path", "label"]].astype(str).values.tolist()).encode())
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


def _train_epoch(model, loader, opt, loss_fn, device, progress: bool, desc: str, amp: torch.dtype | None = None,
                 scaler: torch.amp.GradScaler | None = None) -> float:
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


def _select_frames(frames: pd.DataFrame, train_methods: list[str] | None, cross_generator: bool, where: str):
    """(train, val, test) frame tables and the fake methods trained on."""
    split, method, label = frames["split"].astype(str), frames["method"].astype(str), frames["label"]
    fakes = sorted(set(method[label == 1]))
    train_methods = sorted(set(train_methods)) if train_methods is not None else fakes
    unknown = sorted(set(train_methods) - set(fakes))
    if unknown:
        raise DataError(f"{where}: no fake frames of train method(s) {unknown}; fake methods present: {fakes}")
    in_train = (label == 0) | method.isin(train_methods)
    in_test = in_train if not cross_generator else pd.Series(True, index=frames.index)
    return (frames[(split == "train") & in_train].reset_index(drop=True),
            frames[(split == "val") & in_train].reset_index(drop=True),
            frames[(split == "test") & in_test].reset_index(drop=True), train_methods)


def train_and_evaluate(
    name: str,
    settings: TrainSettings | dict[str, Any],
    frames: pd.DataFrame,
    run_dir: Path,
    out_dir: Path,
    device: torch.device | str,
    seed: int,
    train_set: str,
    progress: bool = True,
    *,
    train_methods: list[str] | None = None,
    cross_generator: bool = True,
    video_aggregation: str = "mean",
) -> dict[str, Any]:
    """Train detector ``name`` on the train split, select on val, score test once.

    Args:
        name: a registered detector (:func:`forgebench.detectors.list_detectors`).
        settings: its :class:`TrainSettings` (a dict is validated into one).
        frames: face-manifest rows (docs/architecture.md: ``video_id, method, label,
            split, identity, frame_index, crop_path`` relative to ``run_dir``, ...) of
            the real videos and the fakes, all three splits.
        run_dir: the run directory the crop paths are relative to.
        out_dir: ``detectors/<name>/<train_set>``; receives ``best.pt``, ``history.csv``,
            ``predictions.parquet`` (columns :data:`PREDICTION_COLUMNS`, ``score`` =
            sigmoid probability of fake, one row per test frame and test set) and
            ``metrics.json``.
        device: torch device for training and scoring (under ``torchrun``: this
            process's device, see :func:`forgebench.detectors.distributed.init_distributed`).
        seed: seeds torch, NumPy, Python and the data order (deterministic on CPU).
        train_set: name of the fake set trained on (a generator, or ``all``).
        progress: tqdm bars.
        train_methods: fake methods whose train/val frames are used; ``None`` = every
            fake method in ``frames``.
        cross_generator: test on every fake method in ``frames`` (one test set per
            method, plus ``all``); ``False`` = only on ``train_methods``.
        video_aggregation: ``mean``, ``median`` or ``max`` of frame scores per video id,
            for the video threshold and the video metrics.

    Returns:
        the ``metrics.json`` content: ``frame`` / ``video`` metric dicts of the in-domain
        test set (:func:`forgebench.metrics.detection.frame_and_video_metrics`, NaN
        stored as null), ``test_sets`` (test set -> ``{"frame", "video"}``),
        ``n_frames``, ``n_videos``, ``threshold`` (validation frame EER threshold, a
        probability), ``video_threshold``, ``val`` (the same metrics on validation),
        ``best_epoch``, ``best_val_auc``, ``epochs_run``, ``stopped_early``,
        ``image_size``, ``pretrained``, ``amp``, ``world_size``, ``settings``,
        ``resize``, ``checkpoint_sha256``, ... If ``predictions.parquet`` and
        ``metrics.json`` already exist, the stored metrics are returned without work.
        Under ``torchrun``, ranks other than 0 return ``{}``.

    Raises:
        DataError: missing columns/bad labels, a person or video in two splits, no
            train frames of one class, an empty validation or test split, unreadable crops (via MediaError) or stored files.
        KeyError: unknown detector name.
        ValueError: unknown ``video_aggregation``.
    """
    from forgebench.provenance import sha256_file

    out_dir, run_dir = Path(out_dir), Path(run_dir)
    pred_path, metrics_path = out_dir / "predictions.parquet", out_dir / "metrics.json"
    if pred_path.is_file() and metrics_path.is_file():
        return read_stored(metrics_path) if is_main() else {}
    if not isinstance(settings, TrainSettings):
        settings = TrainSettings.model_validate(settings)
    if video_aggregation not in AGGREGATIONS:
        raise ValueError(f"video_aggregation must be one of {AGGREGATIONS}, got {video_aggregation!r}")
    device = torch.device(device)
    dist = dist_info()
    where = f"{out_dir} ({name} on {train_set})"
    check_frames(frames, where)
    check_disjoint_splits(frames, where)
    cfg = get_detector_cfg(name)
    image_size = int(settings.image_size or cfg.input_size)
    if image_size < cfg.min_input_size:
        raise DataError(f"{where}: image_size {image_size} is below {name}'s minimum of {cfg.min_input_size} px")
    lr = float(settings.lr or cfg.lr)
    train_df, val_df, test_df, train_methods = _select_frames(frames, train_methods, cross_generator, where)
    train_df = subsample_frames(train_df, settings.max_train_frames, seed)
    n_fake = int((train_df["label"] == 1).sum())
    n_real = int(len(train_df) - n_fake)
    if n_fake == 0 or n_real == 0:
        raise DataError(f"{where}: the train split needs real and fake frames, got {n_real} real and {n_fake} fake")
    if val_df.empty:
        raise DataError(f"{where}: no validation frames (split == 'val'); checkpoints are chosen on validation")
    if test_df.empty:
        raise DataError(f"{where}: no test frames (split == 'test')")
    # The test labels are sealed now, before anything is trained or chosen.
    sealed = SealedLabels(test_df["label"].to_numpy(), where)
    test_df = test_df.drop(columns=["label"])

    seed_everything(seed)
    model = create_detector(name, pretrained=settings.pretrained).to(device)
    train_loader = make_loader(train_df, run_dir, image_size, settings.batch_size, train=True,
                               augment=settings.augment, seed=seed, num_workers=settings.num_workers,
                               distributed=dist.enabled)
    val_loader = make_loader(val_df, run_dir, image_size, settings.batch_size, train=False,
                             num_workers=settings.num_workers)
    amp = amp_dtype(device, settings.amp)
    scaler = torch.amp.GradScaler("cuda") if amp == torch.float16 else None
    net = wrap_ddp(model, device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=settings.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=settings.epochs) if settings.scheduler == "cosine" else None
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(n_real / n_fake, device=device))
    val_labels = val_df["label"].to_numpy(dtype=np.int64)
    meta: dict[str, Any] = {
        "detector": name, "image_size": image_size, "train_set": train_set, "train_methods": train_methods,
        "seed": int(seed), "settings": settings.model_dump(mode="json"), "lr": lr, "model_kwargs": {},
        "pretrained": bool(model.pretrained_loaded), "pretrained_note": model.pretrained_note,
        "pretrained_file": model.pretrained_file, "pretrained_sha256": model.pretrained_sha256,
        "default_cfg": model.default_cfg, "resize": RESIZE_MODE, "video_aggregation": video_aggregation,
        "n_train_frames": int(len(train_df)), "n_train_videos": int(train_df["video_id"].nunique()),
        "amp": str(amp).replace("torch.", "") if amp is not None else "off (float32)", "world_size": dist.world_size,
        "fingerprint": _fingerprint(name, settings, seed, train_df, val_df, model.pretrained_sha256, dist.world_size),
    }

    history: list[dict[str, float]] = []
    best: dict[str, Any] | None = None
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    if last_path.is_file() and best_path.is_file():
        last = read_checkpoint(last_path)
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
        train_loss = _train_epoch(net, train_loader, opt, loss_fn, device, progress,
                                  f"{name}/{train_set} epoch {epoch + 1}/{settings.epochs}", amp, scaler)
        if sched is not None:
            sched.step()
        # Validation and checkpoints on rank 0; the others learn rank 0's decision above.
        if is_main():
            val_logits = predict_loader(model, val_loader, device, progress, desc=f"{name}/{train_set} val", amp=amp)
            val_loss = bce_of_logits(val_logits, val_labels)
            val_auc = float(detection_metrics(val_labels, sigmoid(val_logits))["auc"])
            history.append({"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss, "val_auc": val_auc, "lr": current_lr})
            if best is None or _key(val_auc, val_loss) > _key(best["val_auc"], best["val_loss"]):
                best = {"epoch": epoch + 1, "val_auc": val_auc, "val_loss": val_loss}
                save_checkpoint(best_path, model.state_dict(), {**meta, **best})
            write_csv(out_dir / "history.csv", pd.DataFrame(history, columns=["epoch", "train_loss", "val_loss", "val_auc", "lr"]))
            save_checkpoint(
                last_path, model.state_dict(), meta, optimizer=opt.state_dict(),
                scheduler=sched.state_dict() if sched is not None else {}, rng=_rng_state(train_loader.generator),
                history=history, best=best,
            )
        else:
            history.append({"epoch": epoch + 1})
            best = best or {"epoch": epoch + 1}
    if not is_main():
        return {}
    return final_evaluation(name, settings, model, meta, val_df, val_loader, test_df, sealed, run_dir, out_dir,
                             device, train_set, history, stopped_early, amp, progress, video_aggregation, sha256_file)


