"""The run report's layout (issue 22): summary first, figures before tables, compact tables
that say once what is unavailable, no machine paths, every result behind ``<details>``, and
Markdown and HTML rendered from one description of the page.

The run is the small run directory of ``tests/test_leaderboard.py`` (fixture ``run_dir``),
copied, with set-level metrics whose weights files are missing from an empty torch hub
cache: the real :func:`forgebench.weights.weights_status` reasons, which name the cache's
absolute path.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from test_leaderboard import _report, run_dir  # noqa: F401 (run_dir: the fixture this module builds on)

from forgebench.leaderboard import _notes, across, protocols, report
from forgebench.leaderboard._page import Cell, Section, Table, Text, render_html, render_markdown, strip_paths
from forgebench.weights import override_variable, weights_status

#: Weights entries whose files the copied run misses (metrics of quality_sets.parquet they serve).
MISSING = {"pt_inception": ("kid",), "arcface_r100_glint360k": ("id_retrieval",)}


@pytest.fixture(scope="module")
def page(run_dir, tmp_path_factory):  # noqa: F811 (the fixture imported above)
    """``{"root", "out", "html", "md", "cache"}``: the report of a copy of ``run_dir`` whose
    KID and ArcFace ID retrieval rows are unavailable for every generator (weights missing
    from an empty cache), FID for one."""
    root = tmp_path_factory.mktemp("layout")
    run = root / "run"
    shutil.copytree(run_dir, run, ignore=shutil.ignore_patterns("leaderboard"))
    cache = root / "torch_home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_HOME", str(cache))
        for name in MISSING:
            mp.delenv(override_variable(name), raising=False)
        reasons = {name: weights_status(name) for name in MISSING}
    assert all(r.startswith("unavailable:") and str(cache) in r for r in reasons.values())
    path = run / "metrics" / "quality_sets.parquet"
    sets = pd.read_parquet(path)
    rows = [
        {
            "method": gen,
            "metric": metric,
            "value": float("nan"),
            "status": reasons[name],
            "n_real": 0,
            "n_fake": 0,
            "weights": "",
            "weights_sha256": "",
            "eval_mode": None,
        }
        for gen in ("gen_a", "gen_b")
        for name, metrics in MISSING.items()
        for metric in metrics
    ]
    sets.loc[(sets["method"] == "gen_a") & (sets["metric"] == "fid"), "status"] = reasons["pt_inception"]
    pd.concat([sets, pd.DataFrame(rows)], ignore_index=True).to_parquet(path, index=False)
    out, markdown = _report(run)
    return {"root": root, "out": out, "html": (out / "report.html").read_text(), "md": markdown, "cache": cache}


def _at(page_html: str, anchor: str) -> int:
    position = page_html.find(f"id='{anchor}'")
    assert position >= 0, f"no section '{anchor}'"
    return position


def test_summary_first_then_figures_then_tables(page):
    text = page["html"]
    summary, figures, quality, detection = (_at(text, a) for a in ("summary", "figures", "quality", "detection"))
    assert text.index("Too few identities to conclude") < summary < figures < quality < detection
    # the summary: what ran, the identities, the headline matrix of video AUCs with intervals or "not estimable"
    head = text[summary:figures]
    assert "What ran:" in head and "4 real videos of 4 identities" in head and "gen_a 2, gen_b 1" in head
    assert "detectors: meso4, xception; train sets: gen_a, gen_b; one training seed (0)" in head
    assert "Headline: video AUC [95% CI]" in head and "<th>test: gen_a</th>" in head and "<th>test: gen_b</th>" in head
    # meso4 trained and tested on gen_a: in-domain (bold), shaded green, thin, the n in its tooltip
    assert (
        '<tr><td>meso4</td><td>gen_a</td><td title="n=2 identities / 4 videos / 16 frames" style="background:hsl(120,'
        in head
        and "<b>1.000 <span class=ci>[1.000, 1.000] †</span></b>" in head
    )
    assert "<b>1.000 <span class=ci>[not estimable] †</span></b>" in head  # meso4 on gen_b: one cluster of people
    # every figure comes before the first table of the quality and detection sections
    body = text[figures:quality]
    for name in (
        "plots/roc_meso4.png",
        "plots/reliability_meso4.png",
        "plots/samples_gen_a.png",
        "plots/quality_vs_detectability.png",
    ):
        assert f"src='{name}'" in body, name
        assert (page["out"] / name).is_file(), name
    assert "<table" not in body


def test_markdown_has_the_same_order(page):
    md = page["md"]
    order = [
        md.index(h)
        for h in (
            "**Too few identities",
            "## Summary",
            "## Figures",
            "## Quality of the fakes",
            "## Detection (test split)",
            "### Every result",
        )
    ]
    assert order == sorted(order)
    assert "![ROC curves of meso4](plots/roc_meso4.png)" in md


def _headings_html(text: str) -> list[str]:
    found = re.findall(r"<h[1-4]>(.*?)</h[1-4]>|<summary><span class=title>(.*?)</span>", text)
    return [html.unescape(h or s) for h, s in found]


def test_markdown_and_html_render_one_description(page):
    md_headings = [line.lstrip("#").strip() for line in page["md"].splitlines() if re.match(r"#{1,4} ", line)]
    html_only = ["Versions and weights files"]  # provenance.json's tables, HTML only
    assert _headings_html(page["html"]) == md_headings + html_only
    blocks = report.report_page(report.ReportData(name="x", folder="x"))
    assert render_markdown(blocks).startswith("# forgebench leaderboard: x\n")
    assert "<h1>forgebench leaderboard: x</h1>" in render_html(blocks, "x")


def test_every_result_is_behind_closed_details(page):
    text = page["html"]
    start = text.index("<details id='every-result'>")  # no "open" attribute: closed by default
    end = text.index("</details>", start)
    summary = text[start : text.index("</summary>", start)]
    assert "leaderboard.csv" in summary and "3 results" in summary
    inside = text[start:end]
    assert "<caption>video level</caption>" in inside and "<caption>frame level</caption>" in inside
    assert text.count("frame AP [95% CI]") == inside.count("frame AP [95% CI]") == 1  # the every-result table only
    assert "<details id='cross-generator'>" in text  # the per-detector matrices with their n: collapsed too
    csv = pd.read_csv(page["out"] / "leaderboard.csv")
    assert len(csv[(csv["table"] == "detection") & (csv["metric"] == "auc")]) == 2 * 3  # every result, both levels


def test_no_machine_paths_in_the_html(page):
    text = html.unescape(page["html"])
    for bad in ("hub/checkpoints", ".cache", str(page["root"]), str(page["cache"])):
        assert bad not in text, bad
    absolute = re.findall(r"(?<![\w.:/~-])(/[^\s'\"<>;,()]+)", text)
    assert not [p for p in absolute if Path(p).exists()], absolute
    assert "pt_inception-2015-12-05-6726825d.pth" in text  # the file is named, not where it was looked for
    # leaderboard.csv keeps the whole stored reason (with the path) of every number
    csv = pd.read_csv(page["out"] / "leaderboard.csv", keep_default_na=False)
    assert csv["status"].str.contains(str(page["cache"]), regex=False).any()


def _quality_rows(text: str) -> list[str]:
    """The first cells (metric labels) of the quality metrics table."""
    start = text.index("<caption>Quality metrics")
    table = text[start : text.index("</table>", start)]
    return [html.unescape(c) for c in re.findall(r"<tr><td>(.*?)</td>", table)]


def test_unavailable_said_once_per_reason(page):
    text = page["html"]
    rows = _quality_rows(text)
    # metrics no generator has are not rows: LPIPS (NaN everywhere), KID and ID retrieval (ArcFace) (weights missing)
    assert {"SSIM", "PSNR (dB)", "FID", "Fréchet (dlib)"} <= set(rows)
    assert not {"LPIPS", "KID", "ID retrieval (ArcFace)"} & set(rows)
    items = [html.unescape(re.sub(r"<[^>]+>", "", i)) for i in re.findall(r"<li>(.*?)</li>", text)]
    lines = [i for i in items if "unavailable: " in i]
    weights = [line for line in lines if "weights file not found" in line]
    assert len(weights) == 1, weights  # FID, KID and ID retrieval (ArcFace): one line, both files named
    assert weights[0].startswith("[") and all(m in weights[0] for m in ("FID", "KID", "ID retrieval (ArcFace)"))
    assert "pt_inception-2015-12-05-6726825d.pth" in weights[0] and "glint360k_cosface_r100_fp16_0.1.pth" in weights[0]
    assert sum("no finite value in quality.parquet" in line for line in lines) == 1
    assert len({line.split(": unavailable: ", 1)[1] for line in lines}) == len(lines)  # each reason once
    assert any(i.startswith("Not shown, unavailable for every generator: LPIPS") for i in items)
    # the generator that misses FID says which reason, by its number
    k = weights[0][1 : weights[0].index("]")]
    assert f"<td>unavailable <span class=ci>[{k}]</span></td>" in text


def test_cells_keep_details_in_a_tooltip():
    cell = Cell("0.875 [0.750, 1.000]", ("2 seeds: 0.750–1.000",), mark="†", shade=0.875)
    table = Table(pd.DataFrame({"detector": ["meso4"], "video AUC [95% CI]": [cell]}))
    md = render_markdown([table])
    assert "| meso4 | 0.875 [0.750, 1.000] (2 seeds: 0.750–1.000) † |" in md
    page = render_html([Section("t", [table, Text("a note", "note")], collapsed=True, summary="s")], "t")
    assert 'title="2 seeds: 0.750–1.000"' in page and "<span class=ci>[0.750, 1.000] †</span>" in page
    assert "background:hsl(120" in page and "<details><summary>" in page
    assert (
        strip_paths("not in /root/.cache/torch/hub/checkpoints/x.pth; see https://a.b/c/d")
        == "not in x.pth; see https://a.b/c/d"
    )


def test_each_note_is_defined_once():
    for name in ("THIN_MARK", "DETECTION_NOTE", "CROSS_NOTE", "ROBUST_NOTE", "DEPLOYMENT_NOTE", "COMPARISON_NOTE"):
        assert getattr(protocols, name) is getattr(_notes, name), name
    for name in (
        "THIN_MARK",
        "CROSS_NOTE",
        "ROBUST_NOTE",
        "MARKS_NOTE",
        "BEST_MARK",
        "SAME_AS_BEST_MARK",
        "CROSS_DATASET_NOTE",
    ):
        assert getattr(across, name) is getattr(_notes, name), name
    assert report.QUALITY_NOTE is _notes.QUALITY_NOTE and report.RECON_NOTE is _notes.RECON_NOTE
    for note in (
        _notes.CROSS_NOTE,
        _notes.ROBUST_NOTE,
        _notes.CROSS_DATASET_NOTE,
        _notes.COMPARISON_NOTE,
        _notes.HEATMAP_NOTE,
    ):
        assert _notes.THIN_NOTE in note
