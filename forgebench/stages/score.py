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
unit is skipped when its result exists and redone when its inputs changed; the units and
their metric glue live in :mod:`forgebench.stages.score_units`, the typed rows of the
tables in :mod:`forgebench.stages.score_rows`; this module lists, stamps and runs the
units and assembles the tables):

- :func:`~forgebench.stages.score_units.real_unit`: dlib descriptors of one real video's
  face rows (the identity reference; not stored);
- :func:`~forgebench.stages.score_units.video_unit`: one fake video's quality scores;
- :func:`~forgebench.stages.score_units.reconstruction_unit`: one identity's held-out
  frames re-rendered by its model;
- :func:`~forgebench.stages.score_units.set_unit`: one generator's set-level metrics (FID,
  KID, Fréchet distance of dlib descriptors, mean LPIPS).

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
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from forgebench.config import Config, FacesSettings
from forgebench.errors import DataError
from forgebench.execution import Backend, Unit, backend_for, run_units, stage_progress
from forgebench.faces.align import landmarks_array
from forgebench.fileio import read_parquet, sha256_file
from forgebench.metrics.fid import inception_features
from forgebench.metrics.identity import identity_means
from forgebench.metrics.quality import QualitySettings
from forgebench.provenance import update_provenance
from forgebench.rundir import METRICS_FILES, RunDir
from forgebench.runtime import select_device
from forgebench.schemas import QUALITY, QUALITY_FRAMES, QUALITY_SETS, RECONSTRUCTION, RECONSTRUCTION_FRAMES
from forgebench.stages.extract import identity_faces
from forgebench.stages.generate import GeneratorSpec
from forgebench.stages.score_rows import (
    SET_UNIT_COLUMNS,
    UNIT_ONLY_COLUMNS,
    WeightsStatus,
    eval_mode_of,
    reconstruction_row,
    reconstruction_set_rows,
    retrieval_rows,
    rows_table,
    video_quality,
)
from forgebench.stages.score_units import (
    FakeVideo,
    IdentityModels,
    InceptionFeatures,
    RealReferences,
    SetUnitInputs,
    arcface_status,
    dlib_descriptor_weights,
    has_reconstruction_protocol,
    lpips_status,
    nearest_identities,
    real_unit,
    reconstruction_unit,
    reference_note,
    replaces_target_frames,
    set_unit,
    stack_crops,
    stage_landmark_model,
    unit_landmark_model,
    video_unit,
)
from forgebench.weights import WeightsUnavailable

# The units are defined in forgebench.stages.score_units and re-exported here, so that
# ``from forgebench.stages.score import set_unit`` keeps working.
__all__ = [
    "VIDEO_UNIT_VERSION",
    "VIDEO_REFERENCE",
    "RECONSTRUCTION_UNIT_VERSION",
    "SET_UNIT_VERSION",
    "real_unit",
    "video_unit",
    "unit_landmark_model",
    "reconstruction_unit",
    "set_unit",
    "score",
]

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
#: What a video unit compares a fake with, part of the video units' cache stamp beside
#: :data:`VIDEO_UNIT_VERSION`. "reencoded": the target's re-encoded real video
#: (``faces/videos.parquet`` ``real_path``, the one the detectors see), not the input video.
#: Bump it when the reference video of the pair metrics changes (another real file, codec
#: or CRF of the reference), so fakes compared with the old reference are scored again.
VIDEO_REFERENCE = "reencoded"
#: Version of the set units' results (cache stamp): bump it when a set-level metric of
#: :func:`~forgebench.stages.score_units.set_unit` is added, removed or redefined (``fid``,
#: ``kid``, ``frechet_dlib``, ``lpips``), or its ``n_real`` / ``n_fake`` / weights columns
#: change meaning, so set units computed under the old definition are computed again.
#: "sets-v1" (issue 22): FID and KID on the same Inception features, the Fréchet distance
#: of dlib descriptors, mean masked LPIPS.
SET_UNIT_VERSION = "sets-v1"


