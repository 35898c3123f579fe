"""The ``forgebench report`` stage: leaderboard.md, leaderboard.csv, report.html, plots.

Everything is computed from the run directory's stage outputs (see :mod:`.tables`);
a stage that has not run yet (no quality metrics, no detectors) gives a clear message in
the report instead of an error. Every file is written atomically (temporary + rename).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from forgebench.atomic import write_csv, write_text
import yaml
from tqdm.auto import tqdm

from forgebench.errors import DataError
from forgebench.leaderboard.plots import plot_robustness, plot_roc, plot_samples
from forgebench.leaderboard.protocols import detection_sections, fmt_n, fmt_num, robustness_files, robustness_table
from forgebench.leaderboard.tables import (
    BOOT_SEED, N_BOOT, detection_table, long_table, prediction_files, quality_table,
    read_predictions, read_thresholds,
)

DEFAULT_SAMPLE_PAIRS = 6
LABELS = {"ssim": "SSIM", "psnr": "PSNR (dB)", "lpips": "LPIPS", "id_sim_source": "ID sim. source",
          "id_sim_target": "ID sim. target", "id_retrieval": "ID retrieval", "landmark_distance": "landmark dist.",
          "fid": "FID", "frechet_dlib": "Fréchet (dlib)", "akd": "AKD (px)", "akd_iod": "AKD / IOD",
          "recon_l1": "L1", "recon_ssim": "SSIM", "recon_akd": "AKD (px)", "recon_akd_iod": "AKD / IOD",
          "recon_aed": "AED", "recon_mkr": "MKR"}
QUALITY_NOTE = ("Mean ± std over the generator's fake videos. SSIM/PSNR: fake vs the real frame it replaced, inside "
                "the face mask (higher = closer). LPIPS: AlexNet distance (lower = closer). ID sim.: cosine similarity "
                "of dlib face descriptors to the source / target identity. ID retrieval: share of frames whose nearest "
                "identity is the source. Landmark dist.: mean 68-landmark error / inter-ocular distance vs the target "
                "frame. AKD: mean distance (pixels at the crop size, and / inter-ocular distance) between the landmarks "
                "found on the fake and those it was drawn to (retargeted driving landmarks for reenactment, the "
                "target's for swaps). FID and Fréchet (dlib): set-level, real vs fake crops. eval mode: how the "
                "generator's networks ran when converting (train = dropout and batch statistics on, as pix2pix's paper).")
RECON_NOTE = ("Held-out frames of each identity's own video re-rendered from their own driving signal (pix2pix_reenact: the "
              "frame's landmarks, frames held out of training; fomm: the video's first frame animated by the frame), compared "
              "with the real aligned crop. L1: mean absolute error, pixels in [0, 1]. AKD: landmark distance generated vs "
              "real. AED: Euclidean distance of dlib descriptors (same person below 0.6). MKR: share with no face found.")
CSS = ("body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;margin:1em 0;"
       "font-size:13px}td,th{border:1px solid #bbb;padding:3px 7px;text-align:left}th{background:#eee}"
       ".msg{color:#a40}figure{display:inline-block;margin:1em}img{max-width:100%}")


def quality_display(q: pd.DataFrame) -> pd.DataFrame:
    """The quality table as text cells (one row per generator) for Markdown / HTML."""
    out = pd.DataFrame({"generator": q["generator"], "eval mode": q.get("eval_mode", "n/a"),
                        "n": [fmt_n(v, f) for v, f in zip(q["n_videos"], q["n_frames"])]})
    for m in q.attrs.get("quality_metrics", []):
        cells = []
        for _, r in q.iterrows():
            n = r[f"{m}_n_videos"]
            if not n:
                cells.append("unavailable: no finite value in quality.parquet")
                continue
            text = fmt_num(r[f"{m}_mean"]) + ("" if pd.isna(r[f"{m}_std"]) else f" ± {r[f'{m}_std']:.3f}")
            cells.append(text if n == r["n_videos"] else f"{text} ({fmt_n(n, r[f'{m}_n_frames'])})")
        out[LABELS.get(m, m)] = cells
    for m in q.attrs.get("set_metrics", []):
        if not m.startswith("recon_"):
            out[LABELS.get(m, m)] = [v if isinstance(v, str) else f"{v:.3f} (n={r} real / {f} fake crops)"
                                     for v, r, f in zip(q[m], q[f"{m}_n_real"], q[f"{m}_n_fake"])]
    return _footnote_unavailable(out)


def reconstruction_display(q: pd.DataFrame) -> pd.DataFrame | None:
    """The reconstruction / self-reenactment metrics (``recon_*`` rows of
    ``quality_sets.parquet``) as text cells, one row per generator that has them; None
    when no generator has."""
    metrics = [m for m in q.attrs.get("set_metrics", []) if m.startswith("recon_")]
    if not metrics:
        return None
    r = q[[not (isinstance(v, str) and "no 'recon_l1' row" in v) for v in q["recon_l1"]]].reset_index(drop=True)
    out = pd.DataFrame({"generator": r["generator"], "eval mode": r.get("eval_mode", "n/a"), "n": [f"n={int(n)} frames" for n in r["recon_l1_n_fake"]]})
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
class _Run:
    """What the report shows, gathered once from the run directory."""

    run_dir: Path
    name: str
    config: dict = field(default_factory=dict)
    provenance: dict | None = None
    quality: pd.DataFrame | None = None
    quality_msg: str | None = None
    detection: pd.DataFrame | None = None
    detection_msg: str | None = None
    robustness: pd.DataFrame | None = None
    n_boot: int = N_BOOT
    problems: list[str] = field(default_factory=list)


def _collect(run_dir: Path, n_boot: int = N_BOOT, seed: int = BOOT_SEED) -> _Run:
    config: dict = {}
    problems: list[str] = []
    cfg_path = run_dir / "config.yaml"
    if cfg_path.is_file():
        try:
            config = yaml.safe_load(cfg_path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            problems.append(f"{cfg_path}: cannot read ({exc})")
    else:
        problems.append(f"{cfg_path}: not found")
    provenance = None
    prov_path = run_dir / "provenance.json"
    if prov_path.is_file():
        try:
            provenance = json.loads(prov_path.read_text())
        except (OSError, ValueError) as exc:
            problems.append(f"{prov_path}: cannot read ({exc})")
    run = _Run(run_dir, str(config.get("name") or run_dir.name), config if isinstance(config, dict) else {}, provenance)
    protocol = run.config.get("protocol") if isinstance(run.config.get("protocol"), dict) else {}
    if isinstance(protocol.get("n_boot"), int) and protocol["n_boot"] >= 10:
        run.n_boot = n_boot = protocol["n_boot"]
    try:
        run.quality = quality_table(run_dir)
    except DataError as exc:
        run.quality_msg = f"No quality table: {exc}"
    if not prediction_files(run_dir):
        run.detection_msg = (f"No detector results yet: no {run_dir / 'detectors'}/<detector>/<train_set>/predictions.parquet; "
                             f"run 'forgebench train {run_dir}' first.")
    else:
        run.detection = detection_table(run_dir, n_boot=n_boot, seed=seed, strict=False)
        problems += run.detection.attrs.get("problems", [])
        if robustness_files(run_dir):
            run.robustness = robustness_table(run_dir, n_boot=n_boot, seed=seed)
            problems += run.robustness.attrs.get("problems", [])
        if run.detection.empty:
            run.detection_msg = "No usable detector results (see the problems below)."
        trained = set(run.detection["train_set"]) if not run.detection.empty else set()
        problems += [f"No detector was trained on '{g}': no face was found in its fakes (see {run_dir / 'faces' / 'report.json'}; "
                     "the generator may be undertrained)." for g in sorted(p.parent.name for p in (run_dir / "fakes").glob(
                         "*/manifest.parquet")) if g not in trained]
    run.problems = problems
    return run


def _relative(run: _Run, text: str) -> str:
    """A message with the run directory's paths made relative (the report can be moved)."""
    return text.replace(f"{run.run_dir}/", "").replace(str(run.run_dir), "RUN_DIR")


