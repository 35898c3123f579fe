"""Detection metrics: ROC AUC, average precision, equal error rate and accuracy, at frame
and video level.

Pure functions over NumPy arrays / DataFrames, computed with scikit-learn
(``roc_auc_score``, ``average_precision_score``, ``roc_curve``). Conventions follow the
face-forgery benchmarks (FaceForensics++, Rössler et al. 2019; DeepfakeBench, Yan et al.
2023): label 1 = fake (the positive class), a larger score = more likely fake, a sample is
called fake when ``score >= threshold``; video scores are the mean of the frame scores of
each unique video id (``<dataset>/<method>/<compression>/<video_name>``), never of a folder
name.

When only one class is present, AUC, AP and EER are undefined: they are returned as NaN
with the reason in ``"note"`` instead of raising (accuracy is still defined).

Every metric computed here is declared here (:data:`DETECTION`: name, label, unit,
direction, interval, what it needs, what it follows); :mod:`forgebench.metrics.declared`
gathers the declarations for the tables, the report and docs/metrics.md.

Command line: ``python -m forgebench.metrics.detection predictions.parquet [--threshold T]``
prints the frame- and video-level metrics of a predictions file as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score, roc_curve

from forgebench.errors import DataError
from forgebench.metrics._declaration import MetricDecl, declare_detection

__all__ = [
    "AGGREGATIONS",
    "DETECTION",
    "LOW_FPRS",
    "ECE_BINS",
    "LOG_LOSS_EPS",
    "detection_names",
    "interval_names",
    "point_names",
    "check_labels_scores",
    "ece_bins",
    "equal_error_rate",
    "deepfakebench_eer",
    "low_fpr_threshold",
    "tpr_at_fpr",
    "expected_calibration_error",
    "reliability_curve",
    "detection_metrics",
    "video_scores",
    "frame_and_video_metrics",
]

#: Video aggregations of frame scores (``mean`` is FaceForensics++/DeepfakeBench's).
AGGREGATIONS = ("mean", "median", "max")
#: The low false-positive rates of the deployment metrics: key suffix -> FPR.
LOW_FPRS = {"1pct": 0.01, "0_1pct": 0.001}
#: Equal-width bins of the expected calibration error.
ECE_BINS = 15
#: Probabilities are clipped to [LOG_LOSS_EPS, 1 - LOG_LOSS_EPS] for the log loss (the
#: DFDC competition clipped submissions the same way to keep one confident error finite).
LOG_LOSS_EPS = 1e-15


def _low_fpr(key: str, fpr: float) -> tuple[MetricDecl, ...]:
    pct = f"{fpr * 100:g}%"
    return (
        declare_detection(
            f"tpr_at_fpr_{key}",
            f"TPR@FPR {pct}",
            "[0, 1]",
            True,
            "deployment operating point (e.g. DFDC, Dolhansky et al. 2020)",
            f"share of fakes caught at the threshold chosen on the validation split to give FPR ≤ {pct} there "
            "(the highest validation TPR among such thresholds)",
            needs="validation",
        ),
        declare_detection(
            f"fpr_at_fpr_{key}",
            f"FPR achieved ({pct} target)",
            "[0, 1]",
            None,
            "the same threshold",
            f"the test FPR the validation threshold for FPR {pct} actually gives (drifts when validation and test differ)",
            interval=False,
            needs="validation",
        ),
        declare_detection(
            f"tpr_at_fpr_{key}_oracle",
            f"TPR@FPR {pct} (oracle)",
            "[0, 1]",
            True,
            "the test ROC curve",
            f"the highest test TPR among thresholds with test FPR ≤ {pct}: the threshold is tuned on the test set, an upper "
            "bound no deployment reaches",
        ),
    )


#: The detection metrics computed here (:func:`detection_metrics`), declared in display
#: order; every one is also computed under bootstrap weights
#: (:func:`forgebench.metrics.bootstrap.weighted_metrics`) when it has an interval.
DETECTION: tuple[MetricDecl, ...] = (
    declare_detection(
        "auc",
        "AUC",
        "[0, 1]",
        True,
        "ROC AUC, scikit-learn roc_auc_score",
        "area under the ROC curve (fake = positive; ties count 1/2)",
    ),
    declare_detection(
        "ap",
        "AP",
        "[0, 1]",
        True,
        "scikit-learn average_precision_score",
        "average precision, fake = positive (step-wise, no interpolation)",
    ),
    declare_detection(
        "eer",
        "EER",
        "[0, 1]",
        False,
        "forgebench's definition (forgebench.metrics.detection.equal_error_rate)",
        "(FPR + FNR) / 2 at the ROC point (every threshold) nearest FPR = FNR",
    ),
    declare_detection(
        "eer_deepfakebench",
        "EER (DeepfakeBench's)",
        "[0, 1]",
        False,
        "DeepfakeBench training/metrics/utils.py get_test_metrics",
        "the FPR at the point of scikit-learn's reduced ROC curve minimising |FNR − FPR|",
        interval=False,
    ),
    declare_detection(
        "acc",
        "acc.",
        "[0, 1]",
        True,
        "accuracy at the validation threshold",
        "share of samples called right with fake when score ≥ the validation EER threshold",
        needs="validation",
    ),
    declare_detection(
        "acc_05", "acc. @0.5", "[0, 1]", True, "accuracy at 0.5", "share of samples called right with fake when p ≥ 0.5"
    ),
    declare_detection(
        "log_loss",
        "log loss",
        "nats, ≥ 0",
        False,
        "DFDC competition score, scikit-learn log_loss",
        "mean binary cross-entropy of p(fake) clipped to [1e-15, 1 − 1e-15]",
    ),
    *(d for key, fpr in LOW_FPRS.items() for d in _low_fpr(key, fpr)),
    declare_detection(
        "ece",
        f"ECE ({ECE_BINS} bins)",
        "[0, 1]",
        False,
        "Guo et al. 2017 (ICML); bins as torchmetrics binary_calibration_error(n_bins=15, norm='l1')",
        f"expected calibration error of p(fake): {ECE_BINS} equal-width bins [k/{ECE_BINS}, (k+1)/{ECE_BINS}) "
        "(p = 1 in a bin of its own), Σ (n_bin / n) |fraction fake − mean p| over the bins",
    ),
    declare_detection(
        "brier",
        "Brier",
        "[0, 1]",
        False,
        "Brier 1950; scikit-learn brier_score_loss",
        "mean squared difference of p(fake) and the label",
    ),
)


def detection_names() -> tuple[str, ...]:
    """Every detection metric's name, in display order."""
    return tuple(d.name for d in DETECTION)


