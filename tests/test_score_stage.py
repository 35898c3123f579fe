"""The score stage on a tiny run directory built from real clips: the "fake" is the target
clip with its face blurred (a crude but real forgery), written with the contract's files."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from forgebench.config import Config, FacesSettings
from forgebench.configure import config_from_dict
from forgebench.errors import DataError
from forgebench.faces import FaceAnalyzer
from forgebench.fileio import sha256_file, write_parquet
from forgebench.media import VideoWriter, iter_frames, probe, reencode
from forgebench.metrics.quality import face_mask
from forgebench.schemas import QUALITY, QUALITY_FRAMES, QUALITY_SETS
from forgebench.stages import RunDir
from forgebench.stages.extract import VideoMeta, extract_faces
from forgebench.stages.score import score

torch.set_num_threads(2)
N_FRAMES = 16
FACES = FacesSettings(crop_size=64, frames_per_video=4)


def _config(**metrics) -> Config:
    # one worker: the LPIPS test patches the weights registry in this process
    return config_from_dict(
        {
            "faces": FACES.model_dump(),
            "device": "cpu",
            "generators": {},
            "detectors": {},
            "execution": {"workers": 1},
            "metrics": {"frames_per_video": 3, "batch_size": 4, **metrics},
        }
    )


def score_run(run_dir, config, progress=False):
    return score(RunDir(run_dir), config, progress)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, clips_dir) -> Path:
    """faces/ (videos.parquet, real c23 videos, crops, manifests of d0 and d3), and
    fakes/blur/ with d0_d3.mp4 (d0 with a blurred face), its frames table and manifest."""
    run = tmp_path_factory.mktemp("run")
    rd = RunDir(run)
    analyzer = FaceAnalyzer(FACES)
    rows, jobs = [], []
    for name, split in (("d0", "test"), ("d3", "test")):
        real = rd.faces.real_video("c23", name)
        info = reencode(clips_dir / f"{name}.mp4", real, crf=23, max_frames=N_FRAMES)
        rows.append(
            {
                "video_name": name,
                "identity": name,
                "split": split,
                "input_path": str(clips_dir / f"{name}.mp4"),
                "real_path": rd.relative(real),
                "fps": info.fps,
                "n_frames": info.n_frames,
                "width": info.width,
                "height": info.height,
            }
        )
        jobs.append((real, VideoMeta("samples", "real", "c23", name, 0, name)))
    rd.faces.write_videos(pd.DataFrame(rows))

    gen_dir = run / "fakes" / "blur"
    fake = gen_dir / "d0_d3.mp4"
    frames = []
    with VideoWriter(fake, fps=probe(clips_dir / "d0.mp4").fps, crf=23) as writer:
        for index, frame in iter_frames(clips_dir / "d0.mp4", max_frames=N_FRAMES):
            face = analyzer.detect(frame)
            if face is not None:
                inside = face_mask(face.landmarks, frame.shape[:2])[..., None]
                frame = np.where(inside, cv2.GaussianBlur(frame, (0, 0), 2.0), frame)
            writer.write(frame)
            frames.append(
                {
                    "frame_index": index,
                    "has_face": face is not None,
                    "landmarks": [] if face is None else face.landmarks.reshape(-1).tolist(),
                    "matrix": [] if face is None else face.matrix.reshape(-1).tolist(),
                    "driving_landmarks": [],
                }
            )
    rd.fakes.write_frames("blur", "d0_d3", pd.DataFrame(frames))
    manifest = {
        "method": "blur",
        "video_name": "d0_d3",
        "video_id": "samples/blur/c23/d0_d3",
        "target": "d0",
        "source": "d3",
        "driving": "",
        "split": "test",
        "path": fake.relative_to(run).as_posix(),
        "mask_path": "",  # a fake made without its mask video
        "mask_sha256": "",
        "target_path": str(clips_dir / "d0.mp4"),
        "n_frames": len(frames),
        "n_frames_with_face": sum(f["has_face"] for f in frames),
        "fps": 25.0,
        "checkpoint": "",
        "checkpoint_sha256": "",
        "settings": "{}",
    }
    rd.fakes.write("blur", pd.DataFrame([manifest]))
    jobs.append((fake, VideoMeta("samples", "blur", "c23", "d0_d3", 1, "d0", source="d3")))
    assert extract_faces(rd, jobs, FACES, progress=False) == []
    rd.faces.write_manifest(rd.faces.collect())
    return run


def test_score_run_tables_and_ranges(tiny_run):
    df = score_run(tiny_run, _config(), progress=False)
    assert list(df.columns) == list(QUALITY.columns) and len(df) == 1
    row = df.iloc[0]
    assert row["video_id"] == "samples/blur/c23/d0_d3" and row["n_frames"] == 3
    # The blurred face is close to, but not the same as, the real face it replaced.
    assert 0.3 < row["ssim"] < 0.999 and 15 < row["psnr"] < 60
    assert np.isnan(row["lpips"])  # no AlexNet weights in the empty test cache
    # A blurred d0 still looks like d0 and not like the "source" d3; a swap has no driving identity.
    assert -1 <= row["id_sim_source_dlib"] < row["id_sim_target_dlib"] <= 1 and np.isnan(row["id_sim_driving_dlib"])
    assert row["id_retrieval_dlib"] == 0.0  # the nearest real frame of every fake frame is d0's, not the source d3's
    # no ArcFace weights in the empty test cache: its columns are NaN, never computed with random weights
    assert np.isnan(row[["id_sim_source", "id_sim_target", "id_sim_driving", "id_retrieval"]].astype(float)).all()
    assert 0 <= row["landmark_distance"] < 0.2 and row["landmark_model"] == "dlib"
    # the blur inside a hard hull mask leaves a visible boundary; the warping error of the
    # blurred video and of the real one are both measured, each on its own flow
    assert row["boundary"] > 0 and np.isfinite(row["boundary"])
    assert 0 < row["warp_error_real"] < 0.05 and 0 < row["warp_error"] < 0.05
    assert row["reference"].startswith("pixels: the target frame it replaced")

    frames = pd.read_parquet(tiny_run / "metrics" / "quality_frames.parquet")
    assert list(frames.columns) == list(QUALITY_FRAMES.columns) and len(frames) == 3
    assert set(frames["id_nearest_dlib"]) == {"d0"} and set(frames["id_nearest"]) == {""}
    assert frames["ssim"].mean() == pytest.approx(row["ssim"])

    sets = pd.read_parquet(tiny_run / "metrics" / "quality_sets.parquet")
    assert list(sets.columns) == list(QUALITY_SETS.columns) and set(sets["method"]) == {"blur"}
    sets = sets.set_index("metric")
    assert set(sets.index) == {"fid", "kid", "frechet_dlib", "lpips", "id_retrieval", "id_retrieval_dlib"}
    arc = sets.loc["id_retrieval"]
    assert (
        np.isnan(arc["value"])
        and arc["status"].startswith("unavailable: ")
        and "glint360k_cosface_r100_fp16_0.1.pth" in arc["status"]
    )
    assert sets.loc["id_retrieval_dlib", "value"] == 0.0 and sets.loc["id_retrieval_dlib", "n_fake"] == 3
    fid = sets.loc["fid"]
    assert np.isnan(fid["value"]) and fid["status"].startswith("unavailable: ")
    assert (
        np.isnan(sets.loc["kid", "value"]) and sets.loc["kid", "status"] == fid["status"]
    )  # the same Inception features
    assert "pt_inception-2015-12-05-6726825d.pth" in fid["status"] and fid["n_real"] == 8 and fid["n_fake"] == 4
    lp = sets.loc["lpips"]
    assert np.isnan(lp["value"]) and "alexnet-owt-7be5be79.pth" in lp["status"]
    fd = sets.loc["frechet_dlib"]
    assert fd["status"] == "ok" and fd["value"] > 0 and fd["n_real"] == 8 and fd["n_fake"] == 3
    assert len(fd["weights_sha256"]) == 64 and fd["weights"] == "dlib_face_recognition_resnet_model_v1.dat"

    # Resume: nothing is recomputed or rewritten.
    stamp = {p.name: p.stat().st_mtime_ns for p in (tiny_run / "metrics").iterdir()}
    again = score_run(tiny_run, _config(), progress=False)
    assert again.equals(df)
    assert stamp == {p.name: p.stat().st_mtime_ns for p in (tiny_run / "metrics").iterdir()}


def test_score_run_with_lpips_weights(tiny_run, tmp_path, monkeypatch):
    import torchvision

    from forgebench import weights

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("metrics"))
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    cache.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), cache / "alexnet-owt-7be5be79.pth")
    entry = dataclasses.replace(weights.REGISTRY["alexnet"], sha256=sha256_file(cache / "alexnet-owt-7be5be79.pth"))
    monkeypatch.setitem(weights.REGISTRY, "alexnet", entry)
    df = score_run(run, _config(fid=False), progress=False)
    assert np.isfinite(df["lpips"].iloc[0]) and df["lpips"].iloc[0] > 0
    sets = pd.read_parquet(run / "metrics" / "quality_sets.parquet").set_index("metric")
    assert sets.loc["lpips", "status"] == "ok" and sets.loc["lpips", "weights_sha256"] == entry.sha256
    assert sets.loc["lpips", "value"] == pytest.approx(df["lpips"].iloc[0])
    assert sets.loc["fid", "status"] == "unavailable: disabled in the config (metrics.fid: false)"


def test_score_run_with_arcface_weights(tiny_run, tmp_path, monkeypatch):
    """With an ArcFace weights file in the cache (random weights made here: the real file
    cannot be downloaded on this machine), the ArcFace columns are computed through the
    registry and the reconstruction of identity retrieval runs against every real frame."""
    from forgebench import weights
    from forgebench.metrics.arcface import iresnet100

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("metrics"))
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    cache.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    path = cache / "glint360k_cosface_r100_fp16_0.1.pth"
    torch.save(iresnet100().state_dict(), path)
    monkeypatch.setitem(
        weights.REGISTRY,
        "arcface_r100_glint360k",
        dataclasses.replace(weights.REGISTRY["arcface_r100_glint360k"], sha256=sha256_file(path)),
    )
    df = score_run(run, _config(fid=False, lpips=False), progress=False)
    row = df.iloc[0]
    for col in ("id_sim_source", "id_sim_target", "id_retrieval"):
        assert -1 <= row[col] <= 1
    frames = pd.read_parquet(run / "metrics" / "quality_frames.parquet")
    assert set(frames["id_nearest"]) <= {"d0", "d3"} and (frames["id_nearest"] != "").all()
    sets = pd.read_parquet(run / "metrics" / "quality_sets.parquet").set_index("metric")
    arc = sets.loc["id_retrieval"]
    assert (
        arc["status"] == "ok"
        and arc["weights_sha256"] == sha256_file(path)
        and arc["value"] == pytest.approx(row["id_retrieval"])
    )


def test_fakes_are_compared_with_the_reencoded_real_video(tiny_run, tmp_path):
    # a "fake" that is the target's re-encoded real video itself: like with like, identical
    # frames (compared with the input video, the codec loss alone would cost SSIM)
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("metrics"))
    shutil.copyfile(RunDir(run).faces.real_video("c23", "d0"), run / "fakes" / "blur" / "d0_d3.mp4")
    df = score_run(run, _config(fid=False, lpips=False), progress=False)
    assert df["n_frames"].iloc[0] > 0 and df["ssim"].iloc[0] == pytest.approx(1.0)
    frames = pd.read_parquet(run / "metrics" / "quality_frames.parquet")
    assert len(frames) > 0 and np.allclose(frames["ssim"], 1.0)
    # the real video against itself: no seam, and the flicker of the real video itself
    assert np.allclose(frames["boundary"], 1.0) and np.allclose(frames["warp_error"], frames["warp_error_real"])


def test_animation_fakes_get_no_pixel_comparison(tiny_run, tmp_path):
    from forgebench.metrics.quality import QualitySettings
    from forgebench.stages.score_units import (
        FakeVideo,
        IdentityModels,
        reference_note,
        replaces_target_frames,
        video_unit,
    )

    rd = RunDir(tiny_run)
    fake = FakeVideo(
        "blur",
        "samples/blur/c23/d0_d3",
        "d0_d3",
        "d0",
        "d3",
        "",
        tiny_run / "fakes" / "blur" / "d0_d3.mp4",
        rd.faces.real_video("c23", "d0"),
        rd.fakes.frames_file("blur", "d0_d3"),
        pixels=False,
    )
    means = {"d0": np.ones(128), "d3": -np.ones(128)}
    out = video_unit(
        fake,
        IdentityModels(means, {}, "dlib"),
        QualitySettings(frames_per_video=2, lpips=False),
        FACES,
        False,
        "cpu",
        tmp_path / "unit.parquet",
    )
    frames = pd.read_parquet(out)
    assert len(frames) == 2 and frames[["ssim", "psnr", "lpips"]].isna().all().all()
    assert (
        frames["id_sim_target_dlib"].notna().all()
        and frames["akd"].notna().all()
        and frames["warp_error"].notna().all()
    )
    # no target frame t replaced: no blending boundary against it; the real video's own warping error is still there
    assert frames["boundary"].isna().all() and frames["warp_error_real"].notna().all()

    # fomm's frame t animates the target's first frame: not compared with target frame t
    assert replaces_target_frames("fomm") is False and replaces_target_frames("autoencoder_swap")
    assert replaces_target_frames("pix2pix_reenact") and replaces_target_frames("imported_set")
    assert reference_note("fomm").startswith("no pixel comparison") and "driving landmarks" in reference_note("fomm")


def test_score_run_needs_fakes(tmp_path):
    (tmp_path / "faces").mkdir()
    with pytest.raises(DataError, match="no fakes manifest"):
        score_run(tmp_path, _config(), progress=False)


def test_akd_landmarks_from_fan_when_its_weights_are_there(tiny_run, tmp_path, monkeypatch):
    """With face-alignment's FAN weights in the cache (a random FAN(4) state dict made here:
    the real file cannot be downloaded on this machine) the fakes' landmarks come from FAN,
    the FOMM paper's AKD, and the table names the model."""
    from face_alignment.models import FAN

    from forgebench import weights
    from forgebench.stages.score_units import stage_landmark_model

    assert stage_landmark_model() == "dlib"  # no weights in the empty test cache
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("metrics"))
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    cache.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    path = cache / "2DFAN4-11f355bf06.pth.tar"
    torch.save(FAN(4).state_dict(), path)
    monkeypatch.setitem(
        weights.REGISTRY, "fan2d", dataclasses.replace(weights.REGISTRY["fan2d"], sha256=sha256_file(path))
    )
    assert stage_landmark_model() == "fan"
    df = score_run(run, _config(fid=False, lpips=False, frames_per_video=1), progress=False)
    assert set(df["landmark_model"]) == {"fan"} and np.isfinite(df["akd"]).all()
    # one model on both sides: the target frame's landmarks are found again with FAN, so a fake that
    # is the real video itself has an AKD of exactly 0 (FAN against the stored dlib landmarks would not)
    shutil.copyfile(RunDir(run).faces.real_video("c23", "d0"), run / "fakes" / "blur" / "d0_d3.mp4")
    same = score_run(run, _config(fid=False, lpips=False, frames_per_video=1), progress=False)
    assert set(same["landmark_model"]) == {"fan"} and same["akd"].iloc[0] == 0.0


