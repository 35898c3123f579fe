"""The per-frame conversion loop and the plain records a conversion gives back.

A generator converts a target video into a fake video: it reads a :class:`VideoInput`,
writes the :class:`VideoOutput` it is told to (H.264 through
:class:`forgebench.media.VideoWriter`, atomically, with the synthetic-content tag as
container metadata) and returns one :class:`FrameRecord` per written frame, which the
generate stage stores as the fake's frames table (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from forgebench.faces import FaceTracker
from forgebench.media import VideoWriter, iter_frames, probe

__all__ = ["VideoInput", "VideoOutput", "FrameRecord", "convert_frames"]


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
    """

    path: Path
    crf: int = 23
    metadata: dict[str, str] | None = None

    def writer(self, fps: float) -> VideoWriter:
        """A :class:`~forgebench.media.VideoWriter` for this output at ``fps``."""
        return VideoWriter(self.path, fps=fps, crf=int(self.crf), metadata=self.metadata)


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
    convert: Callable[
        [list[np.ndarray], list[Any], list[int]], list[np.ndarray] | tuple[list[np.ndarray], list[np.ndarray]]
    ],
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
    (unchanged when it has no face) at the target's frame rate and size.

    ``convert`` returns the converted frames, or, for a reenactment, ``(frames, drawn)``
    with ``drawn`` the ``(68, 2)`` frame-pixel landmarks each face was drawn to (kept as
    the records' ``driving_landmarks``).

    Returns:
        one :class:`FrameRecord` per written frame.

    Raises:
        MediaError: the target video cannot be decoded.
    """
    info = probe(target.path)
    total = info.n_frames if target.max_frames is None else min(info.n_frames, int(target.max_frames))
    tracker = FaceTracker(analyzer)
    records: list[FrameRecord] = []
    pending: list[tuple[int, np.ndarray, Any]] = []

    def flush(writer) -> None:
        with_face = [k for k, (_, _, face) in enumerate(pending) if face is not None]
        converted, drawn = [], []
        if with_face:
            converted = convert(
                [pending[k][1] for k in with_face],
                [pending[k][2] for k in with_face],
                [pending[k][0] for k in with_face],
            )
            if isinstance(converted, tuple):
                converted, drawn = converted
        out = dict(zip(with_face, converted))
        drawn_of = dict(zip(with_face, drawn))
        for k, (index, frame, face) in enumerate(pending):
            writer.write(out.get(k, frame))
            records.append(FrameRecord.of(index, face, drawn_of.get(k)))
        pending.clear()

    with output.writer(info.fps) as writer:
        frames = iter_frames(target.path, max_frames=target.max_frames)
        for index, frame in tqdm(frames, total=total, desc=desc, unit="frame", disable=None if progress else True):
            pending.append((index, frame, tracker(frame)))
            if len(pending) >= batch_size:
                flush(writer)
        flush(writer)
    return records
