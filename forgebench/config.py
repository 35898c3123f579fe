"""Run configuration: one YAML file validated into typed settings (pydantic).

An unknown key or a wrong type is a :class:`~forgebench.errors.ConfigError` naming the key
and the file. Sections whose keys depend on a plugin (``generators.<name>``,
``detectors.<name>``) are validated by that plugin's own settings model, found through
its registry, so adding a generator or detector never touches this file. The resolved
config, every default written out, is saved as ``config.yaml`` in the run directory.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from forgebench.errors import ConfigError


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
    ``detect_max_side`` frames are downscaled to this longer side before detection.
    """

    frames_per_video: int = Field(default=32, ge=1)
    detector: Literal["hog", "cnn"] = "hog"
    landmarks: Literal["dlib", "fan"] = "dlib"
    crop_size: int = Field(default=256, ge=32)
    margin: float = Field(default=1.3, ge=1.0, le=3.0)
    upsample: int = Field(default=0, ge=0, le=2)
    detect_max_side: int = Field(default=640, ge=64)


class SplitSettings(Strict):
    """Identity-disjoint train/val/test split.

    ``ratio``: relative sizes (normalised; ``[1, 1, 1]`` = thirds).
    ``min_per_split``: identities every split must get (2 lets fakes pair identities
    inside a split, as FaceForensics++ does, so no identity crosses splits).
    """

    ratio: tuple[float, float, float] = (0.7, 0.15, 0.15)
    min_per_split: int = Field(default=2, ge=1)

    @field_validator("ratio")
    @classmethod
    def _positive(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(x <= 0 for x in v):
            raise ValueError("every split ratio must be > 0")
        return v


class ReportSettings(Strict):
    """Leaderboard report: ``sample_pairs`` real/fake crop pairs in the sample grid."""

    sample_pairs: int = Field(default=6, ge=1)


class Config(Strict):
    """The whole run config. ``generators`` and ``detectors`` map registered names to that
    plugin's settings (validated by the plugin); ``metrics`` is validated by
    :class:`forgebench.metrics.quality.QualitySettings`, ``protocol`` by
    :class:`forgebench.detectors.evaluation.ProtocolSettings`."""

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

    # -- typed access to the plugin sections ------------------------------------------
    def generator_settings(self, name: str) -> BaseModel:
        """Validated settings object of generator ``name``."""
        from forgebench.generators import get_generator

        return get_generator(name).Settings.model_validate(self.generators[name])

    def detector_settings(self, name: str) -> BaseModel:
        """Validated training settings of detector ``name``."""
        from forgebench.detectors.training import TrainSettings

        return TrainSettings.model_validate(self.detectors[name])

    def protocol_settings(self) -> BaseModel:
        """Validated evaluation-protocol settings
        (:class:`forgebench.detectors.evaluation.ProtocolSettings`)."""
        from forgebench.detectors.evaluation import ProtocolSettings

        return ProtocolSettings.model_validate(self.protocol)

    def metrics_settings(self) -> BaseModel:
        """Validated quality-metric settings."""
        from forgebench.metrics.quality import QualitySettings

        return QualitySettings.model_validate(self.metrics)

    def to_yaml(self) -> str:
        """The resolved config as YAML, every default written out."""
        return yaml.safe_dump(json.loads(self.model_dump_json()), sort_keys=False)

    def config_hash(self) -> str:
        """SHA-256 of the resolved config (canonical JSON), identifying the settings."""
        text = json.dumps(json.loads(self.model_dump_json()), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def _format_errors(err: ValidationError, source: str, prefix: str = "") -> str:
    lines = []
    for e in err.errors():
        key = prefix + _loc(e["loc"])
        if e["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key '{key}'")
        else:
            lines.append(f"{source}: key '{key}': {e['msg']} (got {e.get('input')!r})")
    return "\n".join(lines)


def _resolve_plugins(cfg: Config, source: str) -> Config:
    """Validate plugin sections with their own models and write their defaults out."""
    from forgebench.detectors import get_detector_cfg, list_detectors
    from forgebench.detectors.training import TrainSettings
    from forgebench.generators import get_generator, list_generators
    from forgebench.metrics.quality import QualitySettings

    gens: dict[str, dict[str, Any]] = {}
    for name, section in cfg.generators.items():
        if name not in list_generators():
            raise ConfigError(f"{source}: unknown key 'generators.{name}': registered generators are {list_generators()}")
        try:
            gens[name] = json.loads(get_generator(name).Settings.model_validate(section or {}).model_dump_json())
        except ValidationError as exc:
            raise ConfigError(_format_errors(exc, source, f"generators.{name}.")) from None
    dets: dict[str, dict[str, Any]] = {}
    for name, section in cfg.detectors.items():
        if name not in list_detectors():
            raise ConfigError(f"{source}: unknown key 'detectors.{name}': registered detectors are {list_detectors()}")
        try:
            settings = TrainSettings.model_validate(section or {})
        except ValidationError as exc:
            raise ConfigError(_format_errors(exc, source, f"detectors.{name}.")) from None
        # Write the detector's own defaults out instead of null (resolved config = what runs).
        det_cfg = get_detector_cfg(name)
        dets[name] = json.loads(settings.model_dump_json())
        dets[name]["image_size"] = dets[name]["image_size"] or det_cfg.input_size
        dets[name]["lr"] = dets[name]["lr"] or det_cfg.lr
    try:
        metrics = json.loads(QualitySettings.model_validate(cfg.metrics or {}).model_dump_json())
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source, "metrics.")) from None
    from forgebench.detectors.evaluation import ProtocolSettings

    try:
        protocol = json.loads(ProtocolSettings.model_validate(cfg.protocol or {}).model_dump_json())
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source, "protocol.")) from None
    return cfg.model_copy(update={"generators": gens, "detectors": dets, "metrics": metrics, "protocol": protocol})


def config_from_dict(data: dict[str, Any] | None, source: str = "<config>") -> Config:
    """Validate a config mapping (as read from YAML) into a resolved :class:`Config`.

    Raises:
        ConfigError: unknown key or wrong type; the message names ``source`` and the key.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a mapping of keys to values, got {type(data).__name__}")
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source)) from None
    return _resolve_plugins(cfg, source)


def load_config(path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate a YAML config file.

    Args:
        path: the YAML file.
        overrides: dotted keys to set after reading, e.g. ``{"data.videos": "/x"}``.

    Raises:
        ConfigError: missing/unreadable file, invalid YAML, unknown key, wrong type.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    data = data if data is not None else {}
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return config_from_dict(data, str(path))
