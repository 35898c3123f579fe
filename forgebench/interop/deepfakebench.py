"""DeepfakeBench dataset JSON: export a run's face crops, read an index back.

DeepfakeBench (SCLBD/DeepfakeBench) finds its data through one JSON file per dataset,
``<dataset_json_folder>/<name>.json``, which its ``abstract_dataset.py`` reads as::

    {<name>: {<label name>: {<split>: {<video name>: {"label": <label name>,
                                                      "frames": [<png>, ...]}}}}}

``<split>`` is ``train``, ``val`` or ``test``; the label name of every video entry is
turned into 0/1 by the ``label_dict`` of DeepfakeBench's config (``FF-real: 0``,
``FF-DF: 1``, ...). For its FaceForensics++ family of names (``FaceForensics++``,
``FF-DF``, ``FF-F2F``, ``FF-FS``, ``FF-NT``, ``DeepFakeDetection``, ``FaceShifter``)
DeepfakeBench expects one more level, the compression (``c23``), between split and video
(``preprocessing/rearrange.py`` writes it that way).

forgebench's export keeps the contract dataset -> label -> split -> video -> frames and
adds the compression level only where DeepfakeBench needs it (see
:func:`export_deepfakebench`). Extra keys in a video entry (``video_id``, ``method``,
``compression``) are ignored by DeepfakeBench and let :func:`read_deepfakebench` rebuild
forgebench's unique video ids exactly.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from forgebench.errors import DataError
from forgebench.rundir import RunDir, make_video_id, write_json

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
#: dataset names DeepfakeBench reads with a compression level under the split.
DFB_COMPRESSION_DATASETS = ("FaceForensics++", "FF-DF", "FF-F2F", "FF-FS", "FF-NT", "DeepFakeDetection", "FaceShifter")
COLUMNS = ["video_id", "dataset", "method", "compression", "video_name", "label", "split", "frame_index", "crop_path"]


def dfb_label_name(dataset: str, method: str) -> str:
    """DeepfakeBench label name of a (dataset, method): DeepfakeBench's own names for
    FaceForensics++ (``FF-real``, ``FF-DF``, ``FF-F2F``, ``FF-FS``, ``FF-NT``, ``FF-FH``),
    else ``"<dataset>-<method>"`` (``"samples-real"``, ``"samples-autoencoder_swap"``)."""
    if dataset == "FaceForensics++" and method in FF_LABELS:
        return FF_LABELS[method]
    return f"{dataset}-{method}"


def label_dict_path(json_path: str | os.PathLike) -> Path:
    """The label mapping written next to an index: ``<dir>/<name>_label_dict.json``."""
    json_path = Path(json_path)
    return json_path.with_name(f"{json_path.stem}_label_dict.json")


def export_deepfakebench(
    run_dir: str | os.PathLike,
    out: str | os.PathLike | None = None,
    absolute: bool = False,
    compression_level: bool | None = None,
) -> list[Path]:
    """Write a run's face crops as a DeepfakeBench dataset JSON, one file per dataset.

    Reads the face rows with their ``split`` (``faces/manifest.parquet``,
    :meth:`forgebench.rundir.RunDir.read_faces`) and writes::

        {<dataset>: {<label name>: {"train"|"val"|"test": {<video_name>: {
            "label": <label name>, "frames": [<crop png>, ...],   # what DeepfakeBench reads
            "video_id": ..., "method": ..., "compression": ...}}}}}

    Label names come from :func:`dfb_label_name`; every label has all three split keys
    (DeepfakeBench indexes them unconditionally), videos are sorted by name and frames by
    frame index; crop file names are ``<frame:06d>.png`` as DeepfakeBench's frame sorting
    expects. Beside each index, ``<name>_label_dict.json`` maps every label name to 0
    (real) / 1 (fake): merge it into the ``label_dict`` of DeepfakeBench's config.
    To use it, copy the index into DeepfakeBench's ``dataset_json_folder`` and name the
    dataset (the file stem, which equals the top-level key) in ``train_dataset`` /
    ``test_dataset``. DeepfakeBench opens frame paths as given: relative paths (the
    default) are relative to the run directory, so run it from there or export with
    ``absolute=True``.

    Differences from DeepfakeBench's own files: a label holds the videos of one method
    of one dataset (DeepfakeBench's per-manipulation files ``FF-DF.json`` pair ``FF-real``
    and ``FF-DF`` under a top-level key ``FF-DF``; here one file holds every method);
    there are no ``masks``; and the compression level is present only when
    ``compression_level`` says so.

    Args:
        run_dir: the run directory.
        out: the JSON file (default ``RUN_DIR/export/deepfakebench/<dataset>.json``);
            only allowed when the run holds one dataset. DeepfakeBench looks the dataset
            up by file stem, so keep ``<dataset>.json``.
        absolute: write absolute frame paths instead of paths relative to ``run_dir``.
        compression_level: put the compression (``c23``) between split and video, as
            DeepfakeBench requires for its FaceForensics++ names; ``None`` (default) =
            only for those names (:data:`DFB_COMPRESSION_DATASETS`).

    Returns:
        The index files written (the label-dict files sit beside them).

    Raises:
        DataError: no run directory or no face rows (says to run ``forgebench extract``
            there), a run of another format, rows without a split, a method with both real
            and fake labels, or ``out`` given for a run with several datasets.
    """
    run = RunDir(run_dir)
    run_dir = run.root
    if not run.faces_file.is_file():
        raise DataError(f"{run_dir}: no extracted faces (no {run.faces_file.relative_to(run_dir)}); run 'forgebench extract {run_dir}' first")
    run.check_format()
    manifest = run.read_faces()
    if manifest.empty:
        raise DataError(f"{run.faces_file}: no face rows; run 'forgebench extract {run_dir}' first")
    if "split" not in manifest or manifest["split"].isna().any():
        n = int(manifest["split"].isna().sum()) if "split" in manifest else len(manifest)
        raise DataError(f"{run.videos_file}: {n} face rows have no split (identity not in this table)")
    datasets = sorted(manifest["dataset"].unique())
    if out is not None and len(datasets) > 1:
        raise DataError(f"{run.faces_file}: the run holds several datasets {datasets}; leave out --out")
    written = []
    for dataset in datasets:
        rows = manifest[manifest["dataset"] == dataset]
        path = Path(out) if out is not None else run.deepfakebench_index(dataset)
        with_comp = dataset in DFB_COMPRESSION_DATASETS if compression_level is None else compression_level
        doc, labels = _index(rows, run, dataset, absolute, with_comp)
        write_json(path, doc)
        write_json(label_dict_path(path), labels)
        written.append(path)
    return written


def _index(rows: pd.DataFrame, run: RunDir, dataset: str, absolute: bool, with_comp: bool) -> tuple[dict, dict]:
    """The nested index of one dataset's rows and its label name -> 0/1 mapping."""
    tree: dict[str, dict] = {}
    labels: dict[str, int] = {}
    for (method, compression), group in rows.groupby(["method", "compression"], sort=True):
        values = sorted(set(int(v) for v in group["label"]))
        if len(values) != 1:
            raise DataError(f"{run.faces_file}: method {method!r} has rows labelled {values}")
        name = dfb_label_name(dataset, method)
        labels[name] = values[0]
        splits = tree.setdefault(name, {s: {} for s in SPLITS})
        for (split, video_name), frames in group.groupby(["split", "video_name"], sort=True):
            frames = frames.sort_values("frame_index")
            paths = [
                run.resolve(p).resolve().as_posix() if absolute else Path(p).as_posix() for p in frames["crop_path"]
            ]
            entry = {
                "label": name,
                "frames": paths,
                "video_id": frames["video_id"].iloc[0],
                "method": method,
                "compression": compression,
            }
            node = splits.setdefault(split, {})
            if with_comp:
                node = node.setdefault(compression, {})
            node[video_name] = entry
    if with_comp:
        comps = sorted(rows["compression"].unique())
        for splits in tree.values():
            for split in SPLITS:
                for c in comps:
                    splits[split].setdefault(c, {})
    return {dataset: tree}, labels


