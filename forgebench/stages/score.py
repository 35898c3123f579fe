"""The score stage: quality metrics of every generator's fakes, and the reconstruction
(self-reenactment) protocol of the generators that have one.

Reads (docs/architecture.md): ``faces/videos.parquet``, the combined face manifest,
``fakes/<method>/manifest.parquet``, ``fakes/<method>/frames/<video>.parquet``, the model
checkpoints, and the videos they name. Writes ``metrics/quality.parquet`` (one row per
fake video), ``metrics/quality_frames.parquet`` (one row per scored frame),
``metrics/quality_sets.parquet`` (set-level rows per generator: ``fid``,
``frechet_dlib``, ``lpips``, ``recon_*``), ``metrics/reconstruction.parquet`` and
``reconstruction_frames.parquet``.

Units of work (results under ``metrics/units/``, named with a stamp of their inputs, so a
unit is skipped when its result exists and redone when its inputs changed):

- :func:`real_unit`: dlib descriptors of one real video's face rows (the identity
  reference; not stored);
- :func:`video_unit`: one fake video's quality scores;
- :func:`reconstruction_unit`: one identity's held-out frames re-rendered by its model;
- :func:`set_unit`: one generator's set-level metrics (FID, Fréchet distance of dlib
  descriptors, mean LPIPS).

Per fake video, ``metrics.frames_per_video`` frames are sampled evenly among the frames
whose target face was replaced. The fake frame and the real frame it replaced (same
index of the target's re-encoded real video, ``faces/videos.parquet`` ``real_path``: fake and
real went through the same codec at the same CRF, like with like) are warped with the fake's frame -> crop
matrix into an aligned pair; the face mask is the convex hull of the target landmarks.
A frame is scored when the face analyzer also finds a face on the fake frame (needed for
the identity embeddings and the landmark distance) and, for a generator whose frame t
replaces target frame t, the real video has frame t (a fomm fake, one frame per driving
frame, may outlast its target video: its ``warp_error_real`` is then NaN). Per frame:

- pixels (only for generators whose frame t replaces target frame t,
  ``Generator.replaces_target_frames``; NaN for fomm, which animates one still frame):
  SSIM, PSNR, further registered frame-pair metrics (``metrics.extra``) and LPIPS
  (spatial map, AlexNet), averaged inside the mask;
- identity with ArcFace (:mod:`forgebench.metrics.arcface`, registry weights
  ``arcface_r100_glint360k``; NaN with the reason when the weights are missing):
  ``id_sim_target``, ``id_sim_source`` (face swaps: the identity pasted in),
  ``id_sim_driving`` (reenactment: the identity whose motion is shown), cosine similarity
  to the mean embedding of each identity's real face rows (on the re-encoded real frames
  with the stored landmarks), and ``id_nearest``: the identity of the most similar real
  face *frame* among every frame of every identity (FaceShifter's ID retrieval); the same
  with dlib's descriptor in the ``*_dlib`` columns;
- landmarks, with **one** landmark model on both sides (``landmark_model`` names it):
  face-alignment's FAN when its weights (``fan2d``) are there (the FOMM paper's AKD),
  else dlib. The reference is what the fake should match: a face swap keeps the target's
  expression, so the target's landmarks at frame t; a reenactment (``pix2pix_reenact``,
  ``fomm``: frames with ``driving_landmarks``) the driving landmarks it was drawn to (the
  retargeted driving motion), never the target frame, which a reenactment that ignored
  its driving video would match best. When the stage's model is not the one whose
  landmarks the frames table stores (``faces.landmarks``), a swap's reference is found
  again with the stage's model on the real target frame t; a reenactment's drawn
  landmarks are derived from the faces stage's model (retargeted driving tracks), so its
  fake is scored with that model too. ``akd``: FOMM's average keypoint distance, the mean
  absolute coordinate difference (over the 68 points and x, y;
  :func:`~forgebench.metrics.quality.average_keypoint_distance`) in pixels of the
  ``faces.crop_size`` aligned crop; ``akd_iod``: the same over the reference's
  inter-ocular distance; ``landmark_distance``: the 300-W NME (Euclidean per point, over
  the inter-ocular distance) against the same reference;
- ``boundary``: the blending-boundary score (:mod:`forgebench.metrics.boundary`) of the
  fake against the real frame it replaced, on the hull of the target's and drawn
  landmarks; only where fake frame t replaces target frame t: NaN for fomm, whose
  ``reference`` note says "boundary: not applicable (...)" and the report
  ``unavailable: not applicable to fomm: ...``;
- ``warp_error``: the warping error of the fake video on its **own** flow (Farnebäck,
  forward-backward occlusion check) from its frame t to t + 1 as the fake video shows it,
  inside the region the generator rendered (hull of the target's and drawn landmarks);
  ``warp_error_real``: the same on the real target video's own frames t, t + 1 inside the
  target face's hull (for fomm, whose frames table holds the still frame's face, the face
  is found on the real frame t); :mod:`forgebench.metrics.temporal`, Lai et al. 2018.

Per video: means of the frames, and ``id_retrieval`` (``_dlib``): the share of frames whose
nearest real frame shows the identity the fake should show (swap: the source;
reenactment: the target). A metric that cannot be computed gets NaN and
``unavailable: <reason>`` (set rows ``id_retrieval`` / ``id_retrieval_dlib`` of
``quality_sets.parquet`` carry the identity model's weights and status).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from forgebench.config import Config, FacesSettings
from forgebench.errors import DataError
from forgebench.execution import Backend, Unit, backend_for, run_units, stage_progress
from forgebench.faces import FaceAnalyzer, descriptor_from_landmarks
from forgebench.faces.align import inter_ocular_distance, landmarks_array, transform_points, warp_crop
from forgebench.faces.dlib_models import MODEL_FILES, model_path
from forgebench.generators import GENERATORS
from forgebench.metrics.fid import fid_from_features, inception_features, weights_file
from forgebench.metrics.kid import kid_from_features
from forgebench.metrics.arcface import ARCFACE_WEIGHTS, arcface_align, arcface_embeddings, load_arcface
from forgebench.metrics.boundary import boundary_score
from forgebench.metrics.identity import cosine_similarity, frechet_distance_features, identity_means, nearest_reference
from forgebench.metrics.lpips_metric import load_lpips, lpips_distance
from forgebench.metrics.quality import QualitySettings, average_keypoint_distance, face_mask, landmark_distance
from forgebench.metrics.temporal import own_warping_error
from forgebench.metrics.reconstruction import SET_METRICS, reconstruction_frame, summarize
from forgebench.metrics.registry import get_metric
from forgebench.media import read_frames, read_image, sample_indices
from forgebench.provenance import update_provenance
from forgebench.fileio import read_parquet, sha256_file, write_parquet
from forgebench.schemas import QUALITY, QUALITY_FRAMES, QUALITY_SETS, RECONSTRUCTION, RECONSTRUCTION_FRAMES
from forgebench.rundir import METRICS_FILES, RunDir
from forgebench.runtime import select_device
from forgebench.stages.extract import identity_faces
from forgebench.stages.generate import GeneratorSpec
from forgebench.weights import WeightsUnavailable, get_entry, weights_status

__all__ = ["VIDEO_UNIT_VERSION", "RECONSTRUCTION_UNIT_VERSION", "real_unit", "video_unit", "unit_landmark_model",
           "reconstruction_unit", "set_unit", "score"]

#: Version of the video units' results, part of their cache stamp, so a unit scored under
#: an older definition is scored again. "identity-v2": ArcFace / dlib identity, FAN or dlib
#: landmarks, boundary and warping error, fakes compared with the re-encoded real videos;
#: "quality-v3" (issue 21): warping error of each video on its own flow, ``boundary`` only
#: where fake frame t replaces target frame t, AKD as FOMM's mean absolute coordinate
#: difference with one landmark model on both sides, ``landmark_distance`` of a
#: reenactment against the driving landmarks it was drawn to.
VIDEO_UNIT_VERSION = "quality-v3"
#: Version of the reconstruction units' results (cache stamp). "aed-v2": ArcFace AED;
#: "recon-v3" (issue 21): AKD as FOMM's mean absolute coordinate difference, real and
#: generated landmarks from one landmark model.
RECONSTRUCTION_UNIT_VERSION = "recon-v3"

#: Per-frame metrics averaged into a video's row.
_VIDEO_MEANS = ("ssim", "psnr", "lpips", "id_sim_source", "id_sim_driving", "id_sim_target", "id_sim_source_dlib",
                "id_sim_driving_dlib", "id_sim_target_dlib", "landmark_distance", "akd", "akd_iod", "boundary", "warp_error",
                "warp_error_real")
#: Frame columns the units keep for the stage (identity retrieval), not in quality_frames.parquet.
_UNIT_ONLY = ("descriptor", "embedding")


def _stamp(*parts: Any) -> str:
    """12 hex digits identifying a unit's inputs (file hashes, settings)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _unit_file(run: RunDir, kind: str, method: str, name: str, stamp: str) -> Path:
    return run.metrics.unit(kind, method, f"{name}.{stamp}")


