"""Every detection and quality metric, declared once.

A :class:`MetricDecl` gives a metric's name, label, levels, unit, direction, the paper or
code it follows and what it needs (pixels of the replaced frame, pretrained weights). The
table schemas (:mod:`forgebench.leaderboard.tables`), the bootstrap
(:data:`forgebench.metrics.bootstrap.BOOT_METRICS`), the report's column labels and notes
(:mod:`forgebench.leaderboard.report`, :mod:`forgebench.leaderboard.protocols`) and the
metric table of docs/metrics.md (``python -m forgebench.metrics.declared``, checked by
``tests/test_metric_declarations.py``) are derived from :data:`DETECTION` and
:data:`QUALITY`; a metric is added by declaring it here and computing it where its kind is
computed (:mod:`forgebench.metrics.detection` / :mod:`forgebench.stages.score`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

__all__ = ["MetricDecl", "DETECTION", "QUALITY", "LOW_FPRS", "ECE_BINS", "detection_names", "interval_names", "point_names",
           "quality_names", "label", "markdown_table"]

#: The low false-positive rates of the deployment metrics: key suffix -> FPR.
LOW_FPRS = {"1pct": 0.01, "0_1pct": 0.001}
#: Equal-width bins of the expected calibration error.
ECE_BINS = 15


@dataclass(frozen=True)
class MetricDecl:
    """One metric's declaration.

    Attributes:
        name: the key in ``metrics.json`` / the column stem in the tables.
        label: the column label in the report.
        kind: ``detection`` or ``quality``.
        levels: detection: ``("frame", "video")``; quality: ``("video",)`` (mean over a
            generator's fake videos), ``("set",)`` (one number per generator) or
            ``("reconstruction",)`` (the self-reenactment protocol).
        unit: what the number is measured in, with its range.
        higher_is_better: direction (None: neither, e.g. a rate achieved).
        reference: the paper or code it follows.
        interval: detection: gets the people-cluster bootstrap interval; else a point
            estimate.
        needs: ``""``, ``"pixels"`` (the fake must replace target frame t),
            ``"weights: <entry>"`` (pretrained weights of :mod:`forgebench.weights`),
            ``"validation"`` (a threshold chosen on the validation split).
        definition: one sentence for docs/metrics.md.
    """

    name: str
    label: str
    kind: str
    levels: tuple[str, ...]
    unit: str
    higher_is_better: bool | None
    reference: str
    interval: bool = False
    needs: str = ""
    definition: str = ""


def _det(name, label, unit, higher, reference, definition, interval=True, needs="") -> MetricDecl:
    return MetricDecl(name, label, "detection", ("frame", "video"), unit, higher, reference, interval, needs, definition)


def _low_fpr(key: str, fpr: float) -> tuple[MetricDecl, ...]:
    pct = f"{fpr * 100:g}%"
    return (
        _det(f"tpr_at_fpr_{key}", f"TPR@FPR {pct}", "[0, 1]", True, "deployment operating point (e.g. DFDC, Dolhansky et al. 2020)",
             f"share of fakes caught at the threshold chosen on the validation split to give FPR ≤ {pct} there "
             "(the highest validation TPR among such thresholds)", needs="validation"),
        _det(f"fpr_at_fpr_{key}", f"FPR achieved ({pct} target)", "[0, 1]", None, "the same threshold",
             f"the test FPR the validation threshold for FPR {pct} actually gives (drifts when validation and test differ)",
             interval=False, needs="validation"),
        _det(f"tpr_at_fpr_{key}_oracle", f"TPR@FPR {pct} (oracle)", "[0, 1]", True, "the test ROC curve",
             f"the highest test TPR among thresholds with test FPR ≤ {pct}: the threshold is tuned on the test set, an upper "
             "bound no deployment reaches"),
    )


#: Detection metrics, in display order.
DETECTION: tuple[MetricDecl, ...] = (
    _det("auc", "AUC", "[0, 1]", True, "ROC AUC, scikit-learn roc_auc_score",
         "area under the ROC curve (fake = positive; ties count 1/2)"),
    _det("ap", "AP", "[0, 1]", True, "scikit-learn average_precision_score",
         "average precision, fake = positive (step-wise, no interpolation)"),
    _det("eer", "EER", "[0, 1]", False, "forgebench's definition (forgebench.metrics.detection.equal_error_rate)",
         "(FPR + FNR) / 2 at the ROC point (every threshold) nearest FPR = FNR"),
    _det("eer_deepfakebench", "EER (DeepfakeBench's)", "[0, 1]", False,
         "DeepfakeBench training/metrics/utils.py get_test_metrics",
         "the FPR at the point of scikit-learn's reduced ROC curve minimising |FNR − FPR|", interval=False),
    _det("acc", "acc.", "[0, 1]", True, "accuracy at the validation threshold",
         "share of samples called right with fake when score ≥ the validation EER threshold", needs="validation"),
    _det("acc_05", "acc. @0.5", "[0, 1]", True, "accuracy at 0.5", "share of samples called right with fake when p ≥ 0.5"),
    _det("log_loss", "log loss", "nats, ≥ 0", False, "DFDC competition score, scikit-learn log_loss",
         "mean binary cross-entropy of p(fake) clipped to [1e-15, 1 − 1e-15]"),
    *(d for key, fpr in LOW_FPRS.items() for d in _low_fpr(key, fpr)),
    _det("ece", f"ECE ({ECE_BINS} bins)", "[0, 1]", False,
         "Guo et al. 2017 (ICML); bins as torchmetrics binary_calibration_error(n_bins=15, norm='l1')",
         f"expected calibration error of p(fake): {ECE_BINS} equal-width bins [k/{ECE_BINS}, (k+1)/{ECE_BINS}) (p = 1 in a "
         "bin of its own), Σ (n_bin / n) |fraction fake − mean p| over the bins"),
    _det("brier", "Brier", "[0, 1]", False, "Brier 1950; scikit-learn brier_score_loss",
         "mean squared difference of p(fake) and the label"),
)


def _q(name, label, levels, unit, higher, reference, definition, needs="") -> MetricDecl:
    return MetricDecl(name, label, "quality", levels, unit, higher, reference, False, needs, definition)


#: Quality metrics, in display order: per-video means, set-level, reconstruction.
QUALITY: tuple[MetricDecl, ...] = (
    _q("ssim", "SSIM", ("video",), "[0, 1]", True, "Wang et al. 2004, scikit-image", "structural similarity to the replaced "
       "target frame inside the face mask", needs="pixels"),
    _q("psnr", "PSNR (dB)", ("video",), "dB", True, "peak signal-to-noise ratio", "PSNR to the replaced target frame inside "
       "the face mask", needs="pixels"),
    _q("lpips", "LPIPS", ("video",), "distance, ≥ 0", False, "Zhang et al. 2018, lpips (AlexNet)", "learned perceptual "
       "distance to the replaced target frame, spatial map averaged inside the face mask", needs="pixels; weights: lpips_alex"),
    _q("id_sim_source", "ID sim. source (ArcFace)", ("video",), "cosine, [-1, 1]", True, "FaceShifter / SimSwap; insightface "
       "IResNet-100 Glint360K", "cosine similarity of the fake face's ArcFace embedding to the source identity's mean",
       needs="weights: arcface_r100_glint360k"),
    _q("id_sim_target", "ID sim. target (ArcFace)", ("video",), "cosine, [-1, 1]", None, "as above", "the same to the target "
       "identity's mean", needs="weights: arcface_r100_glint360k"),
    _q("id_sim_driving", "ID sim. driving (ArcFace)", ("video",), "cosine, [-1, 1]", False, "as above", "the same to the "
       "driving identity's mean (identity leaking from the motion)", needs="weights: arcface_r100_glint360k"),
    _q("id_sim_source_dlib", "ID sim. source (dlib)", ("video",), "cosine, [-1, 1]", True, "dlib 128-d ResNet descriptor",
       "as ID sim. source with dlib's descriptor (not comparable with published numbers)"),
    _q("id_sim_target_dlib", "ID sim. target (dlib)", ("video",), "cosine, [-1, 1]", None, "dlib", "as ID sim. target with dlib"),
    _q("id_sim_driving_dlib", "ID sim. driving (dlib)", ("video",), "cosine, [-1, 1]", False, "dlib",
       "as ID sim. driving with dlib"),
    _q("landmark_distance", "landmark dist.", ("video",), "÷ inter-ocular distance", False, "300-W NME",
       "mean 68-landmark Euclidean error to what the fake should match (swap: the target frame; reenactment: the driving "
       "landmarks it was drawn to) / inter-ocular distance"),
    _q("akd", "AKD (px)", ("video",), "pixels at faces.crop_size", False, "Siarohin et al. 2019, pose-evaluation cmp_kp.py",
       "mean absolute coordinate difference of the 68 landmarks, one landmark model on both sides"),
    _q("akd_iod", "AKD / IOD", ("video",), "÷ inter-ocular distance", False, "as AKD", "AKD normalised by the inter-ocular "
       "distance"),
    _q("boundary", "boundary (fake / real)", ("video",), "ratio, 1 = as smooth as real", False, "Face X-ray's cue, Li et al. "
       "2020", "gradient energy in a band across the blending boundary, fake over real", needs="pixels"),
    _q("warp_error", "warp error ×10³", ("video",), "mean squared RGB, [0, 1] units", False, "Lai et al. 2018",
       "warping error of the fake on its own consecutive frames (Farnebäck flow, occlusion-checked), inside the face"),
    _q("warp_error_real", "warp error real ×10³", ("video",), "mean squared RGB, [0, 1] units", False, "Lai et al. 2018",
       "the same on the real target video: the floor the fake is compared with"),
    _q("fid", "FID", ("set",), "≥ 0", False, "Heusel et al. 2017, pytorch-fid", "Fréchet distance of Inception pool features, "
       "real vs fake crops", needs="weights: inception_fid"),
    _q("kid", "KID", ("set",), "≈ 0 for alike sets", False, "Bińkowski et al. 2018", "unbiased squared MMD of the same "
       "features, cubic polynomial kernel", needs="weights: inception_fid"),
    _q("frechet_dlib", "Fréchet (dlib)", ("set",), "≥ 0", False, "FID's formula on dlib descriptors",
       "Fréchet distance of dlib descriptors, real vs fake"),
    _q("id_retrieval", "ID retrieval (ArcFace)", ("set",), "share, [0, 1]", True, "FaceShifter's protocol", "share of fake "
       "frames whose nearest real frame shows the identity the fake should show", needs="weights: arcface_r100_glint360k"),
    _q("id_retrieval_dlib", "ID retrieval (dlib)", ("set",), "share, [0, 1]", True, "as above", "the same with dlib"),
    _q("recon_l1", "L1", ("reconstruction",), "[0, 1]", False, "FOMM's reconstruction protocol", "mean absolute error to the "
       "held-out real crop"),
    _q("recon_ssim", "SSIM", ("reconstruction",), "[0, 1]", True, "Wang et al. 2004", "SSIM to the held-out real crop"),
    _q("recon_akd", "AKD (px)", ("reconstruction",), "pixels at faces.crop_size", False, "pose-evaluation cmp_kp.py",
       "AKD to the held-out real crop, one landmark model on both"),
    _q("recon_akd_iod", "AKD / IOD", ("reconstruction",), "÷ inter-ocular distance", False, "as AKD", "normalised AKD"),
    _q("recon_aed", "AED (ArcFace)", ("reconstruction",), "[0, 2]", False, "FOMM's AED", "Euclidean distance of unit-norm "
       "ArcFace embeddings", needs="weights: arcface_r100_glint360k"),
    _q("recon_aed_dlib", "AED (dlib)", ("reconstruction",), "≥ 0", False, "FOMM's AED with dlib", "the same with dlib "
       "descriptors (same person below 0.6)"),
    _q("recon_mkr", "MKR", ("reconstruction",), "share, [0, 1]", False, "FOMM's missing keypoint rate", "share of generated "
       "crops with no face found"),
)


def detection_names() -> tuple[str, ...]:
    """Every detection metric's name, in display order."""
    return tuple(d.name for d in DETECTION)


def interval_names() -> tuple[str, ...]:
    """The detection metrics with a bootstrap interval."""
    return tuple(d.name for d in DETECTION if d.interval)


def point_names() -> tuple[str, ...]:
    """The detection metrics stored as point estimates (no interval)."""
    return tuple(d.name for d in DETECTION if not d.interval)


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
    lines = ["| metric | label | level | unit | better | interval | needs | follows | definition |",
             "|---|---|---|---|---|---|---|---|---|"]
    def cell(text: str) -> str:
        return text.replace("|", "\\|")  # a bar inside a cell would end it

    for d in decls:
        lines.append(f"| `{d.name}` | {cell(d.label)} | {', '.join(d.levels)} | {cell(d.unit)} | {direction[d.higher_is_better]} | "
                     f"{'yes' if d.interval else 'no'} | {cell(d.needs or '—')} | {cell(d.reference)} | {cell(d.definition)} |")
    return "\n".join(lines)


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print docs/metrics.md's metric tables, derived from the declarations")
    parser.add_argument("kind", choices=("detection", "quality"))
    print(markdown_table(parser.parse_args(argv).kind))


if __name__ == "__main__":
    _main()
