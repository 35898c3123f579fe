"""The field's datasets in: every importer on a small tree in its official layout, built from
the real clips (``tests/dataset_trees.py``), the identity check finding one person under two
ids, the DeepfakeBench export and import round trip, and the cross-dataset protocol (a
detector trained on one imported run, evaluated on another, in the leaderboard's four
formats)."""

from __future__ import annotations

import json
import os
import shutil

import dataset_trees as trees
import dfb_vectors
import pandas as pd
import pytest
import yaml

from forgebench.cli import main
from forgebench.configure import config_from_dict
from forgebench.datasets import VIDEO_COLUMNS, get_dataset, list_datasets
from forgebench.errors import ConfigError, DataError
from forgebench.importing import import_dataset, importer_for
from forgebench.interop import export_deepfakebench, read_deepfakebench
from forgebench.media import read_image, write_png
from forgebench.splits import assign_splits, resolve_splits
from forgebench.stages import RunDir, bind
from forgebench.stages.extract import extract

CONFIG = {
    "name": "t",
    "device": "cpu",
    "faces": {"frames_per_video": 2, "crop_size": 64},
    "splits": {"min_per_split": 1},
    "detectors": {"meso4": {"epochs": 1, "batch_size": 8, "image_size": 64}},
    "protocol": {"n_boot": 50, "robustness": {"enabled": False}},
    "execution": {"workers": 1},
}
FRAME_COLUMNS = [
    "video_id",
    "dataset",
    "method",
    "compression",
    "video_name",
    "label",
    "split",
    "frame_index",
    "crop_path",
]


@pytest.fixture(scope="module")
def base(clips_dir, tmp_path_factory):
    """The segments of the sample clips, every dataset tree and the run config."""
    root = tmp_path_factory.mktemp("datasets")
    seg = trees.segments(clips_dir, root / "seg")
    made = {
        "ffpp": trees.ff_tree(root / "ffpp", seg),
        "celebdf": trees.celebdf_tree(root / "Celeb-DF-v2", seg),
        "dfdc": trees.dfdc_tree(root / "dfdc", seg),
        "dfdcp": trees.dfdcp_tree(root / "dfdcp", seg),
        "dfo": trees.deeperforensics_tree(root / "DeeperForensics-1.0", seg),
        "df40": trees.df40_tree(root / "DF40", seg),
        "folder": trees.folder_tree(root / "folder", seg),
    }
    (root / "cfg.yaml").write_text(yaml.safe_dump(CONFIG))
    return {"root": root, "seg": seg, "config": root / "cfg.yaml", **made}


def _import(base, name, source, out, *extra) -> RunDir:
    argv = [
        "--no-progress",
        "import",
        name,
        str(source),
        "--out",
        str(base["root"] / "runs" / out),
        "--config",
        str(base["config"]),
        *map(str, extra),
    ]
    assert main(argv) == 0
    return RunDir(base["root"] / "runs" / out)


@pytest.fixture(scope="module")
def ff_run(base) -> RunDir:
    return _import(base, "faceforensics", base["ffpp"], "ff")


@pytest.fixture(scope="module")
def cdf_run(base) -> RunDir:
    return _import(base, "celebdf", base["celebdf"], "cdf")


def _index(run: RunDir) -> pd.DataFrame:
    return run.faces.read_dataset_index().set_index("video_id")


def index_masks(run: RunDir, video_id: str) -> list[str]:
    """The ``masks`` entry of a video in the run's dataset index."""
    return list(_index(run).loc[video_id, "masks"])


def test_every_importer_is_listed(capsys):
    assert {"faceforensics", "celebdf", "dfdc", "dfdcp", "deeperforensics", "df40", "deepfakebench", "folder"} <= set(
        list_datasets()
    )
    assert main(["import", "--list"]) == 0
    out = capsys.readouterr().out
    for name in list_datasets():
        meta = get_dataset(name).metadata()
        assert f"{name}: {meta['title']}" in out and meta["split_rule"] in out and meta["identity_rule"] in out


