"""Temporal consistency of a (fake) video inside the face: the warping error E_warp.

After Lai et al. 2018, "Learning Blind Video Temporal Consistency" (ECCV), section 5.1:
frame ``t + 1`` is warped back onto frame ``t`` with the optical flow between them, and
the mean squared difference to frame ``t`` over the non-occluded pixels is averaged over
the frame pairs. A video whose face flickers or jitters from frame to frame has a larger
error than one whose face moves the way the flow says it does.

Differences to Lai et al., all on purpose:

- The flow is OpenCV's Farnebäck (:data:`FARNEBACK_PARAMS`), not FlowNet2, so it needs
  no weights; values are therefore comparable within forgebench, not with the paper's.
- The score stage measures every video on its **own** flow: a fake with the flow (and the
  occlusion mask) between its own consecutive frames t, t + 1 (:func:`own_warping_error`;
  column ``warp_error``), and the real target video the same way on its own frames
  (``warp_error_real``), for every generator. Lai et al. take the flow from the *input*
  video that the processed video should stay consistent with (their evaluation code,
  phoenix104104/fast_blind_video_consistency ``compute_flow_occlusion.py``, runs FlowNet2
  on the ``input`` frames). A fake has no such input
  for every generator: fomm animates the target's first frame with the motion of a
  driving video, and pix2pix_reenact's mouth follows the driving video, so the target's
  flow measured how much the target moved, not how steady the fake is (forgebench <= the
  "identity-v2" score units did that). The functions below still take the flow's frames
  as separate ``ref_*`` arguments, so a reference flow can be used where one exists.
- What the own flow does not catch: a fake whose motion is itself smooth but wrong (a face
  that drifts steadily, a frozen face, a mouth that does not follow its driving video)
  warps onto itself well and scores low; the flow explains such motion away. Temporal
  consistency says "steady", not "right": whether the motion is right is the landmark
  metrics' question (``akd``, ``landmark_distance``). Flicker, jitter that the flow cannot
  follow and texture that boils from frame to frame still raise the error (the occlusion
  test drops pixels whose forward and backward flows disagree).
- The error is taken only inside the face mask ``M_t`` = face mask of frame ``t`` AND
  non-occluded (:func:`occlusion_mask`); a pair whose ``M_t`` is empty is skipped (Lai
  et al. fall back to the whole frame instead).

Per pair, with pixel values in [0, 1]::

    E(t) = sum_{p in M_t} mean_c (V_t(p, c) - warp(V_{t+1}, F_{t->t+1})(p, c))^2 / |M_t|

and ``E_warp`` is the mean of ``E(t)`` over the pairs that are not skipped. Units: mean
squared RGB error in [0, 1] units (range [0, 1]); lower = more temporally consistent.

The score stage samples a few pairs of consecutive frames spread over a video rather than
the whole video, so :func:`warping_error_pairs` takes explicit
``(frame_t, frame_t1, ref_t, ref_t1, mask_t)`` tuples; :func:`warping_error` is the same
over one contiguous run of frames; :func:`own_warping_error` is one pair on its own flow.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import cv2
import numpy as np

from forgebench.metrics._declaration import MetricDecl, declare_quality

__all__ = [
    "DECLARED",
    "FARNEBACK_PARAMS",
    "OCCLUSION_ALPHA",
    "OCCLUSION_BETA",
    "WarpingErrors",
    "optical_flow",
    "warp",
    "occlusion_mask",
    "pair_warping_error",
    "own_warping_error",
    "warping_error_pairs",
    "warping_error",
]

#: Arguments of ``cv2.calcOpticalFlowFarneback`` (OpenCV's own example values): image
#: pyramid halving per level over 3 levels, 15-px averaging window, 3 iterations per
#: level, polynomial expansion over 5-px neighbourhoods with Gaussian sigma 1.2, no flags.
FARNEBACK_PARAMS = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)

#: Forward-backward consistency test ``|w + ŵ|² < ALPHA (|w|² + |ŵ|²) + BETA`` (flows in
#: pixels), the constants of Sundaram et al. 2010 / Ruder et al. 2016 used by Lai et al.
OCCLUSION_ALPHA = 0.01
OCCLUSION_BETA = 0.5

#: The metrics of the quality tables computed here (:func:`own_warping_error` of the fake
#: and of the real target video), declared.
DECLARED: tuple[MetricDecl, ...] = (
    declare_quality(
        "warp_error",
        "warp error ×10³",
        ("video",),
        "mean squared RGB, [0, 1] units",
        False,
        "Lai et al. 2018",
        "warping error of the fake on its own consecutive frames (Farnebäck flow, occlusion-checked), inside the face",
    ),
    declare_quality(
        "warp_error_real",
        "warp error real ×10³",
        ("video",),
        "mean squared RGB, [0, 1] units",
        False,
        "Lai et al. 2018",
        "the same on the real target video: the floor the fake is compared with",
    ),
)


class WarpingErrors(NamedTuple):
    """Result of :func:`warping_error_pairs`.

    Attributes:
        mean: ``E_warp``, the mean of ``per_pair`` over the pairs not skipped; NaN when
            every pair was skipped. Mean squared RGB error in [0, 1] units; lower = more
            temporally consistent.
        per_pair: ``E(t)`` of each pair in input order, NaN for a skipped pair (empty
            ``M_t``).
        n_pixels: ``|M_t|`` of each pair (pixels inside the face and non-occluded).
    """

    mean: float
    per_pair: tuple[float, ...]
    n_pixels: tuple[int, ...]


def _check_frame(frame: np.ndarray, name: str) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"{name} must be an (H, W, 3) uint8 RGB frame, got {frame.shape} {frame.dtype}")
    if frame.shape[0] < 2 or frame.shape[1] < 2:
        raise ValueError(f"{name} must be at least 2x2 px, got {frame.shape}")
    return frame


def _check_flow(flow: np.ndarray, name: str) -> np.ndarray:
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2 or not np.issubdtype(flow.dtype, np.floating):
        raise ValueError(f"{name} must be an (H, W, 2) float flow, got {flow.shape} {flow.dtype}")
    if not np.isfinite(flow).all():
        raise ValueError(f"{name} contains non-finite values")
    return flow.astype(np.float32, copy=False)


def optical_flow(frame_a: np.ndarray, frame_b: np.ndarray) -> np.ndarray:
    """Dense optical flow from ``frame_a`` to ``frame_b``: OpenCV Farnebäck
    (``cv2.calcOpticalFlowFarneback`` with :data:`FARNEBACK_PARAMS`) on the grayscale
    frames (``cv2.COLOR_RGB2GRAY``).

    Farnebäck G., "Two-frame motion estimation based on polynomial expansion", SCIA 2003.

    The flow lives on ``frame_a``'s pixel grid: ``frame_a(x, y) ≈ frame_b(x + u, y + v)``
    with ``(u, v) = flow[y, x]``, so ``warp(frame_b, flow)`` ≈ ``frame_a``.

    Args:
        frame_a, frame_b: ``(H, W, 3)`` uint8 RGB frames of the same size.

    Returns:
        ``(H, W, 2)`` float32 flow ``(u, v)`` = (x, y) displacement in pixels.

    Raises:
        ValueError: a frame is not ``(H, W, 3)`` uint8, or the sizes differ.
    """
    frame_a = _check_frame(frame_a, "frame_a")
    frame_b = _check_frame(frame_b, "frame_b")
    if frame_a.shape != frame_b.shape:
        raise ValueError(f"frames differ in size: {frame_a.shape} vs {frame_b.shape}")
    gray_a = cv2.cvtColor(np.ascontiguousarray(frame_a), cv2.COLOR_RGB2GRAY)
    gray_b = cv2.cvtColor(np.ascontiguousarray(frame_b), cv2.COLOR_RGB2GRAY)
    flow = cv2.calcOpticalFlowFarneback(gray_a, gray_b, None, **FARNEBACK_PARAMS)
    return flow.astype(np.float32, copy=False)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward warping: ``out(p) = image(p + flow(p))``, with ``cv2.remap`` (bilinear,
    ``BORDER_REPLICATE`` for points outside the image).

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` image, C <= 4, uint8 or float (any range);
            a flow field ``(H, W, 2)`` float can be warped too.
        flow: ``(H, W, 2)`` float displacement (x, y) in pixels, on the output grid.

    Returns:
        Array of ``image``'s shape and dtype (uint8 results are rounded by OpenCV; warp a
        float image to avoid that).

    Raises:
        ValueError: ``flow`` is not ``(H, W, 2)`` finite float, or its size differs from
            ``image``'s, or ``image`` has more than 4 channels.
    """
    image = np.asarray(image)
    flow = _check_flow(flow, "flow")
    if image.ndim not in (2, 3) or image.shape[:2] != flow.shape[:2]:
        raise ValueError(f"image must be (H, W[, C]) with (H, W) = {flow.shape[:2]} of the flow, got {image.shape}")
    if image.ndim == 3 and not 1 <= image.shape[2] <= 4:
        raise ValueError(f"image must have 1 to 4 channels, got {image.shape[2]}")
    h, w = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x = grid_x + flow[..., 0]
    map_y = grid_y + flow[..., 1]
    out = cv2.remap(
        np.ascontiguousarray(image), map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return out.reshape(image.shape)


def occlusion_mask(flow_fw: np.ndarray, flow_bw: np.ndarray) -> np.ndarray:
    """Non-occluded pixels of frame a by forward-backward flow consistency.

    As in Lai et al. 2018 (ECCV), who follow Ruder et al. 2016, "Artistic style transfer
    for videos" (GCPR) and Sundaram et al. 2010, "Dense point trajectories by
    GPU-accelerated large displacement optical flow" (ECCV): with ``w = flow_fw(p)`` and
    ``ŵ = flow_bw(p + w)`` (``flow_bw`` warped onto a's grid with :func:`warp`), pixel
    ``p`` is non-occluded when::

        |w + ŵ|² < 0.01 (|w|² + |ŵ|²) + 0.5          (pixels², OCCLUSION_ALPHA/BETA)

    and, in addition, when ``p + w`` lies inside the frame (a pixel whose match leaves the
    frame has no counterpart in b; :func:`warp` would only replicate the border there).
    Ruder et al.'s second test (motion boundaries) is not applied.

    Args:
        flow_fw: ``(H, W, 2)`` float flow a -> b on a's grid (:func:`optical_flow` (a, b)).
        flow_bw: ``(H, W, 2)`` float flow b -> a on b's grid (:func:`optical_flow` (b, a)).

    Returns:
        ``(H, W)`` bool, True where the pixel of a is visible in b (all True for zero flows).

    Raises:
        ValueError: a flow is not ``(H, W, 2)`` finite float, or their sizes differ.
    """
    flow_fw = _check_flow(flow_fw, "flow_fw")
    flow_bw = _check_flow(flow_bw, "flow_bw")
    if flow_fw.shape != flow_bw.shape:
        raise ValueError(f"flows differ in size: {flow_fw.shape} vs {flow_bw.shape}")
    bw_at_target = warp(flow_bw, flow_fw)
    w = flow_fw.astype(np.float64)
    w_hat = bw_at_target.astype(np.float64)
    lhs = ((w + w_hat) ** 2).sum(axis=2)
    rhs = OCCLUSION_ALPHA * ((w**2).sum(axis=2) + (w_hat**2).sum(axis=2)) + OCCLUSION_BETA
    h, wd = flow_fw.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(wd, dtype=np.float64), np.arange(h, dtype=np.float64))
    tx, ty = grid_x + w[..., 0], grid_y + w[..., 1]
    inside = (tx >= 0) & (tx <= wd - 1) & (ty >= 0) & (ty <= h - 1)
    return (lhs < rhs) & inside


