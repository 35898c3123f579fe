"""The run directory: the one owner of its paths, file names and table schemas.

A run is one folder (docs/architecture.md has the map)::

    runs/<name>/
      config.yaml  provenance.json
      faces/       videos.parquet, real/<c>/<video>.mp4, crops/, manifest/, manifest.parquet, report.json
      fakes/<method>/   <target>_<source|driving>.mp4, frames/, models/, manifest.parquet
      metrics/     quality*.parquet, reconstruction*.parquet, units/ (per-unit results, resume)
      detectors/<detector>/<train_set>/   best.pt, history.csv, predictions.parquet, metrics.json, robustness*
      robustness/  test videos re-encoded for the H.264 robustness protocol
      leaderboard/ leaderboard.md, leaderboard.csv, report.html, plots/*.png
      export/      testset/ (unlabelled test set for submissions), deepfakebench/<dataset>.json
      submissions/ sealed_ids.parquet (the anonymous ids of the exported test set)

:class:`RunDir` is the only code that builds a path inside that folder or knows a table's
columns (:data:`SCHEMAS`); stages ask it for their inputs and hand it their outputs,
plugins (generators, detectors, metrics, perturbations, leaderboard formatting) never see
it. This module also holds the one implementation of what every file writer shares:

- :func:`atomic_path` and the ``write_*`` functions: a file appears under its final name
  only when complete (``<stem>.partial<suffix>`` + :func:`os.replace`), so an interrupted
  run never leaves a truncated file a resumed run would take for finished work;
- :func:`save_checkpoint` / :func:`load_checkpoint`: ``torch.save`` atomically, and
  ``torch.load(weights_only=True)`` with errors that name the file and say what is wrong
  (missing, truncated, holding code) — user files are never unpickled;
- :func:`sha256_file`: the one SHA-256 of a file (cached per path, size and mtime);
- :func:`make_video_id`: the one unique video id ``<dataset>/<method>/<compression>/<name>``.

Stored paths are relative to the run directory (POSIX style) so a run can be moved;
:meth:`RunDir.resolve` turns them (or absolute paths of inputs outside the run) into
paths on disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import pickle
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import yaml

from forgebench.errors import ConfigError, DataError

#: Version of the run-directory layout and table schemas this code reads and writes.
#: 1: forgebench 0.1 (columns ``generator``, ``source_identity``, ``source_path``);
#: 2: one column name per concept (``method``, ``source`` / ``driving``, ``input_path``).
FORMAT_VERSION = 2


# -- one atomic writer -------------------------------------------------------------------
def partial_path(path: str | os.PathLike) -> Path:
    """The temporary name ``<stem>.partial<suffix>`` a file is written under before it is
    renamed to ``path`` (the suffix is kept so writers that pick a format from it, PyAV
    and PIL, still do)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.partial{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Context manager yielding the temporary path to write ``path`` through.

    On a clean exit the temporary file is renamed to ``path`` (atomic on POSIX); on an
    exception it is deleted and the exception propagates, so ``path`` is either absent,
    the old file, or the complete new file. The parent folder is created.

    Example:
        >>> with atomic_path(out) as tmp:
        ...     df.to_parquet(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def json_safe(value: Any) -> Any:
    """Copy of ``value`` with NaN/inf floats replaced by ``None``, NumPy scalars and arrays
    made plain and tuples made lists, so it can be written as strict JSON."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, doc: Any) -> Path:
    """Write ``doc`` as strict, indented, key-sorted JSON atomically (NaN/inf written as
    ``null``, other non-JSON values through ``str``); returns the path."""
    return write_text(path, json.dumps(json_safe(doc), indent=2, sort_keys=True, allow_nan=False, default=str) + "\n")


def write_csv(path: str | os.PathLike, df: pd.DataFrame) -> Path:
    """Write a DataFrame as CSV (no index) atomically; returns the path."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
    return Path(path)


def write_parquet(path: str | os.PathLike, df: pd.DataFrame) -> Path:
    """Write a DataFrame as Parquet (pyarrow, no index) atomically; returns the path."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return Path(path)


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """Read a JSON file.

    Raises:
        DataError: missing or not valid JSON; the message names the file and ``what``.
    """
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: {what} not found") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read {what} ({exc}); delete it to redo the work that wrote it") from None


def read_parquet(path: str | os.PathLike, required: tuple[str, ...] | list[str] = ()) -> pd.DataFrame:
    """Read a Parquet table and check it has the ``required`` columns.

    Raises:
        DataError: the file is missing, unreadable, or lacks a required column (the
            message names the file and the columns).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: not found")
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a corrupt file
        raise DataError(f"{path}: cannot read as Parquet ({exc}); delete it to redo the work that wrote it") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing} (schema: docs/architecture.md)")
    return df


# -- one SHA-256, one video id ---------------------------------------------------------------
_HASHES: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Full SHA-256 hex digest (64 lower-case hex digits) of a file, cached in this process
    by (resolved path, size, modification time), so a file hashed twice is read once.

    Raises:
        OSError: the file cannot be read.
    """
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(chunk), b""):
                h.update(block)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def make_video_id(dataset: str, method: str, compression: str, video_name: str) -> str:
    """The unique video id ``"<dataset>/<method>/<compression>/<video_name>"`` (e.g.
    ``samples/real/c23/d0``, ``FaceForensics++/Deepfakes/c23/000_003``): frame scores are
    aggregated into video scores by this id, never by a folder name, so two methods'
    videos of the same name never merge.

    Raises:
        ValueError: a part is empty or holds a ``/``.
    """
    parts = (dataset, method, compression, video_name)
    bad = [p for p in parts if not isinstance(p, str) or not p or "/" in p]
    if bad:
        raise ValueError(f"video id parts must be non-empty strings without '/', got {parts}")
    return "/".join(parts)


# -- one checkpoint writer and reader -----------------------------------------------------------
def save_checkpoint(path: str | os.PathLike, payload: Mapping[str, Any]) -> Path:
    """Write a checkpoint dict with ``torch.save``, atomically; returns the path.

    ``payload`` must hold only what ``torch.load(weights_only=True)`` reads back: tensors,
    dicts, lists, tuples, str, int, float, bool and None (no objects, no code). Tensors are
    saved as they are: detach and move them to the CPU first.
    """
    with atomic_path(path) as tmp:
        torch.save(dict(payload), tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike, what: str = "checkpoint") -> dict[str, Any]:
    """Read a checkpoint dict with ``torch.load(weights_only=True)`` onto the CPU.

    Only tensors and plain containers are read; a file that holds pickled code is refused,
    never unpickled.

    Args:
        path: the file.
        what: what the file should be, for messages (``"generator checkpoint"``).

    Returns:
        the dict stored in the file.

    Raises:
        DataError: the file is missing, empty, truncated or not a torch file, holds
            pickled objects other than tensors and plain containers, or does not hold a
            dict; the one-line message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} not found")
    size = path.stat().st_size
    if size == 0:
        raise DataError(f"{path}: {what} is an empty file (an interrupted copy?)")
    if not zipfile.is_zipfile(path) and _looks_like_zip(path):
        raise DataError(f"{path}: {what} is truncated or corrupt ({size} bytes; the zip archive torch writes is incomplete)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights_only" in str(exc) or "Weights only load failed" in str(exc):
            raise DataError(
                f"{path}: refused for safety: this {what} holds pickled Python objects or code besides tensors, "
                "and forgebench reads files with torch.load(weights_only=True) and never unpickles code "
                "(save a plain dict of tensors and numbers instead)"
            ) from None
        raise DataError(f"{path}: {what} is corrupt or not a torch file ({_first_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001 - zip, pickle and torch raise many types for bad files
        raise DataError(f"{path}: {what} is truncated, corrupt or not a torch file ({type(exc).__name__}: {_first_line(exc)})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: {what} must hold a dict, holds {type(obj).__name__}")
    return obj


def _looks_like_zip(path: Path) -> bool:
    """Whether a file starts like a zip archive (``PK``), i.e. is torch's format."""
    with open(path, "rb") as f:
        return f.read(2) == b"PK"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


# -- table schemas ----------------------------------------------------------------------
@dataclass(frozen=True)
class Schema:
    """Columns of one table of the run directory.

    Attributes:
        name: what the table is (for messages).
        columns: column names in order; the meaning and type of each is in
            docs/architecture.md.
        extra: whether other columns may follow (quality tables of third-party metrics).
    """

    name: str
    columns: tuple[str, ...]
    extra: bool = False

    def check(self, df: pd.DataFrame, where: str | os.PathLike) -> pd.DataFrame:
        """``df`` with the schema's columns first, in order.

        Raises:
            DataError: a column is missing, or unknown columns when ``extra`` is False.
        """
        missing = [c for c in self.columns if c not in df.columns]
        if missing:
            raise DataError(f"{where}: {self.name} lacks column(s) {missing}")
        others = [c for c in df.columns if c not in self.columns]
        if others and not self.extra:
            raise DataError(f"{where}: {self.name} has unknown column(s) {others}")
        return df[list(self.columns) + others]

    def empty(self) -> pd.DataFrame:
        """An empty table with these columns."""
        return pd.DataFrame(columns=list(self.columns))


VIDEOS = Schema("videos table", ("video_name", "identity", "split", "input_path", "real_path", "fps", "n_frames", "width", "height"))
FACES = Schema("face manifest", (
    "video_id", "dataset", "method", "compression", "video_name", "label", "identity", "source", "driving",
    "frame_index", "bbox", "landmarks", "landmarks_crop", "matrix", "crop_size", "margin", "crop_path",
))
#: The combined face manifest adds the split of each row's target identity.
FACES_ALL = Schema("combined face manifest", FACES.columns + ("split",))
FAKES = Schema("fakes manifest", (
    "method", "video_name", "video_id", "target", "source", "driving", "split", "path", "target_path", "n_frames",
    "n_frames_with_face", "fps", "checkpoint", "checkpoint_sha256", "settings",
))
FRAMES = Schema("frames table", ("frame_index", "has_face", "landmarks", "matrix", "driving_landmarks"))
QUALITY = Schema("quality table", (
    "method", "video_id", "video_name", "target", "source", "driving", "split", "n_frames", "ssim", "psnr", "lpips",
    "id_sim_source", "id_sim_driving", "id_sim_target", "id_retrieval", "id_sim_source_dlib", "id_sim_driving_dlib",
    "id_sim_target_dlib", "id_retrieval_dlib", "landmark_distance", "akd", "akd_iod", "landmark_model", "boundary",
    "warp_error", "warp_error_real", "reference", "eval_mode",
), extra=True)
QUALITY_FRAMES = Schema("quality frames table", (
    "method", "video_id", "video_name", "frame_index", "ssim", "psnr", "lpips", "id_sim_source", "id_sim_driving",
    "id_sim_target", "id_sim_source_dlib", "id_sim_driving_dlib", "id_sim_target_dlib", "id_nearest", "id_nearest_dlib",
    "landmark_distance", "akd", "akd_iod", "landmark_model", "boundary", "warp_error", "warp_error_real",
), extra=True)
QUALITY_SETS = Schema("set-level quality table", (
    "method", "metric", "value", "status", "n_real", "n_fake", "weights", "weights_sha256", "eval_mode",
))
RECONSTRUCTION = Schema("reconstruction table", (
    "method", "identity", "split", "n_frames", "l1", "ssim", "akd", "akd_iod", "aed", "aed_dlib", "mkr", "eval_mode",
))
RECONSTRUCTION_FRAMES = Schema("reconstruction frames table", (
    "method", "identity", "split", "frame_index", "l1", "ssim", "detected", "akd", "akd_iod", "aed", "aed_dlib",
))
PREDICTIONS = Schema("predictions table", (
    "video_id", "frame_index", "label", "split", "method", "identity", "cluster", "score", "detector", "train_set", "test_set",
))
#: The train-set folder name of prediction submissions (``detectors/<name>/submission/``).
SUBMISSION_SET = "submission"
#: The train-set folder name of an external detector evaluated with its own weights
#: (``forgebench evaluate``: trained elsewhere, on nothing of this run).
PRETRAINED_SET = "pretrained"
#: Separates a train set from the run it was trained in, in the train-set folder of a
#: cross-dataset evaluation (``forgebench evaluate RUN_B --detector RUN_A/detectors/NAME``):
#: ``detectors/<detector>/<train_set>@<run A folder name>/``.
CROSS_DATASET_SEP = "@"


def cross_dataset_set(train_set: str, run_name: str) -> str:
    """The train-set name of a detector trained in another run: ``"all@ffpp_c23"``.

    Raises:
        DataError: a part is empty or holds ``/`` or ``@``.
    """
    for part in (train_set, run_name):
        if not part or "/" in part or CROSS_DATASET_SEP in part:
            raise DataError(f"cross-dataset train set parts must be non-empty without '/' or '@', got {train_set!r}, {run_name!r}")
    return f"{train_set}{CROSS_DATASET_SEP}{run_name}"


ROBUSTNESS = Schema("robustness scores", (
    "video_id", "frame_index", "label", "method", "identity", "cluster", "perturbation", "strength", "score", "detector", "train_set",
))
ROBUSTNESS_METRICS = Schema("robustness metrics", (
    "detector", "train_set", "perturbation", "strength", "video_auc", "video_auc_ci_low", "video_auc_ci_high",
    "frame_auc", "frame_auc_ci_low", "frame_auc_ci_high", "n_identities", "n_identities_real", "n_identities_fake",
    "n_videos", "n_frames",
))
HISTORY = Schema("training history", ("epoch", "train_loss", "val_loss", "val_auc", "lr"))
#: ``submissions/sealed_ids.parquet``: one row per exported face (``frame_id``, the
#: anonymous ``video_id``, ``split``, ``frame_index`` and the run's ``original_video_id``);
#: the secret of the ids is in the file's schema metadata (:data:`SECRET_KEY`).
SEALED_IDS = Schema("sealed ids table", ("frame_id", "video_id", "split", "frame_index", "original_video_id"))
#: Parquet schema-metadata key of the id secret in the sealed ids file.
SECRET_KEY = b"forgebench_id_secret"

#: ``faces/dataset_index.parquet``: every video a dataset import (or the extract stage) listed,
#: one row each, with its unique ``video_id``, the importer's columns
#: (:data:`forgebench.datasets.VIDEO_COLUMNS`), ``identity`` after ``splits.identity``
#: merging (``identity_label`` as the dataset gave it), the resolved ``split`` and ``status``
#: (``kept`` or ``left out: <reason>``).
DATASET_INDEX = Schema("dataset index", (
    "video_id", "path", "kind", "dataset", "method", "compression", "video_name", "label", "identity", "identity_label",
    "source", "driving", "split", "status", "label_from", "identity_from", "pair_from", "split_from", "frames", "landmarks",
    "masks",
))
#: ``faces/identity_embeddings.parquet``: the identity check's embeddings, one row per face.
IDENTITY_EMBEDDINGS = Schema("identity embeddings", ("video_id", "identity", "frame_index", "model", "embedding"))

#: Every table schema by name.
SCHEMAS: dict[str, Schema] = {
    "videos": VIDEOS, "faces": FACES, "faces_all": FACES_ALL, "fakes": FAKES, "frames": FRAMES, "quality": QUALITY,
    "quality_frames": QUALITY_FRAMES, "quality_sets": QUALITY_SETS, "reconstruction": RECONSTRUCTION,
    "reconstruction_frames": RECONSTRUCTION_FRAMES, "predictions": PREDICTIONS, "robustness": ROBUSTNESS,
    "robustness_metrics": ROBUSTNESS_METRICS, "history": HISTORY, "sealed_ids": SEALED_IDS,
    "dataset_index": DATASET_INDEX, "identity_embeddings": IDENTITY_EMBEDDINGS,
}
#: Quality tables of ``metrics/`` by kind -> (file name, schema).
METRICS_FILES: dict[str, tuple[str, Schema]] = {
    "quality": ("quality.parquet", QUALITY), "quality_frames": ("quality_frames.parquet", QUALITY_FRAMES),
    "quality_sets": ("quality_sets.parquet", QUALITY_SETS), "reconstruction": ("reconstruction.parquet", RECONSTRUCTION),
    "reconstruction_frames": ("reconstruction_frames.parquet", RECONSTRUCTION_FRAMES),
}


def _strength_name(strength: float | None) -> str:
    """``None`` -> ``clean``; 40.0 -> ``40``; 0.05 -> ``0.05``."""
    return "clean" if strength is None else f"{float(strength):g}"


#: File name of a detector's validation-chosen checkpoint (``metrics.json`` names it).
BEST_CHECKPOINT = "best.pt"


@dataclass(frozen=True)
class DetectorFiles:
    """The files of one trained detector x train set (``detectors/<detector>/<train_set>/``).

    Attributes:
        folder: the folder.
        best: checkpoint chosen on validation (``best.pt``).
        last: resume state after the last finished epoch (``last.pt``; deleted when done).
        history: per-epoch training log (``history.csv``).
        predictions: test-split frame scores (``predictions.parquet``).
        metrics: thresholds, metrics with intervals, settings (``metrics.json``).
        robustness: scores under test-time perturbations (``robustness.parquet``).
        robustness_metrics: AUCs with intervals per perturbation strength
            (``robustness_metrics.parquet``).
    """

    folder: Path

    @property
    def best(self) -> Path:
        return self.folder / BEST_CHECKPOINT

    @property
    def last(self) -> Path:
        return self.folder / "last.pt"

    @property
    def history(self) -> Path:
        return self.folder / "history.csv"

    @property
    def predictions(self) -> Path:
        return self.folder / "predictions.parquet"

    @property
    def metrics(self) -> Path:
        return self.folder / "metrics.json"

    @property
    def robustness(self) -> Path:
        return self.folder / "robustness.parquet"

    @property
    def robustness_metrics(self) -> Path:
        return self.folder / "robustness_metrics.parquet"

    def robustness_part(self, perturbation: str, strength: float | None) -> Path:
        """Scores of one perturbation strength (``robustness/<name>_<strength>.parquet``;
        the clean scores are ``none_clean``), written first so robustness resumes."""
        return self.folder / "robustness" / f"{perturbation}_{_strength_name(strength)}.parquet"

    @property
    def trained(self) -> bool:
        """Training and the test evaluation finished (predictions and metrics written)."""
        return self.predictions.is_file() and self.metrics.is_file()

    def seed_files(self, seed: int) -> "DetectorFiles":
        """The files of a further training seed (``protocol.seeds``):
        ``<folder>/seeds/<seed>/``, with the same layout."""
        return DetectorFiles(self.folder / "seeds" / str(int(seed)))


@dataclass(frozen=True)
class TestsetFiles:
    """The files of an exported, unlabelled test set (``forgebench export testset``; by
    default ``export/testset/`` of the run, or any folder given with ``--out``).

    Attributes:
        folder: the export folder.
        index: one row per exported face (``index.csv``).
        readme: how to submit (``README.txt``).
    """

    folder: Path

    @property
    def index(self) -> Path:
        return self.folder / "index.csv"

    @property
    def readme(self) -> Path:
        return self.folder / "README.txt"

    def crops_folder(self, split: str) -> Path:
        """``<split>/crops/``: the aligned face crops of a split."""
        return self.folder / split / "crops"

    def videos_folder(self, split: str) -> Path:
        """``<split>/videos/``: the videos of a split, remuxed without metadata."""
        return self.folder / split / "videos"

    def crop(self, split: str, frame_id: str) -> Path:
        """``<split>/crops/<frame_id>.png``."""
        return self.crops_folder(split) / f"{frame_id}.png"

    def video(self, split: str, video_id: str) -> Path:
        """``<split>/videos/<video_id>.mp4``."""
        return self.videos_folder(split) / f"{video_id}.mp4"

    def relative(self, path: Path) -> str:
        """``path`` relative to the export folder, POSIX style (the ``crop`` / ``video``
        cells of ``index.csv``)."""
        return Path(path).relative_to(self.folder).as_posix()


class RunDir:
    """One run directory: every path, file name and table schema of a run.

    Args:
        root: the run directory (need not exist yet).

    Paths returned by the ``*_path``-style methods are absolute (inside ``root``); paths
    stored in tables are relative to ``root`` (:meth:`relative`) and turned back with
    :meth:`resolve`.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r})"

    def __fspath__(self) -> str:
        return str(self.root)

    # -- paths ------------------------------------------------------------------------
    def resolve(self, stored: str | os.PathLike) -> Path:
        """A path stored in a table: relative ones are inside the run directory,
        absolute ones (input videos outside it) are returned as they are."""
        p = Path(stored)
        return p if p.is_absolute() else self.root / p

    def relative(self, path: str | os.PathLike) -> str:
        """``path`` (inside the run directory) as the POSIX path stored in tables; a path
        outside it is stored absolute."""
        p = Path(path)
        try:
            return p.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(p.resolve())

    @property
    def config_file(self) -> Path:
        """``config.yaml``: the resolved config, every default written out."""
        return self.root / "config.yaml"

    @property
    def provenance_file(self) -> Path:
        """``provenance.json``: versions, seeds, commit, weights files, hardware, stages."""
        return self.root / "provenance.json"

    @property
    def videos_file(self) -> Path:
        """``faces/videos.parquet``: one row per real input video (:data:`VIDEOS`)."""
        return self.root / "faces" / "videos.parquet"

    def real_video(self, compression: str, video_name: str) -> Path:
        """``faces/real/<compression>/<video>.mp4``: a real video re-encoded like the fakes."""
        return self.root / "faces" / "real" / compression / f"{video_name}.mp4"

    def crop_folder(self, method: str, video_name: str) -> Path:
        """``faces/crops/<method>/<video>/``: one video's aligned face crops."""
        return self.root / "faces" / "crops" / method / video_name

    @staticmethod
    def crop_name(frame_index: int) -> str:
        """File name of the crop of a frame: ``<frame:06d>.png``."""
        return f"{int(frame_index):06d}.png"

    def face_manifest(self, method: str, video_name: str) -> Path:
        """``faces/manifest/<method>/<video>.parquet``: one video's face rows (:data:`FACES`)."""
        return self.root / "faces" / "manifest" / method / f"{video_name}.parquet"

    @property
    def faces_file(self) -> Path:
        """``faces/manifest.parquet``: every face row of the run with its split
        (:data:`FACES_ALL`), written by the extract stage."""
        return self.root / "faces" / "manifest.parquet"

    @property
    def report_file(self) -> Path:
        """``faces/report.json``: per video id, frames sampled, with and without a face, errors."""
        return self.root / "faces" / "report.json"

    @property
    def dataset_index_file(self) -> Path:
        """``faces/dataset_index.parquet``: every listed video, its people, split and status
        (:data:`DATASET_INDEX`)."""
        return self.root / "faces" / "dataset_index.parquet"

    @property
    def identity_check_file(self) -> Path:
        """``faces/identity_check.json``: videos under different identity labels that look like
        one person (:mod:`forgebench.identities`)."""
        return self.root / "faces" / "identity_check.json"

    @property
    def identity_embeddings_file(self) -> Path:
        """``faces/identity_embeddings.parquet``: the identity check's face embeddings
        (:data:`IDENTITY_EMBEDDINGS`), reused when the check runs again."""
        return self.root / "faces" / "identity_embeddings.parquet"

    def fakes_folder(self, method: str) -> Path:
        """``fakes/<method>/``: one generator's fake videos, frames tables, models."""
        return self.root / "fakes" / method

    def fake_video(self, method: str, video_name: str) -> Path:
        """``fakes/<method>/<video>.mp4`` (FaceForensics++ naming ``<target>_<source>``)."""
        return self.fakes_folder(method) / f"{video_name}.mp4"

    def frames_file(self, method: str, video_name: str) -> Path:
        """``fakes/<method>/frames/<video>.parquet``: per frame of a fake (:data:`FRAMES`)."""
        return self.fakes_folder(method) / "frames" / f"{video_name}.parquet"

    def fakes_file(self, method: str) -> Path:
        """``fakes/<method>/manifest.parquet``: one row per fake video (:data:`FAKES`)."""
        return self.fakes_folder(method) / "manifest.parquet"

    def model_file(self, method: str, key: str) -> Path:
        """``fakes/<method>/models/<key>.pt``: a generator checkpoint."""
        return self.fakes_folder(method) / "models" / f"{key}.pt"

    def model_log(self, method: str, key: str) -> Path:
        """``fakes/<method>/models/<key>.json``: its training log."""
        return self.fakes_folder(method) / "models" / f"{key}.json"

    def metrics_file(self, kind: str) -> Path:
        """``metrics/<file>`` of a quality table kind of :data:`METRICS_FILES`."""
        return self.root / "metrics" / METRICS_FILES[kind][0]

    def score_unit(self, kind: str, method: str, name: str) -> Path:
        """``metrics/units/<kind>/<method>/<name>.parquet``: the result of one unit of the
        score stage (kind ``video``: one fake video's frames; ``set``: one generator's
        set-level rows; ``reconstruction``: one identity's reconstructed frames), kept so
        the stage resumes unit by unit."""
        return self.root / "metrics" / "units" / kind / method / f"{name}.parquet"

    def detector_files(self, detector: str, train_set: str) -> DetectorFiles:
        """The files of ``detectors/<detector>/<train_set>/`` (:class:`DetectorFiles`)."""
        return DetectorFiles(self.root / "detectors" / detector / train_set)

    def robustness_video(self, perturbation: str, param: str, strength: float, method: str, video_name: str) -> Path:
        """``robustness/<perturbation>_<param><strength>/<method>/<video>.mp4``: a test
        video under a video-level perturbation, shared by every detector."""
        return self.root / "robustness" / f"{perturbation}_{param}{float(strength):g}" / method / f"{video_name}.mp4"

    def robustness_video_stamp(self, perturbation: str, param: str, strength: float, method: str, video_name: str) -> Path:
        """``robustness/<perturbation>_<param><strength>/<method>/<video>.json``: what the
        perturbed video beside it was made from (source path and size, perturbation,
        strength), so a changed source is made again."""
        return self.robustness_video(perturbation, param, strength, method, video_name).with_suffix(".json")

    @property
    def leaderboard_folder(self) -> Path:
        """``leaderboard/``: leaderboard.md, leaderboard.csv, report.html, plots/."""
        return self.root / "leaderboard"

    @property
    def plots_folder(self) -> Path:
        """``leaderboard/plots/``."""
        return self.leaderboard_folder / "plots"

    def plot_file(self, name: str) -> Path:
        """``leaderboard/plots/<name>.png`` (``roc_<detector>``, ``samples_<method>``, ``robustness``)."""
        return self.plots_folder / f"{name}.png"

    def plot_files(self, prefix: str) -> list[Path]:
        """The ``leaderboard/plots/<prefix>*.png`` files there are, sorted."""
        return sorted(self.plots_folder.glob(f"{prefix}*.png"))

    @property
    def leaderboard_markdown(self) -> Path:
        """``leaderboard/leaderboard.md``: the tables as Markdown."""
        return self.leaderboard_folder / "leaderboard.md"

    @property
    def leaderboard_csv(self) -> Path:
        """``leaderboard/leaderboard.csv``: every number in long format."""
        return self.leaderboard_folder / "leaderboard.csv"

    @property
    def report_html(self) -> Path:
        """``leaderboard/report.html``: tables, figures and notes."""
        return self.leaderboard_folder / "report.html"

    def export_folder(self, fmt: str) -> Path:
        """``export/<format>/``: a run exported for another benchmark (``testset``: the
        unlabelled test and validation faces and videos for prediction submissions)."""
        return self.root / "export" / fmt

    def deepfakebench_index(self, dataset: str) -> Path:
        """``export/deepfakebench/<dataset>.json``: the run's faces as a DeepfakeBench
        dataset JSON index."""
        return self.export_folder("deepfakebench") / f"{dataset}.json"

    def testset_files(self, folder: str | os.PathLike | None = None) -> TestsetFiles:
        """The exported test set's files, in ``folder`` (default ``export/testset/``)."""
        return TestsetFiles(Path(folder) if folder is not None else self.export_folder("testset"))

    @property
    def sealed_ids_file(self) -> Path:
        """``submissions/sealed_ids.parquet``: the anonymous frame and video ids of the
        exported test set and the face rows they stand for (video id, frame index; the
        labels are read from the face manifest when a submission is scored, never written
        to ``export/testset/``)."""
        return self.root / "submissions" / "sealed_ids.parquet"

    @property
    def submissions_log_file(self) -> Path:
        """``submissions/log.jsonl``: every ``forgebench submit`` attempt, one JSON object a
        line (UTC time, name, file, its SHA-256, outcome), appended and never rewritten; the
        daily limit (``protocol.max_submissions_per_day``) counts its scored lines."""
        return self.root / "submissions" / "log.jsonl"

    def submission_files(self, name: str) -> DetectorFiles:
        """``detectors/<name>/submission/``: a scored prediction submission (the same files
        as a trained detector's ``predictions.parquet`` and ``metrics.json``, so the
        leaderboard lists it; ``metrics.json`` says ``"submission": true``)."""
        return DetectorFiles(self.root / "detectors" / name / SUBMISSION_SET)

    # -- binding a config, format version -----------------------------------------------
    def exists(self) -> bool:
        """Whether the folder holds a run (a ``config.yaml``)."""
        return self.config_file.is_file()

    def require(self) -> "RunDir":
        """``self``, checked to be a run directory of this format.

        Raises:
            DataError: no such folder or no ``config.yaml`` in it (says to run ``extract``
                there first), or a run of another format version.
        """
        if not self.root.is_dir():
            raise DataError(f"{self.root}: run directory not found; start a run with 'forgebench run CONFIG --out {self.root}'")
        if not self.config_file.is_file():
            raise DataError(f"{self.root}: not a run directory (no config.yaml); start one with 'forgebench run CONFIG'")
        self.check_format()
        return self

    def format_version(self) -> int | None:
        """The format version recorded in ``provenance.json``; 1 for a run written before
        versions were recorded; ``None`` when no stage has finished yet."""
        if self.provenance_file.is_file():
            doc = read_json(self.provenance_file, "provenance")
            return int(doc.get("format_version", 1)) if isinstance(doc, dict) else 1
        if self.videos_file.is_file():
            return 1 if "source_path" in pd.read_parquet(self.videos_file).columns else FORMAT_VERSION
        return None

    def check_format(self) -> None:
        """Refuse a run directory written in another layout.

        Raises:
            DataError: the recorded format version is not :data:`FORMAT_VERSION`; the
                message names both and what to do.
        """
        version = self.format_version()
        if version is not None and version != FORMAT_VERSION:
            what = {1: " (forgebench 0.1: tables name one thing 'generator' and 'method', 'source' and 'source_identity')"}
            raise DataError(
                f"{self.root}: run directory of format version {version}{what.get(version, '')}; this forgebench reads "
                f"format {FORMAT_VERSION} only. Run the config again into a new run directory (--out)."
            )

    def has_finished_work(self) -> bool:
        """Whether any stage has finished work here (``provenance.json`` lists a stage):
        from then on the run directory is bound to its ``config.yaml``."""
        if not self.provenance_file.is_file():
            return False
        doc = read_json(self.provenance_file, "provenance")
        return bool(isinstance(doc, dict) and doc.get("stages"))

    def bind(self, config_yaml: str, config_hash: str) -> None:
        """Write ``config.yaml`` for a run, or check it is the run's.

        A run directory becomes binding once a stage has finished work in it (its
        ``provenance.json`` records the config hash): before that (a failed start, say a
        wrong ``--videos``) the corrected config simply replaces the old one; after, a
        different config is refused so results never mix.

        Args:
            config_yaml: the resolved config as YAML.
            config_hash: its SHA-256 (:meth:`forgebench.config.Config.config_hash`).

        Raises:
            ConfigError: the run has finished work made with a different config.
            DataError: a run directory of another format version.
        """
        self.check_format()
        if self.has_finished_work():
            old = str(self.read_provenance().get("config_hash", ""))
            if old != config_hash:
                raise ConfigError(
                    f"{self.config_file}: this run directory holds results made with a different config (hash "
                    f"{old[:12]} vs {config_hash[:12]}); resume it with 'forgebench run {self.config_file}' or choose "
                    "another --out"
                )
            if self.config_file.is_file():
                return
        self.root.mkdir(parents=True, exist_ok=True)
        write_text(self.config_file, config_yaml)

    def read_config_dict(self) -> dict[str, Any]:
        """``config.yaml`` as a plain mapping (no validation; see :mod:`forgebench.configure`).

        Raises:
            DataError: missing or not YAML.
        """
        try:
            doc = yaml.safe_load(self.config_file.read_text())
        except OSError as exc:
            raise DataError(f"{self.config_file}: cannot read ({exc.strerror or exc})") from None
        except yaml.YAMLError as exc:
            raise DataError(f"{self.config_file}: not valid YAML ({exc})") from None
        return doc if isinstance(doc, dict) else {}

    # -- provenance -----------------------------------------------------------------------------
    def read_provenance(self) -> dict[str, Any]:
        """``provenance.json`` ({} when absent). Raises DataError when unreadable."""
        if not self.provenance_file.is_file():
            return {}
        doc = read_json(self.provenance_file, "provenance")
        return doc if isinstance(doc, dict) else {}

    def write_provenance(self, facts: Mapping[str, Any], stage: str, seconds: float, stage_facts: Mapping[str, Any] | None = None,
                         weights: list[dict[str, str]] | None = None) -> dict[str, Any]:
        """Merge a finished stage into ``provenance.json`` and return the document.

        Args:
            facts: run-level facts replacing the old ones (tool, config hash, seed, git
                commit, package versions, hardware).
            stage: the stage name.
            seconds: its wall time.
            stage_facts: what the stage records (checkpoints, generator facts, ...).
            weights: weights files used (``name``, ``file``, ``sha256``, ...), merged by name.
        """
        doc = self.read_provenance()
        doc.update(dict(facts))
        doc["format_version"] = FORMAT_VERSION
        merged = {w["name"]: w for w in doc.get("weights", [])}
        for w in weights or []:
            merged[w["name"]] = w
        doc["weights"] = sorted(merged.values(), key=lambda w: w["name"])
        doc.setdefault("stages", {})[stage] = {
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seconds": round(seconds, 1), **dict(stage_facts or {}),
        }
        write_json(self.provenance_file, doc)
        return doc

    def stage_facts(self, stage: str) -> dict[str, Any]:
        """``stages.<stage>`` of ``provenance.json`` ({} when absent)."""
        return dict(self.read_provenance().get("stages", {}).get(stage, {}))

    # -- real videos ---------------------------------------------------------------------------
    def read_videos(self) -> pd.DataFrame:
        """``faces/videos.parquet`` (:data:`VIDEOS`).

        Raises:
            DataError: missing (says to run ``forgebench extract``) or unreadable.
        """
        if not self.videos_file.is_file():
            raise DataError(f"{self.videos_file}: missing; run 'forgebench extract {self.root}' first")
        return VIDEOS.check(read_parquet(self.videos_file), self.videos_file)

    def write_videos(self, table: pd.DataFrame) -> Path:
        """Write ``faces/videos.parquet`` (columns checked against :data:`VIDEOS`)."""
        return write_parquet(self.videos_file, VIDEOS.check(table, self.videos_file))

    def split_of(self) -> dict[str, str]:
        """``{identity: split}`` of the real videos."""
        v = self.read_videos()
        return dict(zip(v["identity"].astype(str), v["split"].astype(str)))

    def identity_videos(self) -> pd.DataFrame:
        """One real video per identity, indexed by identity: the first by video name (the video
        generators fake and drive with when an identity has several)."""
        v = self.read_videos().sort_values("video_name", kind="stable")
        return v.drop_duplicates("identity").set_index("identity")

    def read_dataset_index(self) -> pd.DataFrame:
        """``faces/dataset_index.parquet`` (:data:`DATASET_INDEX`).

        Raises:
            DataError: missing or unreadable.
        """
        return DATASET_INDEX.check(read_parquet(self.dataset_index_file), self.dataset_index_file)

    def write_dataset_index(self, table: pd.DataFrame) -> Path:
        """Write ``faces/dataset_index.parquet`` (columns checked against :data:`DATASET_INDEX`)."""
        return write_parquet(self.dataset_index_file, DATASET_INDEX.check(table, self.dataset_index_file))

    def read_identity_check(self) -> dict[str, Any] | None:
        """``faces/identity_check.json``, or None when the check has not run.

        Raises:
            DataError: unreadable.
        """
        if not self.identity_check_file.is_file():
            return None
        doc = read_json(self.identity_check_file, "identity check")
        return doc if isinstance(doc, dict) else None

    # -- faces -------------------------------------------------------------------------------
    def read_face_manifest(self, method: str, video_name: str) -> pd.DataFrame:
        """One video's face rows (:data:`FACES`). Raises DataError when unreadable."""
        path = self.face_manifest(method, video_name)
        return FACES.check(read_parquet(path), path)

    def write_face_manifest(self, method: str, video_name: str, rows: pd.DataFrame) -> Path:
        """Write one video's face rows (columns checked against :data:`FACES`)."""
        path = self.face_manifest(method, video_name)
        return write_parquet(path, FACES.check(rows, path))

    def collect_faces(self) -> pd.DataFrame:
        """Every per-video face manifest with its split, as written to ``faces/manifest.parquet``
        by the extract stage; empty (with the columns) when nothing was extracted.

        A video of the dataset index (:attr:`dataset_index_file`) takes its resolved split
        and people from there; a generated fake (``fakes/<method>/``) takes the split of its
        target identity (``faces/videos.parquet``); any other video's faces (left out by the
        index, or of an earlier import with a larger ``--max-videos``) are not part of the run."""
        root = self.root / "faces" / "manifest"
        parts = [read_parquet(f) for f in sorted(root.glob("*/*.parquet"))] if root.is_dir() else []
        if not parts:
            return FACES_ALL.empty()
        df = pd.concat(parts, ignore_index=True)
        split_of = self.split_of() if self.videos_file.is_file() else {}
        df["split"] = df["identity"].map(split_of).astype(object)
        if self.dataset_index_file.is_file():  # listed videos: their resolved split and (merged) people
            index = self.read_dataset_index()
            kept = index[index["status"] == "kept"].set_index("video_id")
            generated = df["method"].isin(self.fake_methods()) & ~df["video_id"].isin(index["video_id"])
            df = df[df["video_id"].isin(kept.index) | generated].reset_index(drop=True)
            on = df["video_id"].isin(kept.index)
            for col in ("split", "identity", "source", "driving"):
                df.loc[on, col] = df.loc[on, "video_id"].map(kept[col])
        return FACES_ALL.check(df, root)

    def write_faces(self, table: pd.DataFrame) -> Path:
        """Write ``faces/manifest.parquet`` (:data:`FACES_ALL`)."""
        return write_parquet(self.faces_file, FACES_ALL.check(table, self.faces_file))

    def read_faces(self, methods: list[str] | None = None) -> pd.DataFrame:
        """Every face row of the run with its split (``faces/manifest.parquet``),
        optionally only those of ``methods``.

        Raises:
            DataError: the extract stage has not written it (the message says to run it).
        """
        if not self.faces_file.is_file():
            raise DataError(f"{self.faces_file}: missing; run 'forgebench extract {self.root}' first")
        df = FACES_ALL.check(read_parquet(self.faces_file), self.faces_file)
        return df if methods is None else df[df["method"].isin(methods)].reset_index(drop=True)

    def read_report(self) -> dict[str, dict]:
        """``faces/report.json``: per video id, ``video``, ``frames_sampled``,
        ``frames_with_face``, ``frames_no_face`` and ``error`` of a failed video."""
        if not self.report_file.is_file():
            return {}
        doc = read_json(self.report_file, "faces report")
        return doc if isinstance(doc, dict) else {}

    def update_report(self, entries: Mapping[str, Mapping[str, Any]]) -> None:
        """Merge ``{video_id: entry}`` into ``faces/report.json`` (``frames_no_face`` is
        derived from ``frames_sampled`` and ``frames_with_face``)."""
        if not entries:
            return
        report = self.read_report()
        for video_id, entry in entries.items():
            entry = dict(entry)
            if "frames_sampled" in entry:
                entry["frames_no_face"] = entry["frames_sampled"] - entry.get("frames_with_face", 0)
            report[video_id] = {**report.get(video_id, {}), **entry}
        write_json(self.report_file, report)

    def source_video(self, video_id: str) -> Path:
        """The video file a video id's faces were extracted from (``faces/report.json``
        ``video``): recorded as given to the extract stage; a moved run directory still holds
        it at the same place inside it (``faces/``, ``fakes/``), which is looked at too.

        Raises:
            DataError: no such video id in the report, or the file is gone.
        """
        entry = self.read_report().get(video_id) or {}
        if "video" not in entry:
            raise DataError(f"{self.report_file}: no video file recorded for {video_id}")
        recorded = Path(entry["video"])
        candidates = [recorded, self.root / recorded]
        inside = [i for i, part in enumerate(recorded.parts) if part in ("faces", "fakes")]
        if inside:
            candidates.append(self.root.joinpath(*recorded.parts[inside[-1]:]))
        for path in candidates:
            if path.is_file():
                return path
        raise DataError(f"{recorded}: video file of {video_id} is missing (also looked in {self.root})")

    # -- fakes -------------------------------------------------------------------------------------
    def fake_methods(self) -> list[str]:
        """Methods (generators) with a fakes manifest, sorted."""
        root = self.root / "fakes"
        return sorted(p.parent.name for p in root.glob("*/manifest.parquet")) if root.is_dir() else []

    def read_fakes(self, method: str | None = None) -> pd.DataFrame:
        """The fakes manifest of ``method``, or of every method together (:data:`FAKES`).

        Raises:
            DataError: no fakes manifest (says to run ``forgebench generate``).
        """
        methods = [method] if method else self.fake_methods()
        files = [self.fakes_file(m) for m in methods if self.fakes_file(m).is_file()]
        if not files:
            raise DataError(f"{self.root / 'fakes'}: no fakes manifest; run 'forgebench generate {self.root}' first")
        return pd.concat([FAKES.check(read_parquet(f), f) for f in files], ignore_index=True)

    def write_fakes(self, method: str, table: pd.DataFrame) -> Path:
        """Write ``fakes/<method>/manifest.parquet`` (:data:`FAKES`)."""
        path = self.fakes_file(method)
        return write_parquet(path, FAKES.check(table, path))

    def read_frames(self, method: str, video_name: str) -> pd.DataFrame:
        """The per-frame table of one fake (:data:`FRAMES`).

        Raises:
            DataError: missing (says to re-run ``forgebench generate``) or unreadable.
        """
        path = self.frames_file(method, video_name)
        if not path.is_file():
            raise DataError(f"{path}: missing frames table of fake {method}/{video_name}; re-run 'forgebench generate {self.root}'")
        return FRAMES.check(read_parquet(path), path)

    def write_frames(self, method: str, video_name: str, table: pd.DataFrame) -> Path:
        """Write one fake's per-frame table (:data:`FRAMES`)."""
        path = self.frames_file(method, video_name)
        return write_parquet(path, FRAMES.check(table, path))

    # -- quality -------------------------------------------------------------------------------
    def read_metrics_table(self, kind: str) -> pd.DataFrame:
        """A quality table of ``metrics/`` (:data:`METRICS_FILES`); empty with its columns
        when the file does not exist yet."""
        path = self.metrics_file(kind)
        schema = METRICS_FILES[kind][1]
        return schema.check(read_parquet(path), path) if path.is_file() else schema.empty()

    def write_metrics_table(self, kind: str, table: pd.DataFrame) -> Path:
        """Write a quality table of ``metrics/`` (columns checked against its schema)."""
        path = self.metrics_file(kind)
        return write_parquet(path, METRICS_FILES[kind][1].check(table, path))

    # -- detectors ----------------------------------------------------------------------------------
    def detector_results(self) -> list[tuple[str, str]]:
        """``(detector, train_set)`` of every trained detector (``predictions.parquet``
        written), sorted."""
        root = self.root / "detectors"
        found = sorted(root.glob("*/*/predictions.parquet")) if root.is_dir() else []
        return [(p.parent.parent.name, p.parent.name) for p in found]

    def read_detector_metrics(self, detector: str, train_set: str) -> dict[str, Any]:
        """``metrics.json`` of a trained detector.

        Raises:
            DataError: missing or unreadable.
        """
        path = self.detector_files(detector, train_set).metrics
        doc = read_json(path, "detector metrics")
        if not isinstance(doc, dict):
            raise DataError(f"{path}: expected a JSON object")
        return doc

    def read_predictions(self, detector: str, train_set: str) -> pd.DataFrame:
        """``predictions.parquet`` of a trained detector (:data:`PREDICTIONS`; files written
        before clusters were stored get ``cluster`` = ``identity``)."""
        path = self.detector_files(detector, train_set).predictions
        table = read_parquet(path)
        if "cluster" not in table.columns and "identity" in table.columns:  # written before clusters were stored
            table.insert(table.columns.get_loc("identity") + 1, "cluster", table["identity"].astype(str))
        return PREDICTIONS.check(table, path)

    def read_sealed_ids(self) -> tuple[pd.DataFrame, str]:
        """The sealed ids table (:data:`SEALED_IDS`; ``frame_index`` int64, the ids str)
        and the secret of its ids (from the file's schema metadata).

        Raises:
            DataError: the file is missing (says to export the test set first), unreadable,
                lacks columns or the secret.
        """
        path = self.sealed_ids_file
        if not path.is_file():
            raise DataError(f"{path}: no exported test set; run 'forgebench export testset {self.root}' first")
        df = SEALED_IDS.check(read_parquet(path), path)
        secret = (pq.read_schema(path).metadata or {}).get(SECRET_KEY)
        if not secret:
            raise DataError(f"{path}: holds no id secret (not written by 'forgebench export testset')")
        df = df.astype({"frame_id": str, "video_id": str, "split": str, "original_video_id": str})
        return df.assign(frame_index=df["frame_index"].astype(np.int64)), secret.decode("utf-8")

    def write_sealed_ids(self, sealed: pd.DataFrame, secret: str) -> Path:
        """Write the sealed ids table (:data:`SEALED_IDS`) with ``secret`` in its schema
        metadata, atomically; returns the path.

        Raises:
            DataError: a column of :data:`SEALED_IDS` is missing.
        """
        path = self.sealed_ids_file
        table = pa.Table.from_pandas(SEALED_IDS.check(sealed, path), preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), SECRET_KEY: secret.encode("utf-8")})
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        return path

    def read_robustness_metrics(self) -> pd.DataFrame:
        """Every ``robustness_metrics.parquet`` of the run, concatenated
        (:data:`ROBUSTNESS_METRICS`); empty when there is none."""
        root = self.root / "detectors"
        files = sorted(root.glob("*/*/robustness_metrics.parquet")) if root.is_dir() else []
        parts = [ROBUSTNESS_METRICS.check(read_parquet(f), f) for f in files]
        return pd.concat(parts, ignore_index=True) if parts else ROBUSTNESS_METRICS.empty()
