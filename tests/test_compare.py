"""Paired comparison of two detectors on one test set (``forgebench compare``): the paired
identity-level bootstrap, DeLong's cross-check, the stored result and its report table."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from forgebench.cli import main
from forgebench.compare import compare_detectors, delong_test, paired_bootstrap
from forgebench.errors import DataError
from forgebench.stages import RunDir


def test_delong_matches_auc_and_is_antisymmetric():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(100), np.ones(100)].astype(int)
    good = y + rng.normal(0, 0.5, 200)
    noise = rng.normal(0, 1, 200)
    d = delong_test(y, good, noise)
    assert d["auc_a"] == pytest.approx(roc_auc_score(y, good)) and d["auc_b"] == pytest.approx(roc_auc_score(y, noise))
    assert d["p"] < 1e-6 and d["z"] > 0
    assert delong_test(y, noise, good)["z"] == pytest.approx(-d["z"])
    same = delong_test(y, good, good)
    assert same["difference"] == 0 and np.isnan(same["p"])
    with pytest.raises(ValueError):
        delong_test([1, 1], [0.1, 0.2], [0.3, 0.4])


def test_paired_bootstrap_pairs_the_draws():
    """Identical detectors differ by exactly 0 in every replicate; the difference of a
    shifted copy is the shift for the log loss sign, and AUC is rank-invariant."""
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 60)
    people = np.tile(np.arange(12), 10)
    p = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.15, 120), 0.01, 0.99)
    same = paired_bootstrap(y, p, p, people, n_boot=200)
    assert all(same[m]["ci_low"] == same[m]["ci_high"] == 0 for m in ("auc", "ap", "eer", "log_loss"))
    squeezed = paired_bootstrap(y, p, 0.5 + (p - 0.5) / 2, people, n_boot=200)  # same ranks, less confident
    assert squeezed["auc"]["difference"] == 0 and squeezed["auc"]["ci_low"] == squeezed["auc"]["ci_high"] == 0
    assert squeezed["log_loss"]["ci_low"] <= squeezed["log_loss"]["difference"] <= squeezed["log_loss"]["ci_high"]
    assert 0 < squeezed["log_loss"]["p"] <= 1


def test_compare_two_detectors_of_a_run(tiny_run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    run = RunDir(run_dir)
    doc = compare_detectors(run, "meso4", "efficientnet_b0")
    assert (doc["a"], doc["b"], doc["test_set"]) == ("meso4/all", "efficientnet_b0/all", "all")
    stored_a = run.detectors.read_metrics("meso4", "all")["test_sets"]["all"]
    stored_b = run.detectors.read_metrics("efficientnet_b0", "all")["test_sets"]["all"]
    for level in ("frame", "video"):
        r = doc[level]["auc"]
        assert r["a"] == pytest.approx(stored_a[level]["auc"]) and r["b"] == pytest.approx(stored_b[level]["auc"])
        assert r["difference"] == pytest.approx(r["a"] - r["b"])
        # the tiny run's two test people are linked by their fakes: one cluster, no interval, no p-value
        assert np.isnan(r["ci_low"]) and np.isnan(r["p"])
    assert doc["thin"] and doc["n_identities_real"] >= 1  # the tiny run has few people: marked, not evidence
    assert doc["n_clusters"] == 1 and doc["ci_status"].startswith("not estimable")
    assert "p" in doc["delong_video_auc"] or "note" in doc["delong_video_auc"]
    with pytest.raises(DataError, match="compared with itself"):
        compare_detectors(run, "meso4", "meso4/all")
    with pytest.raises(DataError, match="no test predictions of detector 'nope'"):
        compare_detectors(run, "nope", "meso4")
    with pytest.raises(DataError, match="not scored by both"):
        compare_detectors(run, "meso4", "efficientnet_b0", test_set="nothing")

    capsys.readouterr()
    assert (
        main(["--no-progress", "compare", str(run_dir), "meso4/fomm", "efficientnet_b0/fomm", "--test-set", "fomm"])
        == 0
    )
    out = capsys.readouterr().out
    assert (
        "meso4/fomm vs efficientnet_b0/fomm on test set fomm" in out and "A − B:" in out and "too few identities" in out
    )
    assert "[not estimable]" in out and "p n/a" in out
    files = sorted((run_dir / "comparisons").glob("*.json"))
    # the report stage of the run compared its detectors trained on all generators already (default_comparisons)
    assert [f.name for f in files] == [
        "efficientnet_b0-all__vs__meso4-all__all.json",
        "meso4-all__vs__efficientnet_b0-all__all.json",
        "meso4-fomm__vs__efficientnet_b0-fomm__fomm.json",
    ]
    assert json.loads(files[1].read_text())["video"]["auc"]["difference"] == pytest.approx(
        doc["video"]["auc"]["difference"]
    )
    assert main(["--no-progress", "report", str(run_dir)]) == 0
    board = (run_dir / "leaderboard" / "leaderboard.md").read_text()
    section = board[board.index("### Paired comparisons") :]
    assert "| meso4/all | efficientnet_b0/all | all | video | AUC |" in section and "†" in section
    assert "[not estimable]" in section
