"""The score stage's units of work and their metric glue (what each metric is computed on
is described in the module docstring of :mod:`forgebench.stages.score`, which lists the
units, stamps them and assembles their results into the quality tables).

Units (module-level functions with explicit inputs, so :mod:`forgebench.execution` can
pickle them and run them in another process; each writes its result atomically):

- :func:`real_unit`: identity references of one real video's face rows (returned);
- :func:`video_unit`: one fake video's quality scores (rows of :class:`ScoredFrame`);
- :func:`reconstruction_unit`: one identity's held-out frames re-rendered by its model
  (rows of :class:`~forgebench.stages.score_rows.ReconstructionFrameRow`);
- :func:`set_unit`: one generator's set-level metrics (rows of
  :class:`~forgebench.stages.score_rows.SetRow`).

The glue the stage and the units share: which weights load (:func:`arcface_status`,
:func:`lpips_status`, :func:`stage_landmark_model`), what a generator's fakes are compared
with (:func:`replaces_target_frames`, :func:`reference_note`,
:func:`has_reconstruction_protocol`), identity retrieval (:func:`nearest_identities`).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from forgebench.config import FacesSettings
from forgebench.errors import DataError
from forgebench.faces import FaceAnalyzer, descriptor_from_landmarks
from forgebench.faces.align import inter_ocular_distance, landmarks_array, transform_points, warp_crop
from forgebench.faces.dlib_models import MODEL_FILES, model_path
from forgebench.fileio import read_parquet, sha256_file, write_parquet
from forgebench.generators import GENERATORS
from forgebench.media import read_frames, read_image, sample_indices
from forgebench.metrics import get_metric
from forgebench.metrics.arcface import ARCFACE_WEIGHTS, arcface_align, arcface_embeddings, load_arcface
from forgebench.metrics.boundary import boundary_score
from forgebench.metrics.fid import fid_from_features, inception_features, weights_file
from forgebench.metrics.identity import cosine_similarity, frechet_distance_features, nearest_reference
from forgebench.metrics.kid import kid_from_features
from forgebench.metrics.lpips_metric import load_lpips, lpips_distance
from forgebench.metrics.quality import QualitySettings, average_keypoint_distance, face_mask, landmark_distance
from forgebench.metrics.reconstruction import reconstruction_frame
from forgebench.metrics.temporal import own_warping_error
from forgebench.schemas import QUALITY_FRAMES, RECONSTRUCTION_FRAMES
from forgebench.stages.generate import GeneratorSpec
from forgebench.stages.score_rows import (
    SET_UNIT_COLUMNS,
    UNIT_ONLY_COLUMNS,
    QualityFrameRow,
    ReconstructionFrameRow,
    ScoredFrame,
    SetRow,
    WeightsRef,
    WeightsStatus,
    rows_table,
)
from forgebench.weights import WeightsUnavailable, get_entry, weights_status

__all__ = [
    "RealReferences",
    "real_unit",
    "FakeVideo",
    "IdentityModels",
    "LandmarkErrors",
    "video_unit",
    "unit_landmark_model",
    "reconstruction_unit",
    "InceptionFeatures",
    "SetUnitInputs",
    "set_unit",
    "stack_crops",
    "dlib_descriptor_weights",
    "arcface_status",
    "lpips_status",
    "stage_landmark_model",
    "replaces_target_frames",
    "reference_note",
    "has_reconstruction_protocol",
    "nearest_identities",
]


# -- real references ------------------------------------------------------------------------
@dataclass(frozen=True)
class RealReferences:
    """Identity references of one real video's face rows (:func:`real_unit`), one row per
    face row, in the order given.

    Attributes:
        dlib: ``(n, 128)`` float64 dlib face descriptors.
        arcface: ``(n, 512)`` float64 unit-norm ArcFace embeddings of the 112x112 aligned
            faces; None when ArcFace was not asked for.
    """

    dlib: np.ndarray
    arcface: np.ndarray | None


def real_unit(
    video: Path, frame_indices: list[int], landmarks: list[np.ndarray], arcface: bool = False, device: str = "cpu"
) -> RealReferences:
    """Identity references of one real video's face rows, on the re-encoded frames with the
    stored ``(68, 2)`` frame-pixel landmarks: dlib 128-d descriptors and, when ``arcface``,
    ArcFace 512-d embeddings of the 112x112 aligned faces.

    Returns:
        The :class:`RealReferences`, one row per face row, in the order given.

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
        return RealReferences(out, None)
    model, _ = load_arcface(device)
    return RealReferences(
        out, arcface_embeddings(model, np.stack(aligned) if aligned else np.zeros((0, 112, 112, 3), np.uint8))
    )


