"""Leaderboard: tables checked against hand computation, bootstrap CIs, the report files.

A small run directory is built in a temporary folder with real face crops of the sample
clips (fixture ``real_crops``) and the stage outputs of docs/architecture.md: face
manifests, fakes manifests, quality tables, detector predictions and metrics.json (its
metrics and intervals computed by the protocol, :func:`forgebench.protocol.metrics_with_intervals`,
as the train stage stores them; the leaderboard only formats them).
"""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from forgebench.configure import load_config
from forgebench.errors import DataError
from forgebench.leaderboard import detection_table, format_markdown, quality_table
from forgebench.media import write_png
from forgebench.metrics.bootstrap import BOOT_METRICS, cluster_bootstrap, cluster_counts
from forgebench.protocol import metrics_with_intervals
from forgebench.results import detector_result
from forgebench.schemas import FACES_ALL, QUALITY
from forgebench.stages import RunDir
from forgebench.stages.report import collect, report

REAL_FRAMES = (10, 20, 30, 40)
THRESHOLD = 0.55
# meso4 trained and tested on gen_a: four frame scores per test video.
SCORES_A = {
    ("samples/real/c23/d9", 0): [0.1, 0.2, 0.3, 0.4],
    ("samples/real/c23/d12", 0): [0.2, 0.5, 0.6, 0.3],
    ("samples/gen_a/c23/d9_d12", 1): [0.7, 0.8, 0.9, 0.6],
    ("samples/gen_a/c23/d12_d9", 1): [0.35, 0.55, 0.65, 0.45],
}


def _face_row(run_dir, method, video, label, identity, source, frame, image):
    rel = f"faces/crops/{method}/{video}/{frame:06d}.png"
    write_png(run_dir / rel, image)
    return {
        "video_id": f"samples/{method}/c23/{video}",
        "dataset": "samples",
        "method": method,
        "compression": "c23",
        "video_name": video,
        "label": label,
        "identity": identity,
        "source": source,
        "driving": "",
        "split": "test",
        "frame_index": frame,
        "bbox": [0.0] * 4,
        "landmarks": [0.0] * 136,
        "landmarks_crop": [0.0] * 136,
        "matrix": [1.0, 0, 0, 0, 1.0, 0],
        "crop_size": image.shape[0],
        "margin": 1.3,
        "crop_path": rel,
        "mask_path": "",
    }


