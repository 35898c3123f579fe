"""Import a FaceForensics++ download as a forgebench run directory.

Layout read (the official download script's, ``ROOT`` = the folder it wrote)::

    ROOT/original_sequences/youtube/<c>/videos/<id>.mp4            real videos, id 000..999
    ROOT/manipulated_sequences/<Method>/<c>/videos/<target>_<source>.mp4
    ROOT/splits/{train,val,test}.json  or  ROOT/{train,val,test}.json

``<c>`` is the compression (``raw``/``c0``, ``c23``, ``c40``). The split files are the
official ones (``dataset/splits/`` of the FaceForensics GitHub repository; the download
script does not fetch them): each is a list of id pairs ``[["071", "054"], ...]``; both
ids of a pair, and the fakes ``071_054`` and ``054_071``, are in that pair's split.

Identity assumption: FaceForensics++ numbers its 1000 sequences and does not label
people, so the sequence id is taken as the identity (``identity`` = id; a fake's
``identity`` is its target id; its second id is the ``source`` of a face swap —
Deepfakes, FaceSwap, FaceShifter, DeepFakeDetection — or the ``driving`` video of a
reenactment — Face2Face, NeuralTextures). The 1000 sequences
come from 977 YouTube videos, so a few people may appear under two ids; the official
split is made on these ids and is followed as is.

The run directory is the one ``forgebench extract`` makes (docs/architecture.md), so
``forgebench train`` and ``forgebench report`` work on it; faces of real and fake
videos are extracted by the same units as the extract stage
(:func:`forgebench.stages.extract.extract_faces`), with the run config's ``faces`` settings. Videos are not re-encoded: they
are already at compression ``<c>``, so ``videos.parquet`` ``real_path`` is the absolute
path of the FaceForensics++ file (outside the run directory).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pandas as pd

from forgebench.config import Config
from forgebench.configure import config_from_dict, load_config
from forgebench.errors import ConfigError, DataError, MediaError
from forgebench.media import probe
from forgebench.provenance import update_provenance
from forgebench.rundir import RunDir, make_video_id, sha256_file
from forgebench.stages import bind
from forgebench.stages.common import log as _log
from forgebench.stages.extract import VideoMeta, extract_faces

DATASET = "FaceForensics++"
FF_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")
#: FaceForensics++ methods whose second id drives the target's expressions (reenactment);
#: the others paste the second id's face in (face swaps).
REENACTMENT_METHODS = ("Face2Face", "NeuralTextures")
SPLIT_NAMES = ("train", "val", "test")
#: x264 CRF of each FaceForensics++ compression level.
COMPRESSION_CRF = {"raw": 0, "c0": 0, "c23": 23, "c40": 40}
FAKE_NAME = re.compile(r"^([^_]+)_([^_]+)$")


def find_split_files(root: str | os.PathLike, splits_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """The official split files ``{"train": path, "val": path, "test": path}``.

    Looked for in ``splits_dir`` if given, else in ``ROOT/splits/``, then ``ROOT/``
    (the first folder holding all three is used).

    Raises:
        DataError: no folder holds all three files (the message lists where it looked).
    """
    places = [Path(splits_dir)] if splits_dir is not None else [Path(root) / "splits", Path(root)]
    for folder in places:
        files = {s: folder / f"{s}.json" for s in SPLIT_NAMES}
        if all(f.is_file() for f in files.values()):
            return files
    looked = ", ".join(str(p / "{train,val,test}.json") for p in places)
    raise DataError(
        f"FaceForensics++ split files not found (looked for {looked}); copy train.json, val.json and test.json "
        "from dataset/splits/ of the FaceForensics repository there"
    )


def read_ff_splits(root: str | os.PathLike, splits_dir: str | os.PathLike | None = None) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """Read the official split files (see :func:`find_split_files`).

    Returns:
        ``({video id: split}, [(split, id_a, id_b), ...])``: the split of every id named
        in a pair, and the pairs in file order (train, val, test).

    Raises:
        DataError: a file is missing, not JSON, not a list of pairs of id strings, or an
            id is in two splits (the message names the file).
    """
    split_of: dict[str, str] = {}
    where: dict[str, Path] = {}
    pairs = []
    for split, path in find_split_files(root, splits_dir).items():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"{path}: cannot read the split file ({exc})") from None
        if not isinstance(doc, list):
            raise DataError(f"{path}: a split file must be a list of id pairs like [[\"071\", \"054\"], ...]")
        for item in doc:
            if not (isinstance(item, list) and len(item) == 2 and all(isinstance(v, str) for v in item)):
                raise DataError(f"{path}: entry {item!r} is not a pair of video id strings like [\"071\", \"054\"]")
            for vid in item:
                if split_of.get(vid, split) != split:
                    raise DataError(f"{path}: video {vid} is also in {where[vid]}; splits must be disjoint")
                split_of[vid], where[vid] = split, path
            pairs.append((split, item[0], item[1]))
    return split_of, pairs


def import_config(
    run_dir: Path, compression: str = "c23", config: str | os.PathLike | None = None, frames_per_video: int | None = None
) -> Config:
    """The resolved config of an imported run: ``config`` (a YAML file) or the defaults
    with no generators (the fakes are FaceForensics++'s), with ``data.dataset =
    "FaceForensics++"``, ``data.compression = compression``, ``data.crf`` its CRF,
    ``data.videos = null`` and, if given, ``faces.frames_per_video``. ``data.max_seconds``
    is not applied: faces are sampled over each whole FaceForensics++ video.

    Raises:
        ConfigError: the config file is invalid.
    """
    overrides = {"data.dataset": DATASET, "data.compression": compression, "data.videos": None}
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
    return config_from_dict(data, "<faceforensics import defaults>")


def _select(pairs: list[tuple[str, str, str]], available: set[str], max_videos: int | None) -> set[str]:
    """Ids to import: every id of the splits that has a video, or with ``max_videos`` at
    most that many, taken pair by pair in turn from train, val and test."""
    wanted = [(s, a, b) for s, a, b in pairs if a in available or b in available]
    if max_videos is None:
        return {v for _, a, b in wanted for v in (a, b) if v in available}
    queues = {s: [p for p in wanted if p[0] == s] for s in SPLIT_NAMES}
    chosen: set[str] = set()
    while any(queues.values()):
        for s in SPLIT_NAMES:
            if queues[s]:
                _, a, b = queues[s].pop(0)
                new = {v for v in (a, b) if v in available} - chosen
                if len(chosen) + len(new) > max_videos:
                    return chosen
                chosen |= new
    return chosen


def import_faceforensics(
    root: str | os.PathLike,
    run_dir: str | os.PathLike,
    compression: str = "c23",
    methods: tuple[str, ...] | list[str] = FF_METHODS,
    config: str | os.PathLike | None = None,
    frames_per_video: int | None = None,
    max_videos: int | None = None,
    splits_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict:
    """Make a forgebench run directory from a FaceForensics++ tree (layout in the module
    docstring); re-running resumes (finished videos are not redone).

    Writes ``config.yaml`` (:func:`import_config`), ``faces/videos.parquet`` (one row
    per real video in a split that decodes: ``video_name`` = ``identity`` = the id,
    ``split`` from the split files, ``input_path`` = ``real_path`` = the absolute path
    of the file, ``fps, n_frames, width, height``), the face crops and manifests of the
    real videos (method ``real``) and of the fakes (method = the FaceForensics++ method
    name, ``video_name = "<target>_<source>"``, label 1, ``source`` or ``driving`` the
    second id (:data:`REENACTMENT_METHODS`), e.g. video id
    ``FaceForensics++/Deepfakes/c23/000_003``), ``faces/manifest.parquet``,
    ``faces/report.json`` and ``provenance.json`` (stage ``import``: root, methods,
    split files with SHA-256, counts).

    Left out, with a log line and a count in the result, never aborting: methods not in
    the tree; videos whose id is in no split file; fake names that are not
    ``<target>_<source>``; fakes whose target has no usable real video or whose target
    and source are in different splits. Videos that cannot be decoded or show no face
    are recorded in ``faces/report.json`` and skipped.

    Args:
        root: the FaceForensics++ folder.
        run_dir: the run directory to write (made if missing).
        compression: ``raw``, ``c23`` or ``c40`` (the folder name under each method).
        methods: manipulation folders to import.
        config: a forgebench YAML config for the run (detectors, faces settings, ...).
        frames_per_video: overrides ``faces.frames_per_video``.
        max_videos: import at most this many real videos, whole pairs taken in turn from
            train, val and test (quick trials); their fakes come with them.
        splits_dir: folder of the split files (default ``ROOT/splits``, then ``ROOT``).
        progress: show progress bars.

    Returns:
        Summary dict: ``run_dir``, ``real_videos``, ``fake_videos`` (per method),
        ``missing_methods``, ``not_in_split``, ``left_out_fakes``, ``errors``.

    Raises:
        DataError: ``ROOT`` has no ``original_sequences/youtube/<c>/videos`` with videos,
            or the split files are missing or invalid.
        ConfigError: invalid config, or ``run_dir`` was made with a different config.
    """
    start = time.time()
    root, run = Path(root).resolve(), RunDir(run_dir)
    run_dir = run.root
    real_dir = root / "original_sequences" / "youtube" / compression / "videos"
    reals = {p.stem: p for p in sorted(real_dir.glob("*.mp4"))} if real_dir.is_dir() else {}
    if not reals:
        raise DataError(f"{real_dir}: no .mp4 videos; is {root} a FaceForensics++ folder at compression {compression}?")
    split_of, pairs = read_ff_splits(root, splits_dir)
    if max_videos is not None and max_videos < 2:
        raise DataError(f"--max-videos must be at least 2 (one pair of {root}), got {max_videos}")
    cfg = import_config(run_dir, compression, config, frames_per_video)
    try:
        bind(run, cfg)
    except ConfigError:
        raise ConfigError(
            f"{run.config_file}: this run directory was imported with other settings (config, --compression or "
            "--frames-per-video); re-run the import with the same ones or choose another --out"
        ) from None
    not_in_split = sorted(set(reals) - set(split_of))
    if not_in_split:
        _log(f"left out {len(not_in_split)} real videos whose id is in no split file (e.g. {not_in_split[:3]})")
    chosen = _select(pairs, set(reals) & set(split_of), max_videos)

    rows, errors = _video_rows(run, {v: reals[v] for v in sorted(chosen)}, split_of, compression)
    jobs = [(Path(r["real_path"]), VideoMeta(DATASET, "real", compression, r["video_name"], 0, r["identity"])) for r in rows]
    if not rows:
        raise DataError(f"{real_dir}: none of the selected real videos could be decoded (see {run.report_file})")
    usable = {r["video_name"] for r in rows}
    fake_jobs, fake_counts, missing, left_out = _fake_jobs(root, compression, methods, split_of, set(reals), chosen, usable)
    jobs += fake_jobs
    run.write_videos(pd.DataFrame(rows))
    failed = extract_faces(run, jobs, cfg.faces, progress)
    errors += failed
    for e in failed:
        _log(f"left out: {e}")
    run.write_faces(run.collect_faces())
    summary = {
        "run_dir": str(run_dir),
        "real_videos": len(rows),
        "fake_videos": fake_counts,
        "missing_methods": missing,
        "not_in_split": len(not_in_split),
        "left_out_fakes": left_out,
        "errors": errors,
    }
    facts = {
        "root": str(root),
        "compression": compression,
        "methods": list(methods),
        "split_files": {s: {"file": str(p), "sha256": sha256_file(p)} for s, p in find_split_files(root, splits_dir).items()},
        "max_videos": max_videos,
        **{k: v for k, v in summary.items() if k not in ("run_dir", "errors")},
        "n_errors": len(errors),
    }
    update_provenance(run, cfg, "import", time.time() - start, {"faceforensics": facts})
    return summary


def _fake_jobs(
    root: Path, compression: str, methods, split_of: dict[str, str], available: set[str], chosen: set[str], usable: set[str]
) -> tuple[list[tuple[Path, VideoMeta]], dict[str, int], list[str], dict[str, int]]:
    """Extraction jobs of the fakes of ``methods`` whose target is an imported real video
    (``available``: ids with a real file; ``chosen``: ids selected; ``usable``: ids whose
    real video decodes).

    Returns ``(jobs, {method: fakes}, methods not in the tree, {reason: fakes left out})``;
    reasons: ``not_target_source`` (file name), ``not_in_split`` (an id in no split
    file), ``cross_split`` (target and source in different splits), ``no_real_video``
    (the target's real video is missing or does not decode), ``not_selected`` (target
    outside the ``max_videos`` selection).
    """
    jobs, counts, missing = [], {}, []
    left_out = dict.fromkeys(("not_target_source", "not_in_split", "cross_split", "no_real_video", "not_selected"), 0)
    for method in methods:
        folder = root / "manipulated_sequences" / method / compression / "videos"
        if not folder.is_dir():
            missing.append(method)
            _log(f"method {method}: {folder} not found, skipped")
            continue
        counts[method] = 0
        for video in sorted(folder.glob("*.mp4")):
            match = FAKE_NAME.match(video.stem)
            target, source = match.groups() if match else (None, None)
            if match is None:
                reason = "not_target_source"
            elif target not in split_of or source not in split_of:
                reason = "not_in_split"
            elif split_of[target] != split_of[source]:
                reason = "cross_split"
            elif target in usable:
                role = {"driving": source} if method in REENACTMENT_METHODS else {"source": source}
                jobs.append((video, VideoMeta(DATASET, method, compression, video.stem, 1, target, **role)))
                counts[method] += 1
                continue
            else:
                reason = "not_selected" if target in available and target not in chosen else "no_real_video"
            left_out[reason] += 1
    for reason, n in left_out.items():
        if n and reason != "not_selected":
            _log(f"left out {n} fake videos: {reason.replace('_', ' ')}")
    return jobs, counts, missing, left_out


def _video_rows(run: RunDir, videos: dict[str, Path], split_of: dict[str, str], compression: str) -> tuple[list[dict], list[str]]:
    """Rows of ``faces/videos.parquet`` for the real videos that decode (probed once;
    rows of an earlier import are reused and kept, so a smaller ``max_videos`` never
    orphans faces already extracted); undecodable ones are recorded and skipped."""
    old = {r["video_name"]: r for r in run.read_videos().to_dict("records")} if run.videos_file.is_file() else {}
    rows = [{**r, "split": split_of[v]} for v, r in old.items() if v not in videos and v in split_of]  # earlier imports
    errors = []
    for vid, path in videos.items():
        source = str(path.resolve())
        if vid in old and old[vid]["input_path"] == source:
            rows.append({**old[vid], "split": split_of[vid]})
            continue
        try:
            info = probe(path)
        except MediaError as exc:
            run.update_report({make_video_id(DATASET, "real", compression, vid): {"video": str(path), "error": str(exc)}})
            errors.append(str(exc))
            _log(f"left out: {exc}")
            continue
        rows.append(
            {
                "video_name": vid, "identity": vid, "split": split_of[vid], "input_path": source, "real_path": source,
                "fps": info.fps, "n_frames": info.n_frames, "width": info.width, "height": info.height,
            }
        )
    return rows, errors
