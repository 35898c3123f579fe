"""The contract every registered dataset importer keeps, checked on its tiny tree.

Parametrised over :func:`forgebench.datasets.list_datasets` (a registered importer without
a tree here fails, so a new dataset comes with one): its metadata is present beside it (the
class attributes that ``forgebench import --list`` and docs/datasets.md show), it reads its
official layout (``tests/dataset_trees.py``, built from the real clips) into a table that
passes :func:`~forgebench.datasets.check_table` with exactly :data:`VIDEO_COLUMNS` and paths
inside the root, it records the index files it read, and a malformed index or an index
path climbing out of the root is a one-line :class:`~forgebench.errors.DataError` naming
the file. The importers are called directly (no faces stage): the end-to-end imports are
``tests/test_datasets.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dataset_trees as trees
import pytest

from forgebench.datasets import VIDEO_COLUMNS, DatasetImporter, ImporterOptions, check_table, get_dataset, list_datasets
from forgebench.errors import DataError
from forgebench.media import write_png


def _df40_tree(root: Path, seg: dict[str, Path]) -> Path:
    """DF40's frame folders, with FaceForensics++'s split files beside them (``--splits``)."""
    trees.df40_tree(root, seg)
    (root / "ff_splits").mkdir()
    for split, pairs in {"train": [["000", "001"]], "val": [["002", "003"]], "test": [["004", "005"]]}.items():
        (root / "ff_splits" / f"{split}.json").write_text(json.dumps(pairs))
    return root


def _dfb_entries(frames: dict[str, list[str]]) -> dict:
    real = {n: {"label": "CelebDFv2_real", "frames": frames[n]} for n in ("id0_0000", "id1_0000")}
    fake = {"id0_id1_0000": {"label": "CelebDFv2_fake", "frames": frames["id0_id1_0000"]}}
    return {
        "Celeb-DF-v2": {
            "CelebDFv2_real": {"train": {"id0_0000": real["id0_0000"]}, "test": {"id1_0000": real["id1_0000"]}},
            "CelebDFv2_fake": {"test": fake},
        }
    }


def _deepfakebench_tree(root: Path, seg: dict[str, Path]) -> Path:
    """A DeepfakeBench dataset JSON (Windows-style frame paths relative to its ``rgb`` folder,
    as DeepfakeBench's own JSONs) and the PNG frames it lists."""
    frames: dict[str, list[str]] = {}
    for name, s in (("id0_0000", "d0a"), ("id1_0000", "d3a"), ("id0_id1_0000", "d3b")):
        folder = "Celeb-real" if name.count("id") == 1 else "Celeb-synthesis"
        frames[name] = []
        for k, frame in enumerate(trees._frames(seg[s], 0, 2)):
            write_png(root / "rgb" / "Celeb-DF-v2" / folder / "frames" / name / f"{k:03d}.png", frame)
            frames[name].append(f"Celeb-DF-v2\\{folder}\\frames\\{name}\\{k:03d}.png")
    (root / "Celeb-DF-v2.json").write_text(json.dumps(_dfb_entries(frames)))
    return root


def _dfb_escape(root: Path) -> str:
    doc = json.loads((root / "Celeb-DF-v2.json").read_text())
    doc["Celeb-DF-v2"]["CelebDFv2_real"]["train"]["id0_0000"]["frames"] = ["../../outside/000.png"]
    return json.dumps(doc)


@dataclass(frozen=True)
class Case:
    """How to exercise one importer.

    Attributes:
        tree: ``tree(root, segments) -> root`` building its official layout.
        source: what ``read`` gets, relative to the root (``""`` = the root itself).
        options: the importer's options; a callable of the root where they name paths.
        bad_index: ``(index file, text)`` making the index malformed.
        escape: ``(index file, text or text(root))`` making an index entry climb out of the
            root; ``None`` when the dataset's index names no paths (found by listing).
        folder: the root's folder name, as the download names it (some importers read the
            version from it); ``""`` = the dataset's registry name.
    """

    tree: Callable[[Path, dict[str, Path]], Path]
    bad_index: tuple[str, str]
    escape: tuple[str, Any] | None
    source: str = ""
    options: Callable[[Path], dict[str, Any]] = field(default=lambda root: {})
    folder: str = ""


CASES: dict[str, Case] = {
    "faceforensics": Case(trees.ff_tree, ("splits/train.json", "{"), None),
    "celebdf": Case(
        trees.celebdf_tree,
        ("List_of_testing_videos.txt", "2 Celeb-real/id4_0000.mp4\n"),
        ("List_of_testing_videos.txt", "1 ../outside.mp4\n"),
        folder="Celeb-DF-v2",
    ),
    "dfdc": Case(
        trees.dfdc_tree,
        ("dfdc_train_part_0/metadata.json", "{"),
        ("test/labels.csv", "filename,label\n../../x.mp4,0\n"),
    ),
    "dfdcp": Case(
        trees.dfdcp_tree,
        ("dataset.json", "{"),
        ("dataset.json", json.dumps({"../outside.mp4": {"label": "real", "set": "train", "target_id": "1"}})),
    ),
    "deeperforensics": Case(
        trees.deeperforensics_tree,
        ("lists/splits/train.txt", "not a video name\n"),
        ("lists/splits/train.txt", "../../000_M001.mp4\n"),
        folder="DeeperForensics-1.0",
    ),
    "df40": Case(
        _df40_tree,
        ("ff_splits/train.json", "{"),
        None,
        options=lambda root: {"splits": root / "ff_splits"},
        folder="DF40",
    ),
    "deepfakebench": Case(
        _deepfakebench_tree,
        ("Celeb-DF-v2.json", "{"),
        ("Celeb-DF-v2.json", _dfb_escape),
        source="Celeb-DF-v2.json",
        options=lambda root: {"frames_root": root / "rgb"},
    ),
    "folder": Case(
        trees.folder_tree,
        ("identities.csv", "path,label\nreal/bob.mp4,real\n"),
        ("identities.csv", "path,label,identity\n../seg/d0a.mp4,real,x\n"),
    ),
}


@pytest.fixture(scope="module")
def segments(clips_dir, tmp_path_factory) -> dict[str, Path]:
    return trees.segments(clips_dir, tmp_path_factory.mktemp("segments"))


@pytest.fixture
def tree(request, segments, tmp_path):
    """``(name, case, root)``: the tiny tree of the parametrised dataset, in its own folder."""
    name = request.param
    if name not in CASES:
        pytest.fail(
            f"dataset {name!r} is registered but has no tiny tree in tests/test_dataset_contract.py: add a Case"
        )
    case = CASES[name]
    return name, case, case.tree(tmp_path / (case.folder or name), segments)


def _read(name: str, case: Case, root: Path) -> tuple[DatasetImporter, Any]:
    importer = get_dataset(name)(case.options(root))
    return importer, importer.read(root / case.source if case.source else root)


def _one_line_naming(exc: DataError, file: Path) -> None:
    message = str(exc)
    assert "\n" not in message, message
    assert str(file) in message or file.name in message, message


@pytest.mark.parametrize("name", list_datasets())
def test_metadata_is_declared_beside_the_importer(name):
    cls = get_dataset(name)
    assert issubclass(cls, DatasetImporter) and cls.name == name
    assert issubclass(cls.Options, ImporterOptions)
    meta = cls.metadata()
    assert set(meta) == {"name", "title", "citation", "homepage", "layout", "split_rule", "identity_rule", "options"}
    for key in ("title", "layout", "split_rule", "identity_rule"):
        assert isinstance(meta[key], str) and meta[key].strip(), f"{name}: {key} is empty"
    # a published dataset names its paper and where to get it; an importer of the user's own
    # files (nothing to cite) leaves both empty
    assert bool(meta["citation"]) == bool(meta["homepage"]), name
    assert all(url.strip().startswith("https://") for url in meta["homepage"].split(",") if meta["homepage"]), meta[
        "homepage"
    ]
    assert all(f.description for f in cls.Options.model_fields.values()), f"{name}: an option without a description"


@pytest.mark.parametrize("tree", list_datasets(), indirect=True)
def test_reads_its_tree_into_a_checked_table(tree):
    name, case, root = tree
    importer, table = _read(name, case, root)
    assert list(table.columns) == list(VIDEO_COLUMNS)
    checked = check_table(table, name)
    assert len(checked) == len(table) > 0
    assert set(table["label"]) == {0, 1} or set(table["label"]) == {1}  # fakes-only datasets without their real root
    inside = str(root.resolve())
    assert all(str(Path(p).resolve()).startswith(inside) for p in table["path"]), "a path outside the dataset root"
    assert importer.sources and all(Path(s).is_file() for s in importer.sources), "index files read are recorded"


@pytest.mark.parametrize("tree", list_datasets(), indirect=True)
def test_malformed_index_is_one_line_naming_the_file(tree):
    name, case, root = tree
    file, text = case.bad_index
    (root / file).write_text(text)
    with pytest.raises(DataError) as info:
        _read(name, case, root)
    _one_line_naming(info.value, root / file)


@pytest.mark.parametrize("tree", list_datasets(), indirect=True)
def test_index_paths_never_leave_the_root(tree):
    """An index entry climbing out of the root is refused (one line naming the index file), or
    read as a name inside the root; never a path outside it."""
    name, case, root = tree
    if case.escape is None:
        pytest.skip(f"{name}'s index names no paths: its videos are found by listing the root")
    file, text = case.escape
    (root / file).write_text(text(root) if callable(text) else text)
    try:
        _, table = _read(name, case, root)
    except DataError as exc:
        _one_line_naming(exc, root / file)
    else:
        inside = str(root.resolve())
        assert all(str(Path(p).resolve()).startswith(inside) for p in table["path"])


def test_every_case_is_a_registered_dataset():
    assert set(CASES) <= set(list_datasets())
