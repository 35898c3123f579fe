"""Run configuration: one YAML file validated into typed settings (pydantic).

An unknown key or a wrong type is a :class:`~forgebench.errors.ConfigError` naming the key
and the file. Sections whose keys depend on a plugin (``generators.<name>``,
``detectors.<name>``, ``metrics``, ``protocol``) are validated by that plugin's registry in
:mod:`forgebench.configure`, so this module imports no plugin and adding a generator or a
detector never touches it. The resolved config, every default written out, is saved as
``config.yaml`` in the run directory.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from forgebench.errors import ConfigError

#: A run directory's resolved config, every default written out (:attr:`forgebench.rundir.RunDir.config_file`).
RUN_CONFIG = "config.yaml"


class Strict(BaseModel):
    """Base of every settings section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataSettings(Strict):
    """Where the real videos come from and how they are cut and compressed.

    ``videos``: a folder of video files, one identity per file stem; ``null`` uses the
    six sample clips (:mod:`forgebench.samples`). ``sample_dir``: a folder holding the
    sample clips, used before any download (also ``$FORGEBENCH_DATA_DIR``).
    ``max_seconds``: cap on the duration used from each video (``null`` = whole video).
    ``crf``: x264 CRF of every video detectors see (23 = FaceForensics++ c23, 40 = c40);
    ``compression`` is its name in video ids.
    """

    videos: str | None = None
    dataset: str | None = None
    sample_dir: str | None = None
    max_seconds: float | None = Field(default=None, gt=0)
    crf: int = Field(default=23, ge=0, le=51)
    compression: str = "c23"


class FacesSettings(Strict):
    """Face extraction (``forgebench.faces``).

    ``frames_per_video`` frames sampled evenly per video; ``detector`` dlib ``hog`` or
    ``cnn``; ``landmarks`` ``dlib`` (offline) or ``fan`` (face-alignment, weights must be
    cached); ``crop_size`` pixels; ``margin`` crop side / face size (FaceForensics++:
    1.3); ``upsample`` dlib detector upsampling steps (finds smaller faces, slower);
    ``detect_max_side`` frames are downscaled to this longer side before detection (the
    landmarks are fitted at full resolution); ``detect_face_side``: once a video's face
    was found, the next frames of that video are downscaled further, so that a face of
    the last one's width spans this many pixels (HOG and the mmod CNN find faces from
    about 80 px), and detected at ``detect_max_side`` again when that finds none (0 =
    always at ``detect_max_side``; landmarks stay at full resolution: on the sample clips
    they differ from full-scale detection by 1.8% of the inter-ocular distance on
    average); ``redetect_every``: when a generator follows
    the face through every frame of a video, the detector runs on every N-th frame and
    the landmarks of the frames between are refitted in the previous frame's box (and
    the detector runs again whenever that fit moves too far); 1 = detect in every frame.
    ``alignment``: how a face becomes a crop: ``forgebench`` (all 68 landmarks fitted to
    forgebench's canonical template, the landmark box filling ``1 / margin`` of the crop)
    or ``deepfakebench`` (DeepfakeBench's preprocessing: five landmarks, iBUG indices 37,
    44, 30, 49, 55, fitted to the ArcFace five-point template shrunk by ``1 / margin``;
    DeepfakeBench fits them with dlib's 81-point model, forgebench with the 68-point model
    the points share, so its crops are close, not identical; its own settings are
    ``crop_size: 256``, ``margin: 1.3``). Generators always align with ``forgebench``.
    """

    frames_per_video: int = Field(default=32, ge=1)
    detector: Literal["hog", "cnn"] = "hog"
    landmarks: Literal["dlib", "fan"] = "dlib"
    crop_size: int = Field(default=256, ge=32)
    margin: float = Field(default=1.3, ge=1.0, le=3.0)
    upsample: int = Field(default=0, ge=0, le=2)
    detect_max_side: int = Field(default=640, ge=64)
    detect_face_side: int = Field(default=100, ge=0)
    redetect_every: int = Field(default=8, ge=1)
    alignment: Literal["forgebench", "deepfakebench"] = "forgebench"


