"""The evaluation protocol on real face crops: sealed test labels, cross-generator test
sets, video ids, robustness, bootstrap intervals, metrics, DDP with two CPU processes,
and the leaderboard's protocol tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import log_loss
from toy_data import checker, make_toy_run, manipulate, train_once, with_files

from forgebench import protocol as evaluation
from forgebench.configure import config_from_dict, load_config
from forgebench.detectors import TrainSettings
from forgebench.detectors import _training as training
from forgebench.errors import ConfigError
from forgebench.fileio import read_parquet
from forgebench.leaderboard import detection_table
from forgebench.metrics.bootstrap import cluster_bootstrap
from forgebench.metrics.detection import detection_metrics, frame_and_video_metrics, video_scores
from forgebench.perturbations import RobustnessSettings
from forgebench.protocol import ProtocolSettings, expand_test_sets
from forgebench.stages import DetectorFiles, RunDir
from forgebench.stages import train as train_stage
from forgebench.stages.report import report
from forgebench.stages.train import TrainJob

REPO = Path(__file__).resolve().parents[1]
SETTINGS = TrainSettings(epochs=3, batch_size=8, image_size=64, augment=False, patience=None)


pytestmark = pytest.mark.usefixtures("torch_threads")


@pytest.fixture(scope="module")
def two_gen_run(real_crops, tmp_path_factory):
    """Toy run with two generators whose fakes reuse the same video names."""
    run_dir = tmp_path_factory.mktemp("protocol_run")
    frames = make_toy_run(run_dir, real_crops, {"toyswap": manipulate, "toychecker": checker}, same_names=True)
    (run_dir / "config.yaml").write_text(config_from_dict({"name": "toy", "protocol": {"n_boot": 200}}).to_yaml())
    return run_dir, frames


@pytest.fixture(scope="module")
def trained(two_gen_run):
    run_dir, frames = two_gen_run
    out = run_dir / "detectors" / "meso4" / "toyswap"
    torch.set_num_threads(2)  # as the tests that compare with it (module fixtures run before torch_threads)
    metrics = train_once("meso4", SETTINGS, frames, run_dir, out, "toyswap", train_methods=["toyswap"])
    return out, metrics


def test_video_ids_do_not_collide_across_generators(two_gen_run):
    _, frames = two_gen_run
    fakes = frames[frames["label"] == 1]
    # the same video name under two generators: two video ids, two video scores
    assert fakes.groupby("video_name")["video_id"].nunique().eq(2).all()
    vs = video_scores(fakes.assign(score=np.where(fakes["method"] == "toyswap", 1.0, 0.0)), how="mean")
    assert len(vs) == fakes["video_id"].nunique() and set(vs["score"]) == {0.0, 1.0}


def test_cross_generator_test_sets(trained, two_gen_run):
    out, metrics = trained
    _, frames = two_gen_run
    preds = pd.read_parquet(out / "predictions.parquet")
    assert set(preds["test_set"]) == {"toyswap", "toychecker", "all"}
    test = frames[frames["split"] == "test"]
    n_real = int((test["label"] == 0).sum())
    for name, methods in {
        "toyswap": ["toyswap"],
        "toychecker": ["toychecker"],
        "all": ["toyswap", "toychecker"],
    }.items():
        rows = preds[preds["test_set"] == name]
        assert len(rows) == n_real + int(test["method"].isin(methods).sum())
        assert set(rows.loc[rows["label"] == 1, "method"]) == set(methods)
    # each frame was scored once: a real frame has one score in every test set
    real = preds[preds["label"] == 0].groupby(["video_id", "frame_index"])["score"].nunique()
    assert (real == 1).all()
    assert metrics["test_set"] == "toyswap" and set(metrics["test_sets"]) == {"toyswap", "toychecker", "all"}
    assert metrics["train_methods"] == ["toyswap"] and metrics["world_size"] == 1
    assert metrics["amp"] == "off (float32)" and metrics["deterministic"] is True
    for key in ("acc_05", "log_loss"):
        assert key in metrics["frame"] and key in metrics["video"]
    # the in-domain manipulation is learnt
    assert metrics["test_sets"]["toyswap"]["frame"]["auc"] > 0.7
    run = RunDir(out.parent.parent.parent)
    table = detection_table([run.detectors.read_metrics(d, t) for d, t in run.detectors.results()])
    assert {("toyswap", t) for t in ("toyswap", "toychecker", "all")} <= set(zip(table["train_set"], table["test_set"]))


def test_test_labels_are_sealed_until_the_final_evaluation(two_gen_run, monkeypatch):
    """Fails if anything reads the test labels before every test frame is scored with the
    final, validation-chosen checkpoint."""
    run_dir, frames = two_gen_run
    out = run_dir / "detectors" / "meso4" / "sealed"
    events: list[str] = []
    real_epoch, real_open, real_predict = training._train_epoch, evaluation.SealedLabels.open, evaluation.predict_loader

    def epoch(*args, **kwargs):
        events.append("train")
        return real_epoch(*args, **kwargs)

    def predict(model, loader, *args, **kwargs):
        events.append("test scores" if loader.dataset.labels.min() < 0 else "val scores")
        return real_predict(model, loader, *args, **kwargs)

    def spy_open(self):
        events.append("open")
        assert (out / "best.pt").is_file() and not (out / "predictions.parquet").exists()
        return real_open(self)

    monkeypatch.setattr(training, "_train_epoch", epoch)
    monkeypatch.setattr(evaluation, "predict_loader", predict)
    monkeypatch.setattr(evaluation.SealedLabels, "open", spy_open)
    train_once("meso4", SETTINGS, frames, run_dir, out, "sealed", train_methods=["toyswap"])
    assert events.count("open") == 1 and events.count("test scores") == 1
    assert events.index("open") > events.index("test scores") > max(i for i, e in enumerate(events) if e == "train")
    monkeypatch.undo()
    sealed = evaluation.SealedLabels(np.array([0, 1]), "x")
    sealed.open()
    with pytest.raises(RuntimeError, match="read once"):
        sealed.open()


def test_checkpoint_and_threshold_ignore_the_test_labels(trained, two_gen_run):
    """Flipping every test label changes nothing the protocol chose (checkpoint, epoch,
    thresholds): they come from validation only."""
    out, metrics = trained
    run_dir, frames = two_gen_run
    flipped = frames.copy()
    test = flipped["split"] == "test"
    flipped.loc[test, "label"] = 1 - flipped.loc[test, "label"]
    flipped.loc[test, "method"] = np.where(flipped.loc[test, "label"] == 1, "toyswap", "real")
    other = run_dir / "detectors" / "meso4" / "flipped"
    again = train_once("meso4", SETTINGS, flipped, run_dir, other, "flipped", train_methods=["toyswap"])
    for key in ("best_epoch", "threshold", "video_threshold", "best_val_auc"):
        assert again[key] == metrics[key], key
    a, b = (torch.load(d / "best.pt", weights_only=True)["state_dict"] for d in (out, other))
    assert all(torch.equal(a[k], b[k]) for k in a)


def _robustness(out: Path, run_dir: Path, frames: pd.DataFrame) -> pd.DataFrame:
    """Robustness scores of the trained toy detector (crop-level perturbations), through
    the train stage's robustness units."""
    settings = RobustnessSettings(jpeg=[90, 30], blur=[2], noise=[0.1], downscale=[4], h264=[])
    job = TrainJob(
        "meso4",
        SETTINGS,
        ProtocolSettings(n_boot=200, robustness=settings),
        "toyswap",
        ["toyswap"],
        DetectorFiles(out),
        0,
    )
    train_stage.run_robustness(RunDir(run_dir), [job], with_files(frames, run_dir), torch.device("cpu"), False)
    return read_parquet(out / "robustness.parquet")


