"""The detector registry: ``create_detector(name, **kwargs)`` in the style of
``timm.create_model``, the ``@register_detector`` decorator, and the base class every
detector derives from (one data contract, as DeepfakeBench's base detector).

A detector is a ``torch.nn.Module`` mapping a batch of face crops ``(N, 3, H, W)`` float
in [0, 1] (RGB) to logits ``(N,)`` for the class "fake"; the input normalisation
(mean/std) happens inside the module, so callers never normalise. Each registered name
has a :class:`DetectorCfg` (input size, normalisation, default learning rate, paper),
available without building the model through :func:`get_detector_cfg` /
:func:`detector_input_size`, and attached to built modules as ``module.default_cfg``.

Pretrained initial weights: ``create_detector(name, pretrained=True)`` (the config's
default, ``detectors.<name>.pretrained: true``) loads them when the architecture has some
(``DetectorCfg.pretrained_weights``: the timm backbones' ImageNet weights, from the local
caches) and raises :class:`~forgebench.weights.WeightsUnavailable` when they are missing;
it never falls back to random weights. An architecture without pretrained weights (meso4,
mesoinception4, srm_cnn, DeepfakeBench's networks) trains from scratch. Every built
detector says where its weights started from in ``module.weights_origin``
(:func:`forgebench.weights.weights_origin`: ``imagenet:<sha256>``, ``deepfakebench:<sha256>``
or ``none``).

Shared machinery: its names are imported from :mod:`forgebench.detectors`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from forgebench.errors import DataError
from forgebench.registry import Registry
from forgebench.weights import NO_ORIGIN, weights_origin

__all__ = [
    "Detector",
    "DetectorCfg",
    "register_detector",
    "create_detector",
    "list_detectors",
    "get_detector_cfg",
    "get_detector_factory",
    "detector_input_size",
    "check_pretrained_weights",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DetectorCfg:
    """What a detector needs from its inputs and its default training schedule.

    Attributes:
        name: registered name.
        input_size: side of the square input crop in pixels the model was designed for
            (the default ``image_size`` of training).
        mean, std: per-channel RGB normalisation applied inside the module to inputs in
            [0, 1] (``(x - mean) / std``).
        min_input_size: smallest accepted input side in pixels.
        lr: default learning rate (AdamW) when the training settings leave it unset.
        paper: the reference the architecture follows.
        pretrained_source: where pretrained weights come from (e.g. a timm tag), ``""``
            when the detector has none.
        pretrained_weights: whether the architecture has pretrained initial weights that
            its factory loads on ``pretrained=True``: ``True`` (the timm backbones: the
            factory loads them or raises :class:`~forgebench.weights.WeightsUnavailable`),
            ``False`` (the default: none exist; :func:`create_detector` calls the factory
            with ``pretrained=False`` and the model trains from scratch, ``weights_origin``
            ``none``), ``None`` (not known: the factory gets ``pretrained`` as given and
            sets the module's ``weights_origin`` itself; a user's factory of a plain
            module, :mod:`forgebench.detectors._external`).
    """

    name: str
    input_size: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    min_input_size: int = 32
    lr: float = 2e-4
    paper: str = ""
    pretrained_source: str = ""
    pretrained_weights: bool | None = False

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (lists for tuples), safe for JSON and ``weights_only`` checkpoints."""
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d


