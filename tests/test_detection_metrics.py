"""Detection metrics on known arrays, and video aggregation by unique video id."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from forgebench.errors import DataError
from forgebench.metrics.bootstrap import cluster_bootstrap, connected_clusters, interval_status
from forgebench.metrics.detection import (
    deepfakebench_eer,
    detection_metrics,
    equal_error_rate,
    frame_and_video_metrics,
    video_scores,
)
from forgebench.protocol import add_clusters


def test_auc_ap_eer_acc_on_known_arrays():
    labels = np.array([0, 0, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    m = detection_metrics(labels, scores, threshold=0.5)
    # 3 of 4 (real, fake) pairs ordered correctly; AP = (1/1 + 2/3) / 2.
    assert m["auc"] == pytest.approx(0.75) and m["ap"] == pytest.approx(5 / 6)
    assert m["acc"] == pytest.approx(0.75) and (m["n"], m["n_real"], m["n_fake"]) == (4, 2, 2)
    eer, thr = equal_error_rate(labels, scores)
    assert eer == pytest.approx(0.5) and thr == pytest.approx(0.4)
    assert m["eer"] == pytest.approx(0.5)


def test_eer_perfect_inverted_and_random():
    assert equal_error_rate([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.8]) == (0.0, pytest.approx(0.7))
    assert equal_error_rate([0, 0, 1, 1], [0.8, 0.9, 0.1, 0.2])[0] == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 2000)
    scores = rng.normal(size=2000) + 1.0 * labels  # d' = 1: EER = Phi(-0.5) = 0.3085
    eer, thr = equal_error_rate(labels, scores)
    assert eer == pytest.approx(0.3085, abs=0.03)
    fpr = np.mean(scores[labels == 0] >= thr)
    fnr = np.mean(scores[labels == 1] < thr)
    assert abs(fpr - fnr) < 0.01 and eer == pytest.approx((fpr + fnr) / 2, abs=0.01)
    assert detection_metrics(labels, scores)["auc"] == pytest.approx(roc_auc_score(labels, scores))


def test_one_class_gives_nan_with_reason():
    m = detection_metrics([1, 1, 1], [0.2, 0.7, 0.9], threshold=0.5)
    assert np.isnan(m["auc"]) and np.isnan(m["ap"]) and np.isnan(m["eer"])
    assert "one class" in m["note"] and m["acc"] == pytest.approx(2 / 3)
    assert all(np.isnan(v) for v in equal_error_rate([0, 0], [0.1, 0.2]))
    assert detection_metrics([], [])["n"] == 0


def test_bad_arrays_raise():
    with pytest.raises(ValueError, match="length"):
        detection_metrics([0, 1], [0.5])
    with pytest.raises(ValueError, match="0 \\(real\\) or 1"):
        detection_metrics([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="finite"):
        equal_error_rate([0, 1], [0.1, np.nan])


def _preds() -> pd.DataFrame:
    """Two methods' fakes share the video name d0_d3: only the video id tells them apart."""
    rows = []
    for vid, label, scores, method in [
        ("samples/real/c23/d0", 0, [0.1, 0.3], "real"),
        ("samples/real/c23/d3", 0, [0.2, 0.6, 0.4], "real"),
        ("samples/autoencoder_swap/c23/d0_d3", 1, [0.9, 0.7], "autoencoder_swap"),
        ("samples/fomm/c23/d0_d3", 1, [0.2, 0.4], "fomm"),
    ]:
        for i, s in enumerate(scores):
            rows.append(
                {
                    "video_id": vid,
                    "frame_index": i,
                    "label": label,
                    "score": s,
                    "method": method,
                    "video_name": vid.split("/")[-1],
                }
            )
    return pd.DataFrame(rows)


def test_video_scores_by_video_id_keep_methods_apart():
    df = _preds()
    vs = video_scores(df, score_col="score", by="video_id", how="mean")
    assert len(vs) == 4 and list(vs.columns[:4]) == ["video_id", "score", "label", "n_frames"]
    row = vs.set_index("video_id")
    assert row.loc["samples/autoencoder_swap/c23/d0_d3", "score"] == pytest.approx(0.8)
    assert row.loc["samples/fomm/c23/d0_d3", "score"] == pytest.approx(0.3)
    assert row.loc["samples/fomm/c23/d0_d3", "method"] == "fomm"
    assert row.loc["samples/real/c23/d3", "n_frames"] == 3
    assert video_scores(df, how="max").set_index("video_id").loc["samples/real/c23/d3", "score"] == pytest.approx(0.6)
    # grouping by the bare video name would merge the two methods' videos
    assert len(video_scores(df, by="video_name")) == 3
    with pytest.raises(ValueError, match="how"):
        video_scores(df, how="vote")


def test_video_with_both_labels_is_an_error():
    df = _preds()
    df.loc[0, "label"] = 1
    with pytest.raises(DataError, match="both labels"):
        video_scores(df)


