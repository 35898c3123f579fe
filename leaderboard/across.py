"""One leaderboard across runs and prediction submissions (``forgebench leaderboard runs/a runs/b ...``).

A paper's table combines runs (a dataset at c23 and at c40, forgebench's own generators,
several detectors, prediction submissions); every row here says what produced it: the run
(config ``name``; with its folder when two runs share a name), the dataset and compression
(the ``<dataset>`` and ``<compression>`` parts of the run's video ids,
:func:`forgebench.schemas.make_video_id`), the crop size and margin and the frames per
video of the faces stage, the detector (marked ``(submission)`` for a prediction
submission), its train set, the first 12 hex digits of its weights' SHA-256 and where
those weights started from (``weights_origin``: ``imagenet:<sha256>`` or ``none`` for a
detector trained from random init, ...; shown as ``kind:<12 hex>``): an EfficientNet started
from ImageNet and one trained from scratch are different models and never share a row.

Sections: in-domain (train set = test set), cross-generator (trained on one generator's
fakes, tested on another's; submissions and external detectors, which trained on nothing
of the run, tested on every set) and robustness (each run's stored robustness metrics),
each cell ``value [low, high]`` with the people-cluster 95% interval the train stage
stored and the identities behind it, :data:`~forgebench.leaderboard.protocols.THIN_MARK`
when too few. Runs whose settings (:data:`SETTINGS`) differ are put in separate settings
groups, one sub-table each, and a sentence says how they differ: their numbers are not
comparable and are never averaged together.

The figure no other benchmark draws (:func:`plot_quality_vs_detectability`): each
generator as a point, quality (FID, else identity similarity to the source) against
detectability, the mean over detectors of the in-domain video AUC with its 95% interval.
That mean and its interval are computed when the runs are read
(:func:`forgebench.publish.detectability`, from the stored test predictions with the
train stage's identity bootstrap and seed, so every detector's replicate draws the same
people). The run directories are read by :func:`forgebench.publish.collect_runs` (the one
part that sees them); this module computes no metric: it formats the :class:`RunEntry`
records it gets.

Outputs of :func:`write_outputs`: ``leaderboard.md``, ``leaderboard.csv`` (long format, one
row per number with its run's facts), ``report.html`` (the tables and the figure),
``leaderboard.tex`` (booktabs tabulars to ``\\input`` in a paper) and
``plots/quality_vs_detectability.png``.
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from forgebench.fileio import write_csv, write_text
from forgebench.leaderboard._notes import (
    BEST_MARK,
    CROSS_DATASET_NOTE,
    CROSS_NOTE,
    DETECTABILITY_NOTE,
    DETECTION_NOTE,
    MARKS_NOTE,
    ROBUST_NOTE,
    SAME_AS_BEST_MARK,
    THIN_MARK,
    THIN_NOTE,
)
from forgebench.leaderboard._page import Block, Bullets, Heading, Section, Table, Text, render_html, render_markdown
from forgebench.leaderboard._page import Figure as PageFigure
from forgebench.leaderboard.plots import QUALITY_AXES, quality_axis, quality_value, save_figure
from forgebench.leaderboard.protocols import detector_labels, fmt_ci, fmt_num
from forgebench.leaderboard.report import ReportData
from forgebench.leaderboard.tables import long_table
from forgebench.metrics.bootstrap import BOOT_SEED
from forgebench.schemas import CROSS_DATASET_SEP, PRETRAINED_SET, SUBMISSION_SET

__all__ = [
    "SETTINGS",
    "QUALITY_AXES",
    "FIGURE",
    "BEST_MARK",
    "SAME_AS_BEST_MARK",
    "MARKED_COLUMNS",
    "RunEntry",
    "label_and_group",
    "settings_sentence",
    "detectability_table",
    "across_sections",
    "across_page",
    "long_table_across",
    "format_markdown_across",
    "format_html_across",
    "format_latex",
    "plot_quality_vs_detectability",
    "write_outputs",
]

#: The settings that make two runs' numbers incomparable: (name in sentences, RunEntry attribute).
SETTINGS = (
    ("dataset", "dataset"),
    ("compression", "compression"),
    ("faces.crop_size", "crop_size"),
    ("faces.margin", "margin"),
    ("faces.frames_per_video", "frames_per_video"),
)
#: Columns every row starts with: what produced it.
FACT_COLUMNS = ("run", "dataset", "compression", "crop size", "margin", "frames/video")
#: The figure's file name in ``plots/``.
FIGURE = "quality_vs_detectability.png"
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
#: Columns whose rows are compared with the column's best row (paired, on the same test frames).
MARKED_COLUMNS = tuple(f"{level}_{m}" for level in ("video", "frame") for m in ("auc", "ap", "eer", "log_loss"))


@dataclass
class RunEntry:
    """One run directory of the leaderboard, with the facts every row of it carries.

    Attributes:
        root: the run directory's path (as given).
        name: config ``name``.
        label: what rows call the run: ``name``, or ``"name (folder)"`` when two runs share
            the name (the path as given when the folders' names are the same too).
        dataset, compression: the dataset and compression parts of the run's video ids
            (``faces/manifest.parquet``; ``config.yaml`` ``data`` when nothing was extracted).
        crop_size: ``faces.crop_size`` (pixels); margin: ``faces.margin`` (crop side / face
            size); frames_per_video: ``faces.frames_per_video`` (of the validated config).
        n_boot, min_identities: the run's ``protocol.n_boot`` and ``protocol.min_identities``.
        data: what the run's own report shows (:func:`forgebench.stages.report.collect`).
        group: its settings group's letter (``A``, ``B``, ...: :func:`label_and_group`).
        notes: facts said about the run in the report (no detector results, ...).
        detectability: generator -> its detectability (the mean over detectors of the
            in-domain video AUC and the interval of that mean, ``n_detectors``,
            ``detectors``, ``n_boot``, ``n_identities*``, ``thin``, ``status``), computed
            from the stored predictions by :func:`forgebench.publish.detectability`: one key
            per generator the figure has a point for.
        cross_dataset: the cells of the cross-dataset table whose test data is this run's
            (:func:`forgebench.publish.cross_dataset_cells`: detectors trained here, on this
            run's whole test split, and detectors of other runs evaluated here).
        marks: ``(detector, train_set, test_set, column) -> BEST_MARK or SAME_AS_BEST_MARK``
            for the rows compared with the best row of their column on the same test
            frames (:func:`forgebench.publish.best_marks`).
    """

    root: Path
    name: str
    label: str
    dataset: str
    compression: str
    crop_size: int
    margin: float
    frames_per_video: int
    n_boot: int
    min_identities: int
    data: ReportData
    group: str = "A"
    notes: list[str] = field(default_factory=list)
    detectability: dict[str, dict[str, Any]] = field(default_factory=dict)
    cross_dataset: list[dict[str, Any]] = field(default_factory=list)
    marks: dict[tuple[str, str, str, str], str] = field(default_factory=dict)

    @property
    def settings(self) -> tuple:
        """The values of :data:`SETTINGS`, the key of the settings group."""
        return tuple(getattr(self, attr) for _, attr in SETTINGS)

    def facts(self) -> dict[str, Any]:
        """The :data:`FACT_COLUMNS` cells of the run's rows."""
        return {
            "run": self.label,
            "dataset": self.dataset,
            "compression": self.compression,
            "crop size": _text(self.crop_size),
            "margin": _text(self.margin),
            "frames/video": _text(self.frames_per_video),
        }


def _text(value) -> str:
    """A setting for a table or a sentence: ``1.3``, ``64``, ``n/a`` when unknown."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:g}" if isinstance(value, float) else str(value)


def label_and_group(entries: list[RunEntry]) -> list[RunEntry]:
    """Give each run its row label (``name``, or ``"name (folder)"`` when two runs share the
    name, the whole path when the folders' names are the same too) and its settings group
    (``A``, ``B``, ... in the order of their first run); returns ``entries``."""
    names = [e.name for e in entries]
    folders = [(e.name, Path(e.root).name) for e in entries]
    for e in entries:
        if names.count(e.name) > 1:
            e.label = (
                f"{e.name} ({Path(e.root).name})"
                if folders.count((e.name, Path(e.root).name)) == 1
                else f"{e.name} ({e.root})"
            )
    groups: dict[tuple, str] = {}
    for e in entries:
        if e.settings not in groups:
            groups[e.settings] = string.ascii_uppercase[len(groups) % 26] * (1 + len(groups) // 26)  # A..Z, AA..ZZ, ...
        e.group = groups[e.settings]
    return entries


def group_description(entries: Sequence[RunEntry], group: str, runs: set[str] | None = None) -> str:
    """``"Settings A: dataset samples, compression c23, crop 64 px, margin 1.3, 4
    frames/video (runs tiny, tiny_c)"``: the settings of ``group`` and its runs (those
    whose label is in ``runs`` when given: the runs with rows in a table)."""
    members = [e for e in entries if e.group == group and (runs is None or e.label in runs)]
    e = members[0]
    who = ", ".join(m.label for m in members)
    return (
        f"Settings {group}: dataset {e.dataset}, compression {e.compression}, crop {_text(e.crop_size)} px, margin "
        f"{_text(e.margin)}, {_text(e.frames_per_video)} frames/video ({'run' if len(members) == 1 else 'runs'} {who})"
    )


def settings_sentence(entries: Sequence[RunEntry]) -> str | None:
    """The sentence stating how the settings groups differ, or None for one group.

    E.g. ``"Runs differ in faces.margin: 1.3 (runs a, c) vs 1.5 (run b); their rows are not
    comparable and are shown apart (settings A, B), never averaged."``
    """
    groups = list(dict.fromkeys(e.group for e in entries))
    if len(groups) < 2:
        return None
    parts = []
    for name, attr in SETTINGS:
        by_value: dict[str, list[str]] = {}
        for e in entries:
            by_value.setdefault(_text(getattr(e, attr)), []).append(e.label)
        if len(by_value) > 1:
            parts.append(
                f"{name}: "
                + " vs ".join(
                    f"{v} ({'run' if len(who) == 1 else 'runs'} {', '.join(who)})" for v, who in by_value.items()
                )
            )
    return (
        f"Runs differ in {'; '.join(parts)}; their rows are not comparable and are shown apart (settings "
        f"{', '.join(groups)}), never averaged."
    )


def detectability_table(entries: Sequence[RunEntry]) -> tuple[pd.DataFrame, str, str]:
    """Every (run, generator) point of the figure.

    Returns:
        ``(table, metric, axis label)``: the quality metric of :data:`QUALITY_AXES` used
        (:func:`forgebench.leaderboard.plots.quality_axis`: the one with a finite value for
        the most points, the first on a tie) and one row per run and generator (the keys of
        :attr:`RunEntry.detectability`) with the run's facts, ``group``, ``generator``,
        ``quality`` (NaN when that generator has no value) and the detectability keys.
    """
    pairs = [(e, g) for e in entries for g in sorted(e.detectability)]
    metric, label = quality_axis([(e.data.quality, g) for e, g in pairs])
    rows = []
    for e, g in pairs:
        row = {
            **e.facts(),
            "group": e.group,
            "generator": g,
            "quality_metric": metric,
            "quality": quality_value(e.data.quality, g, metric),
            **e.detectability[g],
        }
        if math.isnan(row["quality"]):
            row["status"] = f"not drawn: no {metric} value for this generator; detectability {row['status']}"
        elif math.isnan(row["mean"]):
            row["status"] = f"not drawn: detectability {row['status']}"
        rows.append(row)
    columns = [
        *FACT_COLUMNS,
        "group",
        "generator",
        "quality_metric",
        "quality",
        "mean",
        "ci_low",
        "ci_high",
        "n_detectors",
        "detectors",
        "n_boot",
        "n_identities",
        "n_identities_real",
        "n_identities_fake",
        "thin",
        "status",
    ]
    return pd.DataFrame(rows, columns=columns), metric, label


# -- the sections ---------------------------------------------------------------------------------
def _detection_rows(entries: Sequence[RunEntry]) -> pd.DataFrame:
    """Every run's detection table with its facts, ``group``, ``order`` (run position) and
    ``mark_<column>`` (:attr:`RunEntry.marks`, ``""`` when not compared)."""
    parts = []
    for k, e in enumerate(entries):
        d = e.data.detection
        if d is None or d.empty:
            continue
        keys = list(zip(d["detector"], d["train_set"], d["test_set"]))
        marks = {f"mark_{col}": [e.marks.get((*key, col), "") for key in keys] for col in MARKED_COLUMNS}
        parts.append(d.assign(**e.facts(), group=e.group, order=k, **marks))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _is_cross(train_set: str, test_set: str) -> bool:
    """Whether a (train set, test set) cell tests generalisation to an unseen generator of
    the same run (a detector of another run is the cross-dataset section's)."""
    if CROSS_DATASET_SEP in train_set:
        return False
    if train_set in (SUBMISSION_SET, PRETRAINED_SET):
        return True
    return train_set != test_set and "all" not in (train_set, test_set)


def _section_of(train_set: str, test_set: str) -> str:
    if CROSS_DATASET_SEP in train_set:
        return "cross-dataset"
    return "in-domain" if train_set == test_set else "cross-generator" if _is_cross(train_set, test_set) else "other"


def _mark(text: str, thin: bool) -> str:
    return f"{text} {THIN_MARK}" if thin else text


def _n_text(n, real, fake, videos=None, frames=None) -> str:
    """``"4 identities (2 real, 2 fake) / 8 videos / 32 frames"``."""
    if pd.isna(n):
        return "n/a"
    text = f"{int(n)} identities ({int(real)} real, {int(fake)} fake)"
    return (
        text
        + ("" if videos is None or pd.isna(videos) else f" / {int(videos)} videos")
        + ("" if frames is None or pd.isna(frames) else f" / {int(frames)} frames")
    )


def _display(
    rows: pd.DataFrame, metrics: Sequence[tuple[str, str]], keys: Sequence[tuple[str, str]] = ()
) -> pd.DataFrame:
    """Text cells: the facts, detector (``(submission)`` marked), train set, ``keys``
    (column -> header), weights hash, ``metric [95% CI]`` cells (:data:`THIN_MARK` when
    thin), the weights' origin (``imagenet:<12 hex>``, ``none``, ...) and n (identities
    real / fake, videos, frames)."""
    out = rows[list(FACT_COLUMNS)].copy()
    out["detector"] = detector_labels(rows)
    out["train set"] = rows["train_set"].astype(str)
    for col, header in keys:
        out[header] = [fmt_num(v) if not isinstance(v, str) else v for v in rows[col]]
    out["weights (sha256)"] = [str(h)[:12] if isinstance(h, str) and h else "n/a" for h in rows["checkpoint_sha256"]]
    for col, header in metrics:
        marks = rows[f"mark_{col}"] if f"mark_{col}" in rows.columns else [""] * len(rows)
        out[f"{header} [95% CI]"] = [
            _mark(fmt_ci(v, lo, hi), t) + (f" {m}" if m else "")
            for v, lo, hi, t, m in zip(
                rows[col], rows[f"{col}_ci_low"], rows[f"{col}_ci_high"], rows["thin"].astype(bool), marks
            )
        ]
    out["weights origin"] = [
        _origin_text(o) for o in (rows["weights_origin"] if "weights_origin" in rows else [""] * len(rows))
    ]
    out["n"] = [
        _mark(_n_text(n, r, f, v, fr), t)
        for n, r, f, v, fr, t in zip(
            rows["n_identities"],
            rows["n_identities_real"],
            rows["n_identities_fake"],
            rows["n_videos"],
            rows["n_frames"],
            rows["thin"].astype(bool),
        )
    ]
    return out.reset_index(drop=True)


def _origin_text(origin) -> str:
    """``imagenet:1a2b3c4d5e6f`` (the hash cut to 12 hex digits), ``none``, ``n/a`` when unknown."""
    if not isinstance(origin, str) or not origin:
        return "n/a"
    kind, _, digest = origin.partition(":")
    return f"{kind}:{digest[:12]}" if digest else origin


def _origins(detection: pd.DataFrame | None) -> dict[tuple[str, str], str]:
    """``(detector, train_set) -> weights_origin`` of a run's detection table."""
    if detection is None or "weights_origin" not in detection:
        return {}
    return {
        (a, b): str(o) for a, b, o in zip(detection["detector"], detection["train_set"], detection["weights_origin"])
    }


def _weights(detection: pd.DataFrame | None) -> dict[tuple[str, str], tuple[str, bool]]:
    """``(detector, train_set) -> (checkpoint_sha256, submission)`` of a run's detection table."""
    if detection is None:
        return {}
    return {
        (a, b): (str(h), bool(s))
        for a, b, h, s in zip(
            detection["detector"], detection["train_set"], detection["checkpoint_sha256"], detection["submission"]
        )
    }


def _robustness_rows(entries: Sequence[RunEntry]) -> pd.DataFrame:
    """Every run's robustness metrics with facts, weights hash, submission flag, where
    weights trained elsewhere come from, and thin."""
    parts = []
    for k, e in enumerate(entries):
        r = e.data.robustness
        if r is None or r.empty:
            continue
        r = r.copy()
        weights = _weights(e.data.detection)
        r["checkpoint_sha256"] = [weights.get(key, ("", False))[0] for key in zip(r["detector"], r["train_set"])]
        r["submission"] = [weights.get(key, ("", False))[1] for key in zip(r["detector"], r["train_set"])]
        origins = _origins(e.data.detection)
        r["weights_origin"] = [origins.get(key, "") for key in zip(r["detector"], r["train_set"])]
        d = e.data.detection
        elsewhere = {} if d is None else dict(zip(zip(d["detector"], d["train_set"]), d["trained_elsewhere"]))
        r["trained_elsewhere"] = [elsewhere.get(key, "") for key in zip(r["detector"], r["train_set"])]
        per_class = np.minimum(pd.to_numeric(r["n_identities_real"]), pd.to_numeric(r["n_identities_fake"]))
        r["thin"] = (per_class < e.min_identities).astype(bool)  # NaN counts (unknown) compare False
        r["strength_text"] = [
            "clean" if p == "none" else f"{float(s):g}" for p, s in zip(r["perturbation"], r["strength"])
        ]
        parts.append(r.assign(**e.facts(), group=e.group, order=k))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _grouped(rows: pd.DataFrame, entries: Sequence[RunEntry], make) -> list[tuple[str, pd.DataFrame]]:
    """``[(settings group description, display table), ...]``, one per group with rows."""
    if rows.empty:
        return []
    return [
        (group_description(entries, g, set(rows.loc[rows["group"] == g, "run"])), make(rows[rows["group"] == g]))
        for g in dict.fromkeys(e.group for e in entries)
        if (rows["group"] == g).any()
    ]


def _one_or_per_run(entries: Sequence[RunEntry], attr: str) -> str:
    values = {getattr(e, attr) for e in entries}
    return str(values.pop()) if len(values) == 1 else " / ".join(f"{getattr(e, attr)} ({e.label})" for e in entries)


def across_sections(entries: Sequence[RunEntry]) -> list[tuple[str, list[tuple[str, pd.DataFrame]], str]]:
    """The detection sections of the leaderboard, shared by Markdown, HTML and LaTeX.

    Returns:
        ``[(title, [(settings group description, table), ...], note), ...]``: in-domain,
        cross-generator, cross-dataset (one table over every run: its columns are the runs,
        :func:`cross_dataset_display`) and robustness; a section without rows has no table
        (its note says why). Rows are sorted by run (the order given), detector, train set,
        test set.
    """
    d = _detection_rows(entries)
    if not d.empty:
        d = d.sort_values(["order", "detector", "train_set", "test_set"], kind="stable")
    note = DETECTION_NOTE.format(
        n_boot=_one_or_per_run(entries, "n_boot"),
        seed=BOOT_SEED,
        min_identities=_one_or_per_run(entries, "min_identities"),
    )
    in_metrics = (
        ("video_auc", "video AUC"),
        ("frame_auc", "frame AUC"),
        ("video_ap", "video AP"),
        ("video_eer", "video EER"),
        ("video_acc", "video acc. (val thr.)"),
        ("video_log_loss", "video log loss"),
    )
    in_domain = d[d["train_set"] == d["test_set"]] if not d.empty else d
    cross = d[[_is_cross(a, b) for a, b in zip(d["train_set"], d["test_set"])]] if not d.empty else d
    r = _robustness_rows(entries)
    if not r.empty:
        r = r.sort_values(["order", "detector", "train_set"], kind="stable")
    xd = cross_dataset_display(entries)
    sections = [
        (
            "In-domain: trained and tested on the same generator",
            _grouped(in_domain, entries, lambda g: _display(g, in_metrics)),
            f"{note} {MARKS_NOTE}"
            if len(in_domain)
            else "No run has a detector tested on the generator it was trained on.",
        ),
        (
            "Cross-generator: trained on one generator, tested on another",
            _grouped(
                cross,
                entries,
                lambda g: _display(
                    g,
                    (("video_auc", "video AUC"), ("video_ap", "video AP"), ("video_eer", "video EER")),
                    (("test_set", "test set"),),
                ),
            ),
            f"{CROSS_NOTE} {MARKS_NOTE}"
            if len(cross)
            else "No cross-generator result (protocol.cross_generator off, or one generator per run).",
        ),
        (
            "Cross-dataset: trained in one run (dataset), tested on another",
            [] if xd is None else [("every run: each column is a run's test data", xd)],
            CROSS_DATASET_NOTE
            if xd is not None
            else "No cross-dataset result: evaluate a detector of one run on another with "
            "'forgebench evaluate RUN_B --detector RUN_A/detectors/NAME'.",
        ),
        (
            "Robustness to test-time perturbations",
            _grouped(
                r,
                entries,
                lambda g: _display(
                    g,
                    (("video_auc", "video AUC"), ("frame_auc", "frame AUC")),
                    (("perturbation", "perturbation"), ("strength_text", "strength")),
                ),
            ),
            ROBUST_NOTE
            if len(r)
            else "No robustness results in any run (protocol.robustness.enabled off, or not trained yet).",
        ),
    ]
    return sections


def cross_dataset_display(entries: Sequence[RunEntry]) -> pd.DataFrame | None:
    """The cross-dataset table (DeepfakeBench's table shape): one row per detector, the run
    (dataset) it was trained in and its train set; per test run (dataset) the frame and
    video AUC with their people-cluster 95% intervals and the identities / videos / frames
    behind them (:data:`THIN_MARK` when thin, ``‡`` when the test crops' size or margin
    differ from the training run's); ``-`` where a detector was not scored on that run.
    Detectors with published weights (DeepfakeBench's) come last, marked ``(trained
    elsewhere)``, trained on the release's data (``FF++ c23 [DeepfakeBench v1.0.1]``).
    None when no run has a cell (:attr:`RunEntry.cross_dataset`)."""
    label_of = {Path(e.root).name: e.label for e in entries}
    header = {e.label: f"{e.dataset} [{e.label}]" for e in entries}
    cells = [dict(c, test_run=e.label, order=k) for k, e in enumerate(entries) for c in e.cross_dataset]
    if not cells or not any(c["cross"] for c in cells):
        return None
    # detectors trained in a run first, then those with published weights (trained elsewhere), each sorted
    keys = sorted(
        {
            (bool(c.get("trained_elsewhere")), c["detector"], c["train_run"], c["train_dataset"], c["train_set"])
            for c in cells
        }
    )
    runs = [e.label for e in entries if any(c["test_run"] == e.label for c in cells)]
    by = {(c["detector"], c["train_run"], c["train_dataset"], c["train_set"], c["test_run"]): c for c in cells}
    rows = []
    for elsewhere, det, train_run, dataset, train_set in keys:
        row = {
            "detector": f"{det} (trained elsewhere)" if elsewhere else det,
            "trained on (run)": f"{dataset} [{label_of.get(train_run, train_run)}]",
            "train set": train_set,
        }
        for run in runs:
            c = by.get((det, train_run, dataset, train_set, run))
            for level in ("frame", "video"):
                text = (
                    "-"
                    if c is None
                    else _mark(
                        fmt_ci(c[f"{level}_auc"], c[f"{level}_auc_ci_low"], c[f"{level}_auc_ci_high"]), bool(c["thin"])
                    )
                    + (" ‡" if c["crop_differs"] else "")
                )
                row[f"{header[run]}: {level} AUC [95% CI]"] = text
            row[f"{header[run]}: n"] = (
                "-"
                if c is None
                else _n_text(
                    c["n_identities"], c["n_identities_real"], c["n_identities_fake"], c["n_videos"], c["n_frames"]
                )
            )
        rows.append(row)
    return pd.DataFrame(rows)


def _points_display(points: pd.DataFrame, axis: str) -> pd.DataFrame:
    """The figure's points as text cells: facts, generator, quality (header = ``axis``),
    detectability [95% CI] (:data:`THIN_MARK` when thin), detectors, n and status."""
    out = points[list(FACT_COLUMNS)].copy()
    out["generator"] = points["generator"]
    out[f"quality: {axis}"] = [fmt_num(v) for v in points["quality"]]
    out["detectability: mean video AUC [95% CI]"] = [
        _mark(fmt_ci(m, lo, hi), t)
        for m, lo, hi, t in zip(points["mean"], points["ci_low"], points["ci_high"], points["thin"])
    ]
    out["detectors"] = [f"{n}: {d}" if n else "none" for n, d in zip(points["n_detectors"], points["detectors"])]
    out["n"] = [
        _mark(_n_text(n, r, f), t)
        for n, r, f, t in zip(
            points["n_identities"], points["n_identities_real"], points["n_identities_fake"], points["thin"]
        )
    ]
    out["status"] = points["status"]
    return out.reset_index(drop=True)


def _runs_display(entries: Sequence[RunEntry]) -> pd.DataFrame:
    """One row per run: facts, settings group, folder, detector results, config hash, notes."""
    rows = []
    for e in entries:
        prov = e.data.provenance or {}
        d = e.data.detection
        rows.append(
            {
                **e.facts(),
                "settings": e.group,
                "folder": str(e.root),
                "detector results": 0 if d is None else len(d),
                "config hash": str(prov.get("config_hash", "n/a"))[:12],
                "notes": "; ".join(e.notes) or "",
            }
        )
    return pd.DataFrame(rows)


# -- long format --------------------------------------------------------------------------------
def long_table_across(entries: Sequence[RunEntry], points: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every number of every run in long format (``leaderboard.csv``): one row per number.

    Columns: the run's facts ``run`` (label), ``run_name``, ``run_folder``,
    ``settings_group``, ``dataset``, ``compression``, ``crop_size``, ``margin``,
    ``frames_per_video``; ``section`` (quality / in-domain / cross-generator / other /
    robustness / detectability), ``weights_sha256``, ``weights_origin`` (``imagenet:<sha256>``,
    ``none``, ...: where the detector's weights started from), ``submission`` and ``trained_elsewhere``
    (``"DeepfakeBench v1.0.1 (FF++ c23)"`` for published weights) of detection and
    robustness rows; then the columns of :func:`forgebench.leaderboard.tables.long_table`
    (``table, method, detector, train_set, test_set, perturbation, strength, level, metric,
    value, std, ci_low, ci_high, n_identities, n_videos, n_frames, ...``). The points of
    ``points`` (:func:`detectability_table`) are rows of table ``detectability`` (metric
    ``mean_video_auc_over_detectors``, method = the generator).
    """
    parts = []
    for e in entries:
        t = long_table(e.data.quality, e.data.detection, e.data.robustness)
        weights = _weights(e.data.detection)
        keyed = list(zip(t["detector"], t["train_set"]))
        section = [
            "quality" if tb == "quality" else "robustness" if tb == "robustness" else _section_of(a, b)
            for tb, a, b in zip(t["table"], t["train_set"], t["test_set"])
        ]
        facts = {
            "run": e.label,
            "run_name": e.name,
            "run_folder": str(e.root),
            "settings_group": e.group,
            "dataset": e.dataset,
            "compression": e.compression,
            "crop_size": e.crop_size,
            "margin": e.margin,
            "frames_per_video": e.frames_per_video,
        }
        t.insert(0, "section", section)
        for k, (col, value) in enumerate(facts.items()):
            t.insert(k, col, value)
        t["weights_sha256"] = [
            weights.get(key, ("", False))[0] if tb != "quality" else "" for key, tb in zip(keyed, t["table"])
        ]
        t["submission"] = [
            weights.get(key, ("", False))[1] if tb != "quality" else False for key, tb in zip(keyed, t["table"])
        ]
        origins = _origins(e.data.detection)
        t["weights_origin"] = [origins.get(key, "") if tb != "quality" else "" for key, tb in zip(keyed, t["table"])]
        d = e.data.detection
        elsewhere = {} if d is None else dict(zip(zip(d["detector"], d["train_set"]), d["trained_elsewhere"]))
        t["trained_elsewhere"] = [
            elsewhere.get(key, "") if tb != "quality" else "" for key, tb in zip(keyed, t["table"])
        ]
        parts.append(t)
        if points is not None and len(points):
            p = points[points["run"] == e.label]
            parts.append(
                pd.DataFrame(
                    {
                        **facts,
                        "section": "detectability",
                        "table": "detectability",
                        "method": p["generator"].to_numpy(),
                        "detector": p["detectors"].to_numpy(),
                        "train_set": p["generator"].to_numpy(),
                        "test_set": p["generator"].to_numpy(),
                        "level": "video",
                        "metric": "mean_video_auc_over_detectors",
                        "value": p["mean"].to_numpy(),
                        "ci_low": p["ci_low"].to_numpy(),
                        "ci_high": p["ci_high"].to_numpy(),
                        "n_identities": p["n_identities"].to_numpy(),
                        "thin": p["thin"].to_numpy(),
                        "status": p["status"].to_numpy(),
                        "weights_sha256": "",
                        "weights_origin": "",
                        "submission": False,
                        "trained_elsewhere": "",
                    }
                )
            )
    out = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else pd.DataFrame()
    return out.astype(
        {c: "Int64" for c in ("n_identities", "n_videos", "n_frames", "n_real_crops", "n_fake_crops") if c in out}
    )


# -- text -----------------------------------------------------------------------------------------
def _title(entries: Sequence[RunEntry]) -> str:
    return f"forgebench leaderboard across {len(entries)} run{'s' if len(entries) != 1 else ''}"


def _run_notes(entries: Sequence[RunEntry]) -> list[str]:
    return [f"{e.label}: {n}" for e in entries for n in e.notes]


def _table(df: pd.DataFrame) -> Table:
    """A table block, in the compact font when wide (the facts columns make every table wide)."""
    return Table(df, compact=len(df.columns) > 8)


def across_page(entries: Sequence[RunEntry], points: pd.DataFrame, axis: str) -> list[Block]:
    """The leaderboard across runs as page blocks (:mod:`forgebench.leaderboard._page`), shared
    by :func:`format_markdown_across` and :func:`format_html_across`: the runs and their
    settings groups (and the sentence saying how groups differ), then the in-domain,
    cross-generator, cross-dataset and robustness sections, one sub-table per settings group,
    then the quality-against-detectability figure and points, and every run's problems."""
    runs: list[Block] = [_table(_runs_display(entries))]
    sentence = settings_sentence(entries)
    if sentence:
        runs.append(Text(sentence, "strong"))
    notes = _run_notes(entries)
    if notes:
        runs.append(Bullets(notes, intro="Included with a note:"))
    blocks: list[Block] = [Heading(_title(entries), 1), Section("Runs", runs)]
    for title, tables, note in across_sections(entries):
        blocks.append(
            Section(
                title, [*(Section(description, [_table(t)], level=3) for description, t in tables), Text(note, "note")]
            )
        )
    figure = PageFigure(
        f"plots/{FIGURE}",
        "quality against detectability",
        f"{axis} against mean in-domain video AUC over detectors [95% CI]",
        "full",
    )
    blocks.append(
        Section(
            "Quality against detectability",
            [
                figure,
                *(
                    Section(description, [_table(t)], level=3)
                    for description, t in _grouped(points, entries, lambda g: _points_display(g, axis))
                ),
                Text(DETECTABILITY_NOTE.format(axis=axis, seed=BOOT_SEED), "note"),
            ],
        )
    )
    problems = [f"{e.label}: {p}" for e in entries for p in e.data.problems]
    if problems:
        blocks.append(Section("Problems", [Bullets(problems)]))
    return blocks


def format_markdown_across(entries: Sequence[RunEntry], points: pd.DataFrame, axis: str) -> str:
    """The leaderboard across runs as Markdown (``leaderboard.md``): :func:`across_page`
    rendered as Markdown (the figure as an image link)."""
    return render_markdown(across_page(entries, points, axis))


def format_html_across(entries: Sequence[RunEntry], points: pd.DataFrame, axis: str) -> str:
    """The leaderboard across runs as one HTML page (``report.html``): :func:`across_page`,
    the figure by its relative path ``plots/...``."""
    return render_html(
        across_page(entries, points, axis), _title(entries), machine_paths=True
    )  # the runs' folders as given


#: LaTeX special characters of free text (titles, comments). pandas escapes table cells and
#: headers (``to_latex(escape=True)``) but has no public function for other text.
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _latex_text(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text).replace(THIN_MARK, r"\textdagger{}")


def format_latex(entries: Sequence[RunEntry], points: pd.DataFrame, axis: str) -> str:
    """The leaderboard's tables as LaTeX (``leaderboard.tex``) to ``\\input`` in a paper.

    One booktabs ``tabular`` (``\\toprule``/``\\midrule``/``\\bottomrule``, needs
    ``\\usepackage{booktabs}``) per section and settings group, written by
    ``DataFrame.to_latex`` with every special character escaped; each is preceded by a
    bold title line naming the section and the settings group and followed by
    ``\\par\\medskip``; :data:`THIN_MARK` is ``\\textdagger``. The sentence on differing
    settings and the notes are LaTeX comments.
    """
    lines = [f"% {_latex_text(_title(entries))} (forgebench.leaderboard.across); needs \\usepackage{{booktabs}}"]
    sentence = settings_sentence(entries)
    if sentence:
        lines.append(f"% {_latex_text(sentence)}")
    sections = [(title, tables) for title, tables, _ in across_sections(entries)]
    sections.append(
        (
            "Quality against detectability (mean in-domain video AUC over detectors)",
            _grouped(points, entries, lambda g: _points_display(g, axis).drop(columns=["status"])),
        )
    )
    for title, tables in sections:
        lines += ["", f"% -- {_latex_text(title)}"]
        for description, table in tables:
            tex = table.to_latex(index=False, escape=True).replace(THIN_MARK, r"\textdagger{}")
            lines += [
                f"\\noindent\\textbf{{{_latex_text(title)}}} ({_latex_text(description)})\\par",
                tex.rstrip(),
                "\\par\\medskip",
            ]
    lines += ["", f"% {_latex_text(THIN_NOTE)}."]
    return "\n".join(lines) + "\n"


# -- the figure -------------------------------------------------------------------------------------
def _draw_points(ax, pts: pd.DataFrame, colour: str, marker: str, label: str | None, names: bool) -> int:
    ok = pts[np.isfinite(pts["quality"].astype(float)) & np.isfinite(pts["mean"].astype(float))]
    if ok.empty:
        return 0
    low = (ok["mean"] - ok["ci_low"]).clip(lower=0).fillna(0).to_numpy(dtype=float)
    high = (ok["ci_high"] - ok["mean"]).clip(lower=0).fillna(0).to_numpy(dtype=float)
    ax.errorbar(
        ok["quality"], ok["mean"], yerr=[low, high], fmt=marker, color=colour, capsize=3, label=label, markersize=7
    )
    if names:
        for x, y, g in zip(ok["quality"], ok["mean"], ok["generator"]):
            ax.annotate(str(g), (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7)
    return len(ok)


def plot_quality_vs_detectability(
    points: pd.DataFrame, axis: str, path: Path, runs: Sequence[tuple[str, str]] | None = None
) -> Path:
    """Quality against detectability: one panel per run and one with every run together.

    Args:
        points: :func:`detectability_table` rows (``run``, ``group``, ``generator``,
            ``quality``, ``mean``, ``ci_low``, ``ci_high``); points without a finite
            quality or mean are not drawn (the panel says how many).
        axis: the quality axis label (the metric and its direction).
        path: output PNG.
        runs: ``(run label, settings group)`` in panel order (default: as in ``points``).

    Returns:
        ``path``.
    """
    runs = list(runs) if runs is not None else list(dict.fromkeys(zip(points["run"], points["group"])))
    n = len(runs) + 1
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(5.0 * cols, 4.2 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    style = {run: (f"C{k % 10}", _MARKERS[k % len(_MARKERS)]) for k, (run, _) in enumerate(runs)}
    panels = [(f"{run} (settings {group})", [(run, group)]) for run, group in runs] + [("all runs", runs)]
    for ax, (title, members) in zip(axes, panels):
        drawn = 0
        for run, group in members:
            colour, marker = style[run]
            pts = points[points["run"] == run]
            drawn += _draw_points(ax, pts, colour, marker, f"{run} ({group})" if len(members) > 1 else None, names=True)
        total = int(points["run"].isin([r for r, _ in members]).sum())
        if drawn < total:
            ax.text(
                0.02,
                0.98,
                f"{total - drawn} of {total} generator(s) not drawn: no quality value or no in-domain detector",
                transform=ax.transAxes,
                fontsize=7,
                color="0.35",
                va="top",
            )
        ax.axhline(0.5, color="0.6", linestyle="--", linewidth=1)
        ax.set_ylim(-0.02, 1.02)
        ax.margins(x=0.2)  # room for the generator names
        ax.set_xlabel(axis, fontsize=8)
        ax.set_ylabel("detectability: mean in-domain video AUC")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        if len(members) > 1 and drawn:
            ax.legend(loc="best", fontsize=7)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(
        "Quality against detectability per generator (error bars: 95% identity-bootstrap CI of the mean over detectors)",
        fontsize=10,
    )
    fig.tight_layout()
    return save_figure(fig, path)


# -- the verb --------------------------------------------------------------------------------------
def write_outputs(entries: Sequence[RunEntry], out: Path) -> str:
    """Write the leaderboard across ``entries`` into ``out`` (created): ``leaderboard.md``
    (:func:`format_markdown_across`), ``leaderboard.csv`` (:func:`long_table_across`),
    ``report.html`` (:func:`format_html_across`), ``leaderboard.tex``
    (:func:`format_latex`) and ``plots/quality_vs_detectability.png``
    (:func:`plot_quality_vs_detectability`), each atomically; returns the Markdown text.
    The runs are gathered by :func:`forgebench.publish.write_across`."""
    points, _, axis = detectability_table(entries)
    out = Path(out)
    plot_quality_vs_detectability(points, axis, out / "plots" / FIGURE, runs=[(e.label, e.group) for e in entries])
    markdown = format_markdown_across(entries, points, axis)
    write_text(out / "leaderboard.md", markdown)
    write_csv(out / "leaderboard.csv", long_table_across(entries, points))
    write_text(out / "report.html", format_html_across(entries, points, axis))
    write_text(out / "leaderboard.tex", format_latex(entries, points, axis))
    return markdown
