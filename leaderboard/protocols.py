"""The detection protocols as leaderboard tables: in-domain, cross-generator, robustness.

- In-domain: a detector trained and tested on the same generator (``train_set ==
  test_set``; ``all`` = trained and tested on every generator together).
- Cross-generator matrix: per detector, rows = train set (one generator or ``all``),
  columns = test set; the off-diagonal cells measure generalisation to unseen generators
  (FaceForensics++ / DeepfakeBench cross-manipulation protocol).
- Robustness: the model of ``protocol.robustness.train_set`` scored on the test split under
  test-time perturbations (``forgebench.perturbations``), as a table and a curve of AUC
  against strength per detector.

Every metric comes with the cluster bootstrap (connected groups of people) 95% interval that the train
stage computed and stored (:func:`forgebench.protocol.metrics_with_intervals`) and the
identities / videos / frames behind it; a cell with fewer identities per class than
``protocol.min_identities`` is marked :data:`THIN_MARK` (too few identities to conclude),
and :func:`thin_summary` is the sentence the report opens with. This module formats stored
numbers and computes none.
"""

from __future__ import annotations

import pandas as pd

from forgebench.errors import DataError
from forgebench.metrics.bootstrap import NOT_ESTIMABLE
from forgebench.metrics.declared import label
from forgebench.metrics.detection import BOOT_SEED, N_BOOT

__all__ = [
    "in_domain_display", "cross_generator_matrices", "robustness_display", "comparison_display", "COMPARISON_NOTE",
    "PERTURBATION_LABELS", "THIN_MARK", "detection_display", "detector_labels", "detection_sections", "fmt_num", "fmt_ci", "fmt_n", "thin_summary",
]

#: Marks a cell resting on fewer identities per class than ``protocol.min_identities``.
THIN_MARK = "†"
DETECTION_NOTE = ("Test split only, read once after the checkpoint and thresholds were chosen on validation. AUC = ROC AUC, "
                  "AP = average precision (fake = positive), EER = equal error rate ((FPR + FNR) / 2 at the ROC point nearest FPR = FNR; "
                  "EER (DeepfakeBench's) = the FPR of that point on the reduced curve, as DeepfakeBench reports it, no interval), "
                  "higher AUC/AP/acc. and lower EER/log loss "
                  "are better. acc. = accuracy at the validation threshold (metrics.json), @0.5 at 0.5; log loss = mean "
                  "binary cross-entropy (nats, DFDC). Video score = aggregation (mean unless configured) of frame scores per "
                  "unique video id. [95% CI]: percentile cluster bootstrap of {n_boot} replicates resampling connected groups "
                  "of people (every person linked through a fake, target and source or driving, lands in one cluster, and "
                  "every real and fake video of a drawn cluster goes together; stratified so each replicate keeps both "
                  "classes; frame level takes all frames of each drawn cluster), seed {seed}; [not estimable] = a stratum "
                  "holds a single cluster, whose resampling gives no variance (docs/metrics.md). "
                  "(k seeds: lo–hi) = trained once per seed of protocol.seeds: the value is the mean over seeds, its interval "
                  "the bootstrap of the pooled predictions (the same people drawn for every seed), lo–hi the spread across "
                  "seeds. n = identities / videos / frames behind the number. " + THIN_MARK + " = fewer than {min_identities} "
                  "identities per class (protocol.min_identities): shown with its interval, too few identities to conclude.")
CROSS_NOTE = ("Rows: the fakes a detector was trained on (all = every generator's); columns: the generator whose test fakes "
              "it is scored on, with the same real test videos. Off-diagonal cells measure generalisation to unseen generators. "
              "A train set '<set>@<run>' is a detector trained in another run (dataset) and scored here with that run's "
              "validation thresholds (forgebench evaluate RUN --detector OTHER_RUN/detectors/NAME): every column is unseen.")
ROBUST_NOTE = ("The test split under test-time perturbations of every crop (JPEG, Gaussian blur, Gaussian noise, "
               "down-scaling and back) or of the whole video (H.264 re-encoding at the CRF shown, FaceForensics++ c23/c40; "
               "faces re-cropped at the stored alignment). Cells: strength: video AUC [people-cluster 95% CI]; "
               f"{THIN_MARK} on n = fewer identities per class than protocol.min_identities.")
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
    """``"0.912 [0.850, 0.970]"`` (point estimate and 95% interval, 3 decimals);
    ``"0.912 [not estimable]"`` when the value exists but has no interval
    (:func:`forgebench.metrics.bootstrap.interval_status`)."""
    if pd.isna(low) or pd.isna(high):
        return fmt_num(x) if pd.isna(x) else f"{fmt_num(x)} [{NOT_ESTIMABLE}]"
    return f"{fmt_num(x)} [{low:.3f}, {high:.3f}]"


