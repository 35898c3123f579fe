"""The detection protocol: which frames train, choose and test a detector, and how the test
split is read once.

Rules (DESIGN.md "Protocol rules"):

- splits are disjoint by identity and by video (:func:`check_disjoint_splits`);
- checkpoints and thresholds are chosen on the validation split only
  (:func:`val_thresholds`); the test split's labels are sealed in :class:`SealedLabels`
  before anything is trained and opened only after every test frame has been scored with
  the validation-chosen checkpoint (:func:`final_evaluation`);
- test sets are one per generator (the real test videos + that generator's test fakes)
  and ``all`` when there are several generators (:func:`test_sets_of`); a detector trained
  on generator A and tested on B is a cell of the cross-generator matrix, ``train_set ==
  test_set`` the in-domain protocol;
- video scores aggregate frame scores per unique video id; every metric is computed once,
  here, with its people-cluster bootstrap 95% interval (:func:`metrics_with_intervals`), and stored: the
  leaderboard formats it and recomputes nothing.

Robustness (:func:`robustness_metrics`): the test frames scored under test-time
perturbations (:mod:`forgebench.perturbations`) by the same checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from forgebench.detectors import (
    FRAME_COLUMNS,
    RESIZE_MODE,
    TrainSettings,
    load_detector,
    make_loader,
    predict_loader,
    sigmoid,
)
from forgebench.errors import DataError
from forgebench.metrics.bootstrap import (
    BOOT_SEED,
    cluster_bootstrap,
    cluster_counts,
    connected_clusters,
    interval_status,
)
from forgebench.metrics.detection import (
    LOW_FPRS,
    detection_metrics,
    equal_error_rate,
    frame_and_video_metrics,
    low_fpr_threshold,
    video_scores,
)
from forgebench.protocol_settings import ProtocolSettings  # noqa: F401  (public here: the protocol section)
from forgebench.results import detector_result, in_domain_set
from forgebench.rundir import BEST_CHECKPOINT
from forgebench.schemas import PREDICTIONS, ROBUSTNESS_METRICS

__all__ = [
    "ProtocolSettings",
    "SealedLabels",
    "add_clusters",
    "check_frames",
    "check_disjoint_splits",
    "select_frames",
    "test_sets_of",
    "expand_test_sets",
    "val_thresholds",
    "fpr_thresholds_of",
    "metrics_with_intervals",
    "Evaluation",
    "final_evaluation",
    "test_evaluation",
    "metrics_document",
    "robustness_metrics",
]

SPLITS = ("train", "val", "test")
#: What the bootstrap intervals resample (``ci_unit`` of every result).
CI_UNIT = "connected group of people"


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


def check_frames(frames: pd.DataFrame, source: str = "frames") -> None:
    """Check a frame table has the columns detectors need, labels in {0, 1} and known splits.

    Raises:
        DataError: missing columns, bad labels or unknown split names (naming ``source``).
    """
    missing = [c for c in (*FRAME_COLUMNS, "split") if c not in frames.columns]
    if missing:
        raise DataError(f"{source}: lacks face-manifest column(s) {missing}")
    bad = set(pd.unique(frames["label"])) - {0, 1}
    if bad:
        raise DataError(f"{source}: label must be 0 (real) or 1 (fake), got {sorted(map(str, bad))[:5]}")
    splits = set(frames["split"].astype(str)) - set(SPLITS)
    if splits:
        raise DataError(f"{source}: unknown split name(s) {sorted(splits)} (expected train, val, test)")


def _people(frames: pd.DataFrame) -> pd.DataFrame:
    """``(person, split)`` rows: the identity shown and, for fakes, the source or driving
    identity (empty cells are no one)."""
    parts = [frames[["identity", "split"]].rename(columns={"identity": "person"})]
    for col in ("source", "driving"):
        if col in frames.columns:
            part = frames[[col, "split"]].rename(columns={col: "person"})
            parts.append(part[part["person"].astype(str) != ""])
    return pd.concat(parts, ignore_index=True)


def add_clusters(frames: pd.DataFrame) -> pd.DataFrame:
    """``frames`` with a ``cluster`` column: the connected group of people each row's
    identity belongs to (:func:`forgebench.metrics.bootstrap.connected_clusters` over the
    identity shown and, for fakes, the source or driving identity of every row of
    ``frames``). The bootstrap intervals resample these groups.

    Args:
        frames: rows with ``identity`` and optionally ``source`` / ``driving`` (empty = no
            one), e.g. the combined face manifest or a predictions table.

    Returns:
        a copy with ``cluster`` (str); an existing ``cluster`` column is replaced.

    Raises:
        DataError: no ``identity`` column.
    """
    if "identity" not in frames.columns:
        raise DataError("the frames lack the 'identity' column the bootstrap clusters are built from")
    cols = ["identity"] + [c for c in ("source", "driving") if c in frames.columns]
    links = frames[cols].fillna("").astype(str).drop_duplicates()
    groups = connected_clusters(list(links.itertuples(index=False, name=None)))
    return frames.assign(cluster=frames["identity"].astype(str).map(groups).fillna(frames["identity"].astype(str)))


def _clusters(df: pd.DataFrame) -> pd.Series:
    """The bootstrap cluster of each row: ``cluster`` when present (:func:`add_clusters`),
    else the identity (prediction files written before clusters were stored)."""
    return (df["cluster"] if "cluster" in df.columns else df["identity"]).astype(str)


def check_disjoint_splits(frames: pd.DataFrame, source: str = "frames") -> None:
    """Check that splits are disjoint by video and by person: no ``video_id`` in two
    splits, and no person (the identity shown, or the source or driving identity of a
    fake) in two splits.

    Raises:
        DataError: names ``source``, what is shared and up to five values.
    """
    n_splits = frames.groupby(frames["video_id"].astype(str))["split"].nunique()
    shared = sorted(n_splits[n_splits > 1].index)
    if shared:
        raise DataError(
            f"{source}: video_id value(s) {shared[:5]} occur in more than one split; "
            "splits must be disjoint by identity and by video"
        )
    people = _people(frames)
    n_splits = people.groupby(people["person"].astype(str))["split"].nunique()
    shared = sorted(n_splits[n_splits > 1].index)
    if shared:
        raise DataError(
            f"{source}: person(s) {shared[:5]} appear in more than one split (as identity, source or driving)"
        )


def select_frames(
    frames: pd.DataFrame, train_methods: list[str] | None, cross_generator: bool, where: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[str]]:
    """The train, validation and test frames of one train set.

    Args:
        frames: face rows of the real videos and the fakes, all splits (``split``,
            ``method``, ``label``).
        train_methods: fake methods trained and validated on (``None`` = every one).
        cross_generator: test on every fake method (``False`` = only ``train_methods``).
        where: names the job in messages.

    Returns:
        ``(train, val, test, train_methods)``: train and validation hold the real frames
        and those of ``train_methods``; test the real frames and every (or the trained)
        fake method's; indices reset.

    Raises:
        DataError: a train method has no fake frames.
    """
    split, method, label = frames["split"].astype(str), frames["method"].astype(str), frames["label"]
    fakes = sorted(set(method[label == 1]))
    train_methods = sorted(set(train_methods)) if train_methods is not None else fakes
    unknown = sorted(set(train_methods) - set(fakes))
    if unknown:
        raise DataError(f"{where}: no fake frames of train method(s) {unknown}; fake methods present: {fakes}")
    in_train = (label == 0) | method.isin(train_methods)
    in_test = in_train if not cross_generator else pd.Series(True, index=frames.index)
    return (
        frames[(split == "train") & in_train].reset_index(drop=True),
        frames[(split == "val") & in_train].reset_index(drop=True),
        frames[(split == "test") & in_test].reset_index(drop=True),
        train_methods,
    )


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


def val_thresholds(val_df: pd.DataFrame, probs: np.ndarray, how: str) -> dict[str, Any]:
    """Frame and video decision thresholds from validation probabilities ``probs`` ``(n,)``
    in [0, 1] (EER points; video scores aggregated by ``how``); 0.5 / the frame
    threshold when validation has one class. Returns ``threshold``, ``video_threshold``,
    their ``*_source``, ``val_frame_eer`` and, per low FPR of
    :data:`forgebench.metrics.declared.LOW_FPRS`, ``threshold_fpr_<key>`` and
    ``video_threshold_fpr_<key>`` (:func:`forgebench.metrics.detection.low_fpr_threshold`
    on validation frames / videos; NaN with one class) with ``fpr_threshold_source``."""
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
        out["video_threshold"], out["video_threshold_source"] = (
            out["threshold"],
            "frame threshold (val videos of one class)",
        )
    out["val_frame_eer"] = frame_eer
    vlabels, vprobs = vs["label"].to_numpy(), vs["score"].to_numpy(dtype=np.float64)
    for key, rate in LOW_FPRS.items():
        out[f"threshold_fpr_{key}"] = low_fpr_threshold(val_df["label"].to_numpy(), probs, rate)
        out[f"video_threshold_fpr_{key}"] = low_fpr_threshold(vlabels, vprobs, rate)
    n_real = int((vlabels == 0).sum())
    out["fpr_threshold_source"] = (
        f"validation split ({int((val_df['label'] == 0).sum())} real frames, {n_real} real videos: "
        f"an FPR below 1/{max(n_real, 1)} at video level can only be met as 0)"
    )
    return out


def fpr_thresholds_of(thresholds: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{"frame": {key: thr}, "video": {key: thr}}`` of the low-FPR thresholds in a
    :func:`val_thresholds` dict (NaN where absent, e.g. a result of an older forgebench or
    a run without validation)."""

    def value(key: str) -> float:
        v = thresholds.get(key)
        return float(v) if isinstance(v, (int, float)) else float("nan")  # NaN is stored as null in metrics.json

    return {
        "frame": {k: value(f"threshold_fpr_{k}") for k in LOW_FPRS},
        "video": {k: value(f"video_threshold_fpr_{k}") for k in LOW_FPRS},
    }


