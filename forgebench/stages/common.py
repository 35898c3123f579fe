"""What every stage shares: messages, the run's dataset name and input videos, devices."""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from forgebench.config import Config
from forgebench.errors import DataError
from forgebench.media import list_videos
from forgebench.samples import fetch_clips

__all__ = ["log", "dataset_name", "input_videos"]


def log(message: str) -> None:
    """Print a stage message (through tqdm so progress bars stay intact)."""
    tqdm.write(f"[forgebench] {message}")


def dataset_name(config: Config) -> str:
    """Dataset name in video ids: ``data.dataset``, else the videos folder name, else ``samples``."""
    if config.data.dataset:
        return config.data.dataset
    return Path(config.data.videos).name if config.data.videos else "samples"


def input_videos(config: Config) -> list[Path]:
    """The real input videos: ``data.videos`` folder, else the verified sample clips.

    Raises:
        MediaError: the folder does not exist or holds no video.
        DataError: two files share a stem (identity ids would collide), or a sample clip
            cannot be had.
    """
    videos = list_videos(config.data.videos) if config.data.videos else fetch_clips(config.data.sample_dir)
    stems = [v.stem for v in videos]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise DataError(f"{config.data.videos}: several files share the identity stem(s) {dup}")
    return videos
