"""Leaderboard tables: quality per generator and detection per (detector, train set).

Reads only the stage outputs listed in docs/architecture.md (``metrics/quality.parquet``,
``metrics/quality_sets.parquet``, ``detectors/<detector>/<train_set>/predictions.parquet``
and ``metrics.json``). Detection metrics come from :mod:`forgebench.metrics.detection`;
this module adds the video-resampling bootstrap confidence intervals of the AUC
(Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993, percentile interval;
stratified by class as in pROC's ``ci.auc``, Robin et al. 2011).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from forgebench.errors import DataError
from forgebench.metrics.detection import BOOT_SEED, N_BOOT, bootstrap_auc_ci  # noqa: F401 - re-exported

#: Per-video quality metrics of ``metrics/quality.parquet``, in display order.
QUALITY_METRICS = (
    "ssim", "psnr", "lpips", "id_sim_source", "id_sim_target", "id_retrieval", "landmark_distance", "akd", "akd_iod",
)
#: Set-level metrics of ``metrics/quality_sets.parquet`` always shown (others found are added).
SET_METRICS = ("fid", "frechet_dlib")
#: Keys of ``metrics.json`` that may hold the validation-chosen decision threshold.
THRESHOLD_KEYS = ("threshold", "val_threshold", "threshold_val", "decision_threshold")
#: Detection metrics reported at frame and video level.
DETECTION_METRICS = ("auc", "ap", "eer", "acc", "acc_05", "log_loss")


def read_parquet(path: Path, required: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a Parquet file and check it has the ``required`` columns.

    Raises:
        DataError: the file is missing, unreadable, or lacks a required column (the
            message names the file and the columns).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: not found")
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise DataError(f"{path}: cannot read as Parquet ({exc})") from exc
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing} (schema: docs/architecture.md)")
    return df


# -- quality ----------------------------------------------------------------------------------
def quality_table(run_dir: str | Path) -> pd.DataFrame:
    """Quality of every generator's fakes: one row per generator.

    Per-video metrics (``QUALITY_METRICS``, see docs/architecture.md for units: SSIM in
    [0, 1], PSNR in dB, LPIPS distance, identity cosine similarities in [-1, 1], retrieval
    share in [0, 1], landmark distance / inter-ocular distance) are averaged over the
    generator's fake videos, NaN values (metric unavailable for that video) left out.

    Returns:
        DataFrame indexed 0..G-1 with columns ``generator``, ``n_videos`` (fake videos),
        ``n_frames`` (scored frames, summed over the videos), and per metric ``<m>_mean``,
        ``<m>_std`` (sample std, ddof=1; NaN for one video), ``<m>_n_videos`` and
        ``<m>_n_frames`` (videos/frames behind the mean, those with a finite value).
        Set-level metrics (``fid``, ``frechet_dlib`` and any other metric of
        ``quality_sets.parquet``) give columns ``<m>`` (float value, or the text
        ``"unavailable: <reason>"`` when its status is not ok or the file is missing),
        ``<m>_n_real`` and ``<m>_n_fake`` (crops behind the number).

    Raises:
        DataError: ``metrics/quality.parquet`` missing/unreadable/empty, missing columns,
            or a video id listed twice for a generator.
    """
    run_dir = Path(run_dir)
    path = run_dir / "metrics" / "quality.parquet"
    if not path.is_file():
        raise DataError(f"{path}: not found; run 'forgebench score {run_dir}' first")
    df = read_parquet(path, ("generator", "video_id", "n_frames"))
    if df.empty:
        raise DataError(f"{path}: no rows (no fake video was scored)")
    dup = df[df.duplicated(["generator", "video_id"], keep=False)]
    if not dup.empty:
        raise DataError(f"{path}: video id(s) listed more than once: {sorted(set(dup['video_id']))[:5]}")
    metrics = [m for m in QUALITY_METRICS if m in df.columns]
    sets = _read_sets(run_dir)
    generators = sorted(set(df["generator"].astype(str)) | set(sets["generator"].astype(str) if sets is not None else []))
    rows = []
    for gen in generators:
        g = df[df["generator"].astype(str) == gen]
        row: dict[str, object] = {
            "generator": gen,
            "n_videos": int(g["video_id"].nunique()),
            "n_frames": int(g["n_frames"].sum()),
            "eval_mode": _eval_mode_text(g),
        }
        for m in metrics:
            values = pd.to_numeric(g[m], errors="coerce").to_numpy(dtype=float)
            ok = np.isfinite(values)
            row[f"{m}_mean"] = float(values[ok].mean()) if ok.any() else math.nan
            row[f"{m}_std"] = float(values[ok].std(ddof=1)) if ok.sum() > 1 else math.nan
            row[f"{m}_n_videos"] = int(ok.sum())
            row[f"{m}_n_frames"] = int(g["n_frames"].to_numpy()[ok].sum())
        row.update(_set_columns(sets, gen, run_dir))
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["quality_metrics"] = metrics
    out.attrs["set_metrics"] = _set_metric_names(sets)
    return out


def _eval_mode_text(g: pd.DataFrame) -> str:
    """``eval``, ``train`` (dropout and batch statistics on when converting) or ``n/a``."""
    if "eval_mode" not in g.columns:
        return "n/a"
    values = sorted({("eval" if bool(v) else "train") for v in g["eval_mode"] if v is not None and not pd.isna(v)})
    return "/".join(values) if values else "n/a"


def _read_sets(run_dir: Path) -> pd.DataFrame | None:
    path = run_dir / "metrics" / "quality_sets.parquet"
    if not path.is_file():
        return None
    return read_parquet(path, ("generator", "metric", "value", "status"))


def _set_metric_names(sets: pd.DataFrame | None) -> list[str]:
    found = [] if sets is None else sorted(set(sets["metric"].astype(str)) - set(SET_METRICS))
    return list(SET_METRICS) + found


def _set_columns(sets: pd.DataFrame | None, generator: str, run_dir: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    for metric in _set_metric_names(sets):
        hit = pd.DataFrame() if sets is None else sets[
            (sets["generator"].astype(str) == generator) & (sets["metric"].astype(str) == metric)]
        r = hit.iloc[-1] if not hit.empty else {}
        status, value = str(r.get("status", "")).strip(), pd.to_numeric(r.get("value"), errors="coerce")
        if sets is None:
            out[metric] = f"unavailable: {run_dir / 'metrics' / 'quality_sets.parquet'} not found"
        elif hit.empty:
            out[metric] = f"unavailable: no '{metric}' row for this generator in quality_sets.parquet"
        elif status.lower() != "ok":
            out[metric] = status if status.startswith("unavailable") else f"unavailable: {status}"
        else:
            out[metric] = float(value) if pd.notna(value) else "unavailable: status ok but no value stored"
        for n in ("n_real", "n_fake"):
            out[f"{metric}_{n}"] = int(r[n]) if n in r and pd.notna(r[n]) else 0
    return out


# -- detection --------------------------------------------------------------------------------
def prediction_files(run_dir: str | Path) -> list[Path]:
    """``detectors/<detector>/<train_set>/predictions.parquet`` files of a run, sorted."""
    root = Path(run_dir) / "detectors"
    return sorted(root.glob("*/*/predictions.parquet")) if root.is_dir() else []


def read_thresholds(metrics_path: Path) -> tuple[float, float | None]:
    """The validation-chosen decision thresholds (probabilities in [0, 1]) of ``metrics.json``.

    The frame threshold is the first numeric key of ``THRESHOLD_KEYS`` at the top level,
    then inside a ``val`` / ``validation`` section; ``video_threshold`` (optional) is
    used for video scores, else the frame threshold is.

    Returns:
        ``(threshold, video_threshold or None)``.

    Raises:
        DataError: file missing, not JSON, or no numeric threshold in it.
    """
    if not metrics_path.is_file():
        raise DataError(f"{metrics_path}: not found (it holds the validation-chosen threshold)")
    try:
        doc = json.loads(metrics_path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{metrics_path}: cannot read as JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise DataError(f"{metrics_path}: expected a JSON object")
    sections = [doc] + [doc[k] for k in ("val", "validation") if isinstance(doc.get(k), dict)]
    found = [s[k] for s in sections for k in THRESHOLD_KEYS if _is_number(s.get(k))]
    if not found:
        raise DataError(f"{metrics_path}: no validation-chosen threshold (expected one of keys {list(THRESHOLD_KEYS)})")
    video = next((s["video_threshold"] for s in sections if _is_number(s.get("video_threshold"))), None)
    return float(found[0]), None if video is None else float(video)


def read_aggregation(metrics_path: Path) -> str:
    """The video aggregation (``mean``/``median``/``max``) recorded in ``metrics.json``;
    ``mean`` when absent or unreadable (``read_thresholds`` reports unreadable files)."""
    from forgebench.metrics.detection import AGGREGATIONS

    try:
        how = json.loads(Path(metrics_path).read_text()).get("video_aggregation", "mean")
    except (OSError, ValueError, AttributeError):
        return "mean"
    return how if how in AGGREGATIONS else "mean"


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def read_predictions(path: Path) -> pd.DataFrame:
    """One ``predictions.parquet`` restricted to the test split, checked.

    Returns:
        the rows, with ``detector``/``train_set``/``test_set`` filled from the folder
        names where absent (``test_set`` = ``train_set``).

    Raises:
        DataError: unreadable, missing columns, labels not in {0, 1}, scores not finite
            in [0, 1], rows of another split than ``test`` (the leaderboard reports the
            test split only), or no row.
    """
    df = read_parquet(path, ("video_id", "frame_index", "label", "score"))
    df = df.copy()
    for col, default in (("detector", path.parent.parent.name), ("train_set", path.parent.name), ("test_set", None)):
        if col not in df:
            df[col] = df["train_set"] if default is None else default
    if "split" in df:
        other = sorted(set(df["split"].astype(str)) - {"test"})
        if other:
            raise DataError(f"{path}: holds rows of split(s) {other}; predictions must be of the test split only")
    if df.empty:
        raise DataError(f"{path}: no prediction rows")
    if not set(pd.unique(df["label"])) <= {0, 1}:
        raise DataError(f"{path}: label must be 0 (real) or 1 (fake), got {sorted(pd.unique(df['label']))[:5]}")
    scores = pd.to_numeric(df["score"], errors="coerce").to_numpy(dtype=float)
    if not (np.isfinite(scores).all() and (scores >= 0).all() and (scores <= 1).all()):
        raise DataError(f"{path}: score must be a finite probability in [0, 1]")
    if df.duplicated(["test_set", "video_id", "frame_index"]).any():
        raise DataError(f"{path}: a (video_id, frame_index) pair is listed more than once")
    mixed = df.groupby("video_id")["label"].nunique()
    if (mixed > 1).any():
        raise DataError(f"{path}: video(s) with both labels: {list(mixed[mixed > 1].index[:5])}")
    df["label"] = df["label"].astype(int)
    df["score"] = scores
    return df


def detection_table(
    run_dir: str | Path, n_boot: int = N_BOOT, seed: int = BOOT_SEED, strict: bool = True
) -> pd.DataFrame:
    """Detection results: one row per (detector, train_set, test_set) of the run.

    Frame- and video-level AUC, AP, EER and accuracy come from
    :func:`forgebench.metrics.detection.frame_and_video_metrics` at the threshold chosen
    on validation and stored in ``metrics.json`` (video score = mean of its frame scores,
    per unique ``video_id``). AUC 95% intervals come from :func:`bootstrap_auc_ci`,
    resampling videos at both levels (frame level: all frames of each drawn video).

    Returns:
        DataFrame with ``detector, train_set, test_set, threshold, video_threshold, n_videos,
        n_videos_real, n_videos_fake, n_frames`` and ``frame_<m>``, ``video_<m>`` for
        ``m`` in auc/ap/eer/acc (AUC, AP, EER, accuracy in [0, 1]) plus
        ``frame_auc_ci_low/high`` and ``video_auc_ci_low/high``. Empty (with these
        columns) when the run has no predictions. ``attrs["problems"]`` lists the files
        skipped when ``strict`` is False.

    Raises:
        DataError: (``strict`` only) a predictions file or its ``metrics.json`` is bad.
    """
    from forgebench.metrics.detection import frame_and_video_metrics, video_scores

    rows, problems = [], []
    for path in prediction_files(run_dir):
        try:
            threshold, video_threshold = read_thresholds(path.parent / "metrics.json")
            how = read_aggregation(path.parent / "metrics.json")
            preds = read_predictions(path)
        except DataError as exc:
            if strict:
                raise
            problems.append(str(exc))
            continue
        for (detector, train_set, test_set), df in preds.groupby(["detector", "train_set", "test_set"], sort=True):
            df = df.reset_index(drop=True)
            res = frame_and_video_metrics(df, threshold, video_threshold=video_threshold, how=how)
            vs = video_scores(df, score_col="score", by="video_id", how=how)
            vlabels = df.groupby("video_id")["label"].first()
            row = {
                "detector": str(detector), "train_set": str(train_set), "test_set": str(test_set),
                "threshold": threshold, "video_threshold": threshold if video_threshold is None else video_threshold,
                "n_videos": int(df["video_id"].nunique()),
                "n_videos_real": int((vlabels == 0).sum()), "n_videos_fake": int((vlabels == 1).sum()),
                "n_frames": int(len(df)), "video_aggregation": how,
            }
            for level in ("frame", "video"):
                for m in DETECTION_METRICS:
                    row[f"{level}_{m}"] = float(res[level][m])
            row["frame_auc_ci_low"], row["frame_auc_ci_high"] = bootstrap_auc_ci(
                df["label"], df["score"], df["video_id"], n_boot=n_boot, seed=seed)
            row["video_auc_ci_low"], row["video_auc_ci_high"] = bootstrap_auc_ci(
                vs["label"], vs["score"], None, n_boot=n_boot, seed=seed)
            rows.append(row)
    columns = ["detector", "train_set", "test_set", "threshold", "video_threshold", "n_videos", "n_videos_real", "n_videos_fake",
               "n_frames", "video_aggregation"]
    for level in ("frame", "video"):
        columns += [f"{level}_{m}" for m in DETECTION_METRICS] + [f"{level}_auc_ci_low", f"{level}_auc_ci_high"]
    out = pd.DataFrame(rows, columns=columns)
    out.attrs["problems"] = problems
    return out


def long_table(
    quality: pd.DataFrame | None, detection: pd.DataFrame | None, robustness: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Every table in long format (``leaderboard.csv``): one row per number.

    Columns: ``table`` (quality/detection/robustness), row keys ``generator, detector,
    train_set, test_set, perturbation, strength`` (empty where not applicable), ``level``
    (video / set for quality; frame / video for detection), ``metric``, ``value``, ``std`` (quality means), ``ci_low``,
    ``ci_high`` (AUC), ``n_videos``, ``n_frames``, ``n_real_crops``, ``n_fake_crops``
    (set-level metrics) and ``status`` (``ok`` or ``unavailable: <reason>``).
    """
    rows = []
    keys = {"generator": "", "detector": "", "train_set": "", "test_set": ""}
    nan = math.nan
    for _, r in (quality if quality is not None else pd.DataFrame()).iterrows():
        base = {"table": "quality", **keys, "generator": r["generator"]}
        for m in quality.attrs.get("quality_metrics", []):
            mean = r[f"{m}_mean"]
            rows.append({**base, "level": "video", "metric": m, "value": mean, "std": r[f"{m}_std"],
                         "n_videos": r[f"{m}_n_videos"], "n_frames": r[f"{m}_n_frames"],
                         "status": "ok" if r[f"{m}_n_videos"] else "unavailable: no finite value in metrics/quality.parquet"})
        for m in quality.attrs.get("set_metrics", []):
            value = r[m]
            ok = not isinstance(value, str)
            rows.append({**base, "level": "set", "metric": m, "value": value if ok else nan,
                         "n_videos": r["n_videos"], "n_real_crops": r[f"{m}_n_real"], "n_fake_crops": r[f"{m}_n_fake"],
                         "status": "ok" if ok else value})
    for _, r in (detection if detection is not None else pd.DataFrame()).iterrows():
        base = {"table": "detection", **keys, **{k: r[k] for k in ("detector", "train_set", "test_set")},
                "n_videos": r["n_videos"], "n_frames": r["n_frames"]}
        rows.append({**base, "level": "frame", "metric": "threshold", "value": r["threshold"], "status": "ok"})
        for level in ("frame", "video"):
            for m in DETECTION_METRICS:
                ci = (r[f"{level}_auc_ci_low"], r[f"{level}_auc_ci_high"]) if m == "auc" else (nan, nan)
                rows.append({**base, "level": level, "metric": m, "value": r[f"{level}_{m}"], "ci_low": ci[0], "ci_high": ci[1],
                             "status": "ok" if math.isfinite(r[f"{level}_{m}"]) else "unavailable: one class only"})
    for _, r in (robustness if robustness is not None else pd.DataFrame()).iterrows():
        base = {"table": "robustness", **keys, "detector": r["detector"], "train_set": r["train_set"], "test_set": "all",
                "perturbation": r["perturbation"], "strength": r["strength"], "n_videos": r["n_videos"], "n_frames": r["n_frames"]}
        for level in ("frame", "video"):
            value = r[f"{level}_auc"]
            rows.append({**base, "level": level, "metric": "auc", "value": value, "ci_low": r[f"{level}_auc_ci_low"],
                         "ci_high": r[f"{level}_auc_ci_high"], "status": "ok" if math.isfinite(value) else "unavailable: one class only"})
    columns = ["table", "generator", "detector", "train_set", "test_set", "perturbation", "strength", "level", "metric", "value", "std",
               "ci_low", "ci_high", "n_videos", "n_frames", "n_real_crops", "n_fake_crops", "status"]
    out = pd.DataFrame(rows, columns=columns)
    return out.astype({c: "Int64" for c in ("n_videos", "n_frames", "n_real_crops", "n_fake_crops")})
