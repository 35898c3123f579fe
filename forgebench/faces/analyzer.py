"""Face detection, 68-point landmarks, alignment and crops for one frame at a time.

Generators, metrics and the extraction stage all get faces from here (a generator never
detects faces itself), so every stage sees the same crops for the same settings.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import dlib
import numpy as np

from forgebench.config import FacesSettings
from forgebench.errors import DataError
from forgebench.faces import dlib_models
from forgebench.faces.align import alignment_matrix, deepfakebench_matrix, transform_points, warp_crop
from forgebench.fileio import load_checkpoint
from forgebench.weights import WeightsUnavailable, resolve_weights


@dataclass
class Face:
    """One detected face in a frame.

    Attributes:
        bbox: ``(4,)`` float64 detector box ``x0, y0, x1, y1`` in frame pixels.
        landmarks: ``(68, 2)`` float64 iBUG points in frame pixels.
        matrix: ``(2, 3)`` float64 affine, frame pixels -> crop pixels.
        crop_size: side of the square crop in pixels.
        score: detector confidence (dlib's score; larger is more confident).
    """

    bbox: np.ndarray
    landmarks: np.ndarray
    matrix: np.ndarray
    crop_size: int
    score: float = 0.0

    @property
    def landmarks_crop(self) -> np.ndarray:
        """``(68, 2)`` landmarks in crop pixels."""
        return transform_points(self.landmarks, self.matrix)

    def crop(self, frame: np.ndarray) -> np.ndarray:
        """The aligned crop of ``frame`` ``(H, W, 3)`` uint8: ``(S, S, 3)`` uint8."""
        return warp_crop(frame, self.matrix, self.crop_size)


class FaceAnalyzer:
    """Detect the largest face in a frame, find its 68 landmarks, align and crop it.

    Detection: dlib HOG (default) or dlib's CNN (``faces.detector: cnn``), run on the
    frame downscaled so its longer side is at most ``detect_max_side`` pixels.
    Landmarks: dlib's 68-point regressor (default, works offline) or face-alignment's
    2D-FAN (``faces.landmarks: fan``; weights ``fan2d`` of :mod:`forgebench.weights`).
    Alignment: least-squares similarity to the canonical template
    (:mod:`forgebench.faces.align`), crop of ``crop_size`` pixels with ``margin``.

    Args:
        settings: the ``faces`` section of the config (defaults if omitted).

    Raises:
        DataError: ``landmarks: fan`` but face-alignment or its weights are missing.
    """

    def __init__(self, settings: FacesSettings | None = None) -> None:
        self.settings = settings or FacesSettings()
        self._detector = dlib_models.cnn_detector() if self.settings.detector == "cnn" else dlib_models.hog_detector()
        self._predictor = dlib_models.shape_predictor()
        self._fan = self._load_fan() if self.settings.landmarks == "fan" else None

    def _load_fan(self):
        """face-alignment's 2D-FAN-4 on the registry's ``fan2d`` weights (never downloads).

        Raises:
            DataError: face-alignment missing or too old, or the weights file unavailable
                (missing, wrong hash, unreadable, not a FAN-4 state_dict).
        """
        if importlib.util.find_spec("face_alignment") is None:
            raise DataError("faces.landmarks: fan needs the face-alignment package (pip install 'forgebench[fan]')")
        try:
            weights = resolve_weights("fan2d")
        except WeightsUnavailable as exc:
            raise DataError(
                f"faces.landmarks: fan needs face-alignment's 2D-FAN weights: {exc.reason}. "
                "Or set faces.landmarks: dlib, which works offline."
            ) from None
        import torch  # only the optional FAN backend needs torch (seconds to import); dlib does not

        device = "cuda" if torch.cuda.is_available() else "cpu"
        return _build_fan(weights.path, device)

    def detection_scale(self, frame_shape: tuple[int, ...], face_side: float | None = None) -> float:
        """Factor (<= 1) a frame of ``frame_shape`` ``(H, W, ...)`` is resized by before
        detection: its longer side down to ``detect_max_side``, and further, when the
        expected face width ``face_side`` (frame pixels) is known and
        ``detect_face_side`` > 0, so that such a face spans ``detect_face_side`` pixels."""
        scale = min(1.0, self.settings.detect_max_side / max(frame_shape[:2]))
        if face_side and self.settings.detect_face_side:
            scale = min(scale, self.settings.detect_face_side / float(face_side))
        return scale

    def detect_boxes(self, frame: np.ndarray, face_side: float | None = None) -> list[tuple[np.ndarray, float]]:
        """All face boxes in ``frame`` ``(H, W, 3)`` uint8 RGB, as ``(bbox (4,), score)``,
        bbox in frame pixels, detected at :meth:`detection_scale` (``face_side``: the
        expected face width in frame pixels, e.g. the previous frame's, or ``None``)."""
        h, w = frame.shape[:2]
        scale = self.detection_scale(frame.shape, face_side)
        small = (
            frame
            if scale == 1.0
            else cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        )
        boxes = []
        if self.settings.detector == "cnn":
            for det in self._detector(small, self.settings.upsample):
                r = det.rect
                boxes.append(
                    (np.array([r.left(), r.top(), r.right(), r.bottom()], float) / scale, float(det.confidence))
                )
        else:
            rects, scores, _ = self._detector.run(small, self.settings.upsample, 0.0)
            for r, s in zip(rects, scores):
                boxes.append((np.array([r.left(), r.top(), r.right(), r.bottom()], float) / scale, float(s)))
        return boxes

    def landmarks(self, frame: np.ndarray, bbox: np.ndarray) -> np.ndarray:
        """68 landmarks ``(68, 2)`` float64 (frame pixels) of the face in ``bbox``."""
        if self._fan is not None:
            # FAN crops around the dlib box itself (face-alignment's own detector is unused).
            pts = self._fan.get_landmarks_from_image(frame, detected_faces=[np.asarray(bbox, float)])
            return np.asarray(pts[0], dtype=np.float64)[:, :2]
        x0, y0, x1, y1 = (int(round(v)) for v in bbox)
        shape = self._predictor(frame, dlib.rectangle(x0, y0, x1, y1))
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)

    def detect(self, frame: np.ndarray, face_side: float | None = None) -> Face | None:
        """The largest face of ``frame`` ``(H, W, 3)`` uint8 RGB, aligned; ``None`` if no face.

        ``face_side``: expected face width in frame pixels (the same video's previous
        face), which lets the detector run on a smaller frame (:meth:`detection_scale`);
        when nothing is found there, the detector runs again at ``detect_max_side``.
        """
        boxes = self.detect_boxes(frame, face_side)
        if not boxes and face_side and self.detection_scale(frame.shape, face_side) < self.detection_scale(frame.shape):
            boxes = self.detect_boxes(frame)
        if not boxes:
            return None
        bbox, score = max(boxes, key=lambda b: (b[0][2] - b[0][0]) * (b[0][3] - b[0][1]))
        return self.face_from_landmarks(self.landmarks(frame, bbox), bbox=bbox, score=score)

    def face_from_landmarks(self, landmarks: np.ndarray, bbox: np.ndarray | None = None, score: float = 0.0) -> Face:
        """A :class:`Face` for known ``(68, 2)`` frame-pixel landmarks (e.g. retargeted ones),
        aligned as ``faces.alignment`` says."""
        landmarks = np.asarray(landmarks, dtype=np.float64)
        if bbox is None:
            bbox = np.concatenate([landmarks.min(axis=0), landmarks.max(axis=0)])
        align = deepfakebench_matrix if self.settings.alignment == "deepfakebench" else alignment_matrix
        matrix = align(landmarks, self.settings.crop_size, self.settings.margin)
        return Face(np.asarray(bbox, float), landmarks, matrix, self.settings.crop_size, score)

    def descriptor(self, frame: np.ndarray, face: Face) -> np.ndarray:
        """dlib's 128-d face descriptor (ResNet, Euclidean distance < 0.6 = same person on
        LFW) of ``face`` in ``frame``; ``(128,)`` float64, unit-free, norm about 1."""
        return descriptor_from_landmarks(frame, face.landmarks)


def descriptor_from_landmarks(frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """dlib 128-d descriptor of the face whose ``(68, 2)`` frame-pixel landmarks are given;
    dlib makes its own 150-px chip from the landmarks. Returns ``(128,)`` float64."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    x0, y0 = landmarks.min(axis=0)
    x1, y1 = landmarks.max(axis=0)
    rect = dlib.rectangle(int(x0), int(y0), int(x1), int(y1))
    points = [dlib.point(int(round(x)), int(round(y))) for x, y in landmarks]
    shape = dlib.full_object_detection(rect, points)
    return np.asarray(
        dlib_models.descriptor_model().compute_face_descriptor(np.ascontiguousarray(frame), shape), dtype=np.float64
    )


def _build_fan(weights_path: str | Path, device: str = "cpu"):
    """face-alignment's ``FaceAlignment`` (2D landmarks, FAN-4, no input flipping, eager
    mode: ``compile=False``) whose network weights come from ``weights_path``, a plain
    ``FAN(4)`` state_dict (face-alignment's ``2DFAN4-11f355bf06.pth.tar``, Bulat &
    Tzimiropoulos, "How far are we from solving the 2D & 3D face alignment problem?",
    ICCV 2017), loaded with ``torch.load(weights_only=True)``.

    Nothing is downloaded: face-alignment's own loader (which fetches the file from its URL
    into the torch hub cache when missing) is replaced by one that reads ``weights_path``,
    so the file resolved by :func:`forgebench.weights.resolve_weights` (cache or
    ``FORGEBENCH_WEIGHTS_FAN2D`` override) is exactly the one used. Its face detector is
    dlib's (HOG on CPU, the packaged mmod CNN file on CUDA); forgebench passes its own
    dlib boxes to ``get_landmarks_from_image`` so the detector is never run.

    Args:
        weights_path: the state_dict file.
        device: torch device string (``cpu``, ``cuda``, ``cuda:1``).

    Returns:
        ``face_alignment.FaceAlignment``; ``get_landmarks_from_image(rgb_uint8_frame,
        detected_faces=[bbox])`` gives ``[(68, 2) float32 frame-pixel points]``.

    Raises:
        DataError: face-alignment older than 1.5 (its 1.4 weights were TorchScript
            ``.zip`` files), or ``weights_path`` unreadable / not a FAN-4 state_dict.
    """
    # face-alignment is optional (extra 'fan'): imported only when FAN landmarks are asked for.
    import face_alignment
    from face_alignment.models import FAN

    weights_path = Path(weights_path)
    if not hasattr(face_alignment.FaceAlignment, "_load_native"):
        raise DataError(
            f"faces.landmarks: fan needs face-alignment >= 1.5 (state_dict weights); installed "
            f"{getattr(face_alignment, '__version__', 'unknown')}"
        )

    class _RegistryFaceAlignment(face_alignment.FaceAlignment):
        def _load_native(self, network_name, network_size, device, dtype):
            if network_name != "2DFAN-4":
                raise DataError(f"{weights_path}: holds 2DFAN-4 weights, {network_name} was asked for")
            state = load_checkpoint(weights_path, "FAN-4 weights file")
            net = FAN(network_size)
            try:
                net.load_state_dict(state)
            except RuntimeError as exc:
                raise DataError(f"{weights_path}: not a FAN({network_size}) state_dict ({exc})") from None
            return net.to(device, dtype=dtype).eval()

    kwargs = {"path_to_detector": str(dlib_models.model_path("cnn_detector"))} if "cuda" in device else {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*detector is deprecated.*")
        return _RegistryFaceAlignment(
            face_alignment.LandmarksType.TWO_D,
            device=device,
            face_detector="dlib",
            face_detector_kwargs=kwargs,
            flip_input=False,
            compile=False,
        )


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ``x0, y0, x1, y1`` boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


#: Side (pixels) of the grey thumbnails of aligned crops the tracker compares.
_THUMB = 32


def _thumbnail(frame: np.ndarray, matrix: np.ndarray, crop_size: int) -> np.ndarray:
    """The aligned face of ``frame`` as a zero-mean, unit-norm ``(32, 32)`` grey thumbnail
    (zeros when the region is flat)."""
    scale = _THUMB / float(crop_size)
    small = cv2.warpAffine(
        frame,
        np.asarray(matrix, np.float64) * scale,
        (_THUMB, _THUMB),
        flags=cv2.INTER_AREA,
        borderMode=cv2.BORDER_REPLICATE,
    )
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float64)
    grey -= grey.mean()
    norm = np.linalg.norm(grey)
    return grey / norm if norm > 1e-6 else np.zeros_like(grey)


class FaceTracker:
    """Follow the largest face through the consecutive frames of one video.

    The detector runs on the first frame, on every ``redetect_every``-th frame and whenever
    the face was lost; in the frames between, the 68 landmarks are refitted in the previous
    frame's detector box moved with the face (landmarks at full resolution, as after a
    detection), which costs a fraction of a detection. The fit counts as degraded, and the
    detector runs on that frame instead, when the refitted landmarks leave the frame, when
    their box overlaps the previous landmarks' box by less than ``min_overlap``
    (intersection over union), or when the aligned face no longer looks like the previous
    frame's (normalised cross-correlation of 32-px grey thumbnails below
    ``min_similarity``: a cut, an occlusion, a frame without a face). Used by generators
    converting every frame of a video; the extract stage's sampled frames are far apart
    and are each detected.

    Args:
        analyzer: the :class:`FaceAnalyzer` (detector, landmarks, alignment).
        redetect_every: full detection every N frames (1 = every frame; default: the
            analyzer's ``faces.redetect_every``).
        min_overlap: IoU in (0, 1] below which a refit counts as degraded.
        min_similarity: thumbnail correlation in (-1, 1] below which it does.

    Raises:
        ValueError: ``redetect_every`` < 1, or a threshold out of its range.
    """

    def __init__(
        self,
        analyzer: FaceAnalyzer,
        redetect_every: int | None = None,
        min_overlap: float = 0.5,
        min_similarity: float = 0.6,
    ) -> None:
        self.analyzer = analyzer
        self.redetect_every = int(redetect_every or analyzer.settings.redetect_every)
        if self.redetect_every < 1 or not 0 < min_overlap <= 1 or not -1 < min_similarity <= 1:
            raise ValueError(
                f"redetect_every must be >= 1, min_overlap in (0, 1], min_similarity in (-1, 1]; got "
                f"{redetect_every}, {min_overlap}, {min_similarity}"
            )
        self.min_overlap, self.min_similarity = float(min_overlap), float(min_similarity)
        self._prev: Face | None = None
        self._thumb: np.ndarray | None = None
        self._since = 0
        self.detections = 0  #: frames where the detector ran (for speed figures)

    def _keep(self, frame: np.ndarray, face: Face | None) -> Face | None:
        self._prev = face
        self._thumb = None if face is None else _thumbnail(frame, face.matrix, face.crop_size)
        return face

    def _detect(self, frame: np.ndarray) -> Face | None:
        self.detections += 1
        self._since = 0
        hint = None if self._prev is None else float(self._prev.bbox[2] - self._prev.bbox[0])
        return self._keep(frame, self.analyzer.detect(frame, face_side=hint))

    def __call__(self, frame: np.ndarray) -> Face | None:
        """The face of the next frame ``(H, W, 3)`` uint8 RGB, or ``None`` when there is none."""
        self._since += 1
        if self._prev is None or self._since >= self.redetect_every:
            return self._detect(frame)
        prev = self._prev
        landmarks = self.analyzer.landmarks(frame, prev.bbox)
        h, w = frame.shape[:2]
        lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
        old_lo, old_hi = prev.landmarks.min(axis=0), prev.landmarks.max(axis=0)
        inside = lo[0] >= 0 and lo[1] >= 0 and hi[0] < w and hi[1] < h
        if not inside or _box_iou(np.r_[lo, hi], np.r_[old_lo, old_hi]) < self.min_overlap:
            return self._detect(frame)
        shift = (lo + hi) / 2.0 - (old_lo + old_hi) / 2.0
        face = self.analyzer.face_from_landmarks(landmarks, bbox=prev.bbox + np.r_[shift, shift], score=prev.score)
        thumb = _thumbnail(frame, face.matrix, face.crop_size)
        if float((thumb * self._thumb).sum()) < self.min_similarity:
            return self._detect(frame)
        self._prev, self._thumb = face, thumb
        return face