def interval_names() -> tuple[str, ...]:
    """The detection metrics with a bootstrap interval."""
    return tuple(d.name for d in DETECTION if d.interval)


def point_names() -> tuple[str, ...]:
    """The detection metrics stored as point estimates (no interval)."""
    return tuple(d.name for d in DETECTION if not d.interval)


def check_labels_scores(labels: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert detection inputs to 1-D arrays (shared by
    :mod:`forgebench.metrics.bootstrap`).

    Args:
        labels: ``(n,)`` values in {0, 1}, 1 = fake.
        scores: ``(n,)`` finite floats, larger = more likely fake.

    Returns:
        ``(labels int64, scores float64)``, both ``(n,)``.

    Raises:
        ValueError: lengths differ, labels not in {0, 1}, or non-finite scores.
    """
    y = np.asarray(labels).reshape(-1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length: {y.shape[0]} vs {s.shape[0]}")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError(f"labels must be 0 (real) or 1 (fake), got values {sorted(set(np.unique(y).tolist()))[:5]}")
    if not np.isfinite(s).all():
        raise ValueError(f"scores must be finite, got {int((~np.isfinite(s)).sum())} NaN/inf value(s)")
    return y.astype(np.int64), s


def ece_bins(scores: np.ndarray) -> np.ndarray:
    """``(n,)`` bin index in ``0..ECE_BINS`` of probabilities ``scores``: ``[k/15, (k+1)/15)``,
    p = 1 in bin 15 of its own (torchmetrics' ``_binning_bucketize``: ``bucketize(right=True)
    - 1`` over ``linspace(0, 1, 16)``)."""
    return np.searchsorted(np.linspace(0.0, 1.0, ECE_BINS + 1), scores, side="right") - 1


def _check(labels: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert ``labels`` (0/1) and ``scores`` (finite) to 1-D arrays."""
    return check_labels_scores(labels, scores)


def _one_class_note(y: np.ndarray) -> str | None:
    n_pos = int((y == 1).sum())
    n_neg = int((y == 0).sum())
    if n_pos == 0 or n_neg == 0:
        return f"only one class present (n_fake={n_pos}, n_real={n_neg}): AUC, AP and EER are undefined"
    return None


def equal_error_rate(labels: Any, scores: Any) -> tuple[float, float]:
    """Equal error rate of a binary detector and the threshold reaching it.

    The EER is the operating point where the false positive rate (real called fake)
    equals the false negative rate (fake called real). forgebench's definition: on the ROC
    curve of ``sklearn.metrics.roc_curve`` with every threshold (``drop_intermediate=False``)
    the point minimising ``|FNR - FPR|`` is taken and the EER is the mean of its two rates,
    ``(FPR + FNR) / 2`` (exact when they are equal, the midpoint otherwise). This is **not**
    DeepfakeBench's definition, which reports the FPR alone at the point of sklearn's
    reduced curve (:func:`deepfakebench_eer`); the two differ when no threshold equalises
    the rates (e.g. labels ``[0, 0, 0, 1, 1]``, scores ``[0.1, 0.6, 0.3, 0.5, 0.9]``:
    0.417 here, 0.333 in DeepfakeBench), and every table shows both.

    Args:
        labels: ``(n,)`` ints in {0, 1}, 1 = fake (positive class).
        scores: ``(n,)`` finite floats, larger = more likely fake (probabilities or logits).

    Returns:
        ``(eer, threshold)``: EER in [0, 1] and the score threshold (same units as
        ``scores``; predict fake when ``score >= threshold``). When the best point is
        "nothing is fake", the threshold is just above the largest score.
        ``(nan, nan)`` when only one class is present or the arrays are empty.

    Raises:
        ValueError: lengths differ, labels not in {0, 1}, or non-finite scores.
    """
    y, s = _check(labels, scores)
    if y.size == 0 or _one_class_note(y):
        return float("nan"), float("nan")
    fpr, tpr, thresholds = roc_curve(y, s, drop_intermediate=False)
    fnr = 1.0 - tpr
    idx = int(np.argmin(np.abs(fnr - fpr)))
    eer = float((fpr[idx] + fnr[idx]) / 2.0)
    threshold = float(thresholds[idx])
    if not math.isfinite(threshold):
        threshold = float(np.nextafter(s.max(), np.inf))
    return eer, threshold


def deepfakebench_eer(labels: Any, scores: Any) -> float:
    """DeepfakeBench's EER: the false positive rate at the point minimising ``|FNR - FPR|``
    of ``sklearn.metrics.roc_curve`` with its default reduced curve
    (``drop_intermediate=True``), as DeepfakeBench's ``get_test_metrics``
    (``training/metrics/utils.py`` at 8a4a7bf) computes it; shown beside forgebench's
    :func:`equal_error_rate` so numbers compare with DeepfakeBench's tables.

    Args:
        labels: ``(n,)`` ints in {0, 1}, 1 = fake.
        scores: ``(n,)`` finite floats, larger = more likely fake.

    Returns:
        the EER in [0, 1]; NaN when only one class is present or the arrays are empty.

    Raises:
        ValueError: lengths differ, labels not in {0, 1}, or non-finite scores.
    """
    y, s = _check(labels, scores)
    if y.size == 0 or _one_class_note(y):
        return float("nan")
    fpr, tpr, _ = roc_curve(y, s)
    return float(fpr[int(np.nanargmin(np.abs((1.0 - tpr) - fpr)))])


def low_fpr_threshold(labels: Any, scores: Any, fpr: float) -> float:
    """The threshold giving the highest TPR among those with FPR <= ``fpr`` on this sample
    (choose it on validation; the test-set oracle is :func:`tpr_at_fpr`).

    Args:
        labels: ``(n,)`` ints in {0, 1}, 1 = fake; scores: ``(n,)`` finite floats.
        fpr: the largest false positive rate allowed, in (0, 1).

    Returns:
        the threshold (fake when ``score >= threshold``; just above the largest score when
        no real sample may be called fake); NaN when a class is missing. With fewer than
        ``1 / fpr`` real samples the allowed FPR is 0: the threshold lies above every real
        score.

    Raises:
        ValueError: bad labels or scores.
    """
    y, s = _check(labels, scores)
    if y.size == 0 or _one_class_note(y):
        return float("nan")
    rates, tpr, thresholds = roc_curve(y, s, drop_intermediate=False)
    ok = np.flatnonzero(rates <= fpr + 1e-12)
    idx = int(ok[np.argmax(tpr[ok])])
    thr = float(thresholds[idx])
    return thr if math.isfinite(thr) else float(np.nextafter(s.max(), np.inf))


def tpr_at_fpr(labels: Any, scores: Any, fpr: float, threshold: float | None = None) -> tuple[float, float]:
    """True positive rate at a low false positive rate.

    Args:
        labels: ``(n,)`` ints in {0, 1}, 1 = fake; scores: ``(n,)`` finite floats.
        fpr: the target false positive rate, in (0, 1).
        threshold: the threshold chosen on validation for ``fpr``
            (:func:`low_fpr_threshold`); None = the test-set oracle.

    Returns:
        ``(tpr, achieved_fpr)`` in [0, 1]: with ``threshold``, the TPR and FPR it gives on
        this sample; the oracle: the highest TPR among thresholds with FPR <= ``fpr`` and
        that threshold's FPR. NaN when a class is missing or ``threshold`` is NaN.

    Raises:
        ValueError: bad labels or scores.
    """
    y, s = _check(labels, scores)
    if y.size == 0 or _one_class_note(y):
        return float("nan"), float("nan")
    if threshold is None:
        threshold = low_fpr_threshold(y, s, fpr)
    if not math.isfinite(threshold):
        return float("nan"), float("nan")
    called = s >= threshold
    return float(called[y == 1].mean()), float(called[y == 0].mean())


def expected_calibration_error(labels: Any, probs: Any, n_bins: int = ECE_BINS) -> float:
    """Expected calibration error of p(fake) (Guo et al. 2017, ICML), as torchmetrics'
    ``binary_calibration_error(probs, labels, n_bins, norm="l1")``: equal-width bins
    ``[k/n_bins, (k+1)/n_bins)`` (p = 1 in a bin of its own), ``Σ (n_bin / n) |fraction fake
    − mean p|``; written here because the bootstrap needs the same sums under weights
    (:func:`forgebench.metrics.bootstrap.weighted_metrics`).

    Args:
        labels: ``(n,)`` ints in {0, 1}; probs: ``(n,)`` probabilities of fake in [0, 1].
        n_bins: bins (only :data:`ECE_BINS` is reported).

    Returns:
        ECE in [0, 1], lower = better calibrated; NaN for empty input or a score outside
        [0, 1].

    Raises:
        ValueError: bad labels or scores.
    """
    y, p = _check(labels, probs)
    if y.size == 0 or p.min() < 0 or p.max() > 1:
        return float("nan")
    bins = np.searchsorted(np.linspace(0.0, 1.0, n_bins + 1), p, side="right") - 1
    gap = np.bincount(bins, weights=y - p, minlength=n_bins + 1)
    return float(np.abs(gap).sum() / y.size)


def reliability_curve(labels: Any, probs: Any, n_bins: int = ECE_BINS) -> pd.DataFrame:
    """The reliability diagram's points: per non-empty bin of :func:`expected_calibration_error`,
    ``bin_low``, ``bin_high``, ``mean_p`` (mean predicted p(fake)), ``fraction_fake`` and
    ``n``; a calibrated detector lies on the diagonal. Raises ``ValueError`` for bad input
    or a score outside [0, 1]."""
    y, p = _check(labels, probs)
    if y.size and (p.min() < 0 or p.max() > 1):
        raise ValueError("reliability_curve needs probabilities in [0, 1]")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = ece_bins(p) if n_bins == ECE_BINS else np.searchsorted(edges, p, side="right") - 1
    rows = []
    for b in np.unique(bins):
        sel = bins == b
        rows.append(
            {
                "bin_low": float(edges[min(b, n_bins)]),
                "bin_high": float(edges[min(b + 1, n_bins)]),
                "mean_p": float(p[sel].mean()),
                "fraction_fake": float(y[sel].mean()),
                "n": int(sel.sum()),
            }
        )
    return pd.DataFrame(rows, columns=["bin_low", "bin_high", "mean_p", "fraction_fake", "n"])


def detection_metrics(
    labels: Any, scores: Any, threshold: float = 0.5, fpr_thresholds: dict[str, float] | None = None
) -> dict[str, Any]:
    """AUC, AP, EER and accuracy of scores against labels.

    Args:
        labels: ``(n,)`` ints in {0, 1}, 1 = fake.
        scores: ``(n,)`` finite floats (probability of fake in [0, 1] for ``acc`` at the
            default threshold to make sense).
        threshold: decision threshold for ``acc`` (fake when ``score >= threshold``);
            choose it on validation data, never on the test data.
        fpr_thresholds: ``{key of LOW_FPRS: threshold}`` chosen on validation
            (:func:`low_fpr_threshold`) for ``tpr_at_fpr_<key>``; None = NaN.

    Returns:
        ``{"auc", "ap", "eer", "eer_deepfakebench", "acc", "acc_05", "log_loss", "n",
        "n_real", "n_fake"}``: ROC AUC, average precision (fake = positive), equal error
        rate (:func:`equal_error_rate`; ``eer_deepfakebench``: :func:`deepfakebench_eer`,
        a point estimate the intervals do not cover), accuracy at
        ``threshold`` and at 0.5, each a float in [0, 1]; ``log_loss`` is the mean binary
        cross-entropy in nats of probabilities clipped to [1e-15, 1 - 1e-15] (the DFDC
        score; NaN when a score lies outside [0, 1], i.e. is not a probability); ``n``
        samples behind them; per low FPR (``1pct``, ``0_1pct``): ``tpr_at_fpr_<key>`` and
        ``fpr_at_fpr_<key>`` at the validation threshold and ``tpr_at_fpr_<key>_oracle``
        (:func:`tpr_at_fpr`); ``ece`` (:func:`expected_calibration_error`) and ``brier``
        (scikit-learn's ``brier_score_loss``), NaN for scores outside [0, 1]. Every metric
        is declared in :data:`DETECTION`. AUC/AP/EER/TPR are
        NaN, and a ``"note"`` key says why, when only one class is present; every metric is
        NaN for empty input.

    Raises:
        ValueError: lengths differ, labels not in {0, 1}, or non-finite scores.
    """
    y, s = _check(labels, scores)
    out: dict[str, Any] = {m: float("nan") for m in detection_names()}
    out.update(n=int(y.size), n_real=int((y == 0).sum()), n_fake=int((y == 1).sum()))
    if y.size == 0:
        out["note"] = "no samples"
        return out
    out["acc"] = float(np.mean((s >= threshold).astype(np.int64) == y))
    out["acc_05"] = float(np.mean((s >= 0.5).astype(np.int64) == y))
    if s.min() >= 0.0 and s.max() <= 1.0:
        p = np.clip(s, LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)
        out["log_loss"] = float(log_loss(y, p, labels=[0, 1]))
        out["brier"] = (
            float(brier_score_loss(y, s, pos_label=1)) if 0 < (y == 1).sum() < y.size else float(np.mean((s - y) ** 2))
        )
        out["ece"] = expected_calibration_error(y, s)
    note = _one_class_note(y)
    if note:
        out["note"] = note
        return out
    out["auc"] = float(roc_auc_score(y, s))
    out["ap"] = float(average_precision_score(y, s))
    out["eer"] = equal_error_rate(y, s)[0]
    out["eer_deepfakebench"] = deepfakebench_eer(y, s)
    for key, rate in LOW_FPRS.items():
        thr = (fpr_thresholds or {}).get(key)
        if thr is not None and math.isfinite(thr):
            out[f"tpr_at_fpr_{key}"], out[f"fpr_at_fpr_{key}"] = tpr_at_fpr(y, s, rate, thr)
        out[f"tpr_at_fpr_{key}_oracle"] = tpr_at_fpr(y, s, rate)[0]
    return out


def video_scores(df: pd.DataFrame, score_col: str = "score", by: str = "video_id", how: str = "mean") -> pd.DataFrame:
    """Aggregate frame scores into one score per unique video id.

    Args:
        df: one row per frame with columns ``by`` (the unique video id, e.g.
            ``samples/autoencoder_swap/c23/d0_d3``), ``score_col`` and ``label``;
            optional ``method``, ``identity``, ``cluster``, ``split``, ``detector``,
            ``train_set``, ``test_set`` are carried over (their first value per video).
        score_col: the frame score column (probability of fake).
        by: the grouping column; use the full video id so two methods' videos with the
            same name never merge.
        how: ``mean`` (default, FaceForensics++/DeepfakeBench), ``median`` (robust to a
            few frames without a face or with a bad crop) or ``max`` (a video is as fake
            as its most suspicious frame).

    Returns:
        DataFrame with one row per video, sorted by ``by``: columns ``by``, ``score``
        (aggregated), ``label`` (int), ``n_frames`` and the carried-over columns.

    Raises:
        DataError: a required column is missing, or a video has frames of both labels.
        ValueError: unknown ``how``.
    """
    if how not in AGGREGATIONS:
        raise ValueError(f"how must be one of {AGGREGATIONS}, got {how!r}")
    missing = [c for c in (by, score_col, "label") if c not in df.columns]
    if missing:
        raise DataError(f"frame table lacks column(s) {missing} needed for video scores")
    if df.empty:
        return pd.DataFrame(columns=[by, "score", "label", "n_frames"])
    mixed = df.groupby(by, sort=True)["label"].nunique()
    if (mixed > 1).any():
        raise DataError(f"video(s) with frames of both labels: {list(mixed[mixed > 1].index[:5])}")
    grouped = df.groupby(by, sort=True)
    out = grouped[score_col].agg(how).rename("score").to_frame()
    out["label"] = grouped["label"].first().astype(np.int64)
    out["n_frames"] = grouped.size().astype(np.int64)
    for col in ("method", "identity", "cluster", "split", "detector", "train_set", "test_set"):
        if col in df.columns and col not in (by, score_col):
            out[col] = grouped[col].first()
    return out.reset_index()


def frame_and_video_metrics(
    pred_df: pd.DataFrame,
    threshold: float,
    video_threshold: float | None = None,
    how: str = "mean",
    fpr_thresholds: dict[str, dict[str, float]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Frame- and video-level detection metrics of a predictions table.

    Args:
        pred_df: one row per frame with ``video_id``, ``label`` (0/1) and ``score``
            (probability of fake in [0, 1]), e.g. a ``predictions.parquet``.
        threshold: frame decision threshold chosen on validation (fake if ``score >=``).
        video_threshold: threshold for video scores; defaults to ``threshold``.
        how: video aggregation of frame scores (see :func:`video_scores`).
        fpr_thresholds: ``{"frame": {key: thr}, "video": {key: thr}}`` validation
            thresholds of the low FPRs (:func:`detection_metrics`); None = NaN.

    Returns:
        ``{"frame": {auc, ap, eer, acc, acc_05, log_loss, n, n_real, n_fake, n_frames,
        n_videos}, "video": {... the same, aggregation}}`` (see
        :func:`detection_metrics`; at video level ``n``/``n_real``/``n_fake`` count
        videos).

    Raises:
        DataError: missing columns or a video with both labels.
        ValueError: bad labels or scores.
    """
    videos = video_scores(pred_df, score_col="score", by="video_id", how=how)
    n_videos, n_frames = int(len(videos)), int(len(pred_df))
    fpr_thresholds = fpr_thresholds or {}
    frame = detection_metrics(
        pred_df["label"].to_numpy(), pred_df["score"].to_numpy(), threshold, fpr_thresholds.get("frame")
    )
    frame.update(n_frames=n_frames, n_videos=n_videos)
    vt = threshold if video_threshold is None else video_threshold
    video = detection_metrics(
        videos["label"].to_numpy(), videos["score"].to_numpy(dtype=np.float64), vt, fpr_thresholds.get("video")
    )
    video.update(n_videos=n_videos, n_frames=n_frames, aggregation=how)
    return {"frame": frame, "video": video}


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Frame- and video-level detection metrics of a predictions.parquet")
    parser.add_argument("predictions", type=Path)
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        help="decision threshold of the accuracies (the validation-chosen one is 'threshold' in the detector's metrics.json)",
    )
    args = parser.parse_args(argv)
    df = pd.read_parquet(args.predictions)
    res = frame_and_video_metrics(df, args.threshold)
    print(json.dumps(res, indent=2, default=float))


if __name__ == "__main__":
    _main()
