"""The extract stage: re-encode the real videos, extract the faces of every video (real and
fake), assign identity-disjoint splits.

Units of work (:mod:`forgebench.stages.extract_units`, re-exported here):

- :func:`~forgebench.stages.extract_units.reencode_unit`: one real input video re-encoded
  with the fakes' codec settings (``faces/real/<c>/<video>.mp4``), duration-capped;
- :func:`~forgebench.stages.extract_units.faces_unit`: one video's faces: it writes the
  crops (``faces/crops/<method>/<video>/*.png``) and returns the rows of which the stage
  writes ``faces/manifest/<method>/<video>.parquet`` as it finishes; the same function for
  real and fake videos (``frames_unit`` and ``crops_unit`` for datasets shipped as images).

A unit whose output exists is skipped, so the stage resumes; a video that cannot be
decoded or shows no face is recorded in ``faces/report.json`` and left out, the others
finish. The stage then writes ``faces/videos.parquet`` (first run only: the splits are
fixed once) and the combined face manifest ``faces/manifest.parquet`` that later stages
read. It runs before the generate stage (faces of the real videos) and after it (faces
of the fakes): ``forgebench run`` and ``forgebench generate`` do both.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forgebench.config import Config, FacesSettings
from forgebench.errors import DataError, MediaError, NoFaceError
from forgebench.execution import Backend, Outcome, Unit, backend_for, run_units, stage_progress
from forgebench.fileio import write_json, write_parquet
from forgebench.provenance import update_provenance
from forgebench.rundir import RunDir
from forgebench.schemas import FACES, make_video_id
from forgebench.splits import resolve_splits
from forgebench.stages.common import dataset_name, input_table, log
from forgebench.stages.extract_units import (
    FrameSet,
    VideoMeta,
    crops_unit,
    faces_unit,
    frames_unit,
    input_signature,
    reencode_unit,
)

# The units and their inputs are defined in forgebench.stages.extract_units (worker processes
# import that module alone) and re-exported here, with the stage's own functions.
__all__ = [
    "VideoMeta",
    "FrameSet",
    "reencode_unit",
    "faces_unit",
    "frames_unit",
    "crops_unit",
    "face_jobs",
    "extract_faces",
    "extract",
]


def _searched(entry: dict, source: Path | FrameSet) -> bool:
    """Whether a report entry says this very input was searched and holds no face."""
    try:
        return entry.get("frames_with_face") == 0 and all(entry.get(k) == v for k, v in input_signature(source).items())
    except OSError:
        return False


def face_jobs(run: RunDir, jobs: list[tuple[Path | FrameSet, VideoMeta]], settings: FacesSettings) -> list[Unit]:
    """The faces units of ``(video or frame set, meta)`` jobs not done yet (:func:`faces_unit`,
    :func:`frames_unit`, :func:`crops_unit`): no face manifest, and not already found to hold
    no face (a video that failed to decode is tried again)."""
    report = run.faces.read_report()
    units = []
    for source, meta in jobs:
        manifest = run.faces.video_manifest(meta.method, meta.video_name)
        if manifest.is_file() or _searched(report.get(meta.video_id, {}), source):
            continue
        key = f"faces {meta.video_id}"
        if isinstance(source, FrameSet) and source.kind == "crops":
            units.append(Unit(key, crops_unit, (source, meta, settings)))
            continue
        folder = run.faces.crop_folder(meta.method, meta.video_name)
        masks = run.faces.mask_folder(meta.method, meta.video_name)
        fn = frames_unit if isinstance(source, FrameSet) else faces_unit
        units.append(
            Unit(
                key,
                fn,
                (
                    source if isinstance(source, FrameSet) else Path(source),
                    meta,
                    settings,
                    folder,
                    run.relative(folder),
                    masks,
                    run.relative(masks),
                ),
            )
        )
    return units


def extract_faces(
    run: RunDir,
    jobs: list[tuple[Path | FrameSet, VideoMeta]],
    settings: FacesSettings,
    progress: bool = True,
    backend: Backend | None = None,
) -> list[str]:
    """Run the faces units of ``jobs`` (videos or frame sets, :func:`face_jobs`; finished ones
    skipped) on ``backend`` (default: in this process), write each video's face manifest
    (``faces/manifest/<method>/<video>.parquet``, :data:`forgebench.schemas.FACES`) as its
    unit finishes, after its crops, and record every input in ``faces/report.json``; returns
    the messages of the inputs left out.

    The manifests are written here, not in the units: the worker processes then import no
    pandas (pyarrow imports it when it builds its first table), and a manifest still appears
    only once its video's crops are all written, so an interrupted stage keeps every video
    finished and redoes the others."""
    meta_of = {f"faces {m.video_id}": (v, m) for v, m in jobs}

    def write_manifest(outcome: Outcome) -> None:
        if outcome.ok and "error" not in outcome.value.entry:
            meta = meta_of[outcome.key][1]
            manifest = run.faces.video_manifest(meta.method, meta.video_name)
            table = pd.DataFrame(outcome.value.rows) if outcome.value.rows else FACES.empty()
            write_parquet(manifest, FACES.check(table, manifest))

    outcomes = run_units(
        face_jobs(run, jobs, settings),
        "faces",
        progress,
        expected=(MediaError, NoFaceError),
        backend=backend,
        on_outcome=write_manifest,
    )
    entries, errors = {}, []
    for o in outcomes:
        source, meta = meta_of[o.key]
        where = source.folder if isinstance(source, FrameSet) else source
        entries[meta.video_id] = o.value.entry if o.ok else {"video": str(where), "error": str(o.error)}
        if "error" in entries[meta.video_id]:
            errors.append(entries[meta.video_id]["error"])
    run.faces.update_report(entries)
    return errors


def _real_rows(
    run: RunDir, config: Config, inputs: pd.DataFrame, progress: bool, backend: Backend
) -> list[dict[str, Any]]:
    """Rows of ``faces/videos.parquet`` (without ``split``) for the input videos
    (:func:`forgebench.stages.common.input_table`), each re-encoded with the fakes' codec
    settings (failures recorded in the report and left out)."""
    comp = config.data.compression
    records = inputs.to_dict("records")
    units = [
        Unit(
            f"re-encode {r['video_name']}",
            reencode_unit,
            (Path(r["path"]), run.faces.real_video(comp, r["video_name"]), config.data.crf, config.data.max_seconds),
        )
        for r in records
    ]
    rows, failed = [], {}
    for r, o in zip(records, run_units(units, f"re-encode {comp}", progress, expected=(MediaError,), backend=backend)):
        video = Path(r["path"])
        if not o.ok:
            failed[make_video_id(r["dataset"], "real", comp, r["video_name"])] = {
                "video": str(video),
                "error": str(o.error),
            }
            log(f"skipped {video}: {o.error}")
            continue
        real = run.faces.real_video(comp, r["video_name"])
        rows.append(
            {
                "video_name": r["video_name"],
                "identity": r["identity"],
                "input_path": str(video.resolve()),
                "real_path": run.relative(real),
                **o.value,
            }
        )
    run.faces.update_report(failed)
    return rows


def with_video_ids(table: pd.DataFrame) -> pd.DataFrame:
    """A dataset table (:data:`forgebench.datasets.VIDEO_COLUMNS`) with its unique ``video_id`` first."""
    ids = [
        make_video_id(*parts)
        for parts in zip(table["dataset"], table["method"], table["compression"], table["video_name"])
    ]
    return table.assign(video_id=ids)[["video_id", *table.columns]]


def settle_splits(
    run: RunDir, config: Config, listed: pd.DataFrame, progress: bool = True, backend: Backend | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Check the identities of the listed real videos and give every listed video its split.

    Videos whose faces were not extracted (no face found, not decodable: see
    ``faces/report.json``) are left out. The identity check
    (:func:`forgebench.identities.check_identities`) runs on the real videos with faces and
    is written to ``faces/identity_check.json`` with its one-line summary logged; with
    ``splits.identity: merge_likely`` and no official split, each cluster of likely
    same-person labels becomes one identity; then :func:`forgebench.splits.resolve_splits`
    (official splits followed as published, else assigned by person). Writes
    ``faces/dataset_index.parquet``.

    Args:
        run, config: the run and its config (``splits``, ``seed``, ``device``).
        listed: the listed videos: :func:`with_video_ids` of a dataset table.
        progress, backend: bars and where the embedding units run.

    Returns:
        ``(index, facts)``: the dataset index (:data:`forgebench.schemas.DATASET_INDEX`) and
        the split facts of :func:`~forgebench.splits.resolve_splits` with ``identity_check``
        (its summary line).

    Raises:
        DataError: too few people for the splits, or videos without a split beside others with one.
    """
    # imported here, not at the top: the identity check needs ArcFace (torch) and scikit-learn,
    # seconds of imports that the face units, which run in worker processes, do not need
    from forgebench.identities import check_identities, identity_document, merge_map

    listed = listed.reset_index(drop=True)
    has = pd.Series(
        [run.faces.video_manifest(m, v).is_file() for m, v in zip(listed["method"], listed["video_name"])], dtype=bool
    )
    reals = listed[has & (listed["label"] == 0)]
    faces = [run.faces.read_video_manifest(m, v) for m, v in zip(reals["method"], reals["video_name"])]
    real = pd.concat(faces, ignore_index=True) if faces else FACES.empty()
    real = real.assign(crop_path=[str(run.resolve(p)) for p in real["crop_path"]])
    check = check_identities(
        real, config.splits, progress, backend, cache=run.faces.identity_embeddings_file, device=config.device
    )
    official = bool((listed["split"] != "").any())
    merge = merge_map(check) if config.splits.identity == "merge_likely" and not official else {}
    write_json(run.faces.identity_check_file, identity_document(check, None, config.splits.identity, bool(merge)))
    resolved, facts = resolve_splits(listed[has], config.splits.ratio, config.seed, config.splits.min_per_split, merge)
    missing = listed[~has].assign(
        identity_label=listed.loc[~has, "identity"],
        split="",
        status="left out: no face found or not decodable (faces/report.json)",
    )
    index = pd.concat([resolved.drop(columns=["person"]), missing], ignore_index=True)
    index = index.sort_values("video_id", kind="stable", ignore_index=True)
    facts["left_out"]["no face found or not decodable"] = int((~has).sum())
    kept = index[(index["status"] == "kept") & (index["label"] == 0)]
    doc = identity_document(
        check, dict(zip(kept["identity_label"], kept["split"])), config.splits.identity, bool(merge)
    )
    write_json(run.faces.identity_check_file, doc)
    run.faces.write_dataset_index(index)
    log(doc["summary"] + f" ({run.faces.identity_check_file})")
    facts["identity_check"] = doc["summary"]
    return index, facts


