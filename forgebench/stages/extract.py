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

import cv2
import numpy as np
import pandas as pd

from forgebench.config import Config, FacesSettings
from forgebench.errors import DataError, MediaError, NoFaceError
from forgebench.execution import Backend, Unit, backend_for, run_units, stage_progress
from forgebench.faces import FaceAnalyzer, FaceSample, frame_number, sample_faces, sample_image_faces
from forgebench.fileio import write_json, write_parquet
from forgebench.media import iter_masks, probe, read_image, reencode, synthetic_tag, write_png
from forgebench.provenance import update_provenance
from forgebench.rundir import FaceFiles, RunDir
from forgebench.schemas import FACES, make_video_id
from forgebench.splits import resolve_splits
from forgebench.stages.common import dataset_name, input_table, log

__all__ = [
    "VideoMeta",
    "FrameSet",
    "reencode_unit",
    "faces_unit",
    "frames_unit",
    "crops_unit",
    "face_jobs",
    "extract_faces",
    "extract",
]


@dataclass(frozen=True)
class VideoMeta:
    """What the face manifest records about a video besides its faces.

    Attributes: dataset, method (``real`` or generator name), compression (``c23``),
    video_name (file stem or ``<target>_<source|driving>``), label (0 real, 1 fake),
    identity (shown in the frames; the target for fakes), source (identity pasted in, face
    swaps; ``""`` otherwise), driving (identity whose motion a reenactment shows; ``""``
    otherwise), mask (the fake's manipulation mask video, absolute, frame for frame with the
    video: a generator's ``fakes/<method>/masks/<name>.mp4`` or a dataset's such as
    FaceForensics++'s ``masks/videos``; ``""`` when there is none).
    """

    dataset: str
    method: str
    compression: str
    video_name: str
    label: int
    identity: str
    source: str = ""
    driving: str = ""
    mask: str = ""

    @property
    def video_id(self) -> str:
        """``"<dataset>/<method>/<compression>/<video_name>"`` (:func:`forgebench.schemas.make_video_id`)."""
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


@dataclass(frozen=True)
class FrameSet:
    """A video a dataset ships as images (:mod:`forgebench.datasets`, kinds ``frames`` and
    ``crops``).

    Attributes:
        folder: the folder of the images (recorded in ``faces/report.json``).
        kind: ``frames`` (frames to detect, align and crop like a video's) or ``crops``
            (aligned face crops taken as they are).
        frames: the image files in frame order.
        landmarks: per frame, a ``.npy`` of its landmarks in crop pixels (``(68, 2)`` or
            DeepfakeBench's ``(81, 2)``, whose first 68 are iBUG's) or ``""`` (crops only).
        masks: per frame, its manipulation mask image (grey, the frame's size) or ``""``:
            cropped with the face's alignment (``frames``) or taken as it is (``crops``).
    """

    folder: Path
    kind: str
    frames: tuple[str, ...]
    landmarks: tuple[str, ...] = ()
    masks: tuple[str, ...] = ()


def _signature(source: Path | FrameSet) -> dict[str, Any]:
    """What tells a report entry is this very input: a video's size, a frame set's folder and count."""
    if isinstance(source, FrameSet):
        return {"video": str(source.folder), "frames_listed": len(source.frames)}
    return {"video": str(source), "video_bytes": Path(source).stat().st_size}


def _write_samples(
    samples: list[FaceSample],
    meta: VideoMeta,
    settings: FacesSettings,
    crop_folder: Path,
    crop_prefix: str,
    manifest: Path,
    masks: MaskCrops | None = None,
) -> None:
    """Write the crops of ``samples`` (fakes' with the synthetic tag), their mask crops where
    ``masks`` has the frame (grey PNG, warped with the crop's alignment, same file name), and
    the video's face manifest, last."""
    text = synthetic_tag(meta.method, video=meta.video_name) if meta.label == 1 else None
    rows = []
    for s in samples:
        name = FaceFiles.crop_name(s.frame_index)
        write_png(Path(crop_folder) / name, s.crop, text=text)
        mask_path = ""
        if masks is not None and s.frame_index in masks.frames:
            write_png(
                masks.folder / name, mask_crop(masks.frames[s.frame_index], s.face.matrix, settings.crop_size), text
            )
            mask_path = f"{masks.prefix}/{name}"
        rows.append(
            _row(
                meta,
                s.frame_index,
                s.face.bbox,
                s.face.landmarks,
                s.face.landmarks_crop,
                s.face.matrix,
                settings.crop_size,
                settings.margin,
                f"{crop_prefix}/{name}",
                mask_path,
            )
        )
    write_parquet(manifest, FACES.check(pd.DataFrame(rows), manifest))


