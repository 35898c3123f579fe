"""One leaderboard across runs (forgebench.publish, forgebench.leaderboard.across) on copies of the tiny run.

Three copies of the session's tiny run (``conftest.tiny_run``, copied before anything is
written): ``a`` as built, ``b`` with another ``faces.margin`` (a settings group of its own,
and the same name as ``a``), ``c`` with the same settings under another name and a
prediction submission added. The leaderboard of the three is written once per module.
"""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from forgebench.errors import DataError
from forgebench.leaderboard.across import FIGURE
from forgebench.metrics.bootstrap import BOOT_SEED, mean_metric_interval
from forgebench.metrics.declared import interval_names
from forgebench.metrics.detection import video_scores
from forgebench.publish import write_across
from forgebench.stages import RunDir

GENERATORS = ("autoencoder_swap", "fomm", "pix2pix_reenact")


def _edit_config(run_dir, **changes) -> None:
    path = run_dir / "config.yaml"
    doc = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        node = doc
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _add_submission(run_dir, name: str = "mysub") -> None:
    """A prediction submission as ``forgebench submit`` stores it: a detector's files under
    ``detectors/<name>/submission/`` with ``"submission": true``."""
    src = run_dir / "detectors" / "meso4" / "autoencoder_swap"
    dst = run_dir / "detectors" / name / "submission"
    dst.mkdir(parents=True)
    shutil.copy(src / "predictions.parquet", dst / "predictions.parquet")
    doc = json.loads((src / "metrics.json").read_text())
    doc.update(detector=name, train_set="submission", submission=True, checkpoint_sha256="ab" * 32)
    (dst / "metrics.json").write_text(json.dumps(doc))


@pytest.fixture(scope="module")
def across(tiny_run, tmp_path_factory):
    """``(root, out, markdown)``: the leaderboard of runs a, b (other margin), c (other name)."""
    root = tmp_path_factory.mktemp("across")
    for name in ("a", "b", "c"):
        shutil.copytree(tiny_run, root / name)
    _edit_config(root / "b", **{"faces.margin": 1.5})
    _edit_config(root / "c", name="tiny_c")
    _add_submission(root / "c")
    out, markdown = write_across([root / "a", root / "b", root / "c"], root / "out", progress=False)
    return root, out, markdown


def _stored(run_dir, detector: str, train_set: str, test_set: str) -> dict:
    doc = json.loads((run_dir / "detectors" / detector / train_set / "metrics.json").read_text())
    video = {
        k: (np.nan if v is None else v) for k, v in doc["test_sets"][test_set]["video"].items()
    }  # NaN is stored as null
    return {**video, "checkpoint_sha256": doc["checkpoint_sha256"]}


def _ci_text(stored: dict) -> str:
    if np.isnan(stored["auc_ci_low"]):
        return f"{stored['auc']:.3f} [not estimable]"
    return f"{stored['auc']:.3f} [{stored['auc_ci_low']:.3f}, {stored['auc_ci_high']:.3f}]"


def _section(markdown: str, title: str) -> str:
    start = markdown.index(f"## {title}")
    end = markdown.find("\n## ", start + 3)
    return markdown[start : end if end > 0 else None]


def _rows(text: str) -> list[list[str]]:
    """Cells of the Markdown table rows of ``text`` (header and separator lines left out)."""
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("| ")]
    return [r for r in rows if r[0] != "run"]


def test_all_outputs_written(across):
    _, out, markdown = across
    for name in ("leaderboard.md", "leaderboard.csv", "report.html", "leaderboard.tex"):
        assert (out / name).is_file(), name
    assert (out / "leaderboard.md").read_text() == markdown
    png = out / "plots" / FIGURE
    assert png.is_file() and png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text()
    assert f"src='plots/{FIGURE}'" in page and "Runs differ in faces.margin" in page and "<table" in page
    # the facts columns make these tables wider than a 1400-px screen: each scrolls in its own
    # box, the page does not
    assert page.count("<table") == page.count("<div class=scroll><table") and ".scroll{overflow-x:auto}" in page


