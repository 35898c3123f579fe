"""``forgebench detect VIDEO --detector RUN_DIR/detectors/NAME``: one real clip scored by a
random-init meso4 saved as a trained checkpoint; outputs, printed score and bad inputs."""

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
import torch

from forgebench.cli import main
from forgebench.configure import config_from_dict
from forgebench.detect import detect_video, resolve_detector_dir
from forgebench.detectors import create_detector, save_detector_checkpoint
from forgebench.errors import DataError, MediaError, NoFaceError
from forgebench.media import VideoWriter

IMAGE_SIZE = 64


def _save_detector(folder, threshold=0.5, video_threshold=0.5, **extra):
    torch.manual_seed(0)
    model = create_detector("meso4", pretrained=False)
    meta = {
        "detector": "meso4",
        "image_size": IMAGE_SIZE,
        "model_kwargs": {},
        "pretrained": False,
        "epoch": 1,
        "val_auc": 0.5,
        "val_loss": 0.7,
    }
    save_detector_checkpoint(folder / "best.pt", model.state_dict(), meta)
    metrics = {
        "detector": "meso4",
        "threshold": threshold,
        "video_threshold": video_threshold,
        "image_size": IMAGE_SIZE,
        **extra,
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory with config.yaml and detectors/meso4/all/{best.pt, metrics.json}."""
    root = tmp_path_factory.mktemp("detect_run")
    config = config_from_dict({"name": "detect", "device": "cpu", "faces": {"detect_max_side": 320, "crop_size": 128}})
    (root / "config.yaml").write_text(config.to_yaml())
    folder = root / "detectors" / "meso4" / "all"
    folder.mkdir(parents=True)
    _save_detector(folder)
    return root


def test_detect_cli_writes_csv_plot_and_summary(run_dir, clips_dir, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(
        [
            "--no-progress",
            "detect",
            str(clips_dir / "d0.mp4"),
            "--detector",
            str(run_dir / "detectors" / "meso4"),
            "--out",
            str(out),
            "--every",
            "10",
            "--device",
            "cpu",
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    csv = out / "d0_meso4_all.csv"
    png = out / "d0_meso4_all.png"
    summary = json.loads((out / "d0_meso4_all.json").read_text())
    assert png.is_file() and png.stat().st_size > 1000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    df = pd.read_csv(csv)
    assert list(df.columns) == ["frame_index", "time_s", "face", "score", "bbox"]
    assert df["frame_index"].tolist() == list(range(0, 78, 10))  # d0 has 78 frames
    np.testing.assert_allclose(df["time_s"], df["frame_index"] / 25.0)  # 25 fps
    assert df["face"].all()  # a frontal talking head in every frame
    assert df["score"].between(0.0, 1.0).all()
    bbox = json.loads(df["bbox"].iloc[0])
    assert len(bbox) == 4 and bbox[0] < bbox[2] and bbox[1] < bbox[3]

    assert summary["frames_analysed"] == len(df) and summary["frames_with_face"] == len(df)
    assert summary["aggregation"] == "mean" and summary["image_size"] == IMAGE_SIZE
    assert math.isclose(summary["video_score"], df["score"].mean(), rel_tol=1e-9)
    assert summary["verdict"] == ("fake" if summary["video_score"] >= 0.5 else "real")
    assert summary["faces"]["detect_max_side"] == 320 and summary["faces"]["crop_size"] == 128
    match = re.search(
        r"video score: ([0-9.]+) \(mean of frame scores\), video threshold: 0\.5000 -> (fake|real)", printed
    )
    assert match, printed
    assert float(match.group(1)) == pytest.approx(summary["video_score"], abs=1e-4)
    assert match.group(2) == summary["verdict"]


def test_detect_train_set_folder_max_frames_and_median(run_dir, clips_dir, tmp_path):
    folder = run_dir / "detectors" / "meso4" / "median_set"
    folder.mkdir()
    _save_detector(folder, video_threshold=0.25, video_aggregation="median")
    s = detect_video(clips_dir / "d3.mp4", folder, tmp_path, every=7, max_frames=3, progress=False)
    df = pd.read_csv(s["csv"])
    assert df["frame_index"].tolist() == [0, 7, 14]
    assert s["train_set"] == "median_set" and s["aggregation"] == "median" and s["video_threshold"] == 0.25
    assert math.isclose(s["video_score"], float(np.median(df["score"].dropna())), rel_tol=1e-9)
    folder_max = run_dir / "detectors" / "meso4" / "max_set"
    folder_max.mkdir()
    _save_detector(folder_max, video_aggregation="max")
    s = detect_video(clips_dir / "d3.mp4", folder_max, tmp_path, every=7, max_frames=3, progress=False)
    assert s["aggregation"] == "max"
    assert s["video_score"] == pytest.approx(float(pd.read_csv(s["csv"])["score"].max()), rel=1e-12)
    # Three train sets now, "all" among them: the default stays "all"; a named one is used.
    assert resolve_detector_dir(run_dir / "detectors" / "meso4")[2] == "all"
    assert resolve_detector_dir(run_dir / "detectors" / "meso4", "median_set")[0] == folder


def test_detect_bad_detector_path_exits_2(run_dir, clips_dir, tmp_path, capsys):
    bad = tmp_path / "no_such_run" / "detectors" / "meso4"
    rc = main(["--no-progress", "detect", str(clips_dir / "d0.mp4"), "--detector", str(bad), "--out", str(tmp_path)])
    assert rc == 2
    assert str(bad) in capsys.readouterr().err
    rc = main(
        [
            "--no-progress",
            "detect",
            str(clips_dir / "d0.mp4"),
            "--detector",
            str(run_dir / "detectors" / "meso4"),
            "--train-set",
            "nope",
            "--out",
            str(tmp_path),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "'nope'" in err and "all" in err


def test_detect_train_set_choice_errors(tmp_path):
    det = tmp_path / "detectors" / "meso4"
    for name in ("ae_swap", "fomm"):
        (det / name).mkdir(parents=True)
        _save_detector(det / name)
    with pytest.raises(DataError, match=r"several train sets \['ae_swap', 'fomm'\]"):
        resolve_detector_dir(det)
    assert resolve_detector_dir(det, "fomm") == (det / "fomm", "meso4", "fomm")
    with pytest.raises(DataError, match="no trained checkpoint"):
        resolve_detector_dir(tmp_path / "detectors")


def test_detect_unreadable_video_and_no_face(run_dir, tmp_path):
    detector = run_dir / "detectors" / "meso4"
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video")
    with pytest.raises(MediaError, match="notes.mp4"):
        detect_video(notes, detector, tmp_path / "out", progress=False)
    empty = tmp_path / "empty_room.mp4"
    with VideoWriter(empty, fps=25) as w:
        for _ in range(6):
            w.write(np.full((96, 96, 3), 120, np.uint8))
    with pytest.raises(NoFaceError, match="empty_room.mp4"):
        detect_video(empty, detector, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "empty_room_meso4_all.csv").exists()
