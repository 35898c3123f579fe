"""Faces stage on the real clips: detection, landmarks, alignment, crops, manifest."""

import json

import numpy as np
import pytest

from forgebench.config import FacesSettings
from forgebench.errors import DataError, MediaError
from forgebench.execution import LocalBackend
from forgebench.faces import FaceAnalyzer, FaceTracker, crops_at, sample_faces
from forgebench.faces.align import DEEPFAKEBENCH_POINTS, deepfakebench_template, inter_ocular_distance, template_in_crop
from forgebench.faces.template import TEMPLATE_68, fit_template
from forgebench.media import VideoWriter, iter_frames, read_image, write_png
from forgebench.stages import RunDir
from forgebench.stages.extract import FrameSet, VideoMeta, extract_faces, faces_unit
from forgebench.stages.generate import generator_faces


def test_template_is_normalised_and_symmetric():
    from forgebench.faces.align_util import MIRROR_68

    lo, hi = TEMPLATE_68.min(0), TEMPLATE_68.max(0)
    assert np.allclose((lo + hi) / 2, 0, atol=1e-6) and np.isclose((hi - lo).max(), 1)
    assert np.allclose(TEMPLATE_68[MIRROR_68] * [-1, 1], TEMPLATE_68, atol=1e-6)
    assert np.allclose(fit_template(np.stack([TEMPLATE_68 * 90 + 7] * 3)), TEMPLATE_68, atol=1e-6)


def test_detect_align_crop_real_frame(clips_dir):
    settings = FacesSettings(crop_size=128)
    analyzer = FaceAnalyzer(settings)
    ((_, frame),) = iter_frames(clips_dir / "d3.mp4", indices=[40])
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


def _faces_unit(run: RunDir, video, meta, settings):
    folder = run.faces.crop_folder(meta.method, meta.video_name)
    return faces_unit(video, meta, settings, folder, run.relative(folder))


def test_extract_video_manifest_and_resume(clips_dir, tmp_path):
    settings = FacesSettings(crop_size=64, frames_per_video=4)
    run = RunDir(tmp_path)
    meta = VideoMeta("samples", "real", "c23", "d12", 0, "d12")
    result = _faces_unit(run, clips_dir / "d12.mp4", meta, settings)
    assert result.entry["frames_sampled"] == result.entry["frames_with_face"] == 4 and len(result.rows) == 4
    # the unit writes the crops and returns the rows; the stage writes the manifest (in its
    # own process, so the workers import no pandas), after the crops
    assert not run.faces.video_manifest("real", "d12").exists()
    assert extract_faces(run, [(clips_dir / "d12.mp4", meta)], settings, progress=False) == []
    df = run.faces.read_video_manifest("real", "d12")
    assert df["frame_index"].tolist() == [r["frame_index"] for r in result.rows]
    assert len(df) == 4 and df["video_id"].unique().tolist() == ["samples/real/c23/d12"]
    assert len(df["landmarks"].iloc[0]) == 136 and len(df["matrix"].iloc[0]) == 6
    assert read_image(tmp_path / df["crop_path"].iloc[0]).shape == (64, 64, 3)
    first = run.faces.video_manifest("real", "d12").stat().st_mtime_ns
    assert extract_faces(run, [(clips_dir / "d12.mp4", meta)], settings, progress=False) == []
    assert run.faces.video_manifest("real", "d12").stat().st_mtime_ns == first
    assert len(run.faces.collect()) == 4
    # the crops re-made from the video at the stored alignment are the stored crops
    again = crops_at(clips_dir / "d12.mp4", df["frame_index"].tolist(), df["matrix"].tolist(), 64)
    assert all(np.array_equal(a, read_image(tmp_path / p)) for a, p in zip(again, df["crop_path"]))