@dataclass(frozen=True)
class MaskCrops:
    """Where a video's mask crops go and what they are cropped from.

    Attributes:
        folder: the mask-crop folder (:meth:`FaceFiles.mask_folder`, ``faces/masks/<method>/<video>``).
        prefix: the same folder as stored in the manifest (relative to the run).
        frames: ``{frame_index: (H, W) float32 mask in [0, 1]}`` of the sampled frames that have one.
    """

    folder: Path
    prefix: str
    frames: dict[int, np.ndarray]


def mask_crop(mask: np.ndarray, matrix: np.ndarray, crop_size: int) -> np.ndarray:
    """A frame's manipulation mask ``(H, W)`` float in ``[0, 1]`` cropped like the face:
    warped with the frame -> crop affine ``matrix`` ``(2, 3)`` (bilinear, 0 outside the
    frame) to ``(crop_size, crop_size)`` uint8 ``round(mask * 255)``, the grey mask crop."""
    warped = cv2.warpAffine(
        np.asarray(mask, np.float32),
        np.asarray(matrix, np.float64).reshape(2, 3),
        (int(crop_size), int(crop_size)),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return np.round(np.clip(warped, 0.0, 1.0) * 255.0).astype(np.uint8)


def _row(
    meta: VideoMeta,
    frame_index: int,
    bbox,
    landmarks,
    landmarks_crop,
    matrix,
    crop_size: int,
    margin: float,
    crop_path: str,
    mask_path: str = "",
) -> dict[str, Any]:
    """One face manifest row (:data:`forgebench.schemas.FACES`)."""

    def floats(a) -> list[float]:
        return np.asarray(a, dtype=np.float64).reshape(-1).tolist()

    return {
        "video_id": meta.video_id,
        "dataset": meta.dataset,
        "method": meta.method,
        "compression": meta.compression,
        "video_name": meta.video_name,
        "label": int(meta.label),
        "identity": meta.identity,
        "source": meta.source,
        "driving": meta.driving,
        "frame_index": int(frame_index),
        "bbox": floats(bbox),
        "landmarks": floats(landmarks),
        "landmarks_crop": floats(landmarks_crop),
        "matrix": floats(matrix),
        "crop_size": int(crop_size),
        "margin": float(margin),
        "crop_path": crop_path,
        "mask_path": mask_path,
    }


def faces_unit(
    video: Path,
    meta: VideoMeta,
    settings: FacesSettings,
    crop_folder: Path,
    crop_prefix: str,
    manifest: Path,
    mask_folder: Path | None = None,
    mask_prefix: str = "",
) -> dict[str, Any]:
    """Extract one video's faces (:func:`forgebench.faces.sample_faces`) and write them.

    Args:
        video: the video file.
        meta: its manifest facts (:class:`VideoMeta`).
        settings: the run's ``faces`` settings.
        crop_folder: where the crop PNGs go (``<frame:06d>.png``; fakes' crops carry the
            synthetic tag as a PNG text chunk).
        crop_prefix: the same folder as stored in the manifest (relative to the run).
        manifest: the face manifest file to write (:data:`forgebench.schemas.FACES`), last.
        mask_folder, mask_prefix: where the mask crops go (``faces/masks/<method>/<video>/``,
            the crops' file names) and that folder relative to the run; needed when
            ``meta.mask`` names the video's mask video, whose sampled frames are cropped
            with each face's alignment (``mask_path`` of the rows).

    Returns:
        the ``faces/report.json`` entry: ``video``, ``video_bytes`` (its size, to know
        the entry is this file's), ``frames_sampled``, ``frames_with_face``, and ``error``
        when no sampled frame shows a face (then nothing is written and the video is left
        out; that entry is the unit's result, so the video is not searched again).

    Raises:
        MediaError: the video or its mask video cannot be decoded.
        ValueError: ``meta.mask`` is set without ``mask_folder``.
    """
    n_sampled, samples = sample_faces(video, settings, FaceAnalyzer(settings))
    report = {**_signature(video), "frames_sampled": n_sampled, "frames_with_face": len(samples)}
    if not samples:
        return {**report, "error": f"{video}: no face found in any of the {n_sampled} sampled frames"}
    masks = None
    if meta.mask:
        if mask_folder is None:
            raise ValueError(f"{video}: a video with a mask video needs the mask-crop folder")
        frames = dict(iter_masks(meta.mask, indices=[s.frame_index for s in samples]))
        masks = MaskCrops(Path(mask_folder), mask_prefix, frames)
    _write_samples(samples, meta, settings, crop_folder, crop_prefix, manifest, masks)
    return report


def frames_unit(
    frames: FrameSet,
    meta: VideoMeta,
    settings: FacesSettings,
    crop_folder: Path,
    crop_prefix: str,
    manifest: Path,
    mask_folder: Path | None = None,
    mask_prefix: str = "",
) -> dict[str, Any]:
    """:func:`faces_unit` for a video shipped as frame images (``frames.kind == "frames"``):
    ``faces.frames_per_video`` images sampled evenly, detected, aligned and cropped like
    video frames (:func:`forgebench.faces.sample_image_faces`), so a dataset's frames and
    another's videos share one crop procedure; a frame's mask image (``frames.masks``) is
    cropped with its face's alignment into ``mask_folder``.

    Returns:
        the ``faces/report.json`` entry (``video`` = the folder, ``frames_listed``,
        ``frames_sampled``, ``frames_with_face``, ``error`` when no face was found).

    Raises:
        MediaError: an image cannot be read.
    """
    n_sampled, samples = sample_image_faces(list(frames.frames), settings, FaceAnalyzer(settings))
    report = {**_signature(frames), "frames_sampled": n_sampled, "frames_with_face": len(samples)}
    if not samples:
        return {**report, "error": f"{frames.folder}: no face found in any of the {n_sampled} sampled frames"}
    mask_of = {frame_number(f, k): m for k, (f, m) in enumerate(zip(frames.frames, frames.masks)) if m}
    found = {s.frame_index: _mask_image(mask_of[s.frame_index]) for s in samples if s.frame_index in mask_of}
    if found and mask_folder is None:
        raise ValueError(f"{frames.folder}: frames with mask images need the mask-crop folder")
    masks = MaskCrops(Path(mask_folder), mask_prefix, found) if found else None
    _write_samples(samples, meta, settings, crop_folder, crop_prefix, manifest, masks)
    return report


def _mask_image(path: str) -> np.ndarray:
    """A dataset's mask image as ``(H, W)`` float32 in ``[0, 1]`` (first channel / 255)."""
    image = read_image(path)
    return (image[..., 0] if image.ndim == 3 else image).astype(np.float32) / np.float32(255.0)


def crops_unit(frames: FrameSet, meta: VideoMeta, settings: FacesSettings, manifest: Path) -> dict[str, Any]:
    """Face rows for aligned crops taken as they are (``frames.kind == "crops"``: e.g. the
    frames of a DeepfakeBench dataset JSON); the faces stage is skipped.

    Every listed crop is a row (``crop_path`` = the file itself, absolute; ``frame_index``
    from its name, :func:`forgebench.faces.frame_number`); its 68 landmarks come from its
    ``.npy`` when the dataset ships one, else from the face analyzer run on the crop (empty
    when it finds none); the crop is its own frame (``bbox`` the whole crop, identity
    ``matrix``), ``margin`` NaN (the dataset's crop procedure, recorded by the import).

    Returns:
        the ``faces/report.json`` entry (``video`` = the folder, ``frames_listed``,
        ``frames_sampled`` = ``frames_with_face`` = the crops, ``frames_landmarks``).

    Raises:
        MediaError: a crop cannot be read. DataError: a crop that is not square, or a
        landmark file that is not ``(68|81, 2)``.
    """
    analyzer = None
    rows, with_landmarks = [], 0
    for k, path in enumerate(frames.frames):
        image = read_image(path)
        h, w = image.shape[:2]
        if h != w:
            raise DataError(f"{path}: a face crop must be square, got {w}x{h}")
        lm_file = frames.landmarks[k] if k < len(frames.landmarks) else ""
        if lm_file:
            lm = np.load(lm_file, allow_pickle=False)
            if lm.ndim != 2 or lm.shape[1] != 2 or lm.shape[0] not in (68, 81):
                raise DataError(f"{lm_file}: landmarks must be (68, 2) or (81, 2), got {lm.shape}")
            lm = lm[:68].astype(np.float64)
        else:
            analyzer = analyzer or FaceAnalyzer(settings)
            face = analyzer.detect(image)
            lm = face.landmarks if face is not None else np.zeros((0, 2))
        with_landmarks += int(len(lm) == 68)
        rows.append(
            _row(
                meta,
                frame_number(path, k),
                [0.0, 0.0, float(w), float(h)],
                lm,
                lm,
                [1, 0, 0, 0, 1, 0],
                w,
                float("nan"),
                str(Path(path).absolute()),
                str(Path(frames.masks[k]).absolute()) if k < len(frames.masks) and frames.masks[k] else "",
            )
        )
    write_parquet(manifest, FACES.check(pd.DataFrame(rows), manifest))
    return {
        **_signature(frames),
        "frames_sampled": len(rows),
        "frames_with_face": len(rows),
        "frames_landmarks": with_landmarks,
    }


def _searched(entry: dict, source: Path | FrameSet) -> bool:
    """Whether a report entry says this very input was searched and holds no face."""
    try:
        return entry.get("frames_with_face") == 0 and all(entry.get(k) == v for k, v in _signature(source).items())
    except OSError:
        return False


def face_jobs(run: RunDir, jobs: list[tuple[Path | FrameSet, VideoMeta]], settings: FacesSettings) -> list[Unit]:
    """The faces units of ``(video or frame set, meta)`` jobs not done yet (:func:`faces_unit`,
    :func:`frames_unit`, :func:`crops_unit`): no face manifest, and not already found to hold
    no face (a video that failed to decode is tried again)."""
    report = run.faces.read_report()
    units = []
    for source, meta in jobs:
        manifest = run.faces.video_manifest(meta.method, meta.video_name)
        if manifest.is_file() or _searched(report.get(meta.video_id, {}), source):
            continue
        key = f"faces {meta.video_id}"
        if isinstance(source, FrameSet) and source.kind == "crops":
            units.append(Unit(key, crops_unit, (source, meta, settings, manifest)))
            continue
        folder = run.faces.crop_folder(meta.method, meta.video_name)
        masks = run.faces.mask_folder(meta.method, meta.video_name)
        fn = frames_unit if isinstance(source, FrameSet) else faces_unit
        units.append(
            Unit(
                key,
                fn,
                (
                    source if isinstance(source, FrameSet) else Path(source),
                    meta,
                    settings,
                    folder,
                    run.relative(folder),
                    manifest,
                    masks,
                    run.relative(masks),
                ),
            )
        )
    return units


def extract_faces(
    run: RunDir,
    jobs: list[tuple[Path | FrameSet, VideoMeta]],
    settings: FacesSettings,
    progress: bool = True,
    backend: Backend | None = None,
) -> list[str]:
    """Run the faces units of ``jobs`` (videos or frame sets, :func:`face_jobs`; finished ones
    skipped) on ``backend`` (default: in this process), record every input in
    ``faces/report.json``; returns the messages of the inputs left out."""
    meta_of = {f"faces {m.video_id}": (v, m) for v, m in jobs}
    outcomes = run_units(
        face_jobs(run, jobs, settings), "faces", progress, expected=(MediaError, NoFaceError), backend=backend
    )
    entries, errors = {}, []
    for o in outcomes:
        source, meta = meta_of[o.key]
        where = source.folder if isinstance(source, FrameSet) else source
        entries[meta.video_id] = o.value if o.ok else {"video": str(where), "error": str(o.error)}
        if "error" in entries[meta.video_id]:
            errors.append(entries[meta.video_id]["error"])
    run.faces.update_report(entries)
    return errors


def _real_rows(
    run: RunDir, config: Config, inputs: pd.DataFrame, progress: bool, backend: Backend
) -> list[dict[str, Any]]:
    """Rows of ``faces/videos.parquet`` (without ``split``) for the input videos
    (:func:`forgebench.stages.common.input_table`), each re-encoded with the fakes' codec
    settings (failures recorded in the report and left out)."""
    comp = config.data.compression
    records = inputs.to_dict("records")
    units = [
        Unit(
            f"re-encode {r['video_name']}",
            reencode_unit,
            (Path(r["path"]), run.faces.real_video(comp, r["video_name"]), config.data.crf, config.data.max_seconds),
        )
        for r in records
    ]
    rows, failed = [], {}
    for r, o in zip(records, run_units(units, f"re-encode {comp}", progress, expected=(MediaError,), backend=backend)):
        video = Path(r["path"])
        if not o.ok:
            failed[make_video_id(r["dataset"], "real", comp, r["video_name"])] = {
                "video": str(video),
                "error": str(o.error),
            }
            log(f"skipped {video}: {o.error}")
            continue
        real = run.faces.real_video(comp, r["video_name"])
        rows.append(
            {
                "video_name": r["video_name"],
                "identity": r["identity"],
                "input_path": str(video.resolve()),
                "real_path": run.relative(real),
                **o.value,
            }
        )
    run.faces.update_report(failed)
    return rows


def with_video_ids(table: pd.DataFrame) -> pd.DataFrame:
    """A dataset table (:data:`forgebench.datasets.VIDEO_COLUMNS`) with its unique ``video_id`` first."""
    ids = [
        make_video_id(*parts)
        for parts in zip(table["dataset"], table["method"], table["compression"], table["video_name"])
    ]
    return table.assign(video_id=ids)[["video_id", *table.columns]]


def settle_splits(
    run: RunDir, config: Config, listed: pd.DataFrame, progress: bool = True, backend: Backend | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Check the identities of the listed real videos and give every listed video its split.

    Videos whose faces were not extracted (no face found, not decodable: see
    ``faces/report.json``) are left out. The identity check
    (:func:`forgebench.identities.check_identities`) runs on the real videos with faces and
    is written to ``faces/identity_check.json`` with its one-line summary logged; with
    ``splits.identity: merge_likely`` and no official split, each cluster of likely
    same-person labels becomes one identity; then :func:`forgebench.splits.resolve_splits`
    (official splits followed as published, else assigned by person). Writes
    ``faces/dataset_index.parquet``.

    Args:
        run, config: the run and its config (``splits``, ``seed``, ``device``).
        listed: the listed videos: :func:`with_video_ids` of a dataset table.
        progress, backend: bars and where the embedding units run.

    Returns:
        ``(index, facts)``: the dataset index (:data:`forgebench.schemas.DATASET_INDEX`) and
        the split facts of :func:`~forgebench.splits.resolve_splits` with ``identity_check``
        (its summary line).

    Raises:
        DataError: too few people for the splits, or videos without a split beside others with one.
    """
    # imported here, not at the top: the identity check needs ArcFace (torch) and scikit-learn,
    # seconds of imports that the face units, which run in worker processes, do not need
    from forgebench.identities import check_identities, identity_document, merge_map

    listed = listed.reset_index(drop=True)
    has = pd.Series(
        [run.faces.video_manifest(m, v).is_file() for m, v in zip(listed["method"], listed["video_name"])], dtype=bool
    )
    reals = listed[has & (listed["label"] == 0)]
    faces = [run.faces.read_video_manifest(m, v) for m, v in zip(reals["method"], reals["video_name"])]
    real = pd.concat(faces, ignore_index=True) if faces else FACES.empty()
    real = real.assign(crop_path=[str(run.resolve(p)) for p in real["crop_path"]])
    check = check_identities(
        real, config.splits, progress, backend, cache=run.faces.identity_embeddings_file, device=config.device
    )
    official = bool((listed["split"] != "").any())
    merge = merge_map(check) if config.splits.identity == "merge_likely" and not official else {}
    write_json(run.faces.identity_check_file, identity_document(check, None, config.splits.identity, bool(merge)))
    resolved, facts = resolve_splits(listed[has], config.splits.ratio, config.seed, config.splits.min_per_split, merge)
    missing = listed[~has].assign(
        identity_label=listed.loc[~has, "identity"],
        split="",
        status="left out: no face found or not decodable (faces/report.json)",
    )
    index = pd.concat([resolved.drop(columns=["person"]), missing], ignore_index=True)
    index = index.sort_values("video_id", kind="stable", ignore_index=True)
    facts["left_out"]["no face found or not decodable"] = int((~has).sum())
    kept = index[(index["status"] == "kept") & (index["label"] == 0)]
    doc = identity_document(
        check, dict(zip(kept["identity_label"], kept["split"])), config.splits.identity, bool(merge)
    )
    write_json(run.faces.identity_check_file, doc)
    run.faces.write_dataset_index(index)
    log(doc["summary"] + f" ({run.faces.identity_check_file})")
    facts["identity_check"] = doc["summary"]
    return index, facts


def fake_jobs(run: RunDir, config: Config) -> list[tuple[Path, VideoMeta]]:
    """``(video, meta)`` of every fake listed in the fakes manifests (none before the
    generate stage)."""
    if not run.fakes.methods():
        return []
    dataset, comp = dataset_name(config), config.data.compression
    fakes = run.fakes.read()
    return [
        (
            run.resolve(r["path"]),
            VideoMeta(
                dataset,
                r["method"],
                comp,
                r["video_name"],
                1,
                r["target"],
                r["source"],
                r["driving"],
                mask=str(run.resolve(r["mask_path"])) if r["mask_path"] else "",
            ),
        )
        for r in fakes.to_dict("records")
    ]


def extract(run: RunDir, config: Config, progress: bool = True) -> None:
    """The extract stage (module docstring).

    Raises:
        DataError: no input video, two inputs with one identity stem, a malformed
            ``identities.csv``, or too few identities with a face for the splits (the
            message names the folder).
        MediaError: the input folder does not exist or holds no video.
    """
    with stage_progress("extract", progress):
        start = time.time()
        backend = backend_for(config.execution)
        dataset, comp = dataset_name(config), config.data.compression
        first = not run.faces.videos_file.is_file()
        inputs = input_table(config) if first else None
        rows = (
            _real_rows(run, config, inputs, progress, backend)
            if first
            else run.faces.read_videos().drop(columns=["split"]).to_dict("records")
        )
        jobs = [
            (run.resolve(r["real_path"]), VideoMeta(dataset, "real", comp, r["video_name"], 0, r["identity"]))
            for r in rows
        ]
        errors = extract_faces(run, jobs + fake_jobs(run, config), config.faces, progress, backend)
        for e in errors:
            log(f"left out: {e}")
        facts: dict[str, Any] = run.stage_facts("extract").get("splits", {})
        if first:
            encoded = {r["video_name"] for r in rows}
            listed = with_video_ids(inputs[inputs["video_name"].isin(encoded)])
            try:
                index, facts = settle_splits(run, config, listed, progress, backend)
            except DataError as exc:
                where = config.data.videos or "the sample clips"
                n_faces = sum(run.faces.video_manifest("real", r["video_name"]).is_file() for r in rows)
                raise DataError(
                    f"{where}: {exc} ({len(rows)} videos, {n_faces} with a face; see {run.faces.report_file})"
                ) from None
            kept = index[index["status"] == "kept"].set_index("video_name")
            table = pd.DataFrame([r for r in rows if r["video_name"] in kept.index])
            table["identity"] = table["video_name"].map(kept["identity"])
            table["split"] = table["video_name"].map(kept["split"])
            run.faces.write_videos(table)
        faces = run.faces.collect()
        run.faces.write_manifest(faces)
        counts = faces.groupby("method").agg(videos=("video_id", "nunique"), faces=("video_id", "size"))
        log(f"faces: {counts.to_dict('index')}; report in {run.faces.report_file}")
        update_provenance(run, config, "extract", time.time() - start, {"splits": facts} if facts else None)


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
