"""Interop: the FaceForensics++ importer on a small FF++-layout tree made from the real
clips, the DeepfakeBench export and its reader (round trip), and both CLI verbs."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import yaml

from forgebench.cli import main
from forgebench.errors import ConfigError, DataError
from forgebench.interop import export_deepfakebench, import_faceforensics, read_deepfakebench, read_ff_splits
from forgebench.media import reencode

CLIPS = ["d0", "d3", "d9", "d12", "d18", "d19"]  # -> originals 000..005
SPLITS = {"train": [["000", "001"]], "val": [["002", "003"]], "test": [["004", "005"]]}
FRAME_COLUMNS = ["video_id", "dataset", "method", "compression", "video_name", "label", "split", "frame_index", "crop_path"]


@pytest.fixture(scope="module")
def ff_root(clips_dir, tmp_path_factory):
    """A FaceForensics++ tree: six 1-s originals, 000..005 (plus 006, in no split),
    Deepfakes fakes of every pair, Face2Face fakes in each split plus one that is not a video."""
    root = tmp_path_factory.mktemp("ffpp")
    real = root / "original_sequences" / "youtube" / "c23" / "videos"
    real.mkdir(parents=True)
    for i, clip in enumerate(CLIPS):
        reencode(clips_dir / f"{clip}.mp4", real / f"{i:03d}.mp4", max_frames=25)
    shutil.copy(real / "000.mp4", real / "006.mp4")
    df = root / "manipulated_sequences" / "Deepfakes" / "c23" / "videos"
    f2f = root / "manipulated_sequences" / "Face2Face" / "c23" / "videos"
    df.mkdir(parents=True)
    f2f.mkdir(parents=True)
    for pairs in SPLITS.values():
        for a, b in pairs:  # content does not matter: another person's clip
            shutil.copy(real / f"{b}.mp4", df / f"{a}_{b}.mp4")
            shutil.copy(real / f"{a}.mp4", df / f"{b}_{a}.mp4")
    for a, b in [("001", "000"), ("002", "003"), ("004", "005")]:
        shutil.copy(real / f"{b}.mp4", f2f / f"{a}_{b}.mp4")
    (f2f / "000_001.mp4").write_bytes(b"\x00not a video" * 50)
    shutil.copy(real / "001.mp4", df / "006_000.mp4")  # target in no split
    (root / "splits").mkdir()
    for split, pairs in SPLITS.items():
        (root / "splits" / f"{split}.json").write_text(json.dumps(pairs))
    return root


@pytest.fixture(scope="module")
def ff_run(ff_root, tmp_path_factory):
    """The tree imported through the CLI with 2 frames per video and 64-px crops."""
    base = tmp_path_factory.mktemp("ffrun")
    config = base / "cfg.yaml"
    config.write_text(yaml.safe_dump({"name": "ff", "device": "cpu", "faces": {"crop_size": 64},
                                      "detectors": {"meso4": {"epochs": 1, "batch_size": 8, "image_size": 64}}}))
    run_dir = base / "run"
    argv = ["--no-progress", "import", "faceforensics", str(ff_root), "--out", str(run_dir),
            "--frames-per-video", "2", "--config", str(config)]
    assert main(argv) == 0
    return run_dir


def test_import_videos_splits_identities(ff_run):
    videos = pd.read_parquet(ff_run / "faces" / "videos.parquet")
    assert sorted(videos["video_name"]) == [f"{i:03d}" for i in range(6)]  # 006 is in no split
    split = dict(zip(videos["identity"], videos["split"]))
    assert split == {"000": "train", "001": "train", "002": "val", "003": "val", "004": "test", "005": "test"}
    m = pd.read_parquet(ff_run / "faces" / "manifest.parquet")
    assert set(m["method"]) == {"real", "Deepfakes", "Face2Face"}
    assert (m["label"] == (m["method"] != "real").astype(int)).all()
    fake = m[m["video_name"] == "000_001"].iloc[0]
    assert fake["video_id"] == "FaceForensics++/Deepfakes/c23/000_001"
    assert (fake["identity"], fake["source"], fake["driving"], fake["split"]) == ("000", "001", "", "train")
    f2f = m[(m["video_name"] == "004_005") & (m["method"] == "Face2Face")].iloc[0]
    assert (f2f["source"], f2f["driving"]) == ("", "005")  # a reenactment: the second id drives
    assert set(m.loc[m["method"] == "real", "video_id"]) == {f"FaceForensics++/real/c23/{i:03d}" for i in range(6)}
    # unique video ids across methods: the same name under two methods stays two videos
    assert m.groupby("video_id")["method"].nunique().max() == 1
    assert {"FaceForensics++/Deepfakes/c23/004_005", "FaceForensics++/Face2Face/c23/004_005"} <= set(m["video_id"])
    assert m.groupby("video_id").size().max() <= 2
    assert (m.groupby("method")["split"].nunique() == 3).all()  # what forgebench train needs
    cfg = yaml.safe_load((ff_run / "config.yaml").read_text())
    assert cfg["data"]["dataset"] == "FaceForensics++" and cfg["data"]["compression"] == "c23"
    assert cfg["faces"]["frames_per_video"] == 2 and list(cfg["detectors"]) == ["meso4"]


def test_import_reports_missing_and_corrupt_and_resumes(ff_root, ff_run):
    report = json.loads((ff_run / "faces" / "report.json").read_text())
    assert "cannot open" in report["FaceForensics++/Face2Face/c23/000_001"]["error"]
    prov = json.loads((ff_run / "provenance.json").read_text())["stages"]["import"]["faceforensics"]
    assert prov["missing_methods"] == ["FaceSwap", "NeuralTextures", "FaceShifter"]
    assert prov["not_in_split"] == 1 and prov["left_out_fakes"]["not_in_split"] == 1
    assert prov["fake_videos"] == {"Deepfakes": 6, "Face2Face": 4} and prov["n_errors"] == 1
    before = {p: p.stat().st_mtime_ns for p in (ff_run / "faces" / "crops").rglob("*.png")}
    summary = import_faceforensics(ff_root, ff_run, frames_per_video=2, config=ff_run / "config.yaml", progress=False)
    assert summary["real_videos"] == 6 and len(summary["errors"]) == 1
    assert {p: p.stat().st_mtime_ns for p in (ff_run / "faces" / "crops").rglob("*.png")} == before


def test_import_errors_name_the_file(ff_root, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(ff_root / "original_sequences", bare / "original_sequences")
    with pytest.raises(DataError, match=r"splits/\{train,val,test\}\.json"):
        read_ff_splits(bare)
    (bare / "train.json").write_text('[["000", "001"]]')
    (bare / "val.json").write_text('[["000", "002"]]')
    (bare / "test.json").write_text("[]")
    with pytest.raises(DataError, match="val.json: video 000 is also in .*train.json"):
        read_ff_splits(bare)
    assert main(["--no-progress", "import", "faceforensics", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert not (tmp_path / "r").exists()


def test_max_videos_takes_whole_pairs_from_every_split(ff_root, tmp_path):
    from forgebench.interop.faceforensics import _select

    split_of, pairs = read_ff_splits(ff_root)
    chosen = _select(pairs + [("train", "010", "011")], set(split_of) | {"010", "011"}, 5)
    assert chosen == {"000", "001", "002", "003"}  # next pair (test) would exceed 5
    # default config (no generators), one pair: its reals and the fakes between them
    s = import_faceforensics(ff_root, tmp_path / "r", methods=["Deepfakes"], frames_per_video=1, max_videos=2, progress=False)
    assert s["real_videos"] == 2 and s["fake_videos"] == {"Deepfakes": 2} and s["left_out_fakes"]["not_selected"] == 4
    cfg = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert cfg["generators"] == {} and cfg["data"]["crf"] == 23 and cfg["name"] == "r"
    with pytest.raises(ConfigError, match="imported with other settings"):
        import_faceforensics(ff_root, tmp_path / "r", methods=["Deepfakes"], frames_per_video=3, progress=False)


def test_export_deepfakebench_round_trip(ff_run, tmp_path):
    manifest = pd.read_parquet(ff_run / "faces" / "manifest.parquet")
    expected = manifest[FRAME_COLUMNS].sort_values(["video_id", "split", "frame_index"], ignore_index=True)
    assert main(["--no-progress", "export", "deepfakebench", str(ff_run)]) == 0
    path = ff_run / "export" / "deepfakebench" / "FaceForensics++.json"
    doc = json.loads(path.read_text())
    # DeepfakeBench's FaceForensics++ layout: dataset -> label -> split -> compression -> video
    entry = doc["FaceForensics++"]["FF-DF"]["train"]["c23"]["000_001"]
    assert entry["label"] == "FF-DF" and entry["frames"][0].startswith("faces/crops/Deepfakes/000_001/")
    assert set(doc["FaceForensics++"]) == {"FF-real", "FF-DF", "FF-F2F"}
    assert all(set(v) == {"train", "val", "test"} for v in doc["FaceForensics++"].values())
    labels = json.loads((path.parent / "FaceForensics++_label_dict.json").read_text())
    assert labels == {"FF-real": 0, "FF-DF": 1, "FF-F2F": 1}
    pd.testing.assert_frame_equal(read_deepfakebench(path), expected)
    # absolute paths, no compression level: the same table relative to the run dir
    out = tmp_path / "flat" / "FaceForensics++.json"
    export_deepfakebench(ff_run, out, absolute=True, compression_level=False)
    flat = json.loads(out.read_text())["FaceForensics++"]["FF-real"]["test"]["004"]
    assert flat["frames"][0].startswith("/")
    pd.testing.assert_frame_equal(read_deepfakebench(out, root=ff_run), expected)


def test_read_deepfakebench_own_layout(tmp_path):
    """A file as DeepfakeBench writes it (no forgebench keys) reads with inferred labels."""
    doc = {"Celeb-DF-v2": {
        "CelebDFv2_real": {"train": {"id0_0000": {"label": "CelebDFv2_real", "frames": ["f/id0_0000/012.png", "f/id0_0000/003.png"]}},
                           "val": {}, "test": {}},
        "CelebDFv2_fake": {"train": {}, "val": {}, "test": {"id0_id1_0000": {"label": "CelebDFv2_fake", "frames": ["f/x/7.png"]}}},
    }}
    path = tmp_path / "Celeb-DF-v2.json"
    path.write_text(json.dumps(doc))
    df = read_deepfakebench(path)
    assert list(df.columns) == FRAME_COLUMNS
    assert df["frame_index"].tolist() == [7, 3, 12] and df["label"].tolist() == [1, 0, 0]
    assert df["video_id"].iloc[0] == "Celeb-DF-v2/CelebDFv2_fake/unknown/id0_id1_0000"
    with pytest.raises(DataError, match="not in the label dict"):
        read_deepfakebench(path, label_dict={"CelebDFv2_real": 0})
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(DataError, match="bad.json: not valid JSON"):
        read_deepfakebench(tmp_path / "bad.json")