def test_robustness_scores_every_strength(trained, two_gen_run):
    out, _ = trained
    run_dir, frames = two_gen_run
    test = frames[frames["split"] == "test"]
    table = _robustness(out, run_dir, frames)
    points = table.groupby(["perturbation", table["strength"].fillna(-1)]).size()
    assert len(points) == 6 and (points == len(test)).all()
    assert (out / "robustness.parquet").is_file() and table["score"].between(0, 1).all()
    clean = table[table["perturbation"] == "none"]["score"].to_numpy()
    strong = table[(table["perturbation"] == "jpeg") & (table["strength"] == 30)]["score"].to_numpy()
    assert not np.allclose(clean, strong)
    pd.testing.assert_frame_equal(_robustness(out, run_dir, frames), table)  # resumed from the stored files


def test_leaderboard_shows_the_protocol_tables(trained, two_gen_run):
    out, _ = trained
    run_dir, frames = two_gen_run
    _robustness(out, run_dir, frames)
    leaderboard, md = report(RunDir(run_dir), load_config(run_dir / "config.yaml"), progress=False)
    for title in (
        "In-domain",
        "Cross-generator matrix: meso4",
        "Robustness to test-time perturbations",
        "Every result",
    ):
        assert title in md
    assert (
        "test: toychecker" in md
        and " identities / " in md
        and "200 replicates resampling connected groups of people" in md
    )
    assert (leaderboard / "plots" / "robustness.png").is_file()
    csv = pd.read_csv(leaderboard / "leaderboard.csv")
    assert {"detection", "robustness"} <= set(csv["table"])
    assert set(csv.loc[csv["table"] == "robustness", "perturbation"]) == {"none", "jpeg", "blur", "noise", "downscale"}


