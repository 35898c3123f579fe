"""The dataset registry: ``@register_dataset(name)``, :func:`get_dataset`, :func:`list_datasets`.

One importer per dataset, registered by name when its module is imported: every module of
this folder is imported the first time the registry is asked for a name
(:meth:`forgebench.registry.Registry.load_builtins`), so a new dataset in this repository is
one file here, listed nowhere else; third-party packages add theirs through the entry
point group ``forgebench.datasets`` (an entry point naming a
:class:`~forgebench.datasets.DatasetImporter` subclass is registered under the entry
point's name).
"""

from __future__ import annotations

from typing import Any, Callable

from forgebench.datasets._base import DatasetImporter
from forgebench.registry import Registry

__all__ = ["DATASETS", "register_dataset", "get_dataset", "list_datasets"]


def _adopt(registry: Registry, name: str, obj: Any) -> None:
    if not (isinstance(obj, type) and issubclass(obj, DatasetImporter)):
        raise TypeError(f"a dataset entry point must name a forgebench DatasetImporter subclass, got {obj!r}")
    obj.name = name
    registry.register(name)(obj)


DATASETS: Registry[type[DatasetImporter]] = Registry("dataset", group="forgebench.datasets", adopt=_adopt,
                                                    package="forgebench.datasets")


def register_dataset(name: str) -> Callable[[type[DatasetImporter]], type[DatasetImporter]]:
    """Class decorator registering a :class:`~forgebench.datasets.DatasetImporter` subclass
    under ``name`` (``forgebench import NAME``); sets the class's ``name``.

    Raises:
        ValueError: ``name`` is already registered.
        TypeError: the class is not a DatasetImporter subclass.
    """

    def deco(cls: type[DatasetImporter]) -> type[DatasetImporter]:
        if not (isinstance(cls, type) and issubclass(cls, DatasetImporter)):
            raise TypeError(f"@register_dataset({name!r}) needs a DatasetImporter subclass, got {cls!r}")
        cls.name = name
        return DATASETS.register(name)(cls)

    return deco


def get_dataset(name: str) -> type[DatasetImporter]:
    """The importer class registered as ``name``.

    Raises:
        KeyError: unknown name; the message lists the registered datasets.
    """
    return DATASETS.get(name)


def list_datasets() -> list[str]:
    """Sorted names of the registered dataset importers (entry points included)."""
    return DATASETS.names()