def _eval_mode(settings_json: str | None) -> bool | None:
    """``eval_mode`` of the generator settings that made a fake (fakes manifest ``settings``)."""
    value = json.loads(settings_json or "{}").get("eval_mode")
    return None if value is None else bool(value)


# -- units ------------------------------------------------------------------------------
def real_unit(video: Path, frame_indices: list[int], landmarks: list[np.ndarray], arcface: bool = False,
              device: str = "cpu") -> tuple[np.ndarray, np.ndarray | None]:
    """Identity references of one real video's face rows, on the re-encoded frames with the
    stored ``(68, 2)`` frame-pixel landmarks: dlib 128-d descriptors and, when ``arcface``,
    ArcFace 512-d embeddings of the 112x112 aligned faces.

    Returns:
        ``(dlib (n, 128) float64, arcface (n, 512) float64 or None)``, one row per face
        row, in the order given.

    Raises:
        MediaError: the video cannot be decoded. DataError: a frame is past its end.
        WeightsUnavailable: ``arcface`` but the weights cannot be loaded.
    """
    frames = read_frames(video, frame_indices)
    out = np.zeros((len(frame_indices), 128))
    aligned = []
    for k, (index, points) in enumerate(zip(frame_indices, landmarks)):
        if index not in frames:
            raise DataError(f"{video}: frame {index} of the face manifest is past the end")
        out[k] = descriptor_from_landmarks(frames[index], points)
        if arcface:
            aligned.append(arcface_align(frames[index], points))
    if not arcface:
        return out, None
    model, _ = load_arcface(device)
    return out, arcface_embeddings(model, np.stack(aligned) if aligned else np.zeros((0, 112, 112, 3), np.uint8))


@dataclass(frozen=True)
class FakeVideo:
    """One fake video to score (a fakes manifest row, paths resolved).

    Attributes: method, video_id, video_name, target, source, driving (identities; ``""``
    when not applicable), path (the fake), target_path (the real video it replaced, as
    re-encoded for the detectors), frames (its frames table file), pixels (its frame t
    replaces target frame t, so pixel metrics apply: ``Generator.replaces_target_frames``).
    """

    method: str
    video_id: str
    video_name: str
    target: str
    source: str
    driving: str
    path: Path
    target_path: Path
    frames: Path
    pixels: bool = True


def _sim(desc: np.ndarray | None, means: dict[str, np.ndarray], identity: str) -> float:
    return float(cosine_similarity(desc, means[identity])) if desc is not None and identity in means else np.nan


@dataclass(frozen=True)
class IdentityModels:
    """The identity references a video unit compares fakes with.

    Attributes:
        dlib: ``{identity: (128,) mean dlib descriptor}`` of the real face rows.
        arcface: ``{identity: (512,) mean ArcFace embedding}``; empty when the ArcFace
            weights are unavailable (the ArcFace columns are then NaN).
        landmark_model: ``fan`` or ``dlib``, the landmark model of the stage (FAN when its
            weights are there); a video unit whose reference landmarks are a
            reenactment's drawn landmarks uses the faces stage's model instead, on both
            sides (module docstring).
    """

    dlib: dict[str, np.ndarray]
    arcface: dict[str, np.ndarray]
    landmark_model: str