def test_faceforensics(ff_run, base, capsys):
    videos = ff_run.faces.read_videos()
    assert dict(zip(videos["identity"], videos["split"])) == {
        "000": "train",
        "001": "train",
        "002": "val",
        "003": "val",
        "004": "test",
        "005": "test",
        "006": "test",
    }
    m = ff_run.faces.read_manifest()
    assert set(m["method"]) == {"real", "Deepfakes", "Face2Face"}
    fake = m[m["video_id"] == "FaceForensics++/Deepfakes/c23/000_001"].iloc[0]
    assert (fake["identity"], fake["source"], fake["driving"], fake["split"]) == ("000", "001", "", "train")
    f2f = m[m["video_id"] == "FaceForensics++/Face2Face/c23/004_005"].iloc[0]
    assert (f2f["source"], f2f["driving"]) == ("", "005")
    # the masks FF++ ships (Deepfakes here) are kept: each face's mask crop, cropped like the face
    df_rows = m[m["method"] == "Deepfakes"]
    assert (df_rows["mask_path"] != "").all() and (m.loc[m["method"] != "Deepfakes", "mask_path"] == "").all()
    assert index_masks(ff_run, "FaceForensics++/Deepfakes/c23/000_001")[0].endswith("masks/videos/000_001.mp4")
    mask = read_image(ff_run.resolve(fake["mask_path"]))
    assert mask.shape[:2] == (fake["crop_size"], fake["crop_size"]) and mask.max() == 255 and mask.min() == 0
    assert (m.groupby("method")["split"].nunique() == 3).all()
    index = _index(ff_run)
    assert index.loc["FaceForensics++/real/c23/006", "identity_from"] == "sequence id (file name)"
    assert index.loc["FaceForensics++/real/c23/006", "split_from"].startswith("the official split files")
    # 006 is the person of 001 (two segments of one clip) under another id: found, across splits
    check = ff_run.faces.read_identity_check()
    assert (
        check["model"] == "dlib"
        and check["threshold"] == 0.6
        and "dnn_face_recognition_ex" in check["threshold_source"]
    )
    pairs = {(p["identity_a"], p["identity_b"]) for p in check["likely_same_person"]}
    assert ("001", "006") in pairs and all(
        p["cross_within_ratio"] <= check["max_ratio"] for p in check["likely_same_person"]
    )
    assert {(p["identity_a"], p["identity_b"], p["split_a"], p["split_b"]) for p in check["across_splits"]} >= {
        ("001", "006", "train", "test")
    }
    assert check["summary"].startswith("identity check (dlib): 7 videos, ")
    prov = ff_run.read_provenance()["stages"]["import"]["dataset"]
    assert prov["importer"] == "faceforensics" and prov["options"]["compression"] == "c23"
    assert prov["left_out"]["method folder missing: FaceSwap"] == 1 and prov["fake_videos"] == {
        "Deepfakes": 6,
        "Face2Face": 6,
    }
    assert len(prov["sources"]) == 3 and all(len(s["sha256"]) == 64 for s in prov["sources"])
    # the identity check alone, and a resumed import redoes nothing
    capsys.readouterr()
    assert main(["--no-progress", "identities", str(ff_run.root)]) == 0
    assert "1 likely same-person pair under different ids, 1 of them across splits" in capsys.readouterr().out
    before = {p: p.stat().st_mtime_ns for p in (ff_run.root / "faces" / "crops").rglob("*.png")}
    _import(base, "faceforensics", base["ffpp"], "ff")
    assert {p: p.stat().st_mtime_ns for p in (ff_run.root / "faces" / "crops").rglob("*.png")} == before


def test_faceforensics_max_videos_and_settings(base, tmp_path):
    run = tmp_path / "small"
    argv = [
        "--no-progress",
        "import",
        "faceforensics",
        str(base["ffpp"]),
        "--out",
        str(run),
        "--methods",
        "Deepfakes",
        "--frames-per-video",
        "1",
        "--max-videos",
        "4",
    ]
    assert main(argv) == 0
    videos = pd.read_parquet(run / "faces" / "videos.parquet")
    assert sorted(videos["identity"]) == ["000", "001", "002", "003"]  # whole pairs from train, then val
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["generators"] == {} and cfg["data"]["crf"] == 23 and cfg["data"]["dataset"] == "FaceForensics++"
    with pytest.raises(ConfigError, match="imported with other settings"):
        import_dataset(
            "faceforensics", base["ffpp"], run, options={"methods": "Deepfakes"}, frames_per_video=3, progress=False
        )


