"""Train a detector on one train set and evaluate it once on the held-out test split.

Protocol (docs/architecture.md, DESIGN.md "Protocol rules"):

1. Train on ``split == "train"`` frames, class balanced with ``BCEWithLogitsLoss``
   ``pos_weight = n_real / n_fake``, AdamW, cosine schedule over the epochs.
2. After each epoch score ``split == "val"``; keep the checkpoint with the best
   validation frame AUC (``best.pt``; ties and undefined AUC fall back to the lower
   validation loss), log ``history.csv``.
3. Choose the decision threshold on validation: the EER threshold of the best
   checkpoint's validation frame scores (video threshold: EER threshold of validation
   video scores, the mean of each video's frame scores).
4. Only then read ``split == "test"``: load ``best.pt``, score every test frame once
   (labels are not read until the scores exist), write ``predictions.parquet`` and
   ``metrics.json`` (frame and video AUC, AP, EER, accuracy at the validation threshold).

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
import torch.nn.functional as F
from pydantic import Field
from tqdm.auto import tqdm

from forgebench.config import Strict
from forgebench.detectors.data import RESIZE_MODE, check_disjoint_splits, check_frames, make_loader, subsample_frames
from forgebench.detectors.inference import (
    load_detector, predict_crops, predict_loader, read_checkpoint, save_checkpoint, write_csv, write_json, write_parquet,
)
from forgebench.detectors.registry import create_detector, get_detector_cfg
from forgebench.errors import DataError
from forgebench.metrics.detection import detection_metrics, equal_error_rate, frame_and_video_metrics, video_scores
from forgebench.runtime import seed_everything

__all__ = ["TrainSettings", "train_and_evaluate", "load_detector", "predict_crops", "PREDICTION_COLUMNS"]

#: Columns of ``predictions.parquet`` (one row per test frame).
PREDICTION_COLUMNS = (
    "video_id", "frame_index", "label", "split", "method", "identity", "score", "detector", "train_set", "test_set",
)


class TrainSettings(Strict):
    """Training settings of one detector (config section ``detectors.<name>``).

    Defaults are a real (GPU) schedule; the quickstart config sets small values.

    Attributes:
        image_size: square input side in pixels; ``None`` = the detector's default
            (meso4 256, efficientnet_b0 224). Crops are resized with OpenCV.
        epochs: training epochs (>= 1).
        batch_size: crops per step (training and scoring).
        lr: AdamW learning rate; ``None`` = the detector's default (meso4 1e-3, as in
            the MesoNet paper; timm backbones 2e-4).
        weight_decay: AdamW decoupled weight decay.
        pretrained: ``True`` (ImageNet weights from the local cache, error if missing),
            ``False`` (random init) or ``"auto"`` (pretrained when cached, else random
            init; what happened is recorded in ``metrics.json``). Never downloads.
        augment: random horizontal flip + light colour jitter on training crops.
        num_workers: DataLoader worker processes (0 = in the main process).
        max_train_frames: cap on training frames (stratified random subset, seeded);
            ``None`` = all.
        scheduler: ``cosine`` (cosine decay to 0 over ``epochs``) or ``constant``.
        patience: stop after this many epochs without a better validation AUC;
            ``None`` = run every epoch.
    """

    image_size: int | None = Field(default=None, ge=32)
    epochs: int = Field(default=20, ge=1)
    batch_size: int = Field(default=32, ge=1)
    lr: float | None = Field(default=None, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    pretrained: bool | Literal["auto"] = "auto"
    augment: bool = True
    num_workers: int = Field(default=0, ge=0)
    max_train_frames: int | None = Field(default=None, ge=1)
    scheduler: Literal["cosine", "constant"] = "cosine"
    patience: int | None = Field(default=None, ge=1)


def _fingerprint(
    name: str, settings: TrainSettings, seed: int, train_df: pd.DataFrame, val_df: pd.DataFrame, weights: str | None
) -> str:
    """SHA-256 of everything that determines training (to resume only the same job)."""
    h = hashlib.sha256()
    h.update(json.dumps([name, settings.model_dump(mode="json"), int(seed), weights], sort_keys=True).encode())
    for df in (train_df, val_df):
        h.update(json.dumps(df[["crop_path", "label"]].astype(str).values.tolist()).encode())
    return h.hexdigest()


def _bce(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean (unweighted) binary cross-entropy of logits against 0/1 labels."""
    if len(labels) == 0:
        return float("nan")
    return float(F.binary_cross_entropy_with_logits(torch.from_numpy(logits), torch.from_numpy(labels.astype(np.float64))))


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return torch.sigmoid(torch.from_numpy(np.asarray(logits, dtype=np.float64))).numpy()


def _auc(labels: np.ndarray, probs: np.ndarray) -> float:
    return float(detection_metrics(labels, probs)["auc"])


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