def video_unit(fake: FakeVideo, ids: IdentityModels, settings: QualitySettings, faces: FacesSettings, lpips_ok: bool,
               device: str, out: Path) -> Path:
    """Score one fake video's sampled frames (module docstring) and write them to ``out``.

    Args:
        fake: the fake video.
        ids: the identity references and the stage's landmark model (:class:`IdentityModels`);
            the unit runs :func:`unit_landmark_model` on both the fake and its reference.
        settings: the ``metrics`` settings (frames per video, extra metrics, batch size).
        faces: the run's ``faces`` settings (crop size of the aligned pairs and of ``akd``'s
            pixels, analyzer, ``landmarks``: the model of the frames table's landmarks).
        lpips_ok: LPIPS weights are there and LPIPS is on.
        device: torch device name for LPIPS and ArcFace.
        out: the unit's result (frame rows of :data:`forgebench.rundir.QUALITY_FRAMES`
            plus ``descriptor`` and ``embedding``, the dlib ``(128,)`` descriptor and the
            ArcFace ``(512,)`` embedding (empty list without ArcFace) of the fake face).

    Returns:
        ``out``.

    Raises:
        DataError: the frames table is missing. MediaError: a video cannot be decoded.
        WeightsUnavailable: ArcFace references are given but its weights cannot be loaded.
    """
    if not fake.frames.is_file():
        raise DataError(f"{fake.frames}: missing frames table of fake {fake.video_id}; re-run 'forgebench generate'")
    size = faces.crop_size
    table = read_parquet(fake.frames)
    table = table[table["has_face"]].sort_values("frame_index").set_index("frame_index")
    reenactment = any(len(v) for v in table["driving_landmarks"])  # drawn to driving landmarks
    model = unit_landmark_model(ids.landmark_model, faces.landmarks, reenactment)
    redetect = model != faces.landmarks  # the stored target landmarks are another model's
    analyzer = FaceAnalyzer(faces.model_copy(update={"landmarks": model}))
    candidates = table.index.tolist()
    picks = [candidates[i] for i in sample_indices(len(candidates), settings.frames_per_video)]
    wanted = sorted(set(picks) | {i + 1 for i in picks})  # frame t + 1 for the warping error
    fakes = read_frames(fake.path, wanted)
    reals = read_frames(fake.target_path, wanted)
    nan = float("nan")
    pairs, masks, rows, aligned = [], [], [], []
    for index in picks:
        if index not in fakes or (fake.pixels and index not in reals):
            continue
        face = analyzer.detect(fakes[index])
        if face is None:
            continue
        matrix = np.asarray(table.at[index, "matrix"], dtype=np.float64).reshape(2, 3)
        target = landmarks_array(table.at[index, "landmarks"])
        drawn = table.at[index, "driving_landmarks"]
        drawn = landmarks_array(drawn) if len(drawn) else target
        reference: np.ndarray | None = drawn  # swap: the target's; reenactment: the driving landmarks
        if redetect:  # a swap scored with another model than the stored one: the target frame again
            found = analyzer.detect(reals[index]) if index in reals else None
            reference = None if found is None else found.landmarks
        akd, akd_iod, lm_distance = _landmark_errors(face.landmarks, reference, matrix)
        fake_crop = warp_crop(fakes[index], matrix, size)
        mask = face_mask(transform_points(target, matrix), size)
        rendered = face_mask(transform_points(np.concatenate([target, drawn]), matrix), size)
        desc = descriptor_from_landmarks(fakes[index], face.landmarks)
        if ids.arcface:
            aligned.append(arcface_align(fakes[index], face.landmarks))
        warp = nan
        if index + 1 in fakes:  # the fake on its own flow, frame t + 1 as the video shows it
            warp = own_warping_error(fake_crop, warp_crop(fakes[index + 1], matrix, size), rendered)
        warp_real = _real_warping_error(reals, index, matrix if fake.pixels else None, mask, analyzer, size)
        pixel = {"ssim": nan, "psnr": nan, **{m: nan for m in settings.extra}}
        blend = nan
        if fake.pixels:
            real_crop = warp_crop(reals[index], matrix, size)
            pairs.append((real_crop, fake_crop))
            masks.append(mask)
            pixel = {"ssim": get_metric("ssim").fn(real_crop, fake_crop, mask), "psnr": get_metric("psnr").fn(real_crop, fake_crop, mask),
                     **{m: float(get_metric(m).fn(real_crop, fake_crop, mask)) for m in settings.extra}}
            blend = boundary_score(fake_crop, real_crop, rendered)
        row = {
            "method": fake.method, "video_id": fake.video_id, "video_name": fake.video_name, "frame_index": int(index),
            "ssim": pixel["ssim"], "psnr": pixel["psnr"], "lpips": nan,
            "id_sim_source": nan, "id_sim_driving": nan, "id_sim_target": nan,
            "id_sim_source_dlib": _sim(desc, ids.dlib, fake.source), "id_sim_driving_dlib": _sim(desc, ids.dlib, fake.driving),
            "id_sim_target_dlib": _sim(desc, ids.dlib, fake.target), "id_nearest": "", "id_nearest_dlib": "",
            "landmark_distance": lm_distance, "akd": akd, "akd_iod": akd_iod, "landmark_model": model, "boundary": blend,
            "warp_error": warp, "warp_error_real": warp_real,
        }
        row.update({m: pixel[m] for m in settings.extra})
        row["descriptor"], row["embedding"] = desc.tolist(), []
        rows.append(row)
    if aligned:
        model, _ = load_arcface(device)
        for r, emb in zip(rows, arcface_embeddings(model, np.stack(aligned), batch_size=settings.batch_size)):
            r.update(id_sim_source=_sim(emb, ids.arcface, fake.source), id_sim_driving=_sim(emb, ids.arcface, fake.driving),
                     id_sim_target=_sim(emb, ids.arcface, fake.target), embedding=emb.tolist())
    if pairs and lpips_ok:
        real_b, fake_b = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
        values = lpips_distance(real_b, fake_b, mask=np.stack(masks), batch_size=settings.batch_size, device=torch.device(device))
        for r, v in zip(rows, values):
            r["lpips"] = float(v)
    columns = list(QUALITY_FRAMES.columns) + list(settings.extra) + list(_UNIT_ONLY)
    write_parquet(out, pd.DataFrame(rows, columns=columns))
    return out


