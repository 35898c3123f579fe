"""The leaderboard of one run as a page: ``leaderboard.md`` and ``report.html``.

The page is described once (:func:`report_page`, blocks of :mod:`forgebench.leaderboard._page`)
and rendered as Markdown (:func:`format_markdown`) and as a self-contained HTML page
(:func:`format_html`) that fits a 1400-px screen. In reading order:

1. the opening: run facts, the thin-evidence sentence
   (:func:`forgebench.leaderboard.protocols.thin_summary`);
2. the summary: what ran (videos, identities, fakes per generator, detectors, seeds), the
   identity check and the headline, every detector's cross-generator video AUC
   [95% CI or not estimable] as one shaded matrix (:func:`~forgebench.leaderboard.protocols.auc_matrix`);
3. the figures: robustness curves, ROC curves, reliability diagrams, quality against
   detectability, sample grids;
4. the tables, compact: a metric that no generator or detector has is not a column but one
   line saying why (one line per reason, :func:`unavailable_notes`, without machine paths),
   a seed spread or a real/fake split is a tooltip in HTML; the per-detector matrices, the
   paired comparisons and every result (also in ``leaderboard.csv``) are collapsed
   ``<details>`` in HTML;
5. problems, then (HTML) package versions and weights files.

Pure formatting of a :class:`ReportData` that the report stage
(:mod:`forgebench.stages.report`) gathers from the run directory; a stage that has not run
yet (no quality metrics, no detectors) is a message in the report, not an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from forgebench.leaderboard._notes import (
    COMPARISON_NOTE,
    CROSS_NOTE,
    DEPLOYMENT_NOTE,
    DETECTION_NOTE,
    HEATMAP_NOTE,
    QUALITY_NOTE,
    QUALITY_VS_AUC_NOTE,
    RECON_NOTE,
    ROBUST_NOTE,
    THIN_MARK,
    WEIGHTS_DOC,
)
from forgebench.leaderboard._page import (
    Block,
    Bullets,
    Cell,
    Figure,
    Gallery,
    Heading,
    Only,
    Section,
    Table,
    Text,
    render_html,
    render_markdown,
    strip_paths,
)
from forgebench.leaderboard.protocols import (
    auc_matrix,
    comparison_display,
    cross_generator_matrices,
    deployment_display,
    detection_display,
    detector_labels,
    fmt_n,
    fmt_num,
    in_domain_display,
    robustness_display,
    thin_summary,
)
from forgebench.metrics.bootstrap import BOOT_SEED, N_BOOT
from forgebench.metrics.declared import QUALITY

__all__ = [
    "LABELS",
    "SCALE",
    "QUALITY_NOTE",
    "RECON_NOTE",
    "ReportData",
    "Figures",
    "generators_display",
    "quality_display",
    "reconstruction_display",
    "unavailable_notes",
    "report_page",
    "format_markdown",
    "format_html",
    "why_empty",
]

#: Report labels of the quality columns, from their declarations (:data:`forgebench.metrics.declared.QUALITY`).
LABELS = {d.name: d.label for d in QUALITY}
#: Display factors (the stored value is in the metric's units; the label says the factor).
SCALE = {"warp_error": 1e3, "warp_error_real": 1e3}
#: Columns whose empty cells take the reason of a set-level row (the same identity model).
REASON_FROM = {"id_sim_source": "id_retrieval", "id_sim_target": "id_retrieval", "id_sim_driving": "id_retrieval"}
#: Pixel comparisons, not made for generators whose frame t does not replace target frame t.
PIXEL_METRICS = tuple(d.name for d in QUALITY if "pixels" in d.needs and d.name != "boundary")  # boundary: its own note
#: Tables with more columns than this use the compact font in HTML.
COMPACT_COLUMNS = 8


# -- quality ---------------------------------------------------------------------------------------
def _quality_cells(q: pd.DataFrame) -> dict[str, list[str]]:
    """Metric label -> one text cell per generator (the rows of ``q``): mean ± std [95%
    interval of the mean, when estimable] scaled by :data:`SCALE` (with the videos / frames
    behind it when fewer than the generator's), a set-level value with the crops or frames
    behind it, or ``unavailable: <reason>``."""
    cells: dict[str, list[str]] = {}
    for m in q.attrs.get("quality_metrics", []):
        column = []
        k = SCALE.get(m, 1.0)
        for _, r in q.iterrows():
            n = r[f"{m}_n_videos"]
            if not n:
                column.append(why_empty(m, r))
                continue
            text = fmt_num(r[f"{m}_mean"] * k) + ("" if pd.isna(r[f"{m}_std"]) else f" ± {r[f'{m}_std'] * k:.3f}")
            if f"{m}_ci_low" in r and not pd.isna(r[f"{m}_ci_low"]):
                text += f" [{r[f'{m}_ci_low'] * k:.3f}, {r[f'{m}_ci_high'] * k:.3f}]"
            column.append(text if n == r["n_videos"] else f"{text} ({fmt_n(n, r[f'{m}_n_frames'])})")
        cells[LABELS.get(m, m)] = column
    for m in q.attrs.get("set_metrics", []):
        if not m.startswith("recon_"):
            unit = "frames" if m.startswith("id_retrieval") else "crops"
            cells[LABELS.get(m, m)] = [
                v if isinstance(v, str) else f"{v:.3f} (n={r} real / {f} fake {unit})"
                for v, r, f in zip(q[m], q[f"{m}_n_real"], q[f"{m}_n_fake"])
            ]
    return cells


def generators_display(q: pd.DataFrame) -> pd.DataFrame:
    """One row per generator of a quality table (:func:`forgebench.leaderboard.tables.quality_table`):
    how its networks ran (eval mode), the fake videos / frames scored, the landmark model
    and what its fakes are compared with."""
    return pd.DataFrame(
        {
            "generator": q["method"],
            "eval mode": q.get("eval_mode", "n/a"),
            "n": [fmt_n(v, f) for v, f in zip(q["n_videos"], q["n_frames"])],
            "landmarks": q.get("landmark_model", "n/a"),
            "compared with": q.get("reference", ""),
        }
    )


def quality_display(q: pd.DataFrame) -> pd.DataFrame:
    """The quality metrics as text cells, one row per metric and one column per generator
    (a run has few generators and many metrics: the table stays narrow).

    A metric unavailable for every generator is not a row; a cell unavailable for one
    generator reads ``unavailable [k]``. The lines saying why (:func:`unavailable_notes`)
    are in ``attrs["notes"]``.
    """
    kept, notes = unavailable_notes(_quality_cells(q), "generator")
    out = pd.DataFrame({"metric": list(kept)})
    for i, gen in enumerate(q["method"].astype(str)):
        out[gen] = [cells[i] for cells in kept.values()]
    out.attrs["notes"] = notes
    return out


def why_empty(metric: str, row: pd.Series) -> str:
    """The ``unavailable: <reason>`` text of a per-video metric without a finite value.

    Args:
        metric: a column of the quality table (``ssim``, ``boundary``, ``id_sim_source``, ...).
        row: that generator's row of the quality table (``method``, ``reference`` and the
            ``*_status`` columns the reasons are read from).

    Returns:
        ``"unavailable: ..."``: not applicable to the generator, weights missing, or no
        finite value in ``quality.parquet``.
    """
    if metric in PIXEL_METRICS and str(row.get("reference", "")).startswith("no pixel comparison"):
        return "unavailable: no pixel comparison for this generator (its frame t does not replace target frame t)"
    not_applicable = re.search(
        rf"(?:^|; ){re.escape(metric)}: not applicable \(([^)]*)\)", str(row.get("reference", ""))
    )
    if not_applicable:  # e.g. fomm's boundary: "boundary: not applicable (it animates one still frame, ...)"
        return f"unavailable: not applicable to {row.get('method', 'this generator')}: {not_applicable.group(1)}"
    if metric.startswith("id_sim_source") and "identity: the target" in str(row.get("reference", "")):
        return "unavailable: not applicable, a reenactment has no source identity"
    if metric.startswith("id_sim_driving") and "identity: the source" in str(row.get("reference", "")):
        return "unavailable: not applicable, a face swap has no driving identity"
    source = REASON_FROM.get(metric)
    if source and isinstance(row.get(source), str):
        return row[source]
    return "unavailable: no finite value in quality.parquet"


def reconstruction_display(q: pd.DataFrame) -> pd.DataFrame | None:
    """The reconstruction / self-reenactment metrics (``recon_*`` rows of
    ``quality_sets.parquet``) as text cells, one row per generator that has them; None
    when no generator has. A metric no generator has is not a column; the lines saying
    why (:func:`unavailable_notes`) are in ``attrs["notes"]``."""
    metrics = [m for m in q.attrs.get("set_metrics", []) if m.startswith("recon_")]
    if not metrics:
        return None
    r = q[[not (isinstance(v, str) and "no 'recon_l1' row" in v) for v in q["recon_l1"]]].reset_index(drop=True)
    kept, notes = unavailable_notes({LABELS.get(m, m): [fmt_num(v) for v in r[m]] for m in metrics}, "generator")
    out = pd.DataFrame(
        {
            "generator": r["method"],
            "eval mode": r.get("eval_mode", "n/a"),
            "n": [f"n={int(n)} frames" for n in r["recon_l1_n_fake"]],
            **kept,
        }
    )
    out.attrs["notes"] = notes
    return out


#: A weights file missing from the cache (:func:`forgebench.weights.resolve_weights`).
_MISSING_WEIGHTS = re.compile(r"^(?P<item>[\w.+-]+) not found in the torch hub cache\b")
#: An override variable pointing at no file.
_BAD_OVERRIDE = re.compile(r"^(?P<item>FORGEBENCH_WEIGHTS_\w+)=.* is not a file")
#: A weights file with another hash than the registry's.
_BAD_HASH = re.compile(r"SHA-256 \w+ does not match the expected \w+ of (?P<item>[\w.+-]+)")
_REASONS = (
    (_MISSING_WEIGHTS, f"weights file not found, nothing is downloaded (see {WEIGHTS_DOC})"),
    (_BAD_OVERRIDE, f"the weights override variable names no file (see {WEIGHTS_DOC})"),
    (_BAD_HASH, f"weights file with another SHA-256 than expected, not used (see {WEIGHTS_DOC})"),
)


def _reason(text: str) -> tuple[str, str]:
    """``(reason, item)`` of an ``unavailable: <reason>`` text: the weights reasons become
    one reason with the file (or variable) as the item, so the metrics that miss any
    weights file share a line; other reasons are kept, machine paths cut to file names."""
    reason = text.split(":", 1)[1].strip() if ":" in text else "no reason stored"
    for pattern, short in _REASONS:
        match = pattern.search(reason)
        if match:
            return short, match.group("item")
    return strip_paths(reason), ""


def unavailable_notes(cells: dict[str, list], subject: str) -> tuple[dict[str, list], list[str]]:
    """Say once what is unavailable in a table of metrics.

    Args:
        cells: metric label -> its cells, one per ``subject`` (a generator); a cell is
            unavailable when it is text starting with ``unavailable``.
        subject: what a cell belongs to, for the sentence (``"generator"``).

    Returns:
        ``(kept, notes)``: ``kept`` = the metrics with at least one value, their unavailable
        cells replaced by ``unavailable [k]``; ``notes`` = ``"Not shown, unavailable for every
        <subject>: A, B."`` (when a metric was dropped), then one line per reason,
        ``"[k] A, B: unavailable: <reason>"`` naming every metric it concerns (weights files
        by name, no machine paths).
    """
    reasons: dict[str, tuple[list[str], list[str]]] = {}
    kept: dict[str, list] = {}
    dropped = []
    for label, column in cells.items():
        out, available = [], False
        for v in column:
            if isinstance(v, str) and v.startswith("unavailable"):
                reason, item = _reason(v)
                labels, items = reasons.setdefault(reason, ([], []))
                labels.extend([label] if label not in labels else [])
                items.extend([item] if item and item not in items else [])
                v = f"unavailable [{list(reasons).index(reason) + 1}]"
            else:
                available = True
            out.append(v)
        if available:
            kept[label] = out
        else:
            dropped.append(label)
    notes = [f"Not shown, unavailable for every {subject}: {', '.join(dropped)}."] if dropped else []
    notes += [
        f"[{k}] {', '.join(labels)}: unavailable: {reason}" + (f": {', '.join(items)}" if items else "")
        for k, (reason, (labels, items)) in enumerate(reasons.items(), 1)
    ]
    return kept, notes


# -- what the page shows ----------------------------------------------------------------------
@dataclass
class ReportData:
    """What the leaderboard shows, gathered once from a run directory by the report stage.

    Attributes:
        name: the run's name (``config.yaml`` ``name``).
        folder: the run directory's folder name.
        provenance: ``provenance.json`` ({} when absent).
        inputs: what went in, one line each (real videos and identities per split, fake
            videos with faces per generator); [] when the faces stage has not run.
        quality: :func:`forgebench.leaderboard.tables.quality_table`, or None with
            ``quality_msg`` saying why.
        detection: :func:`forgebench.leaderboard.tables.detection_table`, or None with
            ``detection_msg``.
        robustness: the stored robustness metrics (:data:`forgebench.schemas.ROBUSTNESS_METRICS`).
        n_boot: bootstrap resamples behind the intervals.
        identity_check: the identity check's one-line summary (``faces/identity_check.json``,
            :func:`forgebench.identities.summary_line`), or None when it has not run.
        comparisons: the stored paired comparisons (``comparisons/*.json``,
            :func:`forgebench.compare.compare_detectors`), in file-name order.
        problems: messages listed at the end (paths relative to the run directory).
    """

    name: str
    folder: str
    provenance: dict = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    quality: pd.DataFrame | None = None
    quality_msg: str | None = None
    detection: pd.DataFrame | None = None
    detection_msg: str | None = None
    robustness: pd.DataFrame | None = None
    n_boot: int = N_BOOT
    identity_check: str | None = None
    comparisons: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class Figures:
    """File names (in ``plots/``) of the figures drawn for the page: ROC curves and
    reliability diagrams by detector, sample grids by generator, the robustness curves and
    quality against detectability (None when not drawn, with ``quality_vs_auc_axis`` the
    quality axis of the latter)."""

    roc: dict[str, str] = field(default_factory=dict)
    reliability: dict[str, str] = field(default_factory=dict)
    samples: dict[str, str] = field(default_factory=dict)
    robustness: str | None = None
    quality_vs_auc: str | None = None
    quality_vs_auc_axis: str = ""


def _is_empty(x) -> bool:
    """A cell that says nothing: ``n/a``, empty, ``not run``."""
    text = x.text if isinstance(x, Cell) else "" if x is None or (isinstance(x, float) and pd.isna(x)) else str(x)
    return text.strip() in ("", "n/a", "not run")


#: Where the reason of an empty detection cell is written.
WHY_IN_CSV = " (leaderboard.csv's status column says why)"


def _compact(df: pd.DataFrame, caption: str = "", notes: list[str] | None = None, why: str = "") -> Table:
    """A :class:`~forgebench.leaderboard._page.Table` of ``df`` without its columns that are
    empty in every row (:func:`_is_empty`; a line under the table names them, followed by
    ``why``), in the compact font when still wide."""
    empty = [c for c in df.columns if len(df) and all(_is_empty(x) for x in df[c])]
    notes = list(notes or [])
    if empty:
        notes.append(f"Not shown, n/a in every row: {', '.join(empty)}{why}.")
    shown = df.drop(columns=empty)
    return Table(shown, notes, compact=len(shown.columns) > COMPACT_COLUMNS, caption=caption)


def _opening(run: ReportData) -> list[Block]:
    prov = run.provenance or {}
    facts = [f"run directory `{run.folder}`"]
    if prov.get("config_hash"):
        facts.append(f"config hash `{str(prov['config_hash'])[:12]}`")
    if prov.get("seed") is not None:
        facts.append(f"seed {prov['seed']}")
    if prov.get("git_commit"):
        facts.append(f"commit `{prov['git_commit']}`")
    if not run.provenance:
        facts.append("no provenance.json")
    blocks: list[Block] = [Text("; ".join(facts) + ".")]
    thin = thin_summary(run.detection)
    return blocks + ([Text(thin, "strong")] if thin else [])


def _what_ran(run: ReportData) -> list[str]:
    """The summary's lines on what ran: the inputs, then detectors, train sets and seeds."""
    lines = list(run.inputs)
    d = run.detection
    if d is not None and not d.empty:
        dets = ", ".join(dict.fromkeys(detector_labels(d.sort_values("detector", kind="stable"))))
        sets = ", ".join(sorted(set(d["train_set"]), key=lambda s: (s != "all", s)))
        seeds = sorted({s.strip() for text in d["seeds"].astype(str) for s in text.split(",") if s.strip()}, key=str)
        n_seeds = int(d["n_seeds"].max())
        seed_text = (
            f"{n_seeds} training seeds ({', '.join(seeds)}), every result the mean over them"
            if n_seeds > 1
            else f"one training seed ({', '.join(seeds) or 'n/a'})"
        )
        lines.append(
            f"detectors: {dets}; train sets: {sets}; {seed_text}; {len(d)} results (detector x train set x test set)"
        )
    return lines


def _summary(run: ReportData) -> Section:
    blocks: list[Block] = []
    lines = _what_ran(run)
    if lines:
        blocks.append(Bullets(lines, intro="What ran:"))
    if run.identity_check:
        blocks.append(Text(f"{run.identity_check} (faces/identity_check.json)."))
    d = run.detection
    if d is None or d.empty:
        blocks.append(Text(run.detection_msg or "No detector results.", "msg"))
    else:
        blocks += [
            Table(
                auc_matrix(d),
                compact=False,
                caption="Headline: video AUC [95% CI] by train set (rows) and test set (columns)",
            ),
            Text(HEATMAP_NOTE, "note"),
        ]
    return Section("Summary", blocks, anchor="summary")


def _figures(figures: Figures) -> Section:
    """Robustness curves, ROC curves next to reliability diagrams per detector, quality
    against detectability and the sample grids, each a titled part (a message where none
    was drawn)."""
    parts: list[Block] = []
    if figures.robustness:
        parts.append(
            Section(
                "Robustness to test-time perturbations",
                [
                    Figure(
                        f"plots/{figures.robustness}",
                        "robustness curves",
                        "Video AUC against perturbation strength, per detector (band: 95% interval; dotted: clean)",
                        "wide",
                    )
                ],
                level=3,
            )
        )
    if figures.roc:
        pairs = [
            Figure(f"plots/{f}", f"{kind} of {det}", f"{kind} of {det}")
            for det in figures.roc
            for kind, f in (("ROC curves", figures.roc[det]), ("reliability diagram", figures.reliability.get(det)))
            if f
        ]
        parts.append(Section("ROC curves and reliability diagrams (in-domain, test split)", [Gallery(pairs)], level=3))
    else:
        parts.append(
            Text(
                "No ROC curves: no detector of this run was tested on the fakes it was trained on (detectors of "
                "other runs and submissions are in the tables).",
                "msg",
            )
        )
    if figures.quality_vs_auc:
        parts.append(
            Section(
                "Quality against detectability",
                [
                    Gallery(
                        [
                            Figure(
                                f"plots/{figures.quality_vs_auc}",
                                "quality against detectability per generator",
                                f"{figures.quality_vs_auc_axis} against in-domain video AUC",
                            )
                        ]
                    ),
                    Text(QUALITY_VS_AUC_NOTE.format(axis=figures.quality_vs_auc_axis), "note"),
                ],
                level=3,
            )
        )
    if figures.samples:
        parts.append(
            Section(
                "Samples: fake crop (left) next to the real target crop (right)",
                [Gallery([Figure(f"plots/{f}", f"samples of {gen}", gen) for gen, f in figures.samples.items()])],
                level=3,
            )
        )
    else:
        parts.append(Text("No sample grids: no fake videos with face crops.", "msg"))
    return Section("Figures", parts, anchor="figures")


def _quality(run: ReportData) -> Section:
    if run.quality is None:
        return Section(
            "Quality of the fakes (per generator)",
            [Text(run.quality_msg or "No quality table.", "msg")],
            anchor="quality",
        )
    q = run.quality
    table = quality_display(q)
    blocks: list[Block] = [
        Table(generators_display(q), caption="Generators: what their fakes are compared with"),
        Table(
            table,
            table.attrs["notes"],
            compact=len(table.columns) > COMPACT_COLUMNS,
            caption="Quality metrics (rows) of each generator's fakes (columns)",
        ),
        Text(QUALITY_NOTE, "note"),
    ]
    recon = reconstruction_display(q)
    if recon is not None:
        blocks.append(
            Section(
                "Reconstruction / self-reenactment (held-out frames)",
                [_compact(recon, notes=recon.attrs["notes"]), Text(RECON_NOTE, "note")],
                level=3,
            )
        )
    return Section("Quality of the fakes (per generator)", blocks, anchor="quality")


def _detection(run: ReportData) -> Section:
    d = run.detection
    if d is None or d.empty:
        return Section(
            "Detection (test split)", [Text(run.detection_msg or "No detector results.", "msg")], anchor="detection"
        )
    min_ids = int(d["min_identities"].max())
    note = DETECTION_NOTE.format(n_boot=run.n_boot, seed=BOOT_SEED, min_identities=min_ids)
    parts: list[Block] = []
    in_domain = in_domain_display(d)
    parts.append(
        Section(
            "In-domain: trained and tested on the same generator",
            [_compact(in_domain, why=WHY_IN_CSV), Text(note, "note")]
            if len(in_domain)
            else [Text("No detector was tested on the generator it was trained on.", "msg")],
            level=3,
        )
    )
    deployment = deployment_display(d)
    if len(deployment):
        parts.append(
            Section(
                "Deployment: TPR at low FPR and calibration (in-domain)",
                [_compact(deployment, why=WHY_IN_CSV), Text(DEPLOYMENT_NOTE, "note")],
                level=3,
            )
        )
    r = run.robustness
    if r is not None and not r.empty and (r["perturbation"] != "none").any():
        labels = dict(zip(zip(d["detector"], d["train_set"]), detector_labels(d)))
        parts.append(
            Section(
                "Robustness to test-time perturbations (plots/robustness.png)",
                [_compact(robustness_display(r, min_ids, labels)), Text(ROBUST_NOTE, "note")],
                level=3,
            )
        )
    else:
        parts.append(
            Section(
                "Robustness to test-time perturbations",
                [
                    Text(
                        "No robustness results (protocol.robustness.enabled is off, or 'forgebench train' has not run).",
                        "msg",
                    )
                ],
                level=3,
            )
        )
    matrices = cross_generator_matrices(d)
    parts.append(
        Section(
            "Cross-generator matrices, one per detector",
            level=3,
            collapsed=True,
            anchor="cross-generator",
            summary=f"{len(matrices)} detector(s): the summary's matrix with the identities / videos / frames behind each cell",
            blocks=[
                *(
                    Section(f"Cross-generator matrix: {det} (video AUC [95% CI])", [_compact(m)], level=4)
                    for det, m in matrices.items()
                ),
                Text(CROSS_NOTE, "note"),
            ],
        )
    )
    if run.comparisons:
        table = comparison_display(run.comparisons)
        parts.append(
            Section(
                "Paired comparisons: is A better than B on the same test set?",
                [_compact(table), Text(COMPARISON_NOTE, "note")],
                level=3,
                collapsed=True,
                anchor="comparisons",
                summary=f"{len(run.comparisons)} comparison(s), {len(table)} rows",
            )
        )
    every = [
        _compact(detection_display(d, (level,)), caption=f"{level} level", why=WHY_IN_CSV)
        for level in ("video", "frame")
    ]
    parts.append(
        Section(
            "Every result (frame and video level)",
            level=3,
            collapsed=True,
            anchor="every-result",
            summary=f"{len(d)} results (detector x train set x test set), every metric at video and frame level; every number "
            "is also in leaderboard.csv (long format, one row per number)",
            blocks=[*every, Text(f"[95% CI], (k seeds: lo–hi), n and {THIN_MARK}: as in the in-domain table.", "note")],
        )
    )
    return Section("Detection (test split)", parts, anchor="detection")


def _provenance(run: ReportData) -> list[Block]:
    """Package versions and weights files of ``provenance.json`` (HTML only, collapsed)."""
    prov = run.provenance or {}
    blocks: list[Block] = []
    packages = prov.get("packages") or {}
    if packages:
        blocks.append(
            Table(
                pd.DataFrame({"package": list(packages), "version": [str(v) for v in packages.values()]}),
                caption="Package versions",
            )
        )
    weights = [{k: v for k, v in w.items() if k != "path"} for w in prov.get("weights") or [] if isinstance(w, dict)]
    if weights:  # the file's name and hash say which weights; where they lay on the machine does not
        blocks.append(Table(pd.DataFrame(weights).astype(str), caption="Weights files (SHA-256)"))
    if not blocks:
        return []
    return [
        Only(
            "html",
            [
                Section(
                    "Versions and weights files",
                    blocks,
                    collapsed=True,
                    anchor="provenance",
                    summary="from provenance.json",
                )
            ],
        )
    ]


def report_page(run: ReportData, figures: Figures | None = None) -> list[Block]:
    """The run's leaderboard page as blocks (module docstring for the order), rendered by
    :func:`format_markdown` and :func:`format_html`.

    Args:
        run: what the page shows.
        figures: the figures drawn (file names in ``plots/``); None leaves the figures
            section out (nothing was drawn).

    Returns:
        the page's blocks (:mod:`forgebench.leaderboard._page`).
    """
    blocks: list[Block] = [Heading(f"forgebench leaderboard: {run.name}", 1), *_opening(run), _summary(run)]
    if figures is not None:
        blocks.append(_figures(figures))
    blocks += [_quality(run), _detection(run)]
    if run.problems:
        blocks.append(Section("Problems", [Bullets(list(run.problems))], anchor="problems"))
    return blocks + _provenance(run)


def format_markdown(run: ReportData, figures: Figures | None = None) -> str:
    """The leaderboard as Markdown text (the content of ``leaderboard.md``): :func:`report_page`
    rendered as Markdown (figures as image links, collapsed sections as plain sections).

    Opens with :func:`forgebench.leaderboard.protocols.thin_summary` when detection cells
    rest on too few identities; every number with its 95% interval and the identities /
    videos / frames behind it, 3 decimals.
    """
    return render_markdown(report_page(run, figures))


def format_html(run: ReportData, figures: Figures) -> str:
    """The leaderboard as a self-contained HTML page (``report.html``): :func:`report_page`
    with the figures of ``figures`` by relative ``plots/`` paths, fitting a 1400-px screen
    (:mod:`forgebench.leaderboard._page`), and the package versions and weights files of
    ``provenance.json``; no machine path (an absolute path is cut to its file name)."""
    return render_html(report_page(run, figures), f"forgebench leaderboard: {run.name}")
