"""Validity of the quality metrics' definitions (issue 21) on the real sample clips: the
warping error of a video on its own flow (a still animation of a moving target is not
charged for the target's motion) and FOMM's AKD (mean absolute coordinate difference,
one landmark model on both sides).

d3 frames 27-32 are the moving target: its face moves about 3 px per frame at 256 px wide
(the most of the sample clips' consecutive frames without a cut)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from forgebench.faces import FaceAnalyzer
from forgebench.faces.align import inter_ocular_distance, template_in_crop
from forgebench.media import read_frames
from forgebench.metrics import temporal
from forgebench.metrics.quality import average_keypoint_distance, face_mask
from forgebench.metrics.reconstruction import reconstruction_frame
from forgebench.stages.score import unit_landmark_model

WIDTH = 256
MOVING = list(range(27, 33))  # d3: the target, moving
OTHER = list(range(60, 66))  # d3 at another moment: a smooth animation with other motion


@pytest.fixture(scope="module")
def d3(clips_dir):
    """``{index: (frame (H, W, 3) uint8 at WIDTH px, face mask (H, W) bool)}``."""
    analyzer = FaceAnalyzer()
    frames = read_frames(clips_dir / "d3.mp4", [0, *MOVING, *OTHER])
    out = {}
    for i, frame in frames.items():
        face = analyzer.detect(frame)
        assert face is not None, f"no face in d3 frame {i}"
        s = WIDTH / frame.shape[1]
        small = cv2.resize(frame, (WIDTH, round(frame.shape[0] * s)), interpolation=cv2.INTER_AREA)
        out[i] = (small, face_mask(face.landmarks * s, small.shape[:2]))
    return out


def _own(frames_masks):
    """Mean own-flow warping error over consecutive (frame, mask) pairs."""
    return float(
        np.mean([temporal.own_warping_error(a, b, m) for (a, m), (b, _) in zip(frames_masks, frames_masks[1:])])
    )


def _on_target_flow(fake, target):
    """The definition before issue 21: the fake's frame t + 1 warped with the target's flow."""
    return float(
        np.mean(
            [
                temporal.pair_warping_error(f0, f1, r0, r1, m)
                for (f0, m), (f1, _), (r0, _), (r1, _) in zip(fake, fake[1:], target, target[1:])
            ]
        )
    )


def test_still_animation_of_a_moving_target_is_not_charged_for_the_target_motion(d3):
    # a fomm fake that holds the target's first frame still while the target moves
    target = [d3[i] for i in MOVING]
    still = [d3[0]] * len(MOVING)
    real = _own(target)
    old, new = _on_target_flow(still, target), _own(still)
    print(f"real {real:.2e}, still fake: target's flow {old:.2e}, own flow {new:.2e}")
    assert 0 < real < 1e-3
    assert old > 5 * real  # the old definition measured how much the target moved
    assert 0 <= new < 1e-8 <= real  # a still video is perfectly steady on its own flow
    # ... which is also what the own flow does not catch: steady is not right (module docstring)


def test_smooth_animation_keeps_a_warping_error_near_the_real_one(d3):
    # a fomm fake whose target moves keeps a warping error near the real one: the fake is a
    # real-looking video of the same person moving otherwise than the target at frame t
    target = [d3[i] for i in MOVING]
    fake = [d3[i] for i in OTHER]
    real, new, old = _own(target), _own(fake), _on_target_flow(fake, target)
    print(f"real {real:.2e}, smooth fake: own flow {new:.2e}, target's flow {old:.2e}")
    assert real / 4 < new < 4 * real
    assert old > 5 * real


def test_own_flow_still_catches_a_flickering_face(d3):
    target = [d3[i] for i in MOVING]
    flicker = []
    for t, (frame, mask) in enumerate(target):
        g = frame.astype(np.int16)
        g[mask] += 10 if t % 2 == 0 else -10
        flicker.append((np.clip(g, 0, 255).astype(np.uint8), mask))
    real, flick = _own(target), _own(flicker)
    print(f"own-flow warping error: real {real:.2e}, +/-10 flicker {flick:.2e}")
    assert flick > 10 * real and 0.003 < flick < 0.01  # a 20-level jump: about (20/255)^2 = 0.006


def test_own_warping_error_is_pair_warping_error_on_itself(d3):
    (a, m), (b, _) = d3[MOVING[0]], d3[MOVING[1]]
    assert temporal.own_warping_error(a, b, m) == temporal.pair_warping_error(a, b, a, b, m)
    with pytest.raises(ValueError, match="bool"):
        temporal.own_warping_error(a, b, m.astype(np.uint8))
    with pytest.raises(ValueError, match="same size"):
        temporal.own_warping_error(a, b[:-1], m)


def test_akd_is_the_mean_absolute_coordinate_difference():
    ref = template_in_crop(64, 1.3)
    # every point off by (3, 4) px: FOMM's AKD 3.5, not the Euclidean 5
    assert average_keypoint_distance(ref + [3.0, 4.0], ref) == pytest.approx(3.5)
    assert average_keypoint_distance(ref, ref) == 0.0
    pred = ref.copy()
    pred[0] += [10.0, -6.0]  # one point of 68 moved: (10 + 6) / (68 * 2)
    assert average_keypoint_distance(pred, ref) == pytest.approx(16 / 136)
    rng = np.random.default_rng(0)
    noisy = ref + rng.normal(0, 2, ref.shape)
    assert average_keypoint_distance(noisy, ref) == pytest.approx(np.abs(noisy - ref).sum() / ref.size)
    with pytest.raises(ValueError, match="one shape"):
        average_keypoint_distance(ref[:5], ref)
    with pytest.raises(ValueError, match="non-finite"):
        average_keypoint_distance(np.full_like(ref, np.nan), ref)


def test_reconstruction_akd_by_hand(d3):
    size = 64
    crop = cv2.resize(d3[0][0], (size, size), interpolation=cv2.INTER_AREA)
    real_points = template_in_crop(size, 1.3)
    out = reconstruction_frame(crop, real_points, crop, real_points + [3.0, -4.0])
    assert out["detected"] == 1.0 and out["akd"] == pytest.approx(3.5)
    assert out["akd_iod"] == pytest.approx(3.5 / inter_ocular_distance(real_points))
    # no landmarks of the AKD's model on the real crop: AKD unknown, the face still counts as found
    none = reconstruction_frame(crop, None, crop, real_points)
    assert none["detected"] == 1.0 and np.isnan(none["akd"]) and np.isnan(none["akd_iod"])
    missing = reconstruction_frame(crop, real_points, crop, None)
    assert missing["detected"] == 0.0 and np.isnan(missing["akd"])


def test_one_landmark_model_on_both_sides():
    # a swap's reference (the target frame) can be found again with the stage's model; a
    # reenactment's drawn landmarks come from the faces stage's model, so that model scores it
    assert unit_landmark_model("fan", "dlib", reenactment=False) == "fan"
    assert unit_landmark_model("fan", "dlib", reenactment=True) == "dlib"
    assert unit_landmark_model("dlib", "dlib", reenactment=True) == "dlib"
    assert unit_landmark_model("fan", "fan", reenactment=True) == "fan"