def unit_landmark_model(preferred: str, stored: str, reenactment: bool) -> str:
    """The landmark model a video unit runs on a fake and on its reference, one model on
    both sides: ``preferred`` (the stage's, FAN when its weights are there), except for a
    reenactment whose reference, the drawn landmarks, is derived from the ``stored`` model
    (the faces stage's ``faces.landmarks``, retargeted driving tracks) and cannot be found
    again with another model on one frame: the ``stored`` model then.

    Args:
        preferred, stored: ``fan`` or ``dlib``.
        reenactment: the frames table has drawn (driving) landmarks.

    Returns:
        ``fan`` or ``dlib``.
    """
    return stored if reenactment else preferred


def _landmark_errors(found: np.ndarray, reference: np.ndarray | None, matrix: np.ndarray) -> tuple[float, float, float]:
    """``(akd, akd_iod, landmark_distance)`` of ``(68, 2)`` frame-pixel landmarks found on a
    fake against ``reference`` (same model, frame pixels), both taken into the aligned crop
    with ``matrix`` ``(2, 3)`` for the AKD (pixels at the crop size); all NaN without a
    reference, the normalised two NaN when the reference's inter-ocular distance is 0."""
    nan = float("nan")
    if reference is None:
        return nan, nan, nan
    ref_crop = transform_points(reference, matrix)
    akd = average_keypoint_distance(transform_points(found, matrix), ref_crop)
    iod = inter_ocular_distance(ref_crop)
    if not iod > 0 or not inter_ocular_distance(reference) > 0:
        return akd, nan, nan
    return akd, akd / iod, landmark_distance(found, reference)


def _real_warping_error(reals: dict[int, np.ndarray], index: int, matrix: np.ndarray | None, mask: np.ndarray,
                        analyzer: FaceAnalyzer, size: int) -> float:
    """``warp_error_real``: the real target video's warping error from frame ``index`` to
    ``index + 1`` on its own flow, on crops of ``size`` px aligned with ``matrix`` inside
    ``mask`` (the target face of frame ``index`` from the frames table), or, with ``matrix``
    None (a fake that does not replace target frame t, whose table holds another frame's
    face), with the face ``analyzer`` finds on the real frame; NaN when a frame is missing
    or no face is found."""
    if index not in reals or index + 1 not in reals:
        return float("nan")
    if matrix is None:
        face = analyzer.detect(reals[index])
        if face is None:
            return float("nan")
        matrix, mask = face.matrix, face_mask(transform_points(face.landmarks, face.matrix), size)
    return own_warping_error(warp_crop(reals[index], matrix, size), warp_crop(reals[index + 1], matrix, size), mask)


def _video_row(fake: dict, frames: pd.DataFrame, extra: list[str], reference: str) -> dict[str, Any]:
    """The ``quality.parquet`` row of a fake from its scored frames (``id_nearest`` filled
    in); ``reference``: what its fakes are compared with (the generator's note)."""
    video = {k: fake[k] for k in ("method", "video_id", "video_name", "target", "source", "driving", "split")}
    video["n_frames"] = len(frames)
    video["eval_mode"] = _eval_mode(fake.get("settings"))
    for col in (*_VIDEO_MEANS, *extra):
        vals = frames[col].to_numpy(dtype=np.float64) if len(frames) else np.zeros(0)
        video[col] = float(np.nanmean(vals)) if len(vals) and not np.isnan(vals).all() else np.nan
    expected = _expected_identity(fake)
    for col, nearest in (("id_retrieval", "id_nearest"), ("id_retrieval_dlib", "id_nearest_dlib")):
        found = frames[nearest].to_numpy() if len(frames) else np.zeros(0)
        video[col] = float(np.mean(found == expected)) if len(found) and (found != "").all() else np.nan
    video["landmark_model"] = str(frames["landmark_model"].iloc[0]) if len(frames) else ""
    video["reference"] = reference
    return video


def _expected_identity(fake: dict) -> str:
    """The identity a fake should show: a swap's source, else (reenactment) the target."""
    return fake["source"] or fake["target"]