def _stamp(*parts: Any) -> str:
    """12 hex digits identifying a unit's inputs (file hashes, settings)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _unit_file(run: RunDir, kind: str, method: str, name: str, stamp: str) -> Path:
    """The result file of a unit of ``kind`` (``video``, ``reconstruction``, ``set``) for
    ``method``, named ``<name>.<stamp>`` (``run.metrics.unit``, under ``metrics/units/``)."""
    return run.metrics.unit(kind, method, f"{name}.{stamp}")


# -- the stage -----------------------------------------------------------------------------
class _Reference:
    """The real reference every generator's scoring shares, computed once per stage run:
    real face rows (sorted by video and frame), their dlib descriptors and (with
    ``arcface``) ArcFace embeddings, identity means of both, and the FID Inception features
    of the real crops."""

    def __init__(
        self,
        run: RunDir,
        settings: QualitySettings,
        device: torch.device,
        progress: bool,
        backend: Backend,
        arcface: bool,
    ) -> None:
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
            units.append(
                Unit(
                    f"real {name}",
                    real_unit,
                    (
                        run.resolve(videos.at[name, "real_path"]),
                        group["frame_index"].astype(int).tolist(),
                        [landmarks_array(v) for v in group["landmarks"]],
                        arcface,
                        str(device),
                    ),
                )
            )
        done: list[RealReferences] = [o.value for o in run_units(units, "real identities", progress, backend=backend)]
        self.desc = np.concatenate([d.dlib for d in done])
        self.emb = np.concatenate([d.arcface for d in done]) if arcface else np.zeros((len(self.desc), 0))
        self.ids = self.rows["identity"].astype(str).tolist()
        names = sorted(set(self.ids))
        of = {i: (self.rows["identity"] == i).to_numpy() for i in names}
        self.means = identity_means({i: self.desc[m] for i, m in of.items()})
        self.arcface_means = identity_means({i: self.emb[m] for i, m in of.items()}) if arcface else {}
        self.crops = [run.resolve(p) for p in self.rows["crop_path"]]
        self._features: InceptionFeatures | None = None

    def fid_features(self) -> InceptionFeatures:
        """The FID Inception features of the real crops (computed on first use), or None
        with ``"unavailable: <reason>"`` when the weights are missing."""
        if self._features is None:
            try:
                feats = inception_features(
                    stack_crops(self.crops),
                    batch_size=self.settings.batch_size,
                    device=self.device,
                    progress=self.progress,
                )
                self._features = InceptionFeatures(feats, "ok")
            except WeightsUnavailable as exc:
                self._features = InceptionFeatures(None, f"unavailable: {exc.reason}")
        return self._features


def _fake_video(run: RunDir, r: dict, real_of: dict[str, str]) -> FakeVideo:
    """A fakes manifest row to score, its reference being the target's re-encoded real video
    (``real_of``: identity -> ``real_path``), the one the detectors see: fake and real went
    through the same codec at the same CRF, so the codec loss does not count against the fake."""
    return FakeVideo(
        r["method"],
        r["video_id"],
        r["video_name"],
        r["target"],
        r["source"],
        r["driving"],
        run.resolve(r["path"]),
        run.resolve(real_of[r["target"]]),
        run.fakes.frames_file(r["method"], r["video_name"]),
        replaces_target_frames(r["method"]),
    )


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
        arcface = arcface_status(device)
        landmark_model = stage_landmark_model()
        stamps = {
            r["video_id"]: _video_stamp(run, r, settings, config.faces, arcface, landmark_model)
            for r in fakes.to_dict("records")
        }
        video_files = {
            r["video_id"]: _unit_file(run, "video", r["method"], r["video_name"], stamps[r["video_id"]])
            for r in fakes.to_dict("records")
        }
        todo = [r for r in fakes.to_dict("records") if not video_files[r["video_id"]].is_file()]
        ref: _Reference | None = None
        lpips = lpips_status(settings, device)

        def reference() -> _Reference:
            nonlocal ref
            ref = ref or _Reference(run, settings, device, progress, backend, arcface.ok)
            return ref

        if todo:
            ids = IdentityModels(reference().means, reference().arcface_means, landmark_model)
            units = [
                Unit(
                    f"score {r['video_id']}",
                    video_unit,
                    (
                        _fake_video(run, r, real_of),
                        ids,
                        settings,
                        config.faces,
                        lpips.ok,
                        str(device),
                        video_files[r["video_id"]],
                    ),
                )
                for r in todo
            ]
            run_units(units, "score fake videos", progress, backend=backend)
        frames_of = {vid: read_parquet(path) for vid, path in video_files.items()}

        recon_units, recon_files = [], {}
        videos = run.faces.read_videos()
        split_of = dict(zip(videos["identity"], videos["split"]))
        real = None
        for method in methods:
            if not has_reconstruction_protocol(method) or method not in config.generators:
                continue
            spec = GeneratorSpec(
                method, config.generator_settings(method), config.faces, str(device), config.seed, split_of
            )
            gen = spec.build()
            for identity in sorted(split_of):
                key = gen.model_key(identity, identity)
                ckpt = run.fakes.model_file(method, key)
                real = run.faces.read_manifest(["real"]) if real is None else real
                crops, landmarks, frame_idx = (d[identity] for d in identity_faces(run, real, [identity]))
                if not gen.evaluation_positions(identity, len(crops)) or not ckpt.is_file():
                    continue
                stamp = _stamp(
                    sha256_file(ckpt), len(crops), RECONSTRUCTION_UNIT_VERSION, arcface.sha256, landmark_model
                )
                path = _unit_file(run, "reconstruction", method, identity, stamp)
                recon_files.setdefault(method, []).append(path)
                if not path.is_file():
                    recon_units.append(
                        Unit(
                            f"reconstruction {method} {identity}",
                            reconstruction_unit,
                            (spec,),
                            dict(
                                checkpoint=ckpt,
                                identity=identity,
                                split=split_of[identity],
                                crops=crops,
                                landmarks=landmarks,
                                frame_indices=frame_idx,
                                out=path,
                                arcface=arcface.ok,
                                landmark_model=landmark_model,
                            ),
                        )
                    )
        run_units(recon_units, "reconstruction", progress, backend=backend)

        set_units, set_files = [], {}
        faces = run.faces.read_manifest()
        for method in methods:
            rows = fakes[fakes["method"] == method]
            stamp = _stamp(
                [stamps[v] for v in rows["video_id"]], int((faces["method"] == method).sum()), SET_UNIT_VERSION
            )
            set_files[method] = _unit_file(run, "set", method, "sets", stamp)
            if set_files[method].is_file():
                continue
            r = reference()
            frames = (
                pd.concat([frames_of[v] for v in rows["video_id"]], ignore_index=True) if len(rows) else pd.DataFrame()
            )
            fake_desc = (
                np.array(frames["descriptor"].tolist(), dtype=np.float64).reshape(-1, 128)
                if len(frames)
                else np.zeros((0, 128))
            )
            fake_lpips = frames["lpips"].to_numpy(dtype=np.float64) if len(frames) else np.zeros(0)
            fake_crops = [run.resolve(p) for p in faces.loc[faces["method"] == method, "crop_path"]]
            needs_fid = settings.fid and len(r.crops) >= 2 and len(fake_crops) >= 2
            inputs = SetUnitInputs(
                method=method,
                real_crops=r.crops,
                fake_crops=fake_crops,
                real_features=r.fid_features() if needs_fid else InceptionFeatures(None, "ok"),
                real_desc=r.desc,
                fake_desc=fake_desc,
                lpips=fake_lpips,
                lpips_weights=lpips,
            )
            set_units.append(
                Unit(f"set metrics {method}", set_unit, (inputs, settings, str(device), set_files[method]))
            )
        run_units(set_units, "set metrics", progress, backend=backend)
        if not (todo or recon_units or set_units) and all(run.metrics.file(k).is_file() for k in METRICS_FILES):
            quality = run.metrics.read("quality")  # every unit was done before: nothing to assemble
        else:
            recon_eval = {m: bool(config.generator_settings(m).eval_mode) for m in recon_files}
            quality = _assemble(
                run,
                fakes,
                methods,
                frames_of=frames_of,
                set_files=set_files,
                recon_files=recon_files,
                recon_eval=recon_eval,
                extra=settings.extra,
                ref=reference(),
                arcface=arcface,
            )
        update_provenance(run, config, "score", time.time() - start)
        return quality


def _video_stamp(
    run: RunDir,
    fake: dict,
    settings: QualitySettings,
    faces: FacesSettings,
    arcface: WeightsStatus,
    landmark_model: str,
) -> str:
    """The cache stamp of one fake video's unit: the fake file's SHA-256, the ``metrics``
    and ``faces`` settings, :data:`VIDEO_REFERENCE`, :data:`VIDEO_UNIT_VERSION`, the
    ArcFace weights' SHA-256 (``""`` without them) and the stage's landmark model."""
    return _stamp(
        sha256_file(run.resolve(fake["path"])),
        settings.model_dump(mode="json"),
        faces.model_dump(mode="json"),
        VIDEO_REFERENCE,
        VIDEO_UNIT_VERSION,
        arcface.sha256,
        landmark_model,
    )


def _assemble(
    run: RunDir,
    fakes: pd.DataFrame,
    methods: list[str],
    *,
    frames_of: dict[str, pd.DataFrame],
    set_files: dict[str, Path],
    recon_files: dict[str, list[Path]],
    recon_eval: dict[str, bool],
    extra: list[str],
    ref: _Reference,
    arcface: WeightsStatus,
) -> pd.DataFrame:
    """Write the five quality tables of ``metrics/`` from the units' results (generators in
    name order, videos in manifest order; identity retrieval against ``ref``) and return
    ``quality.parquet``."""
    videos, frame_parts, set_parts, recon_ids, recon_frames = [], [], [], [], []
    dlib = dlib_descriptor_weights()
    for method in methods:
        rows = fakes[fakes["method"] == method].to_dict("records")
        method_frames = []
        for r in rows:
            frames = nearest_identities(frames_of[r["video_id"]], ref.desc, ref.emb, ref.ids)
            videos.append(video_quality(r, frames, extra, reference_note(method)))
            method_frames.append(frames.drop(columns=list(UNIT_ONLY_COLUMNS)))
        frame_parts += method_frames
        eval_mode = eval_mode_of(rows[0].get("settings")) if rows else None
        sets = read_parquet(set_files[method])
        scored = pd.concat(method_frames, ignore_index=True) if method_frames else QUALITY_FRAMES.empty()
        retrieval = retrieval_rows(method, scored, rows, len(ref.ids), arcface, dlib)
        sets = pd.concat([sets, rows_table(retrieval, SET_UNIT_COLUMNS)], ignore_index=True)
        if has_reconstruction_protocol(method):
            parts = [read_parquet(p) for p in recon_files.get(method, [])]
            frames = pd.concat(parts, ignore_index=True) if parts else RECONSTRUCTION_FRAMES.empty()
            recon_sets = reconstruction_set_rows(method, frames, arcface.status)
            sets = pd.concat([sets, rows_table(recon_sets, SET_UNIT_COLUMNS)], ignore_index=True)
            for identity, g in frames.groupby("identity", sort=False):
                recon_ids.append(reconstruction_row(method, identity, g, recon_eval.get(method)))
            recon_frames.append(frames)
        sets["eval_mode"] = eval_mode
        set_parts.append(sets)
    quality = rows_table(videos, list(QUALITY.columns) + list(extra))
    tables = {
        "quality_frames": pd.concat(frame_parts, ignore_index=True) if frame_parts else QUALITY_FRAMES.empty(),
        "quality_sets": pd.concat(set_parts, ignore_index=True) if set_parts else QUALITY_SETS.empty(),
        "reconstruction": rows_table(recon_ids, RECONSTRUCTION.columns),
        "reconstruction_frames": pd.concat(recon_frames, ignore_index=True)
        if recon_frames
        else RECONSTRUCTION_FRAMES.empty(),
        "quality": quality,
    }
    for kind, table in tables.items():  # quality.parquet last
        run.metrics.write(kind, table)
    return quality