def test_celebdf(cdf_run):
    index = _index(cdf_run)
    kept = index[index["status"] == "kept"]
    split = dict(zip(kept["video_name"], kept["split"]))
    # the test list as published; two files of id0 stay together
    assert {k for k, v in split.items() if v == "test"} == {
        "id4_0000",
        "id5_0000",
        "00000",
        "id4_id5_0000",
        "id5_id4_0000",
    }
    assert split["id0_0000"] == split["id0_0001"] and split["id0_0000"] in ("train", "val")
    assert index.loc["Celeb-DF-v2/Celeb-synthesis/orig/id0_id1_0000", "source"] == "id1"
    assert index.loc["Celeb-DF-v2/real/orig/00000", "identity"] == "yt00000"
    assert set(kept.loc[kept["split"] == "val", "split_from"]) == {
        "carved from the official train split (no validation split)"
    }
    # YouTube-real/00000 is the person of id1 under another id: found, across splits
    check = cdf_run.faces.read_identity_check()
    assert [(p["identity_a"], p["identity_b"]) for p in check["likely_same_person"]] == [("id1", "yt00000")]
    assert len(check["across_splits"]) == 1
    assert not (cdf_run.faces.read_manifest().groupby("identity")["split"].nunique() > 1).any()


def test_celebdf_bad_test_list(base, tmp_path):
    root = tmp_path / "Celeb-DF-v2"
    shutil.copytree(base["celebdf"], root)
    lst = root / "List_of_testing_videos.txt"
    for text, match in (
        ("1 Celeb-synthesis/id4_id5_0000.mp4\n", r"line 1: .* labelled real but its folder Celeb-synthesis holds fake"),
        (
            "1 Celeb-real/id9_0000.mp4\n",
            r"List_of_testing_videos.txt: entry 'line 1: Celeb-real/id9_0000.mp4': "
            r"the listed video .* is missing",
        ),
        ("2 Celeb-real/id4_0000.mp4\n", "line 1: .* is not '<1 real | 0 fake>"),
        ("1 ../outside.mp4\n", "escapes the dataset root"),
    ):
        lst.write_text(text)
        with pytest.raises(DataError, match=match):
            get_dataset("celebdf")().read(root)
    lst.unlink()
    out = tmp_path / "run"
    assert main(["--no-progress", "import", "celebdf", str(root), "--out", str(out)]) == 2
    assert not out.exists()  # nothing written when the dataset cannot be read


def test_dfdc_dfdcp(base):
    run = _import(base, "dfdc", base["dfdc"], "dfdc")
    index = _index(run)
    assert index.loc["DFDC/DFDC/orig/eeee", "identity"] == "aaaa"  # a fake takes its original's identity
    assert "metadata.json original" in index.loc["DFDC/DFDC/orig/eeee", "identity_from"]
    assert index.loc["DFDC/DFDC/orig/hhhh", "split"] == "test" and index.loc["DFDC/real/orig/gggg", "label"] == 0
    assert set(index.loc[index["status"] == "kept", "split"]) == {"train", "val", "test"}
    assert "validation carved" in run.read_provenance()["stages"]["import"]["dataset"]["validation"]
    # a listed video that does not decode is left out and reported, the others finish
    assert "cannot open" in run.faces.read_report()["DFDC/real/orig/iiii"]["error"]
    assert index.loc["DFDC/real/orig/iiii", "status"].startswith("left out: no face found or not decodable")
    run = _import(base, "dfdcp", base["dfdcp"], "dfdcp")
    index = _index(run)
    fake = index.loc["DFDCP/method_A/orig/100_101_A_001"]
    assert (fake["identity"], fake["source"], fake["label"]) == ("100", "101", 1)
    assert index.loc["DFDCP/method_B/orig/103_104_B_001", "split"] == "test"


def test_deeperforensics_real_root_and_fakes_only(base, ff_run):
    run = _import(base, "deeperforensics", base["dfo"], "dfo", "--real-root", base["ffpp"])
    index = _index(run)
    fake = index.loc["DeeperForensics-1.0/end_to_end/c23/004_M005"]
    assert (fake["identity"], fake["source"], fake["split"]) == ("004", "M005", "test")
    assert index.loc["FaceForensics++/real/c23/004", "split"] == "test"  # the real target takes its fakes' split
    alone = _import(base, "deeperforensics", base["dfo"], "dfo_fakes")
    assert alone.faces.read_videos().empty and (alone.faces.read_manifest()["label"] == 1).all()
    assert main(["--no-progress", "train", str(alone.root)]) == 2  # says the run holds fakes only


