"""Reconstruction (self-reenactment) protocol of reenactment generators.

A reenactment model re-renders frames of an identity's *own* video that it did not see in
training, from that frame's own driving signal (``pix2pix_reenact``: the frame's
landmarks; ``fomm``: the video's first frame animated by the frame), and the result is
compared with the real frame — the evaluation of Siarohin et al. 2019 (FOMM, section 4)
and of landmark-driven reenactment papers. Which frames are held out is the generator's
:meth:`~forgebench.generators.base.Generator.evaluation_positions`.

Per frame, on aligned crops of the faces stage (side ``S``, crop margin of the run):

- ``l1``: mean absolute difference of the crops, pixel values in [0, 1] (FOMM's L1);
- ``ssim``: SSIM over the whole crop (:func:`~forgebench.metrics.quality.masked_ssim`
  with a full mask), in [0, 1];
- ``akd``: average keypoint distance: mean distance between the 68 dlib landmarks
  detected on the generated crop and those of the real crop (faces manifest), in pixels
  at ``S`` (FOMM's AKD uses a face landmark detector the same way); ``akd_iod`` is the
  same divided by the real inter-ocular distance;
- ``aed``: average Euclidean distance between the dlib 128-d face descriptors of the
  generated and the real crop (FOMM's AED with dlib's ResNet descriptor instead of
  OpenFace; dlib calls two faces the same person below 0.6);
- ``mkr``: missing keypoint rate: share of frames where no face (hence no landmarks) is
  found on the generated crop; ``akd`` and ``aed`` average the other frames.
"""

from __future__ import annotations

import numpy as np

from forgebench.faces import descriptor_from_landmarks
from forgebench.faces.align import inter_ocular_distance
from forgebench.metrics.quality import masked_ssim

FRAME_COLUMNS = ["generator", "identity", "split", "frame_index", "l1", "ssim", "detected", "akd", "akd_iod", "aed"]
IDENTITY_COLUMNS = ["generator", "identity", "split", "n_frames", "l1", "ssim", "akd", "akd_iod", "aed", "mkr", "eval_mode"]
SET_METRICS = ("l1", "ssim", "akd", "akd_iod", "aed", "mkr")


def reconstruction_frame(real: np.ndarray, real_landmarks: np.ndarray, generated: np.ndarray, analyzer) -> dict[str, float]:
    """Metrics of one reconstructed frame (module docstring).

    Args:
        real: ``(S, S, 3)`` uint8 real aligned crop.
        real_landmarks: ``(68, 2)`` its landmarks, crop pixels.
        generated: ``(S, S, 3)`` uint8 reconstruction.
        analyzer: :class:`~forgebench.faces.FaceAnalyzer` finding the face and landmarks
            on ``generated``.

    Returns:
        ``{"l1", "ssim", "detected" (0/1), "akd", "akd_iod", "aed"}``; the last three are
        NaN when no face is found on ``generated``.

    Raises:
        ValueError: shapes or dtypes differ.
    """
    if real.shape != generated.shape or real.dtype != np.uint8 or generated.dtype != np.uint8:
        raise ValueError(f"real and generated crops must be equal-shape uint8, got {real.shape} {real.dtype} and {generated.shape} {generated.dtype}")
    out = {
        "l1": float(np.abs(real.astype(np.float64) - generated.astype(np.float64)).mean() / 255.0),
        "ssim": masked_ssim(real, generated, np.ones(real.shape[:2], bool)),
        "detected": 0.0, "akd": np.nan, "akd_iod": np.nan, "aed": np.nan,
    }
    face = analyzer.detect(generated)
    if face is None:
        return out
    real_landmarks = np.asarray(real_landmarks, dtype=np.float64)
    akd = float(np.linalg.norm(face.landmarks - real_landmarks, axis=1).mean())
    real_desc = descriptor_from_landmarks(real, real_landmarks)
    fake_desc = descriptor_from_landmarks(generated, face.landmarks)
    out.update(detected=1.0, akd=akd, akd_iod=akd / inter_ocular_distance(real_landmarks), aed=float(np.linalg.norm(real_desc - fake_desc)))
    return out


