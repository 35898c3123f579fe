"""Every note, mark and caption of the leaderboard pages, written once.

A run's report (:mod:`forgebench.leaderboard.report`, :mod:`forgebench.leaderboard.protocols`)
and the leaderboard across runs (:mod:`forgebench.leaderboard.across`) explain the same
things (the thin-evidence mark, the detection protocol, the cross-generator and robustness
tables); they import the texts from here instead of each keeping its own wording. Notes
with ``{placeholders}`` are filled with :meth:`str.format` by the page that shows them.
"""

from __future__ import annotations

__all__ = [
    "THIN_MARK",
    "THIN_NOTE",
    "BEST_MARK",
    "SAME_AS_BEST_MARK",
    "MARKS_NOTE",
    "DETECTION_NOTE",
    "CROSS_NOTE",
    "CROSS_DATASET_NOTE",
    "ROBUST_NOTE",
    "DEPLOYMENT_NOTE",
    "COMPARISON_NOTE",
    "HEATMAP_NOTE",
    "QUALITY_NOTE",
    "RECON_NOTE",
    "DETECTABILITY_NOTE",
    "QUALITY_VS_AUC_NOTE",
    "WEIGHTS_DOC",
]

#: Marks a cell resting on fewer identities per class than ``protocol.min_identities``.
THIN_MARK = "†"
#: What :data:`THIN_MARK` means, in every note that uses it.
THIN_NOTE = (
    f"{THIN_MARK} = fewer identities per class than protocol.min_identities: shown with its interval, too few "
    "identities to conclude"
)
#: The best row of a column among rows scored on the same test frames (leaderboard across runs).
BEST_MARK = "▲"
#: A row whose paired difference to that best row has a 95% interval containing 0 (or no
#: interval: not estimable): not distinguishable from the best.
SAME_AS_BEST_MARK = "≈▲"
MARKS_NOTE = (
    f"{BEST_MARK} = the best value of its column among the rows scored on the same test frames (same run and test "
    f"set, or runs whose test frames are identical); {SAME_AS_BEST_MARK} = not distinguishable from it: the paired "
    "cluster-bootstrap 95% interval of the difference to the best row contains 0, or cannot be estimated (forgebench "
    "compare; rows trained with several seeds are compared on their first seed's predictions). Unmarked rows are "
    "worse than the best with 95% confidence, or had nothing to be compared with."
)
#: The detection protocol; placeholders ``{n_boot}``, ``{seed}``, ``{min_identities}``.
DETECTION_NOTE = (
    "Test split only, read once after the checkpoint and thresholds were chosen on validation. AUC = ROC AUC, "
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
    "seeds (in report.html: the cell's tooltip). n = identities / videos / frames behind the number. "
    + THIN_MARK
    + " = fewer than {min_identities} identities per class (protocol.min_identities): shown with its "
    "interval, too few identities to conclude."
)
CROSS_NOTE = (
    "Cross-generator: a detector trained on one generator's fakes (train set; all = every generator's) is tested on "
    "another generator's test fakes with the same real test videos: generalisation to an unseen generator (in a "
    "matrix, rows are train sets and columns test sets, the diagonal is in-domain). Train set 'submission' (a "
    "prediction submission, forgebench submit) or 'pretrained' (an external detector's own weights, forgebench "
    "evaluate): trained on nothing of the run; '<set>@<run>': trained in another run (dataset) and scored with that "
    "run's validation thresholds (forgebench evaluate RUN --detector OTHER_RUN/detectors/NAME); for them every test "
    "set is unseen. Cells: video-level metric [people-cluster 95% CI] as stored by the train stage; " + THIN_NOTE + "."
)
CROSS_DATASET_NOTE = (
    "Rows: a detector, the run (dataset) it was trained in and its train set (all = every method of that dataset); columns: "
    "the run whose test split it is scored on (its whole dataset when that run has no train split). On its own run: its test "
    "set 'all' (every method's test fakes with the real test videos); on another run: 'forgebench evaluate RUN_B --detector "
    "RUN_A/detectors/NAME', the checkpoint and decision thresholds chosen on the training run's validation split, never on "
    "the tested data (DeepfakeBench's cross-dataset protocol without its test-set checkpoint selection); '(trained elsewhere)': "
    "published weights (forgebench evaluate RUN --detector dfb_NAME --checkpoint NAME_best.pth), trained on the release's "
    "data, thresholds from the tested run's validation split (or p = 0.5 where it has none). Cells: AUC [identity-"
    "level 95% CI] as stored by the training or evaluating stage; " + THIN_NOTE + "; ‡ = test crops of another size or "
    "margin than the training run's (see the Runs table)."
)
ROBUST_NOTE = (
    "The test split under test-time perturbations of every crop (JPEG, Gaussian blur, Gaussian noise, "
    "down-scaling and back) or of the whole video (H.264 re-encoding at the CRF shown, FaceForensics++ c23/c40; "
    "faces re-cropped at the stored alignment), scored by the detectors trained on protocol.robustness.train_set; "
    "strength in the perturbation's units, 'clean' = unperturbed. Cells: AUC [people-cluster 95% CI] at each "
    "strength, as stored (robustness_metrics.parquet); " + THIN_NOTE + "."
)
DEPLOYMENT_NOTE = (
    "Operating points people deploy at, in-domain rows (train = test set), video level (frame level: "
    "leaderboard.csv). TPR@FPR 1% / "
    "0.1% = share of fakes caught at the threshold chosen on the validation split to keep its FPR at or under "
    "1% / 0.1%; 'FPR achieved' is what that threshold gives on the test set (a validation split with fewer than "
    "100 / 1,000 real videos can only aim at FPR 0). Oracle = the best TPR at that FPR with the threshold "
    "tuned on the test set itself: an upper bound, not a result. With several seeds, 'FPR achieved' is the first seed's. ECE = expected calibration error of "
    "p(fake), 15 equal-width bins (Guo et al. 2017; torchmetrics' binning), Brier = mean squared error of "
    "p(fake) (lower = better calibrated; the reliability diagrams show where). [95% CI] as in the "
    "detection tables."
)
COMPARISON_NOTE = (
    "forgebench compare RUN A B: both detectors' stored test predictions of one test set, paired frame by frame; "
    "A − B with a paired cluster-bootstrap (connected groups of people) 95% interval (each replicate draws people, the same "
    "draw for A and B) and a two-sided bootstrap p-value; for the video AUC, DeLong's test as a cross-check "
    "(it treats videos as independent). " + THIN_NOTE + ": the p-value of so few people is not evidence."
)
HEATMAP_NOTE = (
    "Video AUC [people-cluster 95% CI, or not estimable] of each detector (rows: the detector and the fakes it was "
    "trained on) on each test set (columns: a generator's test fakes with the real test videos; all = every "
    "generator's). Cells where the train set is the test set are in-domain, the others measure generalisation "
    "to an unseen generator. Shade: green above chance (0.5), red below; " + THIN_NOTE + ". The tooltip (report.html) "
    "gives the spread across seeds and the identities / videos / frames behind the cell; the cross-generator "
    "matrices below list them."
)
QUALITY_NOTE = (
    "Mean ± std over the generator's fake videos [95% interval of the mean: cluster bootstrap over connected groups of "
    "people, every person linked through a fake in one group, as the detection intervals; omitted when fewer than two "
    "groups]; every fake is compared with the target's re-encoded real video (the one "
    "the detectors see), frame t with frame t, on aligned crops, inside the face mask (hull of the target's landmarks); "
    "'compared with' says what each generator's fakes are measured against. "
    "SSIM (Wang et al. 2004, scikit-image; [0, 1], higher = closer), PSNR (dB, higher = closer), LPIPS (Zhang et al. 2018, "
    "AlexNet; lower = closer). ID sim.: cosine similarity ([-1, 1], higher = more alike) of the fake face's identity "
    "embedding to the mean of the source's / target's / driving identity's real faces; ArcFace = insightface IResNet-100 "
    "trained on Glint360K (the metric of FaceShifter and SimSwap), dlib = dlib's 128-d ResNet descriptor (not comparable with "
    "published numbers). ID retrieval: share of all fake frames whose nearest real face frame (among every frame of every "
    "identity, FaceShifter's protocol) shows the identity the fake should show (swap: source; reenactment: target); higher = "
    "identity kept. Landmarks are compared with what the fake should match, one landmark model on both sides ('landmarks' "
    "names it: FAN = face-alignment, the FOMM paper's, when its weights are there; else dlib): a swap with the target frame's "
    "(a swap keeps the target's expression), a reenactment with the driving landmarks it was drawn to. Landmark dist.: mean "
    "68-landmark Euclidean error / inter-ocular distance (300-W NME). AKD (Siarohin et al. 2019, FOMM's cmp_kp.py): mean "
    "absolute coordinate difference over the 68 points and x, y, in pixels of the aligned crop (faces.crop_size), and / "
    "inter-ocular distance; lower = expression or motion followed. Boundary: gradient energy in a band across the "
    "blending-mask boundary of the fake over the same band of the real frame it replaced (the cue of Face X-ray, Li et al. "
    "2020); 1 = as smooth as real, above 1 = a visible seam a detector can use; not applicable where the fake replaces no "
    "target frame (fomm). Warp error (Lai et al. 2018): mean squared RGB difference ([0, 1] units, shown ×10³) inside the "
    "face between frame t and frame t + 1 warped back with the video's own optical flow (OpenCV Farnebäck), non-occluded "
    "pixels, for the fake on its own frames and ('real') for the real target video on its own; lower = steadier, the gap is "
    "the flicker the forgery adds; motion that is smooth but wrong is not caught by it (AKD is). FID (Heusel et al. 2017, "
    "pytorch-fid) and Fréchet (dlib): set-level, real vs fake crops (lower = closer; FID is biased upwards for few crops). "
    "KID (Bińkowski et al. 2018): unbiased squared MMD of the same Inception features, cubic polynomial kernel, mean over random subsets (lower "
    "= closer, about 0 for alike sets). eval mode: how the generator's networks ran when converting (train = dropout and "
    "batch statistics on, as pix2pix's paper). Definitions: docs/metrics.md."
)
RECON_NOTE = (
    "Held-out frames of each identity's own video re-rendered from their own driving signal (pix2pix_reenact: the "
    "frame's landmarks, frames held out of training; fomm: the video's first frame animated by the frame), compared "
    "with the real aligned crop. L1: mean absolute error, pixels in [0, 1] (lower = closer). AKD (FOMM's cmp_kp.py): "
    "mean absolute coordinate difference of the generated and the real crop's 68 landmarks, one landmark model on "
    "both (FAN when its weights are there, else dlib), pixels at the crop size and / inter-ocular distance (lower = "
    "closer). AED (FOMM): Euclidean distance of unit-norm ArcFace embeddings, in [0, 2], and of dlib descriptors (same "
    "person below 0.6); lower = identity kept. MKR: share with no face found (lower = better)."
)
#: The leaderboard across runs' figure; placeholders ``{axis}`` and ``{seed}``.
DETECTABILITY_NOTE = (
    "Each generator of a run is a point: x = its quality ({axis}; from metrics/quality*.parquet), y = its "
    "detectability, the mean over detectors of the in-domain video AUC (detector trained and tested on that "
    "generator), with its 95% interval as error bars (0.5 = chance): the lower a point, the harder its fakes "
    "are to catch; the axis label says which way quality is better. This mean and its interval are the one "
    "number computed here: from the stored test predictions (detectors/<detector>/<generator>/predictions.parquet), "
    "per-video scores with the run's aggregation and the train stage's people-cluster bootstrap (the same seed "
    "{seed} and replicates, so each replicate draws the same people for every detector), the detectors' AUC "
    "replicates averaged and the 2.5/97.5 percentiles taken. Every other number in this leaderboard is formatted "
    "from stored results (metrics.json, robustness_metrics.parquet, quality tables). Runs are separate points, "
    "never averaged together."
)
#: A run's quality-against-detectability figure; placeholder ``{axis}``.
QUALITY_VS_AUC_NOTE = (
    "Each generator's quality ({axis}, from the quality table) against its in-domain video AUC, one "
    "point per detector trained and tested on that generator, with the stored people-cluster 95% "
    "interval as error bars (none where not estimable); 0.5 = chance. The lower a point, the harder the "
    "generator's fakes are for that detector. The mean over detectors with its own interval is in the "
    "leaderboard across runs (forgebench leaderboard)."
)
#: Where a reader learns how to provide a missing weights file (no machine paths in the HTML).
WEIGHTS_DOC = "docs/metrics.md, Weights files"
