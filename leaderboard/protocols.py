"""The detection protocols as leaderboard tables: in-domain, cross-generator, robustness.

- In-domain: a detector trained and tested on the same generator (``train_set ==
  test_set``; ``all`` = trained and tested on every generator together).
- Cross-generator matrix: per detector, rows = train set (one generator or ``all``),
  columns = test set; the off-diagonal cells measure generalisation to unseen generators
  (FaceForensics++ / DeepfakeBench cross-manipulation protocol). :func:`auc_matrix` puts
  every detector's matrix in one shaded table, the report's headline.
- Robustness: the model of ``protocol.robustness.train_set`` scored on the test split under
  test-time perturbations (``forgebench.perturbations``), as a table and a curve of AUC
  against strength per detector.

Every metric comes with the cluster bootstrap (connected groups of people) 95% interval that the train
stage computed and stored (:func:`forgebench.protocol.metrics_with_intervals`) and the
identities / videos / frames behind it; a cell with fewer identities per class than
``protocol.min_identities`` is marked :data:`THIN_MARK` (too few identities to conclude),
and :func:`thin_summary` is the sentence the report opens with. Cells are text or
:class:`~forgebench.leaderboard._page.Cell` (a seed spread or a real / fake split as a
detail the HTML page shows as a tooltip); the notes are :mod:`forgebench.leaderboard._notes`'.
This module formats stored numbers and computes none.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from forgebench.errors import DataError
from forgebench.leaderboard._notes import (
    COMPARISON_NOTE,
    CROSS_NOTE,
    DEPLOYMENT_NOTE,
    DETECTION_NOTE,
    ROBUST_NOTE,
    THIN_MARK,
)
from forgebench.leaderboard._page import Cell, with_mark
from forgebench.metrics.bootstrap import NOT_ESTIMABLE
from forgebench.metrics.declared import label

__all__ = [
    "in_domain_display",
    "cross_generator_matrices",
    "auc_matrix",
    "robustness_display",
    "comparison_display",
    "deployment_display",
    "COMPARISON_NOTE",
    "CROSS_NOTE",
    "DEPLOYMENT_NOTE",
    "DETECTION_NOTE",
    "ROBUST_NOTE",
    "PERTURBATION_LABELS",
    "THIN_MARK",
    "detection_display",
    "detector_labels",
    "fmt_num",
    "fmt_ci",
    "fmt_n",
    "thin_summary",
]

#: Axis labels of the perturbations (strength units).
PERTURBATION_LABELS = {
    "jpeg": "JPEG quality (lower = stronger)",
    "blur": "Gaussian blur sigma (px)",
    "noise": "Gaussian noise sigma ([0, 1] units)",
    "downscale": "down-scaling factor",
    "h264": "H.264 CRF (video re-encoded)",
}


def fmt_num(x) -> str:
    """A number with 3 decimals; ``n/a`` for NaN/None; text (e.g. ``unavailable: ...``) as is."""
    if isinstance(x, str):
        return x
    return "n/a" if x is None or pd.isna(x) else f"{float(x):.3f}"


def fmt_ci(x, low, high) -> str:
    """``"0.912 [0.850, 0.970]"`` (point estimate and 95% interval, 3 decimals);
    ``"0.912 [not estimable]"`` when the value exists but has no interval
    (:func:`forgebench.metrics.bootstrap.interval_status`)."""
    if pd.isna(low) or pd.isna(high):
        return fmt_num(x) if pd.isna(x) else f"{fmt_num(x)} [{NOT_ESTIMABLE}]"
    return f"{fmt_num(x)} [{low:.3f}, {high:.3f}]"


def fmt_n(n_videos, n_frames, n_identities=None) -> str:
    """``"n=2 videos / 64 frames"``, or ``"n=4 identities / 8 videos / 64 frames"``."""
    who = "" if n_identities is None or pd.isna(n_identities) else f"{int(n_identities)} identities / "
    return f"n={who}{int(n_videos)} videos / {int(n_frames)} frames"


def _mark(text, thin):
    """``text`` (text or :class:`~forgebench.leaderboard._page.Cell`) marked :data:`THIN_MARK` when ``thin``."""
    return with_mark(text, THIN_MARK, bool(thin))


def _ci_cells(d: pd.DataFrame, col: str) -> list[Cell]:
    """``col`` (e.g. ``video_auc``) with its stored interval, for every row: cells whose text is
    ``"0.912 [0.850, 0.970]"``; a row trained with several seeds adds the spread across them as a
    detail (Markdown: ``"0.912 [0.850, 0.970] (3 seeds: 0.901–0.925)"``; HTML: the tooltip)."""
    cells = [Cell(fmt_ci(*v)) for v in zip(d[col], d[f"{col}_ci_low"], d[f"{col}_ci_high"])]
    if "n_seeds" not in d.columns or f"{col}_seed_min" not in d.columns:
        return cells
    return [
        c if pd.isna(n) or int(n) < 2 else Cell(c.text, (f"{int(n)} seeds: {fmt_num(lo)}–{fmt_num(hi)}",))
        for c, n, lo, hi in zip(cells, d["n_seeds"], d[f"{col}_seed_min"], d[f"{col}_seed_max"])
    ]


def _n_cells(d: pd.DataFrame) -> list[Cell]:
    """``n=2 identities / 4 videos / 16 frames`` with the real / fake split as a detail,
    marked :data:`THIN_MARK` when thin."""
    return [
        _mark(Cell(fmt_n(v, f, i), (f"{ir} real, {ik} fake identities; {r} real, {k} fake videos",)), thin)
        for i, ir, ik, v, f, r, k, thin in zip(
            d["n_identities"],
            d["n_identities_real"],
            d["n_identities_fake"],
            d["n_videos"],
            d["n_frames"],
            d["n_videos_real"],
            d["n_videos_fake"],
            d["thin"],
        )
    ]


def detector_labels(d: pd.DataFrame) -> list[str]:
    """The detector column as shown: a prediction submission says so and which attempt it
    was (``name (submission, attempt 2 of 3 in the run)``), and so does a detector whose weights were trained outside the run
    (``dfb_xception (trained elsewhere: DeepfakeBench v1.0.1 (FF++ c23))``)."""
    subs = d["submission"] if "submission" in d.columns else [False] * len(d)
    elsewhere = d["trained_elsewhere"].fillna("") if "trained_elsewhere" in d.columns else [""] * len(d)
    attempts = d["submission_attempt"].fillna("") if "submission_attempt" in d.columns else [""] * len(d)
    return [
        (f"{n} (submission, attempt {a})" if a else f"{n} (submission)")
        if bool(s)
        else f"{n} (trained elsewhere: {e})"
        if e
        else str(n)
        for n, s, e, a in zip(d["detector"], subs, elsewhere, attempts)
    ]


def detection_display(d: pd.DataFrame, levels: tuple[str, ...] = ("frame", "video")) -> pd.DataFrame:
    """The detection table as cells (text and :class:`~forgebench.leaderboard._page.Cell`),
    one row per (detector, train set, test set): the thresholds, every metric of ``levels``
    (``"frame"``, ``"video"``) with its people-cluster 95% interval (the spread across seeds
    as a detail), where the weights started from, and the identities / videos / frames
    behind the row (marked :data:`THIN_MARK` when thin).

    Raises:
        ValueError: a level other than ``frame`` / ``video``.
    """
    if not set(levels) <= {"frame", "video"}:
        raise ValueError(f"levels must be 'frame' and/or 'video', not {levels}")
    out = d[["detector", "train_set", "test_set"]].rename(columns={"train_set": "train set", "test_set": "test set"})
    out["detector"] = detector_labels(d)
    out["threshold"] = [
        fmt_num(t) if fmt_num(t) == fmt_num(v) else f"{fmt_num(t)} (video {fmt_num(v)})"
        for t, v in zip(d["threshold"], d["video_threshold"])
    ]
    for level in levels:
        for m in ("auc", "ap", "eer", "acc", "acc_05", "log_loss"):  # the deployment metrics have their own table
            out[f"{level} {label(m)} [95% CI]"] = _ci_cells(d, f"{level}_{m}")
        if f"{level}_eer_deepfakebench" in d.columns:
            out[f"{level} {label('eer_deepfakebench')}"] = [fmt_num(v) for v in d[f"{level}_eer_deepfakebench"]]
    if "weights_origin" in d.columns:
        out["weights origin"] = [
            str(o).split(":")[0] + (f":{str(o).split(':', 1)[1][:12]}" if ":" in str(o) else "")
            for o in d["weights_origin"].fillna("")
        ]
    out["n"] = _n_cells(d)
    return out.reset_index(drop=True)


def in_domain_display(d: pd.DataFrame) -> pd.DataFrame:
    """In-domain rows of a :func:`forgebench.leaderboard.tables.detection_table` as cells.

    Columns: detector, train = test set, video AUC, frame AUC, video AP, video EER, video
    acc. (validation threshold), video acc. at 0.5, video log loss, frame log loss, each
    with its people-cluster [95% CI], and n (identities, videos, frames; real and fake),
    marked :data:`THIN_MARK` when a class has fewer identities than
    ``protocol.min_identities``. Empty when no detector was tested on its own train set.
    """
    d = d[d["train_set"] == d["test_set"]]
    out = pd.DataFrame({"detector": d["detector"], "train = test set": d["train_set"]})
    for col, name in (
        ("video_auc", "video AUC"),
        ("frame_auc", "frame AUC"),
        ("video_ap", "video AP"),
        ("video_eer", "video EER"),
        ("video_acc", "video acc. (val thr.)"),
        ("video_acc_05", "video acc. @0.5"),
        ("video_log_loss", "video log loss"),
        ("frame_log_loss", "frame log loss"),
    ):
        out[f"{name} [95% CI]"] = [_mark(c, thin) for c, thin in zip(_ci_cells(d, col), d["thin"])]
    out["n"] = _n_cells(d)
    return out.reset_index(drop=True)


def deployment_display(d: pd.DataFrame) -> pd.DataFrame:
    """In-domain rows of a detection table as the deployment metrics at video level: TPR at
    FPR 1% and 0.1% at the validation thresholds (with the test FPR they achieve, the first
    seed's) and the test-set oracle, ECE and Brier score, each with its stored [95% CI]
    (frame level: ``leaderboard.csv``); ``n`` as :func:`in_domain_display`. Empty when no
    detector was tested on its own train set."""
    d = d[d["train_set"] == d["test_set"]]
    out = pd.DataFrame({"detector": detector_labels(d), "train = test set": d["train_set"].to_numpy()})
    for level in ("video",):  # the frame level is in leaderboard.csv and metrics.json
        for key, pct in (("1pct", "1%"), ("0_1pct", "0.1%")):
            out[f"{level} TPR@FPR {pct} [95% CI] (FPR achieved)"] = [
                _mark(Cell(f"{c.text} ({fmt_num(f)})", c.details), thin)
                for c, f, thin in zip(
                    _ci_cells(d, f"{level}_tpr_at_fpr_{key}"), d[f"{level}_fpr_at_fpr_{key}"], d["thin"]
                )
            ]
            out[f"{level} oracle TPR@FPR {pct}"] = _ci_cells(d, f"{level}_tpr_at_fpr_{key}_oracle")
        out[f"{level} ECE [95% CI]"] = _ci_cells(d, f"{level}_ece")
        out[f"{level} Brier [95% CI]"] = _ci_cells(d, f"{level}_brier")
    out["n"] = _n_cells(d)
    return out.reset_index(drop=True)


def _auc_cells(g: pd.DataFrame, brief: bool = False) -> list[Cell]:
    """Video AUC [95% CI] cells shaded by the AUC (in-domain cells bold in HTML), with the
    seeds' spread and the identities / videos / frames behind them as details (``brief``:
    only in the HTML tooltip), :data:`THIN_MARK` when thin."""
    cells = []
    for c, i, v, f, thin, auc, own in zip(
        _ci_cells(g, "video_auc"),
        g["n_identities"],
        g["n_videos"],
        g["n_frames"],
        g["thin"],
        g["video_auc"],
        g["train_set"] == g["test_set"],
    ):
        details = (*c.details, fmt_n(v, f, i))
        cell = Cell(c.text, tip="; ".join(details)) if brief else Cell(c.text, details)
        cells.append(_mark(replace(cell, shade=auc, strong=bool(own)), thin))
    return cells


def _test_columns(sets) -> list[str]:
    """Test / train sets in display order: generators by name, ``all`` last."""
    return sorted(set(sets), key=lambda c: (c == "all", c))


def cross_generator_matrices(d: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per detector, the cross-generator matrix of video-level AUC [95% CI] (identities /
    videos / frames, :data:`THIN_MARK` when thin): rows = train set, columns = test set
    (``all`` last), ``not run`` where a cell is missing. Diagonal cells are the in-domain
    results."""
    out = {}
    for det, g in d.groupby("detector", sort=True):
        det = detector_labels(g.iloc[:1])[0]
        wide = pd.DataFrame({"train set": g["train_set"], "test": g["test_set"], "cell": _auc_cells(g)}).pivot(
            index="train set", columns="test", values="cell"
        )
        wide = wide.loc[_test_columns(wide.index), _test_columns(wide.columns)].fillna("not run")
        wide.columns = [f"test: {c}" for c in wide.columns]
        out[str(det)] = wide.reset_index().rename_axis(columns=None)
    return out


