"""The per-frame conversion loop and the plain records a conversion gives back.

A generator converts a target video into a fake video: it reads a :class:`VideoInput`,
writes the :class:`VideoOutput` it is told to (H.264 through
:class:`forgebench.media.VideoWriter`, atomically, with the synthetic-content tag as
container metadata) and, when the output names one, the fake's manipulation mask video
(:class:`forgebench.media.MaskWriter`, lossless: the blending mask each frame was pasted
with, 0 where the target frame is unchanged), and returns one :class:`FrameRecord` per
written frame, which the generate stage stores as the fake's frames table
(docs/architecture.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from forgebench.faces import FaceTracker
from forgebench.media import MaskWriter, VideoWriter, iter_frames, probe

__all__ = ["VideoInput", "VideoOutput", "FrameRecord", "ConvertedBatch", "convert_frames"]


@dataclass(frozen=True)
class VideoInput:
    """The target of a fake: the real video whose frames are shown.

    Attributes:
        path: the video file (the original input video of the target identity).
        identity: the target identity (the identity shown).
        max_frames: convert at most this many frames from the start (duration cap);
            ``None`` = all.
    """

    path: Path
    identity: str
    max_frames: int | None = None


@dataclass(frozen=True)
class VideoOutput:
    """Where and how a fake video is written.

    Attributes:
        path: the ``.mp4`` to write (atomically).
        crf: x264 constant rate factor (23 = FaceForensics++ c23); the run's ``data.crf``.
        metadata: container metadata (:func:`forgebench.media.synthetic_tag`).
        mask_path: the fake's mask video (``fakes/<method>/masks/<name>.mp4``, the
            FaceForensics++ masks layout), written losslessly beside the fake with the same
            frames; ``None`` = no mask video.
    """

    path: Path
    crf: int = 23
    metadata: dict[str, str] | None = None
    mask_path: Path | None = None

    def writer(self, fps: float) -> VideoWriter:
        """A :class:`~forgebench.media.VideoWriter` for this output at ``fps``."""
        return VideoWriter(self.path, fps=fps, crf=int(self.crf), metadata=self.metadata)

    def mask_writer(self, fps: float) -> MaskWriter | None:
        """A :class:`~forgebench.media.MaskWriter` for :attr:`mask_path` at ``fps`` (the same
        metadata tag), or ``None`` when no mask video is wanted."""
        if self.mask_path is None:
            return None
        return MaskWriter(self.mask_path, fps=fps, metadata=self.metadata)

    @contextlib.contextmanager
    def open(self, fps: float) -> Iterator[tuple[VideoWriter, MaskWriter | None]]:
        """``with output.open(fps) as (writer, masks):`` the fake's writer and its mask
        writer (``None`` without :attr:`mask_path`); on a clean exit the fake, then its mask
        video, get their final names; on an error both partial files are deleted."""
        with contextlib.ExitStack() as stack:
            masks = self.mask_writer(fps)
            if masks is not None:
                stack.enter_context(masks)
            yield stack.enter_context(self.writer(fps)), masks


@dataclass(frozen=True)
class ConvertedBatch:
    """What a generator's conversion of a batch of frames gives back.

    Attributes:
        frames: the converted ``(H, W, 3)`` uint8 RGB frames, one per input frame.
        masks: the ``(H, W)`` float32 blending masks in ``[0, 1]`` they were pasted with
            (the share of each pixel taken from the generated face; 0 = the target's pixel).
        drawn: for a reenactment, the ``(68, 2)`` frame-pixel landmarks each face was drawn
            to (the records' ``driving_landmarks``); empty for swaps.
    """

    frames: list[np.ndarray]
    masks: list[np.ndarray]
    drawn: list[np.ndarray] = field(default_factory=list)


def _floats(values: Any) -> np.ndarray:
    return np.asarray(values, np.float64).reshape(-1)


@dataclass(frozen=True)
class FrameRecord:
    """What a generator did to one written frame.

    Attributes:
        frame_index: index of the frame in the fake (and in the target for swaps).
        landmarks: ``(136,)`` float64 target landmarks in frame pixels (x0 y0 x1 y1 ...),
            ``None`` when no face was found (the frame was written unchanged).
        matrix: ``(6,)`` float64 frame -> aligned crop affine (row major) of that face.
        driving_landmarks: ``(136,)`` float64 frame pixels: the landmarks a reenactment
            drew the face to (retargeted driving landmarks); ``None`` for swaps, whose
            expression is the target's own.
    """

    frame_index: int
    landmarks: np.ndarray | None = None
    matrix: np.ndarray | None = None
    driving_landmarks: np.ndarray | None = None

    @classmethod
    def of(cls, frame_index: int, face: Any | None, driving_landmarks: np.ndarray | None = None) -> FrameRecord:
        """The record of a frame whose face ``face`` (a :class:`~forgebench.faces.Face`,
        or ``None``) was converted, drawn to ``driving_landmarks`` (``(68, 2)`` frame pixels)."""
        if face is None:
            return cls(int(frame_index))
        drawn = None if driving_landmarks is None else _floats(driving_landmarks)
        return cls(int(frame_index), _floats(face.landmarks), _floats(face.matrix), drawn)

    @property
    def has_face(self) -> bool:
        """A target face was found and replaced in this frame."""
        return self.landmarks is not None


def convert_frames(
    target: VideoInput,
    output: VideoOutput,
    analyzer,
    convert: Callable[[list[np.ndarray], list[Any], list[int]], ConvertedBatch],
    batch_size: int = 16,
    desc: str = "convert",
    progress: bool = True,
) -> list[FrameRecord]:
    """The per-frame loop of every generator that converts a target video frame by frame:
    decode every frame of the target (up to ``target.max_frames``), follow its face
    (:class:`forgebench.faces.FaceTracker`: the detector every few frames, landmarks
    refitted in between), replace the faces of ``batch_size`` frames at a time with
    ``convert(frames, faces, indices)`` (lists of ``(H, W, 3)`` uint8 RGB frames, their
    faces and frame indices; so a network runs on a batch), and write every frame
    (unchanged when it has no face) at the target's frame rate and size, with its mask
    (all 0 when it has no face) to ``output.mask_path`` when set.

    ``convert`` returns a :class:`ConvertedBatch`: the converted frames, their blending
    masks and, for a reenactment, the ``(68, 2)`` frame-pixel landmarks each face was drawn
    to (kept as the records' ``driving_landmarks``).

    Returns:
        one :class:`FrameRecord` per written frame.

    Raises:
        MediaError: the target video cannot be decoded.
        ValueError: ``convert`` gave back another number of frames or masks than it got.
    """
    info = probe(target.path)
    total = info.n_frames if target.max_frames is None else min(info.n_frames, int(target.max_frames))
    tracker = FaceTracker(analyzer)
    records: list[FrameRecord] = []
    pending: list[tuple[int, np.ndarray, Any]] = []

    def flush(writer, mask_writer) -> None:
        with_face = [k for k, (_, _, face) in enumerate(pending) if face is not None]
        batch = ConvertedBatch([], [])
        if with_face:
            batch = convert(
                [pending[k][1] for k in with_face],
                [pending[k][2] for k in with_face],
                [pending[k][0] for k in with_face],
            )
            if len(batch.frames) != len(with_face) or len(batch.masks) != len(with_face):
                raise ValueError(
                    f"{desc}: conversion gave {len(batch.frames)} frames and {len(batch.masks)} masks "
                    f"for {len(with_face)} faces"
                )
        out = dict(zip(with_face, batch.frames))
        masks = dict(zip(with_face, batch.masks))
        drawn_of = dict(zip(with_face, batch.drawn))
        for k, (index, frame, face) in enumerate(pending):
            writer.write(out.get(k, frame))
            if mask_writer is not None:
                mask_writer.write(masks[k] if k in masks else np.zeros(frame.shape[:2], np.float32))
            records.append(FrameRecord.of(index, face, drawn_of.get(k)))
        pending.clear()

    with output.open(info.fps) as (writer, mask_writer):
        frames = iter_frames(target.path, max_frames=target.max_frames)
        for index, frame in tqdm(frames, total=total, desc=desc, unit="frame", disable=None if progress else True):
            pending.append((index, frame, tracker(frame)))
            if len(pending) >= batch_size:
                flush(writer, mask_writer)
        flush(writer, mask_writer)
    return records
