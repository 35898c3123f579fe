"""Any folder of videos, with a CSV manifest naming the people (``forgebench import folder``;
``forgebench run --videos DIR`` reads the same manifest for its real videos).

Layout::

    ROOT/<any>.mp4 ...                      videos (or folders of frames), at any depth
    ROOT/identities.csv                     path,label,identity[,method,source,driving,split]

``path`` is relative to ``ROOT`` (it may not leave it); ``label`` is ``real`` or ``fake``
(or 0 / 1); ``identity`` is the person shown (the target of a fake); optional columns:
``method`` (of a fake; default ``fake``), ``source`` (the person a face swap pastes in),
``driving`` (the person whose motion a reenactment shows), ``split`` (``train``, ``val``,
``test``, or empty to let forgebench assign it by person). A path naming a folder is a
folder of frame images. Without ``identities.csv`` every video file directly in ``ROOT`` is a
real video of its own person (the file stem), as ``forgebench run --videos`` has always
read a folder. The dataset's name in video ids is the folder's name.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pydantic import Field

from forgebench.datasets._base import (
    NO_COMPRESSION,
    DatasetImporter,
    ImporterOptions,
    check_table,
    frame_files,
    inside_root,
    parse_label,
    read_csv_file,
    unique_names,
    video_files,
    video_row,
)
from forgebench.datasets._registry import register_dataset
from forgebench.errors import DataError

__all__ = ["Folder", "MANIFEST"]

#: The manifest's file name inside the folder.
MANIFEST = "identities.csv"


class FolderOptions(ImporterOptions):
    """Options of the folder importer."""

    manifest: Path | None = Field(None, description=f"the CSV manifest (default ROOT/{MANIFEST})")


@register_dataset("folder")
class Folder(DatasetImporter):
    """A folder of videos with a CSV manifest (module docstring)."""

    title = "folder"
    citation = ""
    homepage = ""
    layout = f"videos (or frame folders) anywhere under ROOT; ROOT/{MANIFEST}: path,label,identity[,method,source,driving,split]"
    split_rule = "the manifest's split column where given, else assigned by person (splits.ratio, seed)"
    identity_rule = f"the manifest's identity column; without {MANIFEST}, the file stem"
    Options = FolderOptions

    def read(self, root: Path) -> pd.DataFrame:
        """The videos of ``root`` (module docstring).

        Raises:
            DataError: a malformed manifest (missing column, bad label or split, empty
                identity), a listed video that is missing, a path that leaves ``root``, no
                video at all.
        """
        if not Path(root).is_dir():
            raise DataError(f"{root}: not a folder")
        manifest = Path(self.options.manifest) if self.options.manifest else root / MANIFEST
        if not manifest.is_file():
            if self.options.manifest:
                raise DataError(f"{manifest}: manifest not found")
            videos = video_files(root)
            if not videos:
                raise DataError(f"{root}: no video files and no {MANIFEST}")
            rows = [
                video_row(
                    v,
                    dataset=root.name,
                    method="real",
                    compression=NO_COMPRESSION,
                    video_name=v.stem,
                    label=0,
                    identity=v.stem,
                    label_from=f"a folder of real videos (no {MANIFEST})",
                    identity_from="file stem (one person per file)",
                )
                for v in videos
            ]
            return check_table(rows, str(root))
        self.sources.append(manifest)
        table = read_csv_file(manifest, "folder manifest", ("path", "label", "identity"))
        names = unique_names([p.replace("\\", "/") for p in table["path"]])
        rows = []
        for k, (r, name) in enumerate(zip(table.to_dict("records"), names), 2):
            entry = f"line {k}: {r['path']}"
            path = inside_root(root, r["path"], manifest, entry)
            if path.is_dir():
                frames, kind = frame_files(path), "frames"
                if not frames:
                    raise DataError(f"{manifest}: entry {entry!r}: folder {path} holds no frame images")
            elif path.is_file():
                frames, kind = [], "video"
            else:
                raise DataError(f"{manifest}: entry {entry!r}: the listed video {path} is missing")
            label = parse_label(r["label"], manifest, entry)
            person = str(r["identity"]).strip()
            if not person:
                raise DataError(f"{manifest}: entry {entry!r}: empty identity")
            split = str(r.get("split", "") or "").strip().lower()
            if split not in ("", "train", "val", "test"):
                raise DataError(f"{manifest}: entry {entry!r}: split {split!r} is not train, val, test or empty")
            method = str(r.get("method", "") or "").strip() or ("real" if label == 0 else "fake")
            if label == 0 and method != "real":
                raise DataError(
                    f"{manifest}: entry {entry!r}: a real video's method must be empty or 'real', got {method!r}"
                )
            source, driving = (str(r.get(c, "") or "").strip() if label == 1 else "" for c in ("source", "driving"))
            rows.append(
                video_row(
                    path,
                    kind=kind,
                    frames=frames,
                    dataset=root.name,
                    method=method,
                    compression=NO_COMPRESSION,
                    video_name=name,
                    label=label,
                    identity=person,
                    source=source,
                    driving=driving,
                    split=split,
                    label_from=f"{manifest.name} label",
                    identity_from=f"{manifest.name} identity",
                    pair_from=f"{manifest.name} source/driving" if source or driving else "",
                    split_from=f"{manifest.name} split" if split else "",
                )
            )
        return check_table(rows, str(manifest))
