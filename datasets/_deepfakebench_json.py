"""DeepfakeBench's dataset JSON: the facts both directions need (the ``deepfakebench``
importer and ``forgebench export deepfakebench``), read from SCLBD/DeepfakeBench at commit
8a4a7bf: ``training/dataset/abstract_dataset.py`` (how the file is read: ``<name>.json``
in ``dataset_json_folder``, dataset -> label -> split -> [compression ->] video ->
``{"label", "frames"}``; frame paths not starting with ``.`` get ``./<rgb_dir>\\``
prepended, ``frames`` -> ``landmarks`` / ``masks`` for the other files),
``preprocessing/rearrange.py`` (which names get the compression level) and
``training/config/train_config.yaml`` (``label_dict``, ``rgb_dir``, ``dataset_json_folder``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from forgebench.errors import DataError

__all__ = [
    "SPLITS",
    "FF_LABELS",
    "COMPRESSION_DATASETS",
    "CONFIG_LABELS",
    "RGB_DIR",
    "JSON_DIR",
    "label_name",
    "label_dict_path",
    "walk_index",
    "frame_index",
]

SPLITS = ("train", "val", "test")
#: forgebench method name -> DeepfakeBench label name, for the FaceForensics++ dataset.
FF_LABELS = {
    "real": "FF-real",
    "Deepfakes": "FF-DF",
    "Face2Face": "FF-F2F",
    "FaceSwap": "FF-FS",
    "NeuralTextures": "FF-NT",
    "FaceShifter": "FF-FH",
    "DeepFakeDetection": "DFD_fake",
}
#: Dataset names DeepfakeBench reads with a compression level under the split.
COMPRESSION_DATASETS = ("FaceForensics++", "FF-DF", "FF-F2F", "FF-FS", "FF-NT", "DeepFakeDetection", "FaceShifter")
#: ``label_dict`` of DeepfakeBench's training/config/train_config.yaml (label name -> 0 real / 1 fake).
CONFIG_LABELS = {
    "DFD_fake": 1,
    "DFD_real": 0,
    "FF-SH": 1,
    "FF-F2F": 1,
    "FF-DF": 1,
    "FF-FS": 1,
    "FF-NT": 1,
    "FF-FH": 1,
    "FF-real": 0,
    "CelebDFv1_real": 0,
    "CelebDFv1_fake": 1,
    "CelebDFv2_real": 0,
    "CelebDFv2_fake": 1,
    "DFDCP_Real": 0,
    "DFDCP_FakeA": 1,
    "DFDCP_FakeB": 1,
    "DFDC_Fake": 1,
    "DFDC_Real": 0,
    "DF_fake": 1,
    "DF_real": 0,
    "UADFV_Fake": 1,
    "UADFV_Real": 0,
    "roop_Real": 0,
    "roop_Fake": 1,
}
#: DeepfakeBench's default ``rgb_dir`` and ``dataset_json_folder``, relative to the folder it runs from.
RGB_DIR = "datasets/rgb"
JSON_DIR = "preprocessing/dataset_json"


def label_name(dataset: str, method: str) -> str:
    """DeepfakeBench label name of a (dataset, method): its own names for FaceForensics++
    (``FF-real``, ``FF-DF``, ``FF-F2F``, ``FF-FS``, ``FF-NT``, ``FF-FH``), else
    ``"<dataset>-<method>"`` (``"samples-real"``, ``"samples-autoencoder_swap"``)."""
    if dataset == "FaceForensics++" and method in FF_LABELS:
        return FF_LABELS[method]
    return f"{dataset}-{method}"


def label_dict_path(json_path: str | os.PathLike) -> Path:
    """The label mapping written next to an index: ``<dir>/<name>_label_dict.json``."""
    json_path = Path(json_path)
    return json_path.with_name(f"{json_path.stem}_label_dict.json")


def _mapping(value: Any, path: Path, where: str) -> dict:
    if not isinstance(value, dict):
        raise DataError(f"{path}: {where} must be a mapping, got {type(value).__name__}")
    return value


def _is_video(entry: Any) -> bool:
    return isinstance(entry, dict) and isinstance(entry.get("frames"), list)


def walk_index(doc: Any, path: Path) -> Iterator[tuple[str, str, str, str | None, str, dict]]:
    """Every video entry of a DeepfakeBench dataset JSON: ``(dataset, label name, split,
    compression or None, video name, entry)``, in file order; accepts both layouts
    (dataset -> label -> split -> video, and FaceForensics++'s with a compression level
    between split and video).

    Raises:
        DataError: not this layout (names the file and where).
    """
    if not isinstance(doc, dict):
        raise DataError(f"{path}: not a DeepfakeBench index (top level must map dataset names to labels)")
    for dataset, by_label in doc.items():
        for label, by_split in _mapping(by_label, path, dataset).items():
            for split, node in _mapping(by_split, path, f"{dataset}/{label}").items():
                node = _mapping(node, path, f"{dataset}/{label}/{split}")
                groups = [(None, node)] if all(_is_video(v) for v in node.values()) else list(node.items())
                for comp, videos in groups:
                    videos = _mapping(videos, path, f"{dataset}/{label}/{split}/{comp}")
                    for video, entry in videos.items():
                        if not _is_video(entry):
                            raise DataError(
                                f"{path}: {dataset}/{label}/{split}/{comp + '/' if comp else ''}{video} is not a "
                                "video entry with a 'frames' list"
                            )
                        yield dataset, label, split, comp, video, entry


def frame_index(frame: str, path: Path) -> int:
    """The frame number of a frame file name (``000123.png`` -> 123), as DeepfakeBench sorts them.

    Raises:
        DataError: the file name is not a number (names the index file).
    """
    stem = Path(str(frame).replace("\\", "/")).stem
    try:
        return int(stem)
    except ValueError:
        raise DataError(f"{path}: frame file {frame!r} is not named by its frame number (e.g. 000123.png)") from None