def _check_mask(mask: np.ndarray, shape: tuple[int, int], name: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise ValueError(f"{name} must be a bool array, got {mask.dtype} (use mask.astype(bool))")
    if mask.shape != shape:
        raise ValueError(f"{name} must be (H, W) = {shape}, got {mask.shape}")
    return mask


def _pair(frame_t, frame_t1, ref_t, ref_t1, mask_t, where: str = "") -> tuple[float, int]:
    frame_t = _check_frame(frame_t, f"{where}frame_t")
    shape = frame_t.shape
    named = {"frame_t1": frame_t1, "ref_t": ref_t, "ref_t1": ref_t1}
    checked = {}
    for name, arr in named.items():
        arr = _check_frame(arr, f"{where}{name}")
        if arr.shape != shape:
            raise ValueError(f"{where}{name} is {arr.shape}, frame_t is {shape}: all frames must be the same size")
        checked[name] = arr
    mask_t = _check_mask(mask_t, shape[:2], f"{where}mask_t")
    flow_fw = optical_flow(checked["ref_t"], checked["ref_t1"])
    flow_bw = optical_flow(checked["ref_t1"], checked["ref_t"])
    valid = mask_t & occlusion_mask(flow_fw, flow_bw)
    n = int(valid.sum())
    if n == 0:
        return float("nan"), 0
    warped = warp(checked["frame_t1"].astype(np.float32) / np.float32(255.0), flow_fw)
    diff = warped.astype(np.float64) - frame_t.astype(np.float64) / 255.0
    err = (diff**2).mean(axis=2)
    return float(err[valid].sum() / n), n


def pair_warping_error(
    frame_t: np.ndarray, frame_t1: np.ndarray, ref_t: np.ndarray, ref_t1: np.ndarray, mask_t: np.ndarray
) -> float:
    """Warping error ``E(t)`` of one pair of consecutive candidate frames (module docstring).

    The flow ``F = optical_flow(ref_t, ref_t1)`` and the non-occluded mask
    ``occlusion_mask(F, optical_flow(ref_t1, ref_t))`` come from the reference frames;
    ``frame_t1`` (as float in [0, 1]) is warped onto ``t`` with ``F`` and compared with
    ``frame_t`` over ``M_t = mask_t & non-occluded``.

    Lai et al. 2018, "Learning Blind Video Temporal Consistency" (ECCV), E_warp of one pair.

    Args:
        frame_t, frame_t1: ``(H, W, 3)`` uint8 RGB consecutive candidate (e.g. fake) frames.
        ref_t, ref_t1: ``(H, W, 3)`` uint8 RGB the same two frames of the reference (real)
            video; equal to the candidate frames to score the real video itself.
        mask_t: ``(H, W)`` bool face mask of frame ``t``.

    Returns:
        Mean squared RGB error in [0, 1] units (range [0, 1], lower = more consistent);
        NaN when ``M_t`` is empty.

    Raises:
        ValueError: a frame is not ``(H, W, 3)`` uint8, sizes differ, or ``mask_t`` is not
            an ``(H, W)`` bool array.
    """
    return _pair(frame_t, frame_t1, ref_t, ref_t1, mask_t)[0]


def own_warping_error(frame_t: np.ndarray, frame_t1: np.ndarray, mask_t: np.ndarray) -> float:
    """Warping error ``E(t)`` of one pair of consecutive frames of a video on the video's
    **own** flow: :func:`pair_warping_error` with the candidate as its own reference, i.e.
    ``F = optical_flow(frame_t, frame_t1)`` (Farnebäck), non-occluded mask from
    ``occlusion_mask(F, optical_flow(frame_t1, frame_t))``. The score stage's
    ``warp_error`` (the fake itself) and ``warp_error_real`` (the real target video itself);
    the module docstring says why the own flow is used and what it does not catch.

    Lai et al. 2018, "Learning Blind Video Temporal Consistency" (ECCV), E_warp of one pair.

    Args:
        frame_t, frame_t1: ``(H, W, 3)`` uint8 RGB consecutive frames of one video (e.g.
            aligned crops of frames t and t + 1 with the same frame -> crop transform).
        mask_t: ``(H, W)`` bool face mask of frame ``t``.

    Returns:
        Mean squared RGB error in [0, 1] units (range [0, 1], lower = steadier); NaN when
        ``M_t`` (mask and non-occluded) is empty; 0 for two identical frames.

    Raises:
        ValueError: a frame is not ``(H, W, 3)`` uint8, sizes differ, or ``mask_t`` is not
            an ``(H, W)`` bool array.
    """
    return _pair(frame_t, frame_t1, frame_t, frame_t1, mask_t)[0]


def warping_error_pairs(
    pairs: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
) -> WarpingErrors:
    """``E_warp`` over explicit pairs of consecutive frames, e.g. a few pairs spread over a
    video (they need not form a contiguous run, nor come from one video).

    Lai et al. 2018, "Learning Blind Video Temporal Consistency" (ECCV), E_warp averaged
    over the given pairs (each computed by :func:`pair_warping_error`).

    Args:
        pairs: iterable of ``(frame_t, frame_t1, ref_t, ref_t1, mask_t)``, each as in
            :func:`pair_warping_error` (candidate frames ``(H, W, 3)`` uint8 RGB, reference
            frames the same, ``mask_t`` ``(H, W)`` bool); sizes may differ between pairs.

    Returns:
        :class:`WarpingErrors` ``(mean, per_pair, n_pixels)``: ``mean`` is the mean squared
        RGB error in [0, 1] units over the pairs not skipped (lower = more consistent),
        NaN when all pairs were skipped (empty ``M_t``).

    Raises:
        ValueError: no pairs, a pair that is not a 5-tuple, or a pair failing
            :func:`pair_warping_error`'s checks (the message names the pair's index).
    """
    values, counts = [], []
    for i, pair in enumerate(pairs):
        if not isinstance(pair, (tuple, list)) or len(pair) != 5:
            raise ValueError(
                f"pair {i} must be (frame_t, frame_t1, ref_t, ref_t1, mask_t), got {type(pair).__name__}"
                + (f" of length {len(pair)}" if isinstance(pair, (tuple, list)) else "")
            )
        value, n = _pair(*pair, where=f"pair {i}: ")
        values.append(value)
        counts.append(n)
    if not values:
        raise ValueError("no frame pairs given")
    kept = [v for v in values if not np.isnan(v)]
    mean = float(np.mean(kept)) if kept else float("nan")
    return WarpingErrors(mean, tuple(values), tuple(counts))


def warping_error(
    frames: Sequence[np.ndarray], reference_frames: Sequence[np.ndarray], masks: Sequence[np.ndarray]
) -> float:
    """``E_warp`` of a contiguous run of ``T`` candidate frames, with flow and occlusions
    from the reference frames (module docstring): the mean of ``E(t)`` over the ``T - 1``
    pairs ``(t, t + 1)`` whose ``M_t`` is not empty.

    Lai et al. 2018, "Learning Blind Video Temporal Consistency" (ECCV), warping error.

    Args:
        frames: ``T >= 2`` consecutive ``(H, W, 3)`` uint8 RGB candidate (e.g. fake) frames.
        reference_frames: the same ``T`` frames of the reference (real) video, same size;
            pass ``frames`` itself to score a real video.
        masks: ``T`` ``(H, W)`` bool face masks, ``masks[t]`` of frame ``t`` (the last one
            is not used: pair ``(t, t + 1)`` is scored on frame ``t``'s grid).

    Returns:
        Mean squared RGB error in [0, 1] units (range [0, 1]; lower = more temporally
        consistent); NaN when every pair has an empty ``M_t``.

    Raises:
        ValueError: fewer than 2 frames, sequences of different lengths, a frame not
            ``(H, W, 3)`` uint8, frames of different sizes, or a mask not ``(H, W)`` bool.
    """
    frames, reference_frames, masks = list(frames), list(reference_frames), list(masks)
    if len(frames) < 2:
        raise ValueError(f"need T >= 2 consecutive frames, got {len(frames)}")
    if len(reference_frames) != len(frames) or len(masks) != len(frames):
        raise ValueError(
            f"frames, reference_frames and masks must have the same length T, "
            f"got {len(frames)}, {len(reference_frames)}, {len(masks)}"
        )
    shapes = {np.shape(f) for f in frames + reference_frames}
    if len(shapes) > 1:
        raise ValueError(f"all frames must be the same size, got {sorted(shapes)}")
    pairs = [
        (frames[t], frames[t + 1], reference_frames[t], reference_frames[t + 1], masks[t])
        for t in range(len(frames) - 1)
    ]
    return warping_error_pairs(pairs).mean
