"""Identity-level (cluster) bootstrap intervals of every detection metric.

The test videos of one person are not independent draws: a detector that happens to fail
on one face fails on all its videos, real and fake. The unit that generalises is the
identity, so the intervals here resample identities (a cluster bootstrap, Field & Welsh
2007; the "resample the highest level" rule of hierarchical data, Ren et al. 2010): each
replicate draws identities with replacement and takes *all* their real and fake elements
(videos or frames) as many times as the identity was drawn.

Clusters are connected groups of people, not single identities: a fake links its target
(the identity shown) with its source or driving identity, so a swap (a, b) and its mirror
(b, a) share both people and are not independent draws. Every person linked through a fake
lands in one cluster (the connected components of the graph whose nodes are people and
whose edges are fakes, :func:`connected_clusters`); a real video's cluster is its
identity's. This is the "resample the highest level of dependence" rule (Ren et al. 2010;
Cameron, Gelbach & Miller 2011 for clusters that overlap: merge them into one).

Stratified so every replicate keeps both classes: clusters are split by what they hold
in the test set (both real and fake elements, real only, fake only) and each stratum is
resampled to its own size. The original sample must hold both classes. A stratum with a
single cluster would be redrawn identically in every replicate and contribute no
variance, showing a too-narrow (or zero-width ``[x, x]``) interval: such a sample is **not
estimable** (:func:`interval_status`) and gets no interval.

Every metric of :func:`forgebench.metrics.detection.detection_metrics` declared with an
interval gets one: AUC, AP, EER, accuracy at the validation threshold and at 0.5, log loss,
TPR at FPR 1% and 0.1% (validation threshold and test oracle), ECE and Brier score. A replicate's
metric is the weighted metric with integer weights = how often each element was drawn,
equal to scikit-learn's ``roc_auc_score`` / ``average_precision_score`` / ``log_loss`` /
``roc_curve`` (EER) with ``sample_weight`` (``tests/test_detection_metrics.py``). The
computation is vectorised over replicates with NumPy because scikit-learn would loop in
Python over a thousand replicates of every cell (written by hand for speed, checked against
scikit-learn). The interval is the percentile interval of the replicates (Efron &
Tibshirani 1993).

With the same seed and the same identities, the frame level and the video level of one
cell draw the same identity replicates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from forgebench.metrics.detection import ECE_BINS, LOG_LOSS_EPS, LOW_FPRS, check_labels_scores, ece_bins, interval_names

__all__ = [
    "BOOT_METRICS",
    "N_BOOT",
    "BOOT_SEED",
    "NOT_ESTIMABLE",
    "bootstrap_replicates",
    "cluster_bootstrap",
    "cluster_counts",
    "cluster_mean_interval",
    "connected_clusters",
    "interval_status",
    "percentile_interval",
    "weighted_metrics",
    "mean_metric_interval",
]

#: Metrics that get an interval (declared in :data:`forgebench.metrics.detection.DETECTION`).
BOOT_METRICS = interval_names()
#: Bootstrap replicates and seed of the intervals (``protocol.n_boot`` default).
N_BOOT = 1000
BOOT_SEED = 0
#: Prefix of :func:`interval_status` when a sample gets no interval.
NOT_ESTIMABLE = "not estimable"
#: Elements x replicates held in memory at once.
_CHUNK = 2_000_000


def _arrays(labels: Any, scores: Any, clusters: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, s = check_labels_scores(labels, scores)
    c = np.arange(len(y)) if clusters is None else np.asarray(clusters).reshape(-1)
    if c.shape != y.shape:
        raise ValueError(f"clusters and labels differ in length: {c.shape[0]} vs {y.shape[0]}")
    _, codes = np.unique(c.astype(str), return_inverse=True)
    return y.astype(np.int64), s, codes.reshape(-1)


def cluster_counts(labels: Any, clusters: Any) -> dict[str, int]:
    """How many clusters (identities) stand behind a sample.

    Args:
        labels: ``(n,)`` ints in {0, 1}, 1 = fake.
        clusters: ``(n,)`` cluster (identity) of each element.

    Returns:
        ``{"n_identities", "n_identities_real", "n_identities_fake"}``: all clusters, those
        holding at least one real element, those holding at least one fake element.

    Raises:
        ValueError: lengths differ or labels not in {0, 1}.
    """
    y, _, codes = _arrays(labels, np.zeros(len(np.asarray(labels).reshape(-1))), clusters)
    return {
        "n_identities": int(len(np.unique(codes))),
        "n_identities_real": int(len(np.unique(codes[y == 0]))),
        "n_identities_fake": int(len(np.unique(codes[y == 1]))),
    }


def connected_clusters(links: Sequence[Sequence[str]]) -> dict[str, str]:
    """Connected groups of people: every person linked to another through a fake lands in
    one cluster (connected components, ``scipy.sparse.csgraph.connected_components``).

    Args:
        links: per element (a video or a fake), the people it involves: ``(identity,)`` for
            a real video, ``(target, source)`` or ``(target, driving)`` for a fake; empty
            strings are no one.

    Returns:
        ``{person: cluster}``; a cluster is named by its members, sorted and joined with
        ``+`` (``"id01+id03"``), so names are stable across runs and readable.
    """
    from scipy.sparse import coo_matrix  # scipy comes with scikit-learn; only this function needs it
    from scipy.sparse.csgraph import connected_components

    people = sorted({str(p) for group in links for p in group if str(p)})
    index = {p: i for i, p in enumerate(people)}
    rows, cols = [], []
    for group in links:
        members = [index[str(p)] for p in group if str(p)]
        rows += members[:1] * len(members)
        cols += members
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(people), len(people)))
    _, component = connected_components(graph, directed=False)
    members: dict[int, list[str]] = {}
    for p, c in zip(people, component):
        members.setdefault(int(c), []).append(p)
    return {p: "+".join(members[int(c)]) for p, c in zip(people, component)}


def interval_status(labels: Any, clusters: Any) -> str:
    """Whether the cluster bootstrap can give ``labels`` an interval.

    Args:
        labels: ``(n,)`` ints in {0, 1}, 1 = fake; clusters: ``(n,)`` cluster of each.

    Returns:
        ``""`` when it can; else ``"not estimable: <reason>"``: a class is missing, or a
        stratum (clusters holding real and fake elements / real only / fake only) that is
        not empty holds a single cluster, which every replicate would redraw identically.

    Raises:
        ValueError: lengths differ or labels not in {0, 1}.
    """
    y, _, codes = _arrays(labels, np.zeros(len(np.asarray(labels).reshape(-1))), clusters)
    if y.size == 0 or (y == 1).all() or (y == 0).all():
        return f"{NOT_ESTIMABLE}: the sample holds one class"
    n = int(codes.max()) + 1
    has_real = np.bincount(codes[y == 0], minlength=n) > 0
    has_fake = np.bincount(codes[y == 1], minlength=n) > 0
    strata = {
        "with real and fake videos": has_real & has_fake,
        "with real videos only": has_real & ~has_fake,
        "with fake videos only": ~has_real & has_fake,
    }
    single = [name for name, member in strata.items() if member.sum() == 1]
    if single:
        return (
            f"{NOT_ESTIMABLE}: one cluster of people {single[0]} (people linked through fakes form one cluster); "
            "resampling it gives no variance"
        )
    return ""


def weighted_metrics(
    labels: Any,
    scores: Any,
    weights: np.ndarray,
    threshold: float = 0.5,
    fpr_thresholds: dict[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """Detection metrics of one sample under many weightings (bootstrap replicates).

    Args:
        labels: ``(n,)`` ints in {0, 1}, 1 = fake (positive class).
        scores: ``(n,)`` finite floats, larger = more likely fake.
        weights: ``(b, n)`` non-negative weights (draw counts), each row with positive
            weight on both classes.
        threshold: decision threshold of ``acc`` (fake when ``score >= threshold``).
        fpr_thresholds: ``{key of LOW_FPRS: threshold}`` chosen on validation for each
            low FPR (``tpr_at_fpr_<key>``); missing or NaN = NaN.

    Returns:
        ``{metric: (b,) float64}`` for :data:`BOOT_METRICS`: ROC AUC (ties count 1/2), AP
        (scikit-learn's step-wise definition), EER (the ROC point minimising
        ``|FNR - FPR|``, mean of the two, as
        :func:`forgebench.metrics.detection.equal_error_rate`), accuracy at ``threshold``
        and at 0.5, log loss in nats of probabilities clipped to [1e-15, 1 - 1e-15]
        (NaN when a score is outside [0, 1]), TPR at the validation thresholds of
        ``fpr_thresholds`` and the oracle TPR at FPR <= 1% / 0.1% of the weighted ROC
        curve, ECE (:func:`~forgebench.metrics.detection.ece_bins`) and Brier score (NaN
        when a score is outside [0, 1]). Each equals the scikit-learn metric (torchmetrics' for ECE) with
        ``sample_weight`` = that row.

    Raises:
        ValueError: bad labels or scores, or ``weights`` not ``(b, n)``.
    """
    y, s, _ = _arrays(labels, scores, None)
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape[1] != len(y):
        raise ValueError(f"weights must be (b, {len(y)}), got {w.shape}")
    order = np.argsort(-s, kind="mergesort")  # descending score: thresholds from high to low
    s_sorted, y_sorted = s[order], y[order] == 1
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    ws = w[:, order]
    pos = np.add.reduceat(ws * y_sorted, starts, axis=1)
    neg = np.add.reduceat(ws * ~y_sorted, starts, axis=1)
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    p_tot, n_tot = tp[:, -1:], fp[:, -1:]
    out: dict[str, np.ndarray] = {}
    # AUC: each positive group beats the negatives ranked below it, half of those tied with it.
    out["auc"] = (pos * (n_tot - fp + 0.5 * neg)).sum(1) / (p_tot[:, 0] * n_tot[:, 0])
    predicted = tp + fp
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    out["ap"] = (pos / p_tot * precision).sum(1)
    fpr = np.concatenate([np.zeros((len(w), 1)), fp / n_tot], axis=1)
    fnr = np.concatenate([np.ones((len(w), 1)), 1.0 - tp / p_tot], axis=1)
    best = np.argmin(np.abs(fnr - fpr), axis=1)
    rows = np.arange(len(w))
    out["eer"] = (fpr[rows, best] + fnr[rows, best]) / 2.0
    total = w.sum(1)
    out["acc"] = w @ ((s >= threshold) == (y == 1)).astype(np.float64) / total
    out["acc_05"] = w @ ((s >= 0.5) == (y == 1)).astype(np.float64) / total
    tpr_curve = np.concatenate([np.zeros((len(w), 1)), tp / p_tot], axis=1)
    for key, rate in LOW_FPRS.items():
        thr = (fpr_thresholds or {}).get(key, math.nan)
        fake_w = w @ (y == 1).astype(np.float64)
        out[f"tpr_at_fpr_{key}"] = (
            w @ ((s >= thr) & (y == 1)).astype(np.float64) / fake_w if math.isfinite(thr) else np.full(len(w), np.nan)
        )
        out[f"tpr_at_fpr_{key}_oracle"] = np.where(fpr <= rate + 1e-12, tpr_curve, 0.0).max(1)
    if s.size and s.min() >= 0.0 and s.max() <= 1.0:
        p = np.clip(s, LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)
        out["log_loss"] = w @ -(y * np.log(p) + (1 - y) * np.log1p(-p)) / total
        out["brier"] = w @ (s - y) ** 2 / total
        onehot = np.eye(ECE_BINS + 1)[ece_bins(s)]  # (n, bins)
        gap = w @ (onehot * (y - s)[:, None])  # per replicate and bin: fakes counted − p summed
        out["ece"] = np.abs(gap).sum(1) / total
    else:
        out["log_loss"] = out["brier"] = out["ece"] = np.full(len(w), np.nan)
    return out


def bootstrap_replicates(
    labels: Any,
    scores: Any,
    clusters: Any = None,
    threshold: float = 0.5,
    n_boot: int = N_BOOT,
    seed: int = BOOT_SEED,
    fpr_thresholds: dict[str, float] | None = None,
) -> dict[str, np.ndarray] | None:
    """The replicate values behind :func:`cluster_bootstrap` (same arguments): ``{metric:
    (n_boot,) float64}``, or None when :func:`interval_status` says not estimable (a class
    missing, an empty input, a stratum of one cluster). Two
    samples with the same identities and the same seed draw the same identity replicates,
    so their replicate values can be combined (e.g. a mean over detectors).

    Raises:
        ValueError: bad labels, scores or cluster lengths; ``n_boot`` < 1.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    y, s, codes = _arrays(labels, scores, clusters)
    if interval_status(y, codes):
        return None
    n_clusters = int(codes.max()) + 1
    has_real = np.bincount(codes[y == 0], minlength=n_clusters) > 0
    has_fake = np.bincount(codes[y == 1], minlength=n_clusters) > 0
    strata = [
        np.flatnonzero(has_real & has_fake),
        np.flatnonzero(has_real & ~has_fake),
        np.flatnonzero(~has_real & has_fake),
    ]
    rng = np.random.default_rng(seed)
    draws = np.concatenate([g[rng.integers(0, len(g), (n_boot, len(g)))] for g in strata if len(g)], axis=1)
    values = {m: np.empty(n_boot) for m in BOOT_METRICS}
    chunk = max(1, _CHUNK // max(1, len(y)))
    for a in range(0, n_boot, chunk):
        d = draws[a : a + chunk]
        b = len(d)
        counts = np.bincount((np.arange(b)[:, None] * n_clusters + d).ravel(), minlength=b * n_clusters).reshape(
            b, n_clusters
        )
        for m, v in weighted_metrics(y, s, counts[:, codes], threshold, fpr_thresholds).items():
            values[m][a : a + b] = v
    return values


def cluster_mean_interval(
    values: Any, clusters: Any, n_boot: int = N_BOOT, seed: int = BOOT_SEED, level: float = 0.95
) -> tuple[float, float, str]:
    """Percentile interval of a mean over elements (e.g. a quality metric averaged over a
    generator's fake videos), resampling clusters of people as the detection intervals do.

    Args:
        values: ``(n,)`` floats; NaN elements (metric unavailable) are left out.
        clusters: ``(n,)`` cluster of each element (:func:`connected_clusters` of the
            people each fake involves).
        n_boot: replicates, >= 1; seed: numpy seed; level: coverage in (0, 1).

    Returns:
        ``(low, high, status)`` in the values' units; ``(nan, nan, "not estimable: ...")``
        when fewer than two clusters hold a finite value.

    Raises:
        ValueError: lengths differ, ``n_boot`` < 1 or ``level`` outside (0, 1).
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    c = np.asarray(clusters).astype(str).reshape(-1)
    if v.shape != c.shape:
        raise ValueError(f"values and clusters differ in length: {v.size} vs {c.size}")
    if n_boot < 1 or not 0 < level < 1:
        raise ValueError(f"n_boot must be >= 1 and level in (0, 1), got {n_boot}, {level}")
    ok = np.isfinite(v)
    _, codes = np.unique(c[ok], return_inverse=True)
    k = int(codes.max()) + 1 if codes.size else 0
    if k < 2:
        return (
            math.nan,
            math.nan,
            f"{NOT_ESTIMABLE}: {k} cluster(s) of people behind the mean; resampling gives no variance",
        )
    sums, counts = np.bincount(codes, weights=v[ok], minlength=k), np.bincount(codes, minlength=k).astype(np.float64)
    draws = np.random.default_rng(seed).integers(0, k, (n_boot, k))
    times = np.stack([np.bincount(d, minlength=k) for d in draws]).astype(np.float64)  # (n_boot, k) draws per cluster
    low, high = percentile_interval((times @ sums) / (times @ counts), level)
    return low, high, ""


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """``(low, high)`` percentile interval of bootstrap replicate ``values``; NaN when any
    replicate is NaN. Raises ``ValueError`` for ``level`` outside (0, 1)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or np.isnan(values).any():
        return math.nan, math.nan
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _strata_of(labels: Any, clusters: Any) -> list[tuple[str, bool, bool]]:
    """Each cluster with whether it has real and fake elements (what the bootstrap draws from)."""
    y = np.asarray(labels).astype(np.int64)
    c = np.asarray(clusters).astype(str)
    return [(str(k), bool((y[c == k] == 0).any()), bool((y[c == k] == 1).any())) for k in np.unique(c)]


def mean_metric_interval(
    samples: Sequence[tuple[Any, Any, Any]],
    metric: str = "auc",
    threshold: float = 0.5,
    n_boot: int = N_BOOT,
    seed: int = BOOT_SEED,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of the mean of ``metric`` over several models tested on the same
    people (e.g. the mean video AUC of every detector trained on one generator).

    Every model's replicates come from :func:`bootstrap_replicates` with the same clusters,
    ``n_boot`` and ``seed``, so replicate ``b`` draws the same identities for every model;
    replicate ``b`` of the mean is the mean of the models' replicate ``b``, and the
    interval keeps the correlation of models scored on the same people (averaging the
    models' own intervals would not).

    Args:
        samples: per model, ``(labels, scores, clusters)``: ``(N,)`` 0 real / 1 fake,
            ``(N,)`` float scores in [0, 1], ``(N,)`` identity of each element.
        metric: one of :data:`BOOT_METRICS`.
        threshold: decision threshold of the accuracies.
        n_boot: replicates; seed: the bootstrap seed (the train stage's :data:`BOOT_SEED`).
        level: coverage, in (0, 1).

    Returns:
        ``(low, high)`` in the metric's units; ``(nan, nan)`` when not estimable
        (:func:`interval_status`).

    Raises:
        ValueError: no sample; the samples show different identities (or classes per
            identity: their replicates would draw different people and cannot be
            averaged); bad labels, scores or cluster lengths; ``n_boot`` < 1; unknown
            ``metric``; ``level`` outside (0, 1).
    """
    if not samples:
        raise ValueError("no model to average")
    if metric not in BOOT_METRICS:
        raise ValueError(f"metric must be one of {BOOT_METRICS}, got {metric!r}")
    first = _strata_of(samples[0][0], samples[0][2])
    if any(_strata_of(labels, clusters) != first for labels, _, clusters in samples[1:]):
        raise ValueError(
            "the models were tested on different identities (or classes per identity); "
            "their bootstrap replicates draw different people and cannot be averaged"
        )
    reps = [
        bootstrap_replicates(labels, scores, clusters, threshold, n_boot, seed) for labels, scores, clusters in samples
    ]
    if any(r is None for r in reps):
        return math.nan, math.nan
    return percentile_interval(np.mean([r[metric] for r in reps], axis=0), level)


def cluster_bootstrap(
    labels: Any,
    scores: Any,
    clusters: Any = None,
    threshold: float = 0.5,
    n_boot: int = N_BOOT,
    seed: int = BOOT_SEED,
    level: float = 0.95,
    fpr_thresholds: dict[str, float] | None = None,
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of every detection metric, resampling clusters (identities).

    Args:
        labels: ``(n,)`` ints in {0, 1}, 1 = fake.
        scores: ``(n,)`` finite floats (probabilities of fake in [0, 1] for the accuracy
            at 0.5 and the log loss to make sense).
        clusters: ``(n,)`` cluster of each element (:func:`connected_clusters` of the
            people involved); all elements of a drawn cluster enter the replicate together.
            None = every element is its own cluster.
        threshold: decision threshold of ``acc`` (chosen on validation).
        n_boot: replicates, >= 1.
        seed: seed of ``numpy.random.default_rng``; deterministic.
        level: coverage, in (0, 1).
        fpr_thresholds: validation thresholds of the low FPRs (:func:`weighted_metrics`).

    Returns:
        ``{metric: (low, high)}`` for :data:`BOOT_METRICS`, in the metric's units;
        ``(nan, nan)`` for every metric when not estimable (:func:`interval_status`: a
        class missing, an empty input, a stratum of one cluster), and for ``log_loss`` when
        a score is not a probability.

    Raises:
        ValueError: bad labels, scores or cluster lengths; bad ``n_boot`` or ``level``.
    """
    if n_boot < 1 or not 0 < level < 1:
        raise ValueError(f"n_boot must be >= 1 and level in (0, 1), got {n_boot}, {level}")
    values = bootstrap_replicates(labels, scores, clusters, threshold, n_boot, seed, fpr_thresholds)
    if values is None:
        return {m: (math.nan, math.nan) for m in BOOT_METRICS}
    return {m: percentile_interval(v, level) for m, v in values.items()}