def _train_epoch(model, loader, opt, loss_fn, device, progress: bool, desc: str) -> float:
    """One pass over the training loader; returns the mean (class-weighted) loss."""
    model.train()
    total, count = 0.0, 0
    bar = tqdm(loader, desc=desc, disable=None if progress else True, leave=False)
    for x, y in bar:
        x, y = x.to(device), y.to(device)
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(y)
        count += len(y)
        bar.set_postfix(loss=f"{total / count:.4f}")
    return total / max(count, 1)


def _val_thresholds(val_df: pd.DataFrame, probs: np.ndarray) -> dict[str, Any]:
    """Frame and video decision thresholds from validation scores (EER points)."""
    out: dict[str, Any] = {}
    frame_eer, thr = equal_error_rate(val_df["label"].to_numpy(), probs)
    if np.isfinite(thr):
        out["threshold"], out["threshold_source"] = float(np.clip(thr, 0.0, 1.0)), "val frame EER"
    else:
        out["threshold"], out["threshold_source"] = 0.5, "default 0.5: validation has one class, EER undefined"
    vs = video_scores(val_df.assign(score=probs), score_col="score", by="video_id", how="mean")
    _, vthr = equal_error_rate(vs["label"].to_numpy(), vs["score"].to_numpy(dtype=np.float64))
    if np.isfinite(vthr):
        out["video_threshold"], out["video_threshold_source"] = float(np.clip(vthr, 0.0, 1.0)), "val video EER"
    else:
        out["video_threshold"], out["video_threshold_source"] = out["threshold"], "frame threshold (val videos of one class)"
    out["val_frame_eer"] = frame_eer
    return out


