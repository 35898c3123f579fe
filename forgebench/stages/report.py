"""The report stage: the leaderboard of a run (``leaderboard/``).

Reads what the stages stored — ``metrics/quality.parquet`` and ``quality_sets.parquet``,
every detector's ``metrics.json`` (metrics and intervals computed by the train stage),
``robustness_metrics.parquet``, the test predictions (ROC curves) and face crops (sample
grids) — and writes ``leaderboard.md``, ``leaderboard.csv`` (long format),
``report.html`` and ``plots/*.png`` through the pure formatting of
:mod:`forgebench.leaderboard`. Nothing is recomputed. A stage that has not run yet (no
quality metrics, no detectors) is a message in the report, not an error. The one
computation it starts: the paired comparisons of the run's own detectors trained on all
generators (:func:`default_comparisons`), stored in ``comparisons/`` like those of
``forgebench compare``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from forgebench.compare import compare_detectors
from forgebench.config import Config
from forgebench.errors import DataError, MediaError
from forgebench.fileio import read_json, write_csv, write_text
from forgebench.leaderboard import (
    Figures,
    ReportData,
    detection_table,
    format_html,
    format_markdown,
    long_table,
    quality_table,
)
from forgebench.leaderboard.plots import (
    SamplePair,
    plot_quality_vs_auc,
    plot_reliability,
    plot_robustness,
    plot_roc,
    plot_samples,
    quality_auc_points,
)
from forgebench.leaderboard.protocols import THIN_MARK, detector_labels, fmt_ci, thin_summary
from forgebench.media import read_image
from forgebench.provenance import update_provenance
from forgebench.rundir import RunDir
from forgebench.schemas import PRETRAINED_SET, SUBMISSION_SET

__all__ = ["collect", "sample_pairs", "default_comparisons", "run_summary", "report"]


def _relative(run: RunDir, text: str) -> str:
    """A message with the run directory's paths made relative (the report can be moved)."""
    return text.replace(f"{run.root}/", "").replace(str(run.root), "RUN_DIR")


def collect(run: RunDir, config: Config) -> ReportData:
    """Gather what the leaderboard shows from the run directory (:class:`ReportData`);
    unreadable or missing files become messages and problems, never errors."""
    problems: list[str] = []
    try:
        provenance = run.read_provenance()
    except DataError as exc:
        provenance, problems = {}, [str(exc)]
    data = ReportData(
        name=config.name, folder=run.root.name, provenance=provenance, n_boot=config.protocol_settings().n_boot
    )
    try:
        check = run.faces.read_identity_check()
        data.identity_check = check.get("summary") if check else None
    except DataError as exc:
        problems.append(str(exc))
    data.inputs = _inputs(run, problems)
    quality_file = run.metrics.file("quality")
    if not quality_file.is_file() and "import" in provenance.get("stages", {}):
        data.quality_msg = (
            "No quality table: this run was imported (forgebench import); the quality metrics score the fakes "
            "forgebench's generators make (they need each fake's frames table)."
        )
    elif not quality_file.is_file():
        data.quality_msg = f"No quality table: {quality_file}: not found; run 'forgebench score {run.root}' first"
    else:
        try:
            sets = run.metrics.read("quality_sets") if run.metrics.file("quality_sets").is_file() else None
            data.quality = quality_table(run.metrics.read("quality"), sets, "metrics/")
        except DataError as exc:
            data.quality_msg = f"No quality table: {exc}"
    results = run.detectors.results()
    if not results:
        data.detection_msg = (
            f"No detector results yet: no {run.detectors.files('<detector>', '<train_set>').predictions}; "
            f"run 'forgebench train {run.root}' first."
        )
    else:
        docs = []
        for det, train_set in results:
            try:
                doc = run.detectors.read_metrics(det, train_set)
                detection_table([doc])  # refuses a document without stored metrics and intervals
                docs.append(doc)
            except DataError as exc:
                path = run.detectors.files(det, train_set).metrics
                problems.append(str(exc) if str(path) in str(exc) else f"{path}: {exc}")
        data.detection = detection_table(docs)
        try:
            data.robustness = run.detectors.read_robustness_metrics()
        except DataError as exc:
            problems.append(str(exc))
        if data.detection.empty:
            data.detection_msg = "No usable detector results (see the problems below)."
        trained = set(data.detection["train_set"])
        problems += [
            f"No detector was trained on '{g}': no face was found in its fakes (see {run.faces.report_file}; "
            "the generator may be undertrained)."
            for g in run.fakes.methods()
            if g not in trained
        ]
    for path in run.leaderboard.comparison_files():
        try:
            data.comparisons.append(read_json(path, "paired comparison"))
        except DataError as exc:
            problems.append(str(exc))
    data.problems = problems
    return data