# -- one fake video ---------------------------------------------------------------------------
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
    """Cosine similarity of ``desc`` to ``identity``'s mean; NaN without either."""
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


@dataclass(frozen=True)
class LandmarkErrors:
    """Landmark errors of one fake frame against its reference (one landmark model on both).

    Attributes:
        akd: FOMM's average keypoint distance, pixels of the aligned crop, >= 0.
        akd_iod: ``akd`` over the reference's inter-ocular distance in the crop, unit-free.
        landmark_distance: 300-W NME (Euclidean per point over the reference's
            inter-ocular distance in frame pixels), unit-free, >= 0.

    Each is NaN without a reference; the normalised two also when the reference's
    inter-ocular distance is 0.
    """

    akd: float
    akd_iod: float
    landmark_distance: float


def video_unit(
    fake: FakeVideo,
    ids: IdentityModels,
    settings: QualitySettings,
    faces: FacesSettings,
    lpips_ok: bool,
    device: str,
    out: Path,
) -> Path:
    """Score one fake video's sampled frames (module docstring of
    :mod:`forgebench.stages.score`) and write them to ``out``.

    Args:
        fake: the fake video.
        ids: the identity references and the stage's landmark model (:class:`IdentityModels`);
            the unit runs :func:`unit_landmark_model` on both the fake and its reference.
        settings: the ``metrics`` settings (frames per video, extra metrics, batch size).
        faces: the run's ``faces`` settings (crop size of the aligned pairs and of ``akd``'s
            pixels, analyzer, ``landmarks``: the model of the frames table's landmarks).
        lpips_ok: LPIPS weights are there and LPIPS is on.
        device: torch device name for LPIPS and ArcFace.
        out: the unit's result (rows of :class:`ScoredFrame`: the columns of
            :data:`forgebench.schemas.QUALITY_FRAMES`, of ``settings.extra``, then
            ``descriptor`` and ``embedding``, the dlib ``(128,)`` descriptor and the
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
        errors = _landmark_errors(face.landmarks, reference, matrix)
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
            pixel = {
                "ssim": get_metric("ssim").fn(real_crop, fake_crop, mask),
                "psnr": get_metric("psnr").fn(real_crop, fake_crop, mask),
                **{m: float(get_metric(m).fn(real_crop, fake_crop, mask)) for m in settings.extra},
            }
            blend = boundary_score(fake_crop, real_crop, rendered)
        row = QualityFrameRow(
            method=fake.method,
            video_id=fake.video_id,
            video_name=fake.video_name,
            frame_index=int(index),
            ssim=pixel["ssim"],
            psnr=pixel["psnr"],
            lpips=nan,
            id_sim_source=nan,
            id_sim_driving=nan,
            id_sim_target=nan,
            id_sim_source_dlib=_sim(desc, ids.dlib, fake.source),
            id_sim_driving_dlib=_sim(desc, ids.dlib, fake.driving),
            id_sim_target_dlib=_sim(desc, ids.dlib, fake.target),
            id_nearest="",
            id_nearest_dlib="",
            landmark_distance=errors.landmark_distance,
            akd=errors.akd,
            akd_iod=errors.akd_iod,
            landmark_model=model,
            boundary=blend,
            warp_error=warp,
            warp_error_real=warp_real,
        )
        rows.append(ScoredFrame(row, {m: pixel[m] for m in settings.extra}, desc.tolist(), []))
    if aligned:
        net, _ = load_arcface(device)
        for k, emb in enumerate(arcface_embeddings(net, np.stack(aligned), batch_size=settings.batch_size)):
            r = rows[k]
            row = dataclasses.replace(
                r.row,
                id_sim_source=_sim(emb, ids.arcface, fake.source),
                id_sim_driving=_sim(emb, ids.arcface, fake.driving),
                id_sim_target=_sim(emb, ids.arcface, fake.target),
            )
            rows[k] = dataclasses.replace(r, row=row, embedding=emb.tolist())
    if pairs and lpips_ok:
        real_b, fake_b = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
        values = lpips_distance(
            real_b, fake_b, mask=np.stack(masks), batch_size=settings.batch_size, device=torch.device(device)
        )
        for k, v in zip(range(len(rows)), values):
            rows[k] = dataclasses.replace(rows[k], row=dataclasses.replace(rows[k].row, lpips=float(v)))
    columns = list(QUALITY_FRAMES.columns) + list(settings.extra) + list(UNIT_ONLY_COLUMNS)
    write_parquet(out, rows_table(rows, columns))
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


def _landmark_errors(found: np.ndarray, reference: np.ndarray | None, matrix: np.ndarray) -> LandmarkErrors:
    """:class:`LandmarkErrors` of ``(68, 2)`` frame-pixel landmarks found on a fake against
    ``reference`` (same model, frame pixels), both taken into the aligned crop with
    ``matrix`` ``(2, 3)`` for the AKD (pixels at the crop size); all NaN without a
    reference, the normalised two NaN when the reference's inter-ocular distance is 0."""
    nan = float("nan")
    if reference is None:
        return LandmarkErrors(nan, nan, nan)
    ref_crop = transform_points(reference, matrix)
    akd = average_keypoint_distance(transform_points(found, matrix), ref_crop)
    iod = inter_ocular_distance(ref_crop)
    if not iod > 0 or not inter_ocular_distance(reference) > 0:
        return LandmarkErrors(akd, nan, nan)
    return LandmarkErrors(akd, akd / iod, landmark_distance(found, reference))


