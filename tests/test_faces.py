"""Faces stage on the real clips: detection, landmarks, alignment, crops, manifest."""

import json

import numpy as np
import pytest

from forgebench.config import FacesSettings
from forgebench.errors import MediaError, NoFaceError
from forgebench.faces import FaceAnalyzer
from forgebench.faces.align import inter_ocular_distance, template_in_crop
from forgebench.faces.extract import VideoMeta, extract_many, extract_video, load_manifest, manifest_path
from forgebench.faces.template import TEMPLATE_68, fit_template
from forgebench.media import VideoWriter, iter_frames, read_image


def test_template_is_normalised_and_symmetric():
    from forgebench.faces.align_util import MIRROR_68

    lo, hi = TEMPLATE_68.min(0), TEMPLATE_68.max(0)
    assert np.allclose((lo + hi) / 2, 0, atol=1e-6) and np.isclose((hi - lo).max(), 1)
    assert np.allclose(TEMPLATE_68[MIRROR_68] * [-1, 1], TEMPLATE_68, atol=1e-6)
    assert np.allclose(fit_template(np.stack([TEMPLATE_68 * 90 + 7] * 3)), TEMPLATE_68, atol=1e-6)


def test_detect_align_crop_real_frame(clips_dir):
    settings = FacesSettings(crop_size=128)
    analyzer = FaceAnalyzer(settings)
    (_, frame), = iter_frames(clips_dir / "d3.mp4", indices=[40])
    face = analyzer.detect(frame)
    assert face is not None
    crop = face.crop(frame)
    assert crop.shape == (128, 128, 3) and crop.dtype == np.uint8
    # Aligned landmarks land near the template; the eyes are level.
    pts = face.landmarks_crop
    ref = template_in_crop(128, settings.margin)
    assert np.abs(pts - ref).mean() < 0.05 * 128
    assert abs(pts[36, 1] - pts[45, 1]) < 0.05 * 128
    assert inter_ocular_distance(pts) == pytest.approx(inter_ocular_distance(ref), rel=0.15)


def test_no_face_frame_returns_none():
    assert FaceAnalyzer().detect(np.full((240, 320, 3), 127, np.uint8)) is None


def test_extract_video_manifest_and_resume(clips_dir, tmp_path):
    settings = FacesSettings(crop_size=64, frames_per_video=4)
    meta = VideoMeta("samples", "real", "c23", "d12", 0, "d12", "d12")
    df = extract_video(clips_dir / "d12.mp4", tmp_path, meta, FaceAnalyzer(settings), settings, progress=False)
    assert len(df) == 4 and df["video_id"].unique().tolist() == ["samples/real/c23/d12"]
    assert len(df["landmarks"].iloc[0]) == 136 and len(df["matrix"].iloc[0]) == 6
    assert read_image(tmp_path / df["crop_path"].iloc[0]).shape == (64, 64, 3)
    first = manifest_path(tmp_path, "real", "d12").stat().st_mtime_ns
    again = extract_video(clips_dir / "d12.mp4", tmp_path, meta, FaceAnalyzer(settings), settings, progress=False)
    assert manifest_path(tmp_path, "real", "d12").stat().st_mtime_ns == first and len(again) == 4
    assert len(load_manifest(tmp_path)) == 4


def test_bad_videos_are_reported_and_others_finish(clips_dir, tmp_path):
    settings = FacesSettings(crop_size=64, frames_per_video=3)
    blank = tmp_path / "blank.mp4"
    with VideoWriter(blank, fps=10) as w:
        for _ in range(5):
            w.write(np.full((96, 96, 3), 90, np.uint8))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00not a video" * 50)
    jobs = [
        (junk, VideoMeta("t", "real", "c23", "junk", 0, "junk", "junk")),
        (blank, VideoMeta("t", "real", "c23", "blank", 0, "blank", "blank")),
        (clips_dir / "d0.mp4", VideoMeta("t", "real", "c23", "d0", 0, "d0", "d0")),
    ]
    done, errors = extract_many(jobs, tmp_path, settings, progress=False)
    assert len(done) == 1 and len(done[0]) == 3
    assert any("junk.mp4" in e for e in errors) and any("blank.mp4" in e and "no face" in e for e in errors)
    report = json.loads((tmp_path / "faces" / "report.json").read_text())
    assert report["t/real/c23/blank"]["frames_no_face"] == 3
    assert "error" in report["t/real/c23/junk"]
    analyzer = FaceAnalyzer(settings)
    with pytest.raises(NoFaceError, match="blank.mp4"):
        extract_video(blank, tmp_path / "x", jobs[1][1], analyzer, settings, progress=False)
    with pytest.raises(MediaError, match="junk.mp4"):
        extract_video(junk, tmp_path / "x", jobs[0][1], analyzer, settings, progress=False)
