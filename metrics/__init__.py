"""forgebench.metrics: quality metrics of fakes and detection metrics, as pure functions.

Quality (``quality``, ``identity``, ``fid``, ``lpips_metric``, ``reconstruction``) are plain
functions over arrays with documented shapes, ranges and units; frame-pair metrics are
found by name in ``registry`` (``ssim``, ``psnr``, and third-party ones named in
``metrics.extra``; every module of this folder is imported the first time the registry is
asked for a name). The score stage (:mod:`forgebench.stages.score`) applies them to a
run. Metrics needing pretrained weights get them from :mod:`forgebench.weights` and are
reported unavailable, never computed with random weights, when the files cannot be had.
Detection metrics (AUC, AP, EER, accuracy, log loss, bootstrap intervals) live in
``detection``.
"""

from forgebench.metrics.registry import PAIR_METRICS, PairMetric, get_metric, list_metrics, register_metric

__all__ = ["PAIR_METRICS", "PairMetric", "get_metric", "list_metrics", "register_metric"]
