"""The run directory: the one owner of its paths, file names and table readers.

A run is one folder (docs/architecture.md has the map)::

    runs/<name>/
      config.yaml  provenance.json
      faces/       videos.parquet, real/<c>/<video>.mp4, crops/, manifest/, manifest.parquet, report.json
      fakes/<method>/   <target>_<source|driving>.mp4, frames/, models/, manifest.parquet
      metrics/     quality*.parquet, reconstruction*.parquet, units/ (per-unit results, resume)
      detectors/<detector>/<train_set>/   best.pt, history.csv, predictions.parquet, metrics.json, robustness*
      robustness/  test videos re-encoded for the H.264 robustness protocol
      leaderboard/ leaderboard.md, leaderboard.csv, summary.txt, report.html, plots/*.png
      comparisons/ paired comparisons (forgebench compare, the report stage)
      export/      testset/ (unlabelled test set for submissions), deepfakebench/<dataset>.json
      submissions/ sealed_ids.parquet (the anonymous ids of the exported test set), log.jsonl

:class:`RunDir` is composed of one file set per area (``run.faces``, ``run.fakes``,
``run.metrics``, ``run.detectors``, ``run.leaderboard``, ``run.export``,
``run.submissions``); each builds the paths of its folder and reads and writes its tables
through the schemas of :mod:`forgebench.schemas` and the atomic writers of
:mod:`forgebench.fileio`. Stages ask it for their inputs and hand it their outputs;
plugins (generators, detectors, metrics, datasets, leaderboard formatting) never import it.

Stored paths are relative to the run directory (POSIX style) so a run can be moved;
:meth:`RunDir.resolve` turns them (or absolute paths of inputs outside the run) into
paths on disk.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from forgebench.config import RUN_CONFIG
from forgebench.errors import ConfigError, DataError
from forgebench.fileio import read_json, write_json, write_text
from forgebench.rundir._detectors import BEST_CHECKPOINT, DetectorArea, DetectorFiles
from forgebench.rundir._export import ExportFiles, TestsetFiles
from forgebench.rundir._faces import FaceFiles
from forgebench.rundir._fakes import FakeFiles
from forgebench.rundir._leaderboard import LeaderboardFiles
from forgebench.rundir._metrics import METRICS_FILES, MetricsFiles
from forgebench.rundir._submissions import SubmissionFiles

__all__ = [
    "FORMAT_VERSION",
    "BEST_CHECKPOINT",
    "METRICS_FILES",
    "RunDir",
    "DetectorFiles",
    "DetectorArea",
    "TestsetFiles",
    "FaceFiles",
    "FakeFiles",
    "MetricsFiles",
    "LeaderboardFiles",
    "ExportFiles",
    "SubmissionFiles",
]

#: Version of the run-directory layout and table schemas this code reads and writes.
#: 1: forgebench 0.1 (columns ``generator``, ``source_identity``, ``source_path``);
#: 2: one column name per concept (``method``, ``source`` / ``driving``, ``input_path``).
FORMAT_VERSION = 2


class RunDir:
    """One run directory: a small composition of per-area file sets, plus the config,
    provenance and format version of the run.

    Args:
        root: the run directory (need not exist yet).

    Attributes:
        root: the folder.
        faces: ``faces/`` (:class:`FaceFiles`).
        fakes: ``fakes/`` (:class:`FakeFiles`).
        metrics: ``metrics/`` (:class:`MetricsFiles`).
        detectors: ``detectors/`` and ``robustness/`` (:class:`DetectorArea`).
        leaderboard: ``leaderboard/`` and ``comparisons/`` (:class:`LeaderboardFiles`).
        export: ``export/`` (:class:`ExportFiles`).
        submissions: ``submissions/`` and scored submissions (:class:`SubmissionFiles`).

    Paths the areas return are absolute (inside ``root``); paths stored in tables are
    relative to ``root`` (:meth:`relative`) and turned back with :meth:`resolve`.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.fakes = FakeFiles(self.root)
        self.faces = FaceFiles(self.root, self.fakes.methods)
        self.metrics = MetricsFiles(self.root)
        self.detectors = DetectorArea(self.root)
        self.leaderboard = LeaderboardFiles(self.root)
        self.export = ExportFiles(self.root)
        self.submissions = SubmissionFiles(self.root)

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
        return self.root / RUN_CONFIG

    @property
    def provenance_file(self) -> Path:
        """``provenance.json``: versions, seeds, commit, weights files, hardware, stages."""
        return self.root / "provenance.json"

    # -- binding a config, format version -----------------------------------------------
    def exists(self) -> bool:
        """Whether the folder holds a run (a ``config.yaml``)."""
        return self.config_file.is_file()

    def require(self) -> RunDir:
        """``self``, checked to be a run directory of this format.

        Raises:
            DataError: no such folder or no ``config.yaml`` in it (says to run ``extract``
                there first), or a run of another format version.
        """
        if not self.root.is_dir():
            raise DataError(
                f"{self.root}: run directory not found; start a run with 'forgebench run CONFIG --out {self.root}'"
            )
        if not self.config_file.is_file():
            raise DataError(
                f"{self.root}: not a run directory (no config.yaml); start one with 'forgebench run CONFIG'"
            )
        self.check_format()
        return self

    def format_version(self) -> int | None:
        """The format version recorded in ``provenance.json``; 1 for a run written before
        versions were recorded; ``None`` when no stage has finished yet."""
        if self.provenance_file.is_file():
            doc = read_json(self.provenance_file, "provenance")
            return int(doc.get("format_version", 1)) if isinstance(doc, dict) else 1
        if self.faces.videos_file.is_file():
            return 1 if "source_path" in pd.read_parquet(self.faces.videos_file).columns else FORMAT_VERSION
        return None

    def check_format(self) -> None:
        """Refuse a run directory written in another layout.

        Raises:
            DataError: the recorded format version is not :data:`FORMAT_VERSION`; the
                message names both and what to do.
        """
        version = self.format_version()
        if version is not None and version != FORMAT_VERSION:
            what = {
                1: " (forgebench 0.1: tables name one thing 'generator' and 'method', 'source' and 'source_identity')"
            }
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

    def write_provenance(
        self,
        facts: Mapping[str, Any],
        stage: str,
        seconds: float,
        stage_facts: Mapping[str, Any] | None = None,
        weights: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
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
        old_hardware = doc.get("hardware") if isinstance(doc.get("hardware"), dict) else {}
        doc.update(dict(facts))
        if isinstance(facts.get("hardware"), dict):  # a stage without torch leaves the torch entries as recorded
            doc["hardware"] = {**old_hardware, **facts["hardware"]}
        doc["format_version"] = FORMAT_VERSION
        merged = {w["name"]: w for w in doc.get("weights", [])}
        for w in weights or []:
            merged[w["name"]] = w
        doc["weights"] = sorted(merged.values(), key=lambda w: w["name"])
        doc.setdefault("stages", {})[stage] = {
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seconds": round(seconds, 1),
            **dict(stage_facts or {}),
        }
        write_json(self.provenance_file, doc)
        return doc

    def stage_facts(self, stage: str) -> dict[str, Any]:
        """``stages.<stage>`` of ``provenance.json`` ({} when absent)."""
        return dict(self.read_provenance().get("stages", {}).get(stage, {}))
