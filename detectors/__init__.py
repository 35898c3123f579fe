"""The detector zoo: binary face-forgery detectors found by name.

``create_detector(name, **kwargs)`` builds a registered detector (as
``timm.create_model``); every detector maps face crops ``(N, 3, H, W)`` float RGB in
[0, 1] to logits ``(N,)`` for the class "fake", normalising its input itself.
One file per model family registers its models at import, each with its
:class:`DetectorCfg` beside it (input size, normalisation, default learning rate, paper,
pretrained source); every module of this folder whose name does not start with ``_`` is
imported the first time the registry is asked for a name, sub-packages included, so a
new detector is one new file here, listed nowhere else:

- :mod:`forgebench.detectors.meso` -- ``meso4`` and ``mesoinception4`` (Afchar et al.
  2018), 256 px.
- :mod:`forgebench.detectors.timm_backbones` -- timm ImageNet backbones:
  ``efficientnet_b0`` 224 px, ``efficientnet_b4`` 380 px, ``resnet50`` 224 px,
  ``xception`` 299 px (the FaceForensics++ baseline).
- :mod:`forgebench.detectors.frequency` -- ``srm_cnn``: SRM high-pass residuals (Zhou et
  al. 2018, as Luo et al. 2021) in front of a small CNN, 256 px.
- :mod:`forgebench.detectors.deepfakebench` -- ``dfb_<name>``: DeepfakeBench's sixteen
  documented detectors (``dfb_xception`` ... ``dfb_sbi``), one module per architecture, each
  loading DeepfakeBench's published checkpoint unchanged (``checkpoint_path=``), 256 px.

Shared machinery, in modules whose names start with ``_`` (import it from here): the
registry and the base class (``_registry``: :func:`create_detector`,
:func:`register_detector`, :class:`Detector`, :class:`DetectorCfg`); detectors from
outside the repository (``_external``: ``package.module:factory`` or a
``forgebench.detectors`` entry point returning a plain ``torch.nn.Module`` that declares
its input size and normalisation, :func:`use_external`); the settings section
``detectors.<name>`` (``_settings``: :class:`TrainSettings`); crops to tensors and loaders
(``_data``), training augmentations (``_augment``), checkpoints and inference
(``_inference``), the training loop (``_training``: validation-chosen checkpoint, test
split scored once) and ``torchrun`` support (``_distributed``).

Import cost: ``import forgebench.detectors`` imports torch, the registry and the external
loader only (a worker that lists or builds detectors needs no more); the training, data and
``torchrun`` machinery (pandas, OpenCV, pydantic, scikit-learn) is imported the first time
one of its names is asked for (:func:`__getattr__`, PEP 562), and timm when a timm
backbone is built.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from forgebench.detectors._external import ExternalDetector, is_spec, use_external  # installs the entry-point adopter
from forgebench.detectors._registry import (
    Detector,
    DetectorCfg,
    check_pretrained_weights,
    create_detector,
    detector_input_size,
    get_detector_cfg,
    get_detector_factory,
    list_detectors,
    register_detector,
)

if TYPE_CHECKING:
    from forgebench.detectors._augment import AugmentSettings, CropAugment, build_augment
    from forgebench.detectors._data import (
        FRAME_COLUMNS,
        RESIZE_MODE,
        CropDataset,
        crops_to_tensor,
        make_loader,
        resize_crop,
        subsample_frames,
    )
    from forgebench.detectors._distributed import barrier, dist_info, init_distributed, is_main
    from forgebench.detectors._inference import (
        load_detector,
        predict_crops,
        predict_loader,
        read_detector_checkpoint,
        save_detector_checkpoint,
    )
    from forgebench.detectors._settings import TrainSettings, resolve_defaults, validate_detector_section
    from forgebench.detectors._training import (
        TrainFiles,
        TrainResult,
        amp_dtype,
        bce_of_logits,
        sigmoid,
        train_detector,
    )

#: Names imported on first use, by the machinery module that defines them.
_LAZY = {
    **dict.fromkeys(("AugmentSettings", "CropAugment", "build_augment"), "_augment"),
    **dict.fromkeys(("barrier", "dist_info", "init_distributed", "is_main"), "_distributed"),
    **dict.fromkeys(
        (
            "FRAME_COLUMNS",
            "RESIZE_MODE",
            "CropDataset",
            "crops_to_tensor",
            "make_loader",
            "resize_crop",
            "subsample_frames",
        ),
        "_data",
    ),
    **dict.fromkeys(
        ("load_detector", "predict_crops", "predict_loader", "read_detector_checkpoint", "save_detector_checkpoint"),
        "_inference",
    ),
    **dict.fromkeys(("TrainSettings", "resolve_defaults", "validate_detector_section"), "_settings"),
    **dict.fromkeys(
        ("TrainFiles", "TrainResult", "amp_dtype", "bce_of_logits", "sigmoid", "train_detector"), "_training"
    ),
}

__all__ = [
    # _registry
    "Detector",
    "DetectorCfg",
    "check_pretrained_weights",
    "create_detector",
    "detector_input_size",
    "get_detector_cfg",
    "get_detector_factory",
    "list_detectors",
    "register_detector",
    # _external
    "ExternalDetector",
    "is_spec",
    "use_external",
    # imported on first use (_LAZY)
    "AugmentSettings",
    "CropAugment",
    "build_augment",
    "barrier",
    "dist_info",
    "init_distributed",
    "is_main",
    "FRAME_COLUMNS",
    "RESIZE_MODE",
    "CropDataset",
    "crops_to_tensor",
    "make_loader",
    "resize_crop",
    "subsample_frames",
    "load_detector",
    "predict_crops",
    "predict_loader",
    "read_detector_checkpoint",
    "save_detector_checkpoint",
    "TrainSettings",
    "resolve_defaults",
    "validate_detector_section",
    "TrainFiles",
    "TrainResult",
    "amp_dtype",
    "bce_of_logits",
    "sigmoid",
    "train_detector",
]


def __getattr__(name: str) -> Any:
    """The training, data and ``torchrun`` machinery's names, imported on first use (see
    the module docstring: they pull in pandas, OpenCV, pydantic and scikit-learn)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