def fmt_n(n_videos, n_frames, n_identities=None) -> str:
    """``"n=2 videos / 64 frames"``, or ``"n=4 identities / 8 videos / 64 frames"``."""
    who = "" if n_identities is None or pd.isna(n_identities) else f"{int(n_identities)} identities / "
    return f"n={who}{int(n_videos)} videos / {int(n_frames)} frames"


def _mark(text: str, thin) -> str:
    return f"{text} {THIN_MARK}" if bool(thin) else text


def _ci_cells(d: pd.DataFrame, col: str) -> list[str]:
    """``col`` (e.g. ``video_auc``) with its stored interval, for every row; a row trained
    with several seeds adds the spread across them: ``"0.912 [0.850, 0.970] (3 seeds:
    0.901–0.925)"``."""
    cells = [fmt_ci(*v) for v in zip(d[col], d[f"{col}_ci_low"], d[f"{col}_ci_high"])]
    if "n_seeds" not in d.columns or f"{col}_seed_min" not in d.columns:
        return cells
    return [c if pd.isna(n) or int(n) < 2 else f"{c} ({int(n)} seeds: {fmt_num(lo)}–{fmt_num(hi)})"
            for c, n, lo, hi in zip(cells, d["n_seeds"], d[f"{col}_seed_min"], d[f"{col}_seed_max"])]


def _n_cells(d: pd.DataFrame) -> list[str]:
    return [_mark(f"{fmt_n(v, f, i)} ({ir} real, {ik} fake identities; {r} real, {k} fake videos)", thin)
            for i, ir, ik, v, f, r, k, thin in zip(d["n_identities"], d["n_identities_real"], d["n_identities_fake"], d["n_videos"],
                                                   d["n_frames"], d["n_videos_real"], d["n_videos_fake"], d["thin"])]


def detector_labels(d: pd.DataFrame) -> list[str]:
    """The detector column as shown: a prediction submission says so and which attempt it
    was (``name (submission, attempt 2 of 3 in the run)``), and so does a detector whose weights were trained outside the run
    (``dfb_xception (trained elsewhere: DeepfakeBench v1.0.1 (FF++ c23))``)."""
    subs = d["submission"] if "submission" in d.columns else [False] * len(d)
    elsewhere = d["trained_elsewhere"].fillna("") if "trained_elsewhere" in d.columns else [""] * len(d)
    attempts = d["submission_attempt"].fillna("") if "submission_attempt" in d.columns else [""] * len(d)
    return [(f"{n} (submission, attempt {a})" if a else f"{n} (submission)") if bool(s)
            else f"{n} (trained elsewhere: {e})" if e else str(n)
            for n, s, e, a in zip(d["detector"], subs, elsewhere, attempts)]


def detection_display(d: pd.DataFrame) -> pd.DataFrame:
    """The detection table as text cells, one row per (detector, train set, test set):
    every frame- and video-level metric with its people-cluster 95% interval, and the
    identities / videos / frames behind the row (marked :data:`THIN_MARK` when thin)."""
    out = d[["detector", "train_set", "test_set"]].rename(columns={"train_set": "train set", "test_set": "test set"})
    out["detector"] = detector_labels(d)
    out["threshold"] = [fmt_num(t) if t == v else f"{fmt_num(t)} (video {fmt_num(v)})"
                        for t, v in zip(d["threshold"], d["video_threshold"])]
    for level in ("frame", "video"):
        for m in ("auc", "ap", "eer", "acc", "acc_05", "log_loss"):  # the deployment metrics have their own table
            out[f"{level} {label(m)} [95% CI]"] = _ci_cells(d, f"{level}_{m}")
        if f"{level}_eer_deepfakebench" in d.columns:
            out[f"{level} {label('eer_deepfakebench')}"] = [fmt_num(v) for v in d[f"{level}_eer_deepfakebench"]]
    if "weights_origin" in d.columns:
        out["weights origin"] = [str(o).split(":")[0] + (f":{str(o).split(':', 1)[1][:12]}" if ":" in str(o) else "")
                                 for o in d["weights_origin"].fillna("")]
    out["n"] = _n_cells(d)
    return out.reset_index(drop=True)


