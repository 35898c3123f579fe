"""``submissions/`` of a run directory and the scored submissions under ``detectors/``:
the sealed ids of the exported test set and the submission log (:class:`SubmissionFiles`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from forgebench.errors import DataError
from forgebench.fileio import atomic_path, read_parquet
from forgebench.rundir._detectors import DetectorFiles
from forgebench.schemas import SEALED_IDS, SECRET_KEY, SUBMISSION_SET


class SubmissionFiles:
    """The files of ``submissions/`` and of each scored submission.

    Args:
        run_root: the run directory.
    """

    def __init__(self, run_root: Path) -> None:
        self.run_root = Path(run_root)
        self.folder = self.run_root / "submissions"

    @property
    def sealed_ids_file(self) -> Path:
        """``submissions/sealed_ids.parquet``: the anonymous frame and video ids of the
        exported test set and the face rows they stand for (video id, frame index; the
        labels are read from the face manifest when a submission is scored, never written
        to ``export/testset/``)."""
        return self.folder / "sealed_ids.parquet"

    @property
    def log_file(self) -> Path:
        """``submissions/log.jsonl``: every ``forgebench submit`` attempt, one JSON object a
        line (UTC time, name, file, its SHA-256, outcome), appended and never rewritten; the
        daily limit (``protocol.max_submissions_per_day``) counts its scored lines."""
        return self.folder / "log.jsonl"

    def files(self, name: str) -> DetectorFiles:
        """``detectors/<name>/submission/``: a scored prediction submission (the same files
        as a trained detector's ``predictions.parquet`` and ``metrics.json``, so the
        leaderboard lists it; ``metrics.json`` says ``"submission": true``)."""
        return DetectorFiles(self.run_root / "detectors" / name / SUBMISSION_SET)

    def read_sealed_ids(self) -> tuple[pd.DataFrame, str]:
        """The sealed ids table (:data:`~forgebench.schemas.SEALED_IDS`; ``frame_index``
        int64, the ids str) and the secret of its ids (from the file's schema metadata).

        Raises:
            DataError: the file is missing (says to export the test set first), unreadable,
                lacks columns or the secret.
        """
        path = self.sealed_ids_file
        if not path.is_file():
            raise DataError(f"{path}: no exported test set; run 'forgebench export testset {self.run_root}' first")
        df = SEALED_IDS.check(read_parquet(path), path)
        secret = (pq.read_schema(path).metadata or {}).get(SECRET_KEY)
        if not secret:
            raise DataError(f"{path}: holds no id secret (not written by 'forgebench export testset')")
        df = df.astype({"frame_id": str, "video_id": str, "split": str, "original_video_id": str})
        return df.assign(frame_index=df["frame_index"].astype(np.int64)), secret.decode("utf-8")

    def write_sealed_ids(self, sealed: pd.DataFrame, secret: str) -> Path:
        """Write the sealed ids table with ``secret`` in its schema metadata, atomically;
        returns the path.

        Raises:
            DataError: a column of :data:`~forgebench.schemas.SEALED_IDS` is missing.
        """
        path = self.sealed_ids_file
        table = pa.Table.from_pandas(SEALED_IDS.check(sealed, path), preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), SECRET_KEY: secret.encode("utf-8")})
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        return path
