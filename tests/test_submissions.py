"""Prediction submissions (issue 13): the unlabelled test set export and the scoring of a
submitted predictions file, on a copy of the tiny end-to-end run (``conftest.tiny_run``).

The export must not leak a label (file names, index cells, PNG text chunks, MP4 metadata);
ids must be stable across exports; a perfect submission scores AUC 1 and enters the
detection table; a noisy one's AUC is scikit-learn's; bad files get a DataError that names
the problem and the first offending rows or ids.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from forgebench.cli import main
from forgebench.errors import DataError
from forgebench.fileio import sha256_file
from forgebench.leaderboard.tables import detection_table
from forgebench.media import iter_frames, read_image, read_png_text, read_tags
from forgebench.schemas import PREDICTIONS
from forgebench.stages import RunDir
from forgebench.submissions import INDEX_COLUMNS, SEALED_IDS, export_testset, read_submission_log, submit


@pytest.fixture(scope="module")
def run(tiny_run, tmp_path_factory) -> RunDir:
    """A private copy of the tiny run, its test set exported once; the daily submission
    limit raised for the many submissions of these tests (its own test sets it back)."""
    root = tmp_path_factory.mktemp("submissions") / "run"
    shutil.copytree(tiny_run, root)
    run = RunDir(root)
    _set_limit(run, 1000)
    export_testset(run, progress=False)
    return run


def _set_limit(run: RunDir, limit: int) -> None:
    config = yaml.safe_load(run.config_file.read_text())
    config["protocol"]["max_submissions_per_day"] = limit
    run.config_file.write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture(scope="module")
def truth(run) -> pd.DataFrame:
    """Every exported face with its sealed label: ``frame_id, video_id`` (anonymous),
    ``split, frame_index, original_video_id, label, method``."""
    sealed = pd.read_parquet(run.submissions.sealed_ids_file)
    faces = run.faces.read_manifest()[["video_id", "frame_index", "label", "method"]].rename(
        columns={"video_id": "original_video_id"}
    )
    return sealed.merge(faces, on=["original_video_id", "frame_index"], how="left", validate="one_to_one")


def _write(df: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


def _frames(truth: pd.DataFrame, splits=("test", "val")) -> pd.DataFrame:
    """A perfect frame-level submission (score = label) of ``splits``."""
    part = truth[truth["split"].isin(splits)]
    return pd.DataFrame({"id": part["frame_id"].to_numpy(), "score": part["label"].astype(float).to_numpy()})


# -- export ---------------------------------------------------------------------------------
def test_export_layout_and_no_label_leak(run, truth):
    out = run.export.folder("testset")
    index = pd.read_csv(out / "index.csv", dtype={"frame_index": int})
    faces = run.faces.read_manifest()
    assert list(index.columns) == list(INDEX_COLUMNS)
    assert list(pd.read_parquet(run.submissions.sealed_ids_file).columns) == list(
        SEALED_IDS.columns
    )  # no label there either
    for split in ("test", "val"):
        want = faces[faces["split"] == split]
        part = index[index["split"] == split]
        assert len(part) == len(want) and part["video_id"].nunique() == want["video_id"].nunique()
    assert index["frame_id"].is_unique
    assert index.equals(
        index.sort_values(["split", "frame_id"]).reset_index(drop=True)
    )  # by anonymous id, not reals first
    assert set(index["frame_id"].str.fullmatch(r"v[0-9a-f]{12}_\d{6}")) == {True}

    # nothing names a method, a run video id or a fake's video name (none can occur in a hex id)
    forbidden = (
        set(faces["method"]) | set(faces["video_id"]) | {n for n in faces["video_name"] if "_" in n} | {"synthetic"}
    )
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert {p.suffix for p in files} == {".csv", ".txt", ".png", ".mp4"}
    for p in files:
        rel = p.relative_to(out).as_posix()
        assert not any(w in rel for w in forbidden), rel
    for cell in index.astype(str).to_numpy().ravel():
        assert not any(w in cell for w in forbidden), cell
    readme = (out / "README.txt").read_text()
    assert "forgebench submit" in readme and not any(w in readme for w in set(faces["method"]) - {"real"})

    fakes = truth[truth["label"] == 1]
    assert read_png_text(run.resolve(faces.loc[faces["label"] == 1, "crop_path"].iloc[0]))  # the originals are tagged
    for rel in index["crop"]:
        data = (out / rel).read_bytes()
        assert read_png_text(out / rel) == {} and b"tEXt" not in data and b"iTXt" not in data and b"zTXt" not in data
    for rel in sorted(set(index["video"])):
        tags = read_tags(out / rel)
        assert not any("synthetic" in f"{k} {v}".lower() for k, v in tags.items()), tags
        assert b"synthetic" not in (out / rel).read_bytes() and b"x264" not in (out / rel).read_bytes()

    # the pixels are those of the run: a fake's crop exactly, its video frame by frame
    row = fakes.iloc[0]
    crop = faces[(faces["video_id"] == row["original_video_id"]) & (faces["frame_index"] == row["frame_index"])][
        "crop_path"
    ].iloc[0]
    assert np.array_equal(
        read_image(out / "test" / "crops" / f"{row['frame_id']}.png")
        if row["split"] == "test"
        else read_image(out / "val" / "crops" / f"{row['frame_id']}.png"),
        read_image(run.resolve(crop)),
    )
    exported = [f for _, f in iter_frames(out / row["split"] / "videos" / f"{row['video_id']}.mp4")]
    source = [f for _, f in iter_frames(run.faces.source_video(row["original_video_id"]))]
    assert len(exported) == len(source) and all(np.array_equal(a, b) for a, b in zip(exported, source))


def test_reexport_gives_the_same_ids_and_removes_stale_files(run):
    out = run.export.folder("testset")
    before_index, before_sealed = (out / "index.csv").read_bytes(), pd.read_parquet(run.submissions.sealed_ids_file)
    stale, foreign = out / "test" / "crops" / "vdeadbeef0000_000001.png", out / "test" / "crops" / "notes.txt"
    stale.write_bytes(b"old")
    foreign.write_text("mine")
    summary = export_testset(run, progress=False)
    assert (out / "index.csv").read_bytes() == before_index
    pd.testing.assert_frame_equal(pd.read_parquet(run.submissions.sealed_ids_file), before_sealed)
    assert not stale.exists() and foreign.exists()
    foreign.unlink()
    assert summary["frames"]["test"] == sum(
        1 for line in before_index.decode().splitlines() if line.startswith("test,")
    )

    other = export_testset(run, out=run.root / "elsewhere", progress=False)  # another folder, the same ids
    assert (Path(other["out"]) / "index.csv").read_bytes() == before_index
    shutil.rmtree(other["out"])


def test_export_errors(run, tmp_path):
    bare = RunDir(tmp_path / "bare")
    bare.root.mkdir()
    shutil.copy(run.config_file, bare.config_file)
    with pytest.raises(DataError, match=r"manifest\.parquet: missing; run 'forgebench extract"):
        export_testset(bare, progress=False)
    faces = run.faces.read_manifest()
    bare.faces.write_manifest(faces[faces["split"] != "test"])
    with pytest.raises(DataError, match="no face rows of the test split"):
        export_testset(bare, progress=False)
    with pytest.raises(DataError, match="run directory not found"):
        export_testset(RunDir(tmp_path / "nowhere"), progress=False)


# -- scoring ----------------------------------------------------------------------------------
def test_perfect_frame_submission(run, truth, tmp_path):
    file = _write(_frames(truth), tmp_path / "perfect.csv")
    doc = submit(run, file, "oracle")
    assert doc["submission"] is True and doc["level"] == "frame" and doc["train_set"] == "submission"
    assert doc["checkpoint_sha256"] == sha256_file(file) and doc["submitted_file"] == str(file.resolve())
    assert doc["threshold_source"] == "val frame EER" and doc["video_threshold_source"] == "val video EER"
    assert doc["n_boot"] == 1000 and doc["video_aggregation"] == "mean"  # the run's protocol settings
    assert doc["test_set"] == "all" and set(doc["test_sets"]) == {"all"} | set(truth.loc[truth["label"] == 1, "method"])
    for res in doc["test_sets"].values():
        assert res["frame"]["auc"] == 1.0 and res["video"]["auc"] == 1.0
    n_test = int((truth["split"] == "test").sum())
    assert doc["n_frames"] == n_test and doc["frame"]["n_frames"] == n_test

    files = run.submissions.files("oracle")
    stored = json.loads(files.metrics.read_text())
    table = detection_table([stored])
    assert len(table) == len(doc["test_sets"]) and table["submission"].all() and set(table["detector"]) == {"oracle"}
    assert (table["frame_auc"] == 1.0).all() and (table["checkpoint_sha256"] == sha256_file(file)).all()
    preds = run.detectors.read_predictions("oracle", "submission")
    assert list(preds.columns) == list(PREDICTIONS.columns) and set(preds["split"]) == {"test"}
    assert (preds["score"] == preds["label"]).all() and set(preds["train_set"]) == {"submission"}
    assert ("oracle", "submission") in run.detectors.results()

    # a resubmission under the same name replaces it
    again = submit(run, _write(_frames(truth, ("test",)), tmp_path / "again.parquet"), "oracle", n_boot=20)
    assert again["threshold"] == 0.5 and again["n_boot"] == 20 and json.loads(files.metrics.read_text())["n_boot"] == 20


def test_video_level_submission(run, truth, tmp_path):
    videos = truth[truth["split"] == "test"].groupby("video_id")["label"].first()
    file = _write(
        pd.DataFrame({"video_id": videos.index, "score": videos.to_numpy() * 0.6 + 0.2}), tmp_path / "videos.parquet"
    )
    doc = submit(run, file, "per-video", n_boot=20)
    assert doc["level"] == "video" and doc["threshold"] == 0.5 and doc["video_threshold"] == 0.5
    assert doc["video"]["auc"] == 1.0 and doc["video"]["acc"] == 1.0 and doc["n_videos"] == len(videos)
    assert np.isnan(doc["frame"]["auc"]) and np.isnan(doc["frame"]["auc_ci_low"]) and doc["frame"]["n_frames"] == 0
    assert doc["frame"]["note"] == "video-level submission: no frame scores"
    table = detection_table([json.loads(run.submissions.files("per-video").metrics.read_text())])
    assert table["frame_auc"].isna().all() and (table["video_auc"] == 1.0).all()
    preds = run.detectors.read_predictions("per-video", "submission")
    assert set(preds["frame_index"]) == {-1} and len(preds[preds["test_set"] == "all"]) == len(videos)


def test_noisy_submission_matches_sklearn(run, truth, tmp_path):
    rng = np.random.default_rng(0)
    sub = _frames(truth)
    sub["score"] = np.clip(0.35 * sub["score"] + rng.uniform(0, 0.65, len(sub)), 0, 1)
    doc = submit(run, _write(sub, tmp_path / "noisy.csv"), "noisy", n_boot=20)
    scored = truth.merge(sub, left_on="frame_id", right_on="id")
    test = scored[scored["split"] == "test"]
    for test_set, res in doc["test_sets"].items():
        part = test if test_set == "all" else test[(test["label"] == 0) | (test["method"] == test_set)]
        assert res["frame"]["auc"] == pytest.approx(roc_auc_score(part["label"], part["score"]))
        per_video = part.groupby("original_video_id").agg(label=("label", "first"), score=("score", "mean"))
        assert res["video"]["auc"] == pytest.approx(roc_auc_score(per_video["label"], per_video["score"]))
    assert doc["threshold_source"] == "val frame EER" and 0.0 <= doc["threshold"] <= 1.0


def _missing(df):
    return df.iloc[3:], ["3 of", "test frame id(s) missing", df["id"].iloc[0]]


def _duplicates(df):
    return pd.concat([df, df.iloc[[4]]]), ["duplicate id", df["id"].iloc[4], f"rows 5, {len(df) + 1}"]


def _nan(df):
    df = df.copy()
    df.loc[df.index[2], "score"] = np.nan
    return df, ["not a finite number", "row 3", df["id"].iloc[2]]


def _inf(df):
    df = df.copy()
    df.loc[df.index[6], "score"] = np.inf
    return df, ["not a finite number", "row 7", df["id"].iloc[6]]


def _out_of_range(df):
    df = df.copy()
    df.loc[df.index[[1, 8]], "score"] = [1.5, -0.25]
    return df, ["outside [0, 1]", "row 2", df["id"].iloc[1], "row 9", "-0.25"]


def _unknown(df):
    df = df.copy()
    df.loc[df.index[0], "id"] = "vdeadbeef0000_000003"
    return df, ["unknown id", "row 1", "vdeadbeef0000_000003"]


def _mixed(df):
    df = df.copy()
    video = df["id"].iloc[5].split("_")[0]
    df.loc[df.index[5], "id"] = video
    return df, ["mixes", "frame id", "video id", "row 6", video]


def _partial_val(df):
    return df.iloc[:-2], ["validation frame id(s) given", "give every validation frame or none", df["id"].iloc[-1]]


def _wrong_columns(df):
    return df.rename(columns={"id": "name", "score": "prob"}), ["no id column", "'id'", "'score'", "['name', 'prob']"]


def _no_score(df):
    return df.rename(columns={"score": "p"}), ["no 'score' column", "['id', 'p']"]


def _misnamed(df):
    return df.rename(columns={"id": "video_id"}), ["named 'video_id' but holds frame ids"]


BAD = {
    f.__name__[1:]: f
    for f in (
        _missing,
        _duplicates,
        _nan,
        _inf,
        _out_of_range,
        _unknown,
        _mixed,
        _partial_val,
        _wrong_columns,
        _no_score,
        _misnamed,
    )
}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_submission(run, truth, tmp_path, case, suffix):
    df, expected = BAD[case](_frames(truth))
    file = _write(df, tmp_path / f"bad{suffix}")
    with pytest.raises(DataError) as err:
        submit(run, file, f"bad-{case}")
    message = str(err.value)
    assert message.startswith(str(file)) and all(e in message for e in expected), message
    assert not run.submissions.files(f"bad-{case}").folder.exists()


def test_bad_files_and_names(run, truth, tmp_path):
    good = _write(_frames(truth), tmp_path / "good.csv")
    with pytest.raises(DataError, match=r"unknown file type '\.json'; a submission is a CSV \(\.csv\) or Parquet"):
        submit(run, good.rename(tmp_path / "good.json"), "x")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(DataError, match="broken.parquet: cannot read as Parquet"):
        submit(run, broken, "x")
    empty = tmp_path / "empty.csv"
    empty.write_text("id,score\n")
    with pytest.raises(DataError, match="empty.csv: no rows"):
        submit(run, empty, "x")
    with pytest.raises(DataError, match="nothing.csv: submission file not found"):
        submit(run, tmp_path / "nothing.csv", "x")
    _write(_frames(truth), good)
    for name in ("../up", "a b", "", ".."):
        with pytest.raises(DataError, match="letters, digits"):
            submit(run, good, name)
    with pytest.raises(DataError, match="'meso4' is a trained detector's folder"):
        submit(run, good, "meso4")

    bare = RunDir(tmp_path / "bare")
    bare.root.mkdir()
    shutil.copy(run.config_file, bare.config_file)
    with pytest.raises(DataError, match=r"sealed_ids.parquet: no exported test set; run 'forgebench export testset"):
        submit(bare, good, "x")


def test_every_attempt_logged_and_the_sixth_in_a_day_refused(run, truth, tmp_path, capsys):
    """protocol.max_submissions_per_day (default 5): five submissions scored in 24 hours, the
    sixth refused before its file is read, accepted again a day after the first; every
    attempt (scored, rejected, refused) is in submissions/log.jsonl; the table counts them."""
    _set_limit(run, 5)
    try:
        good = _write(_frames(truth), tmp_path / "good.csv")
        start = datetime(2031, 1, 1, 9, 0, tzinfo=timezone.utc)  # after every other test's submissions
        before = len(read_submission_log(run))
        for k in range(5):
            doc = submit(run, good, "daily", n_boot=20, now=start + timedelta(minutes=k))
        assert doc["attempt"] == 5 and doc["submitted_at"] == "2031-01-01T09:04:00+00:00"
        with pytest.raises(
            DataError,
            match=r"5 submissions were scored in the last 24 hours, the limit "
            r"\(protocol.max_submissions_per_day: 5\); the next is accepted from 2031-01-02T09:00",
        ):
            submit(run, good, "daily", n_boot=20, now=start + timedelta(hours=3))
        bad = _write(_frames(truth).assign(score=2.0), tmp_path / "bad.csv")
        later = start + timedelta(days=1, minutes=1)
        with pytest.raises(DataError):
            submit(run, bad, "daily", n_boot=20, now=later)  # a rejected file is logged, not counted
        doc = submit(run, good, "daily", n_boot=20, now=later + timedelta(seconds=1))
        assert doc["attempt"] == 6 and doc["attempts_run"] >= 6
        log = read_submission_log(run)[before:]
        assert [e["outcome"].split(":")[0] for e in log] == ["scored"] * 5 + ["refused", "rejected", "scored"]
        assert log[0]["sha256"] == sha256_file(good) and log[0]["name"] == "daily"
        table = detection_table([json.loads(run.submissions.files("daily").metrics.read_text())])
        assert (table["submission_attempt"] == f"6 of {doc['attempts_run']} in the run").all()
    finally:
        _set_limit(run, 1000)
    # the response states the thresholds, where they came from, and the count
    capsys.readouterr()
    assert main(["--no-progress", "submit", str(run.root), str(good), "--name", "cli"]) == 0
    out = capsys.readouterr().out
    assert "thresholds: frame" in out and "(val frame EER)" in out and "attempt 1 under this name" in out
