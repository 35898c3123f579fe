"""The registry of frame-pair quality metrics (config ``metrics.extra``).

A frame-pair metric compares the aligned crop of a fake frame with the aligned crop of the
real frame it replaced, inside the face mask, and gives one number: built in are
``ssim`` and ``psnr`` (:mod:`forgebench.metrics.quality`). A third-party package adds one
through the entry point group ``forgebench.metrics`` (a module whose import calls
:func:`register_metric`, or a plain function ``fn(real, fake, mask) -> float``, registered
under the entry point's name); naming it in ``metrics.extra`` makes the score stage
write it as a column of ``metrics/quality.parquet`` and ``quality_frames.parquet``.
Shared machinery: its names are imported from :mod:`forgebench.metrics`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from forgebench.registry import Registry

__all__ = ["PairMetric", "PAIR_METRICS", "register_metric", "get_metric", "list_metrics"]


@dataclass(frozen=True)
class PairMetric:
    """One registered frame-pair quality metric.

    Attributes:
        name: registered name (the column name in the quality tables).
        fn: ``fn(real, fake, mask) -> float`` with ``real``, ``fake`` ``(S, S, 3)`` uint8
            RGB aligned crops and ``mask`` ``(S, S)`` bool (the face: convex hull of the
            target landmarks); NaN when undefined.
        higher_is_better: direction of the metric.
        units: what the number is measured in.
        reference: the paper or code it follows.
    """

    name: str
    fn: Callable[[np.ndarray, np.ndarray, np.ndarray], float]
    higher_is_better: bool = True
    units: str = ""
    reference: str = ""


def _adopt(registry: Registry, name: str, obj: Any) -> None:
    if isinstance(obj, PairMetric):
        registry.register(name)(obj)
    elif callable(obj):
        registry.register(name)(
            PairMetric(
                name,
                obj,
                bool(getattr(obj, "higher_is_better", True)),
                str(getattr(obj, "units", "")),
                str(getattr(obj, "__doc__", "") or "").strip()[:200],
            )
        )
    else:
        raise TypeError(f"a metric entry point must name a function fn(real, fake, mask) -> float, got {obj!r}")


PAIR_METRICS: Registry[PairMetric] = Registry(
    "quality metric", group="forgebench.metrics", adopt=_adopt, package="forgebench.metrics"
)


def register_metric(name: str, *, higher_is_better: bool = True, units: str = "", reference: str = "") -> Callable:
    """Decorator registering ``fn(real, fake, mask) -> float`` as frame-pair metric ``name``
    (see :class:`PairMetric`); returns the function unchanged.

    Raises:
        ValueError: ``name`` is already registered.
    """

    def deco(fn: Callable) -> Callable:
        PAIR_METRICS.register(name)(PairMetric(name, fn, higher_is_better, units, reference))
        return fn

    return deco


def get_metric(name: str) -> PairMetric:
    """The :class:`PairMetric` registered as ``name`` (``KeyError`` listing the names)."""
    return PAIR_METRICS.get(name)


def list_metrics() -> list[str]:
    """Sorted names of the registered frame-pair metrics (entry points included)."""
    return PAIR_METRICS.names()