def test_df40_frames_and_two_real_roots(base):
    run = _import(base, "df40", base["df40"], "df40", "--real-root", base["ffpp"], "--real-root", base["celebdf"])
    index = _index(run)
    ff = index.loc["DF40/fomm/orig/ff-004_005"]
    assert (ff["kind"], ff["identity"], ff["driving"], ff["split"]) == (
        "frames",
        "004",
        "005",
        "test",
    )  # fomm: reenactment
    assert index.loc["DF40/simswap/orig/ff-000_001", "source"] == "001"
    assert index.loc["DF40/simswap/orig/cdf-id4_id5_0000", "split"] == "test"
    assert index.loc["DF40/stylegan3/orig/ff-00000", "split"] == "test"  # an image method: no person, a test set
    assert set(index.loc[index["label"] == 0, "dataset"]) == {"FaceForensics++", "Celeb-DF-v2"}
    faces = run.faces.read_manifest()
    crops = faces[faces["method"] == "simswap"]
    assert len(crops) and all(run.resolve(p).is_file() for p in crops["crop_path"])  # frames cropped by the faces stage
    assert (crops["crop_size"] == 64).all()


def test_folder_manifest(base):
    run = _import(base, "folder", base["folder"], "folder")
    videos = run.faces.read_videos()
    assert sorted(videos.loc[videos["identity"] == "alice", "video_name"]) == ["alice_1", "alice_2"]
    faces = run.faces.read_manifest()
    fake = faces[faces["video_name"] == "alice_bob"].iloc[0]
    assert (fake["method"], fake["identity"], fake["source"], fake["split"]) == ("swap", "alice", "bob", "train")
    check = run.faces.read_identity_check()
    assert [(p["identity_a"], p["identity_b"]) for p in check["likely_same_person"]] == [("bob", "carol")]
    assert check["across_splits"][0]["split_a"] == "train" and check["across_splits"][0]["split_b"] == "test"


@pytest.mark.parametrize(
    "manifest, match",
    [
        ("path,label\nreal/bob.mp4,real\n", r"identities.csv: folder manifest lacks column\(s\) \['identity'\]"),
        (
            "path,label,identity\nreal/bob.mp4,maybe,bob\n",
            r"identities.csv: entry 'line 2: real/bob.mp4': label 'maybe' is neither real nor fake",
        ),
        (
            "path,label,identity\nreal/nobody.mp4,real,x\n",
            r"identities.csv: entry 'line 2: real/nobody.mp4': the listed video .* is missing",
        ),
        (
            "path,label,identity\n../seg/d0a.mp4,real,x\n",
            r"identities.csv: entry 'line 2: ../seg/d0a.mp4': path .* escapes the dataset root",
        ),
        (
            "path,label,identity\nreal/bob.mp4,real,bob\nreal/bob.mp4,real,bob\n",
            r"identities.csv: duplicate video id\(s\) \['folder/real/orig/real-bob'\]",
        ),
        (
            "path,label,identity,split\nreal/bob.mp4,real,bob,holdout\n",
            r"split 'holdout' is not train, val, test or empty",
        ),
    ],
)
def test_bad_input_is_one_line_naming_file_and_entry(base, tmp_path, manifest, match):
    root = tmp_path / "folder"
    shutil.copytree(base["folder"], root)
    (root / "identities.csv").write_text(manifest)
    with pytest.raises(DataError, match=match):
        get_dataset("folder")().read(root)
    out = tmp_path / "run"
    assert main(["--no-progress", "import", "folder", str(root), "--out", str(out)]) == 2
    assert not out.exists()


def test_bad_index_files(base, tmp_path):
    bad = tmp_path / "dfdc"
    shutil.copytree(base["dfdc"], bad)
    (bad / "dfdc_train_part_0" / "metadata.json").write_text("{")
    with pytest.raises(DataError, match=r"dfdc_train_part_0/metadata.json: DFDC metadata is not valid JSON"):
        get_dataset("dfdc")().read(bad)
    (bad / "dfdc_train_part_0" / "metadata.json").write_text(json.dumps({"eeee.mp4": {"label": "FAKE"}}))
    with pytest.raises(DataError, match="entry 'eeee.mp4' is FAKE but names no 'original' video"):
        get_dataset("dfdc")().read(bad)
    ff = tmp_path / "ffpp"
    shutil.copytree(base["ffpp"], ff)
    (ff / "splits" / "val.json").write_text('[["000", "002"]]')
    with pytest.raises(DataError, match=r"val.json: video 000 is also in .*train.json"):
        get_dataset("faceforensics")().read(ff)
    with pytest.raises(ConfigError, match=r"forgebench import faceforensics: takes no --real-root"):
        importer_for("faceforensics", {"real_root": [ff]})
    out = tmp_path / "r"
    assert main(["--no-progress", "import", "faceforensics", str(ff), "--out", str(out), "--real-root", str(ff)]) == 2
    assert not out.exists()
    with pytest.raises(ConfigError, match="unknown dataset 'nope'; registered: celebdf"):
        importer_for("nope")


