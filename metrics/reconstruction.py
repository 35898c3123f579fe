"""Metrics of the reconstruction (self-reenactment) protocol of reenactment generators.

A reenactment model re-renders frames of an identity's *own* video that it did not see in
training, from that frame's own driving signal (``pix2pix_reenact``: the frame's
landmarks; ``fomm``: the video's first frame animated by the frame), and the result is
compared with the real frame — the evaluation of Siarohin et al. 2019 (FOMM, section 4)
and of landmark-driven reenactment papers. Which frames are held out is the generator's
:meth:`~forgebench.generators.Generator.evaluation_positions`; the protocol itself
(models, frames, face detection on the reconstructions) runs in the score stage
(:mod:`forgebench.stages.score`), and these are its pure metric functions.

Per frame, on aligned crops of the faces stage (side ``S``, crop margin of the run):

- ``l1``: mean absolute difference of the crops, pixel values in [0, 1] (FOMM's L1);
- ``ssim``: SSIM over the whole crop (:func:`~forgebench.metrics.quality.masked_ssim`
  with a full mask), in [0, 1];
- ``akd``: average keypoint distance of FOMM's evaluation
  (:func:`~forgebench.metrics.quality.average_keypoint_distance`; AliaksandrSiarohin/
  pose-evaluation ``cmp_kp.py``): the mean absolute coordinate difference (over the 68
  points and over x, y) between the landmarks found on the generated crop and those of
  the real crop, in pixels at ``S`` (``faces.crop_size``). Both sets come from **one**
  landmark model: face-alignment's FAN on both crops when its weights are there (FOMM's
  choice), else dlib on both (the score stage's ``landmark_model``); landmarks of
  different models differ by a model bias that would count as error. ``akd_iod`` is the
  same divided by the real crop's inter-ocular distance (outer eye corners), unit-free;
- ``aed``: average Euclidean distance between the L2-normalised ArcFace embeddings
  (:mod:`forgebench.metrics.arcface`) of the generated and the real crop, in [0, 2]
  (FOMM's AED, with an ArcFace re-identification network as the identity model; NaN when
  the ArcFace weights are unavailable); ``aed_dlib``: the same with dlib's 128-d
  descriptors (dlib calls two faces the same person below 0.6);
- ``mkr``: missing keypoint rate: share of frames where no face (hence no landmarks) is
  found on the generated crop; ``akd`` and ``aed`` average the other frames.
"""

from __future__ import annotations

import numpy as np

from forgebench.faces.align import inter_ocular_distance
from forgebench.metrics._declaration import MetricDecl, declare_quality
from forgebench.metrics.quality import average_keypoint_distance, masked_ssim

__all__ = ["DECLARED", "SET_METRICS", "reconstruction_frame", "summarize"]

_LEVEL = ("reconstruction",)
#: The metrics of the protocol (columns ``recon_<metric>``), declared.
DECLARED: tuple[MetricDecl, ...] = (
    declare_quality(
        "recon_l1",
        "L1",
        _LEVEL,
        "[0, 1]",
        False,
        "FOMM's reconstruction protocol",
        "mean absolute error to the held-out real crop",
    ),
    declare_quality("recon_ssim", "SSIM", _LEVEL, "[0, 1]", True, "Wang et al. 2004", "SSIM to the held-out real crop"),
    declare_quality(
        "recon_akd",
        "AKD (px)",
        _LEVEL,
        "pixels at faces.crop_size",
        False,
        "pose-evaluation cmp_kp.py",
        "AKD to the held-out real crop, one landmark model on both",
    ),
    declare_quality("recon_akd_iod", "AKD / IOD", _LEVEL, "÷ inter-ocular distance", False, "as AKD", "normalised AKD"),
    declare_quality(
        "recon_aed",
        "AED (ArcFace)",
        _LEVEL,
        "[0, 2]",
        False,
        "FOMM's AED",
        "Euclidean distance of unit-norm ArcFace embeddings",
        needs="weights: arcface_r100_glint360k",
        weights=("arcface_r100_glint360k",),
    ),
    declare_quality(
        "recon_aed_dlib",
        "AED (dlib)",
        _LEVEL,
        "≥ 0",
        False,
        "FOMM's AED with dlib",
        "the same with dlib descriptors (same person below 0.6)",
    ),
    declare_quality(
        "recon_mkr",
        "MKR",
        _LEVEL,
        "share, [0, 1]",
        False,
        "FOMM's missing keypoint rate",
        "share of generated crops with no face found",
    ),
)
#: Metrics of the protocol averaged over a generator's held-out frames.
SET_METRICS = tuple(d.name.removeprefix("recon_") for d in DECLARED)


