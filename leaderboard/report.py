"""The leaderboard as text: Markdown (``leaderboard.md``) and a self-contained HTML page
(``report.html``) of a run's quality and detection tables.

Pure formatting of a :class:`ReportData` that the report stage
(:mod:`forgebench.stages.report`) gathers from the run directory; a stage that has not run
yet (no quality metrics, no detectors) is a message in the report, not an error.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

import pandas as pd

from forgebench.leaderboard.protocols import detection_sections, fmt_n, fmt_num, thin_summary
from forgebench.metrics.declared import QUALITY
from forgebench.metrics.detection import N_BOOT

#: Report labels of the quality columns, from their declarations (:data:`forgebench.metrics.declared.QUALITY`).
LABELS = {d.name: d.label for d in QUALITY}
#: Display factors (the stored value is in the metric's units; the label says the factor).
SCALE = {"warp_error": 1e3, "warp_error_real": 1e3}
#: Columns whose empty cells take the reason of a set-level row (the same identity model).
REASON_FROM = {"id_sim_source": "id_retrieval", "id_sim_target": "id_retrieval", "id_sim_driving": "id_retrieval"}
#: Pixel comparisons, not made for generators whose frame t does not replace target frame t.
PIXEL_METRICS = tuple(d.name for d in QUALITY if "pixels" in d.needs and d.name != "boundary")  # boundary: its own note
QUALITY_NOTE = (
    "Mean ± std over the generator's fake videos [95% interval of the mean: cluster bootstrap over connected groups of "
    "people, every person linked through a fake in one group, as the detection intervals; omitted when fewer than two "
    "groups]; every fake is compared with the target's re-encoded real video (the one "
    "the detectors see), frame t with frame t, on aligned crops, inside the face mask (hull of the target's landmarks); "
    "'compared with' says what each generator's fakes are measured against. "
    "SSIM (Wang et al. 2004, scikit-image; [0, 1], higher = closer), PSNR (dB, higher = closer), LPIPS (Zhang et al. 2018, "
    "AlexNet; lower = closer). ID sim.: cosine similarity ([-1, 1], higher = more alike) of the fake face's identity "
    "embedding to the mean of the source's / target's / driving identity's real faces; ArcFace = insightface IResNet-100 "
    "trained on Glint360K (the metric of FaceShifter and SimSwap), dlib = dlib's 128-d ResNet descriptor (not comparable with "
    "published numbers). ID retrieval: share of all fake frames whose nearest real face frame (among every frame of every "
    "identity, FaceShifter's protocol) shows the identity the fake should show (swap: source; reenactment: target); higher = "
    "identity kept. Landmarks are compared with what the fake should match, one landmark model on both sides ('landmarks' "
    "names it: FAN = face-alignment, the FOMM paper's, when its weights are there; else dlib): a swap with the target frame's "
    "(a swap keeps the target's expression), a reenactment with the driving landmarks it was drawn to. Landmark dist.: mean "
    "68-landmark Euclidean error / inter-ocular distance (300-W NME). AKD (Siarohin et al. 2019, FOMM's cmp_kp.py): mean "
    "absolute coordinate difference over the 68 points and x, y, in pixels of the aligned crop (faces.crop_size), and / "
    "inter-ocular distance; lower = expression or motion followed. Boundary: gradient energy in a band across the "
    "blending-mask boundary of the fake over the same band of the real frame it replaced (the cue of Face X-ray, Li et al. "
    "2020); 1 = as smooth as real, above 1 = a visible seam a detector can use; not applicable where the fake replaces no "
    "target frame (fomm). Warp error (Lai et al. 2018): mean squared RGB difference ([0, 1] units, shown ×10³) inside the "
    "face between frame t and frame t + 1 warped back with the video's own optical flow (OpenCV Farnebäck), non-occluded "
    "pixels, for the fake on its own frames and ('real') for the real target video on its own; lower = steadier, the gap is "
    "the flicker the forgery adds; motion that is smooth but wrong is not caught by it (AKD is). FID (Heusel et al. 2017, "
    "pytorch-fid) and Fréchet (dlib): set-level, real vs fake crops (lower = closer; FID is biased upwards for few crops). "
    "KID (Bińkowski et al. 2018): unbiased squared MMD of the same Inception features, cubic polynomial kernel, mean over random subsets (lower "
    "= closer, about 0 for alike sets). eval mode: how the generator's networks ran when converting (train = dropout and "
    "batch statistics on, as pix2pix's paper). Definitions: docs/metrics.md.")
RECON_NOTE = ("Held-out frames of each identity's own video re-rendered from their own driving signal (pix2pix_reenact: the "
              "frame's landmarks, frames held out of training; fomm: the video's first frame animated by the frame), compared "
              "with the real aligned crop. L1: mean absolute error, pixels in [0, 1] (lower = closer). AKD (FOMM's cmp_kp.py): "
              "mean absolute coordinate difference of the generated and the real crop's 68 landmarks, one landmark model on "
              "both (FAN when its weights are there, else dlib), pixels at the crop size and / inter-ocular distance (lower = "
              "closer). AED (FOMM): Euclidean distance of unit-norm ArcFace embeddings, in [0, 2], and of dlib descriptors (same person below 0.6); lower = identity kept. MKR: share with no face found (lower = "
              "better).")
CSS = ("body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;margin:1em 0;"
       "font-size:13px}td,th{border:1px solid #bbb;padding:3px 7px;text-align:left}th{background:#eee}"
       ".msg{color:#a40}figure{display:inline-block;margin:1em}img{max-width:100%}")


def quality_display(q: pd.DataFrame) -> pd.DataFrame:
    """The quality table as text cells (one row per generator) for Markdown / HTML: the
    landmark model, what the fakes are compared with, every per-video metric (mean ± std
    [95% interval of the mean over groups of people, when estimable], scaled by
    :data:`SCALE`) and every set-level metric; an empty cell says why."""
    out = pd.DataFrame({"generator": q["method"], "eval mode": q.get("eval_mode", "n/a"),
                        "n": [fmt_n(v, f) for v, f in zip(q["n_videos"], q["n_frames"])],
                        "landmarks": q.get("landmark_model", "n/a")})
    for m in q.attrs.get("quality_metrics", []):
        cells = []
        k = SCALE.get(m, 1.0)
        for _, r in q.iterrows():
            n = r[f"{m}_n_videos"]
            if not n:
                cells.append(_why_empty(m, r))
                continue
            text = fmt_num(r[f"{m}_mean"] * k) + ("" if pd.isna(r[f"{m}_std"]) else f" ± {r[f'{m}_std'] * k:.3f}")
            if f"{m}_ci_low" in r and not pd.isna(r[f"{m}_ci_low"]):
                text += f" [{r[f'{m}_ci_low'] * k:.3f}, {r[f'{m}_ci_high'] * k:.3f}]"
            cells.append(text if n == r["n_videos"] else f"{text} ({fmt_n(n, r[f'{m}_n_frames'])})")
        out[LABELS.get(m, m)] = cells
    for m in q.attrs.get("set_metrics", []):
        if not m.startswith("recon_"):
            unit = "frames" if m.startswith("id_retrieval") else "crops"
            out[LABELS.get(m, m)] = [v if isinstance(v, str) else f"{v:.3f} (n={r} real / {f} fake {unit})"
                                     for v, r, f in zip(q[m], q[f"{m}_n_real"], q[f"{m}_n_fake"])]
    out["compared with"] = q.get("reference", "")
    return _footnote_unavailable(out)


def _why_empty(metric: str, row: pd.Series) -> str:
    """The ``unavailable: <reason>`` text of a per-video metric without a finite value."""
    if metric in PIXEL_METRICS and str(row.get("reference", "")).startswith("no pixel comparison"):
        return "unavailable: no pixel comparison for this generator (its frame t does not replace target frame t)"
    not_applicable = re.search(rf"(?:^|; ){re.escape(metric)}: not applicable \(([^)]*)\)", str(row.get("reference", "")))
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
    when no generator has."""
    metrics = [m for m in q.attrs.get("set_metrics", []) if m.startswith("recon_")]
    if not metrics:
        return None
    r = q[[not (isinstance(v, str) and "no 'recon_l1' row" in v) for v in q["recon_l1"]]].reset_index(drop=True)
    out = pd.DataFrame({"generator": r["method"], "eval mode": r.get("eval_mode", "n/a"), "n": [f"n={int(n)} frames" for n in r["recon_l1_n_fake"]]})
    for m in metrics:
        out[LABELS.get(m, m)] = [fmt_num(v) for v in r[m]]
    return _footnote_unavailable(out)


