"""Shared machinery of the dataset importers (:mod:`forgebench.datasets`): the table of videos
an importer returns, the base class, and the readers every importer uses (index files,
labels, paths that must stay inside the dataset's root).

An importer reads a dataset root exactly as its official download leaves it and returns
one row per video (:data:`VIDEO_COLUMNS`); it never sees a run directory. Writing the run
(faces, identity check, splits) is :mod:`forgebench.importing`'s job.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar

import pandas as pd
from pydantic import BeforeValidator, ValidationError

from forgebench.config import Strict, format_errors
from forgebench.errors import ConfigError, DataError
from forgebench.media import VIDEO_EXTENSIONS

__all__ = [
    "VIDEO_COLUMNS",
    "KINDS",
    "SPLITS",
    "NO_COMPRESSION",
    "IMAGE_EXTENSIONS",
    "CommaList",
    "ImporterOptions",
    "DatasetImporter",
    "video_row",
    "inside_root",
    "require_file",
    "read_json_file",
    "read_text_lines",
    "read_csv_file",
    "parse_label",
    "video_files",
    "frame_files",
    "unique_names",
    "check_table",
]

#: Columns of the table an importer returns, one row per video (or frame folder).
#:
#: - ``path`` (str): the video file, or the folder of frames, absolute;
#: - ``kind`` (str): ``video`` (a video file: the faces stage samples and crops its frames),
#:   ``frames`` (a folder of frame images: the faces stage crops them like video frames) or
#:   ``crops`` (aligned face crops taken as they are, the faces stage skipped);
#: - ``dataset``, ``method``, ``compression``, ``video_name``: the parts of the unique video
#:   id ``<dataset>/<method>/<compression>/<video_name>`` (``method`` is ``real`` or the
#:   forgery method as the dataset's authors write it);
#: - ``label`` (int): 0 real, 1 fake;
#: - ``identity`` (str): the person shown (the target of a fake: the video whose frames it
#:   uses); ``source``: the person a face swap pastes in; ``driving``: the person whose
#:   motion a reenactment shows (``""`` where unknown or not applicable);
#: - ``split`` (str): the official split (``train``, ``val``, ``test``) or ``""`` where the
#:   dataset has none for this video;
#: - ``label_from``, ``identity_from``, ``pair_from``, ``split_from`` (str): where each value
#:   came from (a folder, a file name rule, an index file and its field);
#: - ``frames``, ``landmarks``, ``masks`` (list of str): for ``frames`` and ``crops`` rows,
#:   the image files in frame order, and per frame the landmark (``.npy``) and mask files
#:   where the dataset ships them (``""`` for a frame without one; empty lists otherwise);
#:   for a ``video`` row, ``masks`` holds its one mask video where the dataset ships it
#:   (FaceForensics++'s ``manipulated_sequences/<Method>/masks/videos/<name>.mp4``).
VIDEO_COLUMNS = (
    "path",
    "kind",
    "dataset",
    "method",
    "compression",
    "video_name",
    "label",
    "identity",
    "source",
    "driving",
    "split",
    "label_from",
    "identity_from",
    "pair_from",
    "split_from",
    "frames",
    "landmarks",
    "masks",
)
KINDS = ("video", "frames", "crops")
SPLITS = ("train", "val", "test")
#: The compression part of video ids for datasets distributed at one quality: as downloaded.
NO_COMPRESSION = "orig"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
_LABELS = {"real": 0, "0": 0, "fake": 1, "1": 1}


def _split_commas(value: Any) -> Any:
    return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value


#: An option holding a list of names, given on the command line comma-separated (``--methods Deepfakes,Face2Face``).
CommaList = Annotated[list[str], BeforeValidator(_split_commas)]


class ImporterOptions(Strict):
    """Options an importer takes (CLI flags of ``forgebench import NAME``); none by default.

    An importer declares its own subclass (pydantic, unknown keys are errors): e.g. the
    FaceForensics++ importer's ``compression``, ``methods`` and ``splits``.
    """


class DatasetImporter:
    """Base of a dataset importer (one file per dataset in ``datasets/``).

    A subclass sets the class attributes below (the metadata that ``forgebench import
    --list`` and docs/datasets.md show) and implements :meth:`read`.

    Class attributes:
        name: the registry name (``faceforensics``), set by ``@register_dataset``.
        title: the dataset as its authors write it (``FaceForensics++``).
        citation: the paper to cite.
        homepage: where the dataset is requested or downloaded.
        layout: the folder layout :meth:`read` expects (as the official download leaves it).
        split_rule: how the split of a video is found.
        identity_rule: how the person shown (and the source or driving person) is found.
        Options: the :class:`ImporterOptions` subclass of its options.

    Args:
        options: a mapping of option values (CLI flags), validated with :attr:`Options`.

    Raises:
        ConfigError: an unknown option or a wrong value (names the importer and the key).
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    homepage: ClassVar[str] = ""
    layout: ClassVar[str] = ""
    split_rule: ClassVar[str] = ""
    identity_rule: ClassVar[str] = ""
    Options: ClassVar[type[ImporterOptions]] = ImporterOptions

    def __init__(self, options: Mapping[str, Any] | ImporterOptions | None = None) -> None:
        if isinstance(options, ImporterOptions):
            options = options.model_dump()
        try:
            self.options = self.Options.model_validate(dict(options or {}))
        except ValidationError as exc:
            raise ConfigError(format_errors(exc, f"forgebench import {self.name}", "--")) from None
        #: index files read (the import records each with its SHA-256).
        self.sources: list[Path] = []
        #: videos left out while reading, by reason (``{"not in a split file": 3}``).
        self.left_out: dict[str, int] = {}

    def read(self, root: Path) -> pd.DataFrame:
        """The table of videos (:data:`VIDEO_COLUMNS`) of the dataset at ``root``.

        Raises:
            DataError: a missing or malformed index file, a listed video that is missing, a
                path that escapes the root, a bad label (one line naming the file and entry).
        """
        raise NotImplementedError(f"dataset importer {self.name!r} must implement read(root)")

    def leave_out(self, reason: str, n: int = 1) -> None:
        """Count ``n`` videos left out for ``reason`` (reported by the import)."""
        self.left_out[reason] = self.left_out.get(reason, 0) + n

    @classmethod
    def metadata(cls) -> dict[str, str]:
        """``name``, ``title``, ``citation``, ``homepage``, ``layout``, ``split_rule``,
        ``identity_rule`` and the options (``--flag``: description) as text."""
        fields = cls.Options.model_fields
        options = "; ".join(f"--{k.replace('_', '-')}: {f.description or ''}".strip() for k, f in fields.items())
        return {
            "name": cls.name,
            "title": cls.title,
            "citation": cls.citation,
            "homepage": cls.homepage,
            "layout": cls.layout,
            "split_rule": cls.split_rule,
            "identity_rule": cls.identity_rule,
            "options": options,
        }


