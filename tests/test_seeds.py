"""Training-seed variance (``protocol.seeds``): every detector x train set trained once per
seed, the mean over seeds with the pooled-prediction interval and the min–max spread in
the tables; and the multi-run leaderboard's marks of rows not distinguishable from the
best one."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from forgebench.cli import main
from forgebench.leaderboard.across import BEST_MARK, SAME_AS_BEST_MARK
from forgebench.seeds import seed_summary
from forgebench.stages import RunDir


def _preds(rng, shift: float) -> pd.DataFrame:
    people = np.repeat([f"p{i}" for i in range(8)], 4)
    label = np.tile([0, 0, 1, 1], 8)
    score = np.clip(0.5 + 0.25 * (label - 0.5) + shift + rng.normal(0, 0.2, 32), 0, 1)
    return pd.DataFrame(
        {
            "video_id": [f"v{i}" for i in range(32)],
            "frame_index": 0,
            "label": label,
            "split": "test",
            "method": np.where(label == 1, "gen", "real"),
            "identity": people,
            "cluster": people,
            "score": score,
            "detector": "d",
            "train_set": "gen",
            "test_set": "gen",
        }
    )


def test_seed_summary_mean_interval_and_spread():
    """The value is the mean of the seeds' metrics, the spread their min and max, and the
    interval (same people drawn for every seed) contains the mean."""
    from forgebench.protocol import metrics_with_intervals

    rng = np.random.default_rng(0)
    preds = [_preds(rng, s) for s in (0.0, 0.05, -0.05)]
    docs = [
        {
            "threshold": 0.5,
            "video_threshold": 0.5,
            "test_sets": {"gen": metrics_with_intervals(p, 0.5, 0.5, "mean", 200, 2)},
        }
        for p in preds
    ]
    out = seed_summary([0, 1, 2], docs, preds, 200, "mean")
    video = out["test_sets"]["gen"]["video"]
    aucs = [d["test_sets"]["gen"]["video"]["auc"] for d in docs]
    assert out["n_seeds"] == 3 and video["auc"] == pytest.approx(np.mean(aucs)) and video["auc_per_seed"] == aucs
    assert (video["auc_seed_min"], video["auc_seed_max"]) == (min(aucs), max(aucs))
    assert video["auc_ci_low"] <= video["auc"] <= video["auc_ci_high"] and video["ci_status"] == ""
    with pytest.raises(ValueError, match="different test frames"):
        seed_summary([0, 1], docs[:2], [preds[0], preds[1].iloc[1:]], 50, "mean")


def test_protocol_seeds_train_every_seed_and_the_tables_show_the_spread(tiny_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir, ignore=shutil.ignore_patterns("detectors", "comparisons", "leaderboard"))
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config["detectors"] = {"meso4": {"epochs": 1, "batch_size": 8, "image_size": 64, "max_train_frames": 32}}
    config["protocol"]["seeds"] = [3, 4]
    config["protocol"]["robustness"]["enabled"] = False
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    assert main(["--no-progress", "train", str(run_dir)]) == 0
    primary = run_dir / "detectors" / "meso4" / "all"
    assert (primary / "seeds" / "4" / "metrics.json").is_file() and not (primary / "seeds" / "3").exists()
    doc = json.loads((primary / "metrics.json").read_text())
    first = json.loads((primary / "seeds" / "4" / "metrics.json").read_text())
    assert doc["seed"] == 3 and first["seed"] == 4 and doc["seeds"]["seeds"] == [3, 4]
    video = doc["seeds"]["test_sets"]["all"]["video"]
    per_seed = [doc["test_sets"]["all"]["video"]["auc"], first["test_sets"]["all"]["video"]["auc"]]
    assert video["auc_per_seed"] == per_seed and video["auc"] == pytest.approx(np.mean(per_seed))
    assert video["ci_status"].startswith("not estimable")  # two test people linked by their fakes: one cluster
    assert RunDir(run_dir).detectors.results() == [
        ("meso4", t) for t in ("all", "autoencoder_swap", "fomm", "pix2pix_reenact")
    ]

    assert main(["--no-progress", "report", str(run_dir)]) == 0
    csv = pd.read_csv(run_dir / "leaderboard" / "leaderboard.csv")
    board = (run_dir / "leaderboard" / "leaderboard.md").read_text()
    assert f"(2 seeds: {min(per_seed):.3f}–{max(per_seed):.3f})" in board
    assert "TPR@FPR 1%" in board and "ECE" in board and "Deployment" in board
    assert {"tpr_at_fpr_1pct", "tpr_at_fpr_1pct_oracle", "ece", "brier"} <= set(csv["metric"])
    assert (run_dir / "leaderboard" / "plots" / "reliability_meso4.png").is_file()


def test_multi_run_marks_rows_not_distinguishable_from_the_best(tiny_run, tmp_path):
    """Two detectors of one run share the test frames: the best row of a column is marked,
    and the other, whose paired interval cannot be estimated on one cluster of people, is
    marked not distinguishable from it."""
    out = tmp_path / "board"
    assert main(["--no-progress", "leaderboard", str(tiny_run), "--out", str(out)]) == 0
    markdown = (out / "leaderboard.md").read_text()
    section = markdown[markdown.index("## In-domain") : markdown.index("## Cross-generator")]
    rows = [line for line in section.splitlines() if line.startswith("| tiny")]
    for train_set in ("all", "autoencoder_swap"):
        cells = [
            next(c for c in r.split(" | ") if "[" in c) for r in rows if f" | {train_set} | " in r
        ]  # the video AUC column
        assert len(cells) == 2 and sum(BEST_MARK in c and SAME_AS_BEST_MARK not in c for c in cells) == 1, cells
        assert sum(SAME_AS_BEST_MARK in c for c in cells) == 1, cells
    assert "not distinguishable from it" in section