def test_bad_videos_are_reported_and_others_finish(clips_dir, tmp_path):
    settings = FacesSettings(crop_size=64, frames_per_video=3)
    blank = tmp_path / "blank.mp4"
    with VideoWriter(blank, fps=10) as w:
        for _ in range(5):
            w.write(np.full((96, 96, 3), 90, np.uint8))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00not a video" * 50)
    jobs = [
        (junk, VideoMeta("t", "real", "c23", "junk", 0, "junk")),
        (blank, VideoMeta("t", "real", "c23", "blank", 0, "blank")),
        (clips_dir / "d0.mp4", VideoMeta("t", "real", "c23", "d0", 0, "d0")),
    ]
    run = RunDir(tmp_path / "run")
    errors = extract_faces(run, jobs, settings, progress=False)
    assert len(run.faces.collect()) == 3 and run.faces.video_manifest("real", "d0").is_file()
    assert any("junk.mp4" in e for e in errors) and any("blank.mp4" in e and "no face" in e for e in errors)
    report = json.loads(run.faces.report_file.read_text())
    assert report["t/real/c23/blank"]["frames_no_face"] == 3
    assert "error" in report["t/real/c23/junk"]
    # the video without a face is not searched again; the undecodable one is tried again
    assert extract_faces(run, jobs, settings, progress=False) == [e for e in errors if "junk.mp4" in e]
    assert "no face" in _faces_unit(run, blank, jobs[1][1], settings).entry["error"]
    with pytest.raises(MediaError, match="junk.mp4"):
        sample_faces(junk, settings)


def test_a_failing_unit_keeps_the_manifests_of_the_videos_done(clips_dir, tmp_path):
    # the stage writes each video's manifest as its unit finishes: a unit failing with an
    # unexpected error (a dataset's crop that is not square) stops the stage after the
    # others, and the videos done are kept, not redone on the next run
    bad = tmp_path / "bad"
    bad.mkdir()
    write_png(bad / "000000.png", np.zeros((64, 48, 3), np.uint8))
    settings = FacesSettings(crop_size=64, frames_per_video=2)
    jobs = [
        (clips_dir / "d0.mp4", VideoMeta("t", "real", "c23", "d0", 0, "d0")),
        (FrameSet(bad, "crops", (str(bad / "000000.png"),)), VideoMeta("t", "real", "c23", "bad", 0, "bad")),
    ]
    run = RunDir(tmp_path / "run")
    with pytest.raises(DataError, match="000000.png: a face crop must be square"):
        extract_faces(run, jobs, settings, progress=False, backend=LocalBackend(2, threads=1))
    assert len(run.faces.read_video_manifest("real", "d0")) == 2
    assert not run.faces.video_manifest("real", "bad").exists()


def test_tracker_follows_the_face_with_few_detections(clips_dir):
    analyzer = FaceAnalyzer(FacesSettings(crop_size=128))
    frames = [f for _, f in iter_frames(clips_dir / "d3.mp4", max_frames=40)]
    tracker = FaceTracker(analyzer, redetect_every=8)
    tracked = [tracker(f) for f in frames]
    detected = [analyzer.detect(f) for f in frames]
    assert all(t is not None for t in tracked) and tracker.detections <= 40 // 8 + 3
    iod = np.mean([inter_ocular_distance(d.landmarks) for d in detected])
    errors = [np.linalg.norm(t.landmarks - d.landmarks, axis=1).mean() / iod for t, d in zip(tracked, detected)]
    assert np.mean(errors) < 0.05 and max(errors) < 0.12  # as close as two detections of a frame are
    # a frame without a face is noticed (the thumbnail no longer matches): no face, then found again
    blank = np.full_like(frames[0], 128)
    assert tracker(blank) is None and tracker(frames[0]) is not None


