"""forgebench.metrics: quality metrics of fakes and detection metrics, as pure functions.

One module per metric family, each with the declarations of the metrics it computes
beside the code (:class:`MetricDecl`: level, unit, direction, what it needs, what it
follows): ``quality`` (SSIM, PSNR, landmarks), ``lpips_metric``, ``identity``, ``fid``,
``kid``, ``boundary``, ``temporal``, ``reconstruction`` and ``detection`` (AUC, AP, EER,
accuracy, log loss, low-FPR rates, calibration). ``declared`` gathers the declarations for
the tables, the report and docs/metrics.md; ``bootstrap`` holds the identity-cluster
intervals of the detection metrics; ``arcface`` the identity embedding network of the
identity metrics. Modules whose names start with ``_`` are shared machinery: the
frame-pair registry (``_registry``) and what a declaration holds (``_declaration``).

Frame-pair metrics are found by name (:func:`get_metric`, :func:`list_metrics`: ``ssim``,
``psnr``, and third-party ones named in ``metrics.extra``; every module of this folder is
imported the first time the registry is asked for a name). The score stage
(:mod:`forgebench.stages.score`) applies them to a run. Metrics needing pretrained weights
get them from :mod:`forgebench.weights` and are reported unavailable, never computed with
random weights, when the files cannot be had.
"""

from forgebench.metrics._declaration import MetricDecl
from forgebench.metrics._registry import PAIR_METRICS, PairMetric, get_metric, list_metrics, register_metric

__all__ = ["MetricDecl", "PAIR_METRICS", "PairMetric", "get_metric", "list_metrics", "register_metric"]
