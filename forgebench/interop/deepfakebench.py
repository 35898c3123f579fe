"""DeepfakeBench dataset JSON: export a run's face crops, read an index back.

DeepfakeBench (SCLBD/DeepfakeBench) finds its data through one JSON file per dataset,
``<dataset_json_folder>/<name>.json``, which its ``training/dataset/abstract_dataset.py``
reads as::

    {<name>: {<label name>: {<split>: {[<compression>:] {<video name>: {"label": <label name>,
                                                                        "frames": [<png>, ...],
                                                                        ["masks": [<png>, ...]]}}}}}}

(the format's facts: :mod:`forgebench.datasets._deepfakebench_json`). Two exports:

- :func:`export_to_deepfakebench` (``forgebench export deepfakebench RUN_DIR
  --deepfakebench-root DIR``): what DeepfakeBench's own ``train.py`` / ``test.py`` load
  unchanged: ``DIR/preprocessing/dataset_json/<name>.json`` with frame paths that start
  with ``./`` (DeepfakeBench prepends ``./<rgb_dir>\\`` to any other path, which no Linux
  file system resolves, so relative and absolute paths both fail there), relative to
  ``DIR``, the folder it runs from, and the crops linked (or copied) under
  ``DIR/datasets/rgb/<name>/`` as its preprocessing lays frames out
  (``.../frames/<video>/<frame:03d>.png``);
- :func:`export_deepfakebench` (``forgebench export deepfakebench RUN_DIR``): an index of the
  run's crops in place (paths relative to the run directory, or absolute), one file per
  dataset of the run.

Extra keys in a video entry (``video_id``, ``method``, ``compression``, ``identity``,
``source``, ``driving``) are ignored by DeepfakeBench and let the ``deepfakebench``
importer (``forgebench import deepfakebench``) and :func:`read_deepfakebench` rebuild
forgebench's unique video ids and people exactly.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd

from forgebench.datasets import NO_COMPRESSION, read_json_file
from forgebench.datasets.deepfakebench import (
    COMPRESSION_DATASETS,
    JSON_DIR,
    RGB_DIR,
    SPLITS,
    frame_index,
    label_dict_path,
    label_name,
    walk_index,
)
from forgebench.errors import DataError
from forgebench.fileio import write_json
from forgebench.rundir import RunDir
from forgebench.schemas import make_video_id

__all__ = ["dfb_label_name", "label_dict_path", "export_deepfakebench", "export_to_deepfakebench", "read_deepfakebench"]

#: Columns of :func:`read_deepfakebench`'s frame table.
COLUMNS = ["video_id", "dataset", "method", "compression", "video_name", "label", "split", "frame_index", "crop_path"]
#: DeepfakeBench label name of a (dataset, method) (:func:`forgebench.datasets._deepfakebench_json.label_name`).
dfb_label_name = label_name


def _faces(run: RunDir) -> pd.DataFrame:
    """The run's face rows with their split, checked to be exportable.

    Raises:
        DataError: no extracted faces (says to run ``forgebench extract``), a run of another
            format, rows without a split.
    """
    if not run.faces.manifest_file.is_file():
        raise DataError(
            f"{run.root}: no extracted faces (no {run.faces.manifest_file.relative_to(run.root)}); "
            f"run 'forgebench extract {run.root}' first"
        )
    run.check_format()
    manifest = run.faces.read_manifest()
    if manifest.empty:
        raise DataError(f"{run.faces.manifest_file}: no face rows; run 'forgebench extract {run.root}' first")
    if manifest["split"].isna().any():
        raise DataError(f"{run.faces.videos_file}: {int(manifest['split'].isna().sum())} face rows have no split")
    return manifest


def _index(rows: pd.DataFrame, run: RunDir, with_comp: bool, path_of) -> tuple[dict, dict]:
    """The nested index of face rows (label -> split -> [compression ->] video) and its label
    name -> 0/1 mapping; ``path_of(row, kind)`` gives each frame's crop (``kind`` ``frames``)
    or mask crop (``masks``) path as written. A video with mask crops lists them under
    ``masks``, one per frame (``""`` for a frame without one), as DeepfakeBench's FF++ JSON
    pairs ``frames`` with ``masks``."""
    tree: dict[str, dict] = {}
    labels: dict[str, int] = {}
    for (dataset, method, compression), group in rows.groupby(["dataset", "method", "compression"], sort=True):
        values = sorted({int(v) for v in group["label"]})
        if len(values) != 1:
            raise DataError(f"{run.faces.manifest_file}: method {method!r} has rows labelled {values}")
        name = label_name(dataset, method)
        labels[name] = values[0]
        splits = tree.setdefault(name, {s: {} for s in SPLITS})
        for (split, video_name), frames in group.groupby(["split", "video_name"], sort=True):
            frames = frames.sort_values("frame_index")
            first = frames.iloc[0]
            node = splits.setdefault(split, {})
            if with_comp:
                node = node.setdefault(compression, {})
            node[video_name] = {
                "label": name,
                "frames": [path_of(r, "frames") for r in frames.to_dict("records")],
                "video_id": first["video_id"],
                "method": method,
                "compression": compression,
                "identity": first["identity"],
                "source": first["source"],
                "driving": first["driving"],
            }
            if (frames["mask_path"] != "").any():
                node[video_name]["masks"] = [
                    path_of(r, "masks") if r["mask_path"] else "" for r in frames.to_dict("records")
                ]
    if with_comp:
        for splits in tree.values():
            for split in SPLITS:
                for c in sorted(rows["compression"].unique()):
                    splits[split].setdefault(c, {})
    return tree, labels


def export_deepfakebench(
    run_dir: str | os.PathLike,
    out: str | os.PathLike | None = None,
    absolute: bool = False,
    compression_level: bool | None = None,
) -> list[Path]:
    """Write an index of a run's face crops in DeepfakeBench's JSON layout, one file per dataset,
    the crops left in place.

    Reads the face rows with their ``split`` (``faces/manifest.parquet``) and writes
    ``{<dataset>: {<label name>: {"train"|"val"|"test": {<video_name>: {"label", "frames",
    ["masks",] "video_id", "method", "compression", "identity", "source", "driving"}}}}}`` (``masks``:
    the fake's mask crops, one per frame, where the run has them) with every
    split key under every label, videos sorted by name, frames by frame index; beside it
    ``<name>_label_dict.json`` (label name -> 0 real / 1 fake). Frame paths are relative to
    the run directory (or absolute): DeepfakeBench itself cannot open such paths (see the
    module docstring); :func:`export_to_deepfakebench` writes what it loads.

    Args:
        run_dir: the run directory.
        out: the JSON file (default ``RUN_DIR/export/deepfakebench/<dataset>.json``); only
            allowed when the run holds one dataset.
        absolute: absolute frame paths instead of paths relative to ``run_dir``.
        compression_level: put the compression (``c23``) between split and video, as
            DeepfakeBench requires for its FaceForensics++ names; ``None`` = only for those
            names.

    Returns:
        The index files written (the label-dict files sit beside them).

    Raises:
        DataError: no run directory or faces, a run of another format, rows without a
            split, a method with both labels, or ``out`` for a run of several datasets.
    """
    run = RunDir(run_dir)
    manifest = _faces(run)
    datasets = sorted(manifest["dataset"].unique())
    if out is not None and len(datasets) > 1:
        raise DataError(f"{run.faces.manifest_file}: the run holds several datasets {datasets}; leave out --out")
    written = []
    for dataset in datasets:
        rows = manifest[manifest["dataset"] == dataset]
        path = Path(out) if out is not None else run.export.deepfakebench_index(dataset)
        with_comp = dataset in COMPRESSION_DATASETS if compression_level is None else compression_level

        def path_of(r: dict, kind: str) -> str:
            p = Path(r["crop_path"] if kind == "frames" else r["mask_path"])
            return run.resolve(p).resolve().as_posix() if absolute else p.as_posix()

        tree, labels = _index(rows, run, with_comp, path_of)
        write_json(path, {dataset: tree})
        write_json(label_dict_path(path), labels)
        written.append(path)
    return written


def export_to_deepfakebench(
    run_dir: str | os.PathLike,
    dfb_root: str | os.PathLike,
    name: str | None = None,
    copy: bool = False,
    compression_level: bool | None = None,
) -> tuple[Path, Path, int]:
    """Write a run's face crops so that DeepfakeBench's own ``train.py`` / ``test.py`` load them
    unchanged (module docstring).

    Writes ``DFB_ROOT/preprocessing/dataset_json/<name>.json`` (every face row of the run
    under the top-level key ``<name>``, label names of :func:`dfb_label_name`, frame paths
    ``./datasets/rgb/<name>/<dataset>/<method>/<compression>/frames/<video>/<frame:03d>.png``;
    a fake's mask crops listed as ``masks`` and placed at the same path with ``masks`` for
    ``frames``, where DeepfakeBench's loader looks for them)
    and ``<name>_label_dict.json`` beside it, and places each crop at that path under
    ``DFB_ROOT`` as a symbolic link to the run's file (or a copy). To use it, merge the label
    dict into ``label_dict`` of DeepfakeBench's ``training/config/train_config.yaml`` and
    ``test_config.yaml``, set ``lmdb: false`` there, and run from ``DFB_ROOT``: ``python
    training/train.py --detector_path training/config/detector/xception.yaml
    --train_dataset <name> --test_dataset <name>``.

    Args:
        run_dir: the run directory.
        dfb_root: the DeepfakeBench folder (the folder its scripts run from; made if missing).
        name: the dataset name in DeepfakeBench (default: the run's dataset, ``data.dataset``
            or the dataset part of its video ids); file stem and top-level key.
        copy: copy the crops instead of linking them.
        compression_level: the compression level between split and video (default: only
            for DeepfakeBench's FaceForensics++ names, which its loader reads that way).

    Returns:
        ``(the JSON file, the crops folder DFB_ROOT/datasets/rgb/<name>, files placed)`` (face
        crops and mask crops).

    Raises:
        DataError: no faces, rows without a split, a method with both labels, a name with
            ``/`` or a crop file missing.
    """
    run = RunDir(run_dir)
    manifest = _faces(run)
    if name is None:
        datasets = sorted(manifest["dataset"].unique())
        name = datasets[0] if len(datasets) == 1 else run.root.name
    if not name or "/" in name or "\\" in name:
        raise DataError(f"--name {name!r}: a DeepfakeBench dataset name is a file stem (no '/')")
    root = Path(dfb_root).absolute()
    rgb = root / RGB_DIR / name
    placed = 0

    def path_of(r: dict, kind: str) -> str:
        nonlocal placed
        rel = Path(
            RGB_DIR,
            name,
            r["dataset"],
            r["method"],
            r["compression"],
            kind,  # frames/ and masks/ side by side: DeepfakeBench finds a mask by that replacement
            r["video_name"],
            f"{int(r['frame_index']):03d}.png",
        )
        src = run.resolve(r["crop_path"] if kind == "frames" else r["mask_path"]).absolute()
        dst = root / rel
        if not src.is_file():
            what = "face crop" if kind == "frames" else "mask crop"
            raise DataError(f"{src}: {what} of {r['video_id']} frame {r['frame_index']} is missing")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.is_symlink() or dst.exists():
            dst.unlink()
        if copy:
            shutil.copyfile(src, dst)
        else:
            os.symlink(src, dst)
        placed += 1
        return "./" + rel.as_posix()

    with_comp = name in COMPRESSION_DATASETS if compression_level is None else compression_level
    tree, labels = _index(manifest, run, with_comp, path_of)
    path = root / JSON_DIR / f"{name}.json"
    write_json(path, {name: tree})
    write_json(label_dict_path(path), labels)
    return path, rgb, placed


def read_deepfakebench(
    json_path: str | os.PathLike,
    root: str | os.PathLike | None = None,
    label_dict: dict[str, int] | None = None,
) -> pd.DataFrame:
    """Read a DeepfakeBench dataset JSON into a frame table (one row per frame).

    Accepts both layouts (with and without the compression level). Entries written by
    forgebench carry ``video_id``, ``method`` and ``compression``, so its exports read back
    to the manifest's values; for DeepfakeBench's own files ``method`` is the label name,
    ``compression`` the compression key (``orig`` without one) and ``video_id`` is built
    with :func:`forgebench.schemas.make_video_id`.

    Args:
        json_path: the index file.
        root: folder the frame paths are made relative to: absolute paths under it become
            POSIX paths relative to it; relative paths are kept. ``None`` keeps them as written.
        label_dict: label name -> 0/1; default the ``<name>_label_dict.json`` beside the
            file if present, else 0 for label names containing ``real`` and 1 for the others.

    Returns:
        DataFrame with columns ``video_id, dataset, method, compression, video_name, label``
        (int 0/1), ``split``, ``frame_index`` (int, from the frame file name), ``crop_path``
        (str), sorted by video id, split and frame index.

    Raises:
        DataError: the file is missing, not JSON, not in this layout, a label name not in
            ``label_dict``, or a frame file name that is not a frame number.
    """
    json_path = Path(json_path)
    doc = read_json_file(json_path, "DeepfakeBench dataset JSON")
    if label_dict is None and label_dict_path(json_path).is_file():
        label_dict = read_json_file(label_dict_path(json_path), "DeepfakeBench label dict")
    root_path = Path(root).resolve() if root is not None else None
    rows = []
    for dataset, label_name_, split, comp, video_name, entry in walk_index(doc, json_path):
        if label_dict is None:
            label = 0 if "real" in label_name_.lower() else 1
        elif label_name_ in label_dict:
            label = int(label_dict[label_name_])
        else:
            raise DataError(f"{json_path}: label {label_name_!r} is not in the label dict ({sorted(label_dict)})")
        method = entry.get("method", label_name_)
        compression = entry.get("compression", comp or NO_COMPRESSION)
        video_id = entry.get("video_id") or make_video_id(dataset, method, compression, video_name)
        for frame in entry["frames"]:
            rows.append(
                {
                    "video_id": video_id,
                    "dataset": dataset,
                    "method": method,
                    "compression": compression,
                    "video_name": video_name,
                    "label": label,
                    "split": split,
                    "frame_index": frame_index(frame, json_path),
                    "crop_path": _rel(frame, root_path),
                }
            )
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["label"] = df["label"].astype(int)
    df["frame_index"] = df["frame_index"].astype(int)
    return df.sort_values(["video_id", "split", "frame_index"], ignore_index=True)


def _rel(frame: str, root: Path | None) -> str:
    p = Path(frame)
    if root is None or not p.is_absolute():
        return p.as_posix()
    try:
        return p.resolve().relative_to(root).as_posix()
    except ValueError:
        return p.as_posix()
