"""The detection protocols as leaderboard tables: in-domain, cross-generator, robustness.

- In-domain: a detector trained and tested on the same generator (``train_set ==
  test_set``; ``all`` = trained and tested on every generator together).
- Cross-generator matrix: per detector, rows = train set (one generator or ``all``),
  columns = test set; the off-diagonal cells measure generalisation to unseen generators
  (FaceForensics++ / DeepfakeBench cross-manipulation protocol).
- Robustness: the model of ``protocol.robustness.train_set`` scored on the test split under
  test-time perturbations (``forgebench.perturbations``), as a table and a curve of AUC
  against strength per detector.

Every AUC comes with the percentile-bootstrap 95% interval resampling videos that the train
stage computed and stored (:func:`forgebench.protocol.metrics_with_intervals`) and the
videos / frames behind it; this module formats stored numbers and computes none.
"""

from __future__ import annotations

import pandas as pd

from forgebench.errors import DataError
from forgebench.metrics.detection import BOOT_SEED, N_BOOT

__all__ = [
    "in_domain_display", "cross_generator_matrices", "robustness_display",
    "PERTURBATION_LABELS", "detection_display", "detection_sections", "fmt_num", "fmt_ci", "fmt_n",
]

DETECTION_NOTE = ("Test split only, read once after the checkpoint and thresholds were chosen on validation. acc. = "
                  "accuracy at the validation threshold (metrics.json), @0.5 at 0.5; log loss = mean binary cross-entropy "
                  "(nats, DFDC). Video score = aggregation (mean unless configured) of frame scores per unique video id. "
                  "AUC 95% CI: percentile bootstrap of {n_boot} resamples of videos (stratified by label; frame level takes "
                  "all frames of each drawn video), seed {seed}. v / f = videos / frames behind the number.")
CROSS_NOTE = ("Rows: the fakes a detector was trained on (all = every generator's); columns: the generator whose test fakes "
              "it is scored on, with the same real test videos. Off-diagonal cells measure generalisation to unseen generators.")
ROBUST_NOTE = ("The test split under test-time perturbations of every crop (JPEG, Gaussian blur, Gaussian noise, "
               "down-scaling and back) or of the whole video (H.264 re-encoding at the CRF shown, FaceForensics++ c23/c40; "
               "faces re-cropped at the stored alignment). Cells: strength: video AUC [95% CI].")
#: Axis labels of the perturbations (strength units).
PERTURBATION_LABELS = {
    "jpeg": "JPEG quality (lower = stronger)", "blur": "Gaussian blur sigma (px)", "noise": "Gaussian noise sigma ([0, 1] units)",
    "downscale": "down-scaling factor", "h264": "H.264 CRF (video re-encoded)",
}


def fmt_num(x) -> str:
    """A number with 3 decimals; ``n/a`` for NaN/None; text (e.g. ``unavailable: ...``) as is."""
    if isinstance(x, str):
        return x
    return "n/a" if x is None or pd.isna(x) else f"{float(x):.3f}"


def fmt_ci(x, low, high) -> str:
    """``"0.912 [0.850, 0.970]"`` (point estimate and 95% interval, 3 decimals)."""
    return fmt_num(x) if pd.isna(low) or pd.isna(high) else f"{fmt_num(x)} [{low:.3f}, {high:.3f}]"


def fmt_n(n_videos, n_frames) -> str:
    """``"n=2 videos / 64 frames"``."""
    return f"n={int(n_videos)} videos / {int(n_frames)} frames"


def detection_display(d: pd.DataFrame) -> pd.DataFrame:
    """The detection table as text cells, one row per (detector, train set, test set)."""
    out = d[["detector", "train_set", "test_set"]].rename(columns={"train_set": "train set", "test_set": "test set"})
    out["threshold"] = [fmt_num(t) if t == v else f"{fmt_num(t)} (video {fmt_num(v)})"
                        for t, v in zip(d["threshold"], d["video_threshold"])]
    for level in ("frame", "video"):
        out[f"{level} AUC [95% CI]"] = [fmt_ci(*v) for v in zip(d[f"{level}_auc"], d[f"{level}_auc_ci_low"], d[f"{level}_auc_ci_high"])]
        for m, name in (("ap", "AP"), ("eer", "EER"), ("acc", "acc."), ("acc_05", "acc. @0.5"), ("log_loss", "log loss")):
            out[f"{level} {name}"] = [fmt_num(v) for v in d[f"{level}_{m}"]]
    out["n"] = [f"{fmt_n(v, f)} ({r} real, {k} fake videos)"
                for v, f, r, k in zip(d["n_videos"], d["n_frames"], d["n_videos_real"], d["n_videos_fake"])]
    return out.reset_index(drop=True)