def _write(df_or_rows, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(df_or_rows).to_parquet(path, index=False)


def _predictions(scores, detector, train_set):
    rows = []
    for (video_id, label), values in scores.items():
        method = video_id.split("/")[1]
        for k, s in enumerate(values):
            rows.append(
                {
                    "video_id": video_id,
                    "frame_index": 10 * (k + 1),
                    "label": label,
                    "split": "test",
                    "method": method,
                    "identity": video_id.split("/")[-1].split("_")[0],
                    "score": s,
                    "detector": detector,
                    "train_set": train_set,
                    "test_set": train_set,
                }
            )
    return pd.DataFrame(rows)


def _write_detector(run_dir, detector, train_set, scores, threshold=THRESHOLD, n_boot=500):
    """predictions.parquet and the metrics.json the train stage writes for them."""
    out = run_dir / "detectors" / detector / train_set
    preds = _predictions(scores, detector, train_set)
    _write(preds, out / "predictions.parquet")
    test_sets = {
        ts: metrics_with_intervals(df, threshold, threshold, "mean", n_boot) for ts, df in preds.groupby("test_set")
    }
    doc = detector_result(
        detector=detector,
        train_set=train_set,
        kind="trained",
        test_set=train_set,
        test_sets=test_sets,
        thresholds={"threshold": threshold, "video_threshold": threshold},
        video_aggregation="mean",
        seed=0,
        image_size=64,
    )
    (out / "metrics.json").write_text(json.dumps(doc, allow_nan=True).replace("NaN", "null"))


def _tables(run_dir):
    run = RunDir(run_dir)
    return run.metrics.read("quality"), run.metrics.read("quality_sets")


def _docs(run_dir):
    run = RunDir(run_dir)
    return [run.detectors.read_metrics(d, t) for d, t in run.detectors.results()]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, real_crops):
    """A run directory with 4 real identities, two generators, quality and detector outputs."""
    run = tmp_path_factory.mktemp("run")
    (run / "config.yaml").write_text("name: lbtest\nseed: 0\nreport:\n  sample_pairs: 2\nprotocol:\n  n_boot: 500\n")
    (run / "provenance.json").write_text(
        json.dumps(
            {
                "format_version": 2,
                "config_hash": "c0ffee" * 10,
                "seed": 0,
                "git_commit": "deadbeef",
                "packages": {"torch": "9.9"},
                "weights": [{"name": "dlib_landmarks", "file": "shape.dat", "sha256": "ab12" * 16}],
            }
        )
    )
    for ident in ("d0", "d3", "d9", "d12"):
        crops = real_crops[ident]
        assert len(crops) >= len(REAL_FRAMES)
        rows = [_face_row(run, "real", ident, 0, ident, ident, f, crops[k]) for k, f in enumerate(REAL_FRAMES)]
        _write(rows, run / "faces" / "manifest" / "real" / f"{ident}.parquet")
    (run / "faces" / "videos.parquet").parent.mkdir(parents=True, exist_ok=True)
    fakes = {
        "gen_a": [("d9", "d12", (10, 20, 25)), ("d12", "d9", (15, 25, 35))],
        "gen_b": [("d9", "d12", (10, 20, 30))],
    }
    for gen, videos in fakes.items():
        manifest = []
        for target, source, frames in videos:
            name = f"{target}_{source}"
            rows = []
            for k, f in enumerate(frames):
                fake = real_crops[source][k].copy()
                fake[..., 0] = np.clip(fake[..., 0].astype(int) + 60, 0, 255).astype(np.uint8)  # visible manipulation
                rows.append(_face_row(run, gen, name, 1, target, source, f, fake))
            _write(rows, run / "faces" / "manifest" / gen / f"{name}.parquet")
            manifest.append(
                {
                    "method": gen,
                    "video_name": name,
                    "video_id": f"samples/{gen}/c23/{name}",
                    "target": target,
                    "source": source,
                    "driving": "",
                    "split": "test",
                    "path": f"fakes/{gen}/{name}.mp4",
                    "mask_path": f"fakes/{gen}/masks/{name}.mp4",
                    "mask_sha256": "0" * 64,
                    "target_path": f"clips/{target}.mp4",
                    "n_frames": 50,
                    "n_frames_with_face": 48,
                    "fps": 25.0,
                    "checkpoint": f"fakes/{gen}/models/x.pt",
                    "checkpoint_sha256": "0" * 64,
                    "settings": "{}",
                }
            )
        _write(manifest, run / "fakes" / gen / "manifest.parquet")
    faces = pd.concat(
        [pd.read_parquet(f) for f in sorted((run / "faces" / "manifest").glob("*/*.parquet"))], ignore_index=True
    )
    _write(faces[list(FACES_ALL.columns)], run / "faces" / "manifest.parquet")
    nan = float("nan")
    quality = [
        {
            "method": "gen_a",
            "video_id": "samples/gen_a/c23/d9_d12",
            "n_frames": 16,
            "ssim": 0.8,
            "psnr": 30.0,
            "lpips": nan,
            "id_sim_source": 0.9,
            "id_sim_target": 0.2,
            "id_retrieval": 1.0,
            "landmark_distance": 0.05,
        },
        {
            "method": "gen_a",
            "video_id": "samples/gen_a/c23/d12_d9",
            "n_frames": 8,
            "ssim": 0.6,
            "psnr": 26.0,
            "lpips": nan,
            "id_sim_source": nan,
            "id_sim_target": 0.4,
            "id_retrieval": 0.5,
            "landmark_distance": 0.07,
        },
        {
            "method": "gen_b",
            "video_id": "samples/gen_b/c23/d9_d12",
            "n_frames": 12,
            "ssim": 0.5,
            "psnr": 20.0,
            "lpips": nan,
            "id_sim_source": 0.3,
            "id_sim_target": 0.6,
            "id_retrieval": 0.0,
            "landmark_distance": 0.2,
        },
    ]
    for q in quality:
        q.update(
            video_name=q["video_id"].split("/")[-1],
            target=q["video_id"].split("/")[-1].split("_")[0],
            source=q["video_id"].split("_")[-1],
            driving="",
            split="test",
        )
    quality = pd.DataFrame(quality).reindex(columns=list(QUALITY.columns))
    _write(quality, run / "metrics" / "quality.parquet")
    sets = [
        ("gen_a", "fid", nan, "unavailable: Inception weights pt_inception-2015-12-05 not in cache", 0, 0),
        ("gen_a", "frechet_dlib", 12.5, "ok", 16, 6),
        ("gen_b", "fid", 45.25, "ok", 16, 3),
        ("gen_b", "frechet_dlib", 10.0, "ok", 16, 3),
    ]
    _write(
        [
            {
                "method": g,
                "metric": m,
                "value": v,
                "status": s,
                "n_real": r,
                "n_fake": f,
                "weights": "",
                "weights_sha256": "",
                "eval_mode": None,
            }
            for g, m, v, s, r, f in sets
        ],
        run / "metrics" / "quality_sets.parquet",
    )
    _write_detector(run, "meso4", "gen_a", SCORES_A)
    scores_b = {
        ("samples/real/c23/d9", 0): [0.2, 0.3, 0.1, 0.2],
        ("samples/real/c23/d12", 0): [0.4, 0.3, 0.5, 0.2],
        ("samples/gen_b/c23/d9_d12", 1): [0.6, 0.4, 0.7, 0.3],
    }
    _write_detector(run, "meso4", "gen_b", scores_b)
    _write_detector(run, "xception", "gen_a", {k: list(np.clip(np.array(v) + 0.05, 0, 1)) for k, v in SCORES_A.items()})
    return run