def test_detection_at_the_scale_the_last_face_allows(clips_dir):
    analyzer = FaceAnalyzer(FacesSettings(crop_size=128))  # detect_face_side 100
    full = FaceAnalyzer(FacesSettings(crop_size=128, detect_face_side=0))
    frames = [f for i, f in iter_frames(clips_dir / "d12.mp4") if i % 20 == 0]
    assert (
        full.detection_scale(frames[0].shape, 250.0) == analyzer.detection_scale(frames[0].shape) == 1.0
    )  # 512 px <= 640
    assert analyzer.detection_scale(frames[0].shape, 250.0) == pytest.approx(0.4)
    errors = []
    for frame in frames:
        ref = full.detect(frame)
        fast = analyzer.detect(frame, face_side=ref.bbox[2] - ref.bbox[0])
        errors.append(
            np.linalg.norm(fast.landmarks - ref.landmarks, axis=1).mean() / inter_ocular_distance(ref.landmarks)
        )
    assert np.mean(errors) < 0.04 and max(errors) < 0.2  # landmarks are fitted at full resolution either way
    # a wrong width (20x the real face) finds nothing at its scale: the face is detected again at detect_max_side
    assert analyzer.detect_boxes(frames[0], face_side=5000.0) == []
    again = analyzer.detect(frames[0], face_side=5000.0)
    assert again is not None and np.allclose(again.landmarks, full.detect(frames[0]).landmarks)


def test_deepfakebench_alignment(clips_dir):
    """``faces.alignment: deepfakebench``: DeepfakeBench's five points (37, 44, 30, 49, 55)
    land on its template (256 px, margin 1.3: the targets its preprocess.py computes); the
    face is the same one as forgebench's crop, placed differently; generators keep
    forgebench's alignment."""
    ((_, frame),) = iter_frames(clips_dir / "d3.mp4", indices=[40])
    ours = FaceAnalyzer(FacesSettings()).detect(frame)
    dfb = FaceAnalyzer(FacesSettings(alignment="deepfakebench")).detect(frame)
    assert np.array_equal(ours.landmarks, dfb.landmarks) and not np.allclose(ours.matrix, dfb.matrix)
    target = np.array([[96.87, 120.43], [158.83, 120.09], [128.04, 155.67], [102.59, 191.94], [153.90, 191.66]])
    assert np.allclose(deepfakebench_template(256, 1.3), target, atol=0.01)
    five = dfb.landmarks_crop[list(DEEPFAKEBENCH_POINTS)]
    assert np.abs(five - target).max() < 0.06 * 256  # a similarity fit of five points: small residuals
    assert dfb.crop(frame).shape == (256, 256, 3)
    assert generator_faces(FacesSettings(alignment="deepfakebench")).alignment == "forgebench"
    with pytest.raises(ValueError, match="alignment"):
        FacesSettings(alignment="dlib81")


def test_cached_hog_detector_equals_dlibs_builtin(clips_dir, tmp_path):
    import dlib

    from forgebench.faces.dlib_models import load_hog_detector
    from forgebench.media import probe, sample_indices

    first = load_hog_detector(tmp_path)  # built from dlib's string, and saved
    (saved,) = tmp_path.glob("frontal_face_detector-*.svm")
    cached = load_hog_detector(tmp_path)  # read back from the file
    builtin = dlib.get_frontal_face_detector()
    found = 0
    for clip in sorted(clips_dir.glob("*.mp4")):
        for _, frame in iter_frames(clip, indices=sample_indices(probe(clip).n_frames, 3)):
            runs = [d.run(frame, 1, 0.0) for d in (builtin, first, cached)]
            boxes = [[(r.left(), r.top(), r.right(), r.bottom()) for r in rects] for rects, _, _ in runs]
            assert boxes[0] == boxes[1] == boxes[2]
            assert list(runs[0][1]) == list(runs[2][1]) and list(runs[0][2]) == list(runs[2][2])
            found += len(boxes[0])
    assert found >= 6  # faces were found: the comparison is not of empty lists
    saved.write_bytes(b"not a detector")  # a broken copy is replaced, not trusted
    assert load_hog_detector(tmp_path).run(frame, 1, 0.0)[1] == runs[0][1]
    assert saved.stat().st_size > 1000 and not list(tmp_path.glob("*.partial"))
