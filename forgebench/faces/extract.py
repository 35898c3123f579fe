"""The faces stage: sample frames, detect, align and crop faces, write crops and manifests.

Real and fake videos go through exactly the same function (:func:`extract_video`) with
the same settings, so a detector cannot learn a preprocessing difference instead of the
forgery. Work is saved per video (one manifest file each), so an interrupted stage
resumes where it stopped. Schemas: docs/architecture.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from forgebench.atomic import write_json, write_parquet
from forgebench.config import FacesSettings
from forgebench.errors import MediaError, NoFaceError
from forgebench.faces.analyzer import FaceAnalyzer
from forgebench.media import iter_frames, probe, sample_indices, synthetic_tag, write_png


def make_video_id(dataset: str, method: str, compression: str, video_name: str) -> str:
    """Unique video id ``"<dataset>/<method>/<compression>/<video_name>"``; frame scores are
    aggregated into video scores by this id, never by folder name."""
    return f"{dataset}/{method}/{compression}/{video_name}"


@dataclass(frozen=True)
class VideoMeta:
    """What the manifest records about a video besides its faces.

    Attributes: dataset, method (``real`` or generator name), compression (``c23``),
    video_name (file stem or ``<target>_<source>``), label (0 real, 1 fake), identity
    (shown in the frames; the target for fakes), source_identity (pasted-in / driving
    identity for fakes, = identity for real videos).
    """

    dataset: str
    method: str
    compression: str
    video_name: str
    label: int
    identity: str
    source_identity: str

    @property
    def video_id(self) -> str:
        """``"<dataset>/<method>/<compression>/<video_name>"`` (see :func:`make_video_id`)."""
        return make_video_id(self.dataset, self.method, self.compression, self.video_name)


def manifest_path(run_dir: Path, method: str, video_name: str) -> Path:
    """Where one video's face manifest lives."""
    return Path(run_dir) / "faces" / "manifest" / method / f"{video_name}.parquet"


def extract_video(
    video: Path,
    run_dir: Path,
    meta: VideoMeta,
    analyzer: FaceAnalyzer,
    settings: FacesSettings,
    progress: bool = True,
) -> pd.DataFrame:
    """Extract aligned face crops from ``settings.frames_per_video`` evenly sampled frames.

    Writes ``faces/crops/<method>/<video>/<frame:06d>.png`` and the video's manifest
    ``faces/manifest/<method>/<video>.parquet`` (one row per face; columns in
    docs/architecture.md except ``split``, which :func:`load_manifest` joins in). If the
    manifest exists the stored rows are returned without work (resume).

    Raises:
        MediaError: the video cannot be decoded (message names the file).
        NoFaceError: no face in any sampled frame (message names the file).
    """
    run_dir = Path(run_dir)
    out = manifest_path(run_dir, meta.method, meta.video_name)
    if out.is_file():
        return pd.read_parquet(out)
    info = probe(video)
    indices = sample_indices(info.n_frames, settings.frames_per_video)
    rows = []
    crop_dir = Path("faces") / "crops" / meta.method / meta.video_name
    frames = iter_frames(video, indices=indices)
    for index, frame in tqdm(frames, total=len(indices), desc=f"faces {meta.method}/{meta.video_name}", disable=not progress, leave=False):
        face = analyzer.detect(frame)
        if face is None:
            continue
        rel = crop_dir / f"{index:06d}.png"
        text = synthetic_tag(meta.method, video=meta.video_name) if meta.label == 1 else None
        write_png(run_dir / rel, face.crop(frame), text=text)
        rows.append(
            {
                "video_id": meta.video_id,
                "dataset": meta.dataset,
                "method": meta.method,
                "compression": meta.compression,
                "video_name": meta.video_name,
                "label": int(meta.label),
                "identity": meta.identity,
                "source_identity": meta.source_identity,
                "frame_index": int(index),
                "bbox": face.bbox.astype(float).tolist(),
                "landmarks": face.landmarks.reshape(-1).astype(float).tolist(),
                "landmarks_crop": face.landmarks_crop.reshape(-1).astype(float).tolist(),
                "matrix": face.matrix.reshape(-1).astype(float).tolist(),
                "crop_size": int(settings.crop_size),
                "margin": float(settings.margin),
                "crop_path": rel.as_posix(),
            }
        )
    report = {"video": str(video), "frames_sampled": len(indices), "frames_with_face": len(rows)}
    _update_report(run_dir, meta.video_id, report)
    if not rows:
        raise NoFaceError(f"{video}: no face found in any of the {len(indices)} sampled frames")
    df = pd.DataFrame(rows)
    write_parquet(out, df)
    return df