def _read_stored(metrics_path: Path) -> dict[str, Any]:
    try:
        return json.loads(metrics_path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{metrics_path}: cannot read stored metrics ({exc}); delete it to re-run") from exc


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
) -> dict[str, Any]:
    """Train detector ``name`` on the train split, select on val, score test once.

    Args:
        name: a registered detector (:func:`forgebench.detectors.list_detectors`).
        settings: its :class:`TrainSettings` (a dict is validated into one).
        frames: face-manifest rows (docs/architecture.md: ``video_id, method, label,
            split, identity, frame_index, crop_path`` relative to ``run_dir``, ...) of
            the real videos and the fakes of ``train_set``, all three splits.
        run_dir: the run directory the crop paths are relative to.
        out_dir: ``detectors/<name>/<train_set>``; receives ``best.pt``, ``history.csv``,
            ``predictions.parquet`` (columns :data:`PREDICTION_COLUMNS`, ``score`` =
            sigmoid probability of fake) and ``metrics.json``.
        device: torch device for training and scoring.
        seed: seeds torch, NumPy, Python and the data order (deterministic on CPU).
        train_set: name of the fake set trained on (the generator); ``test_set`` is the
            same (in-domain evaluation).
        progress: tqdm bars.

    Returns:
        the ``metrics.json`` content: ``frame`` / ``video`` metric dicts
        (:func:`forgebench.metrics.detection.frame_and_video_metrics`, NaN stored as
        null), ``n_frames``, ``n_videos``, ``threshold`` (validation frame EER
        threshold, a probability), ``video_threshold``, ``val`` (the same metrics on
        validation), ``best_epoch``, ``best_val_auc``, ``image_size``, ``pretrained``
        (bool, weights actually loaded), ``pretrained_note``, ``seed``, ``lr``,
        ``settings``, ``resize``, ``checkpoint_sha256``, ... If ``predictions.parquet``
        and ``metrics.json`` already exist, the stored metrics are returned without work.

    Raises:
        DataError: missing columns/bad labels, a person or video in two splits, no
            train frames of one class, an empty validation or test split, unreadable crops (via MediaError) or stored files.
        KeyError: unknown detector name.
    """
    from forgebench.provenance import sha256_file

    out_dir, run_dir = Path(out_dir), Path(run_dir)
    pred_path, metrics_path = out_dir / "predictions.parquet", out_dir / "metrics.json"
    if pred_path.is_file() and metrics_path.is_file():
        return _read_stored(metrics_path)
    if not isinstance(settings, TrainSettings):
        settings = TrainSettings.model_validate(settings)
    device = torch.device(device)
    where = f"{out_dir} ({name} on {train_set})"
    check_frames(frames, where)
    check_disjoint_splits(frames, where)
    cfg = get_detector_cfg(name)
    image_size = int(settings.image_size or cfg.input_size)
    if image_size < cfg.min_input_size:
        raise DataError(f"{where}: image_size {image_size} is below {name}'s minimum of {cfg.min_input_size} px")
    lr = float(settings.lr or cfg.lr)
    split = frames["split"].astype(str)
    train_df = subsample_frames(frames[split == "train"].reset_index(drop=True), settings.max_train_frames, seed)
    val_df = frames[split == "val"].reset_index(drop=True)
    n_fake = int((train_df["label"] == 1).sum())
    n_real = int(len(train_df) - n_fake)
    if n_fake == 0 or n_real == 0:
        raise DataError(f"{where}: the train split needs real and fake frames, got {n_real} real and {n_fake} fake")
    if val_df.empty:
        raise DataError(f"{where}: no validation frames (split == 'val'); checkpoints are chosen on validation")
    if not (split == "test").any():
        raise DataError(f"{where}: no test frames (split == 'test')")

    seed_everything(seed)
    model = create_detector(name, pretrained=settings.pretrained).to(device)
    train_loader = make_loader(train_df, run_dir, image_size, settings.batch_size, train=True,
                               augment=settings.augment, seed=seed, num_workers=settings.num_workers)
    val_loader = make_loader(val_df, run_dir, image_size, settings.batch_size, train=False,
                             num_workers=settings.num_workers)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=settings.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=settings.epochs) if settings.scheduler == "cosine" else None
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(n_real / n_fake, device=device))
    val_labels = val_df["label"].to_numpy(dtype=np.int64)
    meta: dict[str, Any] = {
        "detector": name, "image_size": image_size, "train_set": train_set, "seed": int(seed),
        "settings": settings.model_dump(mode="json"), "lr": lr, "model_kwargs": {},
        "pretrained": bool(model.pretrained_loaded), "pretrained_note": model.pretrained_note,
        "pretrained_file": model.pretrained_file, "pretrained_sha256": model.pretrained_sha256,
        "default_cfg": model.default_cfg, "resize": RESIZE_MODE,
        "fingerprint": _fingerprint(name, settings, seed, train_df, val_df, model.pretrained_sha256),
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
    for epoch in range(len(history), settings.epochs):
        if best is not None and settings.patience and epoch - best["epoch"] >= settings.patience:
            break
        current_lr = opt.param_groups[0]["lr"]
        train_loss = _train_epoch(model, train_loader, opt, loss_fn, device, progress,
                                  f"{name}/{train_set} epoch {epoch + 1}/{settings.epochs}")
        if sched is not None:
            sched.step()
        val_logits = predict_loader(model, val_loader, device, progress, desc=f"{name}/{train_set} val")
        val_loss, val_auc = _bce(val_logits, val_labels), _auc(val_labels, _sigmoid(val_logits))
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

    # Validation-chosen checkpoint and threshold.
    model, best_meta = load_detector(best_path, device)
    val_probs = _sigmoid(predict_loader(model, val_loader, device, progress, desc=f"{name}/{train_set} val (best)"))
    thresholds = _val_thresholds(val_df, val_probs)
    val_metrics = frame_and_video_metrics(val_df.assign(score=val_probs), thresholds["threshold"], thresholds["video_threshold"])

    # The test split, read once: scores first (labels not loaded), then the labels.
    test_df = frames[split == "test"].reset_index(drop=True)
    test_loader = make_loader(test_df, run_dir, image_size, settings.batch_size, train=False,
                              num_workers=settings.num_workers, with_labels=False)
    probs = _sigmoid(predict_loader(model, test_loader, device, progress, desc=f"{name}/{train_set} test"))
    preds = test_df[["video_id", "frame_index", "label", "split", "method", "identity"]].copy()
    preds["label"] = preds["label"].astype(np.int64)
    preds["frame_index"] = preds["frame_index"].astype(np.int64)
    preds["score"] = probs
    preds["detector"], preds["train_set"], preds["test_set"] = name, train_set, train_set
    test_metrics = frame_and_video_metrics(preds, thresholds["threshold"], thresholds["video_threshold"])

    metrics = {
        "detector": name, "train_set": train_set, "test_set": train_set, "split": "test",
        **test_metrics,
        "n_frames": test_metrics["frame"]["n_frames"], "n_videos": test_metrics["video"]["n_videos"],
        **thresholds,
        "val": val_metrics,
        "best_epoch": int(best_meta["epoch"]), "best_val_auc": best_meta["val_auc"], "best_val_loss": best_meta["val_loss"],
        "epochs_run": len(history), "n_train_frames": int(len(train_df)), "n_val_frames": int(len(val_df)),
        "n_train_videos": int(train_df["video_id"].nunique()), "n_val_videos": int(val_df["video_id"].nunique()),
        "image_size": image_size, "resize": RESIZE_MODE, "lr": lr, "seed": int(seed),
        "pretrained": meta["pretrained"], "pretrained_requested": settings.pretrained,
        "pretrained_note": meta["pretrained_note"], "pretrained_file": meta["pretrained_file"],
        "pretrained_sha256": meta["pretrained_sha256"],
        "settings": meta["settings"], "device": str(device), "video_aggregation": "mean of frame scores per video_id",
        "checkpoint": "best.pt", "checkpoint_sha256": sha256_file(best_path),
    }
    write_parquet(pred_path, preds[list(PREDICTION_COLUMNS)])
    write_json(metrics_path, metrics)
    last_path.unlink(missing_ok=True)
    return _read_stored(metrics_path)