def test_resolve_splits_rules():
    def rows(*specs):
        return pd.DataFrame(
            [
                {"video_id": v, "identity": i, "source": s, "driving": "", "split": sp, "split_from": "x"}
                for v, i, s, sp in specs
            ]
        )

    # no official split: one person per video gives forgebench's identity-level split
    t, facts = resolve_splits(rows(*[(f"v{k}", f"p{k}", "", "") for k in range(6)]), (1, 1, 1), 0, 2)
    assert dict(zip(t["identity"], t["split"])) == assign_splits([f"p{k}" for k in range(6)], (1, 1, 1), 0, 2)
    # official splits: a person also in test is left out of train (never on both sides)
    t, facts = resolve_splits(
        rows(
            ("a1", "a", "", "train"),
            ("a2", "a", "", "test"),
            ("b1", "b", "", "train"),
            ("c1", "c", "", "val"),
            ("f1", "b", "c", "train"),
        ),
        (0.7, 0.15, 0.15),
        0,
        1,
    )
    status = dict(zip(t["video_id"], t["status"]))
    assert status["a1"].startswith("left out: a person also in the official test split") and status["a2"] == "kept"
    assert status["f1"].startswith("left out: a person also in the official val split")  # its source c is in val
    assert facts["left_out"] == {
        "a person also in the official test split": 1,
        "a person also in the official val split": 1,
    }
    # merged people follow one split
    t, _ = resolve_splits(rows(*[(f"v{k}", f"p{k}", "", "") for k in range(6)]), (1, 1, 1), 0, 1, merge={"p1": "p0"})
    assert t.loc[t["video_id"] == "v1", "identity"].iloc[0] == "p0" and t["split"][0] == t["split"][1]
    with pytest.raises(DataError, match="no split, and none of its people"):
        resolve_splits(rows(("a1", "a", "", "train"), ("z1", "z", "", "")), (1, 1, 1), 0, 1)


def test_run_videos_reads_identities_csv_and_merges(base, tmp_path):
    """``forgebench run --videos DIR`` takes ``DIR/identities.csv``: several clips of one person
    stay in one split, and ``splits.identity: merge_likely`` merges one person under two labels."""
    folder = tmp_path / "clips"
    folder.mkdir()
    people = {
        "ann_1": ("d0a", "ann"),
        "ann_2": ("d0b", "ann"),
        "bea": ("d3a", "bea"),
        "bea2": ("d3b", "bea_again"),
        "cai": ("d9a", "cai"),
        "dan": ("d12a", "dan"),
        "eve": ("d18a", "eve"),
        "fay": ("d19a", "fay"),
    }
    lines = ["path,label,identity"]
    for name, (s, person) in people.items():
        shutil.copyfile(base["seg"][s], folder / f"{name}.mp4")
        lines.append(f"{name}.mp4,real,{person}")
    (folder / "identities.csv").write_text("\n".join(lines) + "\n")
    cfg = config_from_dict(
        {**CONFIG, "data": {"videos": str(folder)}, "splits": {"min_per_split": 1, "identity": "merge_likely"}}
    )
    run = RunDir(tmp_path / "run")
    bind(run, cfg)
    extract(run, cfg, progress=False)
    videos = run.faces.read_videos().set_index("video_name")
    assert videos.loc["ann_1", "identity"] == videos.loc["ann_2", "identity"] == "ann"
    assert videos.loc["bea", "identity"] == videos.loc["bea2", "identity"] == "bea"  # merged: one person
    assert videos.loc["bea", "split"] == videos.loc["bea2", "split"]
    assert run.faces.read_identity_check()["merged"] is True
    assert run.faces.identity_videos().loc["ann", "video_name"] == "ann_1"  # generators fake and drive with the first
    (folder / "identities.csv").write_text("path,label,identity\nann_1.mp4,fake,ann\n")
    cfg2 = config_from_dict({**CONFIG, "data": {"videos": str(folder)}})
    with pytest.raises(DataError, match="forgebench run takes real videos"):
        extract(RunDir(tmp_path / "run2"), cfg2, progress=False)


