"""Prediction submissions: export the unlabelled test set, score a file of predictions.

The FaceForensics++ benchmark takes predictions for its hidden test images; forgebench does
the same for any run, locally and offline, under its own protocol:

1. :func:`export_testset` (``forgebench export testset RUN_DIR [--out DIR]``) writes the
   test and validation faces and videos of a run under anonymous ids, without labels::

       export/testset/
         index.csv                        split, video_id, frame_id, frame_index, crop, video
         README.txt                       how to submit
         test/crops/<frame_id>.png        the aligned face crops, PNG without text chunks
         test/videos/<video_id>.mp4       the videos the faces come from, remuxed without metadata
         val/crops/  val/videos/          the same for the validation split

   A video id is ``"v"`` + the first 12 hex digits of SHA-256(secret + the run's video id),
   a frame id ``"<video_id>_<frame_index:06d>"``. The secret (:func:`secrets.token_hex`) is
   made once per run and kept in ``submissions/sealed_ids.parquet``
   (:meth:`forgebench.rundir.SubmissionFiles.write_sealed_ids`) with the mapping of every anonymous
   id to the face row it stands for, so a re-export gives the same ids. Nothing exported
   reveals a label: the run's video ids and names (which hold the method) are replaced, the
   synthetic tags of fake PNG crops (text chunks) and fake MP4s (container metadata) and the
   encoder's SEI messages in the H.264 stream are dropped, and rows are ordered by the
   anonymous id, so reals do not come first.

2. :func:`submit` (``forgebench submit RUN_DIR FILE --name NAME``) reads a CSV or Parquet
   file of ``id, score`` (one row per test frame id, or per test video id; ``score`` the
   probability of "fake" in [0, 1]), checks it, opens the labels from the face manifest and
   scores it with the protocol's own functions (:func:`forgebench.protocol.val_thresholds`,
   :func:`~forgebench.protocol.test_sets_of`, :func:`~forgebench.protocol.expand_test_sets`,
   :func:`~forgebench.protocol.metrics_with_intervals`): thresholds from the validation
   rows when every validation unit is scored (their EER points), else 0.5; every test set
   (one per generator and ``all``) with people-cluster bootstrap intervals. The result is
   stored like a trained detector's, in ``detectors/<name>/submission/``
   (``predictions.parquet``, ``metrics.json`` with ``"submission": true``), so the
   leaderboard lists it, marked as a submission.

The sealed mapping holds no labels either: they are read from ``faces/manifest.parquet``
when a submission is scored.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from forgebench.configure import load_config
from forgebench.errors import DataError
from forgebench.fileio import sha256_file, write_csv, write_json, write_parquet, write_text
from forgebench.media import read_image, remux_without_metadata, write_png
from forgebench.metrics.bootstrap import BOOT_METRICS
from forgebench.metrics.detection import frame_and_video_metrics
from forgebench.protocol import (
    add_clusters,
    expand_test_sets,
    fpr_thresholds_of,
    metrics_with_intervals,
    test_sets_of,
    val_thresholds,
)
from forgebench.results import detector_result, in_domain_set
from forgebench.rundir import RunDir
from forgebench.schemas import PREDICTIONS, SEALED_IDS, SUBMISSION_SET

__all__ = [
    "SEALED_IDS",
    "INDEX_COLUMNS",
    "EXPORT_SPLITS",
    "anonymous_video_id",
    "frame_id",
    "export_testset",
    "submit",
    "read_submission_log",
]

#: The splits exported (and scored: test always, validation when complete).
EXPORT_SPLITS = ("test", "val")
#: Columns of ``index.csv`` of the exported test set (paths relative to the export folder).
INDEX_COLUMNS = ("split", "video_id", "frame_id", "frame_index", "crop", "video")
#: Column names a submission may give its ids under (one of them), and its score column.
ID_COLUMNS = ("id", "frame_id", "video_id")
SCORE_COLUMN = "score"
#: How many offending rows or ids an error message lists.
SHOW = 5
_SAFE_NAME = re.compile(r"[A-Za-z0-9._-]+")
_EXPORTED_FILE = re.compile(r"v[0-9a-f]{12}(_\d{6})?\.(png|mp4)")


# -- anonymous ids ---------------------------------------------------------------------------
def anonymous_video_id(secret: str, video_id: str) -> str:
    """The anonymous id of a video: ``"v"`` + the first 12 hex digits of
    SHA-256(``secret`` + ``video_id``), e.g. ``"v3f9a0c12b4de"`` (13 characters). Without
    the secret it cannot be computed from a guessed run video id."""
    return "v" + hashlib.sha256((secret + video_id).encode("utf-8")).hexdigest()[:12]


def frame_id(video_anon: str, frame_index: int) -> str:
    """The anonymous id of a face: ``"<video_anon>_<frame_index:06d>"`` (0-based frame index
    of the video), e.g. ``"v3f9a0c12b4de_000015"``."""
    return f"{video_anon}_{int(frame_index):06d}"


def _face_rows(run: RunDir) -> pd.DataFrame:
    """The test and validation face rows of the combined manifest.

    Raises:
        DataError: no face manifest (says to run extract), no test rows, or two rows of
            the same (video id, frame index).
    """
    faces = run.faces.read_manifest()
    rows = faces[faces["split"].astype(str).isin(EXPORT_SPLITS)].reset_index(drop=True)
    if not (rows["split"].astype(str) == "test").any():
        raise DataError(
            f"{run.faces.manifest_file}: no face rows of the test split; run 'forgebench extract {run.root}' "
            "(after 'forgebench generate') first"
        )
    rows = rows.assign(
        video_id=rows["video_id"].astype(str),
        split=rows["split"].astype(str),
        frame_index=rows["frame_index"].astype(np.int64),
    )
    dup = rows.duplicated(["video_id", "frame_index"], keep=False)
    if dup.any():
        shown = rows.loc[dup, ["video_id", "frame_index"]].drop_duplicates().head(SHOW)
        raise DataError(
            f"{run.faces.manifest_file}: {int(dup.sum())} face rows share a (video_id, frame_index), e.g. "
            + ", ".join(f"{v} frame {i}" for v, i in shown.itertuples(index=False))
        )
    return rows


def _mapping(rows: pd.DataFrame, secret: str, where: Path) -> pd.DataFrame:
    """The sealed ids of face ``rows`` (:data:`SEALED_IDS`), ordered by split then frame id.

    Raises:
        DataError: two videos got the same anonymous id (a 48-bit collision).
    """
    videos = sorted(set(rows["video_id"]))
    anon = {v: anonymous_video_id(secret, v) for v in videos}
    if len(set(anon.values())) != len(anon):
        raise DataError(f"{where}: two videos got the same anonymous id; delete the file and export again (new secret)")
    video_anon = rows["video_id"].map(anon)
    sealed = pd.DataFrame(
        {
            "frame_id": [frame_id(v, i) for v, i in zip(video_anon, rows["frame_index"])],
            "video_id": video_anon,
            "split": rows["split"],
            "frame_index": rows["frame_index"],
            "original_video_id": rows["video_id"],
        }
    )
    return sealed.sort_values(["split", "frame_id"], kind="stable").reset_index(drop=True)


# -- export ------------------------------------------------------------------------------------
def _readme(counts_frames: dict[str, int], counts_videos: dict[str, int]) -> str:
    """The text of ``README.txt`` of an exported test set."""
    n = {s: (counts_frames.get(s, 0), counts_videos.get(s, 0)) for s in EXPORT_SPLITS}
    return f"""forgebench test set: unlabelled face crops and videos for prediction submissions

