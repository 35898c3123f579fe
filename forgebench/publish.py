"""``forgebench leaderboard RUN_DIR... [--out DIR]``: gather several run directories into one
leaderboard (:mod:`forgebench.leaderboard.across` formats it).

This is the part that reads run directories (through :class:`~forgebench.rundir.RunDir`,
as the report stage does): each run's config, its report data
(:func:`forgebench.stages.report.collect`), the dataset and compression of its video ids,
and, for the quality-vs-detectability figure, the stored test predictions of every
detector trained and tested on the same generator (per-video scores, aggregated as its
``metrics.json`` says). From those it computes the one number no stage stores, each
generator's detectability (:func:`detectability`: the mean over detectors of the in-domain
video AUC, with the people-cluster interval of that mean,
:func:`forgebench.metrics.bootstrap.mean_metric_interval`); the formatting module gets it
ready in :attr:`RunEntry.detectability <forgebench.leaderboard.across.RunEntry>` and
computes no metric.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from forgebench.compare import COMPARED, paired_bootstrap
from forgebench.config import Config
from forgebench.configure import load_config
from forgebench.errors import DataError
from forgebench.leaderboard.across import BEST_MARK, SAME_AS_BEST_MARK, RunEntry, label_and_group, write_outputs
from forgebench.metrics.bootstrap import BOOT_SEED, interval_status, mean_metric_interval
from forgebench.metrics.detection import detection_metrics, video_scores
from forgebench.rundir import RunDir
from forgebench.schemas import CROSS_DATASET_SEP, PRETRAINED_SET
from forgebench.stages.common import dataset_name
from forgebench.stages.report import collect

__all__ = ["collect_runs", "write_across", "detectability", "generators_of", "cross_dataset_cells"]


def _video_id_parts(run: RunDir, config: Config) -> tuple[str, str, str | None]:
    """``(dataset, compression, note)`` of a run: the dataset and compression parts of its
    video ids as the faces manifest stores them, or as the extract stage would name them
    from ``config.yaml`` (:func:`forgebench.stages.common.dataset_name`,
    ``data.compression``; the note says so) when nothing was extracted yet."""
    try:
        faces = run.faces.read_manifest()
    except DataError:
        faces = None
    if faces is not None and len(faces):
        return (
            "/".join(sorted(set(faces["dataset"].astype(str)))),
            "/".join(sorted(set(faces["compression"].astype(str)))),
            None,
        )
    return (
        dataset_name(config),
        str(config.data.compression),
        ("no faces/manifest.parquet yet: dataset and compression as config.yaml names them"),
    )


def _in_domain(run: RunDir, entry: RunEntry) -> dict[str, list[tuple[str, pd.DataFrame, int]] | str]:
    """Per generator, the per-video test scores of every detector trained and tested on it
    (not submissions, not external detectors' own weights) with the ``n_boot`` of its
    intervals, or the text of why they could not be read."""
    found: dict[str, list[tuple[str, pd.DataFrame, int]] | str] = {}
    d = entry.data.detection
    if d is None or d.empty:
        return found
    cells = d[(d["train_set"] == d["test_set"]) & ~d["submission"].astype(bool)]
    for (det, gen), _ in cells.groupby(["detector", "train_set"], sort=True):
        try:
            doc = run.detectors.read_metrics(det, gen)
            n_boot = int((doc.get("test_sets", {}).get(gen, {}).get("video", {}) or {}).get("n_boot", entry.n_boot))
            preds = run.detectors.read_predictions(det, gen)
            preds = preds[preds["test_set"] == gen]
            videos = video_scores(
                preds, score_col="score", by="video_id", how=str(doc.get("video_aggregation", "mean"))
            )
        except DataError as exc:
            found[gen] = f"{det}: {exc}"
            continue
        stored = found.setdefault(gen, [])
        if isinstance(stored, list):
            stored.append((str(det), videos, n_boot))
    return found


def generators_of(entry: RunEntry) -> list[str]:
    """The generators of a run the figure has a point for: those of its quality table and
    those some detector was trained and tested on (``all`` left out), sorted."""
    gens = set(entry.data.quality["method"].astype(str)) if entry.data.quality is not None else set()
    if entry.data.detection is not None:
        d = entry.data.detection
        gens |= set(d.loc[d["train_set"] == d["test_set"], "train_set"].astype(str))
    return sorted(gens - {"all"})


def detectability(entry: RunEntry, generator: str, stored: list[tuple[str, pd.DataFrame, int]] | str) -> dict[str, Any]:
    """Detectability of one generator of a run: the mean over detectors of the in-domain
    video AUC (trained and tested on ``generator``; submissions and external detectors
    trained on nothing of it are left out) and its 95% interval
    (:func:`~forgebench.metrics.bootstrap.mean_metric_interval` over the detectors' stored
    test predictions, per-video scores aggregated as each ``metrics.json`` says, replicates
    as its ``n_boot``, the train stage's seed).

    Args:
        entry: the run (its stored detection table, ``n_boot``).
        generator: the generator.
        stored: the in-domain per-video test scores of its detectors
            (``[(detector, videos with label/score/identity/cluster, n_boot)]``), or why they could
            not be read.

    Returns:
        ``{"mean", "ci_low", "ci_high"`` (AUC units, NaN when there is none)``,
        "n_detectors", "detectors"`` (names)``, "n_boot", "n_identities",
        "n_identities_real", "n_identities_fake", "thin", "status"}``; ``status`` is
        ``ok``, ``ok (mean); interval unavailable: <reason>`` (a test set of one class,
        detectors tested on different people, unreadable predictions) or
        ``unavailable: <reason>`` (no detector trained and tested on the generator).
    """
    d = entry.data.detection
    out: dict[str, Any] = {
        "mean": math.nan,
        "ci_low": math.nan,
        "ci_high": math.nan,
        "n_detectors": 0,
        "detectors": "",
        "n_boot": entry.n_boot,
        "n_identities": pd.NA,
        "n_identities_real": pd.NA,
        "n_identities_fake": pd.NA,
        "thin": False,
        "status": "unavailable: no detector trained and tested on this generator",
    }
    if d is None or d.empty:
        out["status"] = "unavailable: no detector results in this run"
        return out
    cells = d[(d["train_set"] == generator) & (d["test_set"] == generator) & ~d["submission"].astype(bool)]
    if cells.empty:
        return out
    out.update(
        mean=float(cells["video_auc"].mean(skipna=False)),
        n_detectors=len(cells),
        detectors=", ".join(cells["detector"]),
        n_identities=int(cells["n_identities"].iloc[0]),
        n_identities_real=int(cells["n_identities_real"].iloc[0]),
        n_identities_fake=int(cells["n_identities_fake"].iloc[0]),
        thin=bool(cells["thin"].any()),
        status="ok",
    )
    try:
        if isinstance(stored, str):
            raise DataError(stored)
        by_detector = {det: (videos, n_boot) for det, videos, n_boot in stored}
        missing = [det for det in cells["detector"] if det not in by_detector]
        if missing:
            raise DataError(f"no stored test predictions of {missing}")
        n_boots = {by_detector[det][1] for det in cells["detector"]}
        if len(n_boots) > 1:
            raise DataError(f"the detectors' intervals used different bootstrap replicates ({sorted(n_boots)})")
        out["n_boot"] = n_boots.pop()
        samples = [
            (
                v["label"].to_numpy(),
                v["score"].to_numpy(dtype="float64"),
                (v["cluster"] if "cluster" in v.columns else v["identity"]).astype(str).to_numpy(),
            )
            for v in (by_detector[det][0] for det in cells["detector"])
        ]
        out["ci_low"], out["ci_high"] = mean_metric_interval(samples, "auc", n_boot=out["n_boot"], seed=BOOT_SEED)
    except (DataError, ValueError) as exc:
        out["status"] = f"ok (mean); interval unavailable: {exc}"
    if out["status"] == "ok" and math.isnan(out["ci_low"]):
        reason = interval_status(samples[0][0], samples[0][2]) or "a test set of one class"
        out["status"] = f"ok (mean); interval {reason}"
    return out


def cross_dataset_cells(run: RunDir, entry: RunEntry) -> list[dict[str, Any]]:
    """The cross-dataset table's cells whose test data is ``run``'s: every detector trained in
    the run, on its test set ``all`` (or its own train set when it has one generator), and
    every detector of another run evaluated on it (train set ``<set>@<run>``,
    :func:`forgebench.evaluate.evaluate_cross_dataset`), read from the stored detection
    table and ``metrics.json`` (``cross_dataset``); nothing is computed. A published
    detector (``trained_elsewhere``: DeepfakeBench's released weights) is a row of its
    own, its training run being the release (``"DeepfakeBench v1.0.1"``, dataset ``"FF++
    c23"``). Submissions and other external weights (trained on no known data) are left out.

    Returns:
        one dict per cell: ``detector``, ``train_run`` (the training run's folder name),
        ``train_dataset``, ``train_set``, ``cross`` (trained in another run or elsewhere),
        ``trained_elsewhere`` (``""`` unless published weights),
        ``crop_differs`` (test crops of another size or margin than training's),
        ``frame_auc``/``video_auc`` with ``*_ci_low``/``*_ci_high``, ``n_identities*``,
        ``n_videos``, ``n_frames``, ``thin``.
    """
    d = entry.data.detection
    cells: list[dict[str, Any]] = []
    if d is None or d.empty:
        return cells
    for (det, train_set), rows in d.groupby(["detector", "train_set"], sort=True):
        elsewhere = str(rows["trained_elsewhere"].iloc[0]) if "trained_elsewhere" in rows.columns else ""
        if bool(rows["submission"].any()) or (train_set == PRETRAINED_SET and not elsewhere):
            continue
        if elsewhere:  # a published detector (DeepfakeBench's weights): trained on another dataset by definition
            test_set = "all" if "all" in set(rows["test_set"]) else sorted(set(rows["test_set"]))[0]
            source, _, data = elsewhere.partition(" (")
            facts = {
                "train_run": source,
                "train_dataset": data.rstrip(")") or "?",
                "train_set": PRETRAINED_SET,
                "cross": True,
                "crop_differs": False,
                "trained_elsewhere": elsewhere,
            }
        elif CROSS_DATASET_SEP in train_set:
            try:
                doc = run.detectors.read_metrics(det, train_set)
            except DataError as exc:
                entry.notes.append(f"cross-dataset result {det}/{train_set} unreadable: {exc}")
                continue
            cd = doc.get("cross_dataset") or {}
            test_set = str(doc.get("test_set", "all"))
            facts = {
                "train_run": str(cd.get("train_run_folder", train_set.split(CROSS_DATASET_SEP)[-1])),
                "train_dataset": str(cd.get("train_dataset", "?")),
                "train_set": str(cd.get("train_set", train_set)),
                "cross": True,
                "crop_differs": (cd.get("train_crop_size"), cd.get("train_margin"))
                != (cd.get("test_crop_size"), cd.get("test_margin")),
                "trained_elsewhere": "",
            }
        else:
            sets = set(rows["test_set"])
            test_set = "all" if "all" in sets else train_set if train_set in sets else None
            if test_set is None:
                continue
            facts = {
                "train_run": run.root.name,
                "train_dataset": entry.dataset,
                "train_set": str(train_set),
                "cross": False,
                "crop_differs": False,
                "trained_elsewhere": "",
            }
        row = rows[rows["test_set"] == test_set]
        if row.empty:
            continue
        r = row.iloc[0]
        cells.append(
            {
                "detector": str(det),
                **facts,
                **{
                    k: r[k]
                    for k in (
                        "frame_auc",
                        "frame_auc_ci_low",
                        "frame_auc_ci_high",
                        "video_auc",
                        "video_auc_ci_low",
                        "video_auc_ci_high",
                        "n_identities",
                        "n_identities_real",
                        "n_identities_fake",
                        "n_videos",
                        "n_frames",
                        "thin",
                    )
                },
            }
        )
    return cells


def collect_runs(run_dirs: Sequence[str | Path], progress: bool = True) -> list[RunEntry]:
    """Read every run directory once and give each its label and settings group.

    Args:
        run_dirs: run directories, in the order the leaderboard lists them.
        progress: a tqdm bar over the runs.

    Returns:
        one :class:`~forgebench.leaderboard.across.RunEntry` per run; settings groups
        lettered ``A``, ``B``, ... in the order of their first run.

    Raises:
        DataError: no run given, a path that is not a run directory
            (:meth:`forgebench.rundir.RunDir.require`), the same run directory twice.
        ConfigError: a run's ``config.yaml`` does not validate.
    """
    if not run_dirs:
        raise DataError("no run directory given; name one or more: forgebench leaderboard RUN_DIR...")
    runs = [RunDir(p).require() for p in run_dirs]
    resolved = [r.root.resolve() for r in runs]
    twice = sorted({str(p) for p in resolved if resolved.count(p) > 1})
    if twice:
        raise DataError(f"run directory given more than once: {twice}")
    entries = []
    for run in tqdm(runs, desc="leaderboard runs", disable=None if progress else True):
        config = load_config(run.config_file)
        protocol = config.protocol_settings()
        dataset, compression, note = _video_id_parts(run, config)
        data = collect(run, config)
        entry = RunEntry(
            root=run.root,
            name=str(config.name),
            label=str(config.name),
            dataset=dataset,
            compression=compression,
            crop_size=int(config.faces.crop_size),
            margin=float(config.faces.margin),
            frames_per_video=int(config.faces.frames_per_video),
            n_boot=int(protocol.n_boot),
            min_identities=int(protocol.min_identities),
            data=data,
        )
        if note:
            entry.notes.append(note)
        if data.detection is None or data.detection.empty:
            entry.notes.append(data.detection_msg or "no detector results")
        stored = _in_domain(run, entry)
        entry.detectability = {g: detectability(entry, g, stored.get(g, [])) for g in generators_of(entry)}
        entry.cross_dataset = cross_dataset_cells(run, entry)
        entries.append(entry)
    best_marks(entries)
    return label_and_group(entries)


def best_marks(entries: list[RunEntry]) -> None:
    """Fill every entry's :attr:`~forgebench.leaderboard.across.RunEntry.marks`: per column of
    :data:`~forgebench.leaderboard.across.MARKED_COLUMNS`, among the rows of one table scored on
    the same test frames (in-domain rows apart from the others; same test set and identical
    ``(video_id, frame_index, label)`` rows, within a run or across runs), the best row and the rows not distinguishable from it: the paired
    cluster-bootstrap 95% interval of best − row (:func:`forgebench.compare.paired_bootstrap`,
    the run's ``n_boot``) contains 0 or is not estimable. Rows that cannot be read, or that
    nothing else shares test frames with, stay unmarked."""
    groups: dict[tuple[bool, str, str], list[tuple[RunEntry, str, str, pd.DataFrame]]] = {}
    for e in entries:
        d = e.data.detection
        if d is None or d.empty:
            continue
        run = RunDir(e.root)
        for det, train_set in sorted(set(zip(d["detector"], d["train_set"]))):
            try:
                preds = run.detectors.read_predictions(det, train_set)
            except DataError:
                continue
            for test_set, p in preds.groupby("test_set", sort=True):
                p = p.sort_values(["video_id", "frame_index"], ignore_index=True)
                key = hashlib.sha256(
                    pd.util.hash_pandas_object(p[["video_id", "frame_index", "label"]], index=False)
                    .to_numpy()
                    .tobytes()
                ).hexdigest()
                # in-domain rows (train set = test set) and the others are different tables' columns
                groups.setdefault((train_set == test_set, str(test_set), key), []).append((e, det, train_set, p))
    higher = {key: better for key, _, better in COMPARED}
    for (_, test_set, _), rows in groups.items():
        if len(rows) < 2:
            continue
        for level in ("video", "frame"):
            tables = []
            for e, _det, _train_set, p in rows:
                how = (
                    str(e.data.detection["video_aggregation"].iloc[0])
                    if "video_aggregation" in e.data.detection
                    else "mean"
                )
                tables.append(p if level == "frame" else video_scores(p, score_col="score", by="video_id", how=how))
            paired: dict[tuple[int, int], dict] = {}  # (best row, row) -> every metric's paired difference, drawn once
            for metric, better in higher.items():
                col = f"{level}_{metric}"
                values = [float(detection_metrics(t["label"], t["score"])[metric]) for t in tables]
                if not any(math.isfinite(v) for v in values):
                    continue
                best = int(np.nanargmax(values) if better else np.nanargmin(values))
                ref = tables[best]
                clusters = (ref["cluster"] if "cluster" in ref.columns else ref["identity"]).astype(str)
                for k, ((e, det, train_set, _), t) in enumerate(zip(rows, tables)):
                    if k == best:
                        e.marks[(det, train_set, test_set, col)] = BEST_MARK
                        continue
                    if (best, k) not in paired:
                        paired[(best, k)] = paired_bootstrap(
                            ref["label"], ref["score"], t["score"].to_numpy(), clusters, n_boot=rows[best][0].n_boot
                        )
                    diff = paired[(best, k)][metric]
                    low, high = diff["ci_low"], diff["ci_high"]
                    if not (math.isfinite(low) and math.isfinite(high)) or low <= 0 <= high:
                        e.marks[(det, train_set, test_set, col)] = SAME_AS_BEST_MARK


def write_across(run_dirs: list[Path], out: Path, progress: bool = True) -> tuple[Path, str]:
    """``forgebench leaderboard RUN_DIR... --out DIR``: one leaderboard across runs.

    Reads every run (:func:`collect_runs`) and writes ``leaderboard.md``,
    ``leaderboard.csv``, ``report.html``, ``leaderboard.tex`` and
    ``plots/quality_vs_detectability.png`` into ``out``
    (:func:`forgebench.leaderboard.across.write_outputs`). A run without detector results
    is listed with a note; nothing is written before every path was checked.

    Returns:
        ``(out, the Markdown text)``.

    Raises:
        DataError: no run, a path that is not a run directory, a run given twice.
        ConfigError: a run's ``config.yaml`` does not validate.
    """
    entries = collect_runs(run_dirs, progress)
    return Path(out), write_outputs(entries, Path(out))
