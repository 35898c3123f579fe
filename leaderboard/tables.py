"""Leaderboard tables: quality per generator and detection per (detector, train set, test set).

Pure formatting of what the stages stored (docs/architecture.md): the quality tables of
``metrics/`` and the ``metrics.json`` of every trained detector, whose metrics and
bootstrap intervals the train stage computed once (:mod:`forgebench.protocol`). Nothing is
recomputed here; :mod:`forgebench.stages.report` reads the files and hands them in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from forgebench.errors import DataError
from forgebench.metrics.bootstrap import cluster_mean_interval, connected_clusters
from forgebench.metrics.declared import interval_names, point_names, quality_names
from forgebench.weights import origin_of_document

#: Per-video quality metrics of ``metrics/quality.parquet``, in display order (columns of
#: further registered frame-pair metrics follow them).
QUALITY_METRICS = quality_names("video")
#: Set-level metrics of ``metrics/quality_sets.parquet`` always shown (others found are added).
SET_METRICS = quality_names("set")
#: Detection metrics reported at frame and video level with their intervals (declared in
#: :data:`forgebench.metrics.declared.DETECTION`).
DETECTION_METRICS = interval_names()
#: Detection metrics stored as point estimates, without interval: DeepfakeBench's EER
#: (:func:`forgebench.metrics.detection.deepfakebench_eer`), beside forgebench's ``eer``,
#: and the test FPR the low-FPR validation thresholds achieve.
POINT_METRICS = point_names()
#: Columns of the quality table that are not metrics.
_NOT_METRICS = {
    "method",
    "video_id",
    "video_name",
    "target",
    "source",
    "driving",
    "split",
    "n_frames",
    "eval_mode",
    "landmark_model",
    "reference",
    # per-video shares of the set-level ID retrieval rows, which the table shows (over all frames)
    "id_retrieval",
    "id_retrieval_dlib",
}


def quality_table(videos: pd.DataFrame, sets: pd.DataFrame | None, where: str = "metrics/") -> pd.DataFrame:
    """Quality of every generator's fakes: one row per generator (``method``).

    Per-video metrics (``QUALITY_METRICS`` and any further frame-pair metric columns; units
    in docs/metrics.md: SSIM in [0, 1], PSNR in dB, LPIPS distance, identity cosine
    similarities in [-1, 1], landmark distance / inter-ocular distance, AKD in pixels,
    boundary score as a ratio, warping error in squared [0, 1] units) are averaged over the generator's fake videos, NaN values (metric
    unavailable for that video) left out.

    Args:
        videos: ``metrics/quality.parquet`` (:data:`forgebench.schemas.QUALITY`).
        sets: ``metrics/quality_sets.parquet`` (:data:`forgebench.schemas.QUALITY_SETS`), or
            None when it does not exist.
        where: names the tables in messages.

    Returns:
        DataFrame indexed 0..G-1 with columns ``method``, ``n_videos`` (fake videos),
        ``n_frames`` (scored frames, summed over the videos), ``eval_mode``,
        ``landmark_model`` (the model that found the fakes' landmarks), ``reference`` (what
        the generator's fakes are compared with) and per metric
        ``<m>_mean``, ``<m>_std`` (sample std, ddof=1; NaN for one video), ``<m>_ci_low``,
        ``<m>_ci_high`` and ``<m>_ci_status`` (the 95% interval of the mean, a cluster
        bootstrap over connected groups of people, as the detection intervals:
        :func:`forgebench.metrics.bootstrap.cluster_mean_interval`; NaN and "not estimable:
        ..." with fewer than two clusters), ``<m>_n_videos``
        and ``<m>_n_frames`` (videos/frames behind the mean, those with a finite value).
        Set-level metrics (``fid``, ``kid``, ``frechet_dlib``, ``id_retrieval``,
        ``id_retrieval_dlib`` and any other metric of ``sets``) give
        columns ``<m>`` (float value, or the text ``"unavailable: <reason>"``),
        ``<m>_n_real`` and ``<m>_n_fake`` (crops behind the number).

    Raises:
        DataError: no rows, or a video id listed twice for a generator.
    """
    df = videos
    if df.empty:
        raise DataError(f"{where}quality.parquet: no rows (no fake video was scored)")
    dup = df[df.duplicated(["method", "video_id"], keep=False)]
    if not dup.empty:
        raise DataError(
            f"{where}quality.parquet: video id(s) listed more than once: {sorted(set(dup['video_id']))[:5]}"
        )
    extra = [c for c in df.columns if c not in _NOT_METRICS and c not in QUALITY_METRICS]
    metrics = [m for m in QUALITY_METRICS if m in df.columns] + extra
    generators = sorted(set(df["method"].astype(str)) | set(sets["method"].astype(str) if sets is not None else []))
    people = [c for c in ("target", "source", "driving") if c in df.columns]
    groups = (
        connected_clusters(list(df[people].fillna("").astype(str).itertuples(index=False, name=None))) if people else {}
    )
    clusters = df[people[0]].astype(str).map(groups) if people else df["video_id"].astype(str)
    rows = []
    for gen in generators:
        g = df[df["method"].astype(str) == gen]
        row: dict[str, object] = {
            "method": gen,
            "n_videos": int(g["video_id"].nunique()),
            "n_frames": int(g["n_frames"].sum()),
            "eval_mode": _eval_mode_text(g),
            "landmark_model": "/".join(
                sorted({str(v) for v in g.get("landmark_model", pd.Series(dtype=str)) if v and not pd.isna(v)})
            )
            or "n/a",
            "reference": str(g["reference"].iloc[0]) if "reference" in g.columns and len(g) else "",
        }
        for m in metrics:
            values = pd.to_numeric(g[m], errors="coerce").to_numpy(dtype=float)
            ok = np.isfinite(values)
            row[f"{m}_mean"] = float(values[ok].mean()) if ok.any() else math.nan
            row[f"{m}_std"] = float(values[ok].std(ddof=1)) if ok.sum() > 1 else math.nan
            row[f"{m}_ci_low"], row[f"{m}_ci_high"], row[f"{m}_ci_status"] = cluster_mean_interval(
                values, clusters[g.index]
            )
            row[f"{m}_n_videos"] = int(ok.sum())
            row[f"{m}_n_frames"] = int(g["n_frames"].to_numpy()[ok].sum())
        row.update(_set_columns(sets, gen, where))
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


def _set_metric_names(sets: pd.DataFrame | None) -> list[str]:
    found = [] if sets is None else sorted(set(sets["metric"].astype(str)) - set(SET_METRICS))
    return list(SET_METRICS) + found


def _set_columns(sets: pd.DataFrame | None, generator: str, where: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for metric in _set_metric_names(sets):
        hit = (
            pd.DataFrame()
            if sets is None
            else sets[(sets["method"].astype(str) == generator) & (sets["metric"].astype(str) == metric)]
        )
        r = hit.iloc[-1] if not hit.empty else {}
        status, value = str(r.get("status", "")).strip(), pd.to_numeric(r.get("value"), errors="coerce")
        if sets is None:
            out[metric] = f"unavailable: {where}quality_sets.parquet not found"
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
#: Columns of :func:`detection_table`.
DETECTION_COLUMNS = (
    [
        "detector",
        "train_set",
        "test_set",
        "threshold",
        "video_threshold",
        "n_identities",
        "n_identities_real",
        "n_identities_fake",
        "min_identities",
        "thin",
        "n_videos",
        "n_videos_real",
        "n_videos_fake",
        "n_frames",
        "video_aggregation",
        "submission",
        "checkpoint_sha256",
        "weights_origin",
        "trained_elsewhere",
        "submission_attempt",
        "ci_status",
        "n_seeds",
        "seeds",
    ]
    + [
        f"{level}_{m}{part}"
        for level in ("frame", "video")
        for m in DETECTION_METRICS
        for part in ("", "_ci_low", "_ci_high", "_seed_min", "_seed_max")
    ]
    + [f"{level}_{m}" for level in ("frame", "video") for m in POINT_METRICS]
)


def detection_table(results: list[Mapping[str, Any]]) -> pd.DataFrame:
    """Detection results: one row per (detector, train_set, test_set).

    Args:
        results: the ``metrics.json`` documents of the trained detectors
            (:func:`forgebench.protocol.metrics_document`): thresholds chosen on
            validation, ``video_aggregation`` and, per test set in ``test_sets``, the
            frame- and video-level metrics, each with its people-cluster bootstrap interval.

    Returns:
        DataFrame with :data:`DETECTION_COLUMNS`: ``detector, train_set, test_set,
        threshold, video_threshold``, the identities behind the cell (``n_identities``,
        ``n_identities_real``, ``n_identities_fake``: identities with real / fake test
        videos), ``min_identities`` and ``thin`` (fewer identities in a class than
        ``protocol.min_identities``: too few to conclude), ``n_videos, n_videos_real,
        n_videos_fake, n_frames, video_aggregation``, ``submission`` (a prediction
        submission, ``forgebench submit``), ``checkpoint_sha256`` (the detector's weights,
        or the submitted file's hash), ``weights_origin`` (where its weights started
        from: ``imagenet:<sha256>`` of the ImageNet file a timm backbone was initialised
        with, ``none`` for random init, ``deepfakebench:<sha256>`` / ``checkpoint:<sha256>``
        for weights scored with ``forgebench evaluate``, ``unknown`` for a submission;
        :func:`forgebench.weights.origin_of_document`, derived from ``pretrained_sha256``
        / ``pretrained`` for an older ``metrics.json``), ``trained_elsewhere`` (where a detector scored with
        weights trained outside the run comes from, e.g. ``"DeepfakeBench v1.0.1 (FF++
        c23)"``; ``""`` for the run's own detectors), ``submission_attempt`` (a scored
        submission's attempt under its name and the run's scored submissions then, ``"2
        of 3 in the run"``; ``""`` otherwise), ``ci_status`` (``""``, or ``"not estimable:
        <reason>"`` when the intervals could not be had,
        :func:`forgebench.metrics.bootstrap.interval_status`), ``n_seeds`` and ``seeds``
        (the training seeds behind the row, ``protocol.seeds``; with several, every
        metric is the mean over seeds with the pooled-prediction interval,
        :mod:`forgebench.seeds`) and ``frame_<m>``, ``video_<m>`` with
        ``<level>_<m>_ci_low/high`` and ``<level>_<m>_seed_min/max`` (the spread across
        seeds; the value itself with one seed) for ``m`` in :data:`DETECTION_METRICS` and the point
        estimates of :data:`POINT_METRICS` (NaN where an older ``metrics.json`` lacks one),
        sorted by detector, train set and test set. Empty (with these columns) when there
        is no result.

    Raises:
        DataError: a document lacks the thresholds or the per-test-set metrics (a
            ``metrics.json`` of an older forgebench: delete its folder to retrain).
    """
    rows = []
    for doc in results:
        where = f"metrics.json of {doc.get('detector')}/{doc.get('train_set')}"
        sets = doc.get("test_sets")
        if not isinstance(sets, dict) or not sets or not _is_number(doc.get("threshold")):
            raise DataError(
                f"{where}: no validation-chosen threshold or per-test-set metrics; delete that detector folder to retrain it"
            )
        threshold = float(doc["threshold"])
        video_threshold = float(doc["video_threshold"]) if _is_number(doc.get("video_threshold")) else threshold
        for test_set in sorted(sets):
            res = sets[test_set]
            frame, video = res.get("frame", {}), res.get("video", {})
            if "ap_ci_low" not in frame or "n_identities" not in video:
                raise DataError(
                    f"{where}: test set {test_set} has no stored people-cluster intervals (an older forgebench); "
                    "delete that detector folder to retrain it"
                )
            row = {
                "detector": str(doc["detector"]),
                "train_set": str(doc["train_set"]),
                "test_set": str(test_set),
                "threshold": threshold,
                "video_threshold": video_threshold,
                "n_identities": int(video["n_identities"]),
                "n_identities_real": int(video["n_identities_real"]),
                "n_identities_fake": int(video["n_identities_fake"]),
                "min_identities": int(video["min_identities"]),
                "thin": bool(video["thin"]),
                "n_videos": int(video["n_videos"]),
                "n_videos_real": int(video["n_real"]),
                "n_videos_fake": int(video["n_fake"]),
                "n_frames": int(frame["n_frames"]),
                "video_aggregation": str(doc.get("video_aggregation", "mean")),
                "submission": bool(doc.get("submission", False)),
                "checkpoint_sha256": str(doc.get("checkpoint_sha256", "")),
                "weights_origin": origin_of_document(doc),
                "trained_elsewhere": str(doc.get("trained_elsewhere", "")),
                "submission_attempt": (
                    f"{doc['attempt']} of {doc['attempts_run']} in the run"
                    if doc.get("submission") and "attempt" in doc
                    else ""
                ),
                "ci_status": str(video.get("ci_status", "")),
            }
            seeds = doc.get("seeds") if isinstance(doc.get("seeds"), dict) else None
            summary = seeds["test_sets"].get(test_set) if seeds else None
            row["n_seeds"], row["seeds"] = (
                (int(seeds["n_seeds"]), ", ".join(map(str, seeds["seeds"])))
                if summary
                else (1, str(doc.get("seed", "")))
            )
            if summary:
                row["ci_status"] = str(summary["video"].get("ci_status", ""))
            for level, m in ((lv, m) for lv in ("frame", "video") for m in DETECTION_METRICS):
                source = summary[level] if summary else res[level]  # several seeds: their mean, pooled interval, spread
                for part in ("", "_ci_low", "_ci_high"):
                    value = source.get(
                        m + part
                    )  # None: NaN stored as null, or a metric an older forgebench did not compute
                    row[f"{level}_{m}{part}"] = math.nan if value is None else float(value)
                for part in ("_seed_min", "_seed_max"):
                    value = source.get(m + part, source.get(m)) if summary else res[level].get(m)
                    row[f"{level}_{m}{part}"] = math.nan if value is None else float(value)
            for level, m in ((lv, m) for lv in ("frame", "video") for m in POINT_METRICS):  # NaN in older metrics.json
                value = res[level].get(m)
                row[f"{level}_{m}"] = math.nan if value is None else float(value)
            rows.append(row)
    out = pd.DataFrame(rows, columns=DETECTION_COLUMNS)
    return out.sort_values(["detector", "train_set", "test_set"], kind="stable").reset_index(drop=True)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _status(r: pd.Series, level: str, m: str) -> str:
    """``ok``, ``ok; interval not estimable: ...`` or why the value is missing."""
    if not math.isfinite(r[f"{level}_{m}"]):
        if m.startswith("tpr_at_fpr") and not m.endswith("_oracle"):
            return "unavailable: no validation threshold (no validation split, one class, or an older forgebench)"
        return "unavailable: one class only, or not computed by the forgebench that stored it"
    if r.get("ci_status"):
        return f"ok; interval {r['ci_status']}"
    return "ok"


def long_table(
    quality: pd.DataFrame | None, detection: pd.DataFrame | None, robustness: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Every table in long format (``leaderboard.csv``): one row per number.

    Columns: ``table`` (quality/detection/robustness), row keys ``method, detector,
    train_set, test_set, weights_origin`` (detection rows: where the detector's weights
    started from, see :func:`detection_table`), ``perturbation, strength`` (empty where
    not applicable), ``level``
    (video / set for quality; frame / video for detection), ``metric``, ``value``, ``std`` (quality means), ``ci_low``,
    ``ci_high`` (people-cluster bootstrap 95% interval of every detection metric), ``n_identities``, ``n_videos``,
    ``n_frames``, ``n_real_crops``, ``n_fake_crops`` (set-level metrics), ``thin`` (detection: fewer identities per class
    than ``protocol.min_identities``) and ``status`` (``ok`` or ``unavailable: <reason>``).
    """
    rows = []
    keys = {"method": "", "detector": "", "train_set": "", "test_set": "", "weights_origin": ""}
    nan = math.nan
    for _, r in (quality if quality is not None else pd.DataFrame()).iterrows():
        base = {"table": "quality", **keys, "method": r["method"]}
        for m in quality.attrs.get("quality_metrics", []):
            mean = r[f"{m}_mean"]
            ci_status = r.get(f"{m}_ci_status", "")
            rows.append(
                {
                    **base,
                    "level": "video",
                    "metric": m,
                    "value": mean,
                    "std": r[f"{m}_std"],
                    "ci_low": r.get(f"{m}_ci_low", nan),
                    "ci_high": r.get(f"{m}_ci_high", nan),
                    "n_videos": r[f"{m}_n_videos"],
                    "n_frames": r[f"{m}_n_frames"],
                    "status": (
                        "unavailable: no finite value in metrics/quality.parquet"
                        if not r[f"{m}_n_videos"]
                        else f"ok; interval {ci_status}"
                        if ci_status
                        else "ok"
                    ),
                }
            )
        for m in quality.attrs.get("set_metrics", []):
            value = r[m]
            ok = not isinstance(value, str)
            rows.append(
                {
                    **base,
                    "level": "set",
                    "metric": m,
                    "value": value if ok else nan,
                    "n_videos": r["n_videos"],
                    "n_real_crops": r[f"{m}_n_real"],
                    "n_fake_crops": r[f"{m}_n_fake"],
                    "status": "ok" if ok else value,
                }
            )
    for _, r in (detection if detection is not None else pd.DataFrame()).iterrows():
        base = {
            "table": "detection",
            **keys,
            **{k: r[k] for k in ("detector", "train_set", "test_set")},
            "weights_origin": r.get("weights_origin", ""),
            "n_identities": r["n_identities"],
            "n_videos": r["n_videos"],
            "n_frames": r["n_frames"],
            "thin": bool(r["thin"]),
        }
        rows.append({**base, "level": "frame", "metric": "threshold", "value": r["threshold"], "status": "ok"})
        for level in ("frame", "video"):
            for m in DETECTION_METRICS:
                ci = (r[f"{level}_{m}_ci_low"], r[f"{level}_{m}_ci_high"])
                rows.append(
                    {
                        **base,
                        "level": level,
                        "metric": m,
                        "value": r[f"{level}_{m}"],
                        "ci_low": ci[0],
                        "ci_high": ci[1],
                        "status": _status(r, level, m),
                    }
                )
            for m in POINT_METRICS:
                value = r[f"{level}_{m}"]
                rows.append(
                    {
                        **base,
                        "level": level,
                        "metric": m,
                        "value": value,
                        "status": "ok (point estimate, no interval)"
                        if math.isfinite(value)
                        else "unavailable: one class only, or stored by an older forgebench",
                    }
                )
    for _, r in (robustness if robustness is not None else pd.DataFrame()).iterrows():
        base = {
            "table": "robustness",
            **keys,
            "detector": r["detector"],
            "train_set": r["train_set"],
            "test_set": "all",
            "perturbation": r["perturbation"],
            "strength": r["strength"],
            "n_identities": r.get("n_identities"),
            "n_videos": r["n_videos"],
            "n_frames": r["n_frames"],
        }
        for level in ("frame", "video"):
            value = r[f"{level}_auc"]
            rows.append(
                {
                    **base,
                    "level": level,
                    "metric": "auc",
                    "value": value,
                    "ci_low": r[f"{level}_auc_ci_low"],
                    "ci_high": r[f"{level}_auc_ci_high"],
                    "status": "ok" if math.isfinite(value) else "unavailable: one class only",
                }
            )
    columns = [
        "table",
        "method",
        "detector",
        "train_set",
        "test_set",
        "weights_origin",
        "perturbation",
        "strength",
        "level",
        "metric",
        "value",
        "std",
        "ci_low",
        "ci_high",
        "n_identities",
        "n_videos",
        "n_frames",
        "n_real_crops",
        "n_fake_crops",
        "thin",
        "status",
    ]
    out = pd.DataFrame(rows, columns=columns)
    return out.astype({c: "Int64" for c in ("n_identities", "n_videos", "n_frames", "n_real_crops", "n_fake_crops")})