def _inputs(run: RunDir, problems: list[str]) -> list[str]:
    """What went in, from the face manifest: ``"6 real videos of 6 identities (identities per
    split: train 2, val 2, test 2)"`` and ``"fake videos with faces: autoencoder_swap 6, ..."``;
    [] before the faces stage (an unreadable manifest is a problem)."""
    if not run.faces.manifest_file.is_file():
        return []
    try:
        faces = run.faces.read_manifest()
    except DataError as exc:
        problems.append(str(exc))
        return []
    real = faces[faces["label"] == 0]
    per_split = real.groupby("split")["identity"].nunique().to_dict()
    splits = ", ".join(f"{s} {int(per_split.get(s, 0))}" for s in ("train", "val", "test"))
    fakes = faces[faces["label"] == 1].groupby("method")["video_id"].nunique().to_dict()
    return [
        f"{real['video_id'].nunique()} real videos of {real['identity'].nunique()} identities (identities per split: "
        f"{splits})",
        "fake videos with faces: " + (", ".join(f"{g} {n}" for g, n in sorted(fakes.items())) or "none"),
    ]


def _real_match(reals: pd.DataFrame, target: str, frame_index: int) -> pd.Series | None:
    """Real crop row of ``target`` at ``frame_index``, or at the nearest frame index: from
    the real video named ``target``, else from any real video of that identity."""
    rows = reals[reals["video_name"] == target]
    if rows.empty:
        rows = reals[reals["identity"].astype(str) == target]
        rows = rows[rows["video_name"] == rows["video_name"].iloc[0]] if len(rows) else rows
    if rows.empty:
        return None
    nearest = (rows["frame_index"].astype(int) - int(frame_index)).abs().to_numpy().argmin()
    return rows.iloc[int(nearest)]


def _image(path: Path) -> tuple:
    try:
        return read_image(path), ""
    except MediaError as exc:
        return None, f"unreadable:\n{path.name}\n({type(exc).__name__})"


def _fake_methods(faces: pd.DataFrame) -> list[str]:
    """The methods with fake face crops (generated or imported), sorted."""
    return sorted(set(faces.loc[faces["label"] == 1, "method"].astype(str)))


