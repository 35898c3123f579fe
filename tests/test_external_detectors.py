"""A detector from outside the repository, in a temporary package: trained under the
protocol with ``forgebench train RUN_DIR --detector package.module:factory``, scored with
its own weights by ``forgebench evaluate``, and refused with a clear error when its
declaration or its weights do not fit. On a copy of the shared tiny run (real clips)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap

import pandas as pd
import pytest
import torch
import yaml

from forgebench.cli import main
from forgebench.execution import _close_all

PACKAGE = '''
"""A user's detector: plain torch, nothing of forgebench."""
import torch
from torch import nn

CFG = {"input_size": (3, 64, 64), "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)}


class TinyNet(nn.Module):
    default_cfg = CFG

    def __init__(self, width=4):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, stride=2)
        self.fc = nn.Linear(width, 1)

    def forward(self, x):
        return self.fc(self.conv(x).relu().mean((2, 3)))


def build(width=4):
    return TinyNet(width)


def undeclared():
    net = TinyNet()
    net.default_cfg = None
    return net


undeclared.default_cfg = None


class TwoLogits(TinyNet):
    def forward(self, x):
        return torch.cat([super().forward(x)] * 2, dim=1)


def two_logits():
    return TwoLogits()
'''


@pytest.fixture
def ext_run(tiny_run, tmp_path, monkeypatch):
    """A copy of the tiny run, a small schedule for the external detector, and the user's
    package importable here and in worker processes."""
    pkg = tmp_path / "site" / "extdet"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text(textwrap.dedent(PACKAGE))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")]))
    _close_all()  # worker pools of earlier tests were spawned without the package on sys.path
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["detectors"]["build"] = {"factory": "extdet.models:build", "epochs": 2, "batch_size": 8}
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    yield run
    sys.modules.pop("extdet.models", None)
    sys.modules.pop("extdet", None)


def test_external_detector_trained_evaluated_submitted_and_merged(ext_run, tiny_run, tmp_path, capsys):
    run = ext_run
    assert main(["--no-progress", "train", str(run), "--detector", "extdet.models:build"]) == 0
    sets = sorted(p.name for p in (run / "detectors" / "build").iterdir())
    assert sets == ["all", "autoencoder_swap", "fomm", "pix2pix_reenact"]  # every train set of the zoo's protocol
    doc = json.loads((run / "detectors" / "build" / "autoencoder_swap" / "metrics.json").read_text())
    assert doc["image_size"] == 64 and doc["epochs_run"] <= 2  # the declared input size, the configured schedule
    assert {"autoencoder_swap", "fomm", "pix2pix_reenact", "all"} == set(doc["test_sets"])
    # the tiny run's two test people are linked by their fakes: one cluster, no interval
    assert 0 <= doc["video"]["auc"] <= 1 and doc["video"]["auc_ci_low"] is None
    assert doc["video"]["ci_status"].startswith("not estimable") and doc["video"]["n_clusters"] == 1
    assert (run / "detectors" / "build" / "all" / "robustness_metrics.parquet").is_file()
    ckpt = torch.load(run / "detectors" / "build" / "all" / "best.pt", weights_only=True)
    assert ckpt["meta"]["factory"] == "extdet.models:build"

    # the user's own weights, scored without training: thresholds from validation, test read once
    sys.path.insert(0, str(tmp_path / "site"))
    from extdet.models import TinyNet

    torch.manual_seed(1)
    weights = tmp_path / "mine.pt"
    torch.save(TinyNet().state_dict(), weights)
    capsys.readouterr()
    assert (
        main(
            [
                "--no-progress",
                "evaluate",
                str(run),
                "--detector",
                "extdet.models:build",
                "--checkpoint",
                str(weights),
                "--name",
                "build_pretrained",
            ]
        )
        == 0
    )
    assert "video AUC" in capsys.readouterr().out
    folder = run / "detectors" / "build_pretrained" / "pretrained"
    doc = json.loads((folder / "metrics.json").read_text())
    assert doc["train_set"] == "pretrained" and doc["evaluated"] and doc["threshold_source"].startswith("val")
    assert set(doc["test_sets"]) == {"autoencoder_swap", "fomm", "pix2pix_reenact", "all"}
    preds = pd.read_parquet(folder / "predictions.parquet")
    assert set(preds["split"]) == {"test"} and preds["score"].between(0, 1).all()
    assert (folder / "robustness_metrics.parquet").is_file()

    # a prediction submission through the CLI: the unlabelled export, a predictions file, its score
    assert main(["--no-progress", "export", "testset", str(run)]) == 0
    index = pd.read_csv(run / "export" / "testset" / "index.csv")
    assert "label" not in index.columns and not index["video_id"].str.contains("autoencoder_swap|real").any()
    frames = index.drop_duplicates("frame_id")
    predictions = tmp_path / "predictions.csv"
    pd.DataFrame({"id": frames["frame_id"], "score": [0.3 + 0.4 * (k % 2) for k in range(len(frames))]}).to_csv(
        predictions, index=False
    )
    assert main(["--no-progress", "submit", str(run), str(predictions), "--name", "mine"]) == 0
    sub = json.loads((run / "detectors" / "mine" / "submission" / "metrics.json").read_text())
    assert sub["submission"] is True and sub["level"] == "frame" and 0 <= sub["video"]["auc"] <= 1
    pd.DataFrame({"id": frames["frame_id"].iloc[1:], "score": 0.5}).to_csv(tmp_path / "short.csv", index=False)
    capsys.readouterr()
    assert main(["--no-progress", "submit", str(run), str(tmp_path / "short.csv"), "--name", "short"]) == 2
    assert "missing" in capsys.readouterr().err

    # all of them in the run's leaderboard, the pretrained one as a cross-generator row
    assert main(["--no-progress", "report", str(run)]) == 0
    board = (run / "leaderboard" / "leaderboard.md").read_text()
    assert "Cross-generator matrix: build " in board and "Cross-generator matrix: build_pretrained" in board
    assert "| pretrained |" in board and "mine (submission, attempt 1 of 1 in the run)" in board

    # and one table across this run and the untouched tiny run, in the four formats
    out = tmp_path / "paper"
    assert main(["--no-progress", "leaderboard", str(run), str(tiny_run), "--out", str(out)]) == 0
    for name in (
        "leaderboard.md",
        "leaderboard.csv",
        "report.html",
        "leaderboard.tex",
        "plots/quality_vs_detectability.png",
    ):
        assert (out / name).is_file(), name
    merged = (out / "leaderboard.md").read_text()
    assert (
        "mine (submission, attempt 1 of 1 in the run)" in merged
        and "build_pretrained" in merged
        and "\\toprule" in (out / "leaderboard.tex").read_text()
    )


def test_declaration_and_weights_mismatches_are_clear_errors(ext_run, tmp_path, capsys):
    run = ext_run
    assert main(["--no-progress", "train", str(run), "--detector", "extdet.models:undeclared"]) == 2
    assert "declare the input" in capsys.readouterr().err
    assert main(["--no-progress", "train", str(run), "--detector", "extdet.models:two_logits"]) == 2
    assert "one fake logit per crop" in capsys.readouterr().err
    assert main(["--no-progress", "train", str(run), "--detector", "extdet.models:nothing"]) == 2
    assert "has no callable 'nothing'" in capsys.readouterr().err
    assert main(["--no-progress", "train", str(run), "--detector", "nopkg.models:build"]) == 2
    assert "cannot import nopkg.models" in capsys.readouterr().err
    # weights of another network
    wrong = tmp_path / "wrong.pt"
    torch.save({"conv.weight": torch.zeros(8, 3, 3, 3)}, wrong)
    assert (
        main(["--no-progress", "evaluate", str(run), "--detector", "extdet.models:build", "--checkpoint", str(wrong)])
        == 2
    )
    err = capsys.readouterr().err
    assert str(wrong) in err and "weights do not fit detector build" in err
    # a configured input size other than the declared one
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["detectors"]["build"]["image_size"] = 96
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    assert main(["--no-progress", "train", str(run), "--detector", "extdet.models:build"]) == 2
    assert "differs from the input size 64 px that build declares" in capsys.readouterr().err
