"""The tiny end-to-end run every CLI-level test shares (built once per session by
``conftest.tiny_run``): the six sample clips plus a non-video file and a video without a
face, through every stage at tiny sizes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import yaml
from test_fomm_generator import TINY_PARAMS as TINY_FOMM  # noqa: E402

from forgebench.cli import main
from forgebench.media import VideoWriter

TINY = {
    "name": "tiny",
    "seed": 0,
    "device": "cpu",
    "data": {"max_seconds": 1.0},
    "faces": {"frames_per_video": 4, "crop_size": 64},
    "splits": {"ratio": [1, 1, 1]},
    "generators": {
        # a narrow model at a high learning rate: 30 steps learn a blurred mean face, which the
        # faces stage finds in most sampled frames (3 steps at the default lr paste noise)
        "autoencoder_swap": {
            "iterations": 30,
            "batch_size": 4,
            "encoder_dim": 32,
            "width": 0.125,
            "image_size": 32,
            "lr": 0.002,
        },
        "pix2pix_reenact": {"image_size": 64, "ngf": 8, "ndf": 8, "epochs": 2},
        "fomm": {"image_size": 32, "iterations": 3, "batch_size": 2, "model_params": TINY_FOMM},
    },
    "metrics": {"frames_per_video": 2},
    "detectors": {
        "meso4": {"epochs": 1, "batch_size": 8, "image_size": 64},
        # from scratch: CI has no network and no cached ImageNet weights (pretrained: true would stop the run)
        "efficientnet_b0": {"epochs": 1, "batch_size": 8, "image_size": 64, "pretrained": False},
    },
}


def make_videos_dir(clips_dir: Path, folder: Path) -> Path:
    """The six clips plus a non-video file and a video with no face in it."""
    for clip in sorted(clips_dir.glob("*.mp4")):
        os.symlink(clip, folder / clip.name)
    (folder / "notes.mp4").write_text("not a video")
    with VideoWriter(folder / "empty_room.mp4", fps=25) as w:
        for _ in range(30):
            w.write(np.full((128, 128, 3), 120, np.uint8))
    return folder


def build_tiny_run(videos_dir: Path, root: Path) -> Path:
    """``forgebench run`` of :data:`TINY` on ``videos_dir`` into ``root/runs/tiny``."""
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    run_dir = root / "runs" / "tiny"
    rc = main(["--no-progress", "run", str(config), "--videos", str(videos_dir), "--out", str(run_dir)])
    assert rc == 0
    return run_dir
