"""Leaderboard: quality and detection tables, ROC, robustness, reliability, quality against
detectability and sample figures, Markdown, CSV and HTML — pure formatting of what the
stages stored.

Tables (:mod:`.tables`): :func:`quality_table`, :func:`detection_table`, :func:`long_table`;
the run's page (:mod:`.report`): :func:`report_page` (summary, figures, compact tables, as
blocks of :mod:`._page`) rendered by :func:`format_markdown` and :func:`format_html` from a
:class:`ReportData`; the notes every page shares (:mod:`._notes`); figures (:mod:`.plots`);
one leaderboard across runs (:mod:`.across`). The report stage
(:mod:`forgebench.stages.report`) reads the run directory and writes ``leaderboard/``.
"""

from forgebench.leaderboard.report import Figures, ReportData, format_html, format_markdown, report_page
from forgebench.leaderboard.tables import detection_table, long_table, quality_table

__all__ = [
    "Figures",
    "ReportData",
    "detection_table",
    "format_html",
    "format_markdown",
    "long_table",
    "quality_table",
    "report_page",
]
