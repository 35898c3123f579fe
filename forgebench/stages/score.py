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
the identity descriptor and the landmark distance). SSIM, PSNR, further registered
frame-pair metrics (``metrics.extra``) and LPIPS (spatial map, AlexNet) are averaged inside
the mask. Identity: dlib descriptors of the fake face vs the mean descriptors of each
identity's real face rows (computed on the re-encoded real frames with the stored
landmarks): ``id_sim_target``, ``id_sim_source`` (face swaps: the identity pasted in),
``id_sim_driving`` (reenactment: the identity whose motion is shown), ``id_retrieval``
(share of frames whose nearest identity is the source, or the driving identity). A metric
that cannot be computed gets NaN and ``unavailable: <reason>``.
"""

from __future__ import annotations

import hashlib
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
from forgebench.metrics.identity import cosine_similarity, frechet_distance_features, identity_means, nearest_identity
from forgebench.metrics.lpips_metric import load_lpips, lpips_distance
from forgebench.metrics.quality import QualitySettings, face_mask, landmark_distance
from forgebench.metrics.reconstruction import SET_METRICS, reconstruction_frame, summarize
from forgebench.metrics.registry import get_metric
from forgebench.media import read_frames, read_image, sample_indices
from forgebench.provenance import update_provenance
from forgebench.rundir import (
    METRICS_FILES, QUALITY, QUALITY_FRAMES, QUALITY_SETS, RECONSTRUCTION, RECONSTRUCTION_FRAMES, RunDir, read_parquet, sha256_file, write_parquet,
)
from forgebench.runtime import select_device
from forgebench.stages.extract import identity_faces
from forgebench.stages.generate import GeneratorSpec
from forgebench.weights import WeightsUnavailable, get_entry

__all__ = ["real_unit", "video_unit", "reconstruction_unit", "set_unit", "score"]

#: Per-frame metrics averaged into a video's row.
_VIDEO_MEANS = ("ssim", "psnr", "lpips", "id_sim_source", "id_sim_driving", "id_sim_target", "landmark_distance", "akd", "akd_iod")


def _stamp(*parts: Any) -> str:
    """12 hex digits identifying a unit's inputs (file hashes, settings)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _unit_file(run: RunDir, kind: str, method: str, name: str, stamp: str) -> Path:
    return run.score_unit(kind, method, f"{name}.{stamp}")


def _eval_mode(settings_json: str | None) -> bool | None:
    """``eval_mode`` of the generator settings that made a fake (fakes manifest ``settings``)."""
    value = json.loads(settings_json or "{}").get("eval_mode")
    return None if value is None else bool(value)


# -- units ------------------------------------------------------------------------------
def real_unit(video: Path, frame_indices: list[int], landmarks: list[np.ndarray]) -> np.ndarray:
    """dlib 128-d descriptors of one real video's face rows, on the re-encoded frames with
    the stored ``(68, 2)`` frame-pixel landmarks.

    Returns:
        ``(n, 128)`` float64, one row per face row, in the order given.

    Raises:
        MediaError: the video cannot be decoded. DataError: a frame is past its end.
    """
    frames = read_frames(video, frame_indices)
    out = np.zeros((len(frame_indices), 128))
    for k, (index, points) in enumerate(zip(frame_indices, landmarks)):
        if index not in frames:
            raise DataError(f"{video}: frame {index} of the face manifest is past the end")
        out[k] = descriptor_from_landmarks(frames[index], points)
    return out