def auc_matrix(d: pd.DataFrame) -> pd.DataFrame:
    """Every detector's cross-generator matrix in one table, the report's headline: one row
    per (detector, train set), one column per test set (generators, then ``all``), cells
    video AUC [95% CI or not estimable] shaded by the AUC, :data:`THIN_MARK` when thin,
    with the seeds' spread and the identities / videos / frames in the HTML tooltip (the
    per-detector :func:`cross_generator_matrices` list them on every page); ``not run``
    where a detector was not tested on a set. Empty (no rows) for an empty table."""
    if d.empty:
        return pd.DataFrame(columns=["detector", "train set"])
    cells = pd.DataFrame(
        {
            "detector": detector_labels(d),
            "key": d["detector"].to_numpy(),
            "train set": d["train_set"].to_numpy(),
            "test": d["test_set"].to_numpy(),
            "cell": _auc_cells(d, brief=True),
        }
    )
    wide = cells.pivot(index=["key", "detector", "train set"], columns="test", values="cell")
    wide = wide[_test_columns(wide.columns)].fillna("not run")
    order = sorted(wide.index, key=lambda k: (k[0], k[2] == "all", k[2]))  # rows in the columns' order: a diagonal
    wide = wide.loc[order]
    wide.columns = [f"test: {c}" for c in wide.columns]
    return wide.reset_index().drop(columns="key").rename_axis(columns=None)


