"""Temporal warping error (metrics.temporal) and blending-boundary score (metrics.boundary)
on the real sample clips: d0's frames and face masks from dlib landmarks, d3's face as a
paste source. Frames are downscaled to 256 px wide (landmarks scaled with them)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from forgebench.faces import FaceAnalyzer
from forgebench.media import read_frames
from forgebench.metrics import boundary, temporal
from forgebench.metrics.quality import face_mask

WIDTH = 256
RUN = list(range(30, 36))  # six consecutive frames of d0
SPREAD = [10, 11, 40, 41, 70, 71]  # three pairs of consecutive frames spread over d0


def _faces(path, indices, analyzer):
    """``[(frame (H, W, 3) uint8 at WIDTH px, landmarks (68, 2) at that scale)]``."""
    frames = read_frames(path, indices)
    out = []
    for i in indices:
        frame = frames[i]
        face = analyzer.detect(frame)
        assert face is not None and face.landmarks is not None, f"no face in {path.name} frame {i}"
        s = WIDTH / frame.shape[1]
        small = cv2.resize(frame, (WIDTH, round(frame.shape[0] * s)), interpolation=cv2.INTER_AREA)
        out.append((small, face.landmarks * s))
    return out


@pytest.fixture(scope="module")
def clips(clips_dir):
    analyzer = FaceAnalyzer()
    run = _faces(clips_dir / "d0.mp4", RUN, analyzer)
    spread = _faces(clips_dir / "d0.mp4", SPREAD, analyzer)
    source = _faces(clips_dir / "d3.mp4", [100], analyzer)[0]
    mask = lambda f, lm: face_mask(lm, f.shape[:2])  # noqa: E731
    return {
        "frames": [f for f, _ in run],
        "masks": [mask(f, lm) for f, lm in run],
        "spread": [(f, mask(f, lm)) for f, lm in spread],
        "d3": source,
        "d0_landmarks": run[0][1],
    }


def _flicker(frames, masks, offset=20):
    """Copy of the frames whose face brightness is shifted by +offset, -offset, ...
    alternately (inside the mask)."""
    out = []
    for t, (f, m) in enumerate(zip(frames, masks)):
        g = f.astype(np.int16)
        g[m] += offset if t % 2 == 0 else -offset
        out.append(np.clip(g, 0, 255).astype(np.uint8))
    return out


# -- (a) warping error --------------------------------------------------------------------


def test_real_video_self_error_small_positive_and_consistent(clips):
    frames, masks = clips["frames"], clips["masks"]
    e_self = temporal.warping_error(frames, frames, masks)
    print(f"self warping error d0[{RUN[0]}:{RUN[-1] + 1}] = {e_self:.3e}")
    assert 0 < e_self < 1e-3
    pairs = [(frames[t], frames[t + 1], frames[t], frames[t + 1], masks[t]) for t in range(len(frames) - 1)]
    res = temporal.warping_error_pairs(pairs)
    assert res.mean == e_self  # same numbers through both entry points
    assert temporal.warping_error(frames, frames, masks) == e_self  # deterministic
    assert len(res.per_pair) == len(frames) - 1 and all(v > 0 for v in res.per_pair)
    assert res.per_pair[0] == temporal.pair_warping_error(*pairs[0])
    assert all(0 < n <= m.sum() for n, m in zip(res.n_pixels, masks))


def test_flickering_face_has_larger_warping_error(clips):
    frames, masks = clips["frames"], clips["masks"]
    e_self = temporal.warping_error(frames, frames, masks)
    e_flicker = temporal.warping_error(_flicker(frames, masks), frames, masks)
    print(f"flicker warping error = {e_flicker:.3e} ({e_flicker / e_self:.0f}x self)")
    assert e_flicker > 3 * e_self
    # a +/-20 grey-level flicker is a 40-level jump: about (40/255)^2 = 0.025
    assert 0.01 < e_flicker < 0.04


def test_static_video_has_no_warping_error(clips):
    frame, mask = clips["frames"][0], clips["masks"][0]
    flow = np.linalg.norm(temporal.optical_flow(frame, frame), axis=2)
    # Farneback gives ~0 flow for identical frames (up to ~0.25 px at the frame's very edge)
    assert np.median(flow) < 1e-4 and flow[mask].max() < 1e-2
    e = temporal.warping_error([frame] * 4, [frame] * 4, [mask] * 4)
    assert 0 <= e < 1e-8


def test_sampled_pairs_spread_over_the_video(clips):
    spread = clips["spread"]
    pairs = [(spread[k][0], spread[k + 1][0], spread[k][0], spread[k + 1][0], spread[k][1]) for k in (0, 2, 4)]
    res = temporal.warping_error_pairs(pairs)
    assert len(res.per_pair) == 3
    assert res.mean == pytest.approx(float(np.mean(res.per_pair)))
    assert 0 < res.mean < 1e-3
    flick = [
        (f0, f1, r0, r1, m)
        for (_, _, r0, r1, m), (f0, f1) in zip(pairs, [tuple(_flicker([p[0], p[1]], [p[4], p[4]])) for p in pairs])
    ]
    assert temporal.warping_error_pairs(flick).mean > 3 * res.mean


def test_empty_masks_skip_pairs(clips):
    frames, masks = clips["frames"][:3], clips["masks"][:3]
    empty = np.zeros_like(masks[0])
    assert math.isnan(temporal.warping_error(frames, frames, [empty] * 3))
    res = temporal.warping_error_pairs(
        [
            (frames[0], frames[1], frames[0], frames[1], empty),
            (frames[1], frames[2], frames[1], frames[2], masks[1]),
        ]
    )
    assert math.isnan(res.per_pair[0]) and res.n_pixels[0] == 0
    assert res.mean == res.per_pair[1] > 0


def test_flow_direction_and_warp_on_a_shifted_frame(clips):
    frame = clips["frames"][0]
    a, b = frame[:, 3:], frame[:, :-3]  # a(x) = b(x + 3)
    flow = temporal.optical_flow(a, b)
    inner = flow[40:-40, 40:-40]
    assert np.median(inner[..., 0]) == pytest.approx(3.0, abs=0.25)
    assert np.median(inner[..., 1]) == pytest.approx(0.0, abs=0.25)
    # an exact integer flow: out(x) = image(x + 2)
    img = frame.astype(np.float32)
    shift = np.zeros(frame.shape[:2] + (2,), np.float32)
    shift[..., 0] = 2
    warped = temporal.warp(img, shift)
    assert warped.shape == img.shape and warped.dtype == np.float32
    np.testing.assert_array_equal(warped[:, :-2], img[:, 2:])
    np.testing.assert_array_equal(warped[:, -2:], np.repeat(img[:, -1:], 2, axis=1))  # border replicate


# -- (b) occlusion mask -------------------------------------------------------------------


def test_occlusion_mask_zero_and_consistent_flows(clips):
    h, w = clips["frames"][0].shape[:2]
    zero = np.zeros((h, w, 2), np.float32)
    occ = temporal.occlusion_mask(zero, zero)
    assert occ.shape == (h, w) and occ.dtype == bool and occ.all()
    fw = zero.copy()
    fw[..., 0] = 3
    ok = temporal.occlusion_mask(fw, -fw)  # consistent: all visible but where x + 3 leaves the frame
    assert ok[:, : w - 3].all() and not ok[:, w - 3 :].any()
    assert not temporal.occlusion_mask(fw, fw).any()  # |w + ŵ|² = 36 > 0.01 * 18 + 0.5
    # on the real pair most of the face is visible in the next frame
    f0, f1, m = clips["frames"][0], clips["frames"][1], clips["masks"][0]
    noc = temporal.occlusion_mask(temporal.optical_flow(f0, f1), temporal.optical_flow(f1, f0))
    assert noc[m].mean() > 0.9


# -- (c) boundary score -------------------------------------------------------------------


def _feather(mask, sigma):
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)[..., None]


def _composite(inside, outside, alpha):
    return (alpha * inside.astype(np.float32) + (1 - alpha) * outside.astype(np.float32)).round().astype(np.uint8)


def test_boundary_band_of_face_mask(clips):
    mask = clips["masks"][0]
    band = boundary.boundary_band(mask, 4)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    eroded = cv2.erode(mask.astype(np.uint8), kernel).astype(bool)
    dilated = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
    assert band.dtype == bool and band.any()
    assert not (band & eroded).any() and not (band & ~dilated).any()
    edge = mask & ~cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert band[edge].all()  # the mask's own outline is in the band
    assert boundary.boundary_band(mask, 8).sum() > band.sum()
    assert not boundary.boundary_band(np.ones_like(mask), 4).any()  # frame edge is no boundary
    w = boundary.default_width(mask)
    assert w == max(2, round(0.05 * math.sqrt(mask.sum())))


def test_boundary_score_of_real_frame_is_one(clips):
    frame, mask = clips["frames"][0], clips["masks"][0]
    assert boundary.boundary_score(frame, frame, mask) == 1.0
    assert boundary.boundary_score(frame, frame, mask, width=3) == 1.0


def test_hard_brightness_paste_scores_above_feathered(clips):
    frame, mask = clips["frames"][0], clips["masks"][0]
    g = frame.astype(np.int16)
    g[mask] += 40
    shifted = np.clip(g, 0, 255).astype(np.uint8)
    hard = np.where(mask[..., None], shifted, frame)
    feathered = _composite(shifted, frame, _feather(mask, boundary.default_width(mask)))
    s_hard = boundary.boundary_score(hard, frame, mask)
    s_feather = boundary.boundary_score(feathered, frame, mask)
    print(f"boundary score +40 brightness: hard {s_hard:.3f}, feathered {s_feather:.3f}")
    assert s_hard > 1.5
    assert s_feather < s_hard


def test_hard_face_paste_from_other_identity(clips):
    frame, mask, lm = clips["frames"][0], clips["masks"][0], clips["d0_landmarks"]
    src, src_lm = clips["d3"]
    x0, y0 = np.floor(src_lm.min(0)).astype(int)
    x1, y1 = np.ceil(src_lm.max(0)).astype(int)
    X0, Y0 = np.floor(lm.min(0)).astype(int)
    X1, Y1 = np.ceil(lm.max(0)).astype(int)
    canvas = frame.copy()  # d3's face box resized onto d0's face box
    canvas[Y0:Y1, X0:X1] = cv2.resize(src[y0:y1, x0:x1], (X1 - X0, Y1 - Y0), interpolation=cv2.INTER_AREA)
    hard = np.where(mask[..., None], canvas, frame)
    feathered = _composite(canvas, frame, _feather(mask, boundary.default_width(mask)))
    s_hard = boundary.boundary_score(hard, frame, mask)
    s_feather = boundary.boundary_score(feathered, frame, mask)
    print(f"boundary score d3 face into d0: hard {s_hard:.3f}, feathered {s_feather:.3f}")
    assert s_hard > 1.5
    assert s_feather < s_hard
    band = boundary.boundary_band(mask, boundary.default_width(mask))
    assert boundary.gradient_energy(hard, band) > boundary.gradient_energy(frame, band) > 0


# -- (d) errors ---------------------------------------------------------------------------


def test_temporal_errors(clips):
    frames, masks = clips["frames"][:3], clips["masks"][:3]
    with pytest.raises(ValueError, match="T >= 2"):
        temporal.warping_error(frames[:1], frames[:1], masks[:1])
    with pytest.raises(ValueError, match="same length"):
        temporal.warping_error(frames, frames[:2], masks)
    small = [cv2.resize(f, (128, 128)) for f in frames]
    with pytest.raises(ValueError, match="same size"):
        temporal.warping_error(frames, small, masks)
    with pytest.raises(ValueError, match="same size"):
        temporal.warping_error([frames[0], small[1], frames[2]], frames, masks)
    with pytest.raises(ValueError, match="bool"):
        temporal.warping_error(frames, frames, [m.astype(np.uint8) for m in masks])
    with pytest.raises(ValueError, match=r"mask_t must be \(H, W\)"):
        temporal.warping_error(frames, frames, [m[:-1] for m in masks])
    with pytest.raises(ValueError, match="uint8"):
        temporal.warping_error([f.astype(np.float32) for f in frames], frames, masks)
    with pytest.raises(ValueError, match="no frame pairs"):
        temporal.warping_error_pairs([])
    with pytest.raises(ValueError, match="pair 0 must be"):
        temporal.warping_error_pairs([(frames[0], frames[1], masks[0])])
    with pytest.raises(ValueError, match="pair 1: ref_t1"):
        temporal.warping_error_pairs(
            [
                (frames[0], frames[1], frames[0], frames[1], masks[0]),
                (frames[1], frames[2], frames[1], small[2], masks[1]),
            ]
        )
    with pytest.raises(ValueError, match="differ in size"):
        temporal.optical_flow(frames[0], small[1])
    with pytest.raises(ValueError, match="flows differ"):
        temporal.occlusion_mask(np.zeros((8, 8, 2), np.float32), np.zeros((8, 9, 2), np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 2\)"):
        temporal.warp(frames[0], np.zeros(frames[0].shape[:2], np.float32))


def test_boundary_errors(clips):
    frame, mask = clips["frames"][0], clips["masks"][0]
    small = cv2.resize(frame, (128, 128))
    with pytest.raises(ValueError, match="differ in size"):
        boundary.boundary_score(frame, small, mask)
    with pytest.raises(ValueError, match="mask must be"):
        boundary.boundary_score(frame, frame, mask[:-1])
    with pytest.raises(ValueError, match="bool"):
        boundary.boundary_score(frame, frame, mask.astype(np.uint8))
    with pytest.raises(ValueError, match="mask is empty"):
        boundary.boundary_score(frame, frame, np.zeros_like(mask))
    with pytest.raises(ValueError, match="band is empty"):
        boundary.boundary_score(frame, frame, np.ones_like(mask))
    with pytest.raises(ValueError, match="width"):
        boundary.boundary_score(frame, frame, mask, width=0)
    with pytest.raises(ValueError, match="band is empty"):
        boundary.gradient_energy(frame, np.zeros_like(mask))
    with pytest.raises(ValueError, match="uint8"):
        boundary.gradient_energy(frame.astype(np.float32), mask)
    flat = np.full_like(frame, 128)  # no texture in the real band: undefined
    assert math.isnan(boundary.boundary_score(frame, flat, mask))