def in_domain_display(d: pd.DataFrame) -> pd.DataFrame:
    """In-domain rows of a :func:`forgebench.leaderboard.tables.detection_table` as text.

    Columns: detector, train = test set, video AUC, frame AUC, video AP, video EER, video
    acc. (validation threshold), video acc. at 0.5, video log loss, frame log loss, each
    with its people-cluster [95% CI], and n (identities, videos, frames; real and fake),
    marked :data:`THIN_MARK` when a class has fewer identities than
    ``protocol.min_identities``. Empty when no detector was tested on its own train set.
    """
    d = d[d["train_set"] == d["test_set"]]
    out = pd.DataFrame({"detector": d["detector"], "train = test set": d["train_set"]})
    for col, name in (("video_auc", "video AUC"), ("frame_auc", "frame AUC"), ("video_ap", "video AP"), ("video_eer", "video EER"),
                      ("video_acc", "video acc. (val thr.)"), ("video_acc_05", "video acc. @0.5"),
                      ("video_log_loss", "video log loss"), ("frame_log_loss", "frame log loss")):
        out[f"{name} [95% CI]"] = [_mark(c, thin) for c, thin in zip(_ci_cells(d, col), d["thin"])]
    out["n"] = _n_cells(d)
    return out.reset_index(drop=True)


#: The deployment table's note.
DEPLOYMENT_NOTE = ("Operating points people deploy at, in-domain rows (train = test set), video level (frame level: "
                   "leaderboard.csv). TPR@FPR 1% / "
                   "0.1% = share of fakes caught at the threshold chosen on the validation split to keep its FPR at or under "
                   "1% / 0.1%; 'FPR achieved' is what that threshold gives on the test set (a validation split with fewer than "
                   "100 / 1,000 real videos can only aim at FPR 0). Oracle = the best TPR at that FPR with the threshold "
                   "tuned on the test set itself: an upper bound, not a result. With several seeds, 'FPR achieved' is the first seed's. ECE = expected calibration error of "
                   "p(fake), 15 equal-width bins (Guo et al. 2017; torchmetrics' binning), Brier = mean squared error of "
                   "p(fake) (lower = better calibrated; the reliability diagrams below show where). [95% CI] as in the "
                   "detection tables.")


def deployment_display(d: pd.DataFrame) -> pd.DataFrame:
    """In-domain rows of a detection table as the deployment metrics at video level: TPR at
    FPR 1% and 0.1% at the validation thresholds (with the test FPR they achieve, the first
    seed's) and the test-set oracle, ECE and Brier score, each with its stored [95% CI]
    (frame level: ``leaderboard.csv``); ``n`` as :func:`in_domain_display`. Empty when no
    detector was tested on its own train set."""
    d = d[d["train_set"] == d["test_set"]]
    out = pd.DataFrame({"detector": detector_labels(d), "train = test set": d["train_set"].to_numpy()})
    for level in ("video",):  # the frame level is in leaderboard.csv and metrics.json
        for key, pct in (("1pct", "1%"), ("0_1pct", "0.1%")):
            out[f"{level} TPR@FPR {pct} [95% CI] (FPR achieved)"] = [
                _mark(f"{c} ({fmt_num(f)})", thin) for c, f, thin in
                zip(_ci_cells(d, f"{level}_tpr_at_fpr_{key}"), d[f"{level}_fpr_at_fpr_{key}"], d["thin"])]
            out[f"{level} oracle TPR@FPR {pct}"] = _ci_cells(d, f"{level}_tpr_at_fpr_{key}_oracle")
        out[f"{level} ECE [95% CI]"] = _ci_cells(d, f"{level}_ece")
        out[f"{level} Brier [95% CI]"] = _ci_cells(d, f"{level}_brier")
    out["n"] = _n_cells(d)
    return out.reset_index(drop=True)