def read_deepfakebench(
    json_path: str | os.PathLike,
    root: str | os.PathLike | None = None,
    label_dict: dict[str, int] | None = None,
) -> pd.DataFrame:
    """Read a DeepfakeBench dataset JSON into a frame table (one row per frame).

    Accepts both layouts: dataset -> label -> split -> video -> frames, and the
    FaceForensics++ one with a compression level between split and video. Video
    entries written by :func:`export_deepfakebench` carry ``video_id``, ``method`` and
    ``compression``, so its export reads back to the manifest's values; for
    DeepfakeBench's own files ``method`` is the label name, ``compression`` the
    compression key (``"unknown"`` without one) and ``video_id`` is built with
    :func:`forgebench.faces.extract.make_video_id`.

    Args:
        json_path: the index file.
        root: folder the frame paths are made relative to: absolute paths under it
            become POSIX paths relative to it (so an ``absolute=True`` export of a run
            reads back like the default one with ``root=RUN_DIR``); relative paths are
            kept. ``None`` keeps every path as written.
        label_dict: label name -> 0/1; default: the ``<name>_label_dict.json`` beside
            the file if present, else 0 for label names containing ``real`` and 1 for
            the others.

    Returns:
        DataFrame with columns ``video_id, dataset, method, compression, video_name,
        label`` (int 0/1), ``split``, ``frame_index`` (int, from the frame file name
        ``000123.png``), ``crop_path`` (str), sorted by video id, split and frame index.

    Raises:
        DataError: the file is missing, not JSON, not in this layout, a label name is
            not in ``label_dict``, or a frame file name is not a frame number.
    """
    json_path = Path(json_path)
    doc = _load_json(json_path)
    if label_dict is None and label_dict_path(json_path).is_file():
        label_dict = _load_json(label_dict_path(json_path))
    root_path = Path(root).resolve() if root is not None else None
    rows = []
    if not isinstance(doc, dict):
        raise DataError(f"{json_path}: not a DeepfakeBench index (top level must map dataset names to labels)")
    for dataset, by_label in doc.items():
        for label_name, by_split in _mapping(by_label, json_path, dataset).items():
            label = _label_value(label_name, label_dict, json_path)
            for split, node in _mapping(by_split, json_path, f"{dataset}/{label_name}").items():
                for comp, videos in _videos(node, json_path, f"{dataset}/{label_name}/{split}"):
                    for video_name, entry in videos.items():
                        method = entry.get("method", label_name)
                        compression = entry.get("compression", comp or "unknown")
                        video_id = entry.get("video_id") or make_video_id(dataset, method, compression, video_name)
                        for frame in entry["frames"]:
                            rows.append(
                                {
                                    "video_id": video_id, "dataset": dataset, "method": method,
                                    "compression": compression, "video_name": video_name, "label": label,
                                    "split": split, "frame_index": _frame_index(frame, json_path),
                                    "crop_path": _rel(frame, root_path),
                                }
                            )
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["label"] = df["label"].astype(int)
    df["frame_index"] = df["frame_index"].astype(int)
    return df.sort_values(["video_id", "split", "frame_index"], ignore_index=True)


