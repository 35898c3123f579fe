"""Test-time perturbations (robustness curves) and detector training augmentations, on
real face crops of the sample clips."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from toy_data import with_files

from forgebench.config import FacesSettings
from forgebench.detectors import AugmentSettings, CropAugment, build_augment
from forgebench.errors import DataError
from forgebench.faces import crops_at
from forgebench.media import read_image, reencode
from forgebench.perturbations import (
    DEFAULT_STRENGTHS,
    RobustnessSettings,
    check_strength,
    get_perturbation,
    list_perturbations,
    perturb_crop,
)
from forgebench.stages import RunDir
from forgebench.stages.extract import VideoMeta, extract_faces
from forgebench.stages.train import perturbed_crops, perturbed_video_unit

CROP = 128


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def run(clips_dir, tmp_path_factory):
    """A tiny run dir: faces of 3 frames from each of two 15-frame re-encoded clips."""
    root = tmp_path_factory.mktemp("robust")
    run = RunDir(root / "run")
    settings = FacesSettings(frames_per_video=3, detect_max_side=320, crop_size=CROP)
    jobs = []
    for name in ("d0", "d12"):
        video = root / "videos" / f"{name}.mp4"
        reencode(clips_dir / f"{name}.mp4", video, crf=23, max_frames=15)
        jobs.append((video, VideoMeta("samples", "real", "c23", name, 0, name)))
    assert extract_faces(run, jobs, settings, progress=False) == []
    return run.root, with_files(run.faces.collect(), run.root)  # as the train stage hands them to its units


def _h264(run_dir, frames, crf):
    run = RunDir(run_dir)
    videos = {}
    for vid, rows in frames.groupby("video_id", sort=False):
        where = ("h264", "crf", crf, rows["method"].iloc[0], rows["video_name"].iloc[0])
        videos[vid] = perturbed_video_unit(
            run.faces.source_video(vid),
            run.detectors.perturbed_video(*where),
            run.detectors.perturbed_video_stamp(*where),
            "h264",
            crf,
        )
    return perturbed_crops(frames, "h264", crf, videos, seed=0)


@pytest.fixture(scope="module")
def crop(run):
    run_dir, frames = run
    return read_image(frames["crop_path"].iloc[0])


def test_registry_and_strength_checks(crop):
    assert list_perturbations() == sorted(DEFAULT_STRENGTHS)
    assert get_perturbation("h264").level == "video" and get_perturbation("jpeg").stronger == "lower"
    with pytest.raises(KeyError, match="registered"):
        perturb_crop(crop, "gamma", 1.0)
    with pytest.raises(ValueError, match=r"\[1, 100\]"):
        perturb_crop(crop, "jpeg", 0)
    with pytest.raises(ValueError, match="whole number"):
        check_strength("jpeg", 50.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        perturb_crop(crop, "noise", 1.5)
    with pytest.raises(ValueError, match="video-level"):
        perturb_crop(crop, "h264", 23)
    with pytest.raises(ValueError, match="uint8"):
        perturb_crop(crop.astype(np.float32), "blur", 1)


def test_crop_perturbations_on_real_crop(crop):
    before = crop.copy()
    for name, strength in [("blur", 0), ("downscale", 1), ("noise", 0)]:
        assert np.array_equal(perturb_crop(crop, name, strength), crop), name
    # Colour order is kept (an RGB/BGR swap would fall far below 35 dB) and quality orders PSNR.
    scores = [psnr(perturb_crop(crop, "jpeg", q), crop) for q in (95, 70, 30, 5)]
    assert scores[0] > 35 and scores == sorted(scores, reverse=True)
    blurs = [psnr(perturb_crop(crop, "blur", s), crop) for s in (1, 2, 3)]
    assert blurs == sorted(blurs, reverse=True) and blurs[-1] < 35
    small = [psnr(perturb_crop(crop, "downscale", f), crop) for f in (2, 4)]
    assert small[0] > small[1] and np.isfinite(small[1])
    for name, s in [("jpeg", 50), ("blur", 2.5), ("noise", 0.1), ("downscale", 3)]:
        out = perturb_crop(crop, name, s)
        assert out.shape == crop.shape and out.dtype == np.uint8
    assert np.array_equal(crop, before)  # input untouched


def test_noise_is_reproducible_per_key(crop):
    a = perturb_crop(crop, "noise", 0.05, seed=1, key="x")
    assert np.array_equal(a, perturb_crop(crop, "noise", 0.05, seed=1, key="x"))
    assert not np.array_equal(a, perturb_crop(crop, "noise", 0.05, seed=1, key="y"))
    assert not np.array_equal(a, perturb_crop(crop, "noise", 0.05, seed=2, key="x"))
    diff = a.astype(float) - crop.astype(float)
    assert diff.std() == pytest.approx(0.05 * 255, rel=0.1)


def test_perturbed_crops_crop_level_order_independent(run):
    run_dir, frames = run
    out = perturbed_crops(frames, "noise", 0.05, {}, seed=3)
    assert len(out) == len(frames) == 6
    rev = perturbed_crops(frames.iloc[::-1], "noise", 0.05, {}, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(out, rev[::-1]))
    rel = frames["crop_key"].iloc[2]
    assert np.array_equal(out[2], perturb_crop(read_image(run_dir / rel), "noise", 0.05, seed=3, key=rel))


def test_h264_recrops_with_stored_alignment(run):
    run_dir, frames = run
    cache = run_dir / "robustness"
    clean = [read_image(p) for p in frames["crop_path"]]
    # Re-cropping the clean video with the stored matrices gives the stored crops exactly.
    rows = frames[frames["video_name"] == "d0"]
    video = run_dir.parent / "videos" / "d0.mp4"
    recropped = crops_at(video, rows["frame_index"].tolist(), rows["matrix"].tolist(), CROP)
    assert all(np.array_equal(a, read_image(p)) for a, p in zip(recropped, rows["crop_path"]))
    c23 = _h264(run_dir, frames, 23)
    c40 = _h264(run_dir, frames, 40)
    f23, f40 = cache / "h264_crf23" / "real" / "d0.mp4", cache / "h264_crf40" / "real" / "d0.mp4"
    assert f40.stat().st_size < f23.stat().st_size
    assert all(c.shape == (CROP, CROP, 3) and c.dtype == np.uint8 for c in c23 + c40)
    p23 = np.array([psnr(a, b) for a, b in zip(c23, clean)])
    p40 = np.array([psnr(a, b) for a, b in zip(c40, clean)])
    assert np.all(np.isfinite(p23)) and np.all(p23 > 20) and p40.mean() < p23.mean()
    # Reused when present (resume), same crops.
    stamp = f23.stat().st_mtime_ns
    again = _h264(run_dir, frames.iloc[[4, 0]], 23)
    assert f23.stat().st_mtime_ns == stamp
    assert np.array_equal(again[0], c23[4]) and np.array_equal(again[1], c23[0])


def test_h264_missing_video_is_named(run, tmp_path):
    run_dir, frames = run
    with pytest.raises(DataError, match="no video file recorded for samples/real/c23/nope"):
        _h264(run_dir, frames.assign(video_id="samples/real/c23/nope"), 23)
    (tmp_path / "faces").mkdir()
    report = {vid: {"video": str(tmp_path / "gone.mp4")} for vid in frames["video_id"].unique()}
    (tmp_path / "faces" / "report.json").write_text(json.dumps(report))
    with pytest.raises(DataError, match="gone.mp4"):
        _h264(tmp_path, frames, 23)


def test_robustness_settings():
    s = RobustnessSettings()
    assert {n: getattr(s, n) for n in DEFAULT_STRENGTHS} == DEFAULT_STRENGTHS
    curves = s.curves()
    assert curves["jpeg"] == [None, 90, 70, 50, 30] and curves["h264"] == [None, 23, 40]
    assert curves["noise"] == [None, 0.02, 0.05, 0.1]
    assert "blur" not in RobustnessSettings(blur=[]).curves() and RobustnessSettings(enabled=False).curves() == {}
    with pytest.raises(ValidationError, match="jpg"):
        RobustnessSettings.model_validate({"jpg": [50]})
    with pytest.raises(ValidationError, match=r"\[0, 51\]"):
        RobustnessSettings(h264=[60])
    with pytest.raises(ValidationError):
        RobustnessSettings(max_frames_per_video=0)


def test_augment_deterministic_shapes(crop):
    aug = build_augment(AugmentSettings(jpeg_p=0.5, blur_p=0.5))
    assert isinstance(aug, CropAugment)
    torch.manual_seed(0)
    a = [aug(crop) for _ in range(6)]
    torch.manual_seed(0)
    b = [aug(torch.tensor(crop)) for _ in range(6)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert len({x.sum().item() for x in a}) > 1  # actually random
    for x in a:
        assert x.shape == (3, CROP, CROP) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    flip = build_augment(AugmentSettings(flip=1.0, color_jitter=0, jpeg_quality=None, blur_sigma=None))
    ref = torch.tensor(crop).permute(2, 0, 1).float() / 255
    assert torch.equal(flip(crop), ref.flip(-1))


def test_augment_settings_switches():
    assert build_augment(False) is None and build_augment(None) is None
    assert build_augment(AugmentSettings.disabled()) is None
    assert build_augment(True).settings == AugmentSettings()
    with pytest.raises(ValidationError):
        AugmentSettings(jpeg_quality=(90, 50))
    with pytest.raises(ValidationError):
        AugmentSettings(flip=1.5)
    with pytest.raises(ValidationError, match="rotate"):
        AugmentSettings.model_validate({"rotate": 0.5})