def reconstruction_unit(spec: GeneratorSpec, *, checkpoint: Path, identity: str, split: str, crops: list[Path], landmarks: list[np.ndarray],
                        frame_indices: list[int], out: Path, arcface: bool = False, landmark_model: str | None = None) -> Path:
    """The reconstruction protocol for one identity: its model re-renders the identity's
    held-out frames (:meth:`~forgebench.generators.base.Generator.evaluation_positions`)
    from their own driving signal, and each is compared with the real crop
    (:func:`forgebench.metrics.reconstruction.reconstruction_frame`). Dropout noise
    (``eval_mode: false``) is seeded per identity.

    Args:
        spec: the generator.
        checkpoint: the model that renders ``identity``.
        identity, split: whose frames, in which split.
        crops: the identity's real crop PNGs in frame order; landmarks: their ``(68, 2)``
            crop-pixel landmarks; frame_indices: their frames.
        out: the unit's result (rows of :data:`forgebench.rundir.RECONSTRUCTION_FRAMES`).
        arcface: also compute the ArcFace AED (the weights are there).
        landmark_model: ``fan`` or ``dlib``, the model of the AKD's landmarks on **both**
            the generated and the real crop (FOMM: FAN on both). None or the faces
            stage's model (``spec.faces.landmarks``): the generated crop's landmarks from
            the generator's analyzer and the real crop's stored ones; another model: that
            model is run on both crops (AKD NaN where it finds no face on one of them).

    Returns:
        ``out``.

    Raises:
        DataError: the checkpoint cannot be read. MediaError: a crop cannot be read.
    """
    gen = spec.build()
    positions = gen.evaluation_positions(identity, len(crops))
    images = [read_image(p) for p in crops]
    gen.load(checkpoint)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(gen.model_seed([identity, "reconstruction"]))
        generated = gen.reconstruct(identity, [images[p] for p in positions], [landmarks[p] for p in positions])
    model = landmark_model or spec.faces.landmarks
    akd_analyzer = None if model == spec.faces.landmarks else FaceAnalyzer(spec.faces.model_copy(update={"landmarks": model}))
    rows, aligned = [], []
    for p, fake in zip(positions, generated):
        face = gen.analyzer.detect(fake)
        real_desc = fake_desc = found = None
        real_points: np.ndarray | None = landmarks[p]
        if face is not None:
            found = face.landmarks
            real_desc = descriptor_from_landmarks(images[p], landmarks[p])
            fake_desc = descriptor_from_landmarks(fake, face.landmarks)
            if arcface:
                aligned.append((len(rows), arcface_align(images[p], landmarks[p]), arcface_align(fake, face.landmarks)))
            if akd_analyzer is not None:  # the stored landmarks are another model's: one model on both crops
                redone, real_face = akd_analyzer.detect(fake), akd_analyzer.detect(images[p])
                if redone is None or real_face is None:
                    real_points = None  # a face for the rates, but no AKD of one model on both crops
                else:
                    found, real_points = redone.landmarks, real_face.landmarks
        metrics = reconstruction_frame(images[p], real_points, fake, found, real_desc, fake_desc)
        rows.append({"method": spec.name, "identity": identity, "split": split, "frame_index": frame_indices[p], **metrics})
    if aligned:
        model, _ = load_arcface(spec.device)
        real_emb = arcface_embeddings(model, np.stack([a[1] for a in aligned]))
        fake_emb = arcface_embeddings(model, np.stack([a[2] for a in aligned]))
        for (k, _, _), r, f in zip(aligned, real_emb, fake_emb):
            rows[k]["aed"] = float(np.linalg.norm(r - f))
    write_parquet(out, pd.DataFrame(rows, columns=list(RECONSTRUCTION_FRAMES.columns)))
    return out


def _set_row(gen: str, metric: str, value: float, status: str, n_real: int, n_fake: int, weights: tuple[str, str]) -> dict:
    ok = status == "ok"
    return {
        "method": gen, "metric": metric, "value": float(value) if ok else np.nan, "status": status,
        "n_real": int(n_real), "n_fake": int(n_fake), "weights": weights[0], "weights_sha256": weights[1] if ok else "",
    }


def _stack(paths: list[Path]) -> np.ndarray:
    images = [read_image(p) for p in paths]
    if len({im.shape for im in images}) > 1:
        raise DataError(f"{Path(paths[0]).parent.parent}: face crops of different sizes {sorted({im.shape for im in images})}")
    return np.stack(images)


def set_unit(method: str, *, real_crops: list[Path], fake_crops: list[Path], real_features: np.ndarray | None, fid_status: str,
             real_desc: np.ndarray, fake_desc: np.ndarray, lpips: np.ndarray, lpips_status: str, lpips_weights: tuple[str, str],
             settings: QualitySettings, device: str, out: Path) -> Path:
    """One generator's set-level metrics, written to ``out`` (rows of
    :data:`forgebench.rundir.QUALITY_SETS` without ``eval_mode``): ``fid`` between the real
    and the generator's face crops (pytorch-fid, 2048-d; biased for few crops, ``n_real`` /
    ``n_fake`` recorded), ``kid`` on the same features (:mod:`forgebench.metrics.kid`, mean
    over ``metrics.kid_subsets`` subsets; unbiased), ``frechet_dlib`` between the real rows' and the scored fake
    frames' dlib descriptors, and the mean masked ``lpips`` with its weights file.

    Args:
        method: the generator.
        real_crops, fake_crops: the face crop PNGs of the real videos and of its fakes.
        real_features: FID Inception features ``(N, 2048)`` of ``real_crops`` (None when
            not computed: FID off, too few crops, or ``fid_status`` says why).
        fid_status: ``ok`` or ``unavailable: <reason>`` (the Inception weights).
        real_desc, fake_desc: ``(N, 128)`` dlib descriptors.
        lpips: per-frame LPIPS of the scored frames; lpips_status, lpips_weights: whether
            LPIPS ran, and its weights file name and SHA-256.
        settings: the ``metrics`` settings; device: torch device name.
        out: the unit's result.

    Returns:
        ``out``.
    """
    fid_entry = get_entry("pt_inception")
    n_real, n_fake = len(real_crops), len(fake_crops)
    fid = (np.nan, "", fid_status)
    kid = (np.nan, "", fid_status)  # on the same Inception features as FID
    if not settings.fid:
        fid = kid = (np.nan, "", "unavailable: disabled in the config (metrics.fid: false)")
    elif n_real < 2 or n_fake < 2:
        fid = kid = (np.nan, "", f"unavailable: FID and KID need >= 2 face crops per set, found {n_real} real and {n_fake} of {method} in faces/manifest")
    elif fid_status == "ok":
        try:
            fake_feat = inception_features(_stack(fake_crops), batch_size=settings.batch_size, device=torch.device(device), progress=False)
            fid = (fid_from_features(real_features, fake_feat), weights_file().sha256, "ok")
            k = kid_from_features(real_features, fake_feat, settings.kid_subsets, settings.kid_subset_size)
            kid = (k.mean, fid[1], "ok")
        except WeightsUnavailable as exc:
            fid = kid = (np.nan, "", f"unavailable: {exc.reason}")
    dlib_weights = (MODEL_FILES["descriptor"], sha256_file(model_path("descriptor")))
    if len(real_desc) >= 2 and len(fake_desc) >= 2:
        fd = (frechet_distance_features(real_desc, fake_desc), "ok")
    else:
        fd = (np.nan, f"unavailable: needs >= 2 descriptors per set, got {len(real_desc)} real and {len(fake_desc)} fake")
    lp_status = lpips_status if len(lpips) or lpips_status != "ok" else "unavailable: no frame was scored"
    lp_value = float(np.nanmean(lpips)) if lp_status == "ok" else np.nan
    rows = [
        _set_row(method, "fid", fid[0], fid[2], n_real, n_fake, (fid_entry.file, fid[1])),
        _set_row(method, "kid", kid[0], kid[2], n_real, n_fake, (fid_entry.file, kid[1])),
        _set_row(method, "frechet_dlib", fd[0], fd[1], len(real_desc), len(fake_desc), dlib_weights),
        _set_row(method, "lpips", lp_value, lp_status, len(lpips), len(lpips), lpips_weights),
    ]
    write_parquet(out, pd.DataFrame(rows, columns=[c for c in QUALITY_SETS.columns if c != "eval_mode"]))
    return out


