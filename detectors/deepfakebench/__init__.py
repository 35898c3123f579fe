"""DeepfakeBench's released detectors, unchanged: one module per architecture, registered as
``dfb_<name>``, each accepting DeepfakeBench's checkpoint file as it is published.

DeepfakeBench (Yan et al., NeurIPS 2023 Datasets and Benchmarks; SCLBD/DeepfakeBench)
published the trained weights of the detectors of its original table with release v1.0.1
(``<name>_best.pth``, trained on FF++ c23). These modules rebuild each detector's network
with the same state-dict keys, shapes and numerics (written from DeepfakeBench's code at
8a4a7bf, read for facts), so that::

    create_detector("dfb_xception", checkpoint_path="xception_best.pth")

reads the file with ``torch.load(weights_only=True)``, strips a leading ``module.``, loads it
strictly and returns the detector in eval mode, mapping RGB crops ``(N, 3, 256, 256)`` in
[0, 1] to fake logits ``(N,)`` with ``sigmoid(logit)`` equal to DeepfakeBench's
``softmax(cls, 1)[:, 1]``. Without ``checkpoint_path`` each is a randomly initialised
architecture that forgebench's protocol trains like any other detector.

Modules: :mod:`.xception` (``dfb_xception``, ``dfb_fwa``, ``dfb_core``: one network),
:mod:`.meso` (``dfb_meso4``, ``dfb_meso4inception``), :mod:`.resnet34`,
:mod:`.efficientnetb4` (``dfb_efficientnetb4``, ``dfb_sbi``), :mod:`.capsule_net`,
:mod:`.facexray`, :mod:`.ffd`, :mod:`.recce`, :mod:`.ucf`, :mod:`.f3net`, :mod:`.spsl`,
:mod:`.srm`; shared machinery: :mod:`._base` (metadata, registration, the checkpoint
loader; its public names are imported from here), :mod:`._xception`, :mod:`._efficientnet`,
:mod:`._hrnet`. Each module keeps its detectors' :class:`PublishedCfg` beside them (paper,
DeepfakeBench class, released weights, training data, input size, normalisation).
"""

from forgebench.detectors.deepfakebench._base import (
    DFB_MEAN,
    DFB_STD,
    RELEASE,
    RELEASE_URL,
    DFBDetector,
    PublishedCfg,
    get_published,
    list_published,
    load_published_checkpoint,
    register_published,
    registry_name,
)

__all__ = [
    "DFB_MEAN",
    "DFB_STD",
    "RELEASE",
    "RELEASE_URL",
    "DFBDetector",
    "PublishedCfg",
    "get_published",
    "list_published",
    "load_published_checkpoint",
    "register_published",
    "registry_name",
]
