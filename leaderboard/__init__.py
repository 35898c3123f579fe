"""Leaderboard: quality and detection tables, ROC and sample figures, Markdown/CSV/HTML report.

Entry points: :func:`quality_table`, :func:`detection_table` (pandas DataFrames),
:func:`build_report` (the ``forgebench report`` stage, writes ``run_dir/leaderboard``)
and :func:`format_markdown` (the leaderboard text the CLI prints). Inputs and schemas:
docs/architecture.md.
"""

from forgebench.leaderboard.report import build_report, format_markdown
from forgebench.leaderboard.tables import bootstrap_auc_ci, detection_table, long_table, quality_table

__all__ = ["bootstrap_auc_ci", "build_report", "detection_table", "format_markdown", "long_table", "quality_table"]