def robustness_display(
    r: pd.DataFrame, min_identities: int | None = None, labels: dict[tuple[str, str], str] | None = None
) -> pd.DataFrame:
    """The robustness table as text: one row per (detector, perturbation), the clean
    video AUC and then ``strength: AUC [95% CI]`` cells in the configured order; ``n``
    marked :data:`THIN_MARK` when a class has fewer than ``min_identities`` identities.
    ``labels``: ``(detector, train_set) -> detector column`` as the detection tables show
    it (:func:`detector_labels`: submissions, weights trained elsewhere)."""
    if r.empty:
        raise DataError("no robustness results")
    labels = labels or {}
    rows = []
    for (det, train), g in r.groupby(["detector", "train_set"], sort=True):
        clean = g[g["perturbation"] == "none"]
        clean_cell = (
            fmt_ci(*clean[["video_auc", "video_auc_ci_low", "video_auc_ci_high"]].iloc[0]) if len(clean) else "n/a"
        )
        for pert, p in g[g["perturbation"] != "none"].groupby("perturbation", sort=False):
            row = {
                "detector": labels.get((det, train), det),
                "trained on": train,
                "perturbation": pert,
                "clean": clean_cell,
            }
            for k, (_, x) in enumerate(p.iterrows(), 1):
                row[f"strength {k}"] = (
                    f"{x['strength']:g}: {fmt_ci(x['video_auc'], x['video_auc_ci_low'], x['video_auc_ci_high'])}"
                )
            first = p.iloc[0]
            n_ids = first.get("n_identities")
            per_class = min(first.get("n_identities_real", n_ids), first.get("n_identities_fake", n_ids))
            thin = (
                min_identities is not None
                and n_ids is not None
                and not pd.isna(per_class)
                and per_class < min_identities
            )
            row["n"] = _mark(fmt_n(p["n_videos"].iloc[0], p["n_frames"].iloc[0], n_ids), thin)
            rows.append(row)
    out = pd.DataFrame(rows).fillna("")
    cols = [c for c in out.columns if c != "n"] + ["n"]
    return out[cols]


