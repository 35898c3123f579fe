"""``forgebench compare RUN_DIR DET_A DET_B``: is detector A really better than B on the same
test set?

Both detectors' stored test predictions (``predictions.parquet``: a trained detector, a
published one scored by ``forgebench evaluate``, or a prediction submission) of one test
set of one run are paired frame by frame. For AUC, AP, EER and log loss, at frame and video
level, the difference A − B comes with a **paired cluster-bootstrap** interval over
connected groups of people: every replicate draws them with replacement (stratified, as the detection
intervals: :func:`forgebench.metrics.bootstrap.bootstrap_replicates`, same seed, so A and
B are scored on the very same draw) and the difference is taken within the replicate; the
two-sided p-value is the share of replicates on the far side of zero, doubled (with the
usual +1 correction, Davison & Hinkley 1997, §4.4). For the video AUC, DeLong's test for two
correlated ROC curves (DeLong et al., Biometrics 1988; the fast algorithm of Sun & Xu, IEEE
SPL 2014) is computed beside it as a cross-check: it treats videos as independent, which
the people behind them are not, so where the two disagree the bootstrap is the one to
believe. Nothing is trained or re-scored; the labels are those the evaluation stored.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import norm

from forgebench.errors import DataError
from forgebench.fileio import write_json
from forgebench.metrics.bootstrap import BOOT_SEED, bootstrap_replicates, cluster_counts, interval_status
from forgebench.metrics.detection import detection_metrics, video_scores
from forgebench.rundir import RunDir

__all__ = ["COMPARED", "compare_detectors", "delong_test", "paired_bootstrap", "comparison_text"]

#: Metrics compared: (key, label, higher is better).
COMPARED = (("auc", "AUC", True), ("ap", "AP", True), ("eer", "EER", False), ("log_loss", "log loss", False))


def _split_spec(spec: str) -> tuple[str, str | None]:
    """``NAME`` or ``NAME/TRAIN_SET``."""
    name, _, train_set = str(spec).partition("/")
    return name, train_set or None


def _train_set(run: RunDir, name: str, train_set: str | None) -> str:
    """The train set of ``name`` in ``run``: the one given, else ``all``, else the only one.

    Raises:
        DataError: no results of ``name``, or several train sets and none given.
    """
    sets = sorted(ts for det, ts in run.detectors.results() if det == name)
    if not sets:
        known = sorted({det for det, _ in run.detectors.results()})
        raise DataError(f"{run.root}: no test predictions of detector {name!r}; detectors with results: {known}")
    if train_set is not None:
        if train_set not in sets:
            raise DataError(f"{run.root}: detector {name} has no train set {train_set!r}; it has {sets}")
        return train_set
    if "all" in sets or len(sets) == 1:
        return "all" if "all" in sets else sets[0]
    raise DataError(f"{run.root}: detector {name} has train sets {sets}; say which, as {name}/<train set>")


def delong_test(labels: Any, scores_a: Any, scores_b: Any) -> dict[str, float]:
    """DeLong's test of two correlated ROC AUCs on the same samples (DeLong et al. 1988,
    computed with the placement values of Sun & Xu 2014; written here, as no maintained
    library in forgebench's dependencies offers it).

    Args:
        labels: ``(n,)`` ints in {0, 1}, 1 = fake; both classes present.
        scores_a, scores_b: ``(n,)`` finite floats of the two detectors on the same samples.

    Returns:
        ``{"auc_a", "auc_b", "difference", "se", "z", "p"}``: the AUCs, A − B, its standard
        error, the z statistic and the two-sided p-value (NaN when the variance is 0 or a
        class has a single sample).

    Raises:
        ValueError: a class is missing or the lengths differ.
    """
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    scores = np.stack([np.asarray(scores_a, np.float64).reshape(-1), np.asarray(scores_b, np.float64).reshape(-1)])
    if scores.shape[1] != y.size or (y == 1).sum() == 0 or (y == 0).sum() == 0:
        raise ValueError("DeLong's test needs equal lengths and both classes")
    pos, neg = scores[:, y == 1], scores[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    # placement values: for each positive, the share of negatives it beats (ties 1/2), and vice versa
    v10 = np.stack([((p[:, None] > q[None, :]) + 0.5 * (p[:, None] == q[None, :])).mean(1) for p, q in zip(pos, neg)])
    v01 = np.stack([((p[None, :] > q[:, None]) + 0.5 * (p[None, :] == q[:, None])).mean(1) for p, q in zip(pos, neg)])
    auc = v10.mean(1)
    if m < 2 or n < 2:  # a single fake or real sample: the placement variances are undefined
        var = float("nan")
    else:
        cov = np.cov(v10) / m + np.cov(v01) / n
        var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    diff = float(auc[0] - auc[1])
    se = math.sqrt(var) if var > 0 else float("nan")
    z = diff / se if se and math.isfinite(se) else float("nan")
    p = float(2 * norm.sf(abs(z))) if math.isfinite(z) else float("nan")
    return {"auc_a": float(auc[0]), "auc_b": float(auc[1]), "difference": diff, "se": se, "z": z, "p": p}


def paired_bootstrap(
    labels: Any,
    scores_a: Any,
    scores_b: Any,
    clusters: Any,
    threshold_a: float = 0.5,
    threshold_b: float = 0.5,
    n_boot: int = 1000,
    seed: int = BOOT_SEED,
) -> dict[str, dict[str, float]]:
    """Differences A − B of :data:`COMPARED` with paired cluster-bootstrap intervals.

    Args:
        labels: ``(n,)`` ints in {0, 1}; scores_a, scores_b: ``(n,)`` probabilities of fake
            of the two detectors on the same samples; clusters: ``(n,)`` connected group of
            people of each (:func:`forgebench.protocol.add_clusters`).
        threshold_a, threshold_b: their decision thresholds (accuracy is not compared, so
            they only reach the replicate helper).
        n_boot: replicates; seed: numpy seed (A and B share every draw).

    Returns:
        ``{metric: {"a", "b", "difference", "ci_low", "ci_high", "p"}}``; NaN intervals and
        p when not estimable (:func:`forgebench.metrics.bootstrap.interval_status`).
    """
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    ma, mb = detection_metrics(y, scores_a), detection_metrics(y, scores_b)
    ra = bootstrap_replicates(y, scores_a, clusters, threshold_a, n_boot, seed)
    rb = bootstrap_replicates(y, scores_b, clusters, threshold_b, n_boot, seed)
    out = {}
    for key, _, _ in COMPARED:
        row = {
            "a": float(ma[key]),
            "b": float(mb[key]),
            "difference": float(ma[key] - mb[key]),
            "ci_low": float("nan"),
            "ci_high": float("nan"),
            "p": float("nan"),
        }
        if ra is not None and rb is not None:
            d = ra[key] - rb[key]
            d = d[np.isfinite(d)]
            if d.size:
                row["ci_low"], row["ci_high"] = (float(v) for v in np.percentile(d, [2.5, 97.5]))
                row["p"] = float(min(1.0, 2 * (1 + min((d <= 0).sum(), (d >= 0).sum())) / (1 + d.size)))
        out[key] = row
    return out


def compare_detectors(
    run: RunDir, a: str, b: str, test_set: str | None = None, n_boot: int | None = None, write: bool = True
) -> dict[str, Any]:
    """Paired comparison of two detectors' stored test predictions in ``run`` (module docstring).

    Args:
        run: the run directory.
        a, b: ``NAME`` or ``NAME/TRAIN_SET`` (default train set ``all``, else the only one);
            submissions are ``NAME/submission``, published weights ``NAME/pretrained``.
        test_set: the test set (default ``all`` when both have it, else the one they share
            when it is one).
        n_boot: replicates (default the run's ``protocol.n_boot`` as stored with A's results).
        write: store the result as ``comparisons/<A>__vs__<B>__<test set>.json``.

    Returns:
        ``{"a", "b", "test_set", "n_boot", "frame": {...}, "video": {...}, "delong_video_auc":
        {...}, "n_frames", "n_videos", "n_identities", "n_identities_real",
        "n_identities_fake", "min_identities", "thin"}`` with :func:`paired_bootstrap` per
        level (``thin``: fewer identities per class than ``min_identities``).

    Raises:
        DataError: unknown detector or train set, no common test set, or the two scored
            different frames (then they are not paired).
    """
    (name_a, set_a), (name_b, set_b) = _split_spec(a), _split_spec(b)
    set_a, set_b = _train_set(run, name_a, set_a), _train_set(run, name_b, set_b)
    if (name_a, set_a) == (name_b, set_b):
        raise DataError(f"compare: {name_a}/{set_a} is compared with itself; name two detectors (or two train sets)")
    pa, pb = run.detectors.read_predictions(name_a, set_a), run.detectors.read_predictions(name_b, set_b)
    common = sorted(set(pa["test_set"]) & set(pb["test_set"]))
    if test_set is None:
        if "all" in common or len(common) == 1:
            test_set = "all" if "all" in common else common[0]
        else:
            raise DataError(f"compare: {a} and {b} share test sets {common}; choose one with --test-set")
    if test_set not in common:
        raise DataError(
            f"compare: test set {test_set!r} is not scored by both ({a}: {sorted(set(pa['test_set']))}, "
            f"{b}: {sorted(set(pb['test_set']))})"
        )
    keys = ["video_id", "frame_index"]
    fa = pa[pa["test_set"] == test_set].sort_values(keys, ignore_index=True)
    fb = pb[pb["test_set"] == test_set].sort_values(keys, ignore_index=True)
    if len(fa) != len(fb) or not fa[keys].equals(fb[keys]) or not np.array_equal(fa["label"], fb["label"]):
        raise DataError(
            f"compare: {a} and {b} did not score the same frames of test set {test_set} ({len(fa)} vs {len(fb)} "
            "rows); a paired comparison needs the same test frames"
        )
    doc_a = run.detectors.read_metrics(name_a, set_a)
    doc_b = run.detectors.read_metrics(name_b, set_b)
    n_boot = int(n_boot or doc_a.get("video", {}).get("n_boot") or 1000)
    how = str(doc_a.get("video_aggregation", "mean"))
    if str(doc_b.get("video_aggregation", "mean")) != how:
        raise DataError(
            f"compare: {a} aggregates videos by {how}, {b} by {doc_b.get('video_aggregation')}; not comparable"
        )
    levels: dict[str, Any] = {}
    fa = fa.assign(
        cluster=(fa["cluster"] if "cluster" in fa.columns else fa["identity"]).astype(str)
    )  # older files: identity
    frame_df = fa.assign(score_b=fb["score"].to_numpy())
    levels["frame"] = paired_bootstrap(
        frame_df["label"],
        frame_df["score"],
        frame_df["score_b"],
        frame_df["cluster"],
        float(doc_a.get("threshold", 0.5)),
        float(doc_b.get("threshold", 0.5)),
        n_boot,
    )
    va = video_scores(fa, score_col="score", by="video_id", how=how)
    vb = video_scores(fb, score_col="score", by="video_id", how=how).set_index("video_id").loc[va["video_id"]]
    levels["video"] = paired_bootstrap(
        va["label"],
        va["score"],
        vb["score"].to_numpy(),
        va["cluster"],
        float(doc_a.get("video_threshold", 0.5)),
        float(doc_b.get("video_threshold", 0.5)),
        n_boot,
    )
    try:
        delong = delong_test(va["label"], va["score"], vb["score"].to_numpy())
    except ValueError as exc:
        delong = {"note": str(exc)}
    counts = cluster_counts(va["label"], va["identity"])
    status = interval_status(va["label"], va["cluster"])
    min_identities = int(doc_a.get("video", {}).get("min_identities", 5))
    out = {
        "a": f"{name_a}/{set_a}",
        "b": f"{name_b}/{set_b}",
        "test_set": test_set,
        "n_boot": n_boot,
        "seed": BOOT_SEED,
        "video_aggregation": how,
        "n_frames": int(len(fa)),
        "n_videos": int(len(va)),
        **counts,
        "n_clusters": int(va["cluster"].nunique()),
        "ci_status": status,
        "seeds_note": (
            ""
            if not (isinstance(doc_a.get("seeds"), dict) or isinstance(doc_b.get("seeds"), dict))
            else f"trained with several seeds (protocol.seeds): compared on the first seed's predictions "
            f"(A: seed {doc_a.get('seed')}, B: seed {doc_b.get('seed')}); the tables show the means over seeds"
        ),
        "min_identities": min_identities,
        "thin": min(counts["n_identities_real"], counts["n_identities_fake"]) < min_identities,
        **levels,
        "delong_video_auc": delong,
        "method": "paired cluster bootstrap over connected groups of people (same draws for A and B); DeLong's test as a "
        "cross-check",
    }
    if write:
        write_json(run.leaderboard.comparison_file(out["a"], out["b"], test_set), out)
    return out


def _p_text(p: float) -> str:
    return "p n/a" if not math.isfinite(p) else "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _ci_text(low: float, high: float) -> str:
    return "[not estimable]" if not (math.isfinite(low) and math.isfinite(high)) else f"[{low:+.3f}, {high:+.3f}]"


def comparison_text(doc: dict[str, Any]) -> str:
    """The comparison as lines a reader accepts: ``video AUC: A 0.912, B 0.871; A − B:
    +0.041 [0.012, 0.070], p = 0.006`` per metric and level, then DeLong's cross-check."""
    lines = [
        f"{doc['a']} vs {doc['b']} on test set {doc['test_set']} ({doc['n_identities']} identities, {doc['n_videos']} videos, "
        f"{doc['n_frames']} frames; paired cluster bootstrap over {doc.get('n_clusters', '?')} connected group(s) of "
        f"people, {doc['n_boot']} replicates)"
    ]
    if doc.get("ci_status"):
        lines.append(f"  intervals and p-values {doc['ci_status']}")
    if doc.get("seeds_note"):
        lines.append(f"  {doc['seeds_note']}")
    if doc.get("thin"):
        lines.append(
            f"  too few identities to conclude: {doc['n_identities_real']} real and {doc['n_identities_fake']} fake, fewer "
            f"than protocol.min_identities ({doc['min_identities']}) per class; these intervals and p-values are not evidence"
        )
    for level in ("video", "frame"):
        for key, label, higher in COMPARED:
            r = doc[level][key]
            better = "higher is better" if higher else "lower is better"
            lines.append(
                f"  {level} {label} ({better}): A {r['a']:.3f}, B {r['b']:.3f}; A − B: {r['difference']:+.3f} "
                f"{_ci_text(r['ci_low'], r['ci_high'])}, {_p_text(r['p'])}"
            )
    d = doc.get("delong_video_auc", {})
    if "p" in d:
        lines.append(
            f"  DeLong's test, video AUC (videos as independent): A − B {d['difference']:+.3f}, z = {d['z']:.2f}, "
            f"{_p_text(d['p'])}"
        )
    return "\n".join(lines)
