"""``metrics/`` of a run directory: the quality tables and the score stage's per-unit
results (:class:`MetricsFiles`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from forgebench.fileio import read_parquet, write_parquet
from forgebench.schemas import QUALITY, QUALITY_FRAMES, QUALITY_SETS, RECONSTRUCTION, RECONSTRUCTION_FRAMES, Schema

#: Quality tables of ``metrics/`` by kind -> (file name, schema).
METRICS_FILES: dict[str, tuple[str, Schema]] = {
    "quality": ("quality.parquet", QUALITY),
    "quality_frames": ("quality_frames.parquet", QUALITY_FRAMES),
    "quality_sets": ("quality_sets.parquet", QUALITY_SETS),
    "reconstruction": ("reconstruction.parquet", RECONSTRUCTION),
    "reconstruction_frames": ("reconstruction_frames.parquet", RECONSTRUCTION_FRAMES),
}


class MetricsFiles:
    """The files of ``metrics/`` and their typed readers and writers.

    Args:
        run_root: the run directory.
    """

    def __init__(self, run_root: Path) -> None:
        self.folder = Path(run_root) / "metrics"

    def file(self, kind: str) -> Path:
        """``metrics/<file>`` of a quality table kind of :data:`METRICS_FILES` (KeyError for another kind)."""
        return self.folder / METRICS_FILES[kind][0]

    def unit(self, kind: str, method: str, name: str) -> Path:
        """``metrics/units/<kind>/<method>/<name>.parquet``: the result of one unit of the
        score stage (kind ``video``: one fake video's frames; ``set``: one generator's
        set-level rows; ``reconstruction``: one identity's reconstructed frames), kept so
        the stage resumes unit by unit."""
        return self.folder / "units" / kind / method / f"{name}.parquet"

    def read(self, kind: str) -> pd.DataFrame:
        """A quality table of ``metrics/`` (:data:`METRICS_FILES`); empty with its columns
        when the file does not exist yet. Raises DataError when unreadable."""
        path = self.file(kind)
        schema = METRICS_FILES[kind][1]
        return schema.check(read_parquet(path), path) if path.is_file() else schema.empty()

    def write(self, kind: str, table: pd.DataFrame) -> Path:
        """Write a quality table of ``metrics/`` (columns checked against its schema)."""
        path = self.file(kind)
        return write_parquet(path, METRICS_FILES[kind][1].check(table, path))