def thin_summary(d: pd.DataFrame | None) -> str | None:
    """The sentence the report opens with when some detection cells rest on too few
    identities (None when none does): how many cells of which tables, the identities they
    have, and how many a firm result needs."""
    if d is None or d.empty or not d["thin"].any():
        return None
    thin = d[d["thin"]]
    need = int(thin["min_identities"].max())
    low = int(min(thin["n_identities_real"].min(), thin["n_identities_fake"].min()))
    tables = ["in-domain"] if (thin["train_set"] == thin["test_set"]).any() else []
    tables += ["cross-generator", "every-result", "robustness"]
    return (
        f"Too few identities to conclude: {len(thin)} of {len(d)} detection results (marked {THIN_MARK} in the "
        f"{', '.join(tables)} tables) rest on as few as {low} identities per class; a firm result needs at least {need} "
        f"real and {need} fake identities in the test split (protocol.min_identities). Their intervals are shown, but "
        "differences between such cells are not evidence; add videos of more people (or give the test split more of them)."
    )


def _diff_ci(diff: float, low: float, high: float) -> str:
    """``"+0.041 [+0.012, +0.070]"``, or ``"+0.041 [not estimable]"``."""
    if pd.isna(low) or pd.isna(high):
        return f"{diff:+.3f} [{NOT_ESTIMABLE}]"
    return f"{diff:+.3f} [{low:+.3f}, {high:+.3f}]"


