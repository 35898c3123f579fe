"""The DeepFake Detection Challenge dataset, DFDC (Dolhansky et al. 2020), as its parts unpack.

Layout (``ROOT`` = the folder holding the parts; the training parts may sit directly in it
or in ``ROOT/train/``)::

    ROOT/[train/]dfdc_train_part_<k>/metadata.json   {"<name>.mp4": {"label": "REAL"|"FAKE",
                                                      "split": "train", "original": "<name>.mp4"|null}}
    ROOT/[train/]dfdc_train_part_<k>/<name>.mp4
    ROOT/validation/labels.csv + <name>.mp4          optional: columns filename, label (1 = fake)
    ROOT/test/labels.csv + <name>.mp4                the public test set: filename, label (1 = fake)

Split: the training parts are train, ``validation/`` (when present) val, ``test/`` test;
with no validation folder the import carves one from train by person.

Identity: DFDC publishes no person ids. A real video of the training parts is its own
identity; a fake's ``original`` names the real video whose frames it uses, so the fake
takes that video's identity (its target; the source face is not published). Several
real videos show one paid actor: the identity check (``forgebench identities``) finds them
and ``splits.identity: merge_likely`` merges them before the split. A test or validation
video has no ``original``: its own identity.
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
    read_csv_file,
    read_json_file,
    require_file,
    video_row,
)
from forgebench.datasets._registry import register_dataset
from forgebench.errors import DataError

__all__ = ["DFDC"]

TITLE = "DFDC"
_METHOD = "DFDC"  # DFDC does not say which of its eight methods made a fake


@register_dataset("dfdc")
class DFDC(DatasetImporter):
    """The DFDC dataset (module docstring)."""

    title = TITLE
    citation = (
        "Dolhansky, Bitton, Pflaum, Lu, Howes, Wang, Canton Ferrer. The DeepFake Detection Challenge (DFDC) Dataset. "
        "arXiv:2006.07397, 2020"
    )
    homepage = "https://ai.meta.com/datasets/dfdc/"
    layout = "[train/]dfdc_train_part_<k>/metadata.json and videos; validation/labels.csv (optional); test/labels.csv"
    split_rule = "training parts train, validation/ val (else carved from train by person), test/ test"
    identity_rule = (
        "a real training video is an identity; a fake takes the identity of its 'original' (its target); "
        "test and validation videos are their own identity; the identity check links videos of one actor"
    )

    def read(self, root: Path) -> pd.DataFrame:
        """The videos of ``root`` (module docstring).

        Raises:
            DataError: no training part and no test set, a malformed ``metadata.json`` or
                ``labels.csv``, a listed video that is missing, a bad label.
        """
        parts = sorted(p for base in (root, root / "train") for p in base.glob("dfdc_train_part_*") if p.is_dir())
        rows = []
        for part in parts:
            rows += self._part(root, part)
        for folder, split in (("validation", "val"), ("test", "test")):
            if (root / folder / "labels.csv").is_file():
                rows += self._labelled(root, root / folder, split)
        if not parts and not (root / "test" / "labels.csv").is_file():
            raise DataError(
                f"{root}: neither dfdc_train_part_*/metadata.json nor test/labels.csv; is it a DFDC folder?"
            )
        return check_table(rows, f"{root} (DFDC)")

    def _part(self, root: Path, part: Path) -> list[dict]:
        meta_file = part / "metadata.json"
        doc = read_json_file(meta_file, "DFDC metadata")
        self.sources.append(meta_file)
        if not isinstance(doc, dict):
            raise DataError(f"{meta_file}: must map video file names to {{label, split, original}}")
        rows = []
        for name, entry in sorted(doc.items()):
            if not isinstance(entry, dict) or "label" not in entry:
                raise DataError(f"{meta_file}: entry {name!r} is not an object with a 'label'")
            path = require_file(inside_root(part, name, meta_file, name), meta_file, name)
            label = parse_label(
                {"REAL": "real", "FAKE": "fake"}.get(str(entry["label"]).upper(), entry["label"]), meta_file, name
            )
            original = entry.get("original")
            common = dict(
                dataset=TITLE,
                compression=NO_COMPRESSION,
                video_name=path.stem,
                split="train",
                split_from=f"{part.name} (a training part)",
                label_from=f"{part.name}/metadata.json label",
            )
            if label == 0:
                rows.append(
                    video_row(
                        path,
                        method="real",
                        label=0,
                        identity=path.stem,
                        identity_from="the real video itself (DFDC publishes no person ids)",
                        **common,
                    )
                )
                continue
            if not original:
                raise DataError(f"{meta_file}: entry {name!r} is FAKE but names no 'original' video")
            rows.append(
                video_row(
                    path,
                    method=_METHOD,
                    label=1,
                    identity=Path(str(original)).stem,
                    identity_from=f"{part.name}/metadata.json original (the target video)",
                    **common,
                )
            )
        return rows

    def _labelled(self, root: Path, folder: Path, split: str) -> list[dict]:
        labels_file = folder / "labels.csv"
        table = read_csv_file(labels_file, "DFDC labels", ("filename", "label"))
        self.sources.append(labels_file)
        rows = []
        for k, r in enumerate(table.to_dict("records"), 2):
            entry = f"line {k}: {r['filename']}"
            path = require_file(inside_root(folder, r["filename"], labels_file, entry), labels_file, entry)
            label = parse_label(r["label"], labels_file, entry)
            rows.append(
                video_row(
                    path,
                    dataset=TITLE,
                    method="real" if label == 0 else _METHOD,
                    compression=NO_COMPRESSION,
                    video_name=path.stem,
                    label=label,
                    identity=path.stem,
                    identity_from=f"the video itself ({folder.name}/labels.csv gives no original)",
                    label_from=f"{folder.name}/labels.csv label",
                    split=split,
                    split_from=f"folder {folder.name}",
                )
            )
        return rows
