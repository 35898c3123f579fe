"""The DFDC Preview dataset, DFDCP (Dolhansky et al. 2019), as it unpacks.

Layout (``ROOT`` = the unpacked ``fb_dfd_release_0.1_final`` folder)::

    ROOT/dataset.json                       {"<folder>/<...>/<name>.mp4": {"label": "real"|"fake",
                                             "set": "train"|"test", "target_id": ..., "swapped_id": ...}}
    ROOT/original_videos/<...>.mp4          the real videos
    ROOT/method_A/<...>.mp4, ROOT/method_B/<...>.mp4   the fakes of the two methods

Each key of ``dataset.json`` is a video path relative to ``ROOT``; its first folder is the
method (``original_videos`` = real). Split: ``set`` (train or test; the preview has no
validation set: the import carves one from train by person; DeepfakeBench uses the test
set as its validation set instead). Identity: the entry's ``target_id`` (the consented
actor whose video it is), else the folder under the method, which the preview names by
actor; a fake's ``swapped_id`` is the source (the face pasted in).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from forgebench.datasets._base import (
    NO_COMPRESSION,
    DatasetImporter,
    check_table,
    inside_root,
    parse_label,
    read_json_file,
    require_file,
    unique_names,
    video_row,
)
from forgebench.datasets._registry import register_dataset
from forgebench.errors import DataError

__all__ = ["DFDCP"]

TITLE = "DFDCP"
REAL_FOLDER = "original_videos"


@register_dataset("dfdcp")
class DFDCP(DatasetImporter):
    """The DFDC Preview dataset (module docstring)."""

    title = TITLE
    citation = "Dolhansky, Howes, Pflaum, Baram, Canton Ferrer. The Deepfake Detection Challenge (DFDC) Preview Dataset. arXiv:1910.08854, 2019"
    homepage = "https://ai.meta.com/datasets/dfdc/"
    layout = "dataset.json (video path -> label, set, target_id, swapped_id); original_videos/, method_A/, method_B/"
    split_rule = "dataset.json 'set' (train, test); validation carved from train by person"
    identity_rule = "dataset.json target_id (else the actor folder under the method); swapped_id is a fake's source"

    def read(self, root: Path) -> pd.DataFrame:
        """The videos of ``root`` (module docstring).

        Raises:
            DataError: a missing or malformed ``dataset.json``, a listed video that is
                missing, a bad label or set, a path that leaves ``root``.
        """
        index = root / "dataset.json"
        doc = read_json_file(index, "DFDC Preview index")
        self.sources.append(index)
        if not isinstance(doc, dict) or not doc:
            raise DataError(f"{index}: must map video paths to {{label, set, ...}} entries")
        keys = sorted(doc)
        for key in keys:
            entry = doc[key]
            if not isinstance(entry, dict) or "label" not in entry or "set" not in entry:
                raise DataError(f"{index}: entry {key!r} is not an object with 'label' and 'set'")
            if entry["set"] not in ("train", "val", "test"):
                raise DataError(f"{index}: entry {key!r}: set {entry['set']!r} is not train or test")
        by_method: dict[str, list[str]] = {}
        for key in keys:
            by_method.setdefault(key.replace("\\", "/").split("/", 1)[0], []).append(key)
        rows = []
        for method, method_keys in by_method.items():
            names = unique_names([k.replace("\\", "/").split("/", 1)[-1] for k in method_keys])
            for key, name in zip(method_keys, names):
                rows.append(self._row(root, index, key, doc[key], method, name))
        return check_table(rows, f"{root} (DFDCP)")

    @staticmethod
    def _row(root: Path, index: Path, key: str, entry: dict, method: str, name: str) -> dict:
        path = require_file(inside_root(root, key, index, key), index, key)
        label = parse_label(entry["label"], index, key)
        if (label == 0) != (method == REAL_FOLDER):
            raise DataError(f"{index}: entry {key!r} is labelled {entry['label']!r} but lies in {method}/")
        parts = key.replace("\\", "/").split("/")
        if entry.get("target_id") not in (None, ""):
            identity, identity_from = str(entry["target_id"]), "dataset.json target_id"
        elif len(parts) > 2:
            identity, identity_from = parts[1], f"actor folder {method}/{parts[1]}"
        else:
            raise DataError(f"{index}: entry {key!r} has no target_id and no actor folder to take the identity from")
        source = str(entry.get("swapped_id") or "") if label == 1 else ""
        return video_row(
            path,
            dataset=TITLE,
            method="real" if label == 0 else method,
            compression=NO_COMPRESSION,
            video_name=name,
            label=label,
            identity=identity.replace("/", "-"),
            source=source.replace("/", "-"),
            label_from="dataset.json label",
            identity_from=identity_from,
            pair_from="dataset.json swapped_id" if source else "",
            split=entry["set"],
            split_from="dataset.json set",
        )
