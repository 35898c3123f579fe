"""What every stage shares: messages, the run's dataset name and input videos, devices."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from forgebench.config import Config
from forgebench.datasets import NO_COMPRESSION, check_table, get_dataset, video_row
from forgebench.datasets.folder import MANIFEST
from forgebench.errors import ConfigError, DataError
from forgebench.media import list_videos
from forgebench.rundir import RunDir
from forgebench.samples import fetch_clips

__all__ = ["log", "dataset_name", "input_videos", "input_table", "require_fakes"]


def log(message: str) -> None:
    """Print a stage message (through tqdm so progress bars stay intact)."""
    tqdm.write(f"[forgebench] {message}")


def require_fakes(run: RunDir, config: Config) -> None:
    """Check that ``run`` will have fakes: a configured generator, or fakes already in it
    (imported with ``forgebench import``, or made by an earlier generate).

    Raises:
        ConfigError: ``generators`` is empty and the run holds no fakes (names the run's
            ``config.yaml``); said before the extract stage spends its time, not as a
            missing manifest later.
    """
    if not config.generators and not run.fakes.methods():
        raise ConfigError(
            f"{run.config_file}: 'generators' is empty and the run holds no fakes: configure a generator "
            "(docs/generators.md lists them) or import a dataset with its fakes ('forgebench import --list')"
        )


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


def input_table(config: Config) -> pd.DataFrame:
    """The real input videos with their people (:data:`forgebench.datasets.VIDEO_COLUMNS`):
    ``data.videos/identities.csv`` read by the ``folder`` importer when the folder has one
    (several videos of one person, official splits), else one person per file stem
    (:func:`input_videos`).

    Raises:
        DataError: the manifest lists fakes or frame folders (``forgebench run`` makes its own
            fakes from videos; import such a folder with ``forgebench import folder``), or is
            malformed; the errors of :func:`input_videos`.
        MediaError: the folder does not exist or holds no video.
    """
    folder = Path(config.data.videos) if config.data.videos else None
    if folder is not None and (folder / MANIFEST).is_file():
        table = get_dataset("folder")().read(folder)
        bad = table[(table["label"] != 0) | (table["kind"] != "video")]
        if len(bad):
            raise DataError(
                f"{folder / MANIFEST}: forgebench run takes real videos, and {len(bad)} entries are fakes or frame "
                f"folders (e.g. {bad['path'].iloc[0]}); import such a folder with 'forgebench import folder "
                f"{folder} --out RUN_DIR'"
            )
        return table.assign(dataset=dataset_name(config), compression=config.data.compression)
    rows = [
        video_row(
            v,
            dataset=dataset_name(config),
            method="real",
            compression=config.data.compression or NO_COMPRESSION,
            video_name=v.stem,
            label=0,
            identity=v.stem,
            label_from="input folder of real videos",
            identity_from="file stem (one person per file)",
        )
        for v in input_videos(config)
    ]
    return check_table(rows, str(folder or "the sample clips"))