# -- markdown ----------------------------------------------------------------------------------
def _header(run: _Run) -> list[str]:
    lines = [f"# forgebench leaderboard: {run.name}", ""]
    prov = run.provenance or {}
    facts = [f"run directory `{run.run_dir.name}`"]
    if prov.get("config_hash"):
        facts.append(f"config hash `{str(prov['config_hash'])[:12]}`")
    if prov.get("seed") is not None:
        facts.append(f"seed {prov['seed']}")
    if prov.get("git_commit"):
        facts.append(f"commit `{prov['git_commit']}`")
    if not run.provenance:
        facts.append("no provenance.json")
    lines += ["; ".join(facts) + ".", ""]
    return lines


def _markdown(run: _Run) -> str:
    lines = _header(run)
    lines += ["## Quality of the fakes (per generator)", ""]
    if run.quality is None:
        lines += [_relative(run, run.quality_msg or "No quality table."), ""]
    else:
        table = quality_display(run.quality)
        lines += [markdown_table(table), "", *[f"{n}  " for n in table.attrs["notes"]], "", QUALITY_NOTE, ""]
        recon = reconstruction_display(run.quality)
        if recon is not None:
            lines += ["### Reconstruction / self-reenactment (held-out frames)", "", markdown_table(recon), "",
                      *[f"{n}  " for n in recon.attrs["notes"]], "", RECON_NOTE, ""]
    lines += ["## Detection (test split)", ""]
    if run.detection is None or run.detection.empty:
        lines += [_relative(run, run.detection_msg or "No detector results."), ""]
    else:
        for title, table, note in detection_sections(run.detection, run.robustness, run.n_boot):
            lines += [f"### {title}", ""]
            lines += [note, ""] if table is None else [markdown_table(table), "", *([note, ""] if note else [])]
    if run.problems:
        lines += ["## Problems", ""] + [f"- {_relative(run, p)}" for p in run.problems] + [""]
    return "\n".join(lines).rstrip() + "\n"


