"""The extract stage's units of work (:mod:`forgebench.stages.extract` lists them, skips the
finished ones and collects their results):

- :func:`reencode_unit`: one real input video re-encoded with the fakes' codec settings;
- :func:`faces_unit`: one video's faces (crop PNGs and mask crops written, face manifest
  rows returned);
- :func:`frames_unit`: the same for a video shipped as frame images;
- :func:`crops_unit`: face rows for a dataset's aligned crops taken as they are.

Worker processes import this module to run them, so it imports neither pandas nor torch
(:data:`forgebench.stages.WORKER_MODULES`), and a worker is ready sooner (docs/speed.md). A
faces unit returns its manifest rows (:class:`FaceRows`) and the stage's process writes the
video's face manifest as the unit finishes (:func:`forgebench.stages.extract.extract_faces`):
pyarrow imports pandas when it builds its first table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from forgebench.config import FacesSettings
from forgebench.errors import DataError
from forgebench.faces import FaceAnalyzer, FaceSample, frame_number, sample_faces, sample_image_faces
from forgebench.media import iter_masks, probe, read_image, reencode, synthetic_tag, write_png
from forgebench.schemas import make_video_id

__all__ = [
    "VideoMeta",
    "FrameSet",
    "FaceRows",
    "MaskCrops",
    "crop_name",
    "input_signature",
    "mask_crop",
    "reencode_unit",
    "faces_unit",
    "frames_unit",
    "crops_unit",
]


def crop_name(frame_index: int) -> str:
    """File name of a frame's face crop (and of its mask crop) in a video's crop folder
    (:meth:`forgebench.rundir.FaceFiles.crop_folder`): ``<frame:06d>.png``."""
    return f"{int(frame_index):06d}.png"


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


def input_signature(source: Path | FrameSet) -> dict[str, Any]:
    """What tells a report entry is this very input: a video's size, a frame set's folder and count."""
    if isinstance(source, FrameSet):
        return {"video": str(source.folder), "frames_listed": len(source.frames)}
    return {"video": str(source), "video_bytes": Path(source).stat().st_size}


@dataclass(frozen=True)
class FaceRows:
    """What a faces unit gives the stage.

    Attributes:
        entry: the video's ``faces/report.json`` entry: ``video`` (the file, or a frame
            set's folder), ``video_bytes`` or ``frames_listed`` (to know the entry is this
            input's), ``frames_sampled``, ``frames_with_face``, and ``error`` when no
            sampled frame shows a face.
        rows: its face manifest rows (:data:`forgebench.schemas.FACES`, one dict per face,
            the columns in order), which the stage writes as the video's face manifest
            unless ``entry`` holds ``error`` (no face found: the video is left out).
    """

    entry: dict[str, Any]
    rows: list[dict[str, Any]]


def _write_samples(
    samples: list[FaceSample],
    meta: VideoMeta,
    settings: FacesSettings,
    crop_folder: Path,
    crop_prefix: str,
    masks: MaskCrops | None = None,
) -> list[dict[str, Any]]:
    """Write the crops of ``samples`` (fakes' with the synthetic tag) and their mask crops
    where ``masks`` has the frame (grey PNG, warped with the crop's alignment, same file
    name); returns their face manifest rows."""
    text = synthetic_tag(meta.method, video=meta.video_name) if meta.label == 1 else None
    rows = []
    for s in samples:
        name = crop_name(s.frame_index)
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
    return rows


@dataclass(frozen=True)
class MaskCrops:
    """Where a video's mask crops go and what they are cropped from.

    Attributes:
        folder: the mask-crop folder (:meth:`forgebench.rundir.FaceFiles.mask_folder`, ``faces/masks/<method>/<video>``).
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
    mask_folder: Path | None = None,
    mask_prefix: str = "",
) -> FaceRows:
    """Extract one video's faces (:func:`forgebench.faces.sample_faces`) and write their crops.

    Args:
        video: the video file.
        meta: its manifest facts (:class:`VideoMeta`).
        settings: the run's ``faces`` settings.
        crop_folder: where the crop PNGs go (``<frame:06d>.png``; fakes' crops carry the
            synthetic tag as a PNG text chunk).
        crop_prefix: the same folder as stored in the manifest (relative to the run).
        mask_folder, mask_prefix: where the mask crops go (``faces/masks/<method>/<video>/``,
            the crops' file names) and that folder relative to the run; needed when
            ``meta.mask`` names the video's mask video, whose sampled frames are cropped
            with each face's alignment (``mask_path`` of the rows).

    Returns:
        the report entry and the face manifest rows (:class:`FaceRows`); with no face in
        any sampled frame, nothing is written, the rows are empty and the entry holds
        ``error`` (the stage records it, so the video is not searched again).

    Raises:
        MediaError: the video or its mask video cannot be decoded.
        ValueError: ``meta.mask`` is set without ``mask_folder``.
    """
    n_sampled, samples = sample_faces(video, settings, FaceAnalyzer(settings))
    report = {**input_signature(video), "frames_sampled": n_sampled, "frames_with_face": len(samples)}
    if not samples:
        return FaceRows({**report, "error": f"{video}: no face found in any of the {n_sampled} sampled frames"}, [])
    masks = None
    if meta.mask:
        if mask_folder is None:
            raise ValueError(f"{video}: a video with a mask video needs the mask-crop folder")
        frames = dict(iter_masks(meta.mask, indices=[s.frame_index for s in samples]))
        masks = MaskCrops(Path(mask_folder), mask_prefix, frames)
    return FaceRows(report, _write_samples(samples, meta, settings, crop_folder, crop_prefix, masks))