def metrics_with_intervals(
    df: pd.DataFrame,
    threshold: float,
    video_threshold: float,
    how: str,
    n_boot: int,
    min_identities: int = 5,
    fpr_thresholds: dict[str, dict[str, float]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Frame- and video-level metrics of one test set, each with its people-cluster
    bootstrap 95% interval and the identities, videos and frames behind it.

    Args:
        df: one row per scored frame (``video_id``, ``identity`` = the person shown,
            ``cluster`` = its connected group of people (:func:`add_clusters`; the identity
            when absent), ``label``, ``score`` in [0, 1]).
        threshold, video_threshold: the validation-chosen decision thresholds.
        how: video aggregation (``mean``, ``median``, ``max``).
        n_boot: bootstrap replicates.
        min_identities: identities per class below which the cell is ``thin``.
        fpr_thresholds: validation thresholds of the low FPRs (:func:`fpr_thresholds_of`).

    Returns:
        :func:`forgebench.metrics.detection.frame_and_video_metrics` with, at each level,
        ``<m>_ci_low`` / ``<m>_ci_high`` for every metric ``m`` of
        :data:`forgebench.metrics.bootstrap.BOOT_METRICS` (cluster bootstrap resampling
        connected groups of people, stratified, seed
        :data:`~forgebench.metrics.bootstrap.BOOT_SEED`:
        :func:`forgebench.metrics.bootstrap.cluster_bootstrap`; NaN when not estimable),
        ``ci_status`` (``""`` or ``"not estimable: <reason>"``,
        :func:`forgebench.metrics.bootstrap.interval_status`), ``n_boot``, ``ci_unit``
        (``connected group of people``), ``n_clusters``, ``n_identities``,
        ``n_identities_real``, ``n_identities_fake`` (identities with real / fake videos in
        the set), ``min_identities`` and ``thin`` (fewer than ``min_identities`` identities
        in a class: too few to conclude).

    Raises:
        DataError: ``df`` lacks the ``identity`` column or a video has two identities.
    """
    df = df.reset_index(drop=True)
    if "identity" not in df.columns:
        raise DataError("test predictions lack the 'identity' column the people-cluster intervals resample")
    mixed = df.groupby("video_id")["identity"].nunique()
    if (mixed > 1).any():
        raise DataError(f"video(s) with frames of two identities: {list(mixed[mixed > 1].index[:5])}")
    df = df.assign(cluster=_clusters(df))
    fpr_thresholds = fpr_thresholds or fpr_thresholds_of({})
    res = frame_and_video_metrics(
        df, threshold, video_threshold=video_threshold, how=how, fpr_thresholds=fpr_thresholds
    )
    vs = video_scores(df, score_col="score", by="video_id", how=how)
    levels = {"frame": (df, threshold), "video": (vs, video_threshold)}
    counts = cluster_counts(vs["label"], vs["identity"])
    thin = min(counts["n_identities_real"], counts["n_identities_fake"]) < min_identities
    for level, (table, thr) in levels.items():
        ci = cluster_bootstrap(
            table["label"],
            table["score"],
            table["cluster"],
            thr,
            n_boot=n_boot,
            seed=BOOT_SEED,
            fpr_thresholds=fpr_thresholds[level],
        )
        for m, (low, high) in ci.items():
            res[level][f"{m}_ci_low"], res[level][f"{m}_ci_high"] = low, high
        res[level].update(
            n_boot=int(n_boot),
            ci_unit=CI_UNIT,
            ci_status=interval_status(table["label"], table["cluster"]),
            n_clusters=int(table["cluster"].nunique()),
            **counts,
            min_identities=int(min_identities),
            thin=bool(thin),
        )
    return res


@dataclass
class Evaluation:
    """The one test evaluation of a trained detector (:func:`final_evaluation`).

    Attributes:
        predictions: one row per test frame and test set (:data:`forgebench.schemas.PREDICTIONS`).
        test_sets: test set -> ``{"frame": {...}, "video": {...}}`` metrics with intervals.
        in_domain: the test set of the train set (``all`` or the first one otherwise).
        thresholds: :func:`val_thresholds` of the validation-chosen checkpoint.
        val: validation metrics of that checkpoint at those thresholds.
        best_meta: the checkpoint's metadata (epoch, validation AUC and loss, ...).
    """

    predictions: pd.DataFrame
    test_sets: dict[str, dict[str, dict[str, Any]]]
    in_domain: str
    thresholds: dict[str, Any]
    val: dict[str, dict[str, Any]]
    best_meta: dict[str, Any]


def final_evaluation(
    best: Any,
    val_df: pd.DataFrame,
    test_df: pd.DataFrame,
    sealed: SealedLabels,
    *,
    settings: TrainSettings,
    protocol: ProtocolSettings,
    device: torch.device,
    amp: torch.dtype | None = None,
    progress: bool = True,
    desc: str = "",
) -> Evaluation:
    """Choose the thresholds on validation, then read the test split once.

    Reloads the validation-chosen checkpoint ``best`` (a file), scores the validation
    frames and sets the thresholds (:func:`val_thresholds`), scores every test frame,
    only then opens the sealed labels, expands the test sets and computes every metric
    with its interval (:func:`metrics_with_intervals`).

    Args:
        best: the checkpoint file (``best.pt``).
        val_df: validation frames (``label``, ``crop_path`` = PNG files).
        test_df: test frames without labels (``video_id, frame_index, split, method,
            identity, crop_path``), in the order of ``sealed``.
        sealed: the test labels.
        settings: the detector's settings (batch size, loader workers).
        protocol: aggregation and bootstrap resamples.
        device, amp: where and in which precision to score.
        progress, desc: tqdm bars and their prefix.

    Returns:
        the :class:`Evaluation`.

    Raises:
        RuntimeError: the labels were opened before.
        DataError: the checkpoint or a crop cannot be read.
    """
    how = protocol.video_aggregation
    model, best_meta = load_detector(best, device)
    image_size = int(best_meta["image_size"])
    val_loader = make_loader(val_df, image_size, settings.batch_size, train=False, num_workers=settings.num_workers)
    val_probs = sigmoid(predict_loader(model, val_loader, device, progress, desc=f"{desc} val (best)", amp=amp))
    thresholds = val_thresholds(val_df, val_probs, how)
    val_metrics = frame_and_video_metrics(
        val_df.assign(score=val_probs),
        thresholds["threshold"],
        thresholds["video_threshold"],
        how,
        fpr_thresholds_of(thresholds),
    )

    preds, per_set = test_evaluation(
        model,
        test_df,
        sealed,
        image_size=image_size,
        threshold=thresholds["threshold"],
        video_threshold=thresholds["video_threshold"],
        how=how,
        settings=settings,
        protocol=protocol,
        fpr_thresholds=fpr_thresholds_of(thresholds),
        device=device,
        detector=best_meta["detector"],
        train_set=best_meta["train_set"],
        amp=amp,
        progress=progress,
        desc=desc,
    )
    train_set = best_meta["train_set"]
    in_domain = in_domain_set(per_set, train_set)
    return Evaluation(preds, per_set, in_domain, thresholds, val_metrics, best_meta)


def test_evaluation(
    model: torch.nn.Module,
    test_df: pd.DataFrame,
    sealed: SealedLabels,
    *,
    image_size: int,
    threshold: float,
    video_threshold: float,
    how: str,
    settings: TrainSettings,
    protocol: ProtocolSettings,
    device: torch.device,
    detector: str,
    train_set: str,
    amp: torch.dtype | None = None,
    progress: bool = True,
    desc: str = "",
    fpr_thresholds: dict[str, dict[str, float]] | None = None,
) -> tuple[pd.DataFrame, dict[str, dict[str, dict[str, Any]]]]:
    """Read the test split once at fixed thresholds: score every test frame, only then open
    the sealed labels, expand the test sets (:func:`test_sets_of`) and compute every metric
    with its interval (:func:`metrics_with_intervals`).

    Args:
        model: the detector in eval mode on ``device``.
        test_df: test frames without labels (``video_id, frame_index, split, method,
            identity, crop_path``, and ``cluster`` from :func:`add_clusters`, else the
            identity is the cluster), in the order of ``sealed``.
        sealed: the test labels.
        image_size: the detector's input size (crops are resized to it).
        threshold, video_threshold: the decision thresholds (probabilities) chosen on a
            validation split.
        how: video aggregation of frame scores.
        settings: batch size and loader workers; protocol: ``n_boot``, ``min_identities``.
        device, amp: where and in which precision to score.
        detector, train_set: written into the predictions.
        progress, desc: tqdm bar and its prefix.
        fpr_thresholds: validation thresholds of the low FPRs (:func:`fpr_thresholds_of`;
            None = no validation: those TPRs are NaN, the oracle ones are computed).

    Returns:
        ``(predictions, {test set: {"frame": ..., "video": ...}})``
        (:data:`forgebench.schemas.PREDICTIONS` rows).

    Raises:
        RuntimeError: the labels were opened before. DataError: a crop cannot be read.
    """
    test_loader = make_loader(
        test_df.assign(label=-1),
        image_size,
        settings.batch_size,
        train=False,
        num_workers=settings.num_workers,
        with_labels=False,
    )
    probs = sigmoid(predict_loader(model, test_loader, device, progress, desc=f"{desc} test", amp=amp))
    scored = test_df[["video_id", "frame_index", "split", "method", "identity"]].copy()
    scored["cluster"] = _clusters(test_df)
    scored["label"] = sealed.open()
    scored["frame_index"] = scored["frame_index"].astype(np.int64)
    scored["score"] = probs
    scored["detector"], scored["train_set"] = detector, train_set
    test_sets = test_sets_of(sorted(set(scored.loc[scored["label"] == 1, "method"])))
    preds = expand_test_sets(scored, test_sets)[list(PREDICTIONS.columns)]
    per_set = {
        ts: metrics_with_intervals(
            df, threshold, video_threshold, how, protocol.n_boot, protocol.min_identities, fpr_thresholds
        )
        for ts, df in preds.groupby("test_set", sort=True)
    }
    return preds, per_set


def metrics_document(
    ev: Evaluation,
    meta: dict[str, Any],
    settings: TrainSettings,
    *,
    n_val_frames: int,
    n_val_videos: int,
    epochs_run: int,
    stopped_early: bool,
    device: torch.device,
    checkpoint_sha256: str,
    how: str,
) -> dict[str, Any]:
    """The ``metrics.json`` of a trained detector (docs/architecture.md): the in-domain
    metrics at the top level, ``test_sets`` (every test set with intervals), thresholds,
    validation metrics, the chosen epoch and every setting that changes the scores."""
    b = ev.best_meta
    return detector_result(
        detector=meta["detector"],
        train_set=meta["train_set"],
        kind="trained",
        test_set=ev.in_domain,
        test_sets=ev.test_sets,
        thresholds=ev.thresholds,
        video_aggregation=how,
        train_methods=meta["train_methods"],
        val=ev.val,
        best_epoch=int(b["epoch"]),
        best_val_auc=b["val_auc"],
        best_val_loss=b["val_loss"],
        epochs_run=epochs_run,
        stopped_early=stopped_early,
        patience=settings.patience,
        n_train_frames=meta["n_train_frames"],
        n_train_videos=meta["n_train_videos"],
        n_val_frames=int(n_val_frames),
        n_val_videos=int(n_val_videos),
        image_size=meta["image_size"],
        resize=RESIZE_MODE,
        lr=meta["lr"],
        seed=meta["seed"],
        pretrained=meta["pretrained"],
        pretrained_requested=settings.pretrained,
        pretrained_note=meta["pretrained_note"],
        pretrained_file=meta["pretrained_file"],
        pretrained_sha256=meta["pretrained_sha256"],
        model_kwargs=meta["model_kwargs"],
        settings=meta["settings"],
        device=str(device),
        amp=meta["amp"],
        world_size=meta["world_size"],
        deterministic=device.type == "cpu",
        checkpoint=BEST_CHECKPOINT,
        checkpoint_sha256=checkpoint_sha256,
    )


def robustness_metrics(scores: pd.DataFrame, how: str, n_boot: int) -> pd.DataFrame:
    """AUC under each test-time perturbation strength, with cluster-bootstrap 95% intervals
    (:func:`forgebench.metrics.bootstrap.cluster_bootstrap`, resampling connected groups of
    people: the ``cluster`` column, else the identity; NaN when not estimable).

    Args:
        scores: one row per test frame and perturbation strength (columns of
            :data:`forgebench.schemas.ROBUSTNESS`; clean rows have ``perturbation ==
            "none"`` and strength NaN).
        how: video aggregation of frame scores.
        n_boot: bootstrap replicates (of identities, stratified).

    Returns:
        one row per (detector, train_set, perturbation, strength) in the order of
        ``scores`` (:data:`forgebench.schemas.ROBUSTNESS_METRICS`): ``video_auc`` and
        ``frame_auc`` with their intervals, ``n_identities`` (with ``n_identities_real`` /
        ``n_identities_fake``: identities with real / fake test videos), ``n_videos``, ``n_frames``.
    """
    rows = []
    scores = scores.assign(cluster=_clusters(scores))
    for (det, train, pert, strength), g in scores.groupby(
        ["detector", "train_set", "perturbation", scores["strength"].fillna(-1.0)], sort=False
    ):
        vs = video_scores(g, score_col="score", by="video_id", how=how)
        row = {
            "detector": det,
            "train_set": train,
            "perturbation": pert,
            "strength": np.nan if strength == -1.0 else float(strength),
            "video_auc": detection_metrics(vs["label"], vs["score"])["auc"],
            "frame_auc": detection_metrics(g["label"], g["score"])["auc"],
            **cluster_counts(vs["label"], vs["identity"]),
            "n_videos": int(len(vs)),
            "n_frames": int(len(g)),
        }
        for level, table in (("video", vs), ("frame", g)):
            ci = cluster_bootstrap(table["label"], table["score"], table["cluster"], n_boot=n_boot, seed=BOOT_SEED)[
                "auc"
            ]
            row[f"{level}_auc_ci_low"], row[f"{level}_auc_ci_high"] = ci
        rows.append(row)
    return pd.DataFrame(rows, columns=list(ROBUSTNESS_METRICS.columns))
