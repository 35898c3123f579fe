"""The final evaluation of a trained detector: the test split, read once, split into test sets.

Protocol (DESIGN.md "Protocol rules"): the test split's labels are sealed in
:class:`SealedLabels` when training starts and opened only after every test frame has been
scored with the validation-chosen checkpoint; nothing before that point can read them.

Test sets: one per generator (the real test videos + that generator's test fakes) and,
when there are several generators, ``all`` (the real test videos + every generator's test
fakes). A detector trained on generator A and tested on generator B is a cell of the
cross-generator matrix; ``train_set == test_set`` is the in-domain protocol. Each unique
test frame is scored once; real frames appear in every test set's rows.

Robustness (:func:`evaluate_robustness`): the same test frames under test-time
perturbations (``forgebench.perturbations``: JPEG, blur, noise, down-scaling, H.264 CRF
23/40 re-encoding of the whole video) scored by the same checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import json

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from pydantic import Field

from forgebench.atomic import write_json, write_parquet
from forgebench.config import Strict
from forgebench.detectors.data import RESIZE_MODE, make_loader
from forgebench.detectors.inference import load_detector, predict_loader
from forgebench.errors import DataError
from forgebench.metrics.detection import equal_error_rate, frame_and_video_metrics, video_scores
from forgebench.perturbations import RobustnessSettings, perturbed_crops

__all__ = [
    "PREDICTION_COLUMNS", "ROBUSTNESS_COLUMNS", "SealedLabels", "test_sets_of", "expand_test_sets", "final_evaluation",
    "evaluate_robustness", "val_thresholds", "ProtocolSettings",
]


class ProtocolSettings(Strict):
    """The evaluation protocol (config section ``protocol``).

    Attributes:
        cross_generator: test every trained detector on every generator's test fakes
            (the cross-generator matrix); ``False`` = in-domain only.
        train_on_all: also train each detector on the fakes of all generators together
            (train set ``all``), when there are two or more generators.
        video_aggregation: ``mean`` (FaceForensics++ / DeepfakeBench), ``median`` or
            ``max`` of the frame scores of each unique video id.
        n_boot: bootstrap resamples (of videos) for the 95% confidence intervals.
        robustness: test-time perturbations
            (:class:`forgebench.perturbations.RobustnessSettings`).
    """

    cross_generator: bool = True
    train_on_all: bool = True
    video_aggregation: Literal["mean", "median", "max"] = "mean"
    n_boot: int = Field(default=1000, ge=10)
    robustness: RobustnessSettings = RobustnessSettings()

#: Columns of ``predictions.parquet`` (one row per test frame).
PREDICTION_COLUMNS = (
    "video_id", "frame_index", "label", "split", "method", "identity", "score", "detector", "train_set", "test_set",
)

#: Columns of ``robustness.parquet`` (one row per test frame and perturbation strength;
#: ``perturbation == "none"`` rows are the clean scores, strength NaN).
ROBUSTNESS_COLUMNS = (
    "video_id", "frame_index", "label", "method", "perturbation", "strength", "score", "detector", "train_set",
)


class SealedLabels:
    """Holds the test labels until the final evaluation asks for them, once.

    Args:
        labels: ``(n,)`` int labels (0 real, 1 fake) of the test frames, in row order.
        where: names the training job in error messages.

    ``open()`` returns the labels; a second ``open()`` raises, so no code path can peek
    and then evaluate again. Tests replace ``open`` to check when it is called.
    """

    def __init__(self, labels: np.ndarray, where: str) -> None:
        self._labels = np.asarray(labels, dtype=np.int64).copy()
        self._where = where
        self.opened = False

    def __len__(self) -> int:
        return len(self._labels)

    def open(self) -> np.ndarray:
        """The sealed ``(n,)`` int64 labels.

        Raises:
            RuntimeError: opened before (the test split is read once).
        """
        if self.opened:
            raise RuntimeError(f"{self._where}: the test labels were already read; the test split is read once")
        self.opened = True
        return self._labels.copy()


def test_sets_of(fake_methods: list[str]) -> dict[str, list[str]]:
    """Test set name -> fake methods in it: one per generator, plus ``all`` when there are
    two or more generators. ``["a", "b"]`` -> ``{"a": ["a"], "b": ["b"], "all": ["a", "b"]}``."""
    methods = sorted(set(fake_methods))
    sets = {m: [m] for m in methods}
    if len(methods) > 1:
        sets["all"] = methods
    return sets


def expand_test_sets(preds: pd.DataFrame, test_sets: dict[str, list[str]]) -> pd.DataFrame:
    """Rows of every test set: for each ``name -> methods``, the real rows (``label == 0``)
    and the rows whose ``method`` is in ``methods``, with ``test_set = name``.

    Args:
        preds: one row per scored test frame with ``method``, ``label``, ``score``.
        test_sets: from :func:`test_sets_of`.

    Returns:
        the concatenation (real frames repeated once per test set), index reset.
    """
    parts = []
    for name, methods in test_sets.items():
        part = preds[(preds["label"] == 0) | preds["method"].isin(methods)].copy()
        part["test_set"] = name
        parts.append(part)
    if not parts:
        return preds.assign(test_set=pd.Series(dtype=str)).iloc[0:0]
    return pd.concat(parts, ignore_index=True)


def bce_of_logits(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean (unweighted) binary cross-entropy of logits against 0/1 labels."""
    if len(labels) == 0:
        return float("nan")
    return float(F.binary_cross_entropy_with_logits(torch.from_numpy(logits), torch.from_numpy(labels.astype(np.float64))))


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Float64 logistic of logits (any shape)."""
    return torch.sigmoid(torch.from_numpy(np.asarray(logits, dtype=np.float64))).numpy()


def val_thresholds(val_df: pd.DataFrame, probs: np.ndarray, how: str) -> dict[str, Any]:
    """Frame and video decision thresholds from validation probabilities ``probs`` ``(n,)``
    in [0, 1] (EER points; video scores aggregated by ``how``); 0.5 / the frame
    threshold when validation has one class. Returns ``threshold``, ``video_threshold``,
    their ``*_source`` and ``val_frame_eer``."""
    out: dict[str, Any] = {}
    frame_eer, thr = equal_error_rate(val_df["label"].to_numpy(), probs)
    if np.isfinite(thr):
        out["threshold"], out["threshold_source"] = float(np.clip(thr, 0.0, 1.0)), "val frame EER"
    else:
        out["threshold"], out["threshold_source"] = 0.5, "default 0.5: validation has one class, EER undefined"
    vs = video_scores(val_df.assign(score=probs), score_col="score", by="video_id", how=how)
    _, vthr = equal_error_rate(vs["label"].to_numpy(), vs["score"].to_numpy(dtype=np.float64))
    if np.isfinite(vthr):
        out["video_threshold"], out["video_threshold_source"] = float(np.clip(vthr, 0.0, 1.0)), "val video EER"
    else:
        out["video_threshold"], out["video_threshold_source"] = out["threshold"], "frame threshold (val videos of one class)"
    out["val_frame_eer"] = frame_eer
    return out


def read_stored(metrics_path: Path) -> dict[str, Any]:
    """A stored ``metrics.json``. Raises DataError (naming it) when unreadable."""
    try:
        return json.loads(metrics_path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{metrics_path}: cannot read stored metrics ({exc}); delete it to re-run") from exc


def final_evaluation(name, settings, model, meta, val_df, val_loader, test_df, sealed, run_dir, out_dir, device,
                      train_set, history, stopped_early, amp, progress, how, sha256_file) -> dict[str, Any]:
    """Steps 3 and 4 of the training protocol (:mod:`forgebench.detectors.training`), on rank 0:
    reload ``best.pt``, choose thresholds on validation, score the test frames, unseal the
    labels, write ``predictions.parquet`` / ``metrics.json`` and return the metrics."""
    best_path = out_dir / "best.pt"
    image_size = meta["image_size"]
    model, best_meta = load_detector(best_path, device)
    val_probs = sigmoid(predict_loader(model, val_loader, device, progress, desc=f"{name}/{train_set} val (best)", amp=amp))
    thresholds = val_thresholds(val_df, val_probs, how)
    val_metrics = frame_and_video_metrics(val_df.assign(score=val_probs), thresholds["threshold"], thresholds["video_threshold"], how)

    # The test split, read once: every frame scored, then the labels unsealed.
    test_loader = make_loader(test_df.assign(label=-1), run_dir, image_size, settings.batch_size, train=False,
                              num_workers=settings.num_workers, with_labels=False)
    probs = sigmoid(predict_loader(model, test_loader, device, progress, desc=f"{name}/{train_set} test", amp=amp))
    scored = test_df[["video_id", "frame_index", "split", "method", "identity"]].copy()
    scored["label"] = sealed.open()
    scored["frame_index"] = scored["frame_index"].astype(np.int64)
    scored["score"] = probs
    scored["detector"], scored["train_set"] = name, train_set
    test_sets = test_sets_of(sorted(set(scored.loc[scored["label"] == 1, "method"])))
    preds = expand_test_sets(scored, test_sets)
    per_set = {
        ts: frame_and_video_metrics(df, thresholds["threshold"], thresholds["video_threshold"], how)
        for ts, df in preds.groupby("test_set", sort=True)
    }
    in_domain = train_set if train_set in per_set else ("all" if "all" in per_set else sorted(per_set)[0])
    test_metrics = per_set[in_domain]

    metrics = {
        "detector": name, "train_set": train_set, "test_set": in_domain, "split": "test",
        "train_methods": meta["train_methods"],
        **test_metrics,
        "test_sets": per_set,
        "n_frames": test_metrics["frame"]["n_frames"], "n_videos": test_metrics["video"]["n_videos"],
        **thresholds,
        "val": val_metrics,
        "best_epoch": int(best_meta["epoch"]), "best_val_auc": best_meta["val_auc"], "best_val_loss": best_meta["val_loss"],
        "epochs_run": len(history), "stopped_early": stopped_early, "patience": settings.patience,
        "n_train_frames": meta["n_train_frames"], "n_train_videos": meta["n_train_videos"],
        "n_val_frames": int(len(val_df)), "n_val_videos": int(val_df["video_id"].nunique()),
        "image_size": image_size, "resize": RESIZE_MODE, "lr": meta["lr"], "seed": meta["seed"],
        "pretrained": meta["pretrained"], "pretrained_requested": settings.pretrained,
        "pretrained_note": meta["pretrained_note"], "pretrained_file": meta["pretrained_file"],
        "pretrained_sha256": meta["pretrained_sha256"],
        "settings": meta["settings"], "device": str(device), "amp": meta["amp"], "world_size": meta["world_size"],
        "deterministic": device.type == "cpu", "video_aggregation": how,
        "checkpoint": "best.pt", "checkpoint_sha256": sha256_file(best_path),
    }
    write_parquet(out_dir / "predictions.parquet", preds[list(PREDICTION_COLUMNS)])
    write_json(out_dir / "metrics.json", metrics)
    (out_dir / "last.pt").unlink(missing_ok=True)
    return read_stored(out_dir / "metrics.json")


def evaluate_robustness(
    model,
    meta: dict[str, Any],
    test_frames: pd.DataFrame,
    run_dir: Path,
    out_dir: Path,
    settings,
    device,
    seed: int,
    batch_size: int = 64,
    progress: bool = True,
) -> pd.DataFrame:
    """Score the test frames under every configured perturbation strength.

    Args:
        model: the trained detector (eval mode), e.g. from
            :func:`forgebench.detectors.inference.load_detector`.
        meta: its checkpoint metadata (``image_size``, ``detector``, ``train_set``).
        test_frames: face-manifest rows of the test split (real + fakes of every test set)
            with ``label`` (read after the final evaluation), ``matrix``, ``crop_size``.
        run_dir: the run directory (crop paths are relative to it).
        out_dir: ``detectors/<detector>/<train_set>``; per-strength scores are kept in
            ``robustness/<perturbation>_<strength>.parquet`` (resume) and all of them in
            ``robustness.parquet`` (columns :data:`ROBUSTNESS_COLUMNS`).
        settings: :class:`forgebench.perturbations.RobustnessSettings`.
        device: torch device.
        seed: seeds the random perturbations (noise), per crop.
        batch_size: crops per forward pass.
        progress: tqdm bars.

    Returns:
        the ``robustness.parquet`` table (clean rows first). Each crop is perturbed at the
        stored crop size and then resized to the detector input as in training.

    Raises:
        forgebench.errors.DataError: a video needed for re-encoding or a crop is missing.
    """
    from forgebench.detectors.inference import predict_crops
    from forgebench.media import read_image

    out_dir, run_dir = Path(out_dir), Path(run_dir)
    frames = test_frames.reset_index(drop=True)
    if settings.max_frames_per_video:
        frames = frames.groupby("video_id", sort=False).head(settings.max_frames_per_video).reset_index(drop=True)
    size = int(meta["image_size"])
    base = frames[["video_id", "frame_index", "label", "method"]].copy()
    base["label"] = base["label"].astype(np.int64)
    base["frame_index"] = base["frame_index"].astype(np.int64)
    base["detector"], base["train_set"] = str(meta["detector"]), str(meta["train_set"])
    jobs: list[tuple[str, float | None]] = [("none", None)]
    for name in ("jpeg", "blur", "noise", "downscale", "h264"):
        jobs += [(name, float(v)) for v in getattr(settings, name)]
    parts = []
    cache = run_dir / "robustness"  # re-encoded videos, shared by every detector
    for name, strength in tqdm(jobs, desc=f"{meta['detector']}/{meta['train_set']} robustness", disable=None if progress else True):
        part_path = out_dir / "robustness" / f"{name}_{'clean' if strength is None else f'{strength:g}'}.parquet"
        if part_path.is_file():
            parts.append(pd.read_parquet(part_path))
            continue
        if strength is None:
            crops = [read_image(run_dir / p) for p in frames["crop_path"].astype(str)]
        else:
            crops = perturbed_crops(run_dir, frames, name, strength, cache, seed=seed, progress=False)
        part = base.copy()
        part["perturbation"], part["strength"] = name, np.nan if strength is None else strength
        part["score"] = predict_crops(model, crops, size, device, batch_size=batch_size)
        part = part[list(ROBUSTNESS_COLUMNS)]
        write_parquet(part_path, part)
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    write_parquet(out_dir / "robustness.parquet", table)
    return table
