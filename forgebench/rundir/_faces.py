"""``faces/`` of a run directory: the real videos, aligned crops, face manifests, the
faces report, the dataset index and the identity check (:class:`FaceFiles`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from forgebench.errors import DataError
from forgebench.fileio import read_json, read_parquet, write_json, write_parquet
from forgebench.schemas import DATASET_INDEX, FACES, FACES_ALL, VIDEOS


class FaceFiles:
    """The files of ``faces/`` and their typed readers and writers.

    Args:
        run_root: the run directory.
        fake_methods: returns the run's generator names (:meth:`FakeFiles.methods`): the
            combined manifest keeps generated fakes that no dataset index lists.
    """

    def __init__(self, run_root: Path, fake_methods: Callable[[], list[str]]) -> None:
        self.run_root = Path(run_root)
        self.folder = self.run_root / "faces"
        self._fake_methods = fake_methods

    # -- paths ------------------------------------------------------------------------
    @property
    def videos_file(self) -> Path:
        """``faces/videos.parquet``: one row per real input video (:data:`~forgebench.schemas.VIDEOS`)."""
        return self.folder / "videos.parquet"

    def real_video(self, compression: str, video_name: str) -> Path:
        """``faces/real/<compression>/<video>.mp4``: a real video re-encoded like the fakes."""
        return self.folder / "real" / compression / f"{video_name}.mp4"

    def crop_folder(self, method: str, video_name: str) -> Path:
        """``faces/crops/<method>/<video>/``: one video's aligned face crops, ``<frame:06d>.png``
        (named by the unit that writes them, :func:`forgebench.stages.extract_units.crop_name`)."""
        return self.folder / "crops" / method / video_name

    def mask_folder(self, method: str, video_name: str) -> Path:
        """``faces/masks/<method>/<video>/``: the mask crops of a fake's faces (the mask video's
        frame warped with the face's alignment, grey PNG, same names as the crops)."""
        return self.folder / "masks" / method / video_name

    def video_manifest(self, method: str, video_name: str) -> Path:
        """``faces/manifest/<method>/<video>.parquet``: one video's face rows (:data:`~forgebench.schemas.FACES`)."""
        return self.folder / "manifest" / method / f"{video_name}.parquet"

    @property
    def manifest_file(self) -> Path:
        """``faces/manifest.parquet``: every face row of the run with its split
        (:data:`~forgebench.schemas.FACES_ALL`), written by the extract stage."""
        return self.folder / "manifest.parquet"

    @property
    def report_file(self) -> Path:
        """``faces/report.json``: per video id, frames sampled, with and without a face, errors."""
        return self.folder / "report.json"

    @property
    def dataset_index_file(self) -> Path:
        """``faces/dataset_index.parquet``: every listed video, its people, split and status
        (:data:`~forgebench.schemas.DATASET_INDEX`)."""
        return self.folder / "dataset_index.parquet"

    @property
    def identity_check_file(self) -> Path:
        """``faces/identity_check.json``: videos under different identity labels that look like
        one person (:mod:`forgebench.identities`)."""
        return self.folder / "identity_check.json"

    @property
    def identity_embeddings_file(self) -> Path:
        """``faces/identity_embeddings.parquet``: the identity check's face embeddings
        (:data:`~forgebench.schemas.IDENTITY_EMBEDDINGS`), reused when the check runs again."""
        return self.folder / "identity_embeddings.parquet"

    # -- real videos ---------------------------------------------------------------------
    def read_videos(self) -> pd.DataFrame:
        """``faces/videos.parquet`` (:data:`~forgebench.schemas.VIDEOS`).

        Raises:
            DataError: missing (says to run ``forgebench extract``) or unreadable.
        """
        if not self.videos_file.is_file():
            raise DataError(f"{self.videos_file}: missing; run 'forgebench extract {self.run_root}' first")
        return VIDEOS.check(read_parquet(self.videos_file), self.videos_file)

    def write_videos(self, table: pd.DataFrame) -> Path:
        """Write ``faces/videos.parquet`` (columns checked against :data:`~forgebench.schemas.VIDEOS`)."""
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
        """``faces/dataset_index.parquet`` (:data:`~forgebench.schemas.DATASET_INDEX`).

        Raises:
            DataError: missing or unreadable.
        """
        return DATASET_INDEX.check(read_parquet(self.dataset_index_file), self.dataset_index_file)

    def write_dataset_index(self, table: pd.DataFrame) -> Path:
        """Write ``faces/dataset_index.parquet`` (columns checked against its schema)."""
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

    # -- face manifests ----------------------------------------------------------------
    def read_video_manifest(self, method: str, video_name: str) -> pd.DataFrame:
        """One video's face rows (:data:`~forgebench.schemas.FACES`). Raises DataError when unreadable."""
        path = self.video_manifest(method, video_name)
        return FACES.check(_with_mask_column(read_parquet(path)), path)

    def write_video_manifest(self, method: str, video_name: str, rows: pd.DataFrame) -> Path:
        """Write one video's face rows (columns checked against :data:`~forgebench.schemas.FACES`)."""
        path = self.video_manifest(method, video_name)
        return write_parquet(path, FACES.check(rows, path))

    def collect(self) -> pd.DataFrame:
        """Every per-video face manifest with its split, as written to ``faces/manifest.parquet``
        by the extract stage; empty (with the columns) when nothing was extracted.

        A video of the dataset index (:attr:`dataset_index_file`) takes its resolved split
        and people from there; a generated fake (``fakes/<method>/``) takes the split of its
        target identity (``faces/videos.parquet``); any other video's faces (left out by the
        index, or of an earlier import with a larger ``--max-videos``) are not part of the run."""
        root = self.folder / "manifest"
        parts = [_with_mask_column(read_parquet(f)) for f in sorted(root.glob("*/*.parquet"))] if root.is_dir() else []
        if not parts:
            return FACES_ALL.empty()
        df = pd.concat(parts, ignore_index=True)
        split_of = self.split_of() if self.videos_file.is_file() else {}
        df["split"] = df["identity"].map(split_of).astype(object)
        if self.dataset_index_file.is_file():  # listed videos: their resolved split and (merged) people
            index = self.read_dataset_index()
            kept = index[index["status"] == "kept"].set_index("video_id")
            generated = df["method"].isin(self._fake_methods()) & ~df["video_id"].isin(index["video_id"])
            df = df[df["video_id"].isin(kept.index) | generated].reset_index(drop=True)
            on = df["video_id"].isin(kept.index)
            for col in ("split", "identity", "source", "driving"):
                df.loc[on, col] = df.loc[on, "video_id"].map(kept[col])
        return FACES_ALL.check(df, root)

    def write_manifest(self, table: pd.DataFrame) -> Path:
        """Write ``faces/manifest.parquet`` (:data:`~forgebench.schemas.FACES_ALL`)."""
        return write_parquet(self.manifest_file, FACES_ALL.check(table, self.manifest_file))

    def read_manifest(self, methods: list[str] | None = None) -> pd.DataFrame:
        """Every face row of the run with its split (``faces/manifest.parquet``),
        optionally only those of ``methods``.

        Raises:
            DataError: the extract stage has not written it (the message says to run it).
        """
        if not self.manifest_file.is_file():
            raise DataError(f"{self.manifest_file}: missing; run 'forgebench extract {self.run_root}' first")
        df = FACES_ALL.check(_with_mask_column(read_parquet(self.manifest_file)), self.manifest_file)
        return df if methods is None else df[df["method"].isin(methods)].reset_index(drop=True)

    # -- the faces report ------------------------------------------------------------------
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
        candidates = [recorded, self.run_root / recorded]
        inside = [i for i, part in enumerate(recorded.parts) if part in ("faces", "fakes")]
        if inside:
            candidates.append(self.run_root.joinpath(*recorded.parts[inside[-1] :]))
        for path in candidates:
            if path.is_file():
                return path
        raise DataError(f"{recorded}: video file of {video_id} is missing (also looked in {self.run_root})")


def _with_mask_column(rows: pd.DataFrame) -> pd.DataFrame:
    """Face rows of a manifest written before mask crops existed get ``mask_path`` ``""``
    (no mask), so a run extracted by an earlier version reads on."""
    if "mask_path" not in rows.columns:
        rows = rows.assign(mask_path="")
    return rows
