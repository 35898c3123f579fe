"""Training-seed variance: the same detector x train set trained once per seed of
``protocol.seeds``, summarised so a reader sees both sources of noise.

A detector's metric moves when only its training seed changes (initialisation, batch
order, augmentation draws): a difference between two detectors smaller than that spread
is not a difference between the methods. With ``protocol.seeds: [0, 1, 2]`` the train
stage trains every detector x train set once per seed; the first seed's results stay in
``detectors/<name>/<train set>/`` (the folder robustness and paired comparisons read) and
every further seed's in ``detectors/<name>/<train set>/seeds/<seed>/``, each with its own
validation-chosen checkpoint and thresholds and its own single read of the test split.

:func:`seed_summary` then stores in the first seed's ``metrics.json`` (key ``seeds``), per
test set, level and metric: the **mean over seeds**, its **interval** and the **spread
across seeds** (min and max). The interval is the cluster bootstrap of the pooled
predictions: every replicate draws the same connected groups of people for every seed
(:func:`forgebench.metrics.bootstrap.bootstrap_replicates`, same seed of the bootstrap),
takes each seed's metric on that draw, and averages them; the percentile interval of
those means covers the test-people noise of the mean, and the min–max covers the seeds.
Tables show the mean with this interval and the spread beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from forgebench.metrics.bootstrap import (
    BOOT_METRICS,
    BOOT_SEED,
    bootstrap_replicates,
    interval_status,
    percentile_interval,
)
from forgebench.metrics.detection import video_scores

__all__ = ["seed_summary"]


def _clusters(df: pd.DataFrame) -> np.ndarray:
    return (df["cluster"] if "cluster" in df.columns else df["identity"]).astype(str).to_numpy()


def _fpr_thresholds(doc: dict[str, Any], level: str) -> dict[str, float]:
    prefix = "threshold_fpr_" if level == "frame" else "video_threshold_fpr_"
    return {
        k[len(prefix) :]: (float(v) if isinstance(v, (int, float)) else math.nan)
        for k, v in doc.items()
        if k.startswith(prefix)
    }


def seed_summary(
    seeds: Sequence[int], docs: Sequence[dict[str, Any]], predictions: Sequence[pd.DataFrame], n_boot: int, how: str
) -> dict[str, Any]:
    """Mean over seeds, its pooled-prediction interval and the min–max across seeds.

    Args:
        seeds: the training seeds, in order (the first is the primary folder's).
        docs: each seed's ``metrics.json`` (thresholds and per-test-set metrics).
        predictions: each seed's ``predictions.parquet`` (:data:`forgebench.schemas.PREDICTIONS`).
        n_boot: bootstrap replicates; how: video aggregation.

    Returns:
        ``{"seeds": [...], "n_seeds", "n_boot", "method", "test_sets": {test set: {level:
        {<m>: mean, <m>_ci_low, <m>_ci_high, <m>_seed_min, <m>_seed_max, <m>_per_seed:
        [...]}, "ci_status"}}}`` for :data:`~forgebench.metrics.bootstrap.BOOT_METRICS`
        (NaN interval when not estimable; NaN mean when a seed lacks the metric).

    Raises:
        ValueError: lengths of ``seeds``, ``docs`` and ``predictions`` differ, or the
            seeds scored different test frames.
    """
    if not (len(seeds) == len(docs) == len(predictions)) or not seeds:
        raise ValueError(
            f"seed_summary: {len(seeds)} seeds, {len(docs)} metrics documents, {len(predictions)} prediction tables"
        )
    keys = ["test_set", "video_id", "frame_index"]
    preds = [p.sort_values(keys, ignore_index=True) for p in predictions]
    if any(len(p) != len(preds[0]) or not p[keys].equals(preds[0][keys]) for p in preds[1:]):
        raise ValueError(
            "seed_summary: the seeds scored different test frames; a seed summary needs the same test split"
        )
    out: dict[str, Any] = {
        "seeds": [int(s) for s in seeds],
        "n_seeds": len(seeds),
        "n_boot": int(n_boot),
        "method": "mean over seeds; interval: cluster bootstrap of the pooled predictions (the same people "
        "drawn for every seed, the mean of the seeds' metrics per replicate); spread: min–max",
        "test_sets": {},
    }
    for test_set in sorted(set(preds[0]["test_set"])):
        per_set: dict[str, Any] = {}
        for level in ("frame", "video"):
            tables = []
            for p, doc in zip(preds, docs):
                part = p[p["test_set"] == test_set]
                table = part if level == "frame" else video_scores(part, score_col="score", by="video_id", how=how)
                thr = float(doc.get("threshold" if level == "frame" else "video_threshold", 0.5) or 0.5)
                tables.append((table, thr, _fpr_thresholds(doc, level)))
            first = tables[0][0]
            status = interval_status(first["label"], _clusters(first))
            reps = [
                bootstrap_replicates(t["label"], t["score"], _clusters(t), thr, n_boot, BOOT_SEED, fpr)
                for t, thr, fpr in tables
            ]
            res: dict[str, Any] = {"ci_status": status}
            for m in BOOT_METRICS:
                values = [doc["test_sets"][test_set][level].get(m) for doc in docs]
                values = [math.nan if v is None else float(v) for v in values]
                res[m] = float(np.mean(values))
                res[f"{m}_seed_min"], res[f"{m}_seed_max"] = float(np.min(values)), float(np.max(values))
                res[f"{m}_per_seed"] = values
                if all(r is not None for r in reps):
                    res[f"{m}_ci_low"], res[f"{m}_ci_high"] = percentile_interval(np.mean([r[m] for r in reps], axis=0))
                else:
                    res[f"{m}_ci_low"] = res[f"{m}_ci_high"] = math.nan
            per_set[level] = res
        out["test_sets"][test_set] = per_set
    return out