def test_latex_is_booktabs_and_escaped(across):
    tex = (across[1] / "leaderboard.tex").read_text()
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") >= 6  # 3 sections + points, in 2 groups
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert tex.count(rule) == tex.count(r"\begin{tabular}"), rule
    body = "\n".join(line for line in tex.splitlines() if not line.startswith("%"))
    unescaped = re.sub(r"\\[{}]", "", body)
    assert unescaped.count("{") == unescaped.count("}")
    assert re.search(r"(?<!\\)_", body) is None, "unescaped underscore"
    assert re.search(r"(?<!\\)%", body) is None, "unescaped percent sign"
    assert "†" not in tex and r"\textdagger{}" in tex
    assert r"autoencoder\_swap" in body and r"tiny\_c" in body


def _dataset(run_dir) -> str:
    """The dataset part of the run's video ids (the videos folder's name)."""
    return "/".join(sorted(set(RunDir(run_dir).faces.read_manifest()["dataset"])))


def test_groups_apart_and_the_difference_stated(across):
    root, _, markdown = across
    assert (
        "Runs differ in faces.margin: 1.3 (runs tiny (a), tiny_c) vs 1.5 (run tiny (b)); their rows are not comparable "
        "and are shown apart"
    ) in markdown
    for title in ("In-domain", "Cross-generator", "Robustness"):
        sec = _section(markdown, title)
        a_part, b_part = sec.split("### Settings B", 1)
        assert (
            f"### Settings A: dataset {_dataset(root / 'a')}, compression c23, crop 64 px, margin 1.3, 4 frames/video"
            in a_part
        )
        assert {r[0] for r in _rows(a_part)} == {"tiny (a)", "tiny_c"}, title
        assert {r[0] for r in _rows(b_part)} == {"tiny (b)"}, title
        assert all(r[4] == "1.5" for r in _rows(b_part)) and all(r[4] == "1.3" for r in _rows(a_part))


def test_rows_name_what_produced_them(across):
    root, _, markdown = across
    rows = _rows(_section(markdown, "In-domain"))
    assert len(rows) == 3 * 8  # 3 runs x 2 detectors x (3 generators + all)
    for run, dataset, compression, crop, _margin, frames, detector, train, weights, auc, *_, n in rows:
        folder = {"tiny (a)": "a", "tiny (b)": "b", "tiny_c": "c"}[run]
        stored = _stored(root / folder, detector, train, train)
        assert (dataset, compression, crop, frames) == (_dataset(root / "a"), "c23", "64", "4")
        assert weights == stored["checkpoint_sha256"][:12]
        assert auc.startswith(_ci_text(stored))
        assert n.startswith(f"{stored['n_identities']} identities ({stored['n_identities_real']} real")
        assert ("†" in auc) == bool(stored["thin"])
    cross = _rows(_section(markdown, "Cross-generator"))
    sub = [r for r in cross if r[6] == "mysub (submission)"]
    assert sub and {r[0] for r in sub} == {"tiny_c"} and {r[7] for r in sub} == {"submission"} and sub[0][9] == "ab" * 6
    assert all(r[7] != r[8] and "all" not in (r[7], r[8]) for r in cross if r[7] != "submission")


