"""Toy fake sets made from the real crops of the sample clips, for detector tests.

Each "generator" is a visible manipulation of the real crop that a small detector learns
in a few steps; identities are split train d0, d3 / val d9, d12 / test d18, d19, as a
run's identity-disjoint splits.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from forgebench.media import write_png
from forgebench.protocol import ProtocolSettings
from forgebench.stages import DetectorFiles
from forgebench.stages.train import TrainJob, train_unit

SPLITS = {"d0": "train", "d3": "train", "d9": "val", "d12": "val", "d18": "test", "d19": "test"}


def manipulate(crop: np.ndarray) -> np.ndarray:
    """A visible 'forgery': the central face region blurred and tinted red."""
    h, w = crop.shape[:2]
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (w // 2, int(h * 0.53)), (w // 4, int(h * 0.31)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 2)[..., None]
    tinted = cv2.GaussianBlur(crop, (0, 0), 3).astype(np.float32) * np.array([1.15, 0.9, 0.85], np.float32)
    return np.clip(crop * (1 - mask) + tinted * mask, 0, 255).astype(np.uint8)


def checker(crop: np.ndarray) -> np.ndarray:
    """Another 'forgery': a faint 4-px checkerboard (an upsampling artefact) over the crop."""
    h, w = crop.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    pattern = (((yy // 4) + (xx // 4)) % 2 * 24 - 12).astype(np.float32)[..., None]
    return np.clip(crop.astype(np.float32) + pattern, 0, 255).astype(np.uint8)


def make_toy_run(
    run_dir: Path,
    real_crops: dict[str, list[np.ndarray]],
    fakes: dict[str, Callable[[np.ndarray], np.ndarray]],
    same_names: bool = False,
) -> pd.DataFrame:
    """Write real crops and each fake method's manipulated copies as PNGs under
    ``run_dir/faces/crops`` and return the frame table (face-manifest columns).

    ``same_names=True`` gives every method's fake of a person the same video name (the
    video id must still tell them apart)."""
    rows = []
    for ident, crops in sorted(real_crops.items()):
        assert len(crops) >= 4, f"too few faces found in {ident}"
        for method, fn in [("real", None), *fakes.items()]:
            label = 0 if fn is None else 1
            name = ident if label == 0 else (f"{ident}_fake" if same_names else f"{ident}_{method}")
            for i, crop in enumerate(crops):
                rel = f"faces/crops/{method}/{name}/{i:06d}.png"
                write_png(run_dir / rel, crop if fn is None else fn(crop))
                rows.append(
                    {
                        "video_id": f"samples/{method}/c23/{name}",
                        "dataset": "samples",
                        "method": method,
                        "compression": "c23",
                        "video_name": name,
                        "label": label,
                        "identity": ident,
                        "source": "",
                        "driving": "",
                        "split": SPLITS[ident],
                        "frame_index": i,
                        "crop_path": rel,
                    }
                )
    return pd.DataFrame(rows)


def with_files(frames: pd.DataFrame, run_dir: Path) -> pd.DataFrame:
    """The frame table with ``crop_path`` resolved to the PNG files (as the train stage
    hands it to its units) and the stored path kept as ``crop_key``."""
    return frames.assign(crop_key=frames["crop_path"], crop_path=[str(Path(run_dir) / p) for p in frames["crop_path"]])


def train_once(
    name,
    settings,
    frames: pd.DataFrame,
    run_dir: Path,
    out: Path,
    train_set: str,
    *,
    seed: int = 0,
    train_methods=None,
    protocol: ProtocolSettings | None = None,
    progress: bool = False,
) -> dict:
    """One detector x train set through the train stage's unit
    (:func:`forgebench.stages.train.train_unit`) on a toy run; returns ``metrics.json``."""
    job = TrainJob(
        name, settings, protocol or ProtocolSettings(), train_set, train_methods, DetectorFiles(Path(out)), seed
    )
    return train_unit(job, with_files(frames, run_dir), "cpu", progress)