def test_frame_and_video_metrics():
    res = frame_and_video_metrics(_preds(), threshold=0.5)
    frame, video = res["frame"], res["video"]
    assert frame["n_frames"] == 9 and frame["n_videos"] == 4 and frame["n"] == 9
    assert video["n_videos"] == 4 and video["n"] == 4 and (video["n_real"], video["n_fake"]) == (2, 2)
    # video scores: real 0.2, 0.4; fakes 0.8, 0.3 -> 3 of 4 pairs ordered -> AUC 0.75
    assert video["auc"] == pytest.approx(0.75)
    assert video["acc"] == pytest.approx(0.75)  # fomm fake (0.3) missed at 0.5
    labels, scores = _preds()["label"], _preds()["score"]
    assert frame["auc"] == pytest.approx(roc_auc_score(labels, scores))
    assert frame_and_video_metrics(_preds(), 0.5, video_threshold=0.9)["video"]["acc"] == pytest.approx(0.5)


def test_bootstrap_replicate_metrics_equal_scikit_learn_with_sample_weight():
    """Every replicate metric of the cluster bootstrap is scikit-learn's metric with the
    replicate's draw counts as sample weights (ties in the scores included)."""
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_curve

    from forgebench.metrics.bootstrap import weighted_metrics

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300), 1)  # many ties
    weights = rng.integers(0, 3, (6, 300)).astype(float)
    fpr_thresholds = {"1pct": 0.85, "0_1pct": 0.95}
    got = weighted_metrics(labels, scores, weights, threshold=0.4, fpr_thresholds=fpr_thresholds)
    for b, w in enumerate(weights):
        assert got["auc"][b] == pytest.approx(roc_auc_score(labels, scores, sample_weight=w), abs=1e-12)
        assert got["ap"][b] == pytest.approx(average_precision_score(labels, scores, sample_weight=w), abs=1e-12)
        p = np.clip(scores, 1e-15, 1 - 1e-15)
        assert got["log_loss"][b] == pytest.approx(log_loss(labels, p, sample_weight=w), abs=1e-12)
        fpr, tpr, _ = roc_curve(labels, scores, sample_weight=w, drop_intermediate=False)
        k = np.argmin(np.abs(1 - tpr - fpr))
        assert got["eer"][b] == pytest.approx((fpr[k] + 1 - tpr[k]) / 2, abs=1e-12)
        assert got["acc"][b] == pytest.approx(np.average((scores >= 0.4) == labels, weights=w), abs=1e-12)
        assert got["acc_05"][b] == pytest.approx(np.average((scores >= 0.5) == labels, weights=w), abs=1e-12)
        assert got["brier"][b] == pytest.approx(brier_score_loss(labels, scores, sample_weight=w), abs=1e-12)
        assert got["tpr_at_fpr_1pct_oracle"][b] == pytest.approx(tpr[fpr <= 0.01].max(), abs=1e-12)
        # and the same as the point estimate on the repeated sample
        rep = np.repeat(np.arange(300), w.astype(int))
        ref = detection_metrics(labels[rep], scores[rep], 0.4, fpr_thresholds)
        for m in got:
            assert got[m][b] == pytest.approx(ref[m], abs=1e-12)


def test_eer_definitions_named_and_different():
    """forgebench's EER is the midpoint of FPR and FNR at the ROC point nearest FPR = FNR;
    DeepfakeBench's is the FPR of that point on sklearn's reduced curve. They differ when no
    threshold equalises the rates, and agree when one does."""
    labels, scores = [0, 0, 0, 1, 1], [0.1, 0.6, 0.3, 0.5, 0.9]
    assert equal_error_rate(labels, scores)[0] == pytest.approx(5 / 12)  # (1/3 + 1/2) / 2
    assert deepfakebench_eer(labels, scores) == pytest.approx(1 / 3)
    assert (
        deepfakebench_eer([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.8])
        == 0.0
        == equal_error_rate([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.8])[0]
    )
    m = detection_metrics(labels, scores)
    assert m["eer"] == pytest.approx(5 / 12) and m["eer_deepfakebench"] == pytest.approx(1 / 3)
    assert np.isnan(deepfakebench_eer([1, 1], [0.2, 0.3]))


def test_connected_clusters_join_everyone_linked_through_a_fake():
    """A swap (a, b) and its mirror (b, a) share both people: one cluster; a driving video
    links its driver too; a person only ever shown in real videos is alone."""
    links = [("a",), ("b",), ("a", "b"), ("b", "a"), ("c",), ("d", "e"), ("e", ""), ("f",), ("f", "c")]
    groups = connected_clusters(links)
    assert groups == {"a": "a+b", "b": "a+b", "c": "c+f", "f": "c+f", "d": "d+e", "e": "d+e"}
    frames = pd.DataFrame(
        {"identity": ["a", "b", "a", "c", "g"], "source": ["", "", "b", "", ""], "driving": ["", "", "", "", ""]}
    )
    assert add_clusters(frames)["cluster"].tolist() == ["a+b", "a+b", "a+b", "c", "g"]