def _auc_by_pairs(pos, neg):
    """Hand computation: share of (fake, real) pairs ranked right, ties 1/2."""
    pairs = list(itertools.product(pos, neg))
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)


def test_quality_table_values(run_dir):
    q = quality_table(*_tables(run_dir)).set_index("method")
    a = q.loc["gen_a"]
    assert (a["n_videos"], a["n_frames"]) == (2, 24)
    assert a["ssim_mean"] == pytest.approx(0.7) and a["ssim_std"] == pytest.approx(np.std([0.8, 0.6], ddof=1))
    assert a["psnr_mean"] == pytest.approx(28.0)
    # A NaN (metric missing for one video) is left out, and the count says so.
    assert a["id_sim_source_mean"] == pytest.approx(0.9)
    assert (a["id_sim_source_n_videos"], a["id_sim_source_n_frames"]) == (1, 16)
    assert a["lpips_n_videos"] == 0 and np.isnan(a["lpips_mean"])
    # Set-level: text reason when unavailable, value otherwise.
    assert a["fid"].startswith("unavailable: Inception weights")
    assert a["frechet_dlib"] == pytest.approx(12.5) and (a["frechet_dlib_n_real"], a["frechet_dlib_n_fake"]) == (16, 6)
    assert q.loc["gen_b", "fid"] == pytest.approx(45.25) and q.loc["gen_b", "n_videos"] == 1


def test_detection_table_values(run_dir):
    d = detection_table(_docs(run_dir))
    assert len(d) == 3
    r = d[(d["detector"] == "meso4") & (d["train_set"] == "gen_a")].iloc[0]
    pos = [s for (v, y), ss in SCORES_A.items() if y == 1 for s in ss]
    neg = [s for (v, y), ss in SCORES_A.items() if y == 0 for s in ss]
    assert r["frame_auc"] == pytest.approx(_auc_by_pairs(pos, neg))
    assert r["video_auc"] == pytest.approx(1.0)  # video means 0.75, 0.5 (fake) vs 0.25, 0.4 (real)
    assert r["threshold"] == THRESHOLD  # read from metrics.json, not 0.5
    assert r["frame_acc"] == pytest.approx(13 / 16)
    assert r["video_acc"] == pytest.approx(3 / 4)  # the fake video with mean 0.5 < 0.55 is missed
    assert (r["n_videos"], r["n_frames"], r["n_videos_real"], r["n_videos_fake"]) == (4, 16, 2, 2)
    for level in ("frame", "video"):
        assert r[f"{level}_auc_ci_low"] <= r[f"{level}_auc"] <= r[f"{level}_auc_ci_high"]
    assert r["frame_auc_ci_low"] < r["frame_auc_ci_high"]
    _write_detector(run_dir / "again", "meso4", "gen_a", SCORES_A)
    again = detection_table(_docs(run_dir / "again"))
    pd.testing.assert_frame_equal(d.iloc[[0]].reset_index(drop=True), again)  # fixed seed: same intervals