def cross_generator_matrices(d: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per detector, the cross-generator matrix of video-level AUC [95% CI] (identities /
    videos / frames, :data:`THIN_MARK` when thin): rows = train set, columns = test set
    (``all`` last), ``not run`` where a cell is missing. Diagonal cells are the in-domain
    results."""
    out = {}
    for det, g in d.groupby("detector", sort=True):
        det = detector_labels(g.iloc[:1])[0]
        cells = [_mark(f"{c} ({fmt_n(v, f, i)})", thin) for c, i, v, f, thin in
                 zip(_ci_cells(g, "video_auc"), g["n_identities"], g["n_videos"], g["n_frames"], g["thin"])]
        wide = pd.DataFrame({"train set": g["train_set"], "test": g["test_set"], "cell": cells}).pivot(
            index="train set", columns="test", values="cell")
        order = sorted(wide.columns, key=lambda c: (c == "all", c))
        rows = sorted(wide.index, key=lambda c: (c == "all", c))
        wide = wide.loc[rows, order].fillna("not run")
        wide.columns = [f"test: {c}" for c in wide.columns]
        out[str(det)] = wide.reset_index().rename_axis(columns=None)
    return out


def robustness_display(r: pd.DataFrame, min_identities: int | None = None,
                       labels: dict[tuple[str, str], str] | None = None) -> pd.DataFrame:
    """The robustness table as text: one row per (detector, perturbation), the clean
    video AUC and then ``strength: AUC [95% CI]`` cells in the configured order; ``n``
    marked :data:`THIN_MARK` when a class has fewer than ``min_identities`` identities.
    ``labels``: ``(detector, train_set) -> detector column`` as the detection tables show
    it (:func:`detector_labels`: submissions, weights trained elsewhere)."""
    if r.empty:
        raise DataError("no robustness results")
    labels = labels or {}
    rows = []
    for (det, train), g in r.groupby(["detector", "train_set"], sort=True):
        clean = g[g["perturbation"] == "none"]
        clean_cell = fmt_ci(*clean[["video_auc", "video_auc_ci_low", "video_auc_ci_high"]].iloc[0]) if len(clean) else "n/a"
        for pert, p in g[g["perturbation"] != "none"].groupby("perturbation", sort=False):
            row = {"detector": labels.get((det, train), det), "trained on": train, "perturbation": pert, "clean": clean_cell}
            for k, (_, x) in enumerate(p.iterrows(), 1):
                row[f"strength {k}"] = f"{x['strength']:g}: {fmt_ci(x['video_auc'], x['video_auc_ci_low'], x['video_auc_ci_high'])}"
            first = p.iloc[0]
            n_ids = first.get("n_identities")
            per_class = min(first.get("n_identities_real", n_ids), first.get("n_identities_fake", n_ids))
            thin = min_identities is not None and n_ids is not None and not pd.isna(per_class) and per_class < min_identities
            row["n"] = _mark(fmt_n(p["n_videos"].iloc[0], p["n_frames"].iloc[0], n_ids), thin)
            rows.append(row)
    out = pd.DataFrame(rows).fillna("")
    cols = [c for c in out.columns if c != "n"] + ["n"]
    return out[cols]


def thin_summary(d: pd.DataFrame | None) -> str | None:
    """The sentence the report opens with when some detection cells rest on too few
    identities (None when none does): how many cells of which tables, the identities they
    have, and how many a firm result needs."""
    if d is None or d.empty or not d["thin"].any():
        return None
    thin = d[d["thin"]]
    need = int(thin["min_identities"].max())
    low = int(min(thin["n_identities_real"].min(), thin["n_identities_fake"].min()))
    tables = ["in-domain"] if (thin["train_set"] == thin["test_set"]).any() else []
    tables += ["cross-generator", "every-result", "robustness"]
    return (f"Too few identities to conclude: {len(thin)} of {len(d)} detection results (marked {THIN_MARK} in the "
            f"{', '.join(tables)} tables) rest on as few as {low} identities per class; a firm result needs at least {need} "
            f"real and {need} fake identities in the test split (protocol.min_identities). Their intervals are shown, but "
            "differences between such cells are not evidence; add videos of more people (or give the test split more of them).")


#: The paired comparison table's note.
COMPARISON_NOTE = ("forgebench compare RUN A B: both detectors' stored test predictions of one test set, paired frame by frame; "
                   "A − B with a paired cluster-bootstrap (connected groups of people) 95% interval (each replicate draws people, the same "
                   "draw for A and B) and a two-sided bootstrap p-value; for the video AUC, DeLong's test as a cross-check "
                   "(it treats videos as independent). " + THIN_MARK + " = fewer identities per class than "
                   "protocol.min_identities: the p-value of so few people is not evidence.")


def _diff_ci(diff: float, low: float, high: float) -> str:
    """``"+0.041 [+0.012, +0.070]"``, or ``"+0.041 [not estimable]"``."""
    if pd.isna(low) or pd.isna(high):
        return f"{diff:+.3f} [{NOT_ESTIMABLE}]"
    return f"{diff:+.3f} [{low:+.3f}, {high:+.3f}]"


def comparison_display(comparisons: list[dict]) -> pd.DataFrame:
    """The stored paired comparisons as text, one row per comparison, level and metric:
    A, B, test set, level, metric, A's and B's values, ``A − B [95% CI]``, p (and DeLong's
    p for the video AUC)."""
    rows = []
    for c in comparisons:
        thin = bool(c.get("thin", False))
        for level in ("video", "frame"):
            for key, label in (("auc", "AUC"), ("ap", "AP"), ("eer", "EER"), ("log_loss", "log loss")):
                r = c[level][key]
                p = r["p"]
                p_text = "n/a" if pd.isna(p) else "< 0.001" if p < 0.001 else f"{p:.3f}"  # NaN is stored as null
                delong = c.get("delong_video_auc", {}).get("p") if (level, key) == ("video", "auc") else None
                rows.append({"A": c["a"], "B": c["b"], "test set": c["test_set"], "level": level, "metric": label,
                             "A value": fmt_num(r["a"]), "B value": fmt_num(r["b"]),
                             "A − B [95% CI]": _mark(_diff_ci(r["difference"], r["ci_low"], r["ci_high"]), thin),
                             "p": p_text, "DeLong p": "" if delong is None else f"{delong:.3f}"})
    return pd.DataFrame(rows)


def detection_sections(d: pd.DataFrame, robustness: pd.DataFrame | None, n_boot: int = N_BOOT,
                       comparisons: list[dict] | None = None) -> list[tuple[str, pd.DataFrame | None, str]]:
    """The detection part of the leaderboard, shared by Markdown and HTML.

    Args:
        d: :func:`forgebench.leaderboard.tables.detection_table`.
        robustness: the stored robustness metrics (:data:`forgebench.rundir.ROBUSTNESS_METRICS`) or None.
        n_boot: bootstrap replicates behind the intervals (for the note).
        comparisons: stored paired comparisons (:func:`forgebench.compare.compare_detectors`).

    Returns:
        ``[(title, table or None, note), ...]``: in-domain, deployment (TPR at low FPR,
        calibration), one cross-generator matrix per detector, robustness, the paired
        comparisons (when any), every result.
    """
    min_ids = int(d["min_identities"].max()) if len(d) else None
    note = DETECTION_NOTE.format(n_boot=n_boot, seed=BOOT_SEED, min_identities=min_ids)
    out: list[tuple[str, pd.DataFrame | None, str]] = []
    in_domain = in_domain_display(d)
    out.append(("In-domain: trained and tested on the same generator", in_domain if len(in_domain) else None,
                note if len(in_domain) else "No detector was tested on the generator it was trained on."))
    deployment = deployment_display(d)
    if len(deployment):
        out.append(("Deployment: TPR at low FPR and calibration (in-domain)", deployment, DEPLOYMENT_NOTE))
    for det, matrix in cross_generator_matrices(d).items():
        out.append((f"Cross-generator matrix: {det} (video AUC [95% CI])", matrix, CROSS_NOTE))
    if robustness is not None and not robustness.empty and (robustness["perturbation"] != "none").any():
        labels = dict(zip(zip(d["detector"], d["train_set"]), detector_labels(d)))
        out.append(("Robustness to test-time perturbations (plots/robustness.png)", robustness_display(robustness, min_ids, labels),
                    ROBUST_NOTE))
    else:
        out.append(("Robustness to test-time perturbations", None, "No robustness results (protocol.robustness.enabled is off, "
                    "or 'forgebench train' has not run)."))
    if comparisons:
        out.append(("Paired comparisons: is A better than B on the same test set?", comparison_display(comparisons),
                    COMPARISON_NOTE))
    out.append(("Every result (frame and video level)", detection_display(d), note))
    return out
