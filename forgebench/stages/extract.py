"""The extract stage: re-encode the real videos, extract the faces of every video (real and
fake), assign identity-disjoint splits.

Units of work:

- :func:`reencode_unit`: one real input video re-encoded with the fakes' codec settings
  (``faces/real/<c>/<video>.mp4``), duration-capped;
- :func:`faces_unit`: one video's faces (``faces/crops/<method>/<video>/*.png`` and
  ``faces/manifest/<method>/<video>.parquet``), the same function for real and fake
  videos.

A unit whose output exists is skipped, so the stage resumes; a video that cannot be
decoded or shows no face is recorded in ``faces/report.json`` and left out, the others
finish. The stage then writes ``faces/videos.parquet`` (first run only: the splits are
fixed once) and the combined face manifest ``faces/manifest.parquet`` that later stages
read. It runs before the generate stage (faces of the real videos) and after it (faces
of the fakes): ``forgebench run`` and ``forgebench generate`` do both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forgebench.config import Config, FacesSettings
from forgebench.errors import DataError, MediaError, NoFaceError
from forgebench.execution import Backend, Unit, backend_for, run_units, stage_progress
from forgebench.faces import FaceAnalyzer, sample_faces
from forgebench.media import probe, reencode, synthetic_tag, write_png
from forgebench.provenance import update_provenance
from forgebench.rundir import FACES, RunDir, make_video_id, write_parquet
from forgebench.splits import assign_splits
from forgebench.stages.common import dataset_name, input_videos, log

__all__ = ["VideoMeta", "reencode_unit", "faces_unit", "face_jobs", "extract"]


@dataclass(frozen=True)
class VideoMeta:
    """What the face manifest records about a video besides its faces.

    Attributes: dataset, method (``real`` or generator name), compression (``c23``),
    video_name (file stem or ``<target>_<source|driving>``), label (0 real, 1 fake),
    identity (shown in the frames; the target for fakes), source (identity pasted in, face
    swaps; ``""`` otherwise), driving (identity whose motion a reenactment shows; ``""``
    otherwise).
    """

    dataset: str
    method: str
    compression: str
    video_name: str
    label: int
    identity: str
    source: str = ""
    driving: str = ""

    @property
    def video_id(self) -> str:
        """``"<dataset>/<method>/<compression>/<video_name>"`` (:func:`forgebench.rundir.make_video_id`)."""
        return make_video_id(self.dataset, self.method, self.compression, self.video_name)


def reencode_unit(src: Path, dst: Path, crf: int, max_seconds: float | None) -> dict[str, Any]:
    """Re-encode one real input video at ``crf`` (at most ``max_seconds`` of it) to
    ``dst`` unless ``dst`` exists.

    Returns:
        ``fps``, ``n_frames``, ``width``, ``height`` of ``dst``.

    Raises:
        MediaError: ``src`` cannot be decoded (the message names it).
    """
    info = probe(src)
    max_frames = None if max_seconds is None else max(1, round(max_seconds * info.fps))
    if not Path(dst).is_file():
        reencode(src, dst, crf=crf, max_frames=max_frames)
    out = probe(dst)
    return {"fps": out.fps, "n_frames": out.n_frames, "width": out.width, "height": out.height}


def faces_unit(video: Path, meta: VideoMeta, settings: FacesSettings, crop_folder: Path, crop_prefix: str,
               manifest: Path) -> dict[str, Any]:
    """Extract one video's faces (:func:`forgebench.faces.sample_faces`) and write them.

    Args:
        video: the video file.
        meta: its manifest facts (:class:`VideoMeta`).
        settings: the run's ``faces`` settings.
        crop_folder: where the crop PNGs go (``<frame:06d>.png``; fakes' crops carry the
            synthetic tag as a PNG text chunk).
        crop_prefix: the same folder as stored in the manifest (relative to the run).
        manifest: the face manifest file to write (:data:`forgebench.rundir.FACES`), last.

    Returns:
        the ``faces/report.json`` entry: ``video``, ``video_bytes`` (its size, to know
        the entry is this file's), ``frames_sampled``, ``frames_with_face``, and ``error``
        when no sampled frame shows a face (then nothing is written and the video is left
        out; that entry is the unit's result, so the video is not searched again).

    Raises:
        MediaError: the video cannot be decoded.
    """
    n_sampled, samples = sample_faces(video, settings, FaceAnalyzer(settings))
    report = {"video": str(video), "video_bytes": Path(video).stat().st_size, "frames_sampled": n_sampled,
              "frames_with_face": len(samples)}
    if not samples:
        return {**report, "error": f"{video}: no face found in any of the {n_sampled} sampled frames"}
    text = synthetic_tag(meta.method, video=meta.video_name) if meta.label == 1 else None
    rows = []
    for s in samples:
        name = RunDir.crop_name(s.frame_index)
        write_png(Path(crop_folder) / name, s.crop, text=text)
        rows.append({
            "video_id": meta.video_id, "dataset": meta.dataset, "method": meta.method, "compression": meta.compression,
            "video_name": meta.video_name, "label": int(meta.label), "identity": meta.identity,
            "source": meta.source, "driving": meta.driving, "frame_index": int(s.frame_index),
            "bbox": s.face.bbox.astype(float).tolist(),
            "landmarks": s.face.landmarks.reshape(-1).astype(float).tolist(),
            "landmarks_crop": s.face.landmarks_crop.reshape(-1).astype(float).tolist(),
            "matrix": s.face.matrix.reshape(-1).astype(float).tolist(),
            "crop_size": int(settings.crop_size), "margin": float(settings.margin),
            "crop_path": f"{crop_prefix}/{name}",
        })
    write_parquet(manifest, FACES.check(pd.DataFrame(rows), manifest))
    return report


def _searched(entry: dict, video: Path) -> bool:
    """Whether a report entry says this very file (same size) was searched and holds no face."""
    try:
        return entry.get("frames_with_face") == 0 and entry.get("video_bytes") == Path(video).stat().st_size
    except OSError:
        return False


def face_jobs(run: RunDir, jobs: list[tuple[Path, VideoMeta]], settings: FacesSettings) -> list[Unit]:
    """The :func:`faces_unit` units of ``(video, meta)`` jobs not done yet: no face manifest,
    and not already found to hold no face (a video that failed to decode is tried again)."""
    report = run.read_report()
    units = []
    for video, meta in jobs:
        manifest = run.face_manifest(meta.method, meta.video_name)
        if manifest.is_file() or _searched(report.get(meta.video_id, {}), video):
            continue
        folder = run.crop_folder(meta.method, meta.video_name)
        units.append(Unit(f"faces {meta.video_id}", faces_unit, (Path(video), meta, settings, folder, run.relative(folder), manifest)))
    return units


def extract_faces(run: RunDir, jobs: list[tuple[Path, VideoMeta]], settings: FacesSettings, progress: bool = True,
                  backend: Backend | None = None) -> list[str]:
    """Run the faces units of ``jobs`` (skipping finished ones) on ``backend`` (default: in
    this process), record every video in ``faces/report.json``; returns the messages of
    the videos left out."""
    meta_of = {f"faces {m.video_id}": (v, m) for v, m in jobs}
    outcomes = run_units(face_jobs(run, jobs, settings), "faces", progress, expected=(MediaError, NoFaceError), backend=backend)
    entries, errors = {}, []
    for o in outcomes:
        video, meta = meta_of[o.key]
        entries[meta.video_id] = o.value if o.ok else {"video": str(video), "error": str(o.error)}
        if "error" in entries[meta.video_id]:
            errors.append(entries[meta.video_id]["error"])
    run.update_report(entries)
    return errors


def _real_rows(run: RunDir, config: Config, progress: bool, backend: Backend) -> list[dict[str, Any]]:
    """Rows of ``faces/videos.parquet`` (without ``split``): the videos table if it exists,
    else every input video re-encoded (failures recorded in the report and left out)."""
    if run.videos_file.is_file():
        return run.read_videos().drop(columns=["split"]).to_dict("records")
    dataset, comp = dataset_name(config), config.data.compression
    videos = input_videos(config)
    units = [Unit(f"re-encode {v.name}", reencode_unit, (v, run.real_video(comp, v.stem), config.data.crf, config.data.max_seconds))
             for v in videos]
    rows, failed = [], {}
    for video, o in zip(videos, run_units(units, f"re-encode {comp}", progress, expected=(MediaError,), backend=backend)):
        if not o.ok:
            failed[make_video_id(dataset, "real", comp, video.stem)] = {"video": str(video), "error": str(o.error)}
            log(f"skipped {video}: {o.error}")
            continue
        real = run.real_video(comp, video.stem)
        rows.append({"video_name": video.stem, "identity": video.stem, "input_path": str(video.resolve()),
                     "real_path": run.relative(real), **o.value})
    run.update_report(failed)
    return rows


def fake_jobs(run: RunDir, config: Config) -> list[tuple[Path, VideoMeta]]:
    """``(video, meta)`` of every fake listed in the fakes manifests (none before the
    generate stage)."""
    if not run.fake_methods():
        return []
    dataset, comp = dataset_name(config), config.data.compression
    fakes = run.read_fakes()
    return [(run.resolve(r["path"]), VideoMeta(dataset, r["method"], comp, r["video_name"], 1, r["target"], r["source"], r["driving"]))
            for r in fakes.to_dict("records")]


def extract(run: RunDir, config: Config, progress: bool = True) -> None:
    """The extract stage (module docstring).

    Raises:
        DataError: no input video, two inputs with one identity stem, or too few
            identities with a face for the splits (the message names the folder).
        MediaError: the input folder does not exist or holds no video.
    """
    with stage_progress("extract", progress):
        start = time.time()
        backend = backend_for(config.execution)
        dataset, comp = dataset_name(config), config.data.compression
        rows = _real_rows(run, config, progress, backend)
        jobs = [(run.resolve(r["real_path"]), VideoMeta(dataset, "real", comp, r["video_name"], 0, r["identity"])) for r in rows]
        errors = extract_faces(run, jobs + fake_jobs(run, config), config.faces, progress, backend)
        for e in errors:
            log(f"left out: {e}")
        if not run.videos_file.is_file():
            with_faces = sorted({m.identity for _, m in jobs if run.face_manifest("real", m.video_name).is_file()})
            try:
                split_of = assign_splits(with_faces, config.splits.ratio, config.seed, config.splits.min_per_split)
            except DataError as exc:
                where = config.data.videos or "the sample clips"
                raise DataError(f"{where}: {exc} ({len(rows)} videos, {len(with_faces)} with a face; see {run.report_file})") from None
            table = pd.DataFrame([r for r in rows if r["identity"] in with_faces])
            table["split"] = table["identity"].map(split_of)
            run.write_videos(table)
        faces = run.collect_faces()
        run.write_faces(faces)
        counts = faces.groupby("method").agg(videos=("video_id", "nunique"), faces=("video_id", "size"))
        log(f"faces: {counts.to_dict('index')}; report in {run.report_file}")
        update_provenance(run, config, "extract", time.time() - start)


def identity_faces(run: RunDir, real: pd.DataFrame, identities: list[str]) -> tuple[dict, dict, dict]:
    """Face crop files, landmarks and frame indices of identities' real videos, in frame
    order, from the real rows of the combined face manifest.

    Returns:
        ``({identity: [crop PNG paths]}, {identity: [(68, 2) crop-pixel landmarks]},
        {identity: [frame_index]})``; an identity without rows gets empty lists.
    """
    crops, landmarks, frames = {}, {}, {}
    for i in identities:
        rows = real[real["identity"] == i].sort_values(["video_name", "frame_index"])
        crops[i] = [run.resolve(p) for p in rows["crop_path"]]
        landmarks[i] = [np.asarray(v, dtype=np.float64).reshape(68, 2) for v in rows["landmarks_crop"]]
        frames[i] = [int(v) for v in rows["frame_index"]]
    return crops, landmarks, frames