def _real_warping_error(
    reals: dict[int, np.ndarray],
    index: int,
    matrix: np.ndarray | None,
    mask: np.ndarray,
    analyzer: FaceAnalyzer,
    size: int,
) -> float:
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


# -- reconstruction ---------------------------------------------------------------------------
def reconstruction_unit(
    spec: GeneratorSpec,
    *,
    checkpoint: Path,
    identity: str,
    split: str,
    crops: list[Path],
    landmarks: list[np.ndarray],
    frame_indices: list[int],
    out: Path,
    arcface: bool = False,
    landmark_model: str | None = None,
) -> Path:
    """The reconstruction protocol for one identity: its model re-renders the identity's
    held-out frames (:meth:`~forgebench.generators.Generator.evaluation_positions`)
    from their own driving signal, and each is compared with the real crop
    (:func:`forgebench.metrics.reconstruction.reconstruction_frame`). Dropout noise
    (``eval_mode: false``) is seeded per identity.

    Args:
        spec: the generator.
        checkpoint: the model that renders ``identity``.
        identity, split: whose frames, in which split.
        crops: the identity's real crop PNGs in frame order; landmarks: their ``(68, 2)``
            crop-pixel landmarks; frame_indices: their frames.
        out: the unit's result (rows of :class:`~forgebench.stages.score_rows.ReconstructionFrameRow`,
            :data:`forgebench.schemas.RECONSTRUCTION_FRAMES`).
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
    akd_analyzer = (
        None if model == spec.faces.landmarks else FaceAnalyzer(spec.faces.model_copy(update={"landmarks": model}))
    )
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
        rows.append(
            ReconstructionFrameRow(
                method=spec.name, identity=identity, split=split, frame_index=frame_indices[p], **metrics
            )
        )
    if aligned:
        net, _ = load_arcface(spec.device)
        real_emb = arcface_embeddings(net, np.stack([a[1] for a in aligned]))
        fake_emb = arcface_embeddings(net, np.stack([a[2] for a in aligned]))
        for (k, _, _), r, f in zip(aligned, real_emb, fake_emb):
            rows[k] = dataclasses.replace(rows[k], aed=float(np.linalg.norm(r - f)))
    write_parquet(out, rows_table(rows, RECONSTRUCTION_FRAMES.columns))
    return out


# -- one generator's set ------------------------------------------------------------------------
@dataclass(frozen=True)
class InceptionFeatures:
    """FID Inception features of a set of face crops, or why there are none.

    Attributes:
        features: ``(N, 2048)`` float pool features (pytorch-fid's Inception); None when
            not computed (FID off, too few crops, or the weights are unavailable).
        status: ``"ok"`` or ``"unavailable: <reason>"`` (the Inception weights).
    """

    features: np.ndarray | None
    status: str = "ok"


@dataclass(frozen=True)
class SetUnitInputs:
    """What :func:`set_unit` scores for one generator.

    Attributes:
        method: the generator.
        real_crops, fake_crops: the face crop PNGs of the real videos and of its fakes
            (``faces/manifest``), all of one size.
        real_features: FID Inception features of ``real_crops`` and their status.
        real_desc: ``(N, 128)`` float64 dlib descriptors of the real face rows.
        fake_desc: ``(M, 128)`` float64 dlib descriptors of the scored fake frames.
        lpips: ``(M,)`` float64 LPIPS distances of the scored fake frames (NaN where not
            computed).
        lpips_weights: whether LPIPS ran (its status), and its weights file and SHA-256.
    """

    method: str
    real_crops: list[Path]
    fake_crops: list[Path]
    real_features: InceptionFeatures
    real_desc: np.ndarray
    fake_desc: np.ndarray
    lpips: np.ndarray
    lpips_weights: WeightsStatus


def stack_crops(paths: list[Path]) -> np.ndarray:
    """Face crop PNGs as one ``(N, S, S, 3)`` uint8 array, in the order given.

    Raises:
        DataError: the crops differ in size (the message names their folder).
        MediaError: a crop cannot be read.
    """
    images = [read_image(p) for p in paths]
    if len({im.shape for im in images}) > 1:
        raise DataError(
            f"{Path(paths[0]).parent.parent}: face crops of different sizes {sorted({im.shape for im in images})}"
        )
    return np.stack(images)


def dlib_descriptor_weights() -> WeightsRef:
    """The file name and SHA-256 of dlib's face descriptor model (``frechet_dlib``,
    ``id_retrieval_dlib``).

    Raises:
        OSError: the model file cannot be read.
    """
    return WeightsRef(MODEL_FILES["descriptor"], sha256_file(model_path("descriptor")))


def _fid_kid_rows(inputs: SetUnitInputs, settings: QualitySettings, device: str) -> list[SetRow]:
    """The ``fid`` and ``kid`` rows of :func:`set_unit` (KID on the same Inception features
    as FID, so the same status)."""
    method, fid_entry = inputs.method, get_entry("pt_inception")
    n_real, n_fake = len(inputs.real_crops), len(inputs.fake_crops)
    fid = kid = (np.nan, inputs.real_features.status)
    sha = ""
    if not settings.fid:
        fid = kid = (np.nan, "unavailable: disabled in the config (metrics.fid: false)")
    elif n_real < 2 or n_fake < 2:
        fid = kid = (
            np.nan,
            f"unavailable: FID and KID need >= 2 face crops per set, found {n_real} real and {n_fake} of {method} in faces/manifest",
        )
    elif inputs.real_features.status == "ok":
        try:
            fake_feat = inception_features(
                stack_crops(inputs.fake_crops),
                batch_size=settings.batch_size,
                device=torch.device(device),
                progress=False,
            )
            real_feat = inputs.real_features.features
            fid, sha = (fid_from_features(real_feat, fake_feat), "ok"), weights_file().sha256
            kid = (kid_from_features(real_feat, fake_feat, settings.kid_subsets, settings.kid_subset_size).mean, "ok")
        except WeightsUnavailable as exc:
            fid = kid = (np.nan, f"unavailable: {exc.reason}")
            sha = ""
    return [
        SetRow.measured(method, "fid", fid[0], fid[1], n_real, n_fake, WeightsRef(fid_entry.file, sha)),
        SetRow.measured(method, "kid", kid[0], kid[1], n_real, n_fake, WeightsRef(fid_entry.file, sha)),
    ]


def set_unit(inputs: SetUnitInputs, settings: QualitySettings, device: str, out: Path) -> Path:
    """One generator's set-level metrics, written to ``out`` (rows of
    :class:`~forgebench.stages.score_rows.SetRow`, columns
    :data:`~forgebench.stages.score_rows.SET_UNIT_COLUMNS`: those of
    :data:`forgebench.schemas.QUALITY_SETS` without ``eval_mode``): ``fid`` between the real
    and the generator's face crops (pytorch-fid, 2048-d; biased for few crops, ``n_real`` /
    ``n_fake`` recorded), ``kid`` on the same features (:mod:`forgebench.metrics.kid`, mean
    over ``metrics.kid_subsets`` subsets; unbiased), ``frechet_dlib`` between the real rows' and the scored fake
    frames' dlib descriptors, and the mean masked ``lpips`` with its weights file.

    Args:
        inputs: the generator's crops, features, descriptors and LPIPS values
            (:class:`SetUnitInputs`).
        settings: the ``metrics`` settings (``fid``, ``kid_subsets``, ``kid_subset_size``,
            ``batch_size``).
        device: torch device name for the Inception features of the fake crops.
        out: the unit's result.

    Returns:
        ``out``.

    Raises:
        DataError: the fake crops differ in size. MediaError: a crop cannot be read.
    """
    method, real_desc, fake_desc, lpips = inputs.method, inputs.real_desc, inputs.fake_desc, inputs.lpips
    if len(real_desc) >= 2 and len(fake_desc) >= 2:
        fd = (frechet_distance_features(real_desc, fake_desc), "ok")
    else:
        fd = (
            np.nan,
            f"unavailable: needs >= 2 descriptors per set, got {len(real_desc)} real and {len(fake_desc)} fake",
        )
    lp_status = inputs.lpips_weights.status
    lp_status = lp_status if len(lpips) or lp_status != "ok" else "unavailable: no frame was scored"
    lp_value = float(np.nanmean(lpips)) if lp_status == "ok" else np.nan
    rows = [
        *_fid_kid_rows(inputs, settings, device),
        SetRow.measured(
            method, "frechet_dlib", fd[0], fd[1], len(real_desc), len(fake_desc), dlib_descriptor_weights()
        ),
        SetRow.measured(method, "lpips", lp_value, lp_status, len(lpips), len(lpips), inputs.lpips_weights.weights),
    ]
    write_parquet(out, rows_table(rows, SET_UNIT_COLUMNS))
    return out


# -- glue the stage and the units share ---------------------------------------------------------
def arcface_status(device: torch.device) -> WeightsStatus:
    """Whether the ArcFace weights (registry ``arcface_r100_glint360k``) load on ``device``:
    status ``"ok"`` with the file's SHA-256, else ``"unavailable: <reason>"`` (the ArcFace
    columns are then NaN and the report gives the reason); ``file``: the registry's file name."""
    file = get_entry(ARCFACE_WEIGHTS).file
    try:
        _, wf = load_arcface(device)
    except WeightsUnavailable as exc:
        return WeightsStatus(f"unavailable: {exc.reason}", file)
    return WeightsStatus("ok", file, wf.sha256)