Contents
  index.csv          one row per face: split, video_id, frame_id, frame_index, crop, video
                     (crop and video are paths inside this folder)
  test/crops/        {n["test"][0]} face crops (PNG, <frame_id>.png) of {n["test"][1]} test videos
  test/videos/       the {n["test"][1]} test videos (MP4, <video_id>.mp4) the faces come from
  val/crops/         {n["val"][0]} face crops of {n["val"][1]} validation videos
  val/videos/        the {n["val"][1]} validation videos

Ids are anonymous: a video id is 'v' + 12 hex digits, a frame id is
'<video_id>_<frame index, 6 digits>' (0-based index of the frame in its video).
No file or id says which faces are real and which are fake.

How to submit
  Score every test unit and write a CSV (.csv) or Parquet (.parquet) file with columns
    id      frame ids (one row per test frame), or video ids (one row per test video);
            the column may also be named frame_id or video_id
    score   probability that the face is fake, a finite number in [0, 1]
  One row per test unit, each once; no unknown ids; all ids of one level (frames or videos).
  Validation rows are optional: when every validation unit of the same level is there,
  the decision thresholds are the equal-error-rate points of your validation scores
  (frame and video level), otherwise 0.5.
  Video scores of a frame-level submission are the aggregation of its frame scores per
  video (as configured in the run, mean by default).

  Then run
    forgebench submit RUN_DIR FILE --name NAME
  (NAME: letters, digits, '.', '_' and '-'). The submission is scored against the sealed
  labels: AUC, AP, EER, accuracy and log loss with 95% identity-bootstrap intervals, per
  generator and over all, and appears in the leaderboard marked as a submission.