def in_domain_display(d: pd.DataFrame) -> pd.DataFrame:
    """In-domain rows of a :func:`forgebench.leaderboard.tables.detection_table` as text.

    Columns: detector, train = test set, video AUC [95% CI], frame AUC [95% CI], video AP,
    video EER, video acc. (validation threshold), video acc. at 0.5, video log loss,
    frame log loss, n (videos / frames, real and fake videos). Empty when no detector was
    tested on its own train set.
    """
    d = d[d["train_set"] == d["test_set"]]
    out = pd.DataFrame({"detector": d["detector"], "train = test set": d["train_set"]})
    for level in ("video", "frame"):
        out[f"{level} AUC [95% CI]"] = [fmt_ci(*v) for v in
                                         zip(d[f"{level}_auc"], d[f"{level}_auc_ci_low"], d[f"{level}_auc_ci_high"])]
    for col, name in (("video_ap", "video AP"), ("video_eer", "video EER"), ("video_acc", "video acc. (val thr.)"),
                      ("video_acc_05", "video acc. @0.5"), ("video_log_loss", "video log loss"),
                      ("frame_log_loss", "frame log loss")):
        out[name] = [fmt_num(v) for v in d[col]]
    out["n"] = [f"{fmt_n(v, f)} ({r} real, {k} fake videos)"
                for v, f, r, k in zip(d["n_videos"], d["n_frames"], d["n_videos_real"], d["n_videos_fake"])]
    return out.reset_index(drop=True)


def cross_generator_matrices(d: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per detector, the cross-generator matrix of video-level AUC [95% CI] (videos /
    frames): rows = train set, columns = test set (``all`` last), ``not run`` where a cell
    is missing. Diagonal cells are the in-domain results."""
    out = {}
    for det, g in d.groupby("detector", sort=True):
        cells = [f"{fmt_ci(a, lo, hi)} ({fmt_n(v, f)})" for a, lo, hi, v, f in
                 zip(g["video_auc"], g["video_auc_ci_low"], g["video_auc_ci_high"], g["n_videos"], g["n_frames"])]
        wide = pd.DataFrame({"train set": g["train_set"], "test": g["test_set"], "cell": cells}).pivot(
            index="train set", columns="test", values="cell")
        order = sorted(wide.columns, key=lambda c: (c == "all", c))
        rows = sorted(wide.index, key=lambda c: (c == "all", c))
        wide = wide.loc[rows, order].fillna("not run")
        wide.columns = [f"test: {c}" for c in wide.columns]
        out[str(det)] = wide.reset_index().rename_axis(columns=None)
    return out


def robustness_display(r: pd.DataFrame) -> pd.DataFrame:
    """The robustness table as text: one row per (detector, perturbation), the clean
    video AUC and then ``strength: AUC [95% CI]`` cells in the configured order."""
    if r.empty:
        raise DataError("no robustness results")
    rows = []
    for (det, train), g in r.groupby(["detector", "train_set"], sort=True):
        clean = g[g["perturbation"] == "none"]
        clean_cell = fmt_ci(*clean[["video_auc", "video_auc_ci_low", "video_auc_ci_high"]].iloc[0]) if len(clean) else "n/a"
        for pert, p in g[g["perturbation"] != "none"].groupby("perturbation", sort=False):
            row = {"detector": det, "trained on": train, "perturbation": pert, "clean": clean_cell}
            for k, (_, x) in enumerate(p.iterrows(), 1):
                row[f"strength {k}"] = f"{x['strength']:g}: {fmt_ci(x['video_auc'], x['video_auc_ci_low'], x['video_auc_ci_high'])}"
            row["n"] = fmt_n(p["n_videos"].iloc[0], p["n_frames"].iloc[0])
            rows.append(row)
    out = pd.DataFrame(rows).fillna("")
    cols = [c for c in out.columns if c != "n"] + ["n"]
    return out[cols]


def detection_sections(d: pd.DataFrame, robustness: pd.DataFrame | None, n_boot: int = N_BOOT) -> list[tuple[str, pd.DataFrame | None, str]]:
    """The detection part of the leaderboard, shared by Markdown and HTML.

    Args:
        d: :func:`forgebench.leaderboard.tables.detection_table`.
        robustness: the stored robustness metrics (:data:`forgebench.rundir.ROBUSTNESS_METRICS`) or None.
        n_boot: bootstrap resamples behind the intervals (for the note).

    Returns:
        ``[(title, table or None, note), ...]``: in-domain, one cross-generator matrix per
        detector, robustness, every result.
    """
    note = DETECTION_NOTE.format(n_boot=n_boot, seed=BOOT_SEED)
    out: list[tuple[str, pd.DataFrame | None, str]] = []
    in_domain = in_domain_display(d)
    out.append(("In-domain: trained and tested on the same generator", in_domain if len(in_domain) else None,
                "" if len(in_domain) else "No detector was tested on the generator it was trained on."))
    for det, matrix in cross_generator_matrices(d).items():
        out.append((f"Cross-generator matrix: {det} (video AUC [95% CI])", matrix, CROSS_NOTE))
    if robustness is not None and not robustness.empty and (robustness["perturbation"] != "none").any():
        out.append(("Robustness to test-time perturbations (plots/robustness.png)", robustness_display(robustness), ROBUST_NOTE))
    else:
        out.append(("Robustness to test-time perturbations", None, "No robustness results (protocol.robustness.enabled is off, "
                    "or 'forgebench train' has not run)."))
    out.append(("Every result (frame and video level)", detection_display(d), note))
    return out