def _footnote_unavailable(out: pd.DataFrame) -> pd.DataFrame:
    """Replace long ``unavailable: <reason>`` cells by ``unavailable [k]``; the reasons go to
    ``out.attrs["notes"]`` (``[k] <reason>`` lines printed under the table)."""
    notes: list[str] = []
    for col in out.columns:
        cells = []
        for v in out[col]:
            if isinstance(v, str) and v.startswith("unavailable:"):
                reason = v[len("unavailable:"):].strip()
                if reason not in notes:
                    notes.append(reason)
                v = f"unavailable [{notes.index(reason) + 1}]"
            cells.append(v)
        out[col] = cells
    out.attrs["notes"] = [f"[{k}] unavailable: {r}" for k, r in enumerate(notes, 1)]
    return out


def markdown_table(df: pd.DataFrame) -> str:
    """A DataFrame as a GitHub Markdown table (cells as text, ``|`` escaped)."""
    def cell(x) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(cell(c) for c in df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


@dataclass
class ReportData:
    """What the leaderboard shows, gathered once from a run directory by the report stage.

    Attributes:
        name: the run's name (``config.yaml`` ``name``).
        folder: the run directory's folder name.
        provenance: ``provenance.json`` ({} when absent).
        quality: :func:`forgebench.leaderboard.tables.quality_table`, or None with
            ``quality_msg`` saying why.
        detection: :func:`forgebench.leaderboard.tables.detection_table`, or None with
            ``detection_msg``.
        robustness: the stored robustness metrics (:data:`forgebench.rundir.ROBUSTNESS_METRICS`).
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
    """File names (in ``plots/``) of the figures drawn for the HTML page: ROC curves and
    reliability diagrams by detector, sample grids by generator, the robustness curves
    (None when not drawn)."""

    roc: dict[str, str] = field(default_factory=dict)
    reliability: dict[str, str] = field(default_factory=dict)
    samples: dict[str, str] = field(default_factory=dict)
    robustness: str | None = None


# -- markdown ----------------------------------------------------------------------------------
def _header(run: ReportData) -> list[str]:
    lines = [f"# forgebench leaderboard: {run.name}", ""]
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
    lines += ["; ".join(facts) + ".", ""]
    if run.identity_check:
        lines += [f"{run.identity_check} (faces/identity_check.json).", ""]
    thin = thin_summary(run.detection)
    if thin:
        lines += [f"**{thin}**", ""]
    return lines


def format_markdown(run: ReportData) -> str:
    """The leaderboard as Markdown text (the content of ``leaderboard.md``).

    Opens with :func:`forgebench.leaderboard.protocols.thin_summary` when detection cells
    rest on too few identities; then quality per generator (mean ± std over fake videos,
    set-level FID / Fréchet distance or "unavailable: <reason>"), the reconstruction
    table, and the detection protocol (in-domain, cross-generator matrices, robustness,
    every result) with the stored people-cluster bootstrap 95% intervals; every number
    with the identities/videos/frames behind it, 3 decimals.
    """
    lines = _header(run)
    lines += ["## Quality of the fakes (per generator)", ""]
    if run.quality is None:
        lines += [run.quality_msg or "No quality table.", ""]
    else:
        table = quality_display(run.quality)
        lines += [markdown_table(table), "", *[f"{n}  " for n in table.attrs["notes"]], "", QUALITY_NOTE, ""]
        recon = reconstruction_display(run.quality)
        if recon is not None:
            lines += ["### Reconstruction / self-reenactment (held-out frames)", "", markdown_table(recon), "",
                      *[f"{n}  " for n in recon.attrs["notes"]], "", RECON_NOTE, ""]
    lines += ["## Detection (test split)", ""]
    if run.detection is None or run.detection.empty:
        lines += [run.detection_msg or "No detector results.", ""]
    else:
        for title, table, note in detection_sections(run.detection, run.robustness, run.n_boot, run.comparisons):
            lines += [f"### {title}", ""]
            lines += [note, ""] if table is None else [markdown_table(table), "", *([note, ""] if note else [])]
    if run.problems:
        lines += ["## Problems", ""] + [f"- {p}" for p in run.problems] + [""]
    return "\n".join(lines).rstrip() + "\n"


def format_html(run: ReportData, figures: Figures) -> str:
    """The leaderboard as a self-contained HTML page (``report.html``): the tables of
    :func:`format_markdown`, the figures of ``figures`` by relative ``plots/`` paths, the
    run facts, package versions and weights files from ``provenance.json``."""
    e = html.escape
    roc, samples, robust = figures.roc, figures.samples, figures.robustness
    prov = run.provenance or {}
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>forgebench leaderboard: {e(run.name)}</title>", f"<style>{CSS}</style></head><body>",
        f"<h1>forgebench leaderboard: {e(run.name)}</h1>",
    ]
    thin = thin_summary(run.detection)
    if thin:
        parts.append(f"<p class='msg'><strong>{e(thin)}</strong></p>")
    info = {"run": run.name, "run directory": run.folder, "config hash": prov.get("config_hash", "n/a (no provenance.json)"),
            "seed": prov.get("seed", "n/a"), "git commit": prov.get("git_commit", "n/a")}
    parts.append(pd.DataFrame({"": list(info), "value": [str(v) for v in info.values()]}).to_html(index=False, classes="facts"))
    if run.identity_check:
        parts.append(f"<p>{e(run.identity_check)} (faces/identity_check.json).</p>")
    parts.append("<h2>Quality of the fakes (per generator)</h2>")
    if run.quality is None:
        parts.append(f"<p class='msg'>{e(run.quality_msg or 'No quality table.')}</p>")
    else:
        table = quality_display(run.quality)
        parts += [table.to_html(index=False), *[f"<p class='msg'>{e(n)}</p>" for n in table.attrs["notes"]], f"<p>{e(QUALITY_NOTE)}</p>"]
        recon = reconstruction_display(run.quality)
        if recon is not None:
            parts += ["<h3>Reconstruction / self-reenactment (held-out frames)</h3>", recon.to_html(index=False),
                      *[f"<p class='msg'>{e(n)}</p>" for n in recon.attrs["notes"]], f"<p>{e(RECON_NOTE)}</p>"]
    parts.append("<h2>Detection (test split)</h2>")
    if run.detection is None or run.detection.empty:
        parts.append(f"<p class='msg'>{e(run.detection_msg or 'No detector results.')}</p>")
    else:
        for title, table, note in detection_sections(run.detection, run.robustness, run.n_boot, run.comparisons):
            parts.append(f"<h3>{e(title)}</h3>")
            parts += [table.to_html(index=False)] if table is not None else []
            if title.startswith("Robustness") and robust:
                parts.append(f"<figure><img src='plots/{e(robust)}' alt='robustness curves'><figcaption>AUC against "
                             "perturbation strength</figcaption></figure>")
            parts += [f"<p>{e(note)}</p>"] if note else []
    parts.append("<h2>ROC curves</h2>")
    if not roc:
        parts.append("<p class='msg'>No ROC curves: no detector of this run was tested on the fakes it was trained on "
                     "(detectors of other runs and submissions are in the tables).</p>")
    for det, file in roc.items():
        parts.append(f"<figure><img src='plots/{e(file)}' alt='ROC curves of {e(det)}'><figcaption>{e(det)}</figcaption></figure>")
    if figures.reliability:
        parts.append("<h2>Reliability diagrams (calibration of p(fake))</h2>")
    for det, file in figures.reliability.items():
        parts.append(f"<figure><img src='plots/{e(file)}' alt='reliability diagram of {e(det)}'><figcaption>{e(det)}</figcaption>"
                     "</figure>")
    parts.append("<h2>Samples (fake next to real)</h2>")
    if not samples:
        parts.append("<p class='msg'>No sample grids: no fake videos with face crops.</p>")
    for gen, file in samples.items():
        parts.append(f"<figure><img src='plots/{e(file)}' alt='samples of {e(gen)}'><figcaption>{e(gen)}</figcaption></figure>")
    if run.problems:
        parts.append("<h2>Problems</h2><ul>" + "".join(f"<li>{e(p)}</li>" for p in run.problems) + "</ul>")
    packages = prov.get("packages") or {}
    if packages:
        parts.append("<h2>Versions</h2>")
        parts.append(pd.DataFrame({"package": list(packages), "version": [str(v) for v in packages.values()]}).to_html(index=False))
    weights = [w for w in prov.get("weights") or [] if isinstance(w, dict)]
    if weights:
        parts += ["<h2>Weights files</h2>", pd.DataFrame(weights).to_html(index=False)]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