def fake_jobs(run: RunDir, config: Config) -> list[tuple[Path, VideoMeta]]:
    """``(video, meta)`` of every fake listed in the fakes manifests (none before the
    generate stage)."""
    if not run.fakes.methods():
        return []
    dataset, comp = dataset_name(config), config.data.compression
    fakes = run.fakes.read()
    return [
        (
            run.resolve(r["path"]),
            VideoMeta(
                dataset,
                r["method"],
                comp,
                r["video_name"],
                1,
                r["target"],
                r["source"],
                r["driving"],
                mask=str(run.resolve(r["mask_path"])) if r["mask_path"] else "",
            ),
        )
        for r in fakes.to_dict("records")
    ]


def extract(run: RunDir, config: Config, progress: bool = True) -> None:
    """The extract stage (module docstring).

    Raises:
        DataError: no input video, two inputs with one identity stem, a malformed
            ``identities.csv``, or too few identities with a face for the splits (the
            message names the folder).
        MediaError: the input folder does not exist or holds no video.
    """
    with stage_progress("extract", progress):
        start = time.time()
        backend = backend_for(config.execution)
        dataset, comp = dataset_name(config), config.data.compression
        first = not run.faces.videos_file.is_file()
        inputs = input_table(config) if first else None
        rows = (
            _real_rows(run, config, inputs, progress, backend)
            if first
            else run.faces.read_videos().drop(columns=["split"]).to_dict("records")
        )
        jobs = [
            (run.resolve(r["real_path"]), VideoMeta(dataset, "real", comp, r["video_name"], 0, r["identity"]))
            for r in rows
        ]
        errors = extract_faces(run, jobs + fake_jobs(run, config), config.faces, progress, backend)
        for e in errors:
            log(f"left out: {e}")
        facts: dict[str, Any] = run.stage_facts("extract").get("splits", {})
        if first:
            encoded = {r["video_name"] for r in rows}
            listed = with_video_ids(inputs[inputs["video_name"].isin(encoded)])
            try:
                index, facts = settle_splits(run, config, listed, progress, backend)
            except DataError as exc:
                where = config.data.videos or "the sample clips"
                n_faces = sum(run.faces.video_manifest("real", r["video_name"]).is_file() for r in rows)
                raise DataError(
                    f"{where}: {exc} ({len(rows)} videos, {n_faces} with a face; see {run.faces.report_file})"
                ) from None
            kept = index[index["status"] == "kept"].set_index("video_name")
            table = pd.DataFrame([r for r in rows if r["video_name"] in kept.index])
            table["identity"] = table["video_name"].map(kept["identity"])
            table["split"] = table["video_name"].map(kept["split"])
            run.faces.write_videos(table)
        faces = run.faces.collect()
        run.faces.write_manifest(faces)
        counts = faces.groupby("method").agg(videos=("video_id", "nunique"), faces=("video_id", "size"))
        log(f"faces: {counts.to_dict('index')}; report in {run.faces.report_file}")
        update_provenance(run, config, "extract", time.time() - start, {"splits": facts} if facts else None)


def identity_faces(run: RunDir, real: pd.DataFrame, identities: list[str]) -> tuple[dict, dict, dict]:
    """Face crop files, landmarks and frame indices of identities' real videos, in frame
    order, from the real rows of the combined face manifest.

    Returns:
        ``({identity: [crop PNG paths]}, {identity: [(68, 2) crop-pixel landmarks]},
        {identity: [frame_index]})``; an identity without rows gets empty lists.
    """
    crops, landmarks, frames = {}, {}, {}
    for i in identities:
        rows = real[real["identity"] == i].sort_values(["video_name", "frame_index"])
        crops[i] = [run.resolve(p) for p in rows["crop_path"]]
        landmarks[i] = [np.asarray(v, dtype=np.float64).reshape(68, 2) for v in rows["landmarks_crop"]]
        frames[i] = [int(v) for v in rows["frame_index"]]
    return crops, landmarks, frames
