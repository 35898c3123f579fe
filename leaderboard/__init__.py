"""Leaderboard: quality and detection tables, ROC, robustness and sample figures, Markdown,
CSV and HTML — pure formatting of what the stages stored.

Tables (:mod:`.tables`): :func:`quality_table`, :func:`detection_table`, :func:`long_table`;
text (:mod:`.report`): :func:`format_markdown`, :func:`format_html` of a
:class:`ReportData`; figures (:mod:`.plots`). The report stage
(:mod:`forgebench.stages.report`) reads the run directory and writes ``leaderboard/``.
"""

from forgebench.leaderboard.report import Figures, ReportData, format_html, format_markdown
from forgebench.leaderboard.tables import detection_table, long_table, quality_table

__all__ = ["Figures", "ReportData", "detection_table", "format_html", "format_markdown", "long_table", "quality_table"]