class Detector(nn.Module):
    """Base class of every detector: checks and normalises the input, returns ``(N,)`` logits.

    Subclasses implement :meth:`forward_features_logits` on normalised input. Attributes
    set by :func:`create_detector`: ``default_cfg`` (dict of :class:`DetectorCfg`),
    ``detector_name``; by the factory: ``pretrained_loaded`` (bool: pretrained weights
    were loaded), ``pretrained_note`` (why/why not), ``pretrained_file`` and
    ``pretrained_sha256`` (the weights file used, or ``None``) and ``weights_origin``
    (:func:`forgebench.weights.weights_origin`: ``"imagenet:<sha256>"``, ``"none"``, ...;
    :func:`create_detector` derives it from ``pretrained_sha256`` when a factory leaves it
    ``"none"`` after loading a file).

    Args:
        mean, std: RGB normalisation for inputs in [0, 1]; ``None`` (both) = the
            ``mean``/``std`` of the detector's :class:`DetectorCfg`, set by
            :func:`create_detector`, so the normalisation is declared once.
        min_input_size: smallest accepted input side (pixels).

    Raises:
        ValueError: only one of ``mean`` and ``std`` given, or not 3 values each.
    """

    def __init__(
        self, mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None, min_input_size: int = 32
    ) -> None:
        super().__init__()
        if (mean is None) != (std is None):
            raise ValueError(
                f"{type(self).__name__}: give both mean and std, or neither (then the DetectorCfg's are used)"
            )
        self.register_buffer("mean", None, persistent=False)
        self.register_buffer("std", None, persistent=False)
        if mean is not None:
            self.set_normalization(mean, std)
        self.min_input_size = int(min_input_size)
        self.default_cfg: dict[str, Any] = {}
        self.detector_name = type(self).__name__.lower()
        self.pretrained_loaded = False
        self.pretrained_note = "no pretrained weights requested"
        self.pretrained_file: str | None = None
        self.pretrained_sha256: str | None = None
        self.weights_origin = NO_ORIGIN

    def set_normalization(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        """Set the per-channel RGB normalisation ``(x - mean) / std`` applied to inputs in
        [0, 1] (3 values each; ``std`` > 0).

        Raises:
            ValueError: not 3 values each, or a ``std`` value not > 0.
        """
        mean_t, std_t = torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)
        if mean_t.shape != (3,) or std_t.shape != (3,) or not bool((std_t > 0).all()):
            raise ValueError(f"{type(self).__name__}: mean and std must be 3 values each, std > 0; got {mean}, {std}")
        self.mean, self.std = mean_t.view(1, 3, 1, 1), std_t.view(1, 3, 1, 1)

    def forward_features_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N,)`` or ``(N, 1)`` of normalised input ``(N, 3, H, W)``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of "fake" for crops ``x`` ``(N, 3, H, W)`` float RGB in [0, 1] -> ``(N,)``.

        Raises:
            ValueError: ``x`` is not a 4-D floating tensor with 3 channels, or a side is
                smaller than ``min_input_size``.
            RuntimeError: built without ``mean``/``std`` and not through
                :func:`create_detector` (no normalisation known).
        """
        if self.mean is None:
            raise RuntimeError(
                f"{self.detector_name}: no input normalisation: build it with create_detector (which "
                "takes mean and std from its DetectorCfg) or pass mean and std to Detector.__init__"
            )
        if x.ndim != 4 or x.shape[1] != 3 or not torch.is_floating_point(x):
            raise ValueError(
                f"{self.detector_name}: input must be (N, 3, H, W) float in [0, 1], got {tuple(x.shape)} {x.dtype}"
            )
        if min(x.shape[2], x.shape[3]) < self.min_input_size:
            raise ValueError(
                f"{self.detector_name}: input {x.shape[3]}x{x.shape[2]} px is smaller than the minimum "
                f"{self.min_input_size} px"
            )
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        return self.forward_features_logits(x).reshape(x.shape[0])


_CFGS: dict[str, DetectorCfg | Callable[[], DetectorCfg]] = {}


#: Adopters of entry-point objects that are not forgebench detector factories (factories of
#: a plain ``torch.nn.Module``): :mod:`forgebench.detectors._external` installs one at import.
ENTRY_POINT_ADOPTERS: list[Callable[[str, Any, str], None]] = []


def _adopt(registry: Registry, name: str, obj: Any) -> None:
    """An entry point naming a factory: a forgebench one (``fn(pretrained=False, **kwargs)
    -> Detector`` with a :class:`DetectorCfg` ``default_cfg``, or a :class:`Detector`
    class) is registered under the entry point's name as is; any other factory (of a plain
    ``torch.nn.Module``, declaring its input as timm's pretrained cfg) goes to the adopter
    of :mod:`forgebench.detectors._external`."""
    if not callable(obj):
        raise TypeError(f"a detector entry point must name a factory returning a torch.nn.Module, got {obj!r}")
    cfg = getattr(obj, "default_cfg", None)
    if (isinstance(obj, type) and issubclass(obj, Detector)) or isinstance(cfg, DetectorCfg):
        registry.register(name)(obj)
        _CFGS[name] = cfg if isinstance(cfg, DetectorCfg) else DetectorCfg(name=name, input_size=224)
        return
    if not ENTRY_POINT_ADOPTERS:
        raise TypeError(f"{obj!r}.default_cfg must be a forgebench DetectorCfg, got {type(cfg).__name__}")
    ENTRY_POINT_ADOPTERS[-1](name, obj, f"entry point {name!r}")


_FACTORIES: Registry[Callable[..., Detector]] = Registry(
    "detector", group="forgebench.detectors", adopt=_adopt, package="forgebench.detectors"
)


def register_detector(
    fn: Callable[..., Detector] | None = None,
    *,
    name: str | None = None,
    default_cfg: DetectorCfg | Callable[[], DetectorCfg] | None = None,
):
    """Register a detector factory ``fn(pretrained=False, **kwargs) -> Detector``.

    Use as ``@register_detector(default_cfg=DetectorCfg(...))`` (or bare
    ``@register_detector``: 224 px, ImageNet normalisation), one registration per model,
    one file per model family, as timm's ``@register_model``. ``default_cfg`` may be a
    zero-argument callable, resolved on first use (keeps heavy imports such as timm out
    of ``import forgebench.detectors``). The name defaults to ``fn.__name__``.

    Raises:
        ValueError: the name is already registered.
    """

    def deco(f: Callable[..., Detector]) -> Callable[..., Detector]:
        key = name or f.__name__
        _FACTORIES.register(key)(f)
        _CFGS[key] = default_cfg if default_cfg is not None else DetectorCfg(name=key, input_size=224)
        return f

    return deco(fn) if fn is not None else deco


def list_detectors() -> list[str]:
    """Sorted names of the registered detectors, entry points included (e.g.
    ``["efficientnet_b0", "meso4"]``)."""
    return _FACTORIES.names()


def get_detector_factory(name: str) -> Callable[..., Detector]:
    """The factory function registered as ``name`` (to inspect its keyword arguments).

    Raises:
        KeyError: unknown name; the message lists the registered names.
    """
    return _FACTORIES.get(name)


def get_detector_cfg(name: str) -> DetectorCfg:
    """The :class:`DetectorCfg` of a registered detector (no model is built).

    Raises:
        KeyError: unknown name; the message lists the registered names.
    """
    _FACTORIES.get(name)  # raises the KeyError listing the names
    cfg = _CFGS[name]
    if callable(cfg) and not isinstance(cfg, DetectorCfg):
        cfg = _CFGS[name] = cfg()
    return cfg


def detector_input_size(name: str) -> int:
    """Default square input crop side (pixels) of detector ``name`` (meso4: 256,
    efficientnet_b0: 224). Raises ``KeyError`` for an unknown name."""
    return get_detector_cfg(name).input_size


_WEIGHTS_CHECKS: dict[str, Callable[[], Any]] = {}


def register_weights_check(name: str, check: Callable[[], Any]) -> None:
    """Register ``check()`` for detector ``name``: it finds and verifies the pretrained
    weights file without building the model and raises
    :class:`~forgebench.weights.WeightsUnavailable` when it cannot (used by
    :func:`check_pretrained_weights`)."""
    _WEIGHTS_CHECKS[name] = check


def check_pretrained_weights(name: str, pretrained: bool) -> None:
    """Fail early, before anything is trained, when detector ``name`` built with
    ``pretrained`` would need pretrained weights that are not there.

    Nothing to check for ``pretrained=False``, an architecture without pretrained weights
    or a factory that has no registered check.

    Raises:
        KeyError: unknown name.
        forgebench.weights.WeightsUnavailable: the weights file is missing from the local
            caches or fails its hash check (the message names the files and caches it
            looked in and how to fix it).
    """
    if pretrained is True and get_detector_cfg(name).pretrained_weights and name in _WEIGHTS_CHECKS:
        _WEIGHTS_CHECKS[name]()


def create_detector(name: str, pretrained: bool = False, **kwargs: Any) -> Detector:
    """Build a registered detector, as ``timm.create_model``.

    Args:
        name: a name of :func:`list_detectors`.
        pretrained: ``False`` (random init) or ``True`` (start from the architecture's
            pretrained weights, read from the local cache, an error when missing; an
            architecture without pretrained weights, ``DetectorCfg.pretrained_weights``
            false, is built from random init and says so in ``pretrained_note``). Never
            downloads, never falls back to random weights silently.
        **kwargs: passed to the model factory (e.g. ``dropout`` for meso4,
            ``drop_rate`` for timm backbones); the config's ``detectors.<name>.model_kwargs``.

    Returns:
        the :class:`Detector` in train mode on the CPU, with ``default_cfg`` set and
        ``weights_origin`` (``"imagenet:<sha256>"``, ``"deepfakebench:<sha256>"``,
        ``"none"``; ``"unknown"`` for a user's factory given ``pretrained=True`` that
        names no origin, :mod:`forgebench.detectors._external`).

    Raises:
        KeyError: unknown name (the message lists the registered names).
        ValueError: ``pretrained`` is not True or False (``"auto"`` was removed: it trained
            from random weights when none were cached).
        forgebench.weights.WeightsUnavailable: ``pretrained=True`` and the architecture's
            weights are not in the local caches or fail their hash check.
        forgebench.errors.DataError: a weights file that cannot be loaded, or the
            factory rejects a keyword argument.
    """
    if pretrained is not True and pretrained is not False:
        raise ValueError(
            f"{name}: pretrained must be True or False, got {pretrained!r} ('auto' was removed: use True for "
            "the pretrained weights, an error when missing, or False to train from scratch)"
        )
    factory = _FACTORIES.get(name)
    cfg = get_detector_cfg(name)
    has_weights = cfg.pretrained_weights
    try:
        model = factory(pretrained=pretrained if has_weights is not False else False, **kwargs)
    except TypeError as exc:
        if not kwargs:
            raise
        raise DataError(f"detector {name}: model_kwargs {sorted(kwargs)} not accepted by its factory ({exc})") from None
    if not isinstance(model, Detector):
        raise TypeError(f"detector factory {name!r} returned {type(model).__name__}, not a Detector")
    if model.mean is None:
        model.set_normalization(cfg.mean, cfg.std)
    if model.weights_origin == NO_ORIGIN and model.pretrained_sha256:  # a factory that loaded a file without naming it
        model.weights_origin = weights_origin(
            "deepfakebench" if getattr(model, "published", None) is not None else "file", model.pretrained_sha256
        )
    if pretrained and has_weights is False and model.pretrained_sha256 is None:
        model.pretrained_note = f"{name} has no pretrained weights: trained from scratch (random init)"
    model.default_cfg = cfg.to_dict()
    model.detector_name = name
    return model
