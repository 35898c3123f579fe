"""The ``protocol`` section of a run config: which detector trainings and tests a run does,
and how its results are aggregated and bounded (:class:`ProtocolSettings`).

Kept apart from :mod:`forgebench.protocol`, which applies it with torch and the detectors,
so that validating this section (the report stage reads it) imports neither;
:mod:`forgebench.protocol` re-exports it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from forgebench.config import Strict
from forgebench.perturbations import RobustnessSettings

__all__ = ["ProtocolSettings"]


class ProtocolSettings(Strict):
    """The evaluation protocol (config section ``protocol``).

    Attributes:
        cross_generator: test every trained detector on every generator's test fakes
            (the cross-generator matrix); ``False`` = in-domain only.
        train_on_all: also train each detector on the fakes of all generators together
            (train set ``all``), when there are two or more generators.
        video_aggregation: ``mean`` (FaceForensics++ / DeepfakeBench), ``median`` or
            ``max`` of the frame scores of each unique video id.
        n_boot: bootstrap replicates (of identities) for the 95% confidence intervals.
        min_identities: identities per class (real, fake) a test cell needs for a firm
            result; below it the cell is shown with its interval and marked as too few
            identities to conclude, and the report says so in its first sentence.
        robustness: test-time perturbations
            (:class:`forgebench.perturbations.RobustnessSettings`).
        max_submissions_per_day: prediction submissions (``forgebench submit``) scored in
            any 24 hours; more are refused, so the test set cannot be tuned to by trying
            (every attempt is logged in ``submissions/log.jsonl`` and counted in the tables).
        seeds: training seeds: every detector x train set is trained once per seed and the
            tables show the mean over seeds, its interval and the min–max across seeds
            (:mod:`forgebench.seeds`); empty = once, with the run's ``seed``.
    """

    cross_generator: bool = True
    train_on_all: bool = True
    video_aggregation: Literal["mean", "median", "max"] = "mean"
    n_boot: int = Field(default=1000, ge=10)
    min_identities: int = Field(default=5, ge=1)
    robustness: RobustnessSettings = RobustnessSettings()
    max_submissions_per_day: int = Field(default=5, ge=1)
    seeds: list[int] = Field(default_factory=list)

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError(f"seeds must be distinct, got {v}")
        return v

    def training_seeds(self, run_seed: int) -> list[int]:
        """The seeds every detector x train set is trained with: ``seeds``, or ``[run_seed]``."""
        return list(self.seeds) or [int(run_seed)]