def reconstruction_set_rows(method: str, frame_rows: pd.DataFrame, arcface_status: str = "ok") -> list[dict]:
    """``quality_sets.parquet`` rows ``recon_<metric>`` (l1, ssim, akd, akd_iod, aed,
    aed_dlib, mkr) of the reconstruction protocol, averaged over all held-out frames of a
    generator that has the protocol; ``recon_aed`` (ArcFace) carries ``arcface_status``
    when the ArcFace weights are unavailable."""
    frames = frame_rows.to_dict("records")
    summary = summarize(frames)
    status = "ok" if frames else "unavailable: no held-out frame to reconstruct (generator holdout / splits)"
    n = summary["n_frames"]
    rows = []
    for m in SET_METRICS:
        s = status
        if m == "aed" and status == "ok" and arcface_status != "ok":
            s = arcface_status
        elif status == "ok" and not np.isfinite(summary[m]):
            s = "unavailable: no face found on any reconstruction"
        rows.append(_set_row(method, f"recon_{m}", summary[m], s, n, n, ("", "")))
    return rows


# -- the stage -----------------------------------------------------------------------------
class _Reference:
    """The real reference every generator's scoring shares, computed once per stage run:
    real face rows (sorted by video and frame), their dlib descriptors and (with
    ``arcface``) ArcFace embeddings, identity means of both, and the FID Inception features
    of the real crops."""

    def __init__(self, run: RunDir, settings: QualitySettings, device: torch.device, progress: bool, backend: Backend,
                 arcface: bool) -> None:
        self.run, self.settings, self.device, self.progress = run, settings, device, progress
        videos = run.faces.read_videos().set_index("video_name")
        rows = run.faces.read_manifest(["real"])
        if rows.empty:
            raise DataError(f"{run.faces.manifest_file}: no real face rows; run 'forgebench extract {run.root}'")
        self.rows = rows.sort_values(["video_name", "frame_index"]).reset_index(drop=True)
        units = []
        for name, group in self.rows.groupby("video_name", sort=True):
            if name not in videos.index:
                raise DataError(f"{run.faces.videos_file}: no row for real video {name!r} of the face manifest")
            units.append(Unit(f"real {name}", real_unit, (run.resolve(videos.at[name, "real_path"]), group["frame_index"].astype(int).tolist(),
                                                           [landmarks_array(v) for v in group["landmarks"]], arcface, str(device))))
        done = [o.value for o in run_units(units, "real identities", progress, backend=backend)]
        self.desc = np.concatenate([d for d, _ in done])
        self.emb = np.concatenate([e for _, e in done]) if arcface else np.zeros((len(self.desc), 0))
        self.ids = self.rows["identity"].astype(str).tolist()
        names = sorted(set(self.ids))
        of = {i: (self.rows["identity"] == i).to_numpy() for i in names}
        self.means = identity_means({i: self.desc[m] for i, m in of.items()})
        self.arcface_means = identity_means({i: self.emb[m] for i, m in of.items()}) if arcface else {}
        self.crops = [run.resolve(p) for p in self.rows["crop_path"]]
        self._features: tuple[np.ndarray | None, str] | None = None

    def fid_features(self) -> tuple[np.ndarray | None, str]:
        """``(features, "ok")`` or ``(None, "unavailable: <reason>")`` (weights missing)."""
        if self._features is None:
            try:
                feats = inception_features(_stack(self.crops), batch_size=self.settings.batch_size, device=self.device, progress=self.progress)
                self._features = (feats, "ok")
            except WeightsUnavailable as exc:
                self._features = (None, f"unavailable: {exc.reason}")
        return self._features


def _lpips_status(settings: QualitySettings, device: torch.device) -> tuple[str, tuple[str, str]]:
    entry = get_entry("alexnet")
    if not settings.lpips:
        return "unavailable: disabled in the config (metrics.lpips: false)", (entry.file, "")
    try:
        _, wf = load_lpips("alex", spatial=True, device=device)
    except WeightsUnavailable as exc:
        return f"unavailable: {exc.reason}", (entry.file, "")
    return "ok", (entry.file, wf.sha256)


def _fake_video(run: RunDir, r: dict, real_of: dict[str, str]) -> FakeVideo:
    """A fakes manifest row to score, its reference being the target's re-encoded real video
    (``real_of``: identity -> ``real_path``), the one the detectors see: fake and real went
    through the same codec at the same CRF, so the codec loss does not count against the fake."""
    return FakeVideo(r["method"], r["video_id"], r["video_name"], r["target"], r["source"], r["driving"], run.resolve(r["path"]),
                     run.resolve(real_of[r["target"]]), run.fakes.frames_file(r["method"], r["video_name"]), _pixels(r["method"]))


def _pixels(method: str) -> bool:
    """Whether ``method``'s fake frame t replaces target frame t (pixel metrics apply); a
    fake set made outside forgebench is taken to (FaceForensics++ layout)."""
    return GENERATORS.get(method).replaces_target_frames if method in GENERATORS else True