def summarize(frames: list[dict]) -> dict[str, float]:
    """Mean of :func:`reconstruction_frame` rows: ``n_frames``, ``l1``, ``ssim``, ``akd``,
    ``akd_iod``, ``aed`` (over frames with a detected face) and ``mkr`` (share without)."""
    if not frames:
        return {"n_frames": 0, **{k: np.nan for k in SET_METRICS}}
    col = lambda k: np.array([f[k] for f in frames], dtype=np.float64)  # noqa: E731
    detected = col("detected") > 0
    out = {"n_frames": len(frames), "l1": float(col("l1").mean()), "ssim": float(col("ssim").mean())}
    for k in ("akd", "akd_iod", "aed"):
        out[k] = float(col(k)[detected].mean()) if detected.any() else np.nan
    out["mkr"] = float(1.0 - detected.mean())
    return out


def has_protocol(gen_name: str) -> bool:
    """Whether ``gen_name`` is a registered generator with a reconstruction protocol (a
    fake set made outside forgebench, or a face swap, has none)."""
    from forgebench.generators import Generator, get_generator, list_generators

    return gen_name in list_generators() and get_generator(gen_name).reconstruct is not Generator.reconstruct


def score_reconstruction(run_dir, config, gen_name: str, analyzer, device, progress: bool = True) -> tuple[list[dict], list[dict]]:
    """Run the reconstruction protocol of generator ``gen_name`` over every identity of the
    run that has a trained model and held-out frames.

    Reads ``faces/videos.parquet``, the real face manifests (crops, landmarks) and the
    checkpoints ``fakes/<gen_name>/models/<key>.pt``; the generator is built from the
    run config's settings. Dropout noise (``eval_mode: false``) is seeded per identity.

    Returns:
        ``(identity rows, frame rows)`` with :data:`IDENTITY_COLUMNS` / :data:`FRAME_COLUMNS`;
        both empty for a generator without a reconstruction protocol (``autoencoder_swap``).

    Raises:
        DataError: a checkpoint cannot be read (names the file).
    """
    import torch
    from tqdm.auto import tqdm

    from forgebench.faces.extract import identity_faces, load_manifest
    from forgebench.generators import get_generator
    from forgebench.pipeline import read_videos

    if not has_protocol(gen_name):
        return [], []
    cls = get_generator(gen_name)
    gen = cls(config.generator_settings(gen_name), analyzer, device, config.seed)
    split_of = dict(read_videos(run_dir)[["identity", "split"]].itertuples(index=False, name=None))
    gen.set_splits(split_of)
    real = load_manifest(run_dir, ["real"])
    models = run_dir / "fakes" / gen_name / "models"
    eval_mode = bool(gen.settings.eval_mode)
    identity_rows, frame_rows, loaded = [], [], None
    for identity in tqdm(sorted(split_of), desc=f"reconstruction {gen_name}", disable=not progress, leave=False):
        key = gen.model_key(identity, identity)
        crops, landmarks, frames = (d[identity] for d in identity_faces(run_dir, real, [identity]))
        positions = gen.evaluation_positions(identity, len(crops))
        if not positions or not (models / f"{key}.pt").is_file():
            continue
        if loaded != key:
            gen.load(models / f"{key}.pt")
            loaded = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(gen.model_seed([identity, "reconstruction"]))
            generated = gen.reconstruct(identity, [crops[p] for p in positions], [landmarks[p] for p in positions])
        rows = []
        for p, fake in zip(positions, generated):
            row = reconstruction_frame(crops[p], landmarks[p], fake, analyzer)
            rows.append({"generator": gen_name, "identity": identity, "split": split_of[identity], "frame_index": frames[p], **row})
        frame_rows += rows
        identity_rows.append({"generator": gen_name, "identity": identity, "split": split_of[identity], **summarize(rows), "eval_mode": eval_mode})
    return identity_rows, frame_rows