"""


def _remove_stale(folder: Path, keep: set[str]) -> None:
    """Delete exported files (anonymous-id names) in ``folder`` that are not in ``keep``:
    left by an earlier export of other faces."""
    if folder.is_dir():
        for p in folder.iterdir():
            if p.is_file() and _EXPORTED_FILE.fullmatch(p.name) and p.name not in keep:
                p.unlink()


def export_testset(run: RunDir, out: Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Write the test and validation faces and videos of a run under anonymous ids, with no
    label, for prediction submissions (layout in the module docstring).

    Every face row of the test and validation splits (``faces/manifest.parquet``) becomes a
    crop ``<split>/crops/<frame_id>.png`` (decoded and written again as PNG, without the text
    chunks that mark fake crops as synthetic) and a row of ``index.csv``; every video with
    such faces becomes ``<split>/videos/<video_id>.mp4``, its source video
    (:meth:`forgebench.rundir.FaceFiles.source_video`) remuxed without metadata
    (:func:`forgebench.media.remux_without_metadata`). Rows and files are named and ordered by anonymous id.
    The secret of the ids and the mapping of every id to its face row are written first to
    ``submissions/sealed_ids.parquet`` (the secret made there once, so a re-export gives the
    same ids). Files are written atomically and rewritten on every export; exported files of
    faces no longer in the run are deleted.

    Args:
        run: the run directory (faces extracted).
        out: the folder to write (default ``export/testset/`` of the run,
            :meth:`forgebench.rundir.ExportFiles.folder`).
        progress: a tqdm bar over the videos.

    Returns:
        ``{"out": str, "index": str, "readme": str, "videos": {split: n}, "frames": {split: n}}``
        (paths of the folder, ``index.csv`` and ``README.txt``; counts per exported split).

    Raises:
        DataError: not a run directory, no face manifest, no test-split face rows, face rows
            of the same video and frame, an unreadable sealed ids file, or a video file
            missing (:meth:`~forgebench.rundir.FaceFiles.source_video`).
        MediaError: a crop cannot be read or a video cannot be remuxed.
    """
    run.require()
    files = run.export.testset(out)
    rows = _face_rows(run)
    secret = (
        run.submissions.read_sealed_ids()[1] if run.submissions.sealed_ids_file.is_file() else secrets.token_hex(16)
    )
    sealed = _mapping(rows, secret, run.submissions.sealed_ids_file)
    run.submissions.write_sealed_ids(sealed, secret)

    crops = dict(zip(zip(rows["video_id"], rows["frame_index"]), rows["crop_path"]))
    index = sealed[["split", "video_id", "frame_id", "frame_index"]].copy()
    index["crop"] = [files.relative(files.crop(s, f)) for s, f in zip(index["split"], index["frame_id"])]
    index["video"] = [files.relative(files.video(s, v)) for s, v in zip(index["split"], index["video_id"])]
    videos = sealed.drop_duplicates("video_id")[["split", "video_id", "original_video_id"]]
    frames_of = {v: g for v, g in sealed.groupby("video_id", sort=False)}
    for split, video, original in tqdm(
        list(videos.itertuples(index=False)), desc="export testset", unit="video", disable=not progress
    ):
        remux_without_metadata(run.faces.source_video(original), files.video(split, video))
        for fid, idx in zip(frames_of[video]["frame_id"], frames_of[video]["frame_index"]):
            image = read_image(run.resolve(crops[(original, int(idx))]))
            write_png(files.crop(split, fid), image)  # no text: the synthetic tag stays behind
    for split in EXPORT_SPLITS:
        part = index[index["split"] == split]
        _remove_stale(files.crops_folder(split), {Path(p).name for p in part["crop"]})
        _remove_stale(files.videos_folder(split), {Path(p).name for p in part["video"]})

    n_frames = {s: int((index["split"] == s).sum()) for s in EXPORT_SPLITS}
    n_videos = {s: int((videos["split"] == s).sum()) for s in EXPORT_SPLITS}
    write_csv(files.index, index[list(INDEX_COLUMNS)])
    write_text(files.readme, _readme(n_frames, n_videos))
    return {
        "out": str(files.folder),
        "index": str(files.index),
        "readme": str(files.readme),
        "videos": n_videos,
        "frames": n_frames,
    }


