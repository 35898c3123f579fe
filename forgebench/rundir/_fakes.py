"""``fakes/<method>/`` of a run directory: one generator's fake videos, per-frame tables,
models and manifest (:class:`FakeFiles`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from forgebench.errors import DataError
from forgebench.fileio import read_parquet, write_parquet
from forgebench.schemas import FAKES, FRAMES


class FakeFiles:
    """The files of ``fakes/`` and their typed readers and writers.

    Args:
        run_root: the run directory.
    """

    def __init__(self, run_root: Path) -> None:
        self.run_root = Path(run_root)
        self.root = self.run_root / "fakes"

    def folder(self, method: str) -> Path:
        """``fakes/<method>/``: one generator's fake videos, frames tables, models."""
        return self.root / method

    def video(self, method: str, video_name: str) -> Path:
        """``fakes/<method>/<video>.mp4`` (FaceForensics++ naming ``<target>_<source>``)."""
        return self.folder(method) / f"{video_name}.mp4"

    def mask_video(self, method: str, video_name: str) -> Path:
        """``fakes/<method>/masks/<name>.mp4``: the fake's manipulation mask, lossless, one
        mask per fake frame (the FaceForensics++ masks layout,
        ``manipulated_sequences/<Method>/masks/videos``)."""
        return self.folder(method) / "masks" / f"{video_name}.mp4"

    def frames_file(self, method: str, video_name: str) -> Path:
        """``fakes/<method>/frames/<video>.parquet``: per frame of a fake (:data:`~forgebench.schemas.FRAMES`)."""
        return self.folder(method) / "frames" / f"{video_name}.parquet"

    def manifest_file(self, method: str) -> Path:
        """``fakes/<method>/manifest.parquet``: one row per fake video (:data:`~forgebench.schemas.FAKES`)."""
        return self.folder(method) / "manifest.parquet"

    def model_file(self, method: str, key: str) -> Path:
        """``fakes/<method>/models/<key>.pt``: a generator checkpoint."""
        return self.folder(method) / "models" / f"{key}.pt"

    def model_log(self, method: str, key: str) -> Path:
        """``fakes/<method>/models/<key>.json``: its training log."""
        return self.folder(method) / "models" / f"{key}.json"

    def methods(self) -> list[str]:
        """Methods (generators) with a fakes manifest, sorted."""
        return sorted(p.parent.name for p in self.root.glob("*/manifest.parquet")) if self.root.is_dir() else []

    def read(self, method: str | None = None) -> pd.DataFrame:
        """The fakes manifest of ``method``, or of every method together (:data:`~forgebench.schemas.FAKES`).

        Raises:
            DataError: no fakes manifest (says to run ``forgebench generate``).
        """
        methods = [method] if method else self.methods()
        files = [self.manifest_file(m) for m in methods if self.manifest_file(m).is_file()]
        if not files:
            raise DataError(f"{self.root}: no fakes manifest; run 'forgebench generate {self.run_root}' first")
        return pd.concat([FAKES.check(read_parquet(f), f) for f in files], ignore_index=True)

    def write(self, method: str, table: pd.DataFrame) -> Path:
        """Write ``fakes/<method>/manifest.parquet`` (:data:`~forgebench.schemas.FAKES`)."""
        path = self.manifest_file(method)
        return write_parquet(path, FAKES.check(table, path))

    def read_frames(self, method: str, video_name: str) -> pd.DataFrame:
        """The per-frame table of one fake (:data:`~forgebench.schemas.FRAMES`).

        Raises:
            DataError: missing (says to re-run ``forgebench generate``) or unreadable.
        """
        path = self.frames_file(method, video_name)
        if not path.is_file():
            raise DataError(
                f"{path}: missing frames table of fake {method}/{video_name}; re-run 'forgebench generate {self.run_root}'"
            )
        return FRAMES.check(read_parquet(path), path)

    def write_frames(self, method: str, video_name: str, table: pd.DataFrame) -> Path:
        """Write one fake's per-frame table (:data:`~forgebench.schemas.FRAMES`)."""
        path = self.frames_file(method, video_name)
        return write_parquet(path, FRAMES.check(table, path))
