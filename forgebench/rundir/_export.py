"""``export/`` of a run directory: the run exported for other benchmarks and the
unlabelled test set for prediction submissions (:class:`ExportFiles`, :class:`TestsetFiles`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


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


class ExportFiles:
    """The files of ``export/``.

    Args:
        run_root: the run directory.
    """

    def __init__(self, run_root: Path) -> None:
        self.root = Path(run_root) / "export"

    def folder(self, fmt: str) -> Path:
        """``export/<format>/``: a run exported for another benchmark (``testset``: the
        unlabelled test and validation faces and videos for prediction submissions)."""
        return self.root / fmt

    def deepfakebench_index(self, dataset: str) -> Path:
        """``export/deepfakebench/<dataset>.json``: the run's faces as a DeepfakeBench
        dataset JSON index."""
        return self.folder("deepfakebench") / f"{dataset}.json"

    def testset(self, folder: str | os.PathLike | None = None) -> TestsetFiles:
        """The exported test set's files, in ``folder`` (default ``export/testset/``)."""
        return TestsetFiles(Path(folder) if folder is not None else self.folder("testset"))