# -- reading and checking a submission ------------------------------------------------------------
def _read_file(file: Path) -> tuple[pd.DataFrame, str]:
    """The submitted table with ``id`` (str), ``score`` (float64; NaN where not a number),
    ``raw`` (the score as given, for messages) and ``row`` (1 = first data row), and the
    name of its id column.

    Raises:
        DataError: missing file, a suffix other than .csv / .parquet / .pq, unreadable,
            no rows, no or several id columns, no score column.
    """
    if not file.is_file():
        raise DataError(f"{file}: submission file not found")
    suffix = file.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise DataError(
            f"{file}: unknown file type '{file.suffix}'; a submission is a CSV (.csv) or Parquet (.parquet) file"
        )
    try:
        df = pd.read_csv(file, dtype=str, keep_default_na=False) if suffix == ".csv" else pd.read_parquet(file)
    except Exception as exc:  # noqa: BLE001 - pandas and pyarrow raise many types for a bad file
        kind = "CSV" if suffix == ".csv" else "Parquet"
        raise DataError(
            f"{file}: cannot read as {kind} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    columns = [str(c) for c in df.columns]
    df.columns = columns
    ids = [c for c in ID_COLUMNS if c in columns]
    if len(ids) != 1 or SCORE_COLUMN not in columns:
        what = (
            "several id columns " + str(ids) if len(ids) > 1 else ("no id column" if not ids else "no 'score' column")
        )
        raise DataError(
            f"{file}: {what}; a submission has the columns 'id' (frame or video ids; or named 'frame_id' / "
            f"'video_id') and 'score' (probability of fake in [0, 1]), found columns {columns}"
        )
    if df.empty:
        raise DataError(f"{file}: no rows; a submission has one row per test frame id or test video id")
    raw = df[SCORE_COLUMN]
    table = pd.DataFrame(
        {
            "id": [str(v) for v in df[ids[0]]],
            "score": pd.to_numeric(raw, errors="coerce").astype(np.float64).to_numpy(),
            "raw": [str(v) for v in raw],
            "row": np.arange(1, len(df) + 1),
        }
    )
    return table, ids[0]


def _rows_text(sub: pd.DataFrame, mask: pd.Series | np.ndarray) -> str:
    """``row 3 (id 'x', score '1.7'), ...`` for the first :data:`SHOW` rows of ``mask``, and
    how many more."""
    hit = sub[np.asarray(mask, dtype=bool)]
    text = ", ".join(
        f"row {r} (id {i!r}, score {s!r})" for r, i, s in hit[["row", "id", "raw"]].head(SHOW).itertuples(index=False)
    )
    return text + (f" and {len(hit) - SHOW} more" if len(hit) > SHOW else "")


def _ids_text(ids: list[str]) -> str:
    """The first :data:`SHOW` of ``ids`` quoted, and how many more."""
    text = ", ".join(repr(i) for i in ids[:SHOW])
    return text + (f" and {len(ids) - SHOW} more" if len(ids) > SHOW else "")


def _check(sub: pd.DataFrame, id_column: str, sealed: pd.DataFrame, file: Path, export_hint: str) -> str:
    """Check a submission (ids named ``id_column`` in the file) against the sealed ids;
    returns its level (``frame`` or ``video``).

    Raises:
        DataError: every problem found, one per line, each with the first offending rows
            (row numbers count data rows from 1) or ids: unknown ids, frame and video ids
            mixed, duplicate ids, scores that are not finite numbers, scores outside
            [0, 1], test units missing, some but not all validation units.
    """
    problems: list[str] = []
    is_frame, is_video = sub["id"].isin(set(sealed["frame_id"])), sub["id"].isin(set(sealed["video_id"]))
    unknown = ~(is_frame | is_video)
    if unknown.any():
        problems.append(
            f"{int(unknown.sum())} unknown id(s), not frame or video ids of the exported test set "
            f"({export_hint}): {_rows_text(sub, unknown)}"
        )
    level = None
    if is_frame.any() and is_video.any():
        fewer, name = (is_frame, "frame") if is_frame.sum() <= is_video.sum() else (is_video, "video")
        other = "video" if name == "frame" else "frame"
        problems.append(
            f"mixes {int(is_frame.sum())} frame id(s) and {int(is_video.sum())} video id(s); submit one level, "
            f"frames or videos: the {name} id(s) among the {other} ids are {_rows_text(sub, fewer)}"
        )
    elif is_frame.any() or is_video.any():
        level = "frame" if is_frame.any() else "video"
        if id_column not in ("id", f"{level}_id"):
            problems.append(f"the id column is named '{id_column}' but holds {level} ids; name it 'id' or '{level}_id'")
    dup = sub["id"].duplicated(keep=False) & ~unknown
    if dup.any():
        rows_of = sub[dup].groupby("id", sort=False)["row"].apply(list)
        shown = "; ".join(f"{i!r} in rows {', '.join(map(str, r))}" for i, r in rows_of.head(SHOW).items())
        more = f"; and {len(rows_of) - SHOW} more" if len(rows_of) > SHOW else ""
        problems.append(f"{len(rows_of)} duplicate id(s), each unit must be scored once: {shown}{more}")
    score = sub["score"].to_numpy()
    bad = ~np.isfinite(score)
    if bad.any():
        problems.append(
            f"{int(bad.sum())} score(s) not a finite number (NaN, inf, empty or text): {_rows_text(sub, bad)}"
        )
    outside = np.isfinite(score) & ((score < 0.0) | (score > 1.0))
    if outside.any():
        problems.append(
            f"{int(outside.sum())} score(s) outside [0, 1] (the score is a probability of fake): "
            f"{_rows_text(sub, outside)}"
        )
    if level is not None:
        col = "frame_id" if level == "frame" else "video_id"
        given = set(sub["id"])
        for split in ("test", "val"):
            units = sorted(set(sealed.loc[sealed["split"] == split, col]))
            missing = [u for u in units if u not in given]
            if split == "test" and missing:
                problems.append(
                    f"{len(missing)} of {len(units)} test {level} id(s) missing (every test {level} must be "
                    f"scored once): {_ids_text(missing)}"
                )
            if split == "val" and 0 < len(units) - len(missing) < len(units):
                problems.append(
                    f"{len(units) - len(missing)} of {len(units)} validation {level} id(s) given: give every "
                    f"validation {level} or none (the thresholds come from all of them); missing "
                    f"{_ids_text(missing)}"
                )
    if problems:
        raise DataError(f"{file}: the submission has {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    return str(level)


# -- scoring -----------------------------------------------------------------------------------
def _units(run: RunDir, sealed: pd.DataFrame, level: str) -> pd.DataFrame:
    """One row per unit of ``level``: ``unit`` (the anonymous id), ``video_id`` (the run's),
    ``frame_index`` (-1 for a video), ``split`` and, from the face manifest, ``label``,
    ``method``, ``identity``, ``cluster`` (:func:`forgebench.protocol.add_clusters`).

    Raises:
        DataError: a sealed row has no face row any more (the faces were extracted again).
    """
    faces = add_clusters(run.faces.read_manifest())[
        ["video_id", "frame_index", "label", "method", "identity", "cluster"]
    ]
    faces = faces.astype({"video_id": str}).assign(frame_index=faces["frame_index"].astype(np.int64))
    rows = sealed.merge(
        faces.rename(columns={"video_id": "original_video_id"}),
        on=["original_video_id", "frame_index"],
        how="left",
        validate="one_to_one",
    )
    lost = rows["label"].isna()
    if lost.any():
        raise DataError(
            f"{run.submissions.sealed_ids_file}: {int(lost.sum())} exported face(s) are no longer in {run.faces.manifest_file} "
            f"(e.g. {_ids_text(list(rows.loc[lost, 'frame_id']))}); the faces changed since the export: run "
            f"'forgebench export testset {run.root}' again and submit scores of the new export"
        )
    rows = rows.assign(
        label=rows["label"].astype(np.int64), identity=rows["identity"].astype(str), method=rows["method"].astype(str)
    )
    if level == "frame":
        units = rows.drop(columns=["video_id"]).rename(columns={"frame_id": "unit"})
    else:
        units = rows.groupby("video_id", sort=True).first().reset_index().rename(columns={"video_id": "unit"})
        units["frame_index"] = np.int64(-1)
    units = units.rename(columns={"original_video_id": "video_id"})
    return units[["unit", "video_id", "frame_index", "split", "label", "method", "identity", "cluster"]].reset_index(
        drop=True
    )


def _no_frame_scores(level: dict[str, Any]) -> dict[str, Any]:
    """A frame-level result of a video-level submission: the metrics and their intervals
    NaN, the frame counts 0 (same keys), and a note."""
    out = dict(level)
    for m in BOOT_METRICS:
        for key in (m, f"{m}_ci_low", f"{m}_ci_high"):
            if key in out:
                out[key] = math.nan
    for key in ("n", "n_real", "n_fake", "n_frames"):
        if key in out:
            out[key] = 0
    out["note"] = "video-level submission: no frame scores"
    return out


def _check_name(run: RunDir, name: str, configured: list[str]) -> None:
    """Refuse a submission name that is not a safe folder name, or that names a configured
    or trained detector (a folder of train sets other than ``submission``).

    Raises:
        DataError: names the problem and what to do.
    """
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name) or set(name) == {"."}:
        raise DataError(
            f"submission name {name!r}: use letters, digits, '.', '_' and '-' only (it names the folder "
            f"{run.submissions.files('NAME').folder.parent.parent}/NAME/)"
        )
    folder = run.submissions.files(name).folder.parent
    trained = (
        sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name != SUBMISSION_SET) if folder.is_dir() else []
    )
    if trained:
        raise DataError(
            f"{folder}: '{name}' is a trained detector's folder (train set(s) {trained}); choose another --name"
        )
    if name in configured:
        raise DataError(
            f"submission name '{name}': a detector of the run's config ({run.config_file}) has that name; "
            "choose another --name"
        )


