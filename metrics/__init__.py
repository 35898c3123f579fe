"""forgebench.metrics: quality metrics of fakes and detection metrics.

Quality (``quality``, ``identity``, ``fid``, ``lpips_metric``) are plain functions over
arrays with documented shapes, ranges and units; ``score`` is the ``forgebench score``
stage that applies them to a run directory. Metrics needing pretrained weights get them
from :mod:`forgebench.weights` and are reported unavailable, never computed with random
weights, when the files cannot be had. Detection metrics live in ``detection``.
"""