def _add_still_fomm_fake(run: Path, clips_dir: Path) -> None:
    """fakes/fomm/d0_d3.mp4: a 'fomm' animation that holds d0's first frame perfectly still
    (drawn to that frame's landmarks) while the real target d0 moves, with its frames
    table (the still frame's face on every frame) and manifest."""
    rd = RunDir(run)
    frame = next(iter(iter_frames(clips_dir / "d0.mp4", max_frames=1)))[1]
    face = FaceAnalyzer(FACES).detect(frame)
    assert face is not None
    fake = run / "fakes" / "fomm" / "d0_d3.mp4"
    with VideoWriter(fake, fps=probe(clips_dir / "d0.mp4").fps, crf=23) as writer:
        for _ in range(N_FRAMES):
            writer.write(frame)
    points = face.landmarks.reshape(-1).tolist()
    rd.fakes.write_frames(
        "fomm",
        "d0_d3",
        pd.DataFrame(
            [
                {
                    "frame_index": i,
                    "has_face": True,
                    "landmarks": points,
                    "matrix": face.matrix.reshape(-1).tolist(),
                    "driving_landmarks": points,
                }
                for i in range(N_FRAMES)
            ]
        ),
    )
    rd.fakes.write(
        "fomm",
        pd.DataFrame(
            [
                {
                    "method": "fomm",
                    "video_name": "d0_d3",
                    "video_id": "samples/fomm/c23/d0_d3",
                    "target": "d0",
                    "source": "",
                    "driving": "d3",
                    "split": "test",
                    "path": fake.relative_to(run).as_posix(),
                    "mask_path": "",
                    "mask_sha256": "",
                    "target_path": str(clips_dir / "d0.mp4"),
                    "n_frames": N_FRAMES,
                    "n_frames_with_face": N_FRAMES,
                    "fps": 25.0,
                    "checkpoint": "",
                    "checkpoint_sha256": "",
                    "settings": "{}",
                }
            ]
        ),
    )