def reconstruction_frame(
    real: np.ndarray,
    real_landmarks: np.ndarray | None,
    generated: np.ndarray,
    generated_landmarks: np.ndarray | None,
    real_descriptor: np.ndarray | None = None,
    generated_descriptor: np.ndarray | None = None,
    real_embedding: np.ndarray | None = None,
    generated_embedding: np.ndarray | None = None,
) -> dict[str, float]:
    """Metrics of one reconstructed frame (module docstring).

    Args:
        real: ``(S, S, 3)`` uint8 real aligned crop.
        real_landmarks: ``(68, 2)`` its landmarks, crop pixels, found with the same
            landmark model as ``generated_landmarks`` (the caller's duty); ``None`` when
            that model found no face on the real crop (``akd``, ``akd_iod`` NaN).
        generated: ``(S, S, 3)`` uint8 reconstruction.
        generated_landmarks: ``(68, 2)`` landmarks found on ``generated`` (crop pixels),
            ``None`` when no face was found there (a missing keypoint frame).
        real_descriptor, generated_descriptor: ``(128,)`` dlib face descriptors of the two
            crops (for ``aed_dlib`` when a face was found).
        real_embedding, generated_embedding: ``(512,)`` unit-norm ArcFace embeddings of
            the two crops (for ``aed``; None when ArcFace is unavailable).

    Returns:
        ``{"l1", "ssim", "detected" (0/1), "akd", "akd_iod", "aed", "aed_dlib"}``: ``akd``
        in pixels at ``S`` (mean absolute coordinate difference), ``akd_iod`` unit-free
        (NaN when the real inter-ocular distance is 0); the last four are NaN when no face
        was found on ``generated``.

    Raises:
        ValueError: crop shapes or dtypes differ, or the landmark arrays differ in shape or
            are not finite.
    """
    if real.shape != generated.shape or real.dtype != np.uint8 or generated.dtype != np.uint8:
        raise ValueError(
            f"real and generated crops must be equal-shape uint8, got {real.shape} {real.dtype} and {generated.shape} {generated.dtype}"
        )
    out = {
        "l1": float(np.abs(real.astype(np.float64) - generated.astype(np.float64)).mean() / 255.0),
        "ssim": masked_ssim(real, generated, np.ones(real.shape[:2], bool)),
        "detected": 0.0,
        "akd": np.nan,
        "akd_iod": np.nan,
        "aed": np.nan,
        "aed_dlib": np.nan,
    }
    if generated_landmarks is None:
        return out
    akd = iod = np.nan
    if real_landmarks is not None:
        real_landmarks = np.asarray(real_landmarks, dtype=np.float64)
        akd = average_keypoint_distance(generated_landmarks, real_landmarks)
        iod = inter_ocular_distance(real_landmarks)

    def dist(a, b) -> float:
        return (
            np.nan
            if a is None or b is None
            else float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))
        )

    out.update(
        detected=1.0,
        akd=akd,
        akd_iod=akd / iod if iod > 0 else np.nan,
        aed=dist(real_embedding, generated_embedding),
        aed_dlib=dist(real_descriptor, generated_descriptor),
    )
    return out


def summarize(frames: list[dict]) -> dict[str, float]:
    """Mean of :func:`reconstruction_frame` rows: ``n_frames``, ``l1``, ``ssim``, ``akd``,
    ``akd_iod``, ``aed``, ``aed_dlib`` (over frames with a detected face and a finite
    value) and ``mkr`` (share without a face)."""
    if not frames:
        return {"n_frames": 0, **{k: np.nan for k in SET_METRICS}}
    col = lambda k: np.array([f[k] for f in frames], dtype=np.float64)  # noqa: E731
    detected = col("detected") > 0
    out = {"n_frames": len(frames), "l1": float(col("l1").mean()), "ssim": float(col("ssim").mean())}
    for k in ("akd", "akd_iod", "aed", "aed_dlib"):
        vals = col(k)[detected] if k in frames[0] else np.zeros(0)
        vals = vals[np.isfinite(vals)]
        out[k] = float(vals.mean()) if len(vals) else np.nan
    out["mkr"] = float(1.0 - detected.mean())
    return out
