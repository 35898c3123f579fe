"""What a metric declaration holds, and the two ways of writing one.

Every metric module declares the metrics it computes beside the code that computes them
(as timm keeps a model's ``default_cfgs`` beside the model): a tuple of
:class:`MetricDecl` built with :func:`declare_detection` or :func:`declare_quality`.
:mod:`forgebench.metrics.declared` gathers them, in display order, into ``DETECTION`` and
``QUALITY``, from which the tables, the bootstrap, the report's labels and docs/metrics.md
are derived.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MetricDecl", "declare_detection", "declare_quality"]


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
        weights: the :mod:`forgebench.weights` entries the metric cannot be computed
            without (``needs`` names them for readers); when one cannot be had the metric
            is reported unavailable with the reason, never computed with random weights.
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
    weights: tuple[str, ...] = ()


def declare_detection(
    name: str,
    label: str,
    unit: str,
    higher_is_better: bool | None,
    reference: str,
    definition: str,
    interval: bool = True,
    needs: str = "",
) -> MetricDecl:
    """A detection metric, reported at frame and video level (with a bootstrap interval
    unless ``interval`` is false)."""
    return MetricDecl(
        name, label, "detection", ("frame", "video"), unit, higher_is_better, reference, interval, needs, definition
    )


def declare_quality(
    name: str,
    label: str,
    levels: tuple[str, ...],
    unit: str,
    higher_is_better: bool | None,
    reference: str,
    definition: str,
    needs: str = "",
    weights: tuple[str, ...] = (),
) -> MetricDecl:
    """A quality metric of the fakes at ``levels`` (a point estimate)."""
    return MetricDecl(
        name, label, "quality", levels, unit, higher_is_better, reference, False, needs, definition, weights
    )