def test_csv_one_row_per_number(across):
    root, out, _ = across
    csv = pd.read_csv(out / "leaderboard.csv", keep_default_na=False, na_values=[""])
    for col in (
        "run",
        "run_folder",
        "settings_group",
        "dataset",
        "compression",
        "crop_size",
        "margin",
        "frames_per_video",
        "section",
        "detector",
        "train_set",
        "test_set",
        "level",
        "metric",
        "value",
        "ci_low",
        "ci_high",
        "weights_sha256",
    ):
        assert col in csv.columns, col
    key = ["run", "table", "method", "detector", "train_set", "test_set", "perturbation", "strength", "level", "metric"]
    assert not csv.duplicated(key).any()
    assert set(csv["run"]) == {"tiny (a)", "tiny (b)", "tiny_c"} and set(csv["margin"]) == {1.3, 1.5}
    assert {"in-domain", "cross-generator", "robustness", "quality", "detectability"} <= set(csv["section"])
    cell = csv[
        (csv["run"] == "tiny (b)")
        & (csv["detector"] == "meso4")
        & (csv["train_set"] == "fomm")
        & (csv["test_set"] == "fomm")
        & (csv["level"] == "video")
        & (csv["metric"] == "auc")
    ]
    stored = _stored(root / "b", "meso4", "fomm", "fomm")
    assert len(cell) == 1 and cell["section"].iloc[0] == "in-domain"
    np.testing.assert_allclose(
        cell[["value", "ci_low", "ci_high"]].to_numpy()[0], [stored["auc"], stored["auc_ci_low"], stored["auc_ci_high"]]
    )
    assert cell["weights_sha256"].iloc[0] == stored["checkpoint_sha256"]
    detection = csv[csv["table"] == "detection"]
    # every metric with an interval has one, or its status says why not (the tiny runs' two test people are
    # linked by their fakes: one cluster, not estimable)
    with_interval = detection["metric"].isin(interval_names())
    missing = with_interval & detection[["ci_low", "ci_high"]].isna().any(axis=1) & detection["value"].notna()
    assert missing.any() and detection.loc[missing, "status"].str.contains("not estimable").all()
    assert detection.loc[detection["metric"] == "eer_deepfakebench", "value"].between(0, 1).all()


def test_detectability_interval_contains_the_mean_of_stored_aucs(across):
    root, out, _ = across
    csv = pd.read_csv(out / "leaderboard.csv")
    points = csv[(csv["section"] == "detectability") & (csv["run"] == "tiny (a)")].set_index("method")
    assert set(points.index) == set(GENERATORS)
    for gen in GENERATORS:
        aucs = [_stored(root / "a", det, gen, gen)["auc"] for det in ("efficientnet_b0", "meso4")]
        p = points.loc[gen]
        assert p["value"] == pytest.approx(np.mean(aucs))
        if np.isnan(p["ci_low"]):  # the tiny run's test people form one cluster
            assert "not estimable" in p["status"], gen
        else:
            assert p["ci_low"] - 1e-12 <= np.mean(aucs) <= p["ci_high"] + 1e-12, gen


def test_one_detector_interval_is_the_stored_one(tiny_run):
    """The replicates behind the mean are the train stage's: for one detector, the interval
    of the mean is the stored video AUC interval."""
    run = RunDir(tiny_run)
    stored = _stored(tiny_run, "meso4", "autoencoder_swap", "autoencoder_swap")
    preds = run.detectors.read_predictions("meso4", "autoencoder_swap")
    vs = video_scores(preds[preds["test_set"] == "autoencoder_swap"], how="mean")

    def sample(v):
        return v["label"].to_numpy(), v["score"].to_numpy(), v["cluster"].astype(str).to_numpy()

    low, high = mean_metric_interval([sample(vs)], "auc", n_boot=stored["n_boot"], seed=BOOT_SEED)
    assert (low, high) == pytest.approx((stored["auc_ci_low"], stored["auc_ci_high"]), nan_ok=True)
    with pytest.raises(ValueError, match="different identities"):
        mean_metric_interval([sample(vs), sample(vs[vs["cluster"] != vs["cluster"].iloc[0]])], "auc", n_boot=10)


def test_bad_inputs(tiny_run, tmp_path):
    (tmp_path / "not_a_run").mkdir()
    with pytest.raises(DataError, match="not a run directory"):
        write_across([tmp_path / "not_a_run"], tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    shutil.copytree(tiny_run, tmp_path / "bare", ignore=shutil.ignore_patterns("detectors"))
    _edit_config(tmp_path / "bare", name="bare")
    out, markdown = write_across([tmp_path / "bare"], tmp_path / "out", progress=False)
    assert "bare: No detector results yet" in markdown
    assert "No run has a detector tested on the generator it was trained on." in markdown
    assert (out / "leaderboard.tex").is_file() and (out / "plots" / FIGURE).is_file()
