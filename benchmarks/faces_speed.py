"""The faces stage against the DeepfakeBench face-extraction procedure, on the same clips:
frames per second of sampled frames turned into aligned crops, side by side.

    python benchmarks/faces_speed.py [--frames 32] [--workers 2] [--clips DIR]

DeepfakeBench's procedure (``preprocessing/preprocess.py`` of SCLBD/DeepfakeBench, as its
README runs it, one process), written here from its description: decode every frame with
OpenCV; on each of the sampled frames run dlib's HOG detector with upsampling 1 on the
full frame, take the largest face, fit the 68 landmarks, align with a 5-point similarity
transform (eye centres, nose tip, mouth corners) to a 256-px crop at margin 1.3, then run
the HOG detector and the landmarks again on the crop (its landmark file and mask).

forgebench's faces stage (:func:`forgebench.stages.extract.extract_faces`, the units of
the extract stage): PyAV decoding, HOG with upsampling 0 on the frame downscaled to
``faces.detect_max_side`` (640) or, once the video's face is known, to the scale where
it spans ``faces.detect_face_side`` (100) pixels, landmarks at full resolution,
alignment to the 68-point template, crops written as PNG (zlib level 1), on ``--workers``
worker processes of one thread each. Both process the same sampled frame indices of the six sample clips.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import cv2
import dlib
import numpy as np

from forgebench.config import FacesSettings
from forgebench.execution import LocalBackend, SerialBackend, cpu_count
from forgebench.faces import dlib_models
from forgebench.faces.align_util import similarity_matrix
from forgebench.media import probe, sample_indices
from forgebench.samples import fetch_clips
from forgebench.stages import RunDir
from forgebench.stages.extract import VideoMeta, extract_faces

#: ArcFace's 5-point template in a 112-px crop (eye centres, nose tip, mouth corners),
#: the reference DeepfakeBench aligns to, scaled to its output size and margin.
FIVE_POINTS_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """Eye centres, nose tip and mouth corners of 68 iBUG landmarks ``(68, 2)`` -> ``(5, 2)``."""
    return np.stack([landmarks[36:42].mean(0), landmarks[42:48].mean(0), landmarks[30], landmarks[48], landmarks[54]])


def dfb_align(frame: np.ndarray, landmarks: np.ndarray, size: int = 256, margin: float = 1.3) -> np.ndarray:
    """5-point similarity alignment to a ``size`` crop at ``margin`` (the template shrunk
    about the crop centre by the margin)."""
    dst = (FIVE_POINTS_112 / 112.0 - 0.5) / margin * size + size / 2.0
    return cv2.warpAffine(frame, similarity_matrix(five_points(landmarks), dst), (size, size), borderValue=0.0)


def dfb_procedure(clips: list[Path], frames_per_video: int) -> tuple[int, float]:
    """Run the DeepfakeBench procedure; returns ``(sampled frames, seconds)``."""
    detector, predictor = dlib.get_frontal_face_detector(), dlib_models.shape_predictor()

    def largest(img):
        faces = detector(img, 1)
        return max(faces, key=lambda r: r.width() * r.height()) if len(faces) else None

    def points(img, rect):
        return np.array([[p.x, p.y] for p in predictor(img, rect).parts()], np.float64)

    n, start = 0, time.perf_counter()
    for clip in clips:
        wanted = set(sample_indices(probe(clip).n_frames, frames_per_video))
        cap = cv2.VideoCapture(str(clip))
        index = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            if index in wanted:
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                n += 1
                rect = largest(rgb)
                if rect is not None:
                    crop = dfb_align(rgb, points(rgb, rect))
                    again = largest(crop)
                    if again is not None:
                        points(crop, again)
            index += 1
        cap.release()
    return n, time.perf_counter() - start


def forgebench_faces(clips: list[Path], frames_per_video: int, workers: int) -> tuple[int, float]:
    """Run the faces stage's units on the clips; returns ``(sampled frames, seconds)``."""
    settings = FacesSettings(frames_per_video=frames_per_video)
    backend = SerialBackend(1) if workers == 1 else LocalBackend(workers, threads=1)
    jobs = [(clip, VideoMeta("bench", "real", "c23", clip.stem, 0, clip.stem)) for clip in clips]
    with tempfile.TemporaryDirectory() as tmp:
        # Start the pool and load the dlib models in every worker outside the timing: both
        # live for the whole run.
        extract_faces(
            RunDir(Path(tmp) / "warm"),
            jobs[:workers],
            FacesSettings(frames_per_video=1),
            progress=False,
            backend=backend,
        )
        start = time.perf_counter()
        extract_faces(RunDir(Path(tmp) / "run"), jobs, settings, progress=False, backend=backend)
        seconds = time.perf_counter() - start
    backend.close()
    n = sum(min(frames_per_video, probe(c).n_frames) for c in clips)
    return n, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=32, help="frames sampled per clip")
    parser.add_argument("--workers", type=int, default=2, help="forgebench worker processes")
    parser.add_argument("--clips", type=Path, default=None, help="folder of clips (default: the six samples)")
    args = parser.parse_args()
    clips = sorted(args.clips.glob("*.mp4")) if args.clips else fetch_clips()
    print(
        f"{len(clips)} clips, {args.frames} sampled frames each; {cpu_count()} cores, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}, {platform.processor() or platform.machine()}"
    )
    n, s = dfb_procedure(clips, args.frames)
    dfb = n / s
    print(f"DeepfakeBench procedure (1 process):          {dfb:7.1f} frames/s ({n} frames in {s:.1f} s)")
    n, s = forgebench_faces(clips, args.frames, args.workers)
    ours = n / s
    print(
        f"forgebench faces stage ({args.workers} worker(s) x 1 thread): {ours:7.1f} frames/s ({n} frames in {s:.1f} s)"
    )
    print(f"speed-up: {ours / dfb:.1f}x; load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
