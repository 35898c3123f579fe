"""``forgebench leaderboard RUN_DIR... [--out DIR]``: gather several run directories into one
leaderboard (:mod:`forgebench.leaderboard.across` formats it).

This is the part that reads run directories (through :class:`~forgebench.rundir.RunDir`,
as the report stage does): each run's config, its report data
(:func:`forgebench.stages.report.collect`), the dataset and compression of its video ids,
and, for the quality-vs-detectability figure, the stored test predictions of every
detector trained and tested on the same generator (per-video scores, aggregated as its
``metrics.json`` says).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from tqdm.auto import tqdm

from forgebench.config import Config
from forgebench.configure import load_config
from forgebench.errors import DataError
from forgebench.leaderboard.across import RunEntry, label_and_group, write_outputs
from forgebench.metrics.detection import video_scores
from forgebench.rundir import RunDir
from forgebench.stages.common import dataset_name
from forgebench.stages.report import collect

__all__ = ["collect_runs", "write_across"]


def _video_id_parts(run: RunDir, config: Config) -> tuple[str, str, str | None]:
    """``(dataset, compression, note)`` of a run: the dataset and compression parts of its
    video ids as the faces manifest stores them, or as the extract stage would name them
    from ``config.yaml`` (:func:`forgebench.stages.common.dataset_name`,
    ``data.compression``; the note says so) when nothing was extracted yet."""
    try:
        faces = run.read_faces()
    except DataError:
        faces = None
    if faces is not None and len(faces):
        return ("/".join(sorted(set(faces["dataset"].astype(str)))), "/".join(sorted(set(faces["compression"].astype(str)))), None)
    return dataset_name(config), str(config.data.compression), ("no faces/manifest.parquet yet: dataset and compression as "
                                                                 "config.yaml names them")


def _in_domain(run: RunDir, entry: RunEntry) -> None:
    """Fill ``entry.in_domain``: per generator, the per-video test scores of every detector
    trained and tested on it (not submissions), with the ``n_boot`` of its intervals."""
    d = entry.data.detection
    if d is None or d.empty:
        return
    cells = d[(d["train_set"] == d["test_set"]) & ~d["submission"].astype(bool)]
    for (det, gen), _ in cells.groupby(["detector", "train_set"], sort=True):
        try:
            doc = run.read_detector_metrics(det, gen)
            n_boot = int((doc.get("test_sets", {}).get(gen, {}).get("video", {}) or {}).get("n_boot", entry.n_boot))
            preds = run.read_predictions(det, gen)
            preds = preds[preds["test_set"] == gen]
            videos = video_scores(preds, score_col="score", by="video_id", how=str(doc.get("video_aggregation", "mean")))
        except DataError as exc:
            entry.in_domain[gen] = f"{det}: {exc}"
            continue
        stored = entry.in_domain.setdefault(gen, [])
        if isinstance(stored, list):
            stored.append((str(det), videos, n_boot))


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
        entry = RunEntry(root=run.root, name=str(config.name), label=str(config.name), dataset=dataset, compression=compression,
                         crop_size=int(config.faces.crop_size), margin=float(config.faces.margin),
                         frames_per_video=int(config.faces.frames_per_video), n_boot=int(protocol.n_boot),
                         min_identities=int(protocol.min_identities), data=data)
        if note:
            entry.notes.append(note)
        if data.detection is None or data.detection.empty:
            entry.notes.append(data.detection_msg or "no detector results")
        _in_domain(run, entry)
        entries.append(entry)
    return label_and_group(entries)


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
