"""The detector zoo: binary face-forgery detectors found by name.

``create_detector(name, **kwargs)`` builds a registered detector (as
``timm.create_model``); every detector maps face crops ``(N, 3, H, W)`` float RGB in
[0, 1] to logits ``(N,)`` for the class "fake", normalising its input itself.
One file per model family registers its models at import (every module of this folder
is imported the first time the registry is asked for a name, sub-packages included, so a
new detector is one new file here, listed nowhere else):

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

Detectors from outside the repository (``package.module:factory`` or a
``forgebench.detectors`` entry point returning a plain ``torch.nn.Module`` that declares its
input size and normalisation): :mod:`forgebench.detectors.external`.

Training and evaluation (validation-chosen checkpoint and threshold, test split scored
once): :mod:`forgebench.detectors.training`.
"""

from forgebench.detectors.registry import (
    Detector,
    DetectorCfg,
    create_detector,
    detector_input_size,
    get_detector_cfg,
    list_detectors,
    register_detector,
)

__all__ = [
    "Detector",
    "DetectorCfg",
    "create_detector",
    "detector_input_size",
    "get_detector_cfg",
    "list_detectors",
    "register_detector",
]
