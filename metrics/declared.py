"""Every detection and quality metric's declaration, gathered from where it is computed.

A :class:`MetricDecl` gives a metric's name, label, levels, unit, direction, the paper or
code it follows and what it needs (pixels of the replaced frame, pretrained weights). Each
module declares the metrics it computes beside the code (as timm keeps ``default_cfgs``
beside a model): the detection metrics in :mod:`forgebench.metrics.detection`, the quality
metrics in :mod:`~forgebench.metrics.quality` (SSIM, PSNR, landmarks),
:mod:`~forgebench.metrics.lpips_metric`, :mod:`~forgebench.metrics.identity`,
:mod:`~forgebench.metrics.boundary`, :mod:`~forgebench.metrics.temporal`,
:mod:`~forgebench.metrics.fid`, :mod:`~forgebench.metrics.kid` and
:mod:`~forgebench.metrics.reconstruction`. This module gathers them in display order into
:data:`DETECTION` and :data:`QUALITY`, from which the table schemas
(:mod:`forgebench.leaderboard.tables`), the bootstrap
(:data:`forgebench.metrics.bootstrap.BOOT_METRICS`), the report's column labels and notes
(:mod:`forgebench.leaderboard.report`, :mod:`forgebench.leaderboard.protocols`) and the
metric tables of docs/metrics.md (``python -m forgebench.metrics.declared detection|quality``,
checked by ``tests/test_metric_declarations.py``) are derived. A metric is added by
declaring it beside its code, listing its declarations below in the place of the table it
belongs to, and computing it where its kind is computed (:mod:`forgebench.metrics.detection`
/ :mod:`forgebench.stages.score`).
"""

from __future__ import annotations

import argparse

from forgebench.metrics import boundary, fid, identity, kid, lpips_metric, quality, reconstruction, temporal
from forgebench.metrics._declaration import MetricDecl
from forgebench.metrics.detection import (
    DETECTION,
    ECE_BINS,
    LOW_FPRS,
    detection_names,
    interval_names,
    point_names,
)

__all__ = [
    "MetricDecl",
    "DETECTION",
    "QUALITY",
    "LOW_FPRS",
    "ECE_BINS",
    "detection_names",
    "interval_names",
    "point_names",
    "quality_names",
    "label",
    "markdown_table",
]

#: Quality metrics, in display order: per-video means (pixels, identity, landmarks,
#: boundary, temporal), set-level (distributions, identity retrieval), reconstruction.
QUALITY: tuple[MetricDecl, ...] = (
    *quality.PAIR_DECLARED,
    *lpips_metric.DECLARED,
    *identity.VIDEO_DECLARED,
    *quality.LANDMARK_DECLARED,
    *boundary.DECLARED,
    *temporal.DECLARED,
    *fid.DECLARED,
    *kid.DECLARED,
    *identity.SET_DECLARED,
    *reconstruction.DECLARED,
)


def quality_names(level: str) -> tuple[str, ...]:
    """The quality metrics of ``level`` (``video``, ``set`` or ``reconstruction``)."""
    return tuple(d.name for d in QUALITY if level in d.levels)


def label(name: str) -> str:
    """The report label of metric ``name`` (the name itself when undeclared, e.g. a
    third-party frame-pair metric)."""
    for d in (*DETECTION, *QUALITY):
        if d.name == name:
            return d.label
    return name


def markdown_table(kind: str) -> str:
    """docs/metrics.md's table of ``kind`` (``detection`` or ``quality``): one row per metric
    with its label, levels, unit, direction, what it needs and what it follows."""
    decls = DETECTION if kind == "detection" else QUALITY
    direction = {True: "higher", False: "lower", None: "—"}
    lines = [
        "| metric | label | level | unit | better | interval | needs | follows | definition |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def cell(text: str) -> str:
        return text.replace("|", "\\|")  # a bar inside a cell would end it

    for d in decls:
        lines.append(
            f"| `{d.name}` | {cell(d.label)} | {', '.join(d.levels)} | {cell(d.unit)} | {direction[d.higher_is_better]} | "
            f"{'yes' if d.interval else 'no'} | {cell(d.needs or '—')} | {cell(d.reference)} | {cell(d.definition)} |"
        )
    return "\n".join(lines)


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print docs/metrics.md's metric tables, derived from the declarations")
    parser.add_argument("kind", choices=("detection", "quality"))
    print(markdown_table(parser.parse_args(argv).kind))


if __name__ == "__main__":
    _main()