def _report_path(run_dir: Path) -> Path:
    return Path(run_dir) / "faces" / "report.json"


def read_report(run_dir: Path) -> dict[str, dict]:
    """``faces/report.json``: per video id, frames sampled, frames with a face, frames with
    no face, and the error if the video failed."""
    path = _report_path(run_dir)
    return json.loads(path.read_text()) if path.is_file() else {}


def _update_report(run_dir: Path, video_id: str, entry: dict) -> None:
    report = read_report(run_dir)
    entry = dict(entry)
    if "frames_sampled" in entry:
        entry["frames_no_face"] = entry["frames_sampled"] - entry.get("frames_with_face", 0)
    report[video_id] = {**report.get(video_id, {}), **entry}
    write_json(_report_path(run_dir), report)


def record_error(run_dir: Path, video_id: str, video: Path, error: Exception) -> None:
    """Record a failed video in ``faces/report.json`` (the stage goes on with the others)."""
    _update_report(run_dir, video_id, {"video": str(video), "error": str(error)})


def extract_many(
    jobs: list[tuple[Path, VideoMeta]], run_dir: Path, settings: FacesSettings, progress: bool = True
) -> tuple[list[pd.DataFrame], list[str]]:
    """Run :func:`extract_video` over ``(video, meta)`` jobs; a video that fails (unreadable,
    no face) is recorded in the report and skipped, the others still finish.

    Returns:
        (manifests of the videos that worked, error messages of those that did not).
    """
    analyzer = None
    done, errors = [], []
    for video, meta in tqdm(jobs, desc="faces", disable=not progress):
        if manifest_path(run_dir, meta.method, meta.video_name).is_file():
            done.append(pd.read_parquet(manifest_path(run_dir, meta.method, meta.video_name)))
            continue
        analyzer = analyzer or FaceAnalyzer(settings)
        try:
            done.append(extract_video(video, run_dir, meta, analyzer, settings, progress))
        except (MediaError, NoFaceError) as exc:
            record_error(run_dir, meta.video_id, video, exc)
            errors.append(str(exc))
    return done, errors


def load_manifest(run_dir: Path, methods: list[str] | None = None) -> pd.DataFrame:
    """All face rows of a run (optionally only some methods), with the ``split`` of each
    row's target identity joined from ``faces/videos.parquet``.

    Returns:
        DataFrame with the columns of docs/architecture.md; empty if nothing extracted.
    """
    root = Path(run_dir) / "faces" / "manifest"
    parts = []
    if root.is_dir():
        for method_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            if methods is not None and method_dir.name not in methods:
                continue
            parts += [pd.read_parquet(f) for f in sorted(method_dir.glob("*.parquet"))]
    if not parts:
        return pd.DataFrame()
    df = pd.concat(parts, ignore_index=True)
    videos = Path(run_dir) / "faces" / "videos.parquet"
    if videos.is_file():
        split_of = pd.read_parquet(videos).set_index("identity")["split"]
        df["split"] = df["identity"].map(split_of)
    return df


def landmarks_array(values) -> np.ndarray:
    """A manifest ``landmarks`` cell (136 floats) as ``(68, 2)`` float64."""
    return np.asarray(values, dtype=np.float64).reshape(68, 2)


def identity_faces(run_dir: Path, real: pd.DataFrame, identities: list[str]) -> tuple[dict, dict, dict]:
    """Face crops, landmarks and frame indices of identities' real videos, in frame order,
    from the real face manifest rows ``real`` (:func:`load_manifest`).

    Returns:
        ``({identity: [(S, S, 3) uint8 crops]}, {identity: [(68, 2) crop-pixel landmarks]},
        {identity: [frame_index]})``; an identity without rows gets empty lists.

    Raises:
        MediaError: a crop PNG cannot be read.
    """
    from forgebench.media import read_image

    crops, landmarks, frames = {}, {}, {}
    for i in identities:
        rows = real[real["identity"] == i].sort_values(["video_name", "frame_index"])
        crops[i] = [read_image(Path(run_dir) / p) for p in rows["crop_path"]]
        landmarks[i] = [landmarks_array(v) for v in rows["landmarks_crop"]]
        frames[i] = [int(v) for v in rows["frame_index"]]
    return crops, landmarks, frames
