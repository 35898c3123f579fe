"""Every metric is declared once (``forgebench.metrics.declared``) and the tables, the
bootstrap, the report's labels and docs/metrics.md are derived from the declarations."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from forgebench.leaderboard.report import LABELS
from forgebench.leaderboard.tables import (
    DETECTION_COLUMNS,
    DETECTION_METRICS,
    POINT_METRICS,
    QUALITY_METRICS,
    SET_METRICS,
)
from forgebench.metrics.bootstrap import BOOT_METRICS, weighted_metrics
from forgebench.metrics.declared import DETECTION, QUALITY, detection_names, markdown_table, quality_names
from forgebench.metrics.detection import detection_metrics
from forgebench.schemas import QUALITY as QUALITY_SCHEMA
from forgebench.schemas import QUALITY_FRAMES

DOCS = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"


def test_docs_hold_the_derived_tables():
    text = DOCS.read_text()
    for kind in ("detection", "quality"):
        block = re.search(rf"<!-- declared:{kind} -->\n(.*?)<!-- /declared:{kind} -->", text, re.S)
        assert block is not None, kind
        assert block.group(1).strip() == markdown_table(kind), (
            f"docs/metrics.md: regenerate with python -m forgebench.metrics.declared {kind}"
        )


def test_every_computed_metric_is_declared_and_every_declared_one_computed():
    rng = np.random.default_rng(0)
    y, s = np.repeat([0, 1], 50), rng.random(100)
    point = detection_metrics(y, s, 0.5, {"1pct": 0.9, "0_1pct": 0.99})
    assert set(detection_names()) == set(point) - {"n", "n_real", "n_fake"}
    assert set(weighted_metrics(y, s, np.ones((2, 100)))) == set(BOOT_METRICS)
    assert DETECTION_METRICS == BOOT_METRICS and set(DETECTION_METRICS) | set(POINT_METRICS) == set(detection_names())
    assert all(f"video_{m}" in DETECTION_COLUMNS for m in detection_names())
    names = [d.name for d in (*DETECTION, *QUALITY)]
    assert len(names) == len(set(names))


def test_quality_declarations_match_the_stored_columns():
    assert QUALITY_METRICS == quality_names("video") and SET_METRICS == quality_names("set")
    assert set(quality_names("video")) <= set(QUALITY_SCHEMA.columns) and set(quality_names("video")) <= set(
        QUALITY_FRAMES.columns
    )
    assert all(
        f"recon_{n}" in quality_names("reconstruction")
        for n in ("l1", "ssim", "akd", "akd_iod", "aed", "aed_dlib", "mkr")
    )
    assert {d.name: d.label for d in QUALITY} == LABELS
    assert all(d.unit and d.reference and d.definition for d in (*DETECTION, *QUALITY))