#: The window of ``protocol.max_submissions_per_day``.
DAY = timedelta(hours=24)


def read_submission_log(run: RunDir) -> list[dict[str, Any]]:
    """Every logged ``forgebench submit`` attempt of ``run`` (:attr:`~forgebench.rundir.SubmissionFiles.log_file`),
    oldest first: ``time`` (UTC, ISO 8601), ``name``, ``file``, ``sha256``, ``outcome``
    (``scored``, ``rejected: <why>`` or ``refused: daily limit``). ``[]`` when none.

    Raises:
        DataError: a line that is not a JSON object (names the file and the line).
    """
    path = run.submissions.log_file
    if not path.is_file():
        return []
    entries = []
    for k, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {k} is not JSON ({exc.msg}); the log is append-only, restore it") from None
        if not isinstance(entry, dict) or "time" not in entry or "outcome" not in entry:
            raise DataError(f"{path}: line {k} is not a submission entry (time, name, file, sha256, outcome)")
        entries.append(entry)
    return entries


def _log_attempt(run: RunDir, when: datetime, name: str, file: Path, outcome: str) -> None:
    """Append one attempt to the submission log (created on first use)."""
    path = run.submissions.log_file
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = sha256_file(file) if file.is_file() else ""
    entry = {
        "time": when.isoformat(timespec="seconds"),
        "name": name,
        "file": str(file.resolve()),
        "sha256": digest,
        "outcome": outcome,
    }
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