def test_bootstrap_resamples_identities():
    rng = np.random.default_rng(3)
    n_people, n_videos, n_frames = 12, 4, 10  # each person: 2 real and 2 fake videos
    person = np.repeat(np.arange(n_people), n_videos * n_frames)
    labels = np.tile(np.repeat([0, 0, 1, 1], n_frames), n_people)
    # one person's fakes are all easy or all hard to catch, and their real videos all look alike
    person_effect = np.where(labels == 1, rng.normal(0, 1.0, n_people)[person], rng.normal(0, 1.0, n_people)[person])
    scores = 1 / (1 + np.exp(-(labels * 0.8 + person_effect + rng.normal(0, 0.1, labels.size))))  # probabilities
    video = np.array([f"p{p}v{v}" for p in range(n_people) for v in range(n_videos) for _ in range(n_frames)])
    by_identity = cluster_bootstrap(labels, scores, person, n_boot=400, seed=0)
    by_video = cluster_bootstrap(labels, scores, video, n_boot=400, seed=0)
    from sklearn.metrics import roc_auc_score

    auc = roc_auc_score(labels, scores)
    for m in BOOT_METRICS:
        if m in ("tpr_at_fpr_1pct", "tpr_at_fpr_0_1pct"):  # need validation thresholds, none given
            assert np.isnan(by_identity[m]).all()
        elif m != "tpr_at_fpr_0_1pct_oracle":  # 240 real frames: FPR 0.1% is FPR 0, often a TPR of 0 in every replicate
            assert by_identity[m][0] < by_identity[m][1], m
    assert by_identity["auc"][0] <= auc <= by_identity["auc"][1]
    # Resampling people accounts for the correlation of one person's videos: a wider interval
    # than resampling videos as if they were independent.
    # (two videos per class per person that move together: about sqrt(2) wider)
    assert by_identity["auc"][1] - by_identity["auc"][0] > 1.25 * (by_video["auc"][1] - by_video["auc"][0])
    assert all(np.isnan(v).all() for v in cluster_bootstrap([1, 1], [0.2, 0.3]).values())
    # Stratified: identities with only real (or only fake) videos are resampled apart, so
    # every replicate keeps both classes; a stratum of one identity would be redrawn
    # identically every time (a zero-width [1, 1] interval): not estimable, no interval.
    one_class = cluster_bootstrap([0, 0, 1, 1], [0.2, 0.3, 0.6, 0.4], ["a", "a", "b", "b"], n_boot=50)
    assert np.isnan(one_class["auc"]).all()
    two_each = cluster_bootstrap(
        [0, 0, 0, 1, 1, 1], [0.2, 0.3, 0.5, 0.6, 0.4, 0.9], ["a", "a", "c", "b", "b", "d"], n_boot=50
    )
    assert np.isfinite(two_each["auc"]).all() and two_each["auc"][0] < two_each["auc"][1]
    assert cluster_counts([0, 1, 1, 0], ["a", "a", "b", "c"]) == {
        "n_identities": 3,
        "n_identities_real": 2,
        "n_identities_fake": 2,
    }


def test_same_video_name_of_two_methods_does_not_merge(tmp_path):
    scores = {
        ("samples/real/c23/d9", 0): [0.2, 0.3],
        ("samples/real/c23/d12", 0): [0.6, 0.4],
        ("samples/gen_a/c23/d0_d3", 1): [0.9, 0.7],
        ("samples/gen_b/c23/d0_d3", 1): [0.1, 0.3],
    }
    _write_detector(tmp_path, "meso4", "all", scores, threshold=0.5, n_boot=200)
    r = detection_table(_docs(tmp_path)).iloc[0]
    assert (r["n_videos"], r["n_videos_fake"], r["n_frames"]) == (4, 2, 8)
    # Per video id: fakes 0.8 and 0.2 vs reals 0.25 and 0.5 -> AUC 0.5 (merged by name it would be 0.75).
    assert r["video_auc"] == pytest.approx(_auc_by_pairs([0.8, 0.2], [0.25, 0.5]))
    assert r["video_auc"] == pytest.approx(0.5)


def _report(run_dir):
    return report(RunDir(run_dir).require(), load_config(run_dir / "config.yaml"), progress=False)


