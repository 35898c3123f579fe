"""Faces of one video: sample frames evenly, detect, align and crop the largest face.

Real and fake videos go through exactly this function with the same settings (the extract
stage, :mod:`forgebench.stages.extract`, calls it for both), so a detector cannot learn a
preprocessing difference instead of the forgery. It reads one video and returns arrays;
writing crops and manifests is the stage's job.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from forgebench.config import FacesSettings
from forgebench.errors import DataError
from forgebench.faces.align import warp_crop
from forgebench.faces.analyzer import Face, FaceAnalyzer
from forgebench.media import iter_frames, probe, read_frames, read_image, sample_indices

__all__ = ["FaceSample", "sample_faces", "sample_image_faces", "frame_number", "crops_at"]


@dataclass
class FaceSample:
    """One sampled frame with a face.

    Attributes:
        frame_index: 0-based index of the frame in the video.
        face: the largest face found (:class:`~forgebench.faces.Face`: box, 68 landmarks,
            frame -> crop matrix).
        crop: ``(S, S, 3)`` uint8 RGB aligned crop (``S`` = ``faces.crop_size``).
    """

    frame_index: int
    face: Face
    crop: np.ndarray


def sample_faces(
    video: str | os.PathLike,
    settings: FacesSettings,
    analyzer: FaceAnalyzer | None = None,
    progress: bool = False,
) -> tuple[int, list[FaceSample]]:
    """Faces of ``settings.frames_per_video`` frames sampled evenly over the video
    (:func:`forgebench.media.sample_indices`). Each frame is detected afresh (the frames
    are far apart), at the scale the previous face's width allows
    (:meth:`~forgebench.faces.analyzer.FaceAnalyzer.detection_scale`).

    Args:
        video: the video file.
        settings: the run's ``faces`` settings (sampling, detector, landmarks, crop size
            and margin).
        analyzer: a :class:`FaceAnalyzer` of these settings, to reuse its models across
            videos (``None`` = made here).
        progress: show a tqdm bar (off by default: the stage shows one bar over videos).

    Returns:
        ``(n_sampled, samples)``: frames sampled, and one :class:`FaceSample` per sampled
        frame where a face was found (none for frames without a face), in frame order.

    Raises:
        MediaError: the video cannot be decoded (the message names the file).
    """
    video = Path(video)
    analyzer = analyzer or FaceAnalyzer(settings)
    indices = sample_indices(probe(video).n_frames, settings.frames_per_video)
    samples = []
    frames = iter_frames(video, indices=indices)
    face_side = None  # the last face's width: the next frame is detected at the scale it needs
    for index, frame in tqdm(frames, total=len(indices), desc=f"faces {video.name}", disable=not progress, leave=False):
        face = analyzer.detect(frame, face_side=face_side)
        if face is not None:
            samples.append(FaceSample(int(index), face, face.crop(frame)))
            face_side = float(face.bbox[2] - face.bbox[0])
    return len(indices), samples


def frame_number(path: str | os.PathLike, position: int) -> int:
    """The frame index of an image of a frame folder: its file stem when that is a number
    (``012.png`` -> 12, as datasets of frames name them), else its position in the folder."""
    stem = Path(path).stem
    return int(stem) if stem.isdigit() else int(position)


def sample_image_faces(
    frames: list[str | os.PathLike],
    settings: FacesSettings,
    analyzer: FaceAnalyzer | None = None,
) -> tuple[int, list[FaceSample]]:
    """:func:`sample_faces` for a folder of frame images (datasets shipped as frames, e.g.
    DF40): ``settings.frames_per_video`` images sampled evenly from ``frames`` (in frame
    order), each detected, aligned and cropped exactly like a video frame.

    Args:
        frames: the image files in frame order.
        settings, analyzer: as :func:`sample_faces`.

    Returns:
        ``(n_sampled, samples)``; a sample's ``frame_index`` is :func:`frame_number` of its file.

    Raises:
        MediaError: an image cannot be read (the message names it).
    """
    analyzer = analyzer or FaceAnalyzer(settings)
    indices = sample_indices(len(frames), settings.frames_per_video)
    samples = []
    face_side = None
    for k in indices:
        image = read_image(frames[k])
        face = analyzer.detect(image, face_side=face_side)
        if face is not None:
            samples.append(FaceSample(frame_number(frames[k], k), face, face.crop(image)))
            face_side = float(face.bbox[2] - face.bbox[0])
    return len(indices), samples


def crops_at(video: str | os.PathLike, frame_indices: list[int], matrices: list, crop_size: int) -> list[np.ndarray]:
    """Aligned crops of ``video`` at known alignments (no detection): frame
    ``frame_indices[k]`` warped with the stored frame -> crop affine ``matrices[k]`` (6
    floats, row major) to ``(crop_size, crop_size, 3)`` uint8 RGB. Used to crop a
    re-encoded copy of a video exactly where the faces stage cropped the original.

    Raises:
        MediaError: the video cannot be decoded.
        DataError: a frame index is past the end of the video.
    """
    frames = read_frames(video, sorted(set(int(i) for i in frame_indices)))
    out = []
    for index, matrix in zip(frame_indices, matrices):
        if int(index) not in frames:
            raise DataError(f"{video}: has no frame {int(index)} (the face manifest needs it)")
        out.append(warp_crop(frames[int(index)], np.asarray(matrix, dtype=np.float64).reshape(2, 3), int(crop_size)))
    return out