def test_bootstrap_interval_contains_the_estimate_and_narrows():
    rng = np.random.default_rng(0)

    def videos(n):
        labels = np.repeat([0, 1], n)
        scores = rng.normal(labels * 1.0, 1.0)
        return labels, scores

    widths = []
    for n in (10, 40, 160):
        labels, scores = videos(n)
        low, high = cluster_bootstrap(labels, scores, n_boot=500, seed=0)["auc"]
        auc = detection_metrics(labels, scores)["auc"]
        assert low <= auc <= high
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]


def test_log_loss_accuracy_at_half_and_aggregations():
    labels = np.array([0, 0, 1, 1, 1])
    probs = np.array([0.1, 0.6, 0.4, 0.8, 1.0])
    m = detection_metrics(labels, probs, threshold=0.35)
    assert m["acc"] == pytest.approx(0.8) and m["acc_05"] == pytest.approx(0.6)
    assert m["log_loss"] == pytest.approx(log_loss(labels, np.clip(probs, 1e-15, 1 - 1e-15)))
    assert np.isnan(detection_metrics(labels, probs * 3 - 1)["log_loss"])  # not probabilities
    df = pd.DataFrame(
        {"video_id": ["a", "a", "a", "b", "b"], "label": [0, 0, 0, 1, 1], "score": [0.1, 0.2, 0.9, 0.3, 0.4]}
    )
    assert video_scores(df, how="median")["score"].tolist() == [0.2, 0.35]
    assert video_scores(df, how="max")["score"].tolist() == [0.9, 0.4]
    assert frame_and_video_metrics(df, 0.5, how="max")["video"]["aggregation"] == "max"


def test_protocol_config_is_checked():
    cfg = config_from_dict({"protocol": {"video_aggregation": "median", "robustness": {"jpeg": [50]}}})
    protocol = cfg.protocol_settings()
    assert isinstance(protocol, ProtocolSettings) and protocol.robustness.jpeg == [50]
    assert protocol.video_aggregation == "median" and protocol.cross_generator is True
    for bad, key in (
        ({"robustness": {"jpg": [50]}}, "protocol.robustness.jpg"),
        ({"aggregation": "mean"}, "protocol.aggregation"),
    ):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            config_from_dict({"protocol": bad})
    with pytest.raises(ConfigError, match="video_aggregation"):
        config_from_dict({"protocol": {"video_aggregation": "mode"}})


def test_test_sets_helpers():
    assert evaluation.test_sets_of(["b", "a", "a"]) == {"a": ["a"], "b": ["b"], "all": ["a", "b"]}
    assert evaluation.test_sets_of(["a"]) == {"a": ["a"]}
    preds = pd.DataFrame({"method": ["real", "a", "b"], "label": [0, 1, 1], "score": [0.1, 0.9, 0.8]})
    rows = expand_test_sets(preds, {"a": ["a"], "all": ["a", "b"]})
    assert rows.groupby("test_set").size().to_dict() == {"a": 2, "all": 3}


def test_two_process_distributed_training(real_crops, tmp_path):
    """torchrun with two CPU processes (Gloo): gradients are averaged, so both processes
    hold the same weights after every epoch; rank 0 alone evaluates and writes."""
    run_dir = tmp_path / "run"
    frames = make_toy_run(run_dir, real_crops, {"toyswap": manipulate})
    frames_path = tmp_path / "frames.parquet"
    frames.to_parquet(frames_path)
    out = run_dir / "detectors" / "meso4" / "toyswap"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "tests")}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(REPO / "tests" / "ddp_worker.py"),
        str(run_dir),
        str(frames_path),
        str(out),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["epochs_run"] == 2
    rank0 = (out.parent / "rank0.txt").read_text().split()
    rank1 = (out.parent / "rank1.txt").read_text().split()
    assert len(rank0) == 2 and rank0 == rank1
    assert len(pd.read_parquet(out / "predictions.parquet")) == int((frames["split"] == "test").sum())