def sample_pairs(run: RunDir, method: str, n_pairs: int) -> list[SamplePair]:
    """Up to ``n_pairs`` (fake crop, real crop) pairs of ``method`` (a generator, or an
    imported dataset's method): the first fake videos by name that have face crops, each at
    the middle of its cropped frames, next to the real crop of its target (the identity it
    shows) at the same (or the nearest) frame."""
    faces = run.faces.read_manifest()
    reals = faces[faces["method"] == "real"]
    fakes = faces[(faces["method"] == method) & (faces["label"] == 1)]
    pairs = []
    for video_name in sorted(set(fakes["video_name"])):
        if len(pairs) >= n_pairs:
            break
        rows = fakes[fakes["video_name"] == video_name].sort_values("frame_index")
        fake = rows.iloc[len(rows) // 2]
        fake_image, note = _image(run.resolve(fake["crop_path"]))
        target = str(fake["identity"])
        match = _real_match(reals, target, int(fake["frame_index"]))
        pair = SamplePair(str(video_name), target, fake_image, int(fake["frame_index"]), note=note)
        if match is not None:
            pair.real, real_note = _image(run.resolve(match["crop_path"]))
            pair.real_video, pair.real_frame, pair.note = (
                str(match["video_name"]),
                int(match["frame_index"]),
                note or real_note,
            )
        pairs.append(pair)
    return pairs


def _plots(run: RunDir, data: ReportData, config: Config, progress: bool) -> Figures:
    """Draw the ROC, reliability, sample, robustness and quality-against-detectability figures
    into ``leaderboard/plots/`` (problems go to ``data.problems``) and delete figures of
    detectors or generators no longer there."""
    figures = Figures()
    curves: dict[str, dict[str, pd.DataFrame]] = {}
    for det, train_set in run.detectors.results():
        if (
            data.detection is None
            or not ((data.detection["detector"] == det) & (data.detection["train_set"] == train_set)).any()
        ):
            continue
        preds = run.detectors.read_predictions(det, train_set)
        for test_set, df in preds.groupby("test_set", sort=True):
            if test_set == train_set:  # in-domain curves; the cross-generator cells are in the tables
                curves.setdefault(det, {})[f"train = test {train_set}"] = df
    methods = _fake_methods(run.faces.read_manifest()) if run.faces.manifest_file.is_file() else []
    jobs = (
        [("roc", d) for d in sorted(curves)]
        + [("reliability", d) for d in sorted(curves)]
        + [("samples", g) for g in methods]
    )
    if not methods:
        data.problems.append(f"No sample grid: no face crops of fakes in {run.faces.manifest_file.name} yet.")
    for kind, name in tqdm(jobs, desc="report plots", disable=None if progress else True):
        out = run.leaderboard.plot_file(f"{kind}_{name}")
        try:
            if kind == "roc":
                plot_roc(curves[name], out, title=name)
                figures.roc[name] = out.name
            elif kind == "reliability":
                plot_reliability(curves[name], out, title=name)
                figures.reliability[name] = out.name
            else:
                plot_samples(sample_pairs(run, name, config.report.sample_pairs), name, out)
                figures.samples[name] = out.name
        except (DataError, ValueError) as exc:
            data.problems.append(f"No {kind} figure for '{name}': {exc}")
    keep = (
        {run.leaderboard.plot_file(f"roc_{d}") for d in figures.roc}
        | {run.leaderboard.plot_file(f"reliability_{d}") for d in figures.reliability}
        | {run.leaderboard.plot_file(f"samples_{g}") for g in figures.samples}
    )
    for stale in (
        run.leaderboard.plot_files("roc_")
        + run.leaderboard.plot_files("reliability_")
        + run.leaderboard.plot_files("samples_")
    ):
        if stale not in keep:
            stale.unlink()
    if data.robustness is not None and not data.robustness.empty:
        try:
            figures.robustness = plot_robustness(data.robustness, run.leaderboard.plot_file("robustness")).name
        except DataError as exc:
            data.problems.append(f"No robustness figure: {exc}")
    points, axis = quality_auc_points(data.quality, data.detection)
    quality_plot = run.leaderboard.plot_file("quality_vs_detectability")
    try:
        if len(points):
            figures.quality_vs_auc = plot_quality_vs_auc(points, axis, quality_plot).name
            figures.quality_vs_auc_axis = axis
    except DataError:  # no generator with both a quality value and an in-domain detector: the page says nothing of it
        pass
    if figures.quality_vs_auc is None and quality_plot.is_file():
        quality_plot.unlink()
    return figures


def default_comparisons(run: RunDir) -> list[Path]:
    """The paired comparisons every report shows: each pair of the run's own detectors
    trained on all generators (train set ``all``; the one generator's set when there is one)
    on that test set (:func:`forgebench.compare.compare_detectors`), written to
    ``comparisons/`` unless there already. Pairs that cannot be compared (different test
    frames) are skipped; more pairs: ``forgebench compare``.

    Returns:
        the comparison files written now.
    """
    results = [(d, ts) for d, ts in run.detectors.results() if ts not in (SUBMISSION_SET, PRETRAINED_SET)]
    sets = {ts for _, ts in results}
    main_set = "all" if "all" in sets else (sorted(sets)[0] if len(sets) == 1 else None)
    names = sorted(d for d, ts in results if ts == main_set)
    written = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            path = run.leaderboard.comparison_file(f"{a}/{main_set}", f"{b}/{main_set}", main_set)
            if path.is_file():
                continue
            try:
                compare_detectors(run, f"{a}/{main_set}", f"{b}/{main_set}", main_set)
                written.append(path)
            except DataError:
                continue
    return written


#: Most lines :func:`run_summary` prints.
SUMMARY_LINES = 25


def run_summary(run: RunDir, data: ReportData) -> str:
    """What a finished run says on the terminal, in at most :data:`SUMMARY_LINES` lines: what
    ran (real videos, identities per split, fakes per generator, detectors, train sets,
    seeds), the headline video AUC per detector (in-domain on all generators, and the mean and
    range of its cross-generator cells), the thin-evidence warning in one line, and where the
    report and the leaderboard files are. The tables themselves are in ``leaderboard.md`` and
    ``report.html``."""
    lines = [f"forgebench run '{data.name}' ({run.root}):"]
    lines.append(f"  {'; '.join(data.inputs)}" if data.inputs else "  no faces: the faces stage has not run")
    d = data.detection
    if d is None or d.empty:
        lines.append(f"  {data.detection_msg or 'no detector results'}")
    else:
        seeds = int(d["n_seeds"].max()) if "n_seeds" in d.columns else 1
        lines.append(
            f"  detectors: {', '.join(sorted(set(d['detector'])))} x train sets {', '.join(sorted(set(d['train_set'])))}"
            + (f" x {seeds} seeds" if seeds > 1 else "")
        )
        lines.append(
            "  video AUC [95% CI]: in-domain (trained and tested on all generators) | cross-generator (trained on one, "
            "tested on another: mean, range)"
        )
        for _det, g in list(d.groupby("detector", sort=True))[: SUMMARY_LINES - 12]:
            own = g[
                (g["train_set"] == g["test_set"])
                & (g["train_set"] == ("all" if "all" in set(g["train_set"]) else g["train_set"].iloc[0]))
            ]
            head = (
                f"{own['train_set'].iloc[0]}: {fmt_ci(*own[['video_auc', 'video_auc_ci_low', 'video_auc_ci_high']].iloc[0])}"
                if len(own)
                else "not run"
            )
            cross = g[(g["train_set"] != g["test_set"]) & ~g["train_set"].isin(["all"]) & ~g["test_set"].isin(["all"])]
            cross_text = (
                f"{cross['video_auc'].mean():.3f} ({cross['video_auc'].min():.3f}–{cross['video_auc'].max():.3f}, "
                f"{len(cross)} cells)"
                if len(cross)
                else "no cell"
            )
            lines.append(f"    {detector_labels(g.iloc[:1])[0]}: {head} | {cross_text}")
        thin = thin_summary(d)
        if thin:
            lines.append(
                f"  {THIN_MARK} {thin.split(':', 1)[0]}: {int(d['thin'].sum())} of {len(d)} results rest on fewer than "
                f"{int(d['min_identities'].max())} identities per class; see the report's first line"
            )
    if data.problems:
        lines.append(f"  {len(data.problems)} problem(s) listed at the end of the report")
    folder = run.leaderboard.folder
    lines += [
        f"Report: {run.leaderboard.html}",
        f"Leaderboard: {folder / 'leaderboard.md'}, {folder / 'leaderboard.csv'} (every "
        f"number, long format); figures in {folder / 'plots'}",
    ]
    body, where = lines[:-2], lines[-2:]
    return "\n".join(body[: SUMMARY_LINES - 2] + where)


def report(run: RunDir, config: Config, progress: bool = True) -> tuple[Path, str]:
    """The report stage (module docstring).

    Returns:
        ``(leaderboard folder, the leaderboard as Markdown)``.
    """
    start = time.time()
    default_comparisons(run)
    data = collect(run, config)
    figures = _plots(run, data, config, progress)
    data.problems = [_relative(run, p) for p in data.problems]
    data.quality_msg = data.quality_msg and _relative(run, data.quality_msg)
    data.detection_msg = data.detection_msg and _relative(run, data.detection_msg)
    markdown = format_markdown(data, figures)
    write_text(run.leaderboard.markdown, markdown)
    write_text(run.leaderboard.summary, run_summary(run, data))
    write_csv(run.leaderboard.csv, long_table(data.quality, data.detection, data.robustness))
    write_text(run.leaderboard.html, format_html(data, figures))
    update_provenance(run, config, "report", time.time() - start)
    return run.leaderboard.folder, markdown
