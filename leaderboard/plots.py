"""Leaderboard figures: ROC curves and reliability diagrams per detector, robustness curves
(AUC against perturbation strength), quality against detectability per generator and
real/fake sample grids per generator.

Figures are drawn on matplotlib's Agg canvas (no display, no pyplot global state) and
written atomically (temporary file + rename). ROC points come from
``sklearn.metrics.roc_curve``; video scores from
:func:`forgebench.metrics.detection.video_scores` (mean frame score per video id).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score, roc_curve

from forgebench.errors import DataError
from forgebench.fileio import atomic_path
from forgebench.leaderboard.protocols import PERTURBATION_LABELS
from forgebench.media import synthetic_tag
from forgebench.metrics.detection import expected_calibration_error, reliability_curve, video_scores
from forgebench.schemas import PRETRAINED_SET


def save_figure(fig: Figure, path: Path, metadata: dict[str, str] | None = None) -> Path:
    """Save ``fig`` as PNG at ``path`` atomically (:func:`forgebench.fileio.atomic_path`).

    ``metadata`` becomes PNG text chunks. Returns ``path``.
    """
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata=metadata)
    return Path(path)


def _unit_square(ax, diagonal: str, xlabel: str, ylabel: str, title: str, legend: str) -> None:
    """Finish a [0, 1] x [0, 1] panel (ROC, reliability): the dashed diagonal labelled
    ``diagonal``, equal aspect, axis labels, title, grid and the legend at ``legend``."""
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", linewidth=1, label=diagonal)
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc=legend, fontsize=7)


def plot_roc(curves: dict[str, pd.DataFrame], path: Path, title: str) -> Path:
    """Frame-level and video-level ROC curves (two panels) of one detector.

    Args:
        curves: legend label (e.g. ``"train autoencoder_swap / test autoencoder_swap"``)
            -> test predictions with columns ``video_id``, ``label`` (0 real, 1 fake),
            ``score`` (probability of fake in [0, 1]). A set with one class only is listed
            in the legend as having no ROC instead of being drawn.
        path: output PNG.
        title: figure title (the detector name).

    Returns:
        ``path``.
    """
    fig = Figure(figsize=(10, 4.6))
    axes = fig.subplots(1, 2)
    for ax, level in zip(axes, ("frame", "video")):
        for label, df in curves.items():
            if level == "video":
                data = video_scores(df, score_col="score", by="video_id", how="mean")
                n_text = f"{len(data)} videos"
            else:
                data = df
                n_text = f"{len(df)} frames"
            y, s = np.asarray(data["label"]).astype(int), np.asarray(data["score"], dtype=float)
            if len(set(y.tolist())) < 2:
                ax.plot([], [], " ", label=f"{label}: one class only, no ROC ({n_text})")
                continue
            fpr, tpr, _ = roc_curve(y, s)
            auc = roc_auc_score(y, s)
            ax.plot(fpr, tpr, linewidth=1.8, label=f"{label}: AUC {auc:.3f} ({n_text})")
        _unit_square(
            ax,
            "chance",
            "false positive rate (real called fake)",
            "true positive rate (fake called fake)",
            f"{level} level",
            "lower right",
        )
    fig.suptitle(f"ROC, test split: {title}")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_reliability(curves: dict[str, pd.DataFrame], path: Path, title: str, how: str = "mean") -> Path:
    """Reliability diagrams (frame and video level) of one detector: per bin of
    :func:`forgebench.metrics.detection.reliability_curve` (15 equal-width bins of p(fake)),
    the fraction of fakes against the mean predicted p(fake), marker area by the samples
    in the bin; the diagonal is perfect calibration, and the legend gives the ECE.

    Args:
        curves: legend label -> test predictions (``video_id``, ``label``, ``score`` in [0, 1]).
        path: output PNG. title: figure title (the detector name).
        how: video aggregation of frame scores.

    Returns:
        ``path``.

    Raises:
        ValueError: a score outside [0, 1].
    """
    fig = Figure(figsize=(10, 4.6))
    axes = fig.subplots(1, 2)
    for ax, level in zip(axes, ("frame", "video")):
        for label, df in curves.items():
            data = video_scores(df, score_col="score", by="video_id", how=how) if level == "video" else df
            y, s = np.asarray(data["label"]).astype(int), np.asarray(data["score"], dtype=float)
            points = reliability_curve(y, s)
            ece = expected_calibration_error(y, s)
            ax.plot(
                points["mean_p"],
                points["fraction_fake"],
                marker="o",
                linewidth=1.2,
                markersize=3,
                label=f"{label}: ECE {ece:.3f} ({len(data)} {'videos' if level == 'video' else 'frames'})",
            )
            ax.scatter(
                points["mean_p"], points["fraction_fake"], s=8 + 200 * points["n"] / max(1, len(data)), alpha=0.3
            )
        _unit_square(
            ax,
            "perfectly calibrated",
            "mean predicted p(fake) in the bin",
            "fraction of fakes in the bin",
            f"{level} level (15 bins; marker area = share of samples)",
            "upper left",
        )
    fig.suptitle(f"Reliability diagram, test split: {title}")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_robustness(table: pd.DataFrame, path: Path) -> Path:
    """AUC against perturbation strength, one panel per perturbation, one line per detector.

    Args:
        table: robustness metrics rows (:data:`forgebench.schemas.ROBUSTNESS_METRICS`: video-level
            AUC with 95% bootstrap interval per strength; ``perturbation == "none"`` is the
            clean score, drawn as a dotted line in the detector's colour).
        path: output PNG.

    Returns:
        ``path``.

    Raises:
        DataError: the table has no perturbed rows.
    """
    perts = [p for p in dict.fromkeys(table["perturbation"]) if p != "none"]
    if not perts:
        raise DataError("no perturbed scores to plot")
    cols = min(3, len(perts))
    rows = math.ceil(len(perts) / cols)
    fig = Figure(figsize=(4.6 * cols, 3.6 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    colours = {d: f"C{i}" for i, d in enumerate(sorted(set(table["detector"] + " / " + table["train_set"])))}
    for ax, pert in zip(axes, perts):
        for key, colour in colours.items():
            det, train = key.split(" / ", 1)
            g = table[(table["detector"] == det) & (table["train_set"] == train)]
            p = g[g["perturbation"] == pert].sort_values("strength")
            clean = g[g["perturbation"] == "none"]
            if p.empty:
                continue
            trained = "weights from outside the run" if train == PRETRAINED_SET else f"trained on {train}"
            ax.plot(p["strength"], p["video_auc"], marker="o", color=colour, label=f"{det} ({trained})")
            ax.fill_between(p["strength"], p["video_auc_ci_low"], p["video_auc_ci_high"], color=colour, alpha=0.15)
            if len(clean):
                ax.axhline(float(clean["video_auc"].iloc[0]), color=colour, linestyle=":", linewidth=1)
        if pert == "jpeg":
            ax.invert_xaxis()
        ax.axhline(0.5, color="0.6", linestyle="--", linewidth=1)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(PERTURBATION_LABELS.get(pert, pert))
        ax.set_ylabel("video AUC")
        ax.set_title(pert)
        ax.grid(alpha=0.3)
    for ax in axes[len(perts) :]:
        ax.set_visible(False)
    axes[0].legend(loc="lower left", fontsize=7)
    n = table[["n_videos", "n_frames"]].iloc[0]
    fig.suptitle(
        f"Robustness, test split ({int(n['n_videos'])} videos / {int(n['n_frames'])} frames); "
        "dotted = clean, band = 95% bootstrap CI over videos"
    )
    fig.tight_layout()
    return save_figure(fig, path)


#: Quality axis of the quality-against-detectability figures, in order of preference:
#: (metric, axis label). :func:`quality_axis` takes the one with a value for the most
#: generators (the first of those on a tie), so every point of a figure shares one axis.
QUALITY_AXES = (
    ("fid", "FID, real vs fake crops (pytorch-fid; lower = closer to real)"),
    ("frechet_dlib", "Fréchet distance of dlib descriptors, real vs fake (lower = closer to real)"),
    ("id_sim_source", "ID similarity to the source, ArcFace cosine (higher = identity kept)"),
    ("id_sim_source_dlib", "ID similarity to the source, dlib cosine (higher = identity kept)"),
)


def quality_value(quality: pd.DataFrame | None, generator: str, metric: str) -> float:
    """The value of ``metric`` for ``generator`` in a quality table
    (:func:`forgebench.leaderboard.tables.quality_table`): a set-level metric's value, or a
    per-video metric's mean; NaN when the table, the generator or the value is missing."""
    if quality is None or "method" not in quality:
        return math.nan
    row = quality[quality["method"] == generator]
    column = metric if metric in quality.columns else f"{metric}_mean"
    if row.empty or column not in quality.columns:
        return math.nan
    value = row[column].iloc[0]
    return math.nan if isinstance(value, str) or pd.isna(value) else float(value)


def quality_axis(tables: list[tuple[pd.DataFrame | None, str]]) -> tuple[str, str]:
    """``(metric, axis label)`` of :data:`QUALITY_AXES` with a finite value for the most of
    ``tables`` (``(quality table, generator)`` pairs, one per point); the first on a tie,
    so the last when no point has any."""
    counts = [sum(math.isfinite(quality_value(q, g, m)) for q, g in tables) for m, _ in QUALITY_AXES]
    best = max(counts) if counts else 0
    return QUALITY_AXES[counts.index(best)] if best else QUALITY_AXES[-1]


def quality_auc_points(quality: pd.DataFrame | None, detection: pd.DataFrame | None) -> tuple[pd.DataFrame, str]:
    """The points of :func:`plot_quality_vs_auc`: one per in-domain result of a generator
    (a detector trained and tested on that generator's fakes; ``all`` left out).

    Returns:
        ``(points, axis label)``: points with columns ``detector``, ``generator``,
        ``quality`` (NaN where the generator has no value on the axis), ``auc``,
        ``ci_low``, ``ci_high`` (the stored video AUC and its interval) and ``thin``.
    """
    columns = ["detector", "generator", "quality", "auc", "ci_low", "ci_high", "thin"]
    if detection is None or detection.empty or quality is None:
        return pd.DataFrame(columns=columns), QUALITY_AXES[-1][1]
    generators = set(quality["method"].astype(str))
    own = detection[(detection["train_set"] == detection["test_set"]) & detection["test_set"].isin(generators)]
    metric, axis = quality_axis([(quality, g) for g in sorted(set(own["test_set"]))])
    points = pd.DataFrame(
        {
            "detector": own["detector"].astype(str),
            "generator": own["test_set"].astype(str),
            "quality": [quality_value(quality, g, metric) for g in own["test_set"]],
            "auc": own["video_auc"],
            "ci_low": own["video_auc_ci_low"],
            "ci_high": own["video_auc_ci_high"],
            "thin": own["thin"].astype(bool),
        },
        columns=columns,
    )
    return points.reset_index(drop=True), axis


def plot_quality_vs_auc(points: pd.DataFrame, axis: str, path: Path) -> Path:
    """Each generator's quality against its in-domain video AUC, one colour per detector.

    Args:
        points: :func:`quality_auc_points` rows; points without a finite quality or AUC are
            not drawn (the figure says how many).
        axis: the quality axis label (the metric and its direction).
        path: output PNG.

    Returns:
        ``path``.

    Raises:
        DataError: no point can be drawn.
    """
    ok = points[np.isfinite(points["quality"].astype(float)) & np.isfinite(points["auc"].astype(float))]
    if ok.empty:
        raise DataError(f"no generator has both a quality value ({axis.split(',')[0]}) and an in-domain detector")
    fig = Figure(figsize=(7.0, 4.6))
    ax = fig.subplots()
    for k, (det, g) in enumerate(ok.groupby("detector", sort=True)):
        low = (g["auc"] - g["ci_low"]).clip(lower=0).fillna(0).to_numpy(dtype=float)
        high = (g["ci_high"] - g["auc"]).clip(lower=0).fillna(0).to_numpy(dtype=float)
        ax.errorbar(
            g["quality"],
            g["auc"],
            yerr=[low, high],
            fmt="osD^v"[k % 5],
            color=f"C{k % 10}",
            capsize=3,
            markersize=6,
            label=str(det),
        )
    for gen, g in ok.groupby("generator", sort=True):
        ax.annotate(
            str(gen),
            (float(g["quality"].iloc[0]), float(g["auc"].max())),
            textcoords="offset points",
            xytext=(5, 5),
            fontsize=8,
        )
    if len(ok) < len(points):
        ax.text(
            0.02,
            0.02,
            f"{len(points) - len(ok)} of {len(points)} point(s) not drawn: no quality value on this axis",
            transform=ax.transAxes,
            fontsize=7,
            color="0.35",
        )
    ax.axhline(0.5, color="0.6", linestyle="--", linewidth=1)
    ax.set_ylim(-0.02, 1.02)
    ax.margins(x=0.25)  # room for the generator names
    ax.set_xlabel(axis, fontsize=8)
    ax.set_ylabel("in-domain video AUC [95% CI]")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=7)
    fig.suptitle("Quality against detectability per generator (test split)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


@dataclass
class SamplePair:
    """One fake face crop next to the real crop of its target, for the sample grid.

    Attributes:
        video: the fake video's name (``<target>_<source|driving>``).
        target: the target identity.
        fake: ``(S, S, 3)`` uint8 RGB fake crop, or ``None`` when unreadable.
        fake_frame: its frame index.
        real: ``(S, S, 3)`` uint8 RGB real crop of the target, or ``None`` when there is none.
        real_video: the real video it comes from (``None`` when there is none).
        real_frame: its frame index (the fake's, or the nearest with a face).
        note: why an image is missing (shown in its place).
    """

    video: str
    target: str
    fake: np.ndarray | None
    fake_frame: int
    real: np.ndarray | None = None
    real_video: str | None = None
    real_frame: int | None = None
    note: str = ""


def _show(ax, image: np.ndarray | None, title: str, missing: str) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=8)
    if image is None:
        ax.text(0.5, 0.5, missing, ha="center", va="center", fontsize=7, wrap=True, transform=ax.transAxes)
        ax.set_facecolor("0.92")
    else:
        ax.imshow(image)


