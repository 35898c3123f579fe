"""Shared machinery of DeepfakeBench's released detectors: their metadata
(:class:`PublishedCfg`), the base class (:class:`DFBDetector`: class scores -> fake logit),
the strict checkpoint loader (:func:`load_published_checkpoint`) and the registration
(:func:`register_published`, the registry name ``dfb_<name lower case>``).

Checkpoint format (DeepfakeBench ``training/trainer/trainer.py`` ``save_ckpt`` and
``training/test.py`` at 8a4a7bf): ``torch.save(detector.state_dict())``, a plain dict of
tensors, keys as the detector's attributes (``backbone.conv1.weight``), with a ``module.``
prefix when trained with ``--ddp``; read strictly by DeepfakeBench's test script.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from forgebench.detectors._registry import Detector, DetectorCfg, list_detectors, register_detector
from forgebench.errors import DataError
from forgebench.fileio import load_checkpoint, sha256_file

__all__ = [
    "DFB_MEAN",
    "DFB_STD",
    "RELEASE",
    "RELEASE_URL",
    "PublishedCfg",
    "DFBDetector",
    "register_published",
    "list_published",
    "get_published",
    "load_published_checkpoint",
    "registry_name",
]

#: DeepfakeBench's normalisation of every released detector but sbi (its detector yamls).
DFB_MEAN = (0.5, 0.5, 0.5)
DFB_STD = (0.5, 0.5, 0.5)
#: The release that published the weights, and where.
RELEASE = "DeepfakeBench v1.0.1"
RELEASE_URL = "https://github.com/SCLBD/DeepfakeBench/releases/tag/v1.0.1"
#: How many mismatching keys an error message names.
_SHOWN = 5


@dataclass(frozen=True)
class PublishedCfg:
    """What forgebench knows of one DeepfakeBench detector (shown by
    ``forgebench evaluate --list-published`` and recorded with its scores).

    Attributes:
        name: DeepfakeBench's name (``"meso4Inception"``); the registry name is
            ``"dfb_" + name.lower()``.
        detector_class: DeepfakeBench's class and file (``"XceptionDetector
            (training/detectors/xception_detector.py)"``).
        paper: the method's paper.
        released: whether release v1.0.1 holds trained weights (``<name>_best.pth``).
        trained_on: the data of the released weights (``"FF++ c23"``).
        mean, std: RGB normalisation of inputs in [0, 1] (DeepfakeBench's yaml).
        input_size: the crop side in pixels DeepfakeBench feeds (256 for all).
        fixed_size: whether the network only accepts ``input_size`` (a flattened map or a
            size-bound filter bank).
        num_classes: logits of DeepfakeBench's head (2; 3 for sbi); class 1 is "fake".
        unused: registry-relative attribute paths of sub-modules DeepfakeBench stores in
            the checkpoint but never uses at inference; built (so the strict load accepts
            their entries) and frozen (``requires_grad=False``, never trained).
        notes: what differs from a textbook version of the network.
    """

    name: str
    detector_class: str
    paper: str
    released: bool = True
    trained_on: str = "FF++ c23"
    mean: tuple[float, float, float] = DFB_MEAN
    std: tuple[float, float, float] = DFB_STD
    input_size: int = 256
    fixed_size: bool = False
    num_classes: int = 2
    unused: tuple[str, ...] = ()
    notes: str = ""

    @property
    def registry_name(self) -> str:
        """``dfb_<name lower case>``."""
        return registry_name(self.name)

    @property
    def weights_file(self) -> str:
        """The file name DeepfakeBench publishes (``xception_best.pth``)."""
        return f"{self.name}_best.pth"

    @property
    def source(self) -> str:
        """Where the trained weights come from, for tables (``"DeepfakeBench v1.0.1 (FF++ c23)"``)."""
        return f"{RELEASE} ({self.trained_on})" if self.released else "DeepfakeBench (not in v1.0.1)"

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form for JSON and listings."""
        return {
            "detector": self.registry_name,
            "deepfakebench_name": self.name,
            "class": self.detector_class,
            "paper": self.paper,
            "weights_file": self.weights_file,
            "released": self.released,
            "where": RELEASE_URL if self.released else "",
            "trained_on": self.trained_on if self.released else "",
            "input_size": self.input_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "notes": self.notes,
        }


_PUBLISHED: dict[str, PublishedCfg] = {}


def registry_name(name: str) -> str:
    """forgebench's registry name of DeepfakeBench detector ``name`` (``"dfb_meso4inception"``)."""
    return "dfb_" + name.lower()


def list_published() -> list[PublishedCfg]:
    """The :class:`PublishedCfg` of every registered DeepfakeBench detector, by registry name."""
    list_detectors()  # imports the detector modules, whose registration fills the table
    return [_PUBLISHED[k] for k in sorted(_PUBLISHED)]


def get_published(name: str) -> PublishedCfg | None:
    """The :class:`PublishedCfg` of registry name ``name`` (``"dfb_xception"``), ``None``
    for a detector that is not one of DeepfakeBench's."""
    if name not in _PUBLISHED:
        list_published()
    return _PUBLISHED.get(name)


class DFBDetector(Detector):
    """Base of DeepfakeBench's detectors: the subclass computes DeepfakeBench's class scores
    (``pred_dict['cls']``) of normalised crops; this class turns them into the fake logit.

    The logit is ``log p - log(1 - p)`` with ``p = softmax(cls, 1)[:, 1]``, computed as
    ``cls[:, 1] - logsumexp(cls[:, other classes])`` (``cls[:, 1] - cls[:, 0]`` for two
    classes), so ``sigmoid(logit)`` is DeepfakeBench's probability, and binary
    cross-entropy on it trains the head as DeepfakeBench's softmax cross-entropy does.

    Scoring runs it channels-last (:func:`forgebench.detectors.predict_loader`):
    its separable and grouped convolutions are faster in NHWC on the CPU (1.5x for
    dfb_xception on 2 cores) with the same float32 numbers within 1e-6.

    Args:
        cfg: the detector's :class:`PublishedCfg`.
    """

    #: score in channels-last memory format (read by predict_loader)
    channels_last = True

    def __init__(self, cfg: PublishedCfg) -> None:
        super().__init__(mean=cfg.mean, std=cfg.std, min_input_size=cfg.input_size if cfg.fixed_size else 64)
        self.published = cfg

    def class_scores(self, x: torch.Tensor) -> torch.Tensor:
        """DeepfakeBench's ``cls`` ``(N, num_classes)`` of normalised crops ``(N, 3, H, W)``."""
        raise NotImplementedError

    def freeze_unused(self) -> None:
        """Freeze the sub-modules of :attr:`PublishedCfg.unused` (call at the end of
        ``__init__``)."""
        for path in self.published.unused:
            self.get_submodule(path).requires_grad_(False)

    def forward_features_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Fake logits ``(N,)`` of normalised crops ``(N, 3, H, W)``.

        Raises:
            ValueError: a fixed-size network given another size.
        """
        side = self.published.input_size
        if self.published.fixed_size and tuple(x.shape[2:]) != (side, side):
            raise ValueError(f"{self.detector_name}: takes {side}x{side} px crops only, got {x.shape[3]}x{x.shape[2]}")
        cls = self.class_scores(x)
        others = torch.cat([cls[:, :1], cls[:, 2:]], dim=1)
        return cls[:, 1] - torch.logsumexp(others, dim=1)


def _state_dict_of(ckpt: dict[str, Any], path: Path, name: str) -> dict[str, torch.Tensor]:
    """The tensors of a DeepfakeBench checkpoint dict (or of a forgebench one: ``{"state_dict",
    "meta"}``), a leading ``module.`` stripped.

    Raises:
        DataError: an entry is not a tensor.
    """
    if isinstance(ckpt.get("state_dict"), dict) and isinstance(ckpt.get("meta"), dict):
        ckpt = ckpt["state_dict"]
    bad = [k for k, v in ckpt.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise DataError(
            f"{path}: not a {name} checkpoint: entry {bad[0]!r} is a {type(ckpt[bad[0]]).__name__}, "
            "not a tensor (DeepfakeBench saves the detector's state_dict, a dict of tensors)"
        )
    if ckpt and all(str(k).startswith("module.") for k in ckpt):
        ckpt = {str(k)[len("module.") :]: v for k, v in ckpt.items()}
    return ckpt


def _listed(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN])
    return shown + (f" (+{len(keys) - _SHOWN} more)" if len(keys) > _SHOWN else "")


def load_published_checkpoint(model: DFBDetector, checkpoint_path: str | Path) -> DFBDetector:
    """Load a DeepfakeBench checkpoint file into ``model`` strictly and put it in eval mode.

    Reads with ``torch.load(weights_only=True)`` (never unpickles code), accepts a leading
    ``module.`` (a ``--ddp`` checkpoint) and a forgebench checkpoint of the same detector,
    and records the file and its SHA-256 in ``model.pretrained_file`` /
    ``pretrained_sha256``.

    Raises:
        DataError: not a file, empty, truncated, holding pickled code, not a dict of tensors,
            or keys or shapes that are not the detector's; one line naming the file, the
            detector and the first mismatching keys.
    """
    path = Path(checkpoint_path)
    name = model.detector_name if model.detector_name.startswith("dfb_") else model.published.registry_name
    if not path.is_file():
        raise DataError(f"{path}: not a file (checkpoint of {name})")
    state = _state_dict_of(load_checkpoint(path, f"{name} checkpoint"), path, name)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys: {_listed(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys: {_listed(unexpected)}")
        raise DataError(
            f"{path}: not a DeepfakeBench {model.published.name} checkpoint for {name} ({'; '.join(parts)})"
        )
    wrong = [
        f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})" for k, v in own.items() if state[k].shape != v.shape
    ]
    if wrong:
        raise DataError(
            f"{path}: not a DeepfakeBench {model.published.name} checkpoint for {name}: "
            f"{len(wrong)} entries of another shape: {_listed(wrong)}"
        )
    model.load_state_dict(state, strict=True)
    model.pretrained_loaded = True
    model.pretrained_file = str(path)
    model.pretrained_sha256 = sha256_file(path)
    model.pretrained_note = f"{model.published.source}: {path.name}"
    return model.eval()


def register_published(cfg: PublishedCfg, build: Callable[[], DFBDetector]) -> Callable[..., DFBDetector]:
    """Register ``dfb_<name>``: a factory ``(pretrained=False, checkpoint_path=None) ->
    DFBDetector`` (timm's ``checkpoint_path`` convention) whose :class:`DetectorCfg` takes
    DeepfakeBench's input size and normalisation.

    ``checkpoint_path`` loads DeepfakeBench's file (:func:`load_published_checkpoint`; the
    model is returned in eval mode); without it the model is randomly initialised, for
    training under forgebench's protocol.

    Raises:
        ValueError: the name is registered already.
    """
    key = cfg.registry_name
    if key in _PUBLISHED:
        raise ValueError(f"{key} is registered already")
    _PUBLISHED[key] = cfg

    def factory(pretrained: bool | str = False, checkpoint_path: str | None = None) -> DFBDetector:
        if pretrained is True and not checkpoint_path:
            raise DataError(
                f"{key}: forgebench has no ImageNet weights for DeepfakeBench's networks; give "
                f"checkpoint_path ({cfg.weights_file}) or use pretrained: false"
            )
        model = build()
        model.detector_name = key
        if checkpoint_path:
            return load_published_checkpoint(model, checkpoint_path)
        model.pretrained_note = (
            "random init" if pretrained is False else f"{key}: no pretrained weights given: random init"
        )
        return model

    factory.__name__ = key
    factory.__doc__ = (
        f"DeepfakeBench's {cfg.name} ({cfg.detector_class}; {cfg.paper}); ``checkpoint_path``: "
        f"DeepfakeBench's ``{cfg.weights_file}``."
    )
    register_detector(
        factory,
        name=key,
        default_cfg=DetectorCfg(
            name=key,
            input_size=cfg.input_size,
            mean=cfg.mean,
            std=cfg.std,
            min_input_size=cfg.input_size if cfg.fixed_size else 64,
            lr=2e-4,
            paper=cfg.paper,
            pretrained_source=f"{RELEASE_URL} {cfg.weights_file}" if cfg.released else "",
        ),
    )
    return factory