def _reference_note(method: str) -> str:
    """What ``method``'s fakes are compared with, for the report's quality note."""
    if method in GENERATORS and GENERATORS.get(method).quality_reference:
        return GENERATORS.get(method).quality_reference
    return ("pixels: the target frame it replaced; identity: the source (ID retrieval: source) and the target; "
            "landmarks (AKD, landmark dist.): the target's")


def _landmark_model() -> str:
    """``fan`` (face-alignment's 2D-FAN, the FOMM paper's AKD) when the package and its
    ``fan2d`` weights are there, else ``dlib``."""
    return "fan" if importlib.util.find_spec("face_alignment") is not None and weights_status("fan2d") == "ok" else "dlib"


def score(run: RunDir, config: Config, progress: bool = True) -> pd.DataFrame:
    """The score stage (module docstring).

    Returns:
        The ``metrics/quality.parquet`` table (one row per fake video, all generators).

    Raises:
        DataError: missing inputs of earlier stages (the message names the file).
        MediaError: a fake or real video cannot be decoded.
    """
    with stage_progress("score", progress):
        start = time.time()
        settings: QualitySettings = config.metrics_settings()
        device = select_device(config.device)
        backend = backend_for(config.execution)
        fakes = run.fakes.read()
        methods = sorted(set(fakes["method"]))
        real_of = run.faces.identity_videos()["real_path"].to_dict()  # the video each target's fakes were made from
        arcface_status = _arcface_status(device)
        arcface = arcface_status[0] == "ok"
        landmark_model = _landmark_model()
        # VIDEO_UNIT_VERSION: units scored under an older definition are scored again
        stamps = {r["video_id"]: _stamp(sha256_file(run.resolve(r["path"])), settings.model_dump(mode="json"), config.faces.model_dump(mode="json"),
                                        "reencoded", VIDEO_UNIT_VERSION, arcface_status[1], landmark_model)
                  for r in fakes.to_dict("records")}
        video_files = {r["video_id"]: _unit_file(run, "video", r["method"], r["video_name"], stamps[r["video_id"]]) for r in fakes.to_dict("records")}
        todo = [r for r in fakes.to_dict("records") if not video_files[r["video_id"]].is_file()]
        ref: _Reference | None = None
        lpips_status, lpips_weights = _lpips_status(settings, device)

        def reference() -> _Reference:
            nonlocal ref
            ref = ref or _Reference(run, settings, device, progress, backend, arcface)
            return ref

        if todo:
            ids = IdentityModels(reference().means, reference().arcface_means, landmark_model)
            units = [Unit(f"score {r['video_id']}", video_unit, (_fake_video(run, r, real_of), ids, settings, config.faces, lpips_status == "ok",
                                                                  str(device), video_files[r["video_id"]])) for r in todo]
            run_units(units, "score fake videos", progress, backend=backend)
        frames_of = {vid: read_parquet(path) for vid, path in video_files.items()}

        recon_units, recon_files = [], {}
        videos = run.faces.read_videos()
        split_of = dict(zip(videos["identity"], videos["split"]))
        real = None
        for method in methods:
            if not _has_protocol(method) or method not in config.generators:
                continue
            spec = GeneratorSpec(method, config.generator_settings(method), config.faces, str(device), config.seed, split_of)
            gen = spec.build()
            for identity in sorted(split_of):
                key = gen.model_key(identity, identity)
                ckpt = run.fakes.model_file(method, key)
                real = run.faces.read_manifest(["real"]) if real is None else real
                crops, landmarks, frame_idx = (d[identity] for d in identity_faces(run, real, [identity]))
                if not gen.evaluation_positions(identity, len(crops)) or not ckpt.is_file():
                    continue
                path = _unit_file(run, "reconstruction", method, identity, _stamp(sha256_file(ckpt), len(crops), RECONSTRUCTION_UNIT_VERSION, arcface_status[1],
                                                                          landmark_model))
                recon_files.setdefault(method, []).append(path)
                if not path.is_file():
                    recon_units.append(Unit(f"reconstruction {method} {identity}", reconstruction_unit, (spec,), dict(
                        checkpoint=ckpt, identity=identity, split=split_of[identity], crops=crops, landmarks=landmarks,
                        frame_indices=frame_idx, out=path, arcface=arcface, landmark_model=landmark_model)))
        run_units(recon_units, "reconstruction", progress, backend=backend)

        set_units, set_files = [], {}
        faces = run.faces.read_manifest()
        for method in methods:
            rows = fakes[fakes["method"] == method]
            stamp = _stamp([stamps[v] for v in rows["video_id"]], int((faces["method"] == method).sum()))
            set_files[method] = _unit_file(run, "set", method, "sets", stamp)
            if set_files[method].is_file():
                continue
            r = reference()
            frames = pd.concat([frames_of[v] for v in rows["video_id"]], ignore_index=True) if len(rows) else pd.DataFrame()
            fake_desc = np.array(frames["descriptor"].tolist(), dtype=np.float64).reshape(-1, 128) if len(frames) else np.zeros((0, 128))
            lpips = frames["lpips"].to_numpy(dtype=np.float64) if len(frames) else np.zeros(0)
            fake_crops = [run.resolve(p) for p in faces.loc[faces["method"] == method, "crop_path"]]
            needs_fid = settings.fid and len(r.crops) >= 2 and len(fake_crops) >= 2
            features, fid_status = r.fid_features() if needs_fid else (None, "ok")
            set_units.append(Unit(f"set metrics {method}", set_unit, (method,), dict(
                real_crops=r.crops, fake_crops=fake_crops, real_features=features, fid_status=fid_status, real_desc=r.desc,
                fake_desc=fake_desc, lpips=lpips, lpips_status=lpips_status, lpips_weights=lpips_weights, settings=settings,
                device=str(device), out=set_files[method])))
        run_units(set_units, "set metrics", progress, backend=backend)
        if not (todo or recon_units or set_units) and all(run.metrics.file(k).is_file() for k in METRICS_FILES):
            quality = run.metrics.read("quality")  # every unit was done before: nothing to assemble
        else:
            recon_eval = {m: bool(config.generator_settings(m).eval_mode) for m in recon_files}
            quality = _assemble(run, fakes, methods, frames_of=frames_of, set_files=set_files, recon_files=recon_files,
                                recon_eval=recon_eval, extra=settings.extra, ref=reference(), arcface_status=arcface_status)
        update_provenance(run, config, "score", time.time() - start)
        return quality


