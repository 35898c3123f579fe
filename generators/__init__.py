"""Fake-video generators, found by name (``forgebench.generators``).

    from forgebench.generators import get_generator, get_generator_info, list_generators
    gen = get_generator("autoencoder_swap")(settings, analyzer, device, seed)
    get_generator_info("fomm").citation

The folder shows its plugins: each generator is one module or one sub-package
(``autoencoder_swap/``, ``pix2pix_reenact/``, ``fomm/``) that registers its class with
``@register_generator(name)`` when imported and keeps its metadata beside it (settings with
defaults, citation, code URL, kind, what differs from the paper:
:class:`GeneratorInfo`); every plugin is imported the first time the registry is asked for a
name, so adding a generator to this repository is adding its file or folder, and a
third-party package adds one through the entry point group ``forgebench.generators``
(README, "Add a generator"). The ``_`` modules are the shared machinery, re-exported here:
the interface (:mod:`._base`): :class:`SwapGenerator` (the source identity's
face pasted into the target video) and :class:`ReenactmentGenerator` (the target follows
a driving video); the registry: :mod:`._registry`; checkpoints: :mod:`._checkpoint`; the
conversion loop and its records: :mod:`._conversion`; the driving input: :mod:`._driving`;
swap training augmentation: :mod:`._augment`; landmark sketches and retargeting:
:mod:`._sketch`.
"""

from forgebench.generators._base import Generator, GeneratorInfo, GeneratorSettings, ReenactmentGenerator, SwapGenerator
from forgebench.generators._checkpoint import (
    check_settings_match,
    checkpoint_payload,
    read_generator_checkpoint,
    save_generator_checkpoint,
)
from forgebench.generators._conversion import ConvertedBatch, FrameRecord, VideoInput, VideoOutput
from forgebench.generators._driving import DrivingInput
from forgebench.generators._registry import (
    GENERATORS,
    get_generator,
    get_generator_info,
    list_generators,
    register_generator,
    validate_generator_section,
)

__all__ = [
    "GENERATORS",
    "Generator",
    "GeneratorInfo",
    "GeneratorSettings",
    "SwapGenerator",
    "ReenactmentGenerator",
    "VideoInput",
    "VideoOutput",
    "FrameRecord",
    "ConvertedBatch",
    "DrivingInput",
    "get_generator",
    "get_generator_info",
    "list_generators",
    "register_generator",
    "validate_generator_section",
    "checkpoint_payload",
    "save_generator_checkpoint",
    "read_generator_checkpoint",
    "check_settings_match",
]
