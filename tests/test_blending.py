"""forgebench.blending on real frames of the sample clips."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from forgebench.blending import (
    BlendSettings,
    color_transfer_lab,
    erode_blur_mask,
    face_size,
    hull_mask,
    paste_face,
)
from forgebench.config import FacesSettings
from forgebench.faces import FaceAnalyzer
from forgebench.faces.align import transform_points
from forgebench.media import iter_frames


def _first_face(path, analyzer):
    for _, frame in iter_frames(path, max_frames=10):
        face = analyzer.detect(frame)
        if face is not None:
            return frame, face
    raise AssertionError(f"no face in the first frames of {path}")


@pytest.fixture(scope="module")
def faces(clips_dir):
    """Two real frames with their detected faces (d0 and d3), 128-px crops."""
    analyzer = FaceAnalyzer(FacesSettings(crop_size=128))
    return [_first_face(clips_dir / f"{name}.mp4", analyzer) for name in ("d0", "d3")]


def _lab_mean(image, mask):
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    return lab[mask > 0.5].mean(axis=0)


def test_hull_mask_inside_and_outside(faces):
    frame, face = faces[0]
    mask = hull_mask(face.landmarks, frame.shape[:2])
    assert mask.dtype == np.float32 and mask.shape == frame.shape[:2]
    assert set(np.unique(mask)) <= {0.0, 1.0}
    nose = face.landmarks[30].round().astype(int)  # nose tip: well inside the hull
    assert mask[nose[1], nose[0]] == 1.0
    # Far from the face (frame corners are background in these clips) the mask is 0.
    x0, y0 = face.landmarks.min(axis=0).astype(int)
    assert mask[: max(y0 - 5, 1), :].max() == 0.0
    assert mask[0, 0] == 0.0 and mask[-1, -1] == 0.0
    # Area close to the hull's polygon area.
    hull = cv2.convexHull(face.landmarks.astype(np.float32))
    assert abs(mask.sum() / cv2.contourArea(hull) - 1.0) < 0.03


def test_erode_blur_shrinks_and_feathers(faces):
    frame, face = faces[0]
    mask = hull_mask(face.landmarks, frame.shape[:2])
    size = face_size(face.landmarks)
    eroded = erode_blur_mask(mask, erode_px=0.05 * size, blur_px=0)
    assert eroded.sum() < mask.sum() and np.all(eroded <= mask)
    soft = erode_blur_mask(mask, erode_px=0.05 * size, blur_px=0.1 * size)
    assert soft.dtype == np.float32 and soft.min() >= 0.0 and soft.max() <= 1.0
    edge = (soft > 0.05) & (soft < 0.95)
    assert edge.sum() > 0.1 * size * 4  # a real ramp, not a hard edge
    # Erosion by half the blur width keeps the feathered mask (almost) inside the hull.
    assert soft[mask == 0].max() < 0.05
    nose = face.landmarks[30].round().astype(int)
    assert soft[nose[1], nose[0]] == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(ValueError, match="mask must be"):
        erode_blur_mask(np.zeros((4, 4, 3)), 1, 1)


def test_color_transfer_moves_mean_towards_reference(faces):
    (frame_a, face_a), (frame_b, face_b) = faces
    size = 128
    crop_a, crop_b = face_a.crop(frame_a), face_b.crop(frame_b)
    mask = hull_mask(transform_points(face_a.landmarks, face_a.matrix), (size, size))
    # A strong colour cast on the reference makes the expected direction unambiguous.
    ref = np.clip(crop_b.astype(np.int16) + np.array([40, -10, -30]), 0, 255).astype(np.uint8)
    out = color_transfer_lab(crop_a, ref, mask)
    assert out.dtype == np.uint8 and out.shape == crop_a.shape
    before = np.linalg.norm(_lab_mean(crop_a, mask) - _lab_mean(ref, mask))
    after = np.linalg.norm(_lab_mean(out, mask) - _lab_mean(ref, mask))
    assert after < 0.25 * before
    # Identity transfer is (almost) a no-op.
    same = color_transfer_lab(crop_a, crop_a, mask)
    assert np.abs(same.astype(int) - crop_a.astype(int)).mean() < 1.0
    with pytest.raises(ValueError, match="same shape"):
        color_transfer_lab(crop_a, frame_a, None)


@pytest.mark.parametrize("seamless", [False, True])
def test_paste_face_changes_only_the_face(faces, seamless):
    frame, face = faces[0]
    settings = BlendSettings(seamless_clone=seamless)
    # The "generated" face: the same person's crop with a strong red cast and mirrored.
    crop = face.crop(frame)
    generated = np.clip(crop[:, ::-1].astype(np.int16) + np.array([60, 0, 0]), 0, 255).astype(np.uint8)
    out, mask = paste_face(frame, generated, face.matrix, face.landmarks, settings, return_mask=True)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert np.array_equal(out[mask <= 0], frame[mask <= 0])
    assert (mask > 0).sum() > 0 and mask.max() == pytest.approx(1.0, abs=1e-3)
    hull = hull_mask(face.landmarks, frame.shape[:2])
    assert mask[hull == 0].max() < 0.05  # the paste stays inside the landmark hull
    diff = np.abs(out.astype(int) - frame.astype(int)).sum(axis=2)
    assert diff[mask > 0.99].mean() > 3  # the face did change
    # Colour transfer removes the red cast: the pasted face's mean matches the frame's.
    core = mask > 0.99
    assert abs(out[core].mean(axis=0) - frame[core].mean(axis=0)).max() < 6


def test_paste_face_region_and_identity(faces):
    frame, face = faces[0]
    crop = face.crop(frame)
    out, mask = paste_face(
        frame,
        crop,
        face.matrix,
        face.landmarks,
        BlendSettings(color_transfer=False),
        region=(32, 32, 96, 96),
        return_mask=True,
    )
    # Pasting the frame's own crop back changes it only by resampling.
    assert np.abs(out.astype(int) - frame.astype(int)).mean() < 1.0
    box = np.array([[32, 32], [96, 32], [96, 96], [32, 96]], float)
    corners = transform_points(box, cv2.invertAffineTransform(face.matrix))
    lo, hi = corners.min(axis=0).astype(int), corners.max(axis=0).astype(int)
    outside = np.ones(mask.shape, bool)
    outside[lo[1] - 3 : hi[1] + 3, lo[0] - 3 : hi[0] + 3] = False
    assert mask[outside].max() == 0.0


def test_bad_inputs(faces):
    frame, face = faces[0]
    with pytest.raises(ValueError, match="generated_crop"):
        paste_face(frame, np.zeros((64, 64), np.uint8), face.matrix, face.landmarks)
    with pytest.raises(ValueError, match="square"):
        paste_face(frame, np.zeros((64, 32, 3), np.uint8), face.matrix, face.landmarks)
    with pytest.raises(ValueError, match="landmarks"):
        paste_face(frame, np.zeros((64, 64, 3), np.uint8), face.matrix, np.zeros((2, 2)))
    with pytest.raises(ValidationError):
        BlendSettings(mask_blurr=0.1)
    with pytest.raises(ValidationError):
        BlendSettings(mask_erode=-1)