def format_markdown(run_dir: str | Path) -> str:
    """The leaderboard as Markdown text (the content of ``leaderboard/leaderboard.md``).

    Quality per generator (mean ± std over fake videos, set-level FID / Fréchet distance
    or "unavailable: <reason>") and detection per detector x generator (frame- and
    video-level AUC with bootstrap 95% CI, AP, EER, accuracy at the validation-chosen
    threshold); every number with the videos/frames behind it. Numbers have 3 decimals.

    Raises:
        DataError: ``run_dir`` is not a directory.
    """
    run_dir = _check_dir(run_dir)
    return _markdown(_collect(run_dir))


# -- writing -------------------------------------------------------------------------------------
def _check_dir(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: run directory not found")
    return run_dir


def _sample_pairs(config: dict) -> int:
    report = config.get("report") if isinstance(config.get("report"), dict) else {}
    value = report.get("sample_pairs", DEFAULT_SAMPLE_PAIRS)
    return int(value) if isinstance(value, int) and value >= 1 else DEFAULT_SAMPLE_PAIRS


def _make_plots(run: _Run, plots_dir: Path, progress: bool) -> tuple[dict[str, str], dict[str, str]]:
    """Draw the ROC and sample figures; returns ``({detector: file}, {generator: file})``
    of the figures made (problems go to ``run.problems``)."""
    run_dir = run.run_dir
    by_detector: dict[str, dict[str, pd.DataFrame]] = {}
    for path in prediction_files(run_dir):
        try:
            read_thresholds(path.parent / "metrics.json")
            preds = read_predictions(path)
        except DataError:
            continue  # already listed by detection_table
        for (det, train, test), df in preds.groupby(["detector", "train_set", "test_set"], sort=True):
            if train == test:  # in-domain curves; the cross-generator cells are in the tables
                by_detector.setdefault(str(det), {})[f"train = test {train}"] = df
    fakes = run_dir / "fakes"
    generators = sorted(p.parent.name for p in fakes.glob("*/manifest.parquet")) if fakes.is_dir() else []
    if not generators:
        run.problems.append(f"No sample grid: no {fakes}/<generator>/manifest.parquet yet.")
    jobs = [("roc", d) for d in sorted(by_detector)] + [("samples", g) for g in generators]
    roc, samples = {}, {}
    for kind, name in tqdm(jobs, desc="report plots", disable=None if progress else True):
        out = plots_dir / f"{kind}_{name}.png"
        try:
            if kind == "roc":
                plot_roc(by_detector[name], out, title=name)
                roc[name] = out.name
            else:
                plot_samples(run_dir, name, out, n_pairs=_sample_pairs(run.config))
                samples[name] = out.name
        except DataError as exc:
            run.problems.append(f"No {kind} figure for '{name}': {exc}")
    keep = {f"roc_{d}.png" for d in roc} | {f"samples_{g}.png" for g in samples}
    for stale in list(plots_dir.glob("roc_*.png")) + list(plots_dir.glob("samples_*.png")):
        if stale.name not in keep:
            stale.unlink()
    return roc, samples


def _html(run: _Run, roc: dict[str, str], samples: dict[str, str], robust: str | None = None) -> str:
    e = html.escape
    prov = run.provenance or {}
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>forgebench leaderboard: {e(run.name)}</title>", f"<style>{CSS}</style></head><body>",
        f"<h1>forgebench leaderboard: {e(run.name)}</h1>",
    ]
    info = {"run": run.name, "run directory": run.run_dir.name, "config hash": prov.get("config_hash", "n/a (no provenance.json)"),
            "seed": prov.get("seed", run.config.get("seed", "n/a")), "git commit": prov.get("git_commit", "n/a")}
    parts.append(pd.DataFrame({"": list(info), "value": [str(v) for v in info.values()]}).to_html(index=False, classes="facts"))
    parts.append("<h2>Quality of the fakes (per generator)</h2>")
    if run.quality is None:
        parts.append(f"<p class='msg'>{e(_relative(run, run.quality_msg or 'No quality table.'))}</p>")
    else:
        table = quality_display(run.quality)
        parts += [table.to_html(index=False), *[f"<p class='msg'>{e(n)}</p>" for n in table.attrs["notes"]], f"<p>{e(QUALITY_NOTE)}</p>"]
        recon = reconstruction_display(run.quality)
        if recon is not None:
            parts += ["<h3>Reconstruction / self-reenactment (held-out frames)</h3>", recon.to_html(index=False),
                      *[f"<p class='msg'>{e(n)}</p>" for n in recon.attrs["notes"]], f"<p>{e(RECON_NOTE)}</p>"]
    parts.append("<h2>Detection (test split)</h2>")
    if run.detection is None or run.detection.empty:
        parts.append(f"<p class='msg'>{e(_relative(run, run.detection_msg or 'No detector results.'))}</p>")
    else:
        for title, table, note in detection_sections(run.detection, run.robustness, run.n_boot):
            parts.append(f"<h3>{e(title)}</h3>")
            parts += [table.to_html(index=False)] if table is not None else []
            if title.startswith("Robustness") and robust:
                parts.append(f"<figure><img src='plots/{e(robust)}' alt='robustness curves'><figcaption>AUC against "
                             "perturbation strength</figcaption></figure>")
            parts += [f"<p>{e(note)}</p>"] if note else []
    parts.append("<h2>ROC curves</h2>")
    if not roc:
        parts.append("<p class='msg'>No ROC curves: no detector predictions.</p>")
    for det, file in roc.items():
        parts.append(f"<figure><img src='plots/{e(file)}' alt='ROC curves of {e(det)}'><figcaption>{e(det)}</figcaption></figure>")
    parts.append("<h2>Samples (fake next to real)</h2>")
    if not samples:
        parts.append("<p class='msg'>No sample grids: no fake videos with face crops.</p>")
    for gen, file in samples.items():
        parts.append(f"<figure><img src='plots/{e(file)}' alt='samples of {e(gen)}'><figcaption>{e(gen)}</figcaption></figure>")
    if run.problems:
        parts.append("<h2>Problems</h2><ul>" + "".join(f"<li>{e(_relative(run, p))}</li>" for p in run.problems) + "</ul>")
    packages = prov.get("packages") or {}
    if packages:
        parts.append("<h2>Versions</h2>")
        parts.append(pd.DataFrame({"package": list(packages), "version": [str(v) for v in packages.values()]}).to_html(index=False))
    weights = [w for w in prov.get("weights") or [] if isinstance(w, dict)]
    if weights:
        parts += ["<h2>Weights files</h2>", pd.DataFrame(weights).to_html(index=False)]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def build_report(run_dir: str | Path, progress: bool = True) -> Path:
    """Write the leaderboard of a run and return its folder ``run_dir/leaderboard``.

    Writes ``leaderboard.md`` (:func:`format_markdown`), ``leaderboard.csv`` (long
    format, see :func:`forgebench.leaderboard.format.long_table`), ``report.html``
    (self-contained page: tables, ROC curves, sample grids, run name, config hash and
    package versions from ``provenance.json``; images by relative ``plots/`` paths),
    ``plots/roc_<detector>.png`` and ``plots/samples_<generator>.png``. Missing inputs
    (stages not run yet) are reported in the files, not raised.

    Args:
        run_dir: the run directory.
        progress: show a tqdm bar over the figures.

    Raises:
        DataError: ``run_dir`` is not a directory.
    """
    run_dir = _check_dir(run_dir)
    out = run_dir / "leaderboard"
    run = _collect(run_dir)
    roc, samples = _make_plots(run, out / "plots", progress)
    robust = None
    if run.robustness is not None and not run.robustness.empty:
        try:
            robust = plot_robustness(run.robustness, out / "plots" / "robustness.png").name
        except DataError as exc:
            run.problems.append(f"No robustness figure: {exc}")
    write_text(out / "leaderboard.md", _markdown(run))
    write_csv(out / "leaderboard.csv", long_table(run.quality, run.detection, run.robustness))
    write_text(out / "report.html", _html(run, roc, samples, robust))
    return out