def video_row(
    path: str | os.PathLike,
    *,
    dataset: str,
    method: str,
    compression: str,
    video_name: str,
    label: int,
    identity: str,
    label_from: str,
    identity_from: str,
    split: str = "",
    split_from: str = "",
    source: str = "",
    driving: str = "",
    pair_from: str = "",
    kind: str = "video",
    frames: Iterable[str] = (),
    landmarks: Iterable[str] = (),
    masks: Iterable[str] = (),
) -> dict[str, Any]:
    """One row of :data:`VIDEO_COLUMNS` (keyword arguments as the columns; ``path`` made
    absolute without resolving links)."""
    return {
        "path": os.path.abspath(path),
        "kind": kind,
        "dataset": dataset,
        "method": method,
        "compression": compression,
        "video_name": video_name,
        "label": int(label),
        "identity": identity,
        "source": source,
        "driving": driving,
        "split": split,
        "label_from": label_from,
        "identity_from": identity_from,
        "pair_from": pair_from,
        "split_from": split_from,
        "frames": [str(f) for f in frames],
        "landmarks": [str(f) for f in landmarks],
        "masks": [str(f) for f in masks],
    }


def inside_root(root: str | os.PathLike, relative: str, index_file: str | os.PathLike, entry: str) -> Path:
    """``root / relative`` for a path read from an index file, refused when it leaves ``root``.

    ``relative`` may use ``/`` or ``\\``; it is normalised lexically (symbolic links inside
    the root are allowed, ``..`` that climbs out is not); an absolute path must lie under
    ``root``.

    Raises:
        DataError: the path escapes ``root`` (names the index file and the entry).
    """
    text = str(relative).replace("\\", "/")
    root_abs = os.path.abspath(root)
    if os.path.isabs(text):
        candidate = os.path.normpath(text)
    else:
        norm = posixpath.normpath(text)
        if norm == ".." or norm.startswith("../"):
            raise DataError(
                f"{index_file}: entry {entry!r}: path {relative!r} escapes the dataset root {root_abs} (through '..')"
            )
        candidate = os.path.normpath(os.path.join(root_abs, norm))
    if candidate != root_abs and not candidate.startswith(root_abs.rstrip(os.sep) + os.sep):
        raise DataError(f"{index_file}: entry {entry!r}: path {relative!r} is outside the dataset root {root_abs}")
    return Path(candidate)


def require_file(path: Path, index_file: str | os.PathLike, entry: str) -> Path:
    """``path``, checked to exist as a file.

    Raises:
        DataError: the file listed in ``index_file`` under ``entry`` is missing.
    """
    if not Path(path).is_file():
        raise DataError(f"{index_file}: entry {entry!r}: the listed video {path} is missing")
    return Path(path)