def test_fomm_fakes_warping_error_on_their_own_flow_and_no_boundary(tiny_run, tmp_path, clips_dir):
    """A fomm fake is not measured against target frame t: a still animation of a moving
    target keeps a warping error at most the real one (the old definition, with the
    target's flow, charged it for the target's motion), and its boundary is NaN with the
    'not applicable' reason the report prints."""
    from forgebench.leaderboard.report import why_empty
    from forgebench.stages.score_units import reference_note

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("metrics"))
    _add_still_fomm_fake(run, clips_dir)
    df = score_run(run, _config(fid=False, lpips=False), progress=False).set_index("method")
    fomm, blur = df.loc["fomm"], df.loc["blur"]
    assert fomm["n_frames"] == 3 and fomm["landmark_model"] == "dlib"
    assert 0 < fomm["warp_error_real"] < 0.05 and 0 <= fomm["warp_error"] < fomm["warp_error_real"]
    assert fomm["warp_error_real"] == pytest.approx(blur["warp_error_real"], rel=0.5)  # the same real video, own flow
    assert np.isnan(fomm[["ssim", "psnr", "lpips", "boundary"]].astype(float)).all()
    assert np.isfinite(blur["boundary"])  # a swap-like fake replaces target frame t: boundary applies
    # drawn to the still frame's landmarks, shown still: the landmarks follow what it was drawn to
    assert 0 <= fomm["landmark_distance"] < 0.05 and 0 <= fomm["akd"] < 1.0
    assert fomm["reference"] == reference_note("fomm") and "boundary: not applicable" in fomm["reference"]
    reason = why_empty("boundary", pd.Series({"method": "fomm", "reference": fomm["reference"]}))
    assert reason == "unavailable: not applicable to fomm: it animates one still frame, no target frame t is replaced"
    assert why_empty("boundary", pd.Series({"method": "blur", "reference": blur["reference"]})).endswith(
        "no finite value in quality.parquet"
    )
    frames = pd.read_parquet(run / "metrics" / "quality_frames.parquet")
    assert frames.loc[frames["method"] == "fomm", "boundary"].isna().all()