def test_deepfakebench_round_trip(ff_run, base, tmp_path):
    """An export with --deepfakebench-root has what DeepfakeBench's loader opens (paths that
    start with './' relative to the folder it runs from, crops there) and imports back with
    every video id, label, split, frame and person."""
    dfb = tmp_path / "DeepfakeBench"
    assert main(["--no-progress", "export", "deepfakebench", str(ff_run.root), "--deepfakebench-root", str(dfb)]) == 0
    path = dfb / "preprocessing" / "dataset_json" / "FaceForensics++.json"
    doc = json.loads(path.read_text())
    entry = doc["FaceForensics++"]["FF-DF"]["train"]["c23"]["000_001"]
    assert entry["label"] == "FF-DF" and entry["identity"] == "000" and entry["source"] == "001"
    frames = [
        f
        for labels in doc["FaceForensics++"].values()
        for split in labels.values()
        for comp in split.values()
        for e in comp.values()
        for f in e["frames"]
    ]
    # abstract_dataset.py's load_rgb prepends './<rgb_dir>\' to a path that does not start with '.'
    assert frames and all(f.startswith("./datasets/rgb/FaceForensics++/") and (dfb / f).is_file() for f in frames)
    # a fake's mask crops listed beside its frames, where DeepfakeBench looks for them ('frames' -> 'masks')
    assert [f.replace("/frames/", "/masks/") for f in entry["frames"]] == entry["masks"]
    assert all((dfb / f).is_file() for f in entry["masks"])
    assert "masks" not in doc["FaceForensics++"]["FF-F2F"]["train"]["c23"]["000_001"]
    assert json.loads((path.parent / "FaceForensics++_label_dict.json").read_text()) == {
        "FF-real": 0,
        "FF-DF": 1,
        "FF-F2F": 1,
    }
    back = RunDir(tmp_path / "back")
    assert (
        main(
            [
                "--no-progress",
                "import",
                "deepfakebench",
                str(path),
                "--out",
                str(back.root),
                "--config",
                str(base["config"]),
            ]
        )
        == 0
    )
    cols = ["video_id", "label", "split", "frame_index", "identity", "source", "driving"]
    a = ff_run.faces.read_manifest()[cols].sort_values(["video_id", "frame_index"], ignore_index=True)
    b = back.faces.read_manifest()[cols].sort_values(["video_id", "frame_index"], ignore_index=True)
    pd.testing.assert_frame_equal(a, b)
    assert back.read_provenance()["stages"]["import"]["dataset"]["crop_procedure"].startswith("taken as they are")
    crops = back.faces.read_manifest()["crop_path"]
    assert all(os.path.isabs(p) and str(p).startswith(str(dfb)) for p in crops)
    masks = back.faces.read_manifest().set_index(["video_id", "frame_index"])["mask_path"]
    assert (masks.loc["FaceForensics++/Deepfakes/c23/000_001"] != "").all()
    assert (masks.loc["FaceForensics++/Face2Face/c23/000_001"] == "").all()