def _arcface_status(device: torch.device) -> tuple[str, str]:
    """``("ok", sha256)`` when the ArcFace weights load, else ``("unavailable: <reason>", "")``
    (the ArcFace columns are then NaN and the report gives the reason)."""
    try:
        _, wf = load_arcface(device)
    except WeightsUnavailable as exc:
        return f"unavailable: {exc.reason}", ""
    return "ok", wf.sha256


def _has_protocol(method: str) -> bool:
    """Whether ``method`` is a registered generator with a reconstruction protocol (a fake
    set made outside forgebench, or a face swap, has none)."""
    return method in GENERATORS and GENERATORS.get(method).has_reconstruction()


def _nearest(frames: pd.DataFrame, ref: _Reference) -> pd.DataFrame:
    """``frames`` (one video's unit rows) with ``id_nearest`` (ArcFace; "" without it) and
    ``id_nearest_dlib``: the identity of the most similar real face frame among every frame
    of every identity (FaceShifter's retrieval)."""
    frames = frames.copy()
    if frames.empty:
        return frames
    desc = np.array(frames["descriptor"].tolist(), dtype=np.float64).reshape(len(frames), -1)
    frames["id_nearest_dlib"] = nearest_reference(desc, ref.desc, ref.ids)
    emb = [e for e in frames["embedding"]]
    if ref.emb.shape[1] and all(len(e) for e in emb):
        frames["id_nearest"] = nearest_reference(np.array([list(e) for e in emb], dtype=np.float64), ref.emb, ref.ids)
    else:
        frames["id_nearest"] = ""
    return frames


def _retrieval_rows(method: str, video_rows: list[dict], frames: pd.DataFrame, fakes: list[dict], ref: _Reference,
                    arcface_status: tuple[str, str]) -> list[dict]:
    """Set rows ``id_retrieval`` (ArcFace) and ``id_retrieval_dlib``: the share of all the
    generator's scored fake frames whose nearest real frame shows the identity the fake
    should show, with the identity model's weights file and status."""
    expected = {f["video_id"]: _expected_identity(f) for f in fakes}
    want = frames["video_id"].map(expected).to_numpy() if len(frames) else np.zeros(0)
    arc_entry = get_entry(ARCFACE_WEIGHTS)
    dlib_weights = (MODEL_FILES["descriptor"], sha256_file(model_path("descriptor")))
    out = []
    for metric, col, status, weights in (("id_retrieval", "id_nearest", arcface_status[0], (arc_entry.file, arcface_status[1])),
                                         ("id_retrieval_dlib", "id_nearest_dlib", "ok", dlib_weights)):
        found = frames[col].to_numpy() if len(frames) else np.zeros(0)
        if status == "ok" and not len(found):
            status = "unavailable: no fake frame was scored (no face found on the fakes)"
        value = float(np.mean(found == want)) if status == "ok" else np.nan
        out.append(_set_row(method, metric, value, status, len(ref.ids), len(found), weights))
    return out


def _assemble(run: RunDir, fakes: pd.DataFrame, methods: list[str], *, frames_of: dict[str, pd.DataFrame], set_files: dict[str, Path],
              recon_files: dict[str, list[Path]], recon_eval: dict[str, bool], extra: list[str], ref: _Reference,
              arcface_status: tuple[str, str]) -> pd.DataFrame:
    """Write the five quality tables of ``metrics/`` from the units' results (generators in
    name order, videos in manifest order; identity retrieval against ``ref``) and return
    ``quality.parquet``."""
    video_rows, frame_parts, set_parts, recon_ids, recon_frames = [], [], [], [], []
    for method in methods:
        rows = fakes[fakes["method"] == method].to_dict("records")
        method_frames = []
        for r in rows:
            frames = _nearest(frames_of[r["video_id"]], ref)
            video_rows.append(_video_row(r, frames, extra, _reference_note(method)))
            method_frames.append(frames.drop(columns=list(_UNIT_ONLY)))
        frame_parts += method_frames
        eval_mode = _eval_mode(rows[0].get("settings")) if rows else None
        sets = read_parquet(set_files[method])
        scored = pd.concat(method_frames, ignore_index=True) if method_frames else QUALITY_FRAMES.empty()
        sets = pd.concat([sets, pd.DataFrame(_retrieval_rows(method, video_rows, scored, rows, ref, arcface_status))], ignore_index=True)
        if _has_protocol(method):
            parts = [read_parquet(p) for p in recon_files.get(method, [])]
            frames = pd.concat(parts, ignore_index=True) if parts else RECONSTRUCTION_FRAMES.empty()
            sets = pd.concat([sets, pd.DataFrame(reconstruction_set_rows(method, frames, arcface_status[0]))], ignore_index=True)
            for identity, g in frames.groupby("identity", sort=False):
                recon_ids.append({"method": method, "identity": identity, "split": g["split"].iloc[0],
                                  **summarize(g.to_dict("records")), "eval_mode": recon_eval.get(method)})
            recon_frames.append(frames)
        sets["eval_mode"] = eval_mode
        set_parts.append(sets)
    quality = pd.DataFrame(video_rows, columns=list(QUALITY.columns) + list(extra))
    tables = {
        "quality_frames": pd.concat(frame_parts, ignore_index=True) if frame_parts else QUALITY_FRAMES.empty(),
        "quality_sets": pd.concat(set_parts, ignore_index=True) if set_parts else QUALITY_SETS.empty(),
        "reconstruction": pd.DataFrame(recon_ids, columns=list(RECONSTRUCTION.columns)),
        "reconstruction_frames": pd.concat(recon_frames, ignore_index=True) if recon_frames else RECONSTRUCTION_FRAMES.empty(),
        "quality": quality,
    }
    for kind, table in tables.items():  # quality.parquet last
        run.metrics.write(kind, table)
    return quality