def lpips_status(settings: QualitySettings, device: torch.device) -> WeightsStatus:
    """Whether LPIPS runs: status ``"ok"`` with the AlexNet weights' file and SHA-256 when
    ``metrics.lpips`` is on and they load on ``device``, else ``"unavailable: <reason>"``
    (disabled in the config, or the weights' reason)."""
    entry = get_entry("alexnet")
    if not settings.lpips:
        return WeightsStatus("unavailable: disabled in the config (metrics.lpips: false)", entry.file)
    try:
        _, wf = load_lpips("alex", spatial=True, device=device)
    except WeightsUnavailable as exc:
        return WeightsStatus(f"unavailable: {exc.reason}", entry.file)
    return WeightsStatus("ok", entry.file, wf.sha256)


def stage_landmark_model() -> str:
    """The score stage's landmark model: ``fan`` (face-alignment's 2D-FAN, the FOMM paper's
    AKD) when the package and its ``fan2d`` weights are there, else ``dlib``."""
    return (
        "fan" if importlib.util.find_spec("face_alignment") is not None and weights_status("fan2d") == "ok" else "dlib"
    )


def replaces_target_frames(method: str) -> bool:
    """Whether ``method``'s fake frame t replaces target frame t (pixel metrics apply); a
    fake set made outside forgebench is taken to (FaceForensics++ layout)."""
    return GENERATORS.get(method).replaces_target_frames if method in GENERATORS else True