def _scored_within(entries: list[dict[str, Any]], start: datetime, end: datetime) -> list[datetime]:
    """Times of the scored attempts in ``[start, end]``, sorted."""
    times = [datetime.fromisoformat(e["time"]) for e in entries if e.get("outcome") == "scored"]
    return sorted(t for t in times if start <= t <= end)


def submit(
    run: RunDir,
    file: Path,
    name: str,
    n_boot: int | None = None,
    min_identities: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Check a prediction submission and score it against the sealed test labels.

    Reads ``file`` (``.csv`` or ``.parquet``/``.pq``, by suffix) with the columns ``id``
    (or ``frame_id`` / ``video_id``) and ``score``: one row per test frame id, or one per
    test video id, of the exported test set (:func:`export_testset`), ``score`` the
    probability of fake in [0, 1]. Validation rows of the same level are optional; when
    every validation unit is there, the frame and video thresholds are their EER points
    (:func:`forgebench.protocol.val_thresholds`), else 0.5. The test units are scored per
    test set (:func:`~forgebench.protocol.test_sets_of`: one per generator, ``all`` when
    there are several) with people-cluster bootstrap intervals
    (:func:`~forgebench.protocol.metrics_with_intervals`); a video-level submission is one
    row per video (``frame_index`` -1) and its frame-level metrics are NaN (same keys, frame
    counts 0, with a ``note``).

    Writes ``detectors/<name>/submission/predictions.parquet``
    (:data:`forgebench.schemas.PREDICTIONS`, ``detector`` = ``name``, ``train_set`` =
    ``submission``; the run's video ids) and then ``metrics.json``, replacing those of an
    earlier submission of the same name.

    Args:
        run: the run directory (test set exported).
        file: the submission file.
        name: the submission's name in the leaderboard: letters, digits, ``.``, ``_``,
            ``-``; not a detector of the run's config nor a trained detector's folder.
        n_boot: bootstrap replicates (>= 10; default ``protocol.n_boot`` of the run's config).
        min_identities: identities per class below which a cell is ``thin`` (>= 1; default
            ``protocol.min_identities``).
        now: the attempt's time (UTC; default the clock), for the log and the daily limit.

    Every attempt is appended to ``submissions/log.jsonl`` (:func:`read_submission_log`),
    scored, rejected (a bad file or name) or refused; once ``protocol.max_submissions_per_day``
    submissions were scored in the last 24 hours, further ones are refused before the file
    is read.

    Returns:
        the ``metrics.json`` document: ``detector``, ``train_set`` (``submission``),
        ``test_set`` (``all``, or the only test set), ``split``, ``submission`` (True),
        ``level`` (``frame`` / ``video``), ``submitted_file``, ``checkpoint_sha256`` (the
        file's SHA-256), ``n_rows``, ``threshold``, ``video_threshold`` and their
        ``*_source``, ``val_frame_eer``, ``val`` (validation metrics, when given),
        ``n_val_units``, ``video_aggregation``, ``n_boot``, ``min_identities``, ``attempt``
        (this name's scored submissions so far, this one included), ``attempts_run`` (all
        names'), ``submitted_at``, ``test_sets``
        (test set -> ``{"frame": {...}, "video": {...}}``), ``frame`` and ``video`` of
        ``test_set`` at the top level, ``n_frames``, ``n_videos``, ``train_methods`` ([]).
        :func:`forgebench.leaderboard.tables.detection_table` reads it.

    Raises:
        DataError: the daily limit is reached (says when the next one is accepted); not
            a run directory; a bad name; no exported test set (says to run
            ``forgebench export testset``); the file missing, of another type, unreadable,
            empty or without the columns; and, listing the first offending rows or ids,
            unknown ids, frame and video ids mixed, duplicates, scores not finite or outside
            [0, 1], test units missing, validation units partly given; exported faces no
            longer in the face manifest; no fake test unit.
        ConfigError: the run's ``config.yaml`` is invalid.
        ValueError: ``n_boot`` < 10 or ``min_identities`` < 1.
    """
    run.require()
    file = Path(file)
    config = load_config(run.config_file)
    protocol = config.protocol_settings()
    n_boot = int(protocol.n_boot if n_boot is None else n_boot)
    min_identities = int(protocol.min_identities if min_identities is None else min_identities)
    if n_boot < 10 or min_identities < 1:
        raise ValueError(f"n_boot must be >= 10 and min_identities >= 1, got {n_boot} and {min_identities}")
    now = now or datetime.now(timezone.utc)
    log = read_submission_log(run)
    recent = _scored_within(log, now - DAY, now)
    limit = protocol.max_submissions_per_day
    if len(recent) >= limit:
        _log_attempt(run, now, name, file, "refused: daily limit")
        raise DataError(
            f"{run.root}: {len(recent)} submissions were scored in the last 24 hours, the limit "
            f"(protocol.max_submissions_per_day: {limit}); the next is accepted from "
            f"{(recent[-limit] + DAY).isoformat(timespec='minutes')} (every attempt is logged in "
            f"{run.submissions.log_file})"
        )
    try:
        doc = _score_submission(run, config, file, name, n_boot, min_identities)
    except DataError as exc:
        _log_attempt(run, now, name, file, f"rejected: {exc.args[0]}")
        raise
    scored = [e for e in log if e.get("outcome") == "scored"]
    doc.update(
        attempt=1 + sum(e.get("name") == name for e in scored),
        attempts_run=1 + len(scored),
        submitted_at=now.isoformat(timespec="seconds"),
    )
    files = run.submissions.files(name)
    write_json(files.metrics, doc)
    _log_attempt(run, now, name, file, "scored")
    return doc


def _score_submission(run: RunDir, config, file: Path, name: str, n_boot: int, min_identities: int) -> dict[str, Any]:
    """Check and score one submission file (:func:`submit`); writes its predictions and
    returns the ``metrics.json`` document (written by :func:`submit`)."""
    protocol = config.protocol_settings()
    how = protocol.video_aggregation
    _check_name(run, name, sorted(config.detectors))
    sealed, _ = run.submissions.read_sealed_ids()
    sub, id_column = _read_file(file)
    level = _check(sub, id_column, sealed, file, f"run 'forgebench export testset {run.root}' for them")

    units = _units(run, sealed, level).merge(sub[["id", "score"]], left_on="unit", right_on="id", how="left")
    test = units[units["split"] == "test"].reset_index(drop=True)
    val = units[(units["split"] == "val") & units["score"].notna()].reset_index(drop=True)
    if not (test["label"] == 1).any():
        raise DataError(f"{run.submissions.sealed_ids_file}: the exported test set has no fake unit; nothing to score")
    if len(val):
        thresholds = val_thresholds(val, val["score"].to_numpy(), how)
        val_metrics = frame_and_video_metrics(
            val, thresholds["threshold"], thresholds["video_threshold"], how, fpr_thresholds_of(thresholds)
        )
    else:
        thresholds = {
            "threshold": 0.5,
            "threshold_source": "default 0.5: no validation scores submitted",
            "video_threshold": 0.5,
            "video_threshold_source": "default 0.5: no validation scores submitted",
            "val_frame_eer": math.nan,
        }
        val_metrics = None
    if level == "video":
        if val_metrics is not None:
            thresholds["threshold_source"] = (
                f"{thresholds['threshold_source']} of the video scores (video-level submission)"
            )
            val_metrics["frame"] = _no_frame_scores(val_metrics["frame"])

    scored = test.assign(detector=name, train_set=SUBMISSION_SET)
    preds = expand_test_sets(scored, test_sets_of(sorted(set(test.loc[test["label"] == 1, "method"]))))
    preds = preds[list(PREDICTIONS.columns)]
    per_set = {
        ts: metrics_with_intervals(
            df,
            thresholds["threshold"],
            thresholds["video_threshold"],
            how,
            n_boot,
            min_identities,
            fpr_thresholds_of(thresholds),
        )
        for ts, df in preds.groupby("test_set", sort=True)
    }
    if level == "video":
        for res in per_set.values():
            res["frame"] = _no_frame_scores(res["frame"])
            res["video"]["n_frames"] = 0
    in_domain = in_domain_set(per_set)
    doc = detector_result(
        detector=name,
        train_set=SUBMISSION_SET,
        kind="submission",
        test_set=in_domain,
        test_sets=per_set,
        thresholds=thresholds,
        video_aggregation=how,
        val=val_metrics,
        level=level,
        submitted_file=str(file.resolve()),
        checkpoint_sha256=sha256_file(file),
        n_rows=int(len(sub)),
        n_val_units=int(len(val)),
        n_boot=n_boot,
        min_identities=min_identities,
    )
    files = run.submissions.files(name)
    write_parquet(files.predictions, PREDICTIONS.check(preds, files.predictions))
    return doc
