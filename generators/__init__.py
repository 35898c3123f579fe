"""Fake-video generators, found by name (``forgebench.generators``).

    from forgebench.generators import get_generator, list_generators
    gen = get_generator("autoencoder_swap")(settings, analyzer, device, seed)

Each generator is one module that registers its class with ``@register_generator(name)``
when imported; the built-in modules are imported below, so adding a generator to this
repository means adding its file and one import line here, and a third-party package
adds one through the entry point group ``forgebench.generators`` (README, "Add a
generator"). The interface (:mod:`.base`): :class:`SwapGenerator` (the source identity's
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

# Registration by import (order does not matter).
from forgebench.generators import autoencoder_swap  # noqa: E402,F401  isort: skip
from forgebench.generators import pix2pix_reenact  # noqa: E402,F401  isort: skip
from forgebench.generators import fomm  # noqa: E402,F401  isort: skip

__all__ = [
    "GENERATORS", "Generator", "GeneratorSettings", "SwapGenerator", "ReenactmentGenerator", "VideoInput", "VideoOutput",
    "FrameRecord", "DrivingInput", "get_generator", "list_generators", "register_generator", "validate_generator_section",
]