def test_build_report_writes_all_files(run_dir):
    out, printed = _report(run_dir)
    assert out == run_dir / "leaderboard"
    for name in (
        "leaderboard.md",
        "leaderboard.csv",
        "report.html",
        "plots/roc_meso4.png",
        "plots/roc_xception.png",
        "plots/samples_gen_a.png",
        "plots/samples_gen_b.png",
    ):
        assert (out / name).is_file(), name
    assert not list(out.rglob("*.partial"))
    for png in (out / "plots").glob("*.png"):
        with Image.open(png) as im:
            im.verify()
        with Image.open(png) as im:
            assert im.format == "PNG" and min(im.size) > 200
    with Image.open(out / "plots" / "samples_gen_a.png") as im:
        assert "synthetic" in im.text.get("description", "")
    md = (out / "leaderboard.md").read_text()
    assert md == printed  # what the CLI prints is what was written
    assert "# forgebench leaderboard: lbtest" in md and "c0ffeec0ffee" in md
    assert "n=2 identities / 4 videos / 16 frames" in md and "n=2 videos / 24 frames" in md
    assert re.search(r"\| 1\.000 \[1\.000, 1\.000\] † \|", md)  # video AUC of meso4/gen_a with its CI, thin
    # every cell rests on 2 identities per class: the report says so first, and marks the cells
    opening = md.split("\n\n")[2]
    assert (
        opening.startswith("**Too few identities to conclude:") and "at least 5 real and 5 fake identities" in opening
    )
    assert "n=2 identities / 4 videos / 16 frames (2 real, 2 fake identities; 2 real, 2 fake videos) †" in md
    assert "0.700 ± 0.141" in md and "0.900 (n=1 videos / 16 frames)" in md
    assert "unavailable: Inception weights" in md and "12.500 (n=16 real / 6 fake crops)" in md
    assert "unavailable: no finite value" in md  # LPIPS all NaN: said, not blank
    csv = pd.read_csv(out / "leaderboard.csv")
    auc = csv[
        (csv["table"] == "detection")
        & (csv["detector"] == "meso4")
        & (csv["train_set"] == "gen_a")
        & (csv["level"] == "frame")
        & (csv["metric"] == "auc")
    ].iloc[0]
    assert auc["ci_low"] <= auc["value"] <= auc["ci_high"] and (auc["n_videos"], auc["n_frames"]) == (4, 16)
    fid = csv[(csv["table"] == "quality") & (csv["method"] == "gen_a") & (csv["metric"] == "fid")].iloc[0]
    assert np.isnan(fid["value"]) and fid["status"].startswith("unavailable")
    page = (out / "report.html").read_text()
    for needle in ("plots/roc_meso4.png", "plots/samples_gen_b.png", "lbtest", "c0ffee", "<table", "9.9", "ab12ab12"):
        assert needle in page


def test_report_without_later_stages(tmp_path, real_crops):
    run = tmp_path / "early"
    run.mkdir()
    (run / "config.yaml").write_text("name: early\n")
    rows = [_face_row(run, "real", "d0", 0, "d0", "d0", 10, real_crops["d0"][0])]
    _write(rows, run / "faces" / "manifest" / "real" / "d0.parquet")
    out, _ = _report(run)
    md = (out / "leaderboard.md").read_text()
    assert "No quality table" in md and "forgebench score" in md
    assert "No detector results yet" in md and "forgebench train" in md
    assert "No sample grid" in md
    assert "No ROC curves" in (out / "report.html").read_text()
    with pytest.raises(DataError, match="run directory not found"):
        RunDir(tmp_path / "missing").require()


def test_bad_predictions_named_in_error_and_report(tmp_path):
    (tmp_path / "config.yaml").write_text("name: bad\n")
    _write_detector(tmp_path, "meso4", "gen_a", SCORES_A, n_boot=50)
    bad = tmp_path / "detectors" / "meso4" / "gen_b"
    _write(_predictions(SCORES_A, "meso4", "gen_b").drop(columns=["score"]), bad / "predictions.parquet")
    (bad / "metrics.json").write_text("{}")
    with pytest.raises(DataError, match=r"gen_b/metrics.json: detector result lacks"):
        _docs(tmp_path)
    with pytest.raises(DataError, match=r"no validation-chosen threshold"):
        detection_table([{"detector": "meso4", "train_set": "gen_b"}])
    data = collect(RunDir(tmp_path), load_config(tmp_path / "config.yaml"))
    assert list(data.detection["train_set"]) == ["gen_a"] and len(data.problems) == 1
    md = format_markdown(data)
    assert "## Problems" in md and "gen_b" in md and "detector result lacks" in md
