"""Leaderboard figures: ROC curves per detector, robustness curves (AUC against perturbation
strength) and real/fake sample grids per generator.

Figures are drawn on matplotlib's Agg canvas (no display, no pyplot global state) and
written atomically (temporary file + rename). ROC points come from
``sklearn.metrics.roc_curve``; video scores from
:func:`forgebench.metrics.detection.video_scores` (mean frame score per video id).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from forgebench.errors import DataError, MediaError
from forgebench.media import read_image, synthetic_tag

from forgebench.leaderboard.tables import read_parquet


def save_figure(fig: Figure, path: Path, metadata: dict[str, str] | None = None) -> Path:
    """Save ``fig`` as PNG at ``path`` atomically (``<path>.partial`` then rename).

    ``metadata`` becomes PNG text chunks. Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    FigureCanvasAgg(fig)
    fig.savefig(tmp, format="png", dpi=100, metadata=metadata)
    os.replace(tmp, path)
    return path


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
    from sklearn.metrics import roc_auc_score, roc_curve

    from forgebench.metrics.detection import video_scores

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
        ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", linewidth=1, label="chance")
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        ax.set_aspect("equal")
        ax.set_xlabel("false positive rate (real called fake)")
        ax.set_ylabel("true positive rate (fake called fake)")
        ax.set_title(f"{level} level")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=7)
    fig.suptitle(f"ROC, test split: {title}")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_robustness(table: pd.DataFrame, path: Path) -> Path:
    """AUC against perturbation strength, one panel per perturbation, one line per detector.

    Args:
        table: :func:`forgebench.leaderboard.protocols.robustness_table` rows (video-level
            AUC with 95% bootstrap interval per strength; ``perturbation == "none"`` is the
            clean score, drawn as a dotted line in the detector's colour).
        path: output PNG.

    Returns:
        ``path``.

    Raises:
        DataError: the table has no perturbed rows.
    """
    from forgebench.leaderboard.protocols import PERTURBATION_LABELS

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
            ax.plot(p["strength"], p["video_auc"], marker="o", color=colour, label=f"{det} (trained on {train})")
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
    for ax in axes[len(perts):]:
        ax.set_visible(False)
    axes[0].legend(loc="lower left", fontsize=7)
    n = table[["n_videos", "n_frames"]].iloc[0]
    fig.suptitle(f"Robustness, test split ({int(n['n_videos'])} videos / {int(n['n_frames'])} frames); "
                 "dotted = clean, band = 95% bootstrap CI over videos")
    fig.tight_layout()
    return save_figure(fig, path)


def _real_rows(run_dir: Path) -> dict[str, pd.DataFrame]:
    """Real face manifests by video name (``faces/manifest/real/<video>.parquet``)."""
    root = run_dir / "faces" / "manifest" / "real"
    out = {}
    for f in sorted(root.glob("*.parquet")) if root.is_dir() else []:
        out[f.stem] = read_parquet(f, ("frame_index", "crop_path"))
    return out


def _real_match(reals: dict[str, pd.DataFrame], target: str, frame_index: int) -> tuple[str, pd.Series] | None:
    """Real crop row of ``target`` at ``frame_index``, or at the nearest frame index."""
    if target in reals:
        name, rows = target, reals[target]
    else:
        hits = [(n, r) for n, r in reals.items() if "identity" in r and (r["identity"].astype(str) == target).any()]
        if not hits:
            return None
        name, rows = hits[0]
        rows = rows[rows["identity"].astype(str) == target]
    if rows.empty:
        return None
    nearest = (rows["frame_index"].astype(int) - int(frame_index)).abs().to_numpy().argmin()
    return name, rows.iloc[int(nearest)]


def _sample_pairs(run_dir: Path, generator: str, n_pairs: int) -> list[dict]:
    """Up to ``n_pairs`` (fake crop, real crop) pairs of ``generator``: the first fake
    videos by name that have face crops, each at the middle of its cropped frames."""
    manifest = read_parquet(run_dir / "fakes" / generator / "manifest.parquet", ("video_name", "target"))
    reals = _real_rows(run_dir)
    pairs = []
    for _, video in manifest.sort_values("video_name").iterrows():
        if len(pairs) >= n_pairs:
            break
        face_file = run_dir / "faces" / "manifest" / generator / f"{video['video_name']}.parquet"
        if not face_file.is_file():
            continue
        rows = read_parquet(face_file, ("frame_index", "crop_path")).sort_values("frame_index")
        if rows.empty:
            continue
        fake = rows.iloc[len(rows) // 2]
        match = _real_match(reals, str(video["target"]), int(fake["frame_index"]))
        pairs.append({
            "video": str(video["video_name"]), "target": str(video["target"]),
            "fake_path": run_dir / str(fake["crop_path"]), "fake_frame": int(fake["frame_index"]),
            "real_video": match[0] if match else None,
            "real_path": run_dir / str(match[1]["crop_path"]) if match else None,
            "real_frame": int(match[1]["frame_index"]) if match else None,
        })
    return pairs


def _show(ax, path: Path | None, title: str, missing: str) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=8)
    image = None
    if path is not None:
        try:
            image = read_image(path)
        except MediaError as exc:
            missing = f"unreadable:\n{Path(path).name}\n({type(exc).__name__})"
    if image is None:
        ax.text(0.5, 0.5, missing, ha="center", va="center", fontsize=7, wrap=True, transform=ax.transAxes)
        ax.set_facecolor("0.92")
    else:
        ax.imshow(image)


def plot_samples(run_dir: str | Path, generator: str, path: Path, n_pairs: int = 6, columns: int = 3) -> Path:
    """Grid of fake/real face crop pairs of one generator.

    For the first ``n_pairs`` fake videos (by name) that have face crops, the fake crop
    (middle of the video's cropped frames) is shown next to the real crop of the target
    video at the same frame index, or at the nearest frame index with a face (the title
    says which frame). Reads ``fakes/<generator>/manifest.parquet`` and the face
    manifests ``faces/manifest/<generator|real>/<video>.parquet``; crops are the PNGs
    they name. The PNG carries the synthetic-content text tag (it shows fakes).

    Args:
        run_dir: the run directory.
        generator: generator name (folder under ``fakes/``).
        path: output PNG.
        n_pairs: pairs to show (>= 1).
        columns: pairs per grid row.

    Returns:
        ``path``.

    Raises:
        DataError: no fakes manifest, or no fake video of the generator has face crops.
    """
    run_dir = Path(run_dir)
    if n_pairs < 1:
        raise ValueError(f"n_pairs must be >= 1, got {n_pairs}")
    pairs = _sample_pairs(run_dir, generator, n_pairs)
    if not pairs:
        raise DataError(f"{run_dir / 'faces' / 'manifest' / generator}: no face crops of any '{generator}' fake video")
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
        _show(fake_ax, pair["fake_path"], f"FAKE {pair['video']}\nframe {pair['fake_frame']}", "fake crop missing")
        if pair["real_path"] is None:
            _show(real_ax, None, f"real {pair['target']}", f"no real crop of\ntarget '{pair['target']}'")
        else:
            same = "" if pair["real_frame"] == pair["fake_frame"] else " (nearest)"
            _show(real_ax, pair["real_path"], f"real {pair['real_video']}\nframe {pair['real_frame']}{same}", "")
    fig.suptitle(f"{generator}: fake crop (left) next to the real target crop (right)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, metadata=synthetic_tag(generator, figure="leaderboard sample grid"))