def _load_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None


def _mapping(value, path: Path, where: str) -> dict:
    if not isinstance(value, dict):
        raise DataError(f"{path}: {where} must be a mapping, got {type(value).__name__}")
    return value


def _is_video(entry) -> bool:
    return isinstance(entry, dict) and isinstance(entry.get("frames"), list)


def _videos(node, path: Path, where: str):
    """``(compression or None, {video_name: entry})`` pairs of one split node."""
    node = _mapping(node, path, where)
    if all(_is_video(v) for v in node.values()):
        return [(None, node)]
    out = []
    for comp, videos in node.items():
        videos = _mapping(videos, path, f"{where}/{comp}")
        bad = [k for k, v in videos.items() if not _is_video(v)]
        if bad:
            raise DataError(f"{path}: {where}/{comp}/{bad[0]} is not a video entry with a 'frames' list")
        out.append((comp, videos))
    return out


def _label_value(name: str, label_dict: dict | None, path: Path) -> int:
    if label_dict is None:
        return 0 if "real" in name.lower() else 1
    if name not in label_dict:
        raise DataError(f"{path}: label {name!r} is not in the label dict ({sorted(label_dict)})")
    return int(label_dict[name])


def _frame_index(frame: str, path: Path) -> int:
    stem = Path(str(frame).replace("\\", "/")).stem
    try:
        return int(stem)
    except ValueError:
        raise DataError(f"{path}: frame file {frame!r} is not named by its frame number (e.g. 000123.png)") from None


def _rel(frame: str, root: Path | None) -> str:
    p = Path(frame)
    if root is None or not p.is_absolute():
        return p.as_posix()
    try:
        return p.resolve().relative_to(root).as_posix()
    except ValueError:
        return p.as_posix()