def comparison_display(comparisons: list[dict]) -> pd.DataFrame:
    """The stored paired comparisons as text, one row per comparison, level and metric:
    A, B, test set, level, metric, A's and B's values, ``A − B [95% CI]``, p (and DeLong's
    p for the video AUC)."""
    rows = []
    for c in comparisons:
        thin = bool(c.get("thin", False))
        for level in ("video", "frame"):
            for key, name in (("auc", "AUC"), ("ap", "AP"), ("eer", "EER"), ("log_loss", "log loss")):
                r = c[level][key]
                p = r["p"]
                p_text = "n/a" if pd.isna(p) else "< 0.001" if p < 0.001 else f"{p:.3f}"  # NaN is stored as null
                delong = c.get("delong_video_auc", {}).get("p") if (level, key) == ("video", "auc") else None
                rows.append(
                    {
                        "A": c["a"],
                        "B": c["b"],
                        "test set": c["test_set"],
                        "level": level,
                        "metric": name,
                        "A value": fmt_num(r["a"]),
                        "B value": fmt_num(r["b"]),
                        "A − B [95% CI]": _mark(_diff_ci(r["difference"], r["ci_low"], r["ci_high"]), thin),
                        "p": p_text,
                        "DeLong p": "" if delong is None else f"{delong:.3f}",
                    }
                )
    return pd.DataFrame(rows)
