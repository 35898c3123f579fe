"""Face-crop data for detectors: frame tables -> resized tensors, loaders, augmentation.

Crops are the PNGs of the faces stage (``crop_path`` relative to the run directory, see
docs/architecture.md), read with :func:`forgebench.media.read_image` and resized to the
detector input size with OpenCV (``INTER_AREA`` when shrinking, ``INTER_LINEAR`` when
enlarging; recorded as :data:`RESIZE_MODE` with every score). Real and fake crops go
through exactly the same code.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from forgebench.errors import DataError
from forgebench.media import read_image

__all__ = [
    "FRAME_COLUMNS", "RESIZE_MODE", "CropDataset", "check_frames", "check_disjoint_splits", "make_loader", "resize_crop",
    "crops_to_tensor", "subsample_frames",
]

#: Face-manifest columns the detectors need.
FRAME_COLUMNS = ("video_id", "method", "label", "split", "identity", "frame_index", "crop_path")
#: How crops are resized to the detector input size.
RESIZE_MODE = "cv2.INTER_AREA (shrink) / cv2.INTER_LINEAR (enlarge)"


def check_frames(frames: pd.DataFrame, source: str = "frames") -> None:
    """Check a frame table has the face-manifest columns, labels in {0, 1} and known splits.

    Raises:
        DataError: missing columns, bad labels or unknown split names (naming ``source``).
    """
    missing = [c for c in FRAME_COLUMNS if c not in frames.columns]
    if missing:
        raise DataError(f"{source}: lacks face-manifest column(s) {missing}")
    bad = set(pd.unique(frames["label"])) - {0, 1}
    if bad:
        raise DataError(f"{source}: label must be 0 (real) or 1 (fake), got {sorted(map(str, bad))[:5]}")
    splits = set(frames["split"].astype(str)) - {"train", "val", "test"}
    if splits:
        raise DataError(f"{source}: unknown split name(s) {sorted(splits)} (expected train, val, test)")


def check_disjoint_splits(frames: pd.DataFrame, source: str = "frames") -> None:
    """Check the protocol rule that splits are disjoint by video and by person: no
    ``video_id``, ``identity`` or (when present) ``source_identity`` occurs in two splits.

    Raises:
        DataError: names ``source``, the column and up to five shared values.
    """
    for col in ("video_id", "identity", "source_identity"):
        if col not in frames.columns:
            continue
        n_splits = frames.groupby(frames[col].astype(str))["split"].nunique()
        shared = sorted(n_splits[n_splits > 1].index)
        if shared:
            raise DataError(f"{source}: {col} value(s) {shared[:5]} occur in more than one split; "
                            "splits must be disjoint by identity and by video")
    if "source_identity" in frames.columns:
        people = pd.concat([frames[["identity", "split"]],
                            frames[["source_identity", "split"]].rename(columns={"source_identity": "identity"})])
        n_splits = people.groupby(people["identity"].astype(str))["split"].nunique()
        shared = sorted(n_splits[n_splits > 1].index)
        if shared:
            raise DataError(f"{source}: person(s) {shared[:5]} appear in more than one split (as identity or source)")


def resize_crop(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an ``(H, W, 3)`` uint8 RGB crop to ``(size, size, 3)`` uint8.

    ``cv2.INTER_AREA`` when shrinking (no aliasing), ``cv2.INTER_LINEAR`` when enlarging;
    a crop already at ``size`` is returned unchanged.

    Raises:
        ValueError: not an ``(H, W, 3)`` array.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"crop must be (H, W, 3) RGB, got shape {image.shape}")
    h, w = image.shape[:2]
    if (h, w) == (size, size):
        return image
    interp = cv2.INTER_AREA if size < min(h, w) else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interp)


def crops_to_tensor(crops: list[np.ndarray] | np.ndarray, size: int) -> torch.Tensor:
    """Stack crops into a detector batch.

    Args:
        crops: ``N`` arrays ``(H, W, 3)`` RGB, uint8 in [0, 255] or float in [0, 1]
            (a list, or one ``(N, H, W, 3)`` array); sizes may differ.
        size: side of the output crops, pixels.

    Returns:
        ``(N, 3, size, size)`` float32 tensor in [0, 1] on the CPU.

    Raises:
        ValueError: a crop is not ``(H, W, 3)`` uint8 or float.
    """
    out = []
    for i, c in enumerate(crops):
        c = np.asarray(c)
        if c.dtype != np.uint8:
            if not np.issubdtype(c.dtype, np.floating):
                raise ValueError(f"crop {i}: dtype must be uint8 or float in [0, 1], got {c.dtype}")
            c = np.clip(np.rint(c * 255.0), 0, 255).astype(np.uint8)
        if c.ndim != 3 or c.shape[2] != 3:
            raise ValueError(f"crop {i}: must be (H, W, 3) RGB, got shape {c.shape}")
        out.append(resize_crop(c, size))
    if not out:
        return torch.zeros((0, 3, size, size), dtype=torch.float32)
    batch = torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()
    return batch.float().div_(255.0)


class CropDataset(Dataset):
    """Face crops of a frame table as ``(image, label)`` pairs.

    Args:
        frames: rows with ``crop_path`` (relative to ``run_dir``) and, when
            ``with_labels``, ``label``.
        run_dir: the run directory.
        image_size: output side in pixels.
        augment: training augmentations
            (:class:`forgebench.detectors.augment.AugmentSettings`, ``True`` = defaults,
            ``False``/``None`` = none), applied to the uint8 crop after resizing; their
            randomness comes from torch's RNG (seeded, so deterministic).
        with_labels: return the label; ``False`` returns ``-1`` instead, so the test split
            can be scored without touching its labels.

    Items: ``(x, y)`` with ``x`` ``(3, S, S)`` float32 in [0, 1] and ``y`` float32 label
    (0 real, 1 fake; -1 when not read).

    Raises (on access):
        forgebench.errors.MediaError: a crop file is missing or unreadable (names it).
    """

    def __init__(
        self, frames: pd.DataFrame, run_dir: Path, image_size: int, augment=None, with_labels: bool = True
    ) -> None:
        from forgebench.detectors.augment import build_augment

        self.paths = [Path(run_dir) / p for p in frames["crop_path"].astype(str)]
        self.labels = frames["label"].to_numpy(dtype=np.float32) if with_labels else np.full(len(frames), -1, np.float32)
        self.image_size = int(image_size)
        self.augment = build_augment(augment)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.augment is not None:
            x = self.augment(resize_crop(read_image(self.paths[i]), self.image_size))
        else:
            x = crops_to_tensor([read_image(self.paths[i])], self.image_size)[0]
        return x, torch.tensor(self.labels[i])


def make_loader(
    frames: pd.DataFrame,
    run_dir: Path,
    image_size: int,
    batch_size: int,
    *,
    train: bool,
    augment=None,
    seed: int = 0,
    num_workers: int = 0,
    with_labels: bool = True,
    distributed: bool = False,
) -> DataLoader:
    """A DataLoader over the crops of ``frames``.

    ``train=True`` shuffles with a ``torch.Generator`` seeded by ``seed`` (the data order,
    and the worker seeds, are reproducible; save/restore ``loader.generator`` state to
    resume) and applies ``augment`` (see :class:`CropDataset`); otherwise the order is
    the table's and no augmentation is applied. ``distributed=True`` (under torchrun,
    training only) shards the frames with a ``DistributedSampler`` seeded by ``seed``;
    call ``loader.sampler.set_epoch(epoch)`` each epoch. Batches: ``(x (B, 3, S, S)
    float32 in [0, 1], y (B,))``.
    """
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    ds = CropDataset(frames, run_dir, image_size, augment=augment if train else None, with_labels=with_labels)
    sampler = None
    if distributed and train:
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(ds, shuffle=True, seed=int(seed))
    return DataLoader(
        ds, batch_size=batch_size, shuffle=train and sampler is None, sampler=sampler, generator=generator,
        num_workers=num_workers, pin_memory=False, drop_last=False, persistent_workers=False,
    )


def subsample_frames(frames: pd.DataFrame, max_frames: int | None, seed: int) -> pd.DataFrame:
    """At most ``max_frames`` rows of ``frames``, drawn without replacement with a NumPy
    generator seeded by ``seed``, stratified by ``label`` (each class keeps its share,
    at least one row), in the original row order. All rows when ``max_frames`` is None
    or not smaller than the table."""
    if max_frames is None or len(frames) <= max_frames:
        return frames
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for _, group in frames.groupby("label", sort=True):
        n = max(1, int(round(max_frames * len(group) / len(frames))))
        keep.extend(rng.choice(group.index.to_numpy(), size=min(n, len(group)), replace=False).tolist())
    return frames.loc[sorted(keep, key=frames.index.get_loc)]
