"""``forgebench import NAME ROOT --out RUN_DIR``: a dataset as its official download leaves it,
made into a run directory that ``forgebench train``, ``evaluate`` and ``report`` use like any
other run.

The importer (:mod:`forgebench.datasets`, found by name) reads ``ROOT`` and returns its table
of videos; nothing is written before it has been read and checked, and nothing is written
outside ``RUN_DIR``. Then, as units of work that resume:

1. the real videos are probed (frame rate, frames, size; a video that does not decode is
   recorded in ``faces/report.json`` and left out);
2. the faces of every video are extracted by the extract stage's units
   (:func:`forgebench.stages.extract.extract_faces`: videos and frame folders cropped by
   the run's ``faces`` settings, crops of a DeepfakeBench JSON taken as they are);
3. the identity check and the splits (:func:`forgebench.stages.extract.settle_splits`):
   official splits followed as published, person by person;
4. ``faces/videos.parquet`` (the real videos kept), ``faces/manifest.parquet``,
   ``faces/dataset_index.parquet`` (every listed video with its people, split, status and
   where each value came from) and ``provenance.json`` (stage ``import``: the importer, its
   options, the index files read with their SHA-256, counts, what was left out and why).

Videos are not re-encoded: they are used at the compression the dataset ships
(``real_path`` is the dataset's file, outside the run directory).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

from forgebench.config import Config
from forgebench.configure import config_from_dict, load_config
from forgebench.datasets import DatasetImporter, get_dataset, list_datasets
from forgebench.errors import ConfigError, DataError, MediaError
from forgebench.execution import Unit, backend_for, run_units, stage_progress
from forgebench.fileio import sha256_file
from forgebench.media import probe, read_image
from forgebench.provenance import update_provenance
from forgebench.rundir import RunDir
from forgebench.splits import SPLITS, person_components
from forgebench.stages import bind
from forgebench.stages.common import log
from forgebench.stages.extract import FrameSet, VideoMeta, extract_faces, settle_splits, with_video_ids

__all__ = ["COMPRESSION_CRF", "importer_for", "import_config", "select_videos", "probe_unit", "import_dataset"]

#: x264 CRF of each FaceForensics++ compression level.
COMPRESSION_CRF = {"raw": 0, "c0": 0, "c23": 23, "c40": 40}


def importer_for(name: str, options: dict[str, Any] | None = None) -> DatasetImporter:
    """The importer registered as ``name`` with ``options`` (CLI flags, ``None`` values dropped).

    Raises:
        ConfigError: unknown dataset (lists the registered ones), or an option it does not
            take or a wrong value (names the importer and the option).
    """
    try:
        cls = get_dataset(name)
    except KeyError:
        raise ConfigError(
            f"forgebench import: unknown dataset {name!r}; registered: {', '.join(list_datasets())}"
        ) from None
    given = {k: v for k, v in (options or {}).items() if v is not None and v != []}
    unknown = sorted(set(given) - set(cls.Options.model_fields))
    if unknown:
        takes = ", ".join(f"--{k.replace('_', '-')}" for k in cls.Options.model_fields) or "no options"
        raise ConfigError(
            f"forgebench import {name}: takes no {', '.join('--' + k.replace('_', '-') for k in unknown)} "
            f"(it takes {takes})"
        )
    return cls(given)


def import_config(
    run_dir: Path,
    dataset: str,
    compression: str,
    config: str | os.PathLike | None = None,
    frames_per_video: int | None = None,
) -> Config:
    """The resolved config of an imported run: ``config`` (a YAML file) or the defaults with no
    generators (the fakes are the dataset's), with ``data.dataset``, ``data.compression``,
    ``data.crf`` (its CRF for FaceForensics++'s levels), ``data.videos = null`` and, if given,
    ``faces.frames_per_video``. ``data.max_seconds`` is not applied: faces are sampled over
    each whole video.

    Raises:
        ConfigError: the config file is invalid.
    """
    overrides: dict[str, Any] = {"data.dataset": dataset, "data.compression": compression, "data.videos": None}
    if compression in COMPRESSION_CRF:
        overrides["data.crf"] = COMPRESSION_CRF[compression]
    if frames_per_video is not None:
        overrides["faces.frames_per_video"] = int(frames_per_video)
    if config is not None:
        return load_config(config, overrides)
    data: dict = {"name": Path(run_dir).name, "generators": {}}
    for dotted, value in overrides.items():
        section, key = dotted.split(".")
        data.setdefault(section, {})[key] = value
    return config_from_dict(data, f"<{dataset} import defaults>")


def select_videos(table: pd.DataFrame, max_videos: int | None) -> tuple[pd.DataFrame, int]:
    """At most ``max_videos`` real videos (fake videos, for a dataset of fakes only) for a quick
    trial: whole groups of people (a person with the people their fakes link them to,
    :func:`forgebench.splits.person_components`) taken in turn from train, val, test and
    unsplit, with every fake of the people taken.

    Returns:
        ``(table subset, videos left out)``; the table itself when ``max_videos`` is None.

    Raises:
        DataError: ``max_videos`` < 1.
    """
    if max_videos is None:
        return table, 0
    if max_videos < 1:
        raise DataError(f"--max-videos must be at least 1, got {max_videos}")
    rows = table.to_dict("records")
    comp = person_components(rows)
    counted = (table["label"] == 0) if (table["label"] == 0).any() else (table["label"] == 1)
    size: dict[str, int] = {}
    split_of: dict[str, str] = {}
    for r, c in zip(rows, counted):
        key = comp[r["identity"]]
        size[key] = size.get(key, 0) + int(c)
        split_of.setdefault(key, r["split"])
    queues = {s: sorted(k for k in size if split_of[k] == s) for s in (*SPLITS, "")}
    chosen: set[str] = set()
    total = 0
    while any(queues.values()):
        for s in queues:
            if queues[s]:
                key = queues[s].pop(0)
                if total + size[key] > max_videos:
                    queues = {}
                    break
                chosen.add(key)
                total += size[key]
    keep = [comp[r["identity"]] in chosen for r in rows]
    return table[keep].reset_index(drop=True), int(len(table) - sum(keep))


def probe_unit(source: str, kind: str, frames: list[str]) -> dict[str, Any]:
    """``fps``, ``n_frames``, ``width``, ``height`` of a real video (PyAV), or of a frame set
    (``fps`` NaN, the number of listed frames, the first image's size).

    Raises:
        MediaError: the video or first image cannot be read.
    """
    if kind == "video":
        info = probe(source)
        return {"fps": info.fps, "n_frames": info.n_frames, "width": info.width, "height": info.height}
    h, w = read_image(frames[0]).shape[:2]
    return {"fps": float("nan"), "n_frames": len(frames), "width": int(w), "height": int(h)}


def _source(r: dict) -> Path | FrameSet:
    if r["kind"] == "video":
        return Path(r["path"])
    return FrameSet(Path(r["path"]), r["kind"], tuple(r["frames"]), tuple(r["landmarks"]), tuple(r["masks"]))


def import_dataset(
    name: str,
    root: str | os.PathLike,
    run_dir: str | os.PathLike,
    *,
    options: dict[str, Any] | None = None,
    config: str | os.PathLike | None = None,
    frames_per_video: int | None = None,
    max_videos: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Make a run directory from a dataset download (module docstring); running it again resumes.

    Args:
        name: the registered importer (``forgebench import --list``).
        root: the dataset folder (the JSON file for ``deepfakebench``).
        run_dir: the run directory to write (made if missing).
        options: the importer's options (CLI flags; ``None`` values are not given).
        config: a forgebench YAML config for the run (faces settings, detectors, protocol).
        frames_per_video: overrides ``faces.frames_per_video``.
        max_videos: at most this many real videos, whole groups of people in turn from each
            split (:func:`select_videos`).
        progress: progress bars.

    Returns:
        Summary: ``run_dir``, ``dataset`` (its title), ``real_videos`` (kept), ``fake_videos``
        (kept, per method), ``left_out`` (reason -> videos), ``errors`` (messages of videos
        that did not decode or showed no face), ``splits`` (split -> videos kept),
        ``identity_check`` (its one-line summary), ``validation`` (how a missing validation
        split was carved), ``fakes_only``.

    Raises:
        ConfigError: unknown dataset or option, an invalid config, or ``run_dir`` imported
            with other settings.
        DataError: the importer's errors (missing or malformed index files, missing listed
            videos, paths leaving the root, bad labels, duplicate video ids), no video left,
            too few people for the splits.
    """
    start = time.time()
    importer = importer_for(name, options)
    root = Path(root).absolute()
    if not root.exists():
        raise DataError(f"{root}: not found (forgebench import {name} needs the dataset's folder)")
    table = importer.read(root)
    table, not_selected = select_videos(table, max_videos)
    if table.empty:
        raise DataError(f"{root}: no video left to import (--max-videos {max_videos})")
    run = RunDir(run_dir)
    datasets = sorted(table.loc[table["label"] == 1, "dataset"].unique()) or sorted(table["dataset"].unique())
    compression = table["compression"].mode().iloc[0]
    cfg = import_config(
        run.root, datasets[0] if len(datasets) == 1 else importer.title, compression, config, frames_per_video
    )
    try:
        bind(run, cfg)
    except ConfigError:
        raise ConfigError(
            f"{run.config_file}: this run directory was imported with other settings (config, --compression, "
            "--frames-per-video, ...); re-run the import with the same ones or choose another --out"
        ) from None
    listed = with_video_ids(table)
    with stage_progress("import", progress):
        backend = backend_for(cfg.execution)
        reals = listed[listed["label"] == 0].to_dict("records")
        units = [Unit(f"probe {r['video_id']}", probe_unit, (r["path"], r["kind"], list(r["frames"]))) for r in reals]
        probed, errors, failed = {}, [], {}
        for r, o in zip(
            reals, run_units(units, "probe real videos", progress, expected=(MediaError,), backend=backend)
        ):
            if o.ok:
                probed[r["video_id"]] = o.value
            else:
                failed[r["video_id"]] = {"video": r["path"], "error": str(o.error)}
                errors.append(str(o.error))
                log(f"left out: {o.error}")
        run.faces.update_report(failed)
        jobs = [
            (
                _source(r),
                VideoMeta(
                    r["dataset"],
                    r["method"],
                    r["compression"],
                    r["video_name"],
                    int(r["label"]),
                    r["identity"],
                    r["source"],
                    r["driving"],
                    # a video row's one mask entry is its mask video (FaceForensics++ masks/videos)
                    mask=r["masks"][0] if r["kind"] == "video" and len(r["masks"]) else "",
                ),
            )
            for r in listed.to_dict("records")
            if r["label"] == 1 or r["video_id"] in probed
        ]
        failed_faces = extract_faces(run, jobs, cfg.faces, progress, backend)
        for e in failed_faces:
            log(f"left out: {e}")
        errors += failed_faces
        index, facts = settle_splits(run, cfg, listed, progress, backend)
        kept = index[(index["status"] == "kept") & (index["label"] == 0)]
        videos = pd.DataFrame(
            [
                {
                    "video_name": r["video_name"],
                    "identity": r["identity"],
                    "split": r["split"],
                    "input_path": r["path"],
                    "real_path": r["path"],
                    **probed[r["video_id"]],
                }
                for r in kept.to_dict("records")
            ],
            columns=[
                "video_name",
                "identity",
                "split",
                "input_path",
                "real_path",
                "fps",
                "n_frames",
                "width",
                "height",
            ],
        )
        run.faces.write_videos(videos)
        run.faces.write_manifest(run.faces.collect())
    fakes = index[(index["status"] == "kept") & (index["label"] == 1)]
    left_out = dict(importer.left_out)
    for reason, n in facts.get("left_out", {}).items():
        if n:
            left_out[reason] = left_out.get(reason, 0) + n
    if not_selected:
        left_out["not selected (--max-videos)"] = not_selected
    summary = {
        "run_dir": str(run.root),
        "dataset": importer.title,
        "real_videos": int(len(kept)),
        "fake_videos": {str(k): int(v) for k, v in fakes.groupby("method").size().items()},
        "left_out": left_out,
        "errors": errors,
        "splits": facts.get("videos", {}),
        "identity_check": facts.get("identity_check", ""),
        "validation": facts.get("validation", ""),
        "fakes_only": bool(len(kept) == 0),
    }
    if summary["fakes_only"]:
        log(
            f"{root}: the run holds fakes only (no real video): detectors cannot be trained or scored on it alone; "
            "name the dataset's real class with --real-root"
        )
    kinds = sorted(set(table["kind"]))
    facts_out = {
        "importer": name,
        "title": importer.title,
        "root": str(root),
        "options": importer.options.model_dump(mode="json"),
        "sources": [
            {"file": str(p), "sha256": sha256_file(p)} for p in dict.fromkeys(importer.sources) if Path(p).is_file()
        ],
        "max_videos": max_videos,
        "kinds": kinds,
        "split_rule": importer.split_rule,
        "identity_rule": importer.identity_rule,
        "crop_procedure": (
            "taken as they are (the dataset's own crops: " + importer.title + "'s preprocessing); the faces "
            "stage was skipped"
        )
        if "crops" in kinds
        else "forgebench's faces stage (config faces section)",
        **{k: v for k, v in summary.items() if k not in ("run_dir", "errors")},
        "n_errors": len(errors),
    }
    update_provenance(run, cfg, "import", time.time() - start, {"dataset": facts_out})
    return summary
