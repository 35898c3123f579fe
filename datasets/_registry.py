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

from collections.abc import Callable

from forgebench.datasets._base import DatasetImporter
from forgebench.registry import Registry, register_subclass, subclass_adopter

__all__ = ["DATASETS", "register_dataset", "get_dataset", "list_datasets"]


DATASETS: Registry[type[DatasetImporter]] = Registry(
    "dataset",
    group="forgebench.datasets",
    adopt=subclass_adopter(DatasetImporter, "dataset"),
    package="forgebench.datasets",
)


def register_dataset(name: str) -> Callable[[type[DatasetImporter]], type[DatasetImporter]]:
    """Class decorator registering a :class:`~forgebench.datasets.DatasetImporter` subclass
    under ``name`` (``forgebench import NAME``); sets the class's ``name``.

    Raises:
        ValueError: ``name`` is already registered.
        TypeError: the class is not a DatasetImporter subclass.
    """
    return register_subclass(DATASETS, DatasetImporter, "dataset", name)


def get_dataset(name: str) -> type[DatasetImporter]:
    """The importer class registered as ``name``.

    Raises:
        KeyError: unknown name; the message lists the registered datasets.
    """
    return DATASETS.get(name)


def list_datasets() -> list[str]:
    """Sorted names of the registered dataset importers (entry points included)."""
    return DATASETS.names()