def plot_samples(pairs: list[SamplePair], generator: str, path: Path, columns: int = 3) -> Path:
    """Grid of fake/real face crop pairs of one generator.

    Each fake crop is shown next to the real crop of its target at the same frame index,
    or at the nearest frame index with a face (the title says which frame). The PNG
    carries the synthetic-content text tag (it shows fakes).

    Args:
        pairs: the :class:`SamplePair` to show (at least one).
        generator: the generator's name (figure title, tag).
        path: output PNG.
        columns: pairs per grid row.

    Returns:
        ``path``.

    Raises:
        DataError: no pair.
    """
    if not pairs:
        raise DataError(f"no face crops of any '{generator}' fake video")
    cols = min(columns, len(pairs))
    rows = math.ceil(len(pairs) / cols)
    fig = Figure(figsize=(2.1 * 2 * cols, 2.45 * rows + 0.5))
    axes = np.atleast_2d(fig.subplots(rows, 2 * cols, squeeze=False))
    for ax in axes.ravel():
        ax.set_axis_off()
    for k, pair in enumerate(pairs):
        r, c = divmod(k, cols)
        fake_ax, real_ax = axes[r, 2 * c], axes[r, 2 * c + 1]
        fake_ax.set_axis_on()
        real_ax.set_axis_on()
        _show(fake_ax, pair.fake, f"FAKE {pair.video}\nframe {pair.fake_frame}", pair.note or "fake crop missing")
        if pair.real_video is None:
            _show(real_ax, None, f"real {pair.target}", f"no real crop of\ntarget '{pair.target}'")
        else:
            same = "" if pair.real_frame == pair.fake_frame else " (nearest)"
            _show(
                real_ax,
                pair.real,
                f"real {pair.real_video}\nframe {pair.real_frame}{same}",
                pair.note or "real crop missing",
            )
    fig.suptitle(f"{generator}: fake crop (left) next to the real target crop (right)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, metadata=synthetic_tag(generator, figure="leaderboard sample grid"))