class SplitSettings(Strict):
    """Identity-disjoint train/val/test split.

    ``ratio``: relative sizes (normalised; ``[1, 1, 1]`` = thirds).
    ``min_per_split``: identities every split must get (2 lets fakes pair identities
    inside a split, as FaceForensics++ does, so no identity crosses splits).
    ``identity``: ``labels`` splits by the identity labels as given (the identity check
    reports videos under different labels that look like one person); ``merge_likely``
    merges each cluster of such labels into one identity before a new run is split
    (official splits are followed as published either way; :mod:`forgebench.identities`).
    ``identity_faces``: faces per real video the identity check embeds (evenly spread).
    ``identity_threshold``: the check's distance threshold between mean embeddings
    (``null`` = the identity model's verification threshold: dlib 0.6, ArcFace 1.13).
    """

    ratio: tuple[float, float, float] = (0.7, 0.15, 0.15)
    min_per_split: int = Field(default=2, ge=1)
    identity: Literal["labels", "merge_likely"] = "labels"
    identity_faces: int = Field(default=8, ge=1)
    identity_threshold: float | None = Field(default=None, gt=0)

    @field_validator("ratio")
    @classmethod
    def _positive(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(x <= 0 for x in v):
            raise ValueError("every split ratio must be > 0")
        return v


class RaySettings(Strict):
    """Where Ray runs (``execution.ray``).

    Attributes:
        address: ``null`` starts a local Ray on this machine; ``auto`` joins the cluster
            this machine belongs to; ``ray://host:port`` a remote cluster's client server.
        max_retries: times a unit is resubmitted when its worker process or node is lost
            (a unit that raises is reported, never retried).
    """

    address: str | None = None
    max_retries: int = Field(default=3, ge=0)


class ExecutionSettings(Strict):
    """How units of work run (``execution``); it never changes the numbers.

    Attributes:
        backend: ``local`` (a pool of worker processes on this machine, no server) or
            ``ray`` (Ray tasks on a local Ray or a cluster; ``pip install 'forgebench[ray]'``).
        workers: worker processes (``auto`` = the CPU cores, or the GPUs when
            ``gpus_per_worker`` > 0); 1 runs every unit in the main process.
        threads_per_worker: torch and OpenMP threads of each worker, set before its first
            torch operation (1: processes, not threads, share the cores; several OpenMP
            processes with a thread per core each were 14 times slower). torch's CPU
            kernels may sum in another order with another thread count, so keep it when
            comparing runs.
        gpus_per_worker: GPUs each worker uses (0 = CPU; Ray may take fractions).
        ray: :class:`RaySettings`.
    """

    backend: Literal["local", "ray"] = "local"
    workers: int | Literal["auto"] = "auto"
    threads_per_worker: int = Field(default=1, ge=1)
    gpus_per_worker: float = Field(default=0.0, ge=0.0)
    ray: RaySettings = RaySettings()

    @field_validator("workers")
    @classmethod
    def _at_least_one(cls, v: int | str) -> int | str:
        if isinstance(v, int) and v < 1:
            raise ValueError("workers must be 'auto' or at least 1")
        return v


class ReportSettings(Strict):
    """Leaderboard report: ``sample_pairs`` real/fake crop pairs in the sample grid."""

    sample_pairs: int = Field(default=6, ge=1)


class Config(Strict):
    """The whole run config.

    ``generators``, ``detectors``, ``metrics`` and ``protocol`` hold the plugin sections as
    written (a mapping of registered names to that plugin's settings for the first two);
    each is validated by its own registry (:func:`forgebench.configure.resolve_config`),
    which also stores the typed settings returned by :meth:`generator_settings`,
    :meth:`detector_settings`, :meth:`metrics_settings` and :meth:`protocol_settings`.
    This module imports no plugin.
    """

    name: str = "run"
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    runs_dir: str = "runs"
    data: DataSettings = DataSettings()
    faces: FacesSettings = FacesSettings()
    splits: SplitSettings = SplitSettings()
    generators: dict[str, dict[str, Any]] = Field(default_factory=lambda: {"autoencoder_swap": {}})
    metrics: dict[str, Any] = Field(default_factory=dict)
    detectors: dict[str, dict[str, Any]] = Field(default_factory=lambda: {"meso4": {}, "efficientnet_b0": {}})
    protocol: dict[str, Any] = Field(default_factory=dict)
    report: ReportSettings = ReportSettings()
    execution: ExecutionSettings = ExecutionSettings()

    _typed: dict[str, Any] = PrivateAttr(default_factory=dict)
    _resolver: Callable[[Config, str], Any] | None = PrivateAttr(default=None)

    # -- typed access to the plugin sections (set by forgebench.configure) ---------------
    def _section(self, key: str) -> Any:
        if key not in self._typed and self._resolver is not None:  # a run's config: validated on first use
            self._typed[key] = self._resolver(self, key)
        try:
            return self._typed[key]
        except KeyError:
            raise ConfigError(
                f"config section {key!r} has not been validated by its registry; load configs with "
                "forgebench.configure.load_config / config_from_dict"
            ) from None

    def set_resolver(self, resolver: Callable[[Config, str], Any]) -> None:
        """Validate each plugin section on first use with ``resolver(config, key)`` (which
        returns its typed settings or raises ConfigError); used by
        :func:`forgebench.configure.load_run_config`."""
        self._resolver = resolver

    def set_typed(self, key: str, value: Any) -> None:
        """Store the typed settings of a plugin section (``generators.<name>``,
        ``detectors.<name>``, ``metrics``, ``protocol``); used by
        :func:`forgebench.configure.resolve_config`."""
        self._typed[key] = value

    def generator_settings(self, name: str) -> BaseModel:
        """Validated settings of generator ``name`` (its class's ``Settings``).

        Raises:
            ConfigError: ``name`` is not a section of this config.
        """
        return self._section(f"generators.{name}")

    def detector_settings(self, name: str) -> BaseModel:
        """Validated settings of detector ``name`` (training schedule and ``model_kwargs``).

        Raises:
            ConfigError: ``name`` is not a section of this config.
        """
        return self._section(f"detectors.{name}")

    def protocol_settings(self) -> BaseModel:
        """Validated evaluation-protocol settings (:class:`forgebench.protocol.ProtocolSettings`)."""
        return self._section("protocol")

    def metrics_settings(self) -> BaseModel:
        """Validated quality-metric settings (:class:`forgebench.metrics.quality.QualitySettings`)."""
        return self._section("metrics")

    def to_yaml(self) -> str:
        """The resolved config as YAML, every default written out."""
        return yaml.safe_dump(json.loads(self.model_dump_json()), sort_keys=False)

    def config_hash(self) -> str:
        """SHA-256 of the resolved config (canonical JSON) without the ``execution``
        section, which changes how units run, never the numbers: a run resumed with more
        workers or on a cluster is the same run."""
        doc = json.loads(self.model_dump_json())
        doc.pop("execution", None)
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def format_errors(err: ValidationError, source: str, prefix: str = "") -> str:
    """pydantic validation errors as lines ``<source>: unknown key 'a.b'`` / ``<source>:
    key 'a.b': <message> (got <value>)``, keys prefixed by ``prefix``."""
    lines = []
    for e in err.errors():
        key = prefix + _loc(e["loc"])
        if e["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key '{key}'")
        else:
            lines.append(f"{source}: key '{key}': {e['msg']} (got {e.get('input')!r})")
    return "\n".join(lines)


def parse_config(data: Any, source: str = "<config>") -> Config:
    """Validate the core sections of a config mapping (as read from YAML) into a
    :class:`Config` whose plugin sections are not validated yet (that is
    :func:`forgebench.configure.resolve_config`'s job).

    Raises:
        ConfigError: the top level is not a mapping, an unknown key or a wrong type; the
            message names ``source`` and the key.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a mapping of keys to values, got {type(data).__name__}")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, source)) from None


def read_config_file(path: str | os.PathLike) -> Any:
    """The YAML document of a config file, not validated (``None`` for an empty file).

    Raises:
        ConfigError: missing or unreadable file, invalid YAML (the message names the file).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
