"""Importers of the field's datasets, found by name (``forgebench.datasets``).

    from forgebench.datasets import get_dataset, list_datasets
    table = get_dataset("celebdf")({"version": "v2"}).read(Path("Celeb-DF-v2"))

An importer reads a dataset root exactly as its official download leaves it and returns a
table of videos (:data:`VIDEO_COLUMNS`: path, label, method, compression, identity,
source or driving person of a fake, the official split where the dataset has one, and
where each value came from). It never sees a run directory: ``forgebench import NAME ROOT
--out RUN_DIR`` (:mod:`forgebench.importing`) writes the run. One module per dataset
registers its importer with ``@register_dataset(name)``; every module of this folder is
imported the first time the registry is asked for a name, so a new dataset is one file
here, and a third-party package adds one through the entry point group
``forgebench.datasets``. Layouts, split and identity rules: docs/datasets.md.

Each importer keeps its metadata beside it, as class attributes of its
:class:`DatasetImporter` subclass: ``title``, ``citation``, ``homepage``, ``layout``,
``split_rule``, ``identity_rule`` and its ``Options`` (shown by ``forgebench import --list``
through :meth:`DatasetImporter.metadata`). Shared machinery is in the modules whose names
start with ``_``: ``_base`` (the table, the base class, safe index reading), ``_registry``,
``_names`` (identity rules by file name), ``_official`` (index files read by more than one
importer) and ``_deepfakebench_json`` (the DeepfakeBench JSON format, public through
:mod:`forgebench.datasets.deepfakebench`).
"""

from forgebench.datasets._base import (
    KINDS,
    NO_COMPRESSION,
    SPLITS,
    VIDEO_COLUMNS,
    DatasetImporter,
    ImporterOptions,
    check_table,
    read_json_file,
    video_row,
)
from forgebench.datasets._registry import DATASETS, get_dataset, list_datasets, register_dataset

__all__ = [
    "DATASETS",
    "DatasetImporter",
    "ImporterOptions",
    "KINDS",
    "NO_COMPRESSION",
    "SPLITS",
    "VIDEO_COLUMNS",
    "check_table",
    "get_dataset",
    "list_datasets",
    "read_json_file",
    "register_dataset",
    "video_row",
]
