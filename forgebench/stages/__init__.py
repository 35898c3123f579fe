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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only; at run time RunDir comes through __getattr__ below
    from forgebench.config import Config
    from forgebench.rundir import RunDir

# RunDir and DetectorFiles are part of the stage API: what a stage is called on and what a
# train job writes; scripts and tests outside forgebench/ take them from here.
__all__ = ["STAGES", "STAGE_FUNCS", "WORKER_MODULES", "RunDir", "DetectorFiles", "bind", "run_all"]

STAGES = ("extract", "generate", "score", "train", "report")

#: Stage name -> the modules its worker processes import before their first unit
#: (:meth:`forgebench.execution.Backend.start`): the modules of its unit functions. The
#: extract stage's units live in modules that import neither pandas nor torch, so its workers
#: are ready about when the stage's own process has imported the stage; the module of scikit-image's
#: ``SimilarityTransform`` (which the face alignment imports on first use,
#: :func:`forgebench.faces.align.similarity_matrix`, and scikit-image loads lazily) comes with
#: them. The generate stage's workers also extract the fakes' faces.
_FACE_UNITS = ("forgebench.stages.extract_units", "forgebench.faces.embedding", "skimage.transform._geometric")
WORKER_MODULES: Mapping[str, tuple[str, ...]] = {
    "extract": _FACE_UNITS,
    "generate": ("forgebench.stages.generate", *_FACE_UNITS),
    "score": ("forgebench.stages.score_units",),
    "train": ("forgebench.stages.train",),
    "report": (),
}


def __getattr__(name: str) -> Any:
    """``RunDir`` and ``DetectorFiles`` (:mod:`forgebench.rundir`), imported on first use
    (PEP 562): this package is imported by every worker process that unpickles a unit of
    one of its modules, and the run directory's typed readers import pandas, which the
    extract stage's units do not need."""
    if name in ("RunDir", "DetectorFiles"):
        import forgebench.rundir

        return getattr(forgebench.rundir, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    # imported here, not at the top: the stages' common helpers import pandas (see __getattr__)
    from forgebench.stages.common import log, require_fakes

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
