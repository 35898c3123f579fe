"""The stages of a run: extract -> generate -> score -> train -> report.

Each stage is a function of ``(RunDir, Config)`` (:mod:`.extract`, :mod:`.generate`,
:mod:`.score`, :mod:`.train`, :mod:`.report`) that lists its units of work, skips those
whose outputs exist, and runs the others (:mod:`forgebench.execution`); it reads only files
earlier stages wrote, through :class:`forgebench.rundir.RunDir`, so a stage can be re-run
alone and an interrupted run resumes without redoing finished work.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from forgebench.config import Config
from forgebench.rundir import DetectorFiles, RunDir
from forgebench.stages.common import log, require_fakes

# RunDir and DetectorFiles are part of the stage API: what a stage is called on and what a
# train job writes; scripts and tests outside forgebench/ take them from here.
__all__ = ["STAGES", "STAGE_FUNCS", "RunDir", "DetectorFiles", "bind", "run_all"]

STAGES = ("extract", "generate", "score", "train", "report")


class _StageFunctions(Mapping):
    """Stage name -> its function of ``(RunDir, Config, progress)``, the stage's module
    imported on first use: a stage verb, and every worker process that unpickles one
    stage's units, imports that stage only (the train stage's torch and timm cost seconds
    the extract stage does not need)."""

    def __getitem__(self, name: str) -> Callable[..., Any]:
        if name not in STAGES:
            raise KeyError(name)
        return getattr(importlib.import_module(f"forgebench.stages.{name}"), name)

    def __iter__(self) -> Iterator[str]:
        return iter(STAGES)

    def __len__(self) -> int:
        return len(STAGES)


#: Stage name -> its function of ``(RunDir, Config, progress)`` (imported on first use).
STAGE_FUNCS: Mapping[str, Callable[..., Any]] = _StageFunctions()


def bind(run: RunDir, config: Config) -> None:
    """Make ``run`` the run directory of ``config`` (:meth:`forgebench.rundir.RunDir.bind`).

    Raises:
        ConfigError: the run holds results made with a different config.
        DataError: a run directory of another format version.
    """
    run.bind(config.to_yaml(), config.config_hash())


def run_all(run: RunDir, config: Config, progress: bool = True) -> tuple[Path, str]:
    """Run every stage in order, each skipping finished work: extract (real videos),
    generate, extract again (the faces of the new fakes), score, train, report.

    Returns:
        ``(leaderboard folder, the leaderboard as Markdown)``.

    Raises:
        ConfigError: no generator configured and no imported fakes (checked first).
        forgebench.weights.WeightsUnavailable: a configured detector needs pretrained
            weights that are not cached (checked after the real faces are extracted, before
            hours of generation).
    """
    bind(run, config)  # a run that fails before finishing work takes a corrected config (RunDir.bind)
    require_fakes(run, config)  # before the extract stage spends its time
    for k, (name, label) in enumerate(
        (
            ("extract", "extract"),
            ("generate", "generate"),
            ("extract", "extract (faces of the fakes)"),
            ("score", "score"),
            ("train", "train"),
        )
    ):
        if k == 1:  # missing pretrained weights stop the run after the real faces, before hours of generation
            # imported here, not at the top: the detector registry imports torch and timm, which
            # the extract stage and its workers do not need
            from forgebench.detectors import check_pretrained_weights

            for det in config.detectors:
                settings = config.detector_settings(det)
                if not settings.factory:
                    check_pretrained_weights(det, settings.pretrained)
        log(f"stage {label}")
        STAGE_FUNCS[name](run, config, progress)
    log("stage report")
    return STAGE_FUNCS["report"](run, config, progress)
