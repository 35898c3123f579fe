"""The driving side of reenactment generators: the driving video a reenactment takes as
its own input (:class:`DrivingInput`), its faces tracked frame by frame through
:class:`forgebench.faces.FaceAnalyzer` (:func:`track_driving`), and the time mapping from
the output video's frames to driving frames.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from forgebench.errors import DataError
from forgebench.faces import FaceTracker
from forgebench.media import iter_frames, probe


@dataclass(frozen=True)
class DrivingInput:
    """The motion of a reenactment: a video of the driving identity.

    Attributes:
        path: the video (the stage passes the driving identity's re-encoded,
            duration-capped real video).
        identity: the driving identity (whose head motion and expressions the fake shows).
    """

    path: Path
    identity: str


@dataclass
class DrivingTrack:
    """Faces of every frame of a driving video.

    Attributes:
        path: the video.
        fps: its frame rate (frames per second).
        landmarks_crop: ``(T, 68, 2)`` float64 aligned landmarks in crop pixels (the
            analyzer's crop size and margin); frames without a face hold the landmarks of
            the nearest frame with one.
        has_face: ``(T,)`` bool, a face was found in that frame.
        crops: ``T`` aligned ``(S, S, 3)`` uint8 crops when asked for (frames without a
            face get the nearest face's crop), else empty.
    """

    path: Path
    fps: float
    landmarks_crop: np.ndarray
    has_face: np.ndarray
    crops: list[np.ndarray] = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        """Number of frames ``T``."""
        return int(len(self.has_face))

    def mean_shape(self) -> np.ndarray:
        """``(68, 2)`` mean aligned landmarks over the frames with a face."""
        return self.landmarks_crop[self.has_face].mean(axis=0)

    def index_at(self, seconds: float) -> int:
        """Driving frame shown at time ``seconds`` of the output: the frame at that time,
        played back and forth (ping-pong) when the output is longer than the driving video,
        so the motion never jumps."""
        n = self.n_frames
        k = int(round(max(0.0, seconds) * self.fps))
        if n == 1:
            return 0
        period = 2 * (n - 1)
        k %= period
        return k if k < n else period - k


def track_driving(
    video: str | os.PathLike, analyzer, keep_crops: bool = False, progress: bool = True, max_frames: int | None = None
) -> DrivingTrack:
    """Follow and align the largest face through every frame of a driving video
    (:class:`forgebench.faces.FaceTracker`: the detector every few frames, the landmarks
    refitted in between).

    Args:
        video: the driving video (the pipeline passes the re-encoded, duration-capped
            real video of the driving identity).
        analyzer: a :class:`~forgebench.faces.FaceAnalyzer` (crop size and margin of the
            returned landmarks and crops).
        keep_crops: also keep the aligned crops (``fomm`` animates from them).
        progress: tqdm bar (only on a terminal).
        max_frames: read at most this many frames.

    Returns:
        the :class:`DrivingTrack`.

    Raises:
        MediaError: the video cannot be decoded.
        DataError: no face in any frame (the message names the video).
    """
    path = Path(video)
    info = probe(path)
    total = info.n_frames if max_frames is None else min(info.n_frames, int(max_frames))
    points, found, crops = [], [], []
    tracker = FaceTracker(analyzer)
    for _, frame in tqdm(
        iter_frames(path, max_frames=max_frames),
        total=total,
        desc=f"driving {path.stem}",
        unit="frame",
        disable=None if progress else True,
        leave=False,
    ):
        face = tracker(frame)
        found.append(face is not None)
        points.append(face.landmarks_crop if face is not None else np.full((68, 2), np.nan))
        if keep_crops:
            crops.append(face.crop(frame) if face is not None else None)
    has_face = np.array(found, dtype=bool)
    if not has_face.any():
        raise DataError(f"{path}: no face found in any frame of the driving video")
    with_face = np.flatnonzero(has_face)
    nearest = with_face[np.abs(np.arange(len(found))[:, None] - with_face[None]).argmin(axis=1)]
    landmarks = np.stack(points)[nearest]
    if keep_crops:
        crops = [crops[k] for k in nearest]
    return DrivingTrack(path, float(info.fps), landmarks, has_face, crops)
