"""A DeepfakeBench dataset JSON with the face crops it points to (``forgebench import
deepfakebench <Dataset>.json --frames-root DIR``): DeepfakeBench's own files (its
``preprocessing/rearrange.py`` output, or the JSONs it distributes) and what ``forgebench
export deepfakebench`` writes.

Layout (DeepfakeBench's ``training/dataset/abstract_dataset.py`` reads it the same way)::

    <Dataset>.json   {<dataset>: {<label name>: {"train"|"val"|"test": {[<compression>:]
                      {<video>: {"label": <label name>, "frames": [<png>, ...], ["masks": [...]]}}}}}}
    <Dataset>_label_dict.json (optional)  label name -> 0 real / 1 fake; else --label-dict,
                      else DeepfakeBench's label_dict (training/config/train_config.yaml)
    DIR/...          the frames; landmarks (``frames`` -> ``landmarks``, ``.npy``) and masks
                     (``frames`` -> ``masks``) beside them where preprocessing wrote them

Frame paths are resolved from ``--frames-root`` (default: the folder DeepfakeBench runs
from when the JSON sits in its ``preprocessing/dataset_json/``, else the JSON's folder):
``./datasets/rgb/...`` and other relative paths from that folder (for DeepfakeBench's own
JSONs, whose paths are relative to its ``rgb_dir``, point it there), absolute paths only
when they lie inside it; ``..`` that leaves it is refused.

The crops are taken as they are (DeepfakeBench's preprocessing: dlib, five landmarks to
the ArcFace template, scale 1.3, 256 px): forgebench's faces stage is skipped.

Split: the JSON's split keys. DeepfakeBench lists some videos in several splits
(``rearrange.py`` puts every Celeb-DF test video under train and val too, the DFDC
training videos under train and val, and the test set under val for DFDCP): such a video
is kept in the latest of train, val, test only, and counted.

Identity: a video entry's ``identity`` / ``source`` / ``driving`` (forgebench's export writes
them), else by the dataset's file-name rule (FaceForensics++ and FaceShifter ids, DFD
actors, Celeb-DF ``idN``), else the video name. Label: the label dict. Video ids: the
entry's ``video_id`` (forgebench's export), else ``<dataset>/<method>/<compression>/<video>``
with the label name as method of a fake.
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
    inside_root,
    read_json_file,
    video_row,
)
from forgebench.datasets._deepfakebench_json import (
    COMPRESSION_DATASETS,
    CONFIG_LABELS,
    JSON_DIR,
    RGB_DIR,
    SPLITS,
    frame_index,
    label_dict_path,
    label_name,
    walk_index,
)
from forgebench.datasets._names import celebdf_fake, celebdf_real, dfd_fake, dfd_real, ff_id, ff_pair, youtube_real
from forgebench.datasets._registry import register_dataset
from forgebench.errors import DataError

__all__ = [
    "DeepfakeBench",
    "people_of",
    # the JSON format's facts (forgebench.datasets._deepfakebench_json), public here for the exporter,
    # forgebench.interop.deepfakebench, which writes what this importer reads
    "COMPRESSION_DATASETS",
    "CONFIG_LABELS",
    "JSON_DIR",
    "RGB_DIR",
    "SPLITS",
    "frame_index",
    "label_dict_path",
    "label_name",
    "walk_index",
]

_FF_NAMES = ("FaceForensics++", "FF-DF", "FF-F2F", "FF-FS", "FF-NT", "FaceShifter", "FF-FH")
_FF_REENACT = ("FF-F2F", "FF-NT", "Face2Face", "NeuralTextures")


def people_of(dataset: str, label: str, video: str, entry: dict) -> tuple[dict[str, str], str]:
    """``({"identity", "source", "driving"}, where from)`` of a DeepfakeBench video entry:
    the entry's own keys (forgebench's export), else the dataset's file-name rule, else the
    video name."""
    if entry.get("identity"):
        return (
            {
                "identity": str(entry["identity"]),
                "source": str(entry.get("source") or ""),
                "driving": str(entry.get("driving") or ""),
            },
            "the entry's identity/source/driving (forgebench export)",
        )
    none = {"source": "", "driving": ""}
    if dataset in _FF_NAMES or label.startswith("FF-"):
        if (vid := ff_id(video)) is not None:
            return {"identity": vid, **none}, "FaceForensics++ sequence id"
        if (pair := ff_pair(video)) is not None:
            role = "driving" if label in _FF_REENACT else "source"
            return {**none, "identity": pair[0], role: pair[1]}, "FaceForensics++ <target>_<other>"
    if dataset == "DeepFakeDetection":
        if (actor := dfd_real(video)) is not None:
            return {"identity": actor, **none}, "DFD actor number"
        if (pair := dfd_fake(video)) is not None:
            return {"identity": pair[0], "source": pair[1], "driving": ""}, "DFD <target>_<source> actor numbers"
    if dataset.startswith("Celeb-DF"):
        if (ids := celebdf_fake(video)) is not None:
            return {"identity": ids[0], "source": ids[1], "driving": ""}, "Celeb-DF idT_idS_k"
        if (person := celebdf_real(video) or youtube_real(video)) is not None:
            return {"identity": person, **none}, "Celeb-DF idN_k / one subject per YouTube-real video"
    return {"identity": video, **none}, "the video name (no person rule for this dataset)"


class DeepfakeBenchOptions(ImporterOptions):
    """Options of the DeepfakeBench importer."""

    frames_root: Path | None = Field(
        None,
        description="the folder frame paths are relative to (default: the DeepfakeBench "
        "folder when the JSON is in its preprocessing/dataset_json, else the JSON's folder)",
    )
    label_dict: Path | None = Field(
        None,
        description="JSON of label name -> 0/1 (default <name>_label_dict.json beside "
        "the JSON, else DeepfakeBench's train_config label_dict)",
    )


@register_dataset("deepfakebench")
class DeepfakeBench(DatasetImporter):
    """A DeepfakeBench dataset JSON and its crops (module docstring)."""

    title = "DeepfakeBench"
    citation = (
        "Yan, Zhang, Yuan, Lyu, Wu. DeepfakeBench: A Comprehensive Benchmark of Deepfake Detection. NeurIPS 2023 "
        "Datasets and Benchmarks"
    )
    homepage = "https://github.com/SCLBD/DeepfakeBench"
    layout = (
        "<Dataset>.json (+ <Dataset>_label_dict.json) and the frames, landmarks, masks it points to (--frames-root)"
    )
    split_rule = "the JSON's split keys; a video listed in several splits kept in the latest of train, val, test only"
    identity_rule = "the entry's identity (forgebench export), else the dataset's file-name rule, else the video name"
    Options = DeepfakeBenchOptions

    def frames_root(self, json_path: Path) -> Path:
        """Where the frame paths are resolved from (module docstring)."""
        if self.options.frames_root is not None:
            return Path(self.options.frames_root).absolute()
        parent = json_path.absolute().parent
        if parent.as_posix().endswith(JSON_DIR):
            return parent.parent.parent
        return parent

    def labels(self, json_path: Path) -> tuple[dict[str, int], str]:
        """``(label name -> 0/1, where from)``.

        Raises:
            DataError: an unreadable label-dict file or a value other than 0/1.
        """
        path = self.options.label_dict or (label_dict_path(json_path) if label_dict_path(json_path).is_file() else None)
        if path is None:
            return dict(CONFIG_LABELS), "DeepfakeBench's train_config.yaml label_dict"
        doc = read_json_file(path, "DeepfakeBench label dict")
        self.sources.append(Path(path))
        if not isinstance(doc, dict) or any(v not in (0, 1) for v in doc.values()):
            raise DataError(f"{path}: a label dict maps label names to 0 (real) or 1 (fake)")
        return {**CONFIG_LABELS, **doc}, f"{Path(path).name}"

    def read(self, root: Path) -> pd.DataFrame:
        """The videos of the JSON file ``root`` (module docstring).

        Raises:
            DataError: not a JSON file in DeepfakeBench's layout, a label not in the label
                dict, a frame path that leaves ``--frames-root`` or is missing, a frame file
                not named by its number, a video id part with ``/``.
        """
        json_path = Path(root)
        if json_path.is_dir():
            raise DataError(
                f"{json_path}: give the DeepfakeBench dataset JSON file (e.g. preprocessing/dataset_json/Celeb-DF-v2.json)"
            )
        doc = read_json_file(json_path, "DeepfakeBench dataset JSON")
        self.sources.append(json_path)
        base = self.frames_root(json_path)
        labels, labels_from = self.labels(json_path)
        chosen: dict[tuple[str, str, str, str], dict] = {}
        for dataset, label, split, comp, video, entry in walk_index(doc, json_path):
            where = f"{dataset}/{label}/{split}/{comp + '/' if comp else ''}{video}"
            if split not in SPLITS:
                raise DataError(f"{json_path}: {where}: split {split!r} is not train, val or test")
            if label not in labels:
                raise DataError(
                    f"{json_path}: {where}: label {label!r} is not in the label dict ({labels_from}); give --label-dict"
                )
            row = self._row(
                json_path, base, dataset, label, labels[label], labels_from, split, comp, video, entry, where
            )
            key = (row["dataset"], row["method"], row["compression"], row["video_name"])
            old = chosen.get(key)
            if old is None or SPLITS.index(split) > SPLITS.index(old["split"]):
                if old is not None:
                    row["split_from"] = f"JSON split keys: listed in {old['split']} and {split}, kept in {split} only"
                chosen[key] = row
            if old is not None:
                self.leave_out("a second listing of a video in another split (kept in the latest of train, val, test)")
        return check_table(list(chosen.values()), str(json_path))

    def _row(
        self,
        json_path: Path,
        base: Path,
        dataset: str,
        label: str,
        value: int,
        labels_from: str,
        split: str,
        comp: str | None,
        video: str,
        entry: dict,
        where: str,
    ) -> dict:
        frames = [self._file(json_path, base, f, where) for f in entry["frames"]]
        order = sorted(range(len(frames)), key=lambda k: frame_index(frames[k], json_path))
        frames = [frames[k] for k in order]
        masks_in = entry.get("masks") or []
        masks = [
            str(self._file(json_path, base, masks_in[k], where)) if k < len(masks_in) and masks_in[k] else ""
            for k in order
        ]
        if not any(masks):
            masks = [_beside(f, "masks", f.suffix) for f in frames]
        landmarks = [_beside(f, "landmarks", ".npy") for f in frames]
        if entry.get("video_id"):
            parts = str(entry["video_id"]).split("/")
            if len(parts) != 4:
                raise DataError(
                    f"{json_path}: {where}: video_id {entry['video_id']!r} is not <dataset>/<method>/<compression>/<name>"
                )
            ds, method, compression, name = parts
        else:
            ds, name = dataset, video
            method = "real" if value == 0 else str(entry.get("method") or label)
            compression = str(entry.get("compression") or comp or NO_COMPRESSION)
        people, identity_from = people_of(dataset, label, video, entry)
        if not frames:
            raise DataError(f"{json_path}: {where}: no frames")
        return video_row(
            frames[0].parent,
            kind="crops",
            frames=[str(f) for f in frames],
            landmarks=landmarks,
            masks=masks,
            dataset=ds,
            method=method,
            compression=compression,
            video_name=name,
            label=value,
            **people,
            label_from=f"label {label} ({labels_from})",
            identity_from=identity_from,
            pair_from=identity_from if people["source"] or people["driving"] else "",
            split=split,
            split_from="JSON split key",
        )

    @staticmethod
    def _file(json_path: Path, base: Path, frame: str, where: str) -> Path:
        path = inside_root(base, str(frame).replace("\\", "/").removeprefix("./"), json_path, where)
        if not path.is_file():
            raise DataError(f"{json_path}: {where}: frame {frame!r} not found ({path}; --frames-root is {base})")
        return path


def _beside(frame: Path, kind: str, suffix: str) -> str:
    """DeepfakeBench's companion file of a frame (``frames`` -> ``landmarks``/``masks`` in its
    path), or ``""`` when there is none."""
    parts = list(frame.parts)
    if "frames" not in parts:
        return ""
    parts[len(parts) - 1 - parts[::-1].index("frames")] = kind
    other = Path(*parts).with_suffix(suffix)
    return str(other) if other.is_file() else ""
