"""The official index files that more than one importer reads: FaceForensics++'s split files
(FaceForensics++, DF40's FF domain) and Celeb-DF's ``List_of_testing_videos.txt`` (Celeb-DF,
DF40's CDF domain)."""

from __future__ import annotations

from pathlib import Path

from forgebench.datasets._base import read_json_file, read_text_lines
from forgebench.errors import DataError

__all__ = ["SPLIT_NAMES", "find_split_files", "read_ff_splits", "read_test_list"]

SPLIT_NAMES = ("train", "val", "test")


def find_split_files(root: str | Path, splits_dir: str | Path | None = None) -> dict[str, Path]:
    """The official split files ``{"train": path, "val": path, "test": path}``: in
    ``splits_dir`` if given, else in ``ROOT/splits/``, then ``ROOT/`` (the first folder
    holding all three).

    Raises:
        DataError: no folder holds all three files (the message lists where it looked).
    """
    places = [Path(splits_dir)] if splits_dir is not None else [Path(root) / "splits", Path(root)]
    for folder in places:
        files = {s: folder / f"{s}.json" for s in SPLIT_NAMES}
        if all(f.is_file() for f in files.values()):
            return files
    looked = ", ".join(str(p / "{train,val,test}.json") for p in places)
    raise DataError(
        f"FaceForensics++ split files not found (looked for {looked}); copy train.json, val.json and test.json "
        "from dataset/splits/ of the FaceForensics repository there"
    )


def read_ff_splits(
    root: str | Path, splits_dir: str | Path | None = None
) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """Read the official split files (:func:`find_split_files`).

    Returns:
        ``({sequence id: split}, [(split, id_a, id_b), ...])`` in file order.

    Raises:
        DataError: a file is missing, not JSON, not a list of pairs of id strings, or an id
            is in two splits (the message names the file and the entry).
    """
    split_of: dict[str, str] = {}
    where: dict[str, Path] = {}
    pairs = []
    for split, path in find_split_files(root, splits_dir).items():
        doc = read_json_file(path, "FaceForensics++ split file")
        if not isinstance(doc, list):
            raise DataError(f'{path}: a split file must be a list of id pairs like [["071", "054"], ...]')
        for item in doc:
            if not (isinstance(item, list) and len(item) == 2 and all(isinstance(v, str) for v in item)):
                raise DataError(f'{path}: entry {item!r} is not a pair of video id strings like ["071", "054"]')
            for vid in item:
                if split_of.get(vid, split) != split:
                    raise DataError(f"{path}: video {vid} is also in {where[vid]}; splits must be disjoint")
                split_of[vid], where[vid] = split, path
            pairs.append((split, item[0], item[1]))
    return split_of, pairs


def read_test_list(path: Path) -> dict[str, tuple[int, int]]:
    """``List_of_testing_videos.txt``: ``{"<folder>/<name>.mp4": (label, line)}`` with label
    0 real / 1 fake (the file writes 1 for real and 0 for fake).

    Raises:
        DataError: a line that is not ``<0|1> <relative path>`` or a video listed twice
            (names the file and the line).
    """
    out: dict[str, tuple[int, int]] = {}
    for number, line in read_text_lines(path, "Celeb-DF test list"):
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or parts[0] not in ("0", "1"):
            raise DataError(f"{path}: line {number}: {line!r} is not '<1 real | 0 fake> <folder>/<name>.mp4'")
        rel = parts[1].strip().replace("\\", "/")
        if rel in out:
            raise DataError(f"{path}: line {number}: {rel} is listed twice")
        out[rel] = (1 - int(parts[0]), number)
    return out