def test_reenactment_landmarks_against_the_driving_landmarks(tiny_run, tmp_path):
    """A 'reenactment' that ignores its driving video (the target video itself) drawn to
    landmarks 12 px to the right: landmark_distance and AKD are taken against what it was
    drawn to, so it is penalised; compared with the target (the old reference) it would
    score about 0. A swap of the same frames is compared with the target."""
    from forgebench.faces.align import inter_ocular_distance, landmarks_array
    from forgebench.metrics.quality import QualitySettings
    from forgebench.stages.score_units import FakeVideo, IdentityModels, video_unit

    rd = RunDir(tiny_run)
    table = rd.fakes.read_frames("blur", "d0_d3")
    shifted = table.copy()
    shifted["driving_landmarks"] = [
        [] if not len(v) else (landmarks_array(v) + [12.0, 0.0]).reshape(-1).tolist() for v in table["landmarks"]
    ]
    write_parquet(tmp_path / "reenact.parquet", shifted)
    real = rd.faces.real_video("c23", "d0")
    means = {"d0": np.ones(128), "d3": -np.ones(128)}
    out = {}
    for kind, frames_file in (
        ("reenactment", tmp_path / "reenact.parquet"),
        ("swap", rd.fakes.frames_file("blur", "d0_d3")),
    ):
        fake = FakeVideo("pix2pix_reenact", "v", "d0_d3", "d0", "", "d3", real, real, frames_file)
        out[kind] = pd.read_parquet(
            video_unit(
                fake,
                IdentityModels(means, {}, "dlib"),
                QualitySettings(frames_per_video=3, lpips=False),
                FACES,
                False,
                "cpu",
                tmp_path / f"{kind}.parquet",
            )
        )
    reenact, swap = out["reenactment"], out["swap"]
    assert len(reenact) == len(swap) == 3
    iod = np.mean([inter_ocular_distance(landmarks_array(v)) for v in table["landmarks"] if len(v)])
    print(
        f"landmark_distance: drawn 12 px away {reenact['landmark_distance'].mean():.3f} (12 / iod = {12 / iod:.3f}), "
        f"swap {swap['landmark_distance'].mean():.3f}; akd {reenact['akd'].mean():.2f} vs {swap['akd'].mean():.2f} px"
    )
    assert swap["landmark_distance"].max() < 0.05
    assert reenact["landmark_distance"].mean() == pytest.approx(12 / iod, abs=0.05)
    scale = np.linalg.norm(np.asarray(table["matrix"].iloc[0]).reshape(2, 3)[:, 0])  # frame px -> crop px
    assert reenact["akd"].mean() == pytest.approx(12 * scale / 2, abs=0.5)  # |dx| = 12 px, |dy| = 0: mean 6 px x scale
    assert (reenact["akd"] > swap["akd"] + 1).all()


