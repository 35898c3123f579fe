"""Face-crop data for detectors: frame tables -> resized tensors, loaders, augmentation.

A frame table has one row per face crop; its ``crop_path`` is the PNG file to read (the
stage that builds the table resolves the run directory's relative paths, so this module
never sees a run directory). Crops are read with :func:`forgebench.media.read_image` and
resized to the detector input size by :func:`forgebench.imaging.resize_square`
(``INTER_AREA`` when shrinking, ``INTER_LINEAR`` when enlarging; recorded as
:data:`RESIZE_MODE` with every score). Real and fake crops go through exactly the same code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from forgebench.detectors._augment import build_augment
from forgebench.imaging import ANALYSIS, images_to_tensor, resize_square
from forgebench.media import read_image

__all__ = [
    "FRAME_COLUMNS",
    "RESIZE_MODE",
    "CropDataset",
    "make_loader",
    "resize_crop",
    "crops_to_tensor",
    "subsample_frames",
]

#: Face-manifest columns the detectors need (``crop_path``: the PNG file to read).
FRAME_COLUMNS = ("video_id", "method", "label", "split", "identity", "frame_index", "crop_path")
#: How crops are resized to the detector input size.
RESIZE_MODE = "cv2.INTER_AREA (shrink) / cv2.INTER_LINEAR (enlarge)"


def resize_crop(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an ``(H, W, 3)`` uint8 RGB crop to the detector input ``(size, size, 3)``
    uint8: :func:`forgebench.imaging.resize_square` with :data:`~forgebench.imaging.ANALYSIS`
    (``cv2.INTER_AREA`` when shrinking, ``cv2.INTER_LINEAR`` when enlarging); a crop
    already at ``size`` is returned unchanged.

    Raises:
        ValueError: not an ``(H, W, 3)`` array.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"crop must be (H, W, 3) RGB, got shape {image.shape}")
    return resize_square(image, size, ANALYSIS)


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
    return images_to_tensor(np.stack(out)).contiguous()


class CropDataset(Dataset):
    """Face crops of a frame table as ``(image, label)`` pairs.

    Args:
        frames: rows with ``crop_path`` (the PNG file) and, when ``with_labels``, ``label``.
        image_size: output side in pixels.
        augment: training augmentations
            (:class:`forgebench.detectors.AugmentSettings`, ``True`` = defaults,
            ``False``/``None`` = none), applied to the uint8 crop after resizing; their
            randomness comes from torch's RNG (seeded, so deterministic).
        with_labels: return the label; ``False`` returns ``-1`` instead, so the test split
            can be scored without touching its labels.

    Items: ``(x, y)`` with ``x`` ``(3, S, S)`` float32 in [0, 1] and ``y`` float32 label
    (0 real, 1 fake; -1 when not read).

    Raises (on access):
        forgebench.errors.MediaError: a crop file is missing or unreadable (names it).
    """

    def __init__(self, frames: pd.DataFrame, image_size: int, augment=None, with_labels: bool = True) -> None:
        self.paths = [Path(p) for p in frames["crop_path"].astype(str)]
        self.labels = (
            frames["label"].to_numpy(dtype=np.float32) if with_labels else np.full(len(frames), -1, np.float32)
        )
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
    """A DataLoader over the crops of ``frames`` (``crop_path`` = the PNG files).

    ``train=True`` shuffles with a ``torch.Generator`` seeded by ``seed`` (the data order,
    and the worker seeds, are reproducible; save/restore ``loader.generator`` state to
    resume) and applies ``augment`` (see :class:`CropDataset`); otherwise the order is
    the table's and no augmentation is applied. ``distributed=True`` (under torchrun,
    training only) shards the frames with a ``DistributedSampler`` seeded by ``seed``;
    call ``loader.sampler.set_epoch(epoch)`` each epoch. Batches: ``(x (B, 3, S, S)
    float32 in [0, 1], y (B,))``.

    A training epoch whose frames leave one over (``n % batch_size == 1``, ``n`` the frames
    this process trains on) drops that last batch of one frame: BatchNorm in training mode
    cannot normalise a single sample (DeepfakeBench's Face X-ray head, ``dfb_facexray``,
    raises), and the order is shuffled each epoch, so no frame is left out for good. Any
    other last batch is kept, and evaluation keeps every frame.
    """
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    ds = CropDataset(frames, image_size, augment=augment if train else None, with_labels=with_labels)
    sampler = None
    if distributed and train:
        sampler = DistributedSampler(ds, shuffle=True, seed=int(seed))
    n = len(sampler) if sampler is not None else len(ds)
    return DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=train and sampler is None,
        sampler=sampler,
        generator=generator,
        num_workers=num_workers,
        pin_memory=False,
        drop_last=train and n > 1 and n % batch_size == 1,
        persistent_workers=False,
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
