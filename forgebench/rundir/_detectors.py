"""``detectors/`` and ``robustness/`` of a run directory: each trained detector x train
set's files (:class:`DetectorFiles`), the run's results and the perturbed test videos the
robustness protocol shares between detectors (:class:`DetectorArea`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from forgebench.fileio import read_json, read_parquet
from forgebench.results import check_result
from forgebench.schemas import PREDICTIONS, ROBUSTNESS_METRICS


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

    def seed_files(self, seed: int) -> DetectorFiles:
        """The files of a further training seed (``protocol.seeds``):
        ``<folder>/seeds/<seed>/``, with the same layout."""
        return DetectorFiles(self.folder / "seeds" / str(int(seed)))


class DetectorArea:
    """The files of ``detectors/`` (every detector x train set) and ``robustness/``.

    Args:
        run_root: the run directory.
    """

    def __init__(self, run_root: Path) -> None:
        self.root = Path(run_root) / "detectors"
        self.robustness_root = Path(run_root) / "robustness"

    def files(self, detector: str, train_set: str) -> DetectorFiles:
        """The files of ``detectors/<detector>/<train_set>/`` (:class:`DetectorFiles`)."""
        return DetectorFiles(self.root / detector / train_set)

    def results(self) -> list[tuple[str, str]]:
        """``(detector, train_set)`` of every trained detector (``predictions.parquet``
        written), sorted."""
        found = sorted(self.root.glob("*/*/predictions.parquet")) if self.root.is_dir() else []
        return [(p.parent.parent.name, p.parent.name) for p in found]

    def read_metrics(self, detector: str, train_set: str) -> dict[str, Any]:
        """``metrics.json`` of a detector result, checked (:func:`forgebench.results.check_result`).

        Raises:
            DataError: missing, unreadable, or lacking a key every result holds.
        """
        path = self.files(detector, train_set).metrics
        return check_result(read_json(path, "detector metrics"), path)

    def read_predictions(self, detector: str, train_set: str) -> pd.DataFrame:
        """``predictions.parquet`` of a trained detector (:data:`~forgebench.schemas.PREDICTIONS`;
        files written before clusters were stored get ``cluster`` = ``identity``).

        Raises:
            DataError: missing, unreadable or lacking columns.
        """
        path = self.files(detector, train_set).predictions
        table = read_parquet(path)
        if "cluster" not in table.columns and "identity" in table.columns:  # written before clusters were stored
            table.insert(table.columns.get_loc("identity") + 1, "cluster", table["identity"].astype(str))
        return PREDICTIONS.check(table, path)

    def read_robustness_metrics(self) -> pd.DataFrame:
        """Every ``robustness_metrics.parquet`` of the run, concatenated
        (:data:`~forgebench.schemas.ROBUSTNESS_METRICS`); empty when there is none."""
        files = sorted(self.root.glob("*/*/robustness_metrics.parquet")) if self.root.is_dir() else []
        parts = [ROBUSTNESS_METRICS.check(read_parquet(f), f) for f in files]
        return pd.concat(parts, ignore_index=True) if parts else ROBUSTNESS_METRICS.empty()

    def perturbed_video(self, perturbation: str, param: str, strength: float, method: str, video_name: str) -> Path:
        """``robustness/<perturbation>_<param><strength>/<method>/<video>.mp4``: a test
        video under a video-level perturbation, shared by every detector."""
        return self.robustness_root / f"{perturbation}_{param}{float(strength):g}" / method / f"{video_name}.mp4"

    def perturbed_video_stamp(
        self, perturbation: str, param: str, strength: float, method: str, video_name: str
    ) -> Path:
        """``robustness/<perturbation>_<param><strength>/<method>/<video>.json``: what the
        perturbed video beside it was made from (source path and size, perturbation,
        strength), so a changed source is made again."""
        return self.perturbed_video(perturbation, param, strength, method, video_name).with_suffix(".json")
