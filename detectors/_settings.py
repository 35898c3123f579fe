"""Settings of one detector (config section ``detectors.<name>``) and their validation.

The detector registry validates its own config section here
(:func:`validate_detector_section`): the training schedule (:class:`TrainSettings`) and
``model_kwargs``, the keyword arguments that reach the model factory
(``create_detector(name, **model_kwargs)``, e.g. ``dropout`` of meso4 or ``drop_rate`` of a
timm backbone), checked against the factory's signature.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from forgebench.config import Strict, format_errors
from forgebench.detectors._augment import AugmentSettings
from forgebench.detectors._external import use_external
from forgebench.detectors._registry import get_detector_cfg, get_detector_factory, list_detectors
from forgebench.errors import ConfigError, DataError

__all__ = ["TrainSettings", "resolve_defaults", "validate_detector_section"]


class TrainSettings(Strict):
    """Training settings of one detector (config section ``detectors.<name>``).

    Defaults are a real (GPU) schedule; the quickstart config sets small values.

    Attributes:
        image_size: square input side in pixels; ``None`` = the detector's default
            (meso4 256, xception 299, efficientnet_b4 380, ...). Crops are resized with
            OpenCV (:data:`forgebench.imaging.ANALYSIS`).
        epochs: maximum training epochs (>= 1).
        batch_size: crops per step (training and scoring), per process under torchrun.
        lr: AdamW learning rate; ``None`` = the detector's default (meso4 1e-3, as in
            the MesoNet paper; timm backbones 2e-4).
        weight_decay: AdamW decoupled weight decay.
        pretrained: ``True`` (the default: start from the architecture's pretrained
            weights, the timm backbones' ImageNet weights read from the local cache; a
            missing file stops training with
            :class:`~forgebench.weights.WeightsUnavailable` before anything is trained)
            or ``False`` (train from scratch, random init). A detector with no pretrained
            weights (meso4, mesoinception4, srm_cnn, DeepfakeBench's networks) trains
            from scratch either way. Never downloads, never falls back to random weights;
            ``metrics.json`` records ``weights_origin`` (``imagenet:<sha256>`` or
            ``none``). ``auto`` (removed) is a config error.
        model_kwargs: keyword arguments of the detector's factory (its constructor), e.g.
            ``{dropout: 0.5}`` for meso4, ``{drop_rate: 0.2}`` for a timm backbone;
            recorded in the checkpoint so the trained model is rebuilt the same way.
        augment: training augmentations (:class:`AugmentSettings`: flip, colour jitter,
            JPEG, blur); ``true`` = their defaults, ``false`` = none.
        num_workers: DataLoader worker processes (0 = in the main process).
        max_train_frames: cap on training frames (stratified random subset, seeded);
            ``None`` = all.
        scheduler: ``cosine`` (cosine decay to 0 over ``epochs``) or ``constant``.
        patience: early stopping: stop after this many epochs without a better validation
            AUC; ``None`` = run every epoch.
        amp: mixed precision (autocast, bfloat16 where supported else float16 with a
            gradient scaler) on CUDA; ignored on the CPU, which trains in float32 with
            deterministic kernels.
        factory: ``package.module:factory`` of a detector from outside the repository
            (:mod:`forgebench.detectors._external`: a ``torch.nn.Module`` factory declaring
            its input size and normalisation); the section's name is the detector's name.
            ``""`` for the zoo and entry points.
    """

    image_size: int | None = Field(default=None, ge=32)
    epochs: int = Field(default=20, ge=1)
    batch_size: int = Field(default=32, ge=1)
    lr: float | None = Field(default=None, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    pretrained: bool = True
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    augment: AugmentSettings = AugmentSettings()
    num_workers: int = Field(default=0, ge=0)
    max_train_frames: int | None = Field(default=None, ge=1)
    scheduler: Literal["cosine", "constant"] = "cosine"
    patience: int | None = Field(default=5, ge=1)
    amp: bool = True
    factory: str = ""

    @field_validator("augment", mode="before")
    @classmethod
    def _augment_bool(cls, v: Any) -> Any:
        """``augment: true`` = the default augmentations, ``false`` = none."""
        if v is True:
            return AugmentSettings()
        if v is False or v is None:
            return AugmentSettings.disabled()
        return v

    @field_validator("pretrained", mode="before")
    @classmethod
    def _true_or_false(cls, v: Any) -> Any:
        """Only ``true`` or ``false``: ``auto`` trained from random weights when none were
        cached, so two runs of one config could hold different models."""
        if v is True or v is False:
            return v
        if isinstance(v, str) and v.strip().lower() == "auto":
            raise ValueError(
                "'auto' is no longer accepted (it trained from random weights when none were cached): use "
                "true (pretrained weights from the local cache, an error when missing) or false (train from scratch)"
            )
        raise ValueError(
            "must be true (pretrained weights from the local cache, an error when missing) or false (train from scratch)"
        )

    @field_validator("model_kwargs")
    @classmethod
    def _plain(cls, v: dict[str, Any]) -> dict[str, Any]:
        """Values must be plain (numbers, strings, lists, mappings): they are stored in
        ``weights_only`` checkpoints and in ``config.yaml``."""
        try:
            json.dumps(v)
        except TypeError as exc:
            raise ValueError(f"model_kwargs values must be plain numbers, strings, lists or mappings ({exc})") from None
        if "pretrained" in v:
            raise ValueError(
                "'pretrained' is a setting of its own (detectors.<name>.pretrained), not a model_kwargs key"
            )
        return v


def resolve_defaults(settings: TrainSettings, name: str) -> TrainSettings:
    """``settings`` with the detector's own defaults for what it leaves unset: ``image_size``
    and ``lr`` of the :class:`~forgebench.detectors.DetectorCfg` of ``name``.

    Raises:
        KeyError: unknown detector.
    """
    cfg = get_detector_cfg(name)
    return settings.model_copy(
        update={"image_size": settings.image_size or cfg.input_size, "lr": settings.lr or cfg.lr}
    )


def _check_kwargs(name: str, kwargs: Mapping[str, Any], source: str) -> None:
    """Unknown keyword arguments of a factory without ``**kwargs`` are config errors."""
    try:
        params = inspect.signature(get_detector_factory(name)).parameters
    except (TypeError, ValueError):  # a builtin or C factory: nothing to inspect
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        known = sorted(k for k in params if k != "pretrained")
        raise ConfigError(
            f"{source}: unknown key(s) {[f'detectors.{name}.model_kwargs.{k}' for k in unknown]}: "
            f"the {name} factory takes {known}"
        )


def validate_detector_section(
    name: str, section: Mapping[str, Any] | None, source: str
) -> tuple[TrainSettings, dict[str, Any]]:
    """Validate config section ``detectors.<name>``.

    Returns:
        ``(settings, resolved)``: the typed :class:`TrainSettings` with the detector's
        own defaults written in (``image_size`` and ``lr`` of its
        :class:`~forgebench.detectors.DetectorCfg` when left unset), and the same
        as a JSON-able mapping for the run's ``config.yaml``.

    Raises:
        ConfigError: unknown detector (lists the registered ones), unknown key, wrong
            type, or a ``model_kwargs`` key its factory does not take.
    """
    factory = (section or {}).get("factory") if isinstance(section, Mapping) else None
    if factory:
        try:
            use_external(str(factory), name)
        except DataError as exc:
            raise ConfigError(f"{source}: detectors.{name}.factory: {exc}") from None
    if name not in list_detectors():
        raise ConfigError(
            f"{source}: unknown key 'detectors.{name}': registered detectors are {list_detectors()} "
            "(a detector from outside the repository: give its factory, detectors.<name>.factory: package.module:factory)"
        )
    try:
        settings = TrainSettings.model_validate(dict(section or {}))
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, source, f"detectors.{name}.")) from None
    _check_kwargs(name, settings.model_kwargs, source)
    settings = resolve_defaults(settings, name)
    return settings, json.loads(settings.model_dump_json())
