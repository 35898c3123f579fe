"""``leaderboard/`` and ``comparisons/`` of a run directory: the tables, report, plots,
terminal summary and stored paired comparisons (:class:`LeaderboardFiles`)."""

from __future__ import annotations

from pathlib import Path


class LeaderboardFiles:
    """The files of ``leaderboard/`` and ``comparisons/``.

    Args:
        run_root: the run directory.
    """

    def __init__(self, run_root: Path) -> None:
        self.folder = Path(run_root) / "leaderboard"
        self.comparisons_folder = Path(run_root) / "comparisons"

    @property
    def plots_folder(self) -> Path:
        """``leaderboard/plots/``."""
        return self.folder / "plots"

    def plot_file(self, name: str) -> Path:
        """``leaderboard/plots/<name>.png`` (``roc_<detector>``, ``samples_<method>``, ``robustness``)."""
        return self.plots_folder / f"{name}.png"

    def plot_files(self, prefix: str) -> list[Path]:
        """The ``leaderboard/plots/<prefix>*.png`` files there are, sorted."""
        return sorted(self.plots_folder.glob(f"{prefix}*.png"))

    @property
    def markdown(self) -> Path:
        """``leaderboard/leaderboard.md``: the tables as Markdown."""
        return self.folder / "leaderboard.md"

    @property
    def csv(self) -> Path:
        """``leaderboard/leaderboard.csv``: every number in long format."""
        return self.folder / "leaderboard.csv"

    @property
    def html(self) -> Path:
        """``leaderboard/report.html``: summary, figures, tables and notes."""
        return self.folder / "report.html"

    @property
    def summary(self) -> Path:
        """``leaderboard/summary.txt``: the at most 25 lines ``forgebench run`` and ``report`` print."""
        return self.folder / "summary.txt"

    def comparison_file(self, a: str, b: str, test_set: str) -> Path:
        """``comparisons/<A>__vs__<B>__<test set>.json``: a stored paired comparison
        (``NAME/TRAIN_SET`` written ``NAME-TRAIN_SET``)."""
        return self.comparisons_folder / f"{a.replace('/', '-')}__vs__{b.replace('/', '-')}__{test_set}.json"

    def comparison_files(self) -> list[Path]:
        """Every stored paired comparison, sorted."""
        return sorted(self.comparisons_folder.glob("*.json")) if self.comparisons_folder.is_dir() else []
