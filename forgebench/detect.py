"""Score one video with a trained detector: ``forgebench detect VIDEO --detector DIR``.

The faces are found, aligned and cropped exactly as the faces stage of the run that
trained the detector did (the ``faces`` section of the run's ``config.yaml``, the same
:class:`forgebench.faces.analyzer.FaceAnalyzer`), the crops are resized to the
checkpoint's ``image_size`` (:func:`forgebench.detectors.predict_crops`), and
frame scores are aggregated into one video score the way the run's ``metrics.json`` says
(``video_aggregation``: mean, median or max; mean when
absent), then compared with the validation-chosen ``video_threshold``. A frame without a
face is recorded with ``face=False`` and no score; it does not stop the video.

Outputs, in ``out_dir``, named ``<video stem>_<detector>_<train set>``:

- ``.csv``: one row per analysed frame: ``frame_index`` (0-based), ``time_s`` (seconds,
  ``frame_index / fps``), ``face`` (bool), ``score`` (probability of fake in [0, 1], empty
  when no face), ``bbox`` (``[x0, y0, x1, y1]`` frame pixels, empty when no face);
- ``.png``: the frame scores over time with the thresholds;
- ``.json``: the summary returned by :func:`detect_video`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from forgebench.configure import load_config
from forgebench.detectors import load_detector, predict_crops
from forgebench.errors import DataError, NoFaceError
from forgebench.faces import FaceAnalyzer
from forgebench.fileio import read_json, write_csv, write_json
from forgebench.leaderboard.plots import save_figure
from forgebench.media import iter_frames, probe
from forgebench.metrics.detection import AGGREGATIONS
from forgebench.rundir import DetectorFiles, RunDir
from forgebench.runtime import select_device

__all__ = ["AGGREGATIONS", "resolve_detector_dir", "run_of_detector", "read_thresholds", "detect_video", "plot_scores"]

#: Crops scored per forward pass.
BATCH_SIZE = 32


def _train_sets(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and DetectorFiles(p).best.is_file())


def resolve_detector_dir(detector_dir: str | Path, train_set: str | None = None) -> tuple[Path, str, str]:
    """Find the trained checkpoint folder of a detector.

    Args:
        detector_dir: ``RUN_DIR/detectors/<name>`` (the train set is chosen among its
            sub-folders holding ``best.pt``) or directly a train-set folder
            ``RUN_DIR/detectors/<name>/<train_set>`` holding ``best.pt``.
        train_set: the train set to use; by default ``all`` when that folder exists,
            else the only one.

    Returns:
        ``(folder, detector name, train set)``: the folder holds ``best.pt`` and
        ``metrics.json``.

    Raises:
        DataError: the path does not exist or holds no trained checkpoint, the train set
            is unknown, or several exist and none is ``all`` (the message lists them).
    """
    path = Path(detector_dir)
    if not path.is_dir():
        raise DataError(f"{path}: no such detector folder (expected RUN_DIR/detectors/<name>)")
    if DetectorFiles(path).best.is_file():
        if train_set is not None and train_set != path.name:
            raise DataError(f"{path}: is the checkpoint folder of train set {path.name!r}, not {train_set!r}")
        return path, path.parent.name, path.name
    sets = _train_sets(path)
    if not sets:
        raise DataError(
            f"{path}: no trained checkpoint (no <train_set>/best.pt below it); run 'forgebench train RUN_DIR' first"
        )
    if train_set is None:
        if "all" in sets:
            train_set = "all"
        elif len(sets) == 1:
            train_set = sets[0]
        else:
            raise DataError(f"{path}: several train sets {sets}; choose one with --train-set")
    if train_set not in sets:
        raise DataError(f"{path}: no train set {train_set!r} with a best.pt; available: {sets}")
    return path / train_set, path.name, train_set


def run_of_detector(folder: Path) -> RunDir:
    """The run directory owning checkpoint folder ``folder``
    (``RUN_DIR/detectors/<name>/<train_set>``): the nearest parent with a ``config.yaml``.

    Raises:
        DataError: none found, or a run directory of another format version.
    """
    for parent in folder.resolve().parents[:4]:
        run = RunDir(parent)
        if run.exists():
            return run.require()
    raise DataError(
        f"{folder}: no config.yaml of its run found above it (expected RUN_DIR/config.yaml for "
        "RUN_DIR/detectors/<name>/<train_set>); the run's faces settings are needed to crop faces as in training"
    )


def read_thresholds(folder: Path) -> dict[str, Any]:
    """Thresholds and video aggregation of ``folder/metrics.json``.

    Raises:
        DataError: missing or unreadable, or without the thresholds.
    """
    file = DetectorFiles(folder).metrics
    doc = read_json(file, "detector metrics (validation-chosen thresholds)")
    if not isinstance(doc, dict) or not isinstance(doc.get("threshold"), (int, float)):
        raise DataError(f"{file}: no validation-chosen threshold; retrain the detector")
    how = doc.get("video_aggregation", "mean")
    threshold = float(doc["threshold"])
    video_threshold = (
        float(doc["video_threshold"]) if isinstance(doc.get("video_threshold"), (int, float)) else threshold
    )
    return {
        **doc,
        "threshold": threshold,
        "video_threshold": video_threshold,
        "video_aggregation": how if how in AGGREGATIONS else "mean",
    }


def _aggregate(scores: np.ndarray, how: str) -> float:
    return float({"mean": np.mean, "median": np.median, "max": np.max}[how](scores))


def detect_video(
    video: str | Path,
    detector_dir: str | Path,
    out_dir: str | Path,
    train_set: str | None = None,
    every: int = 1,
    max_frames: int | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> dict[str, Any]:
    """Score every ``every``-th frame of ``video`` with a trained detector; write CSV, PNG, JSON.

    Args:
        video: a video file (anything PyAV decodes).
        detector_dir: ``RUN_DIR/detectors/<name>`` or ``RUN_DIR/detectors/<name>/<train_set>``
            (see :func:`resolve_detector_dir`); ``RUN_DIR/config.yaml`` gives the faces
            settings, ``metrics.json`` the thresholds and the aggregation.
        out_dir: output folder (created).
        train_set: train set of the detector (default: ``all`` if trained, else the only one).
        every: analyse frames ``0, every, 2 * every, ...`` (>= 1).
        max_frames: analyse at most this many frames (after ``every``); ``None`` = all.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
        progress: show a tqdm bar.

    Returns:
        The summary (also written as ``<stem>_<name>_<train_set>.json``): ``video``,
        ``detector``, ``train_set``, ``checkpoint``, ``image_size`` (px), ``device``,
        ``fps``, ``every``, ``max_frames``, ``frames_analysed``, ``frames_with_face``,
        ``video_score`` (aggregated probability of fake in [0, 1] over the frames with a
        face), ``aggregation`` (``mean``/``median``/``max``), ``video_threshold`` and
        ``threshold`` (validation-chosen, probabilities), ``verdict`` (``"fake"`` when
        ``video_score >= video_threshold``, else ``"real"``), ``threshold_source`` and
        ``video_threshold_source`` (how training chose them), ``frames_called_fake``
        (frames with ``score >= threshold``), ``faces`` (the faces settings used) and
        the paths ``csv``, ``plot``, ``json``.

    Raises:
        ValueError: ``every`` < 1 or ``max_frames`` < 1.
        DataError: no trained detector at ``detector_dir`` (see
            :func:`resolve_detector_dir`), no run config or ``metrics.json``, an unusable
            checkpoint, or ``device`` unavailable.
        MediaError: ``video`` is missing or cannot be decoded (names the file).
        NoFaceError: no face in any analysed frame (names the file).
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    video = Path(video)
    folder, name, train_set = resolve_detector_dir(detector_dir, train_set)
    config = load_config(run_of_detector(folder).config_file)
    metrics = read_thresholds(folder)
    how = metrics["video_aggregation"]
    try:
        dev = select_device(device) if device in ("auto", "cpu", "cuda") else torch.device(device)
    except RuntimeError as exc:
        raise DataError(f"--device {device}: {exc}") from None
    info = probe(video)  # MediaError for a missing / unreadable file
    model, meta = load_detector(DetectorFiles(folder).best, dev)
    image_size = int(meta.get("image_size") or metrics.get("image_size"))
    analyzer = FaceAnalyzer(config.faces)

    n_todo = math.ceil(info.n_frames / every)
    n_todo = min(n_todo, max_frames) if max_frames is not None else n_todo
    rows: list[dict[str, Any]] = []
    scores: list[float] = []
    pending: list[np.ndarray] = []

    def flush() -> None:
        if pending:
            scores.extend(predict_crops(model, pending, image_size, dev, batch_size=BATCH_SIZE).tolist())
            pending.clear()

    bar = tqdm(total=n_todo, desc=f"detect {video.name}", unit="frame", disable=not progress)
    try:
        for index, frame in iter_frames(video):
            if index % every:
                continue
            if len(rows) >= n_todo:
                break
            face = analyzer.detect(frame)
            row = {"frame_index": int(index), "time_s": index / info.fps, "face": face is not None, "bbox": ""}
            if face is not None:
                row["bbox"] = json.dumps([round(float(v), 2) for v in face.bbox])
                pending.append(face.crop(frame))
                if len(pending) >= BATCH_SIZE:
                    flush()
            rows.append(row)
            bar.update(1)
        flush()
    finally:
        bar.close()

    df = pd.DataFrame(rows, columns=["frame_index", "time_s", "face", "score", "bbox"])
    df["score"] = np.nan
    df.loc[df["face"], "score"] = scores
    if not df["face"].any():
        raise NoFaceError(f"{video}: no face found in any of the {len(df)} analysed frames")
    face_scores = df.loc[df["face"], "score"].to_numpy(dtype=np.float64)
    video_score = _aggregate(face_scores, how)
    threshold, video_threshold = float(metrics["threshold"]), float(metrics["video_threshold"])

    out_dir = Path(out_dir)
    base = out_dir / f"{video.stem}_{name}_{train_set}"
    csv_path, png_path, json_path = (base.with_name(base.name + ext) for ext in (".csv", ".png", ".json"))
    summary = {
        "video": str(video),
        "detector": name,
        "train_set": train_set,
        "checkpoint": str(DetectorFiles(folder).best),
        "image_size": image_size,
        "device": str(dev),
        "fps": info.fps,
        "n_frames_video": info.n_frames,
        "every": int(every),
        "max_frames": max_frames,
        "frames_analysed": int(len(df)),
        "frames_with_face": int(df["face"].sum()),
        "video_score": video_score,
        "aggregation": how,
        "video_threshold": video_threshold,
        "threshold": threshold,
        "threshold_source": metrics.get("threshold_source", "validation"),
        "video_threshold_source": metrics.get("video_threshold_source", "validation"),
        "verdict": "fake" if video_score >= video_threshold else "real",
        "frames_called_fake": int((face_scores >= threshold).sum()),
        "faces": config.faces.model_dump(mode="json"),
        "csv": str(csv_path),
        "plot": str(png_path),
        "json": str(json_path),
    }
    write_csv(csv_path, df)
    plot_scores(df, png_path, summary)
    write_json(json_path, summary)
    return summary