def test_row_dataclasses_match_the_table_schemas():
    """Each typed row of the score stage has exactly its table's columns, in order, so a
    column added to a schema (or to a row) cannot drift from the other."""
    from forgebench.schemas import RECONSTRUCTION, RECONSTRUCTION_FRAMES
    from forgebench.stages.score_rows import (
        SET_UNIT_COLUMNS,
        QualityFrameRow,
        QualityRow,
        ReconstructionFrameRow,
        ReconstructionRow,
        SetRow,
    )

    def names(cls):
        return tuple(f.name for f in dataclasses.fields(cls))

    assert names(QualityRow) == QUALITY.columns
    assert names(SetRow) == QUALITY_SETS.columns
    assert names(QualityFrameRow) == QUALITY_FRAMES.columns
    assert names(ReconstructionRow) == RECONSTRUCTION.columns
    assert names(ReconstructionFrameRow) == RECONSTRUCTION_FRAMES.columns
    assert SET_UNIT_COLUMNS == tuple(c for c in QUALITY_SETS.columns if c != "eval_mode")


def test_row_records_and_set_rows():
    """Rows become table rows with the extra metrics after the schema's columns; a set row
    keeps its value and weights hash only when its status is ok."""
    from forgebench.stages.score_rows import (
        SetRow,
        VideoQuality,
        WeightsRef,
        WeightsStatus,
        retrieval_rows,
        rows_table,
        video_quality,
    )

    frames = pd.DataFrame(
        {c: [0.5, 0.7] for c in QUALITY_FRAMES.columns}
        | {
            "method": "m",
            "video_id": "v",
            "video_name": "n",
            "frame_index": [0, 1],
            "landmark_model": "dlib",
            "id_nearest": ["a", "b"],
            "id_nearest_dlib": ["a", "a"],
            "lpips": [np.nan, 0.3],
            "sharp": [1.0, 3.0],
        }
    )
    fake = {
        "method": "m",
        "video_id": "v",
        "video_name": "n",
        "target": "b",
        "source": "a",
        "driving": "",
        "split": "test",
        "settings": '{"eval_mode": false}',
    }
    video = video_quality(fake, frames, ["sharp"], "note")
    assert isinstance(video, VideoQuality) and video.extra == {"sharp": 2.0}
    assert video.row.ssim == pytest.approx(0.6) and video.row.lpips == pytest.approx(0.3) and video.row.n_frames == 2
    assert video.row.id_retrieval == 0.5 and video.row.id_retrieval_dlib == 1.0 and video.row.eval_mode is False
    table = rows_table([video], list(QUALITY.columns) + ["sharp"])
    assert list(table.columns) == list(QUALITY.columns) + ["sharp"] and table["sharp"].iloc[0] == 2.0

    bad = SetRow.measured("m", "fid", 3.0, "unavailable: no weights", 4, 5, WeightsRef("f.pth", "ab" * 32))
    good = SetRow.measured("m", "fid", 3, "ok", 4, 5, WeightsRef("f.pth", "ab" * 32))
    assert np.isnan(bad.value) and bad.weights_sha256 == "" and bad.weights == "f.pth"
    assert good.value == 3.0 and good.weights_sha256 == "ab" * 32 and good.eval_mode is None
    arc = WeightsStatus("unavailable: missing", "arc.pth")
    rows = retrieval_rows("m", frames, [fake], 10, arc, WeightsRef("dlib.dat", "cd" * 32))
    assert [r.metric for r in rows] == ["id_retrieval", "id_retrieval_dlib"] and not arc.ok
    assert np.isnan(rows[0].value) and rows[0].status == "unavailable: missing" and rows[0].weights == "arc.pth"
    assert rows[1].value == 1.0 and rows[1].n_real == 10 and rows[1].n_fake == 2 and rows[1].weights_sha256 == "cd" * 32
