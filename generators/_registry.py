"""The generator registry: ``@register_generator(name)``, :func:`get_generator`,
:func:`list_generators`, :func:`get_generator_info`, and the validation of a
``generators.<name>`` config section.

One class per method, registered by name when its module is imported: every plugin of
this folder, a module or a sub-package (``fomm/``), is imported the first time the
registry is asked for a name (:meth:`forgebench.registry.Registry.load_builtins`; the
``_`` modules are the shared machinery and are skipped), so a new generator in this
repository is one file or one folder here, listed nowhere else; third-party packages register theirs through
the entry point group ``forgebench.generators`` (an entry point naming a
:class:`~forgebench.generators.Generator` subclass is registered under the entry
point's name).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from forgebench.config import format_errors
from forgebench.errors import ConfigError
from forgebench.generators._base import Generator, GeneratorInfo, GeneratorSettings
from forgebench.registry import Registry, register_subclass, subclass_adopter

__all__ = [
    "GENERATORS",
    "register_generator",
    "get_generator",
    "get_generator_info",
    "list_generators",
    "validate_generator_section",
]


GENERATORS: Registry[type[Generator]] = Registry(
    "generator",
    group="forgebench.generators",
    adopt=subclass_adopter(Generator, "generator"),
    package="forgebench.generators",
)


def register_generator(name: str) -> Callable[[type[Generator]], type[Generator]]:
    """Class decorator registering a :class:`~forgebench.generators.Generator`
    subclass under ``name`` (the name used in configs, fake-set folders and video ids);
    sets the class's ``name``.

    Raises:
        ValueError: ``name`` is already registered.
        TypeError: the class is not a Generator subclass.
    """
    return register_subclass(GENERATORS, Generator, "generator", name)


def get_generator(name: str) -> type[Generator]:
    """The generator class registered as ``name``.

    Raises:
        KeyError: unknown name; the message lists the registered generators.
    """
    return GENERATORS.get(name)


def get_generator_info(name: str) -> GeneratorInfo:
    """The metadata of the generator registered as ``name`` (settings with defaults,
    citation, code URL, kind, what differs from the paper), without building it.

    Raises:
        KeyError: unknown name; the message lists the registered generators.
    """
    return get_generator(name).info()


def list_generators() -> list[str]:
    """Sorted names of the registered generators (entry points included)."""
    return GENERATORS.names()


def validate_generator_section(
    name: str, section: Mapping[str, Any] | None, source: str
) -> tuple[GeneratorSettings, dict[str, Any]]:
    """Validate the config section ``generators.<name>`` with the generator's own
    ``Settings`` model.

    Returns:
        ``(settings, resolved)``: the typed settings and the section with every default
        written out (JSON types), as stored in the run's ``config.yaml``.

    Raises:
        ConfigError: unknown generator (lists the registered ones), unknown key or wrong
            value (names ``source`` and the key).
    """
    if name not in GENERATORS:
        raise ConfigError(f"{source}: unknown key 'generators.{name}': registered generators are {list_generators()}")
    try:
        settings = get_generator(name).Settings.model_validate(dict(section or {}))
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, source, f"generators.{name}.")) from None
    except ConfigError as exc:
        raise ConfigError(f"{source}: generators.{name}: {exc}") from None
    return settings, json.loads(settings.model_dump_json())