def test_single_cluster_stratum_is_not_estimable():
    """Two people linked by their fakes form one cluster: resampling it redraws the same
    sample every time, so there is no interval (not a zero-width one)."""
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 40)
    s = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.2, 80), 0, 1)
    one = np.full(80, "a+b")
    assert interval_status(y, one).startswith("not estimable")
    ci = cluster_bootstrap(y, s, one, n_boot=50)
    assert all(np.isnan(low) and np.isnan(high) for low, high in ci.values())
    # many clusters with both classes, plus a single real-only cluster: still not estimable
    many = np.tile(np.array([f"p{i}" for i in range(8)]), 10)
    lone = np.where(np.arange(80) == 0, "alone", many)
    y_lone = np.where(lone == "alone", 0, y)
    assert "real videos only" in interval_status(y_lone, lone)
    assert interval_status(y, many) == ""
    low, high = cluster_bootstrap(y, s, many, n_boot=200)["auc"]
    assert low < roc_auc_score(y, s) < high


def test_low_fpr_and_calibration_metrics_on_known_arrays():
    """TPR at a low FPR with a validation threshold (and the FPR it achieves on the test
    set) beside the test-set oracle; ECE with 15 equal-width bins; Brier = scikit-learn's."""
    from sklearn.metrics import brier_score_loss

    from forgebench.metrics.detection import (
        expected_calibration_error,
        low_fpr_threshold,
        reliability_curve,
        tpr_at_fpr,
    )

    y = np.array([0] * 10 + [1] * 10)
    s = np.r_[np.linspace(0.0, 0.45, 9), 0.95, np.linspace(0.5, 1.0, 10)]
    # oracle: FPR <= 1% allows no real at or above the threshold: only the fake above 0.95 counts (1 of 10)
    assert tpr_at_fpr(y, s, 0.01) == (pytest.approx(0.1), 0.0)
    # a validation threshold chosen elsewhere gives what it gives on this sample, its FPR said
    assert tpr_at_fpr(y, s, 0.01, threshold=0.5) == (1.0, pytest.approx(0.1))
    assert low_fpr_threshold(y, s, 0.1) == pytest.approx(0.5)
    assert np.isnan(low_fpr_threshold(np.ones(3), [0.1, 0.2, 0.3], 0.01))
    # ECE: all p = 0.75 with 3 of 4 fake is calibrated; p = 1 with half fake is off by 0.5
    assert expected_calibration_error([1, 1, 1, 0], [0.75] * 4) == pytest.approx(0.0)
    assert expected_calibration_error([1, 0], [1.0, 1.0]) == pytest.approx(0.5)
    assert expected_calibration_error(y, s) == pytest.approx(
        sum(
            abs(y[b].sum() - s[b].sum())
            for b in [np.flatnonzero(np.minimum(np.floor(s * 15), 15) == k) for k in range(16)]
        )
        / 20
    )
    m = detection_metrics(y, s)
    assert m["brier"] == pytest.approx(brier_score_loss(y, s)) and m["ece"] == pytest.approx(
        expected_calibration_error(y, s)
    )
    assert np.isnan(m["tpr_at_fpr_1pct"]) and m["tpr_at_fpr_1pct_oracle"] == pytest.approx(
        0.1
    )  # no validation threshold given
    curve = reliability_curve(y, s)
    assert curve["n"].sum() == 20 and curve["fraction_fake"].between(0, 1).all()


def test_quality_mean_interval_resamples_groups_of_people():
    """The interval of a quality mean draws groups of people: a swap and its mirror share
    one group; a generator whose fakes involve one group gets no interval."""
    from forgebench.leaderboard.tables import quality_table
    from forgebench.metrics.bootstrap import cluster_mean_interval

    low, high, status = cluster_mean_interval([1.0, 2.0, 3.0, 4.0, np.nan], ["a", "a", "b", "c", "c"], n_boot=300)
    assert status == "" and low < 2.5 < high
    assert cluster_mean_interval([1.0, 2.0], ["a", "a"])[2].startswith("not estimable")
    videos = pd.DataFrame(
        {
            "method": "swap",
            "video_id": [f"v{i}" for i in range(6)],
            "video_name": "x",
            "target": ["a", "b", "c", "d", "e", "f"],
            "source": ["b", "a", "d", "c", "f", "e"],
            "driving": "",
            "split": "test",
            "n_frames": 4,
            "ssim": [0.5, 0.6, 0.7, 0.8, 0.6, 0.7],
        }
    )
    q = quality_table(videos, None)
    assert (
        q.loc[0, "ssim_ci_low"] <= q.loc[0, "ssim_mean"] <= q.loc[0, "ssim_ci_high"]
        and q.loc[0, "ssim_ci_status"] == ""
    )
    one_pair = quality_table(videos.iloc[:2], None)
    assert np.isnan(one_pair.loc[0, "ssim_ci_low"]) and one_pair.loc[0, "ssim_ci_status"].startswith("not estimable")
