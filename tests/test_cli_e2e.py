"""The whole benchmark through the CLI on the real clips at tiny sizes: every stage, resume
after an interrupted stage, and bad inputs (a non-video file, a video with no face, an
unknown config key)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from tiny_pipeline import TINY  # noqa: E402  (the tiny run is built once per session: conftest.tiny_run)

from forgebench.cli import main
from forgebench.hardware import cpu_native_bf16
from forgebench.media import probe, read_png_text, read_tags


def test_run_dir_layout(tiny_run):
    for rel in [
        "config.yaml",
        "provenance.json",
        "faces/videos.parquet",
        "faces/manifest.parquet",
        "faces/report.json",
        "fakes/autoencoder_swap/manifest.parquet",
        "metrics/quality.parquet",
        "metrics/quality_sets.parquet",
        "detectors/meso4/autoencoder_swap/predictions.parquet",
        "detectors/efficientnet_b0/autoencoder_swap/best.pt",
        "leaderboard/leaderboard.md",
        "leaderboard/leaderboard.csv",
        "leaderboard/report.html",
    ]:
        assert (tiny_run / rel).is_file(), rel
    resolved = yaml.safe_load((tiny_run / "config.yaml").read_text())
    assert resolved["faces"]["margin"] == 1.3 and "lr" in resolved["generators"]["autoencoder_swap"]


def test_bad_inputs_reported_others_finish(tiny_run):
    report = json.loads((tiny_run / "faces" / "report.json").read_text())
    errors = {k: v.get("error", "") for k, v in report.items()}
    assert "notes.mp4" in errors[next(k for k in errors if k.endswith("/notes"))]
    assert "no face" in errors[next(k for k in errors if k.endswith("/empty_room"))]
    videos = pd.read_parquet(tiny_run / "faces" / "videos.parquet")
    assert sorted(videos["identity"]) == ["d0", "d12", "d18", "d19", "d3", "d9"]


def test_splits_disjoint_and_fakes_inside_split(tiny_run):
    videos = pd.read_parquet(tiny_run / "faces" / "videos.parquet")
    assert videos["split"].value_counts().to_dict() == {"train": 2, "val": 2, "test": 2}
    fakes = pd.read_parquet(tiny_run / "fakes" / "autoencoder_swap" / "manifest.parquet")
    split_of = dict(zip(videos["identity"], videos["split"]))
    assert len(fakes) == 6
    assert all(split_of[t] == split_of[s] == sp for t, s, sp in zip(fakes["target"], fakes["source"], fakes["split"]))
    manifest = pd.read_parquet(tiny_run / "faces" / "manifest.parquet")
    for split in ("train", "val", "test"):
        ids = set(manifest.loc[manifest["split"] == split, ["identity", "source", "driving"]].values.ravel()) - {""}
        others = set(manifest.loc[manifest["split"] != split, ["identity", "source", "driving"]].values.ravel()) - {""}
        assert not ids & others


def test_fake_videos_complete_and_tagged(tiny_run):
    fakes = pd.read_parquet(tiny_run / "fakes" / "autoencoder_swap" / "manifest.parquet")
    videos = pd.read_parquet(tiny_run / "faces" / "videos.parquet").set_index("identity")
    for row in fakes.itertuples():
        info = probe(tiny_run / row.path)
        assert Path(row.path).name == f"{row.target}_{row.source}.mp4"
        assert info.n_frames == videos.loc[row.target, "n_frames"] == row.n_frames
        assert info.fps == pytest.approx(videos.loc[row.target, "fps"])
        assert "synthetic" in read_tags(tiny_run / row.path)["comment"]
    manifest = pd.read_parquet(tiny_run / "faces" / "manifest.parquet")
    fake_crop = manifest.loc[manifest["label"] == 1, "crop_path"].iloc[0]
    assert "autoencoder_swap" in read_png_text(tiny_run / fake_crop)["description"]
    # real and fake faces share the same preprocessing
    assert manifest.groupby("label")["crop_size"].unique().map(tuple).tolist() == [(64,), (64,)]


def test_every_fake_has_its_mask_video_and_mask_crops(tiny_run):
    from forgebench.fileio import sha256_file
    from forgebench.media import iter_masks, read_image

    faces = pd.read_parquet(tiny_run / "faces" / "manifest.parquet")
    for method in TINY["generators"]:
        fakes = pd.read_parquet(tiny_run / "fakes" / method / "manifest.parquet")
        for row in fakes.itertuples():
            assert row.mask_path == f"fakes/{method}/masks/{row.video_name}.mp4"
            assert sha256_file(tiny_run / row.mask_path) == row.mask_sha256
            masks = [m for _, m in iter_masks(tiny_run / row.mask_path)]
            frames = pd.read_parquet(tiny_run / "fakes" / method / "frames" / f"{row.video_name}.parquet")
            assert len(masks) == probe(tiny_run / row.path).n_frames == len(frames)
            # a frame without a face is the target's own: its mask is empty
            assert all(m.max() == 0.0 for m, has in zip(masks, frames["has_face"]) if not has)
            assert any(m.max() == 1.0 for m in masks) and "synthetic" in read_tags(tiny_run / row.mask_path)["comment"]
        rows = faces[faces["method"] == method]
        assert len(rows) and (rows["mask_path"] != "").all(), method
        crop = read_image(tiny_run / rows["mask_path"].iloc[0])
        assert crop.shape[:2] == (64, 64) and crop.max() > 0
    assert (faces.loc[faces["label"] == 0, "mask_path"] == "").all()
    # the mask crops go with the frames into the DeepfakeBench index
    assert main(["--no-progress", "export", "deepfakebench", str(tiny_run)]) == 0
    (index,) = [p for p in (tiny_run / "export" / "deepfakebench").glob("*.json") if "label_dict" not in p.name]
    doc = json.loads(index.read_text())

    def video_entries(node):  # dataset -> label -> split -> [compression ->] video
        if "frames" in node:
            return [node]
        return [e for child in node.values() if isinstance(child, dict) for e in video_entries(child)]

    entries = video_entries(doc)
    fakes_with_masks = [e for e in entries if e["method"] != "real"]
    assert fakes_with_masks and all(len(e["masks"]) == len(e["frames"]) for e in fakes_with_masks)
    assert all("masks" not in e for e in entries if e["method"] == "real")


def test_quality_and_detection_numbers(tiny_run):
    quality = pd.read_parquet(tiny_run / "metrics" / "quality.parquet")
    assert quality["method"].value_counts().to_dict() == {"autoencoder_swap": 6, "pix2pix_reenact": 6, "fomm": 6}
    scored = quality["n_frames"] > 0  # a tiny model's fakes may hold no detectable face
    pixels = scored & (quality["method"] != "fomm")  # fomm animates one still frame: no pixel comparison
    assert pixels.any() and quality.loc[pixels, "ssim"].between(-1, 1).all()
    assert quality.loc[~pixels, "ssim"].isna().all()
    # every scored fake that replaces target frames has a boundary score, its warping error and the real
    # video's; fomm replaces no target frame t: no boundary score (not applicable)
    assert (quality.loc[pixels, "boundary"] > 0).all() and (quality.loc[pixels, "warp_error_real"] > 0).all()
    assert quality.loc[quality["method"] == "fomm", "boundary"].isna().all()
    assert set(quality.loc[scored, "landmark_model"]) == {"dlib"}
    assert quality.loc[quality["method"] == "fomm", "reference"].str.startswith("no pixel comparison").all()
    sets = pd.read_parquet(tiny_run / "metrics" / "quality_sets.parquet")
    fid = sets[sets["metric"] == "fid"].iloc[0]
    assert np.isnan(fid["value"]) and fid["status"].startswith("unavailable")
    preds = pd.read_parquet(tiny_run / "detectors" / "meso4" / "autoencoder_swap" / "predictions.parquet")
    assert set(preds["split"]) == {"test"} and preds["score"].between(0, 1).all()
    per_method = preds.groupby("method")["video_id"].nunique()
    # 2 real test videos; the 2 test fakes of a 30-step model may lose a video whose faces
    # are not detected (it is reported in faces/report.json, not scored); the fakes of the
    # other generators are there too (cross-generator testing)
    assert per_method["real"] == 2 and 1 <= per_method["autoencoder_swap"] <= 2
    assert set(per_method.index) <= {"real", "autoencoder_swap", "pix2pix_reenact", "fomm"}
    board = (tiny_run / "leaderboard" / "leaderboard.md").read_text()
    assert "autoencoder_swap" in board and "meso4" in board and "unavailable" in board
    # 2 test identities per class: the report opens by saying the cells are too thin, and marks them
    assert "**Too few identities to conclude:" in board.split("## Quality")[0] and "†" in board
    for column in (
        "KID",
        "boundary (fake / real)",
        "warp error ×10³",
        "warp error real ×10³",
        "ID retrieval (dlib)",
        "ID sim. target (ArcFace)",
        "landmarks",
        "compared with",
        "video AP [95% CI]",
    ):
        assert column in board, column
    prov = json.loads((tiny_run / "provenance.json").read_text())
    assert (
        prov["seed"] == 0
        and prov["config_hash"]
        and any(w["file"].endswith(".pt") or w["sha256"] for w in prov["weights"])
    )


def test_reenactment_generator_in_every_stage(tiny_run):
    fakes = pd.read_parquet(tiny_run / "fakes" / "pix2pix_reenact" / "manifest.parquet")
    videos = pd.read_parquet(tiny_run / "faces" / "videos.parquet").set_index("identity")
    assert len(fakes) == 6 and (fakes["split"] == fakes["target"].map(videos["split"])).all()
    assert sorted(p.stem for p in (tiny_run / "fakes" / "pix2pix_reenact" / "models").glob("*.pt")) == sorted(
        videos.index
    )
    for row in fakes.itertuples():
        assert probe(tiny_run / row.path).n_frames == videos.loc[row.target, "n_frames"]
        assert "pix2pix_reenact" in read_tags(tiny_run / row.path)["description"]
    prov = json.loads((tiny_run / "provenance.json").read_text())
    # conversion runs in bfloat16 on CPUs with native bfloat16 (low_precision: true, the default)
    precision = "bfloat16" if cpu_native_bf16() else "float32"
    assert prov["stages"]["generate"]["generators"]["pix2pix_reenact"] == {"eval_mode": False, "precision": precision}
    quality = pd.read_parquet(tiny_run / "metrics" / "quality.parquet")
    p2p = quality[quality["method"] == "pix2pix_reenact"]
    assert (
        len(p2p) == 6
        and not p2p["eval_mode"].any()
        and quality.loc[quality["method"] == "autoencoder_swap", "eval_mode"].all()
    )
    recon = pd.read_parquet(tiny_run / "metrics" / "reconstruction.parquet")
    recon = recon[recon["method"] == "pix2pix_reenact"]
    assert len(recon) == 6 and recon["l1"].between(0, 1).all() and not recon["eval_mode"].any()
    sets = pd.read_parquet(tiny_run / "metrics" / "quality_sets.parquet")
    assert {"recon_l1", "recon_ssim", "recon_akd", "recon_aed", "recon_mkr"} <= set(
        sets.loc[sets["method"] == "pix2pix_reenact", "metric"]
    )
    assert (tiny_run / "detectors" / "meso4" / "pix2pix_reenact" / "predictions.parquet").is_file()
    board = (tiny_run / "leaderboard" / "leaderboard.md").read_text()
    assert "| pix2pix_reenact | train |" in board and "Reconstruction / self-reenactment" in board


def test_fomm_in_every_stage(tiny_run):
    fakes = pd.read_parquet(tiny_run / "fakes" / "fomm" / "manifest.parquet")
    videos = pd.read_parquet(tiny_run / "faces" / "videos.parquet").set_index("identity")
    assert len(fakes) == 6 and [p.name for p in (tiny_run / "fakes" / "fomm" / "models").glob("*.pt")] == ["fomm.pt"]
    for row in fakes.itertuples():  # one frame per driving frame (the driving video's capped length)
        assert probe(tiny_run / row.path).n_frames == videos.loc[row.driving, "n_frames"] == row.n_frames
        assert row.source == "" and Path(row.path).name == f"{row.target}_{row.driving}.mp4"
    log = json.loads((tiny_run / "fakes" / "fomm" / "models" / "fomm.json").read_text())
    assert log["identities"] == sorted(videos.index[videos["split"] == "train"])
    prov = json.loads((tiny_run / "provenance.json").read_text())
    assert prov["stages"]["generate"]["generators"]["fomm"]["reconstruction_loss"].startswith(
        "pyramid_l1 (vgg19 unavailable"
    )
    recon = pd.read_parquet(tiny_run / "metrics" / "reconstruction.parquet")
    assert sorted(recon.loc[recon["method"] == "fomm", "split"]) == ["test", "test", "val", "val"]
    board = (tiny_run / "leaderboard" / "leaderboard.md").read_text()
    assert "| fomm |" in board
    # A 3-step FOMM draws no detectable face: the detectors leave it out and the report says so.
    if not (tiny_run / "detectors" / "meso4" / "fomm").is_dir():
        assert "No detector was trained on 'fomm'" in board


def test_stage_rerun_skips_and_resumes(tiny_run, capsys):
    ckpts = sorted((tiny_run / "fakes" / "autoencoder_swap" / "models").glob("*.pt"))
    before = {p: p.stat().st_mtime_ns for p in ckpts}
    # Interrupt: one fake video and one detector's outputs are lost.
    victim = next((tiny_run / "fakes" / "autoencoder_swap").glob("*.mp4"))
    victim.unlink()
    for f in (tiny_run / "detectors" / "meso4" / "autoencoder_swap").iterdir():
        f.unlink()
    assert main(["--no-progress", "generate", str(tiny_run)]) == 0
    assert victim.is_file()
    assert {p: p.stat().st_mtime_ns for p in ckpts} == before  # no generator retrained
    assert main(["--no-progress", "train", str(tiny_run)]) == 0
    assert (tiny_run / "detectors" / "meso4" / "autoencoder_swap" / "predictions.parquet").is_file()
    assert main(["--no-progress", "report", str(tiny_run)]) == 0
    assert "Leaderboard" in capsys.readouterr().out


def test_unknown_config_key_exits_2(tmp_path, capsys):
    bad = tmp_path / "typo.yaml"
    bad.write_text(yaml.safe_dump({**TINY, "faces": {"frames_per_vdeo": 4}}))
    assert main(["run", str(bad), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "typo.yaml" in err and "faces.frames_per_vdeo" in err
    assert main(["extract", str(tmp_path / "nothing")]) == 2


def test_a_run_without_generators_or_fakes_stops_before_extracting(tmp_path, capsys, clips_dir):
    # nothing would make or bring fakes: said at once, not as a missing fakes manifest after
    # the extract stage
    config = tmp_path / "nogen.yaml"
    config.write_text(yaml.safe_dump({**TINY, "generators": {}}))
    out = tmp_path / "r"
    assert main(["--no-progress", "run", str(config), "--videos", str(clips_dir), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{out / 'config.yaml'}: 'generators' is empty and the run holds no fakes" in err
    assert not (out / "faces").exists()
    assert main(["--no-progress", "generate", str(out)]) == 2
    assert "'generators' is empty" in capsys.readouterr().err


def test_train_refuses_split_without_fake_faces(tiny_run, tmp_path, capsys):
    run = tmp_path / "copy"
    shutil.copytree(tiny_run, run)
    fakes = pd.read_parquet(run / "fakes" / "autoencoder_swap" / "manifest.parquet")
    lost = set(fakes.loc[fakes["split"] == "val", "video_id"])
    for name in fakes.loc[fakes["split"] == "val", "video_name"]:
        (run / "faces" / "manifest" / "autoencoder_swap" / f"{name}.parquet").unlink(missing_ok=True)
    faces = pd.read_parquet(run / "faces" / "manifest.parquet")  # as the extract stage writes it then
    faces[~faces["video_id"].isin(lost)].to_parquet(run / "faces" / "manifest.parquet", index=False)
    assert main(["--no-progress", "train", str(run)]) == 2
    assert "['val']" in capsys.readouterr().err


def test_help_and_argument_errors_import_nothing_heavy():
    """`forgebench --help` and a bad verb answer without importing torch, pandas or OpenCV
    (each verb imports what it needs); the parser's stage verbs are the stages'."""
    import subprocess
    import sys

    from forgebench import stages
    from forgebench.cli import STAGE_NAMES

    assert STAGE_NAMES == stages.STAGES
    code = (
        "import sys\nfrom forgebench.cli import main\n"
        "for argv in (['--help'], ['nope'], ['train']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "heavy = sorted(m for m in ('torch', 'pandas', 'cv2', 'timm') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
    assert "invalid choice: 'nope'" in out.stderr and "the following arguments are required: run_dir" in out.stderr


def test_run_ends_with_a_short_summary(tiny_run, capsys):
    """`forgebench report` (and `run`) print at most 25 lines: what ran, the headline video
    AUCs, the thin-evidence line and where the files are; the tables stay in the files."""
    assert main(["--no-progress", "report", str(tiny_run)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    text = "\n".join(out)
    assert len(out) <= 25, text
    assert "6 real videos of 6 identities" in text and "fake videos with faces: autoencoder_swap" in text
    assert "meso4: all:" in text and "efficientnet_b0: all:" in text and "[not estimable]" in text
    assert "† Too few identities to conclude" in text and text.splitlines()[-2].startswith("Report: ")
    assert (tiny_run / "leaderboard" / "summary.txt").read_text().strip() == text