def test_deepfakebench_own_json_lists_test_videos_in_train(tmp_path, base):
    """DeepfakeBench's rearrange.py puts every Celeb-DF test video under train and val too:
    such a video is kept in test only, and counted."""
    rgb = tmp_path / "datasets" / "rgb"
    frames = {}
    for name, s in (("id0_0000", "d0a"), ("id1_0000", "d3a"), ("id0_id1_0000", "d3b")):
        folder = "Celeb-real" if name.count("id") == 1 else "Celeb-synthesis"
        frames[name] = []
        for k, frame in enumerate(trees._frames(base["seg"][s], 0, 2)):
            p = rgb / "Celeb-DF-v2" / folder / "frames" / name / f"{k:03d}.png"
            write_png(p, frame)
            frames[name].append(
                f"Celeb-DF-v2\\{folder}\\frames\\{name}\\{k:03d}.png"
            )  # as DeepfakeBench's JSONs (Windows paths)
    real = {
        "id0_0000": {"label": "CelebDFv2_real", "frames": frames["id0_0000"]},
        "id1_0000": {"label": "CelebDFv2_real", "frames": frames["id1_0000"]},
    }
    fake = {"id0_id1_0000": {"label": "CelebDFv2_fake", "frames": frames["id0_id1_0000"]}}
    doc = {
        "Celeb-DF-v2": {
            "CelebDFv2_real": {
                "train": real,
                "val": {"id1_0000": real["id1_0000"]},
                "test": {"id1_0000": real["id1_0000"]},
            },
            "CelebDFv2_fake": {"train": fake, "val": fake, "test": fake},
        }
    }
    path = tmp_path / "Celeb-DF-v2.json"
    path.write_text(json.dumps(doc))
    importer = get_dataset("deepfakebench")({"frames_root": rgb})
    table = importer.read(path).set_index("video_name")
    assert table.loc["id1_0000", "split"] == "test" and table.loc["id0_id1_0000", "split"] == "test"
    assert table.loc["id0_id1_0000", "identity"] == "id0" and table.loc["id0_id1_0000", "source"] == "id1"
    assert table.loc["id0_0000", "split"] == "train" and set(VIDEO_COLUMNS) <= set(table.reset_index().columns)
    assert sum(importer.left_out.values()) == 4  # two extra listings of id1_0000, two of the fake
    doc["Celeb-DF-v2"]["CelebDFv2_real"]["train"]["id0_0000"]["frames"] = ["../../outside/000.png"]
    path.write_text(json.dumps(doc))
    with pytest.raises(
        DataError, match=r"Celeb-DF-v2.json: entry 'Celeb-DF-v2/CelebDFv2_real/train/id0_0000': path .* escapes"
    ):
        get_dataset("deepfakebench")({"frames_root": rgb}).read(path)


def test_export_index_in_place_reads_back(ff_run, tmp_path):
    manifest = ff_run.faces.read_manifest()
    expected = manifest[FRAME_COLUMNS].sort_values(["video_id", "split", "frame_index"], ignore_index=True)
    assert main(["--no-progress", "export", "deepfakebench", str(ff_run.root)]) == 0
    path = ff_run.root / "export" / "deepfakebench" / "FaceForensics++.json"
    entry = json.loads(path.read_text())["FaceForensics++"]["FF-DF"]["train"]["c23"]["000_001"]
    assert entry["frames"][0].startswith("faces/crops/Deepfakes/000_001/")
    assert entry["masks"][0].startswith("faces/masks/Deepfakes/000_001/") and len(entry["masks"]) == len(
        entry["frames"]
    )
    pd.testing.assert_frame_equal(read_deepfakebench(path), expected)
    out = tmp_path / "flat" / "FaceForensics++.json"
    export_deepfakebench(ff_run.root, out, absolute=True, compression_level=False)
    assert json.loads(out.read_text())["FaceForensics++"]["FF-real"]["test"]["004"]["frames"][0].startswith("/")
    pd.testing.assert_frame_equal(read_deepfakebench(out, root=ff_run.root), expected)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(DataError, match="bad.json: DeepfakeBench dataset JSON is not valid JSON"):
        read_deepfakebench(tmp_path / "bad.json")