def frames_unit(
    frames: FrameSet,
    meta: VideoMeta,
    settings: FacesSettings,
    crop_folder: Path,
    crop_prefix: str,
    mask_folder: Path | None = None,
    mask_prefix: str = "",
) -> FaceRows:
    """:func:`faces_unit` for a video shipped as frame images (``frames.kind == "frames"``):
    ``faces.frames_per_video`` images sampled evenly, detected, aligned and cropped like
    video frames (:func:`forgebench.faces.sample_image_faces`), so a dataset's frames and
    another's videos share one crop procedure; a frame's mask image (``frames.masks``) is
    cropped with its face's alignment into ``mask_folder``.

    Returns:
        :class:`FaceRows`: the report entry (``video`` = the folder, ``frames_listed``,
        ``frames_sampled``, ``frames_with_face``, ``error`` when no face was found) and the rows.

    Raises:
        MediaError: an image cannot be read.
    """
    n_sampled, samples = sample_image_faces(list(frames.frames), settings, FaceAnalyzer(settings))
    report = {**input_signature(frames), "frames_sampled": n_sampled, "frames_with_face": len(samples)}
    if not samples:
        return FaceRows(
            {**report, "error": f"{frames.folder}: no face found in any of the {n_sampled} sampled frames"}, []
        )
    mask_of = {frame_number(f, k): m for k, (f, m) in enumerate(zip(frames.frames, frames.masks)) if m}
    found = {s.frame_index: _mask_image(mask_of[s.frame_index]) for s in samples if s.frame_index in mask_of}
    if found and mask_folder is None:
        raise ValueError(f"{frames.folder}: frames with mask images need the mask-crop folder")
    masks = MaskCrops(Path(mask_folder), mask_prefix, found) if found else None
    return FaceRows(report, _write_samples(samples, meta, settings, crop_folder, crop_prefix, masks))


def _mask_image(path: str) -> np.ndarray:
    """A dataset's mask image as ``(H, W)`` float32 in ``[0, 1]`` (first channel / 255)."""
    image = read_image(path)
    return (image[..., 0] if image.ndim == 3 else image).astype(np.float32) / np.float32(255.0)


def crops_unit(frames: FrameSet, meta: VideoMeta, settings: FacesSettings) -> FaceRows:
    """Face rows for aligned crops taken as they are (``frames.kind == "crops"``: e.g. the
    frames of a DeepfakeBench dataset JSON); the faces stage is skipped.

    Every listed crop is a row (``crop_path`` = the file itself, absolute; ``frame_index``
    from its name, :func:`forgebench.faces.frame_number`); its 68 landmarks come from its
    ``.npy`` when the dataset ships one, else from the face analyzer run on the crop (empty
    when it finds none); the crop is its own frame (``bbox`` the whole crop, identity
    ``matrix``), ``margin`` NaN (the dataset's crop procedure, recorded by the import).

    Returns:
        :class:`FaceRows`: the report entry (``video`` = the folder, ``frames_listed``,
        ``frames_sampled`` = ``frames_with_face`` = the crops, ``frames_landmarks``) and a
        row per crop.

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
    entry = {
        **input_signature(frames),
        "frames_sampled": len(rows),
        "frames_with_face": len(rows),
        "frames_landmarks": with_landmarks,
    }
    return FaceRows(entry, rows)
