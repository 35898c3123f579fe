"""Fake-video generators, found by name (``forgebench.generators``).

    from forgebench.generators import get_generator, list_generators
    gen = get_generator("autoencoder_swap")(settings, analyzer, device, seed)

Each generator is one module that registers its class with ``@register_generator(name)``
when imported; every module of this folder is imported the first time the registry is
asked for a name, so adding a generator to this repository is adding its file, and a
third-party package adds one through the entry point group ``forgebench.generators``
(README, "Add a generator"). The interface (:mod:`.base`): :class:`SwapGenerator` (the source identity's
face pasted into the target video) and :class:`ReenactmentGenerator` (the target follows
a driving video); checkpoints: :mod:`.checkpoint`; the conversion loop and its records:
:mod:`.conversion`; the driving input: :mod:`.driving`.
"""

from forgebench.generators.base import Generator, GeneratorSettings, ReenactmentGenerator, SwapGenerator
from forgebench.generators.conversion import FrameRecord, VideoInput, VideoOutput
from forgebench.generators.driving import DrivingInput
from forgebench.generators.registry import (
    GENERATORS,
    get_generator,
    list_generators,
    register_generator,
    validate_generator_section,
)

__all__ = [
    "GENERATORS", "Generator", "GeneratorSettings", "SwapGenerator", "ReenactmentGenerator", "VideoInput", "VideoOutput",
    "FrameRecord", "DrivingInput", "get_generator", "list_generators", "register_generator", "validate_generator_section",
]