def test_cross_dataset_protocol_and_table(ff_run, cdf_run, base, tmp_path):
    """A detector trained on the imported FaceForensics++ run is scored on the imported
    Celeb-DF run with its own thresholds; the leaderboard over both has the cross-dataset table
    in Markdown, CSV, HTML and LaTeX."""
    assert main(["--no-progress", "train", str(ff_run.root)]) == 0
    assert (
        main(["--no-progress", "evaluate", str(cdf_run.root), "--detector", str(ff_run.root / "detectors" / "meso4")])
        == 0
    )
    doc = cdf_run.detectors.read_metrics("meso4", "all@ff")
    source = ff_run.detectors.read_metrics("meso4", "all")
    assert doc["threshold"] == source["threshold"] and doc["threshold_source"] == "validation split of the training run"
    cd = doc["cross_dataset"]
    assert (cd["train_dataset"], cd["test_dataset"], cd["train_set"], cd["test_part"]) == (
        "FaceForensics++",
        "Celeb-DF-v2",
        "all",
        "test",
    )
    assert doc["video"]["n_identities"] >= 2 and "auc_ci_low" in doc["video"]
    preds = cdf_run.detectors.read_predictions("meso4", "all@ff")
    assert set(preds["split"]) == {"test"} and (preds["train_set"] == "all@ff").all()
    # a run without a train split (DF40's CDF domain: a test set) is scored whole
    cdf40 = _import(base, "df40", base["df40"], "df40_cdf", "--domains", "cdf", "--real-root", base["celebdf"])
    assert set(cdf40.faces.read_manifest()["split"]) == {"test"}
    assert (
        main(
            [
                "--no-progress",
                "evaluate",
                str(cdf40.root),
                "--detector",
                str(ff_run.root / "detectors" / "meso4" / "all"),
            ]
        )
        == 0
    )
    assert cdf40.detectors.read_metrics("meso4", "all@ff")["cross_dataset"]["test_part"] == "all"
    # a detector of the run itself is refused
    assert (
        main(["--no-progress", "evaluate", str(ff_run.root), "--detector", str(ff_run.root / "detectors" / "meso4")])
        == 2
    )
    out = tmp_path / "board"
    assert main(["--no-progress", "leaderboard", str(ff_run.root), str(cdf_run.root), "--out", str(out)]) == 0
    md = (out / "leaderboard.md").read_text()
    section = md[md.index("## Cross-dataset") : md.index("## Robustness")]
    assert (
        "FaceForensics++ [t (ff)]: frame AUC [95% CI]" in section
        and "Celeb-DF-v2 [t (cdf)]: video AUC [95% CI]" in section
    )
    row = [line for line in section.splitlines() if line.startswith("| meso4 | FaceForensics++ [t (ff)] | all |")][0]
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    assert len(cells) == 9 and "-" not in cells  # scored on both runs: frame and video AUC, n, per run
    csv = pd.read_csv(out / "leaderboard.csv")
    assert (csv["section"] == "cross-dataset").any() and "all@ff" in set(csv["train_set"])
    assert (
        "Cross-dataset" in (out / "report.html").read_text()
        and "Cross-dataset" in (out / "leaderboard.tex").read_text()
    )
    # the run's own report lists it too
    assert main(["--no-progress", "report", str(cdf_run.root)]) == 0
    assert "all@ff" in (cdf_run.root / "leaderboard" / "leaderboard.md").read_text()


def test_published_detector_on_imported_datasets(cdf_run, base, tmp_path):
    """A DeepfakeBench checkpoint scored on an imported dataset: thresholds from its carved
    validation split; on a dataset imported as a test set only (no validation split), at
    DeepfakeBench's own rule p = 0.5, said so; a row of the cross-dataset table of its own."""
    checkpoint = dfb_vectors.write_checkpoint("meso4", tmp_path / "meso4_best.pth")
    assert (
        main(
            ["--no-progress", "evaluate", str(cdf_run.root), "--detector", "dfb_meso4", "--checkpoint", str(checkpoint)]
        )
        == 0
    )
    doc = cdf_run.detectors.read_metrics("dfb_meso4", "pretrained")
    assert doc["threshold_source"].startswith("val") and doc["trained_elsewhere"] == "DeepfakeBench v1.0.1 (FF++ c23)"
    test_only = _import(
        base, "df40", base["df40"], "df40_cdf_published", "--domains", "cdf", "--real-root", base["celebdf"]
    )
    assert (
        main(
            [
                "--no-progress",
                "evaluate",
                str(test_only.root),
                "--detector",
                "dfb_meso4",
                "--checkpoint",
                str(checkpoint),
            ]
        )
        == 0
    )
    doc = test_only.detectors.read_metrics("dfb_meso4", "pretrained")
    assert (
        doc["split"] == "all"
        and doc["threshold"] == 0.5
        and doc["threshold_source"].startswith("DeepfakeBench's own decision rule")
    )
    assert doc["published"]["checkpoint_sha256"] == doc["checkpoint_sha256"] and 0 <= doc["video"]["auc"] <= 1
    out = tmp_path / "board"
    assert main(["--no-progress", "leaderboard", str(cdf_run.root), str(test_only.root), "--out", str(out)]) == 0
    md = (out / "leaderboard.md").read_text()
    section = md[md.index("## Cross-dataset") :]
    row = [
        line
        for line in section.splitlines()
        if line.startswith("| dfb_meso4 (trained elsewhere) | FF++ c23 [DeepfakeBench v1.0.1] |")
    ]
    assert len(row) == 1 and row[0].count("-") < 3  # scored on both runs