@dataclass(frozen=True)
class FakeVideo:
    """One fake video to score (a fakes manifest row, paths resolved).

    Attributes: method, video_id, video_name, target, source, driving (identities; ``""``
    when not applicable), path (the fake), target_path (the real video it replaced, as
    re-encoded for the detectors),
    frames (its frames table file).
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


def _sim(desc: np.ndarray, means: dict[str, np.ndarray], identity: str) -> float:
    return float(cosine_similarity(desc, means[identity])) if identity in means else np.nan


def video_unit(fake: FakeVideo, means: dict[str, np.ndarray], settings: QualitySettings, faces: FacesSettings, lpips_ok: bool,
               device: str, out: Path) -> Path:
    """Score one fake video's sampled frames (module docstring) and write them to ``out``.

    Args:
        fake: the fake video.
        means: ``{identity: (128,) mean real descriptor}``.
        settings: the ``metrics`` settings (frames per video, extra metrics, batch size).
        faces: the run's ``faces`` settings (crop size of the aligned pairs, analyzer).
        lpips_ok: LPIPS weights are there and LPIPS is on.
        device: torch device name for LPIPS.
        out: the unit's result (frame rows of :data:`forgebench.rundir.QUALITY_FRAMES`
            plus ``descriptor``, the ``(128,)`` dlib descriptor of the scored fake face).

    Returns:
        ``out``.

    Raises:
        DataError: the frames table is missing. MediaError: a video cannot be decoded.
    """
    if not fake.frames.is_file():
        raise DataError(f"{fake.frames}: missing frames table of fake {fake.video_id}; re-run 'forgebench generate'")
    size = faces.crop_size
    analyzer = FaceAnalyzer(faces)
    table = read_parquet(fake.frames)
    table = table[table["has_face"]].sort_values("frame_index").set_index("frame_index")
    candidates = table.index.tolist()
    picks = [candidates[i] for i in sample_indices(len(candidates), settings.frames_per_video)]
    fakes = read_frames(fake.path, picks)
    reals = read_frames(fake.target_path, picks)
    pairs, masks, rows = [], [], []
    for index in picks:
        if index not in fakes or index not in reals:
            continue
        face = analyzer.detect(fakes[index])
        if face is None:
            continue
        matrix = np.asarray(table.at[index, "matrix"], dtype=np.float64).reshape(2, 3)
        target = landmarks_array(table.at[index, "landmarks"])
        drawn = table.at[index, "driving_landmarks"]
        expected = transform_points(landmarks_array(drawn) if len(drawn) else target, matrix)
        akd = float(np.linalg.norm(transform_points(face.landmarks, matrix) - expected, axis=1).mean())
        real_crop, fake_crop = warp_crop(reals[index], matrix, size), warp_crop(fakes[index], matrix, size)
        mask = face_mask(transform_points(target, matrix), size)
        desc = descriptor_from_landmarks(fakes[index], face.landmarks)
        pairs.append((real_crop, fake_crop))
        masks.append(mask)
        row = {
            "method": fake.method, "video_id": fake.video_id, "video_name": fake.video_name, "frame_index": int(index),
            "ssim": get_metric("ssim").fn(real_crop, fake_crop, mask), "psnr": get_metric("psnr").fn(real_crop, fake_crop, mask),
            "lpips": np.nan, "id_sim_source": _sim(desc, means, fake.source), "id_sim_driving": _sim(desc, means, fake.driving),
            "id_sim_target": _sim(desc, means, fake.target), "id_nearest": nearest_identity(desc[None], means)[0],
            "landmark_distance": landmark_distance(face.landmarks, target), "akd": akd, "akd_iod": akd / inter_ocular_distance(expected),
        }
        row.update({m: float(get_metric(m).fn(real_crop, fake_crop, mask)) for m in settings.extra})
        row["descriptor"] = desc.tolist()
        rows.append(row)
    if pairs and lpips_ok:
        real_b, fake_b = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
        values = lpips_distance(real_b, fake_b, mask=np.stack(masks), batch_size=settings.batch_size, device=torch.device(device))
        for r, v in zip(rows, values):
            r["lpips"] = float(v)
    columns = list(QUALITY_FRAMES.columns) + list(settings.extra) + ["descriptor"]
    write_parquet(out, pd.DataFrame(rows, columns=columns))
    return out


def _video_row(fake: dict, frames: pd.DataFrame, known: set[str], extra: list[str]) -> dict[str, Any]:
    """The ``quality.parquet`` row of a fake from its scored frames (``known``: identities
    with real face rows, i.e. with a reference descriptor)."""
    video = {k: fake[k] for k in ("method", "video_id", "video_name", "target", "source", "driving", "split")}
    video["n_frames"] = len(frames)
    video["eval_mode"] = _eval_mode(fake.get("settings"))
    for col in (*_VIDEO_MEANS, *extra):
        vals = frames[col].to_numpy(dtype=np.float64) if len(frames) else np.zeros(0)
        video[col] = float(vals.mean()) if len(vals) and not np.isnan(vals).all() else np.nan
    other = fake["source"] or fake["driving"]
    video["id_retrieval"] = float(np.mean(frames["id_nearest"].to_numpy() == other)) if len(frames) and other in known else np.nan
    return video


def reconstruction_unit(spec: GeneratorSpec, checkpoint: Path, identity: str, split: str, crops: list[Path], landmarks: list[np.ndarray],
                        frame_indices: list[int], out: Path) -> Path:
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
    rows = []
    for p, fake in zip(positions, generated):
        face = gen.analyzer.detect(fake)
        real_desc = fake_desc = found = None
        if face is not None:
            found = face.landmarks
            real_desc = descriptor_from_landmarks(images[p], landmarks[p])
            fake_desc = descriptor_from_landmarks(fake, face.landmarks)
        metrics = reconstruction_frame(images[p], landmarks[p], fake, found, real_desc, fake_desc)
        rows.append({"method": spec.name, "identity": identity, "split": split, "frame_index": frame_indices[p], **metrics})
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


def set_unit(method: str, real_crops: list[Path], fake_crops: list[Path], real_features: np.ndarray | None, fid_status: str,
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


def reconstruction_set_rows(method: str, frame_rows: pd.DataFrame) -> list[dict]:
    """``quality_sets.parquet`` rows ``recon_<metric>`` (l1, ssim, akd, akd_iod, aed, mkr)
    of the reconstruction protocol, averaged over all held-out frames of a generator that
    has the protocol."""
    frames = frame_rows.to_dict("records")
    summary = summarize(frames)
    status = "ok" if frames else "unavailable: no held-out frame to reconstruct (generator holdout / splits)"
    n = summary["n_frames"]
    return [
        _set_row(method, f"recon_{m}", summary[m],
                 status if np.isfinite(summary[m]) or not frames else "unavailable: no face found on any reconstruction", n, n, ("", ""))
        for m in SET_METRICS
    ]


# -- the stage -----------------------------------------------------------------------------
class _Reference:
    """The real reference every generator's scoring shares, computed once per stage run:
    real face rows (sorted by video and frame), their dlib descriptors, identity means,
    and the FID Inception features of the real crops."""

    def __init__(self, run: RunDir, settings: QualitySettings, device: torch.device, progress: bool, backend: Backend) -> None:
        self.run, self.settings, self.device, self.progress = run, settings, device, progress
        videos = run.read_videos().set_index("video_name")
        rows = run.read_faces(["real"])
        if rows.empty:
            raise DataError(f"{run.faces_file}: no real face rows; run 'forgebench extract {run.root}'")
        self.rows = rows.sort_values(["video_name", "frame_index"]).reset_index(drop=True)
        units = []
        for name, group in self.rows.groupby("video_name", sort=True):
            if name not in videos.index:
                raise DataError(f"{run.videos_file}: no row for real video {name!r} of the face manifest")
            units.append(Unit(f"real {name}", real_unit, (run.resolve(videos.at[name, "real_path"]), group["frame_index"].astype(int).tolist(),
                                                           [landmarks_array(v) for v in group["landmarks"]])))
        self.desc = np.concatenate([o.value for o in run_units(units, "real identities", progress, backend=backend)])
        ids = sorted(set(self.rows["identity"]))
        self.means = identity_means({i: self.desc[(self.rows["identity"] == i).to_numpy()] for i in ids})
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
                     run.resolve(real_of[r["target"]]), run.frames_file(r["method"], r["video_name"]))


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
        fakes = run.read_fakes()
        methods = sorted(set(fakes["method"]))
        real_of = dict(zip(*[run.read_videos()[c] for c in ("identity", "real_path")]))
        # "reencoded": fakes are compared with the re-encoded real videos (older units compared
        # them with the input videos and are scored again)
        stamps = {r["video_id"]: _stamp(sha256_file(run.resolve(r["path"])), settings.model_dump(mode="json"), config.faces.model_dump(mode="json"),
                                        "reencoded")
                  for r in fakes.to_dict("records")}
        video_files = {r["video_id"]: _unit_file(run, "video", r["method"], r["video_name"], stamps[r["video_id"]]) for r in fakes.to_dict("records")}
        todo = [r for r in fakes.to_dict("records") if not video_files[r["video_id"]].is_file()]
        ref: _Reference | None = None
        lpips_status, lpips_weights = _lpips_status(settings, device)

        def reference() -> _Reference:
            nonlocal ref
            ref = ref or _Reference(run, settings, device, progress, backend)
            return ref

        if todo:
            means = reference().means
            units = [Unit(f"score {r['video_id']}", video_unit, (_fake_video(run, r, real_of), means, settings, config.faces, lpips_status == "ok",
                                                                  str(device), video_files[r["video_id"]])) for r in todo]
            run_units(units, "score fake videos", progress, backend=backend)
        frames_of = {vid: read_parquet(path) for vid, path in video_files.items()}

        recon_units, recon_files = [], {}
        videos = run.read_videos()
        split_of = dict(zip(videos["identity"], videos["split"]))
        real = None
        for method in methods:
            if not _has_protocol(method) or method not in config.generators:
                continue
            spec = GeneratorSpec(method, config.generator_settings(method), config.faces, str(device), config.seed, split_of)
            gen = spec.build()
            for identity in sorted(split_of):
                key = gen.model_key(identity, identity)
                ckpt = run.model_file(method, key)
                real = run.read_faces(["real"]) if real is None else real
                crops, landmarks, frame_idx = (d[identity] for d in identity_faces(run, real, [identity]))
                if not gen.evaluation_positions(identity, len(crops)) or not ckpt.is_file():
                    continue
                path = _unit_file(run, "reconstruction", method, identity, _stamp(sha256_file(ckpt), len(crops)))
                recon_files.setdefault(method, []).append(path)
                if not path.is_file():
                    recon_units.append(Unit(f"reconstruction {method} {identity}", reconstruction_unit,
                                            (spec, ckpt, identity, split_of[identity], crops, landmarks, frame_idx, path)))
        run_units(recon_units, "reconstruction", progress, backend=backend)

        set_units, set_files = [], {}
        faces = run.read_faces()
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
            set_units.append(Unit(f"set metrics {method}", set_unit, (method, r.crops, fake_crops, features, fid_status, r.desc, fake_desc,
                                                                       lpips, lpips_status, lpips_weights, settings, str(device), set_files[method])))
        run_units(set_units, "set metrics", progress, backend=backend)
        if not (todo or recon_units or set_units) and all(run.metrics_file(k).is_file() for k in METRICS_FILES):
            quality = run.read_metrics_table("quality")  # every unit was done before: nothing to assemble
        else:
            recon_eval = {m: bool(config.generator_settings(m).eval_mode) for m in recon_files}
            quality = _assemble(run, fakes, methods, frames_of, set_files, recon_files, recon_eval, settings.extra)
        update_provenance(run, config, "score", time.time() - start)
        return quality


def _has_protocol(method: str) -> bool:
    """Whether ``method`` is a registered generator with a reconstruction protocol (a fake
    set made outside forgebench, or a face swap, has none)."""
    return method in GENERATORS and GENERATORS.get(method).has_reconstruction()


def _assemble(run: RunDir, fakes: pd.DataFrame, methods: list[str], frames_of: dict[str, pd.DataFrame], set_files: dict[str, Path],
              recon_files: dict[str, list[Path]], recon_eval: dict[str, bool], extra: list[str]) -> pd.DataFrame:
    """Write the five quality tables of ``metrics/`` from the units' results (generators in
    name order, videos in manifest order) and return ``quality.parquet``."""
    known = set(run.read_faces(["real"])["identity"])
    video_rows, frame_parts, set_parts, recon_ids, recon_frames = [], [], [], [], []
    for method in methods:
        rows = fakes[fakes["method"] == method].to_dict("records")
        for r in rows:
            frames = frames_of[r["video_id"]]
            video_rows.append(_video_row(r, frames, known, extra))
            frame_parts.append(frames.drop(columns=["descriptor"]))
        eval_mode = _eval_mode(rows[0].get("settings")) if rows else None
        sets = read_parquet(set_files[method])
        if _has_protocol(method):
            parts = [read_parquet(p) for p in recon_files.get(method, [])]
            frames = pd.concat(parts, ignore_index=True) if parts else RECONSTRUCTION_FRAMES.empty()
            sets = pd.concat([sets, pd.DataFrame(reconstruction_set_rows(method, frames))], ignore_index=True)
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
        run.write_metrics_table(kind, table)
    return quality