def reference_note(method: str) -> str:
    """What ``method``'s fakes are compared with, for the report's quality note
    (``quality.parquet`` ``reference``): the generator's ``quality_reference``, else the
    note of a face swap."""
    if method in GENERATORS and GENERATORS.get(method).quality_reference:
        return GENERATORS.get(method).quality_reference
    return (
        "pixels: the target frame it replaced; identity: the source (ID retrieval: source) and the target; "
        "landmarks (AKD, landmark dist.): the target's"
    )


def has_reconstruction_protocol(method: str) -> bool:
    """Whether ``method`` is a registered generator with a reconstruction protocol (a fake
    set made outside forgebench, or a face swap, has none)."""
    return method in GENERATORS and GENERATORS.get(method).has_reconstruction()


def nearest_identities(
    frames: pd.DataFrame, real_desc: np.ndarray, real_emb: np.ndarray, real_ids: list[str]
) -> pd.DataFrame:
    """``frames`` (one video unit's rows, with ``descriptor`` and ``embedding``) with
    ``id_nearest`` (ArcFace; ``""`` without it) and ``id_nearest_dlib``: the identity of the
    most similar real face frame among every frame of every identity (FaceShifter's
    retrieval).

    Args:
        frames: the unit's rows (a copy is returned; empty stays empty).
        real_desc: ``(R, 128)`` dlib descriptors of the real face rows.
        real_emb: ``(R, 512)`` ArcFace embeddings of the same rows, or ``(R, 0)`` without ArcFace.
        real_ids: the ``R`` rows' identities.
    """
    frames = frames.copy()
    if frames.empty:
        return frames
    desc = np.array(frames["descriptor"].tolist(), dtype=np.float64).reshape(len(frames), -1)
    frames["id_nearest_dlib"] = nearest_reference(desc, real_desc, real_ids)
    emb = [e for e in frames["embedding"]]
    if real_emb.shape[1] and all(len(e) for e in emb):
        frames["id_nearest"] = nearest_reference(np.array([list(e) for e in emb], dtype=np.float64), real_emb, real_ids)
    else:
        frames["id_nearest"] = ""
    return frames