def read_json_file(path: str | os.PathLike, what: str) -> Any:
    """A JSON index file.

    Raises:
        DataError: missing, unreadable or not valid JSON (names the file and ``what``).
    """
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: {what} is not valid JSON ({exc})") from None


def read_text_lines(path: str | os.PathLike, what: str) -> list[tuple[int, str]]:
    """The non-empty lines of a text index file as ``(line number, stripped text)``.

    Raises:
        DataError: missing or unreadable (names the file and ``what``).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read {what} ({exc})") from None
    return [(k, line.strip()) for k, line in enumerate(text.splitlines(), 1) if line.strip()]


def read_csv_file(path: str | os.PathLike, what: str, required: tuple[str, ...]) -> pd.DataFrame:
    """A CSV index file read as strings (pandas), checked to have the ``required`` columns.

    Raises:
        DataError: missing, unreadable, not CSV, or a required column missing (names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} not found")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: cannot read {what} as CSV ({str(exc).splitlines()[0]})") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(f"{path}: {what} lacks column(s) {missing} (has {list(df.columns)})")
    return df


def parse_label(value: Any, index_file: str | os.PathLike, entry: str) -> int:
    """0 (real) or 1 (fake) from ``real``/``fake`` (any case) or ``0``/``1``.

    Raises:
        DataError: any other value (names the file and the entry).
    """
    key = str(value).strip().lower()
    if key not in _LABELS:
        raise DataError(f"{index_file}: entry {entry!r}: label {value!r} is neither real nor fake (real, fake, 0, 1)")
    return _LABELS[key]


def video_files(folder: str | os.PathLike) -> list[Path]:
    """Video files directly inside ``folder`` (by extension), sorted by name; [] when the
    folder does not exist."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)


def _frame_key(path: Path) -> tuple[int, int | str]:
    stem = path.stem
    return (0, int(stem)) if stem.isdigit() else (1, stem)


def frame_files(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside ``folder``, in frame order: numeric stems by their number
    (``000.png``, ``001.png``, ``010.png``), then the others by name."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS), key=_frame_key)


def unique_names(relative_paths: list[str]) -> list[str]:
    """Video names for files given by their paths relative to a method folder: the file stem,
    or, for stems that occur twice, the whole relative path without its extension with
    ``/`` replaced by ``-`` (video names may not hold ``/``)."""
    stems = [Path(p).stem for p in relative_paths]
    counts = pd.Series(stems).value_counts()
    return [
        s if counts[s] == 1 else re.sub(r"[/\\]", "-", str(Path(p).with_suffix("")))
        for s, p in zip(stems, relative_paths)
    ]


def check_table(table: pd.DataFrame | list[dict], where: str) -> pd.DataFrame:
    """An importer's table, checked: the columns of :data:`VIDEO_COLUMNS`, known kinds,
    labels 0/1, known splits, non-empty id parts without ``/``, and unique video ids.

    Returns:
        the table with the columns in order, ``label`` int64, index reset.

    Raises:
        DataError: the first problem, naming ``where`` and up to five offending videos.
    """
    df = pd.DataFrame(table, columns=list(VIDEO_COLUMNS)) if isinstance(table, list) else table
    missing = [c for c in VIDEO_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{where}: the importer's table lacks column(s) {missing}")
    df = df[list(VIDEO_COLUMNS)].reset_index(drop=True)
    if df.empty:
        raise DataError(f"{where}: no videos found (see docs/datasets.md for the layout read)")
    bad_kind = sorted(set(df["kind"]) - set(KINDS))
    if bad_kind:
        raise DataError(f"{where}: unknown kind(s) {bad_kind} (expected {KINDS})")
    bad_label = sorted({str(v) for v in df["label"] if v not in (0, 1)})
    if bad_label:
        raise DataError(f"{where}: label must be 0 (real) or 1 (fake), got {bad_label[:5]}")
    bad_split = sorted(set(df["split"].astype(str)) - {*SPLITS, ""})
    if bad_split:
        raise DataError(f"{where}: unknown split name(s) {bad_split[:5]} (expected train, val, test)")
    for col in ("dataset", "method", "compression", "video_name", "identity"):
        bad = [str(v) for v in df[col] if not isinstance(v, str) or not v or "/" in v]
        if bad:
            raise DataError(f"{where}: column {col} must be non-empty text without '/', got {bad[:5]}")
    ids = df["dataset"] + "/" + df["method"] + "/" + df["compression"] + "/" + df["video_name"]
    dup = sorted(ids[ids.duplicated()].unique())
    if dup:
        raise DataError(f"{where}: duplicate video id(s) {dup[:5]} (two entries name the same video)")
    return df.astype({"label": "int64"})
