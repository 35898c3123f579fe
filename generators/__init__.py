"""Fake-video generators, found by name (``forgebench.generators``).

    from forgebench.generators import get_generator, list_generators
    gen = get_generator("autoencoder_swap")(settings, analyzer, device, seed)

Each generator is one module that registers its class with ``@register_generator(name)``
when imported; the modules are imported below, so adding a generator means adding its
file and one import line here. The interface is :class:`~forgebench.generators.base.Generator`.
"""

from forgebench.generators.base import (
    GENERATORS,
    Generator,
    GeneratorSettings,
    get_generator,
    list_generators,
    register_generator,
)

# Registration by import (order does not matter).
from forgebench.generators import autoencoder_swap  # noqa: E402,F401  isort: skip
from forgebench.generators import pix2pix_reenact  # noqa: E402,F401  isort: skip
from forgebench.generators import fomm  # noqa: E402,F401  isort: skip

__all__ = ["GENERATORS", "Generator", "GeneratorSettings", "get_generator", "list_generators", "register_generator"]