def plot_scores(frames: pd.DataFrame, path: str | Path, summary: dict[str, Any]) -> Path:
    """Draw frame scores over time with the frame and video thresholds; write a PNG.

    Args:
        frames: the per-frame table of :func:`detect_video` (``time_s`` in seconds,
            ``face`` bool, ``score`` in [0, 1] or NaN where no face).
        path: output PNG (written atomically).
        summary: the :func:`detect_video` summary (``threshold``, ``video_threshold``,
            ``video_score``, ``aggregation``, ``verdict``, names for the title).

    Returns:
        ``path``.
    """
    fig = Figure(figsize=(9, 3.8))
    ax = fig.subplots()
    has_face = frames["face"].to_numpy(dtype=bool)
    t = frames["time_s"].to_numpy(dtype=np.float64)
    ax.plot(
        t[has_face],
        frames["score"].to_numpy(dtype=np.float64)[has_face],
        marker="o",
        markersize=3,
        linewidth=1.2,
        label=f"frame score ({int(has_face.sum())} frames with a face)",
    )
    if (~has_face).any():
        ax.plot(
            t[~has_face],
            np.zeros(int((~has_face).sum())),
            "x",
            color="0.5",
            label=f"no face ({int((~has_face).sum())} frames)",
        )
    ax.axhline(
        summary["threshold"],
        color="tab:red",
        linestyle="--",
        linewidth=1.2,
        label=f"frame threshold {summary['threshold']:.3f} ({summary.get('threshold_source', 'validation')})",
    )
    ax.axhline(
        summary["video_threshold"],
        color="tab:orange",
        linestyle=":",
        linewidth=1.5,
        label=f"video threshold {summary['video_threshold']:.3f} ({summary.get('video_threshold_source', 'validation')})",
    )
    ax.axhline(
        summary["video_score"],
        color="tab:green",
        linewidth=1.2,
        label=f"video score {summary['video_score']:.3f} ({summary['aggregation']}) -> {summary['verdict']}",
    )
    ax.set_ylim(-0.03, 1.03)
    if len(t):
        ax.set_xlim(0.0, max(float(t.max()), 1e-3) * 1.02)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability of fake")
    ax.set_title(f"{Path(summary['video']).name}: {summary['detector']} trained on {summary['train_set']}")
    ax.legend(loc="upper left", fontsize=7, bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, Path(path), metadata={"Software": "forgebench detect"})
