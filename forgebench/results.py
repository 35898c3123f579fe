"""The result document of one detector x train set (``detectors/<detector>/<train_set>/metrics.json``).

One builder, :func:`detector_result`, writes the part every result shares, whoever made
it: the train stage (a detector trained here), ``forgebench evaluate`` (published or
user weights, and the cross-dataset protocol) and ``forgebench submit`` (a prediction
submission). :func:`check_result` is the one check of a stored document, used when
``compare``, the report and the multi-run leaderboard read it
(:meth:`forgebench.rundir.DetectorArea.read_metrics`). The keys are listed in
docs/architecture.md ("metrics.json").

Shared part, in this order: ``detector``, ``train_set``, ``test_set`` (the in-domain
test set, whose metrics are also at the top level), ``split`` (``test``, or ``all`` for a
dataset scored whole), ``kind`` (:data:`RESULT_KINDS`), ``train_methods``, the in-domain
``frame`` / ``video`` metrics, ``test_sets`` (every test set with intervals),
``n_frames`` / ``n_videos``, the thresholds (``threshold``, ``video_threshold`` and their
sources, the low-FPR thresholds), ``video_aggregation``, ``val`` when there is a
validation split; then the facts of the kind (settings, checkpoint, weights origin, ...).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from forgebench.errors import DataError

__all__ = ["RESULT_KINDS", "REQUIRED_KEYS", "in_domain_set", "detector_result", "check_result", "result_kind"]

#: How a result came to be: trained in this run; evaluated with weights trained elsewhere
#: (published or the user's); a detector of another run scored here (cross-dataset); a
#: prediction submission.
RESULT_KINDS = ("trained", "evaluated", "cross_dataset", "submission")

#: Keys every result document holds (documents written before ``kind`` existed get it from
#: :func:`result_kind`).
REQUIRED_KEYS = (
    "detector",
    "train_set",
    "test_set",
    "split",
    "frame",
    "video",
    "test_sets",
    "n_frames",
    "n_videos",
    "threshold",
    "video_threshold",
    "video_aggregation",
)


def in_domain_set(test_sets: Mapping[str, Any], train_set: str | None = None) -> str:
    """The in-domain test set of a result: ``train_set`` when it is one of ``test_sets``,
    else ``all``, else the first by name (a detector trained elsewhere, a submission).

    Raises:
        ValueError: ``test_sets`` is empty.
    """
    if not test_sets:
        raise ValueError("a result needs at least one test set")
    if train_set is not None and train_set in test_sets:
        return train_set
    return "all" if "all" in test_sets else sorted(test_sets)[0]


def detector_result(
    *,
    detector: str,
    train_set: str,
    kind: str,
    test_set: str,
    test_sets: Mapping[str, Mapping[str, Any]],
    thresholds: Mapping[str, Any],
    video_aggregation: str,
    split: str = "test",
    train_methods: list[str] | tuple[str, ...] = (),
    val: Mapping[str, Any] | None = None,
    **facts: Any,
) -> dict[str, Any]:
    """A detector's result document.

    Args:
        detector: registry or external name of the detector (or the submission's name).
        train_set: its train-set folder (``all``, a generator, ``pretrained``,
            ``submission``, ``<set>@<run>``).
        kind: one of :data:`RESULT_KINDS`.
        test_set: the in-domain test set, a key of ``test_sets``.
        test_sets: per test set, ``{"frame": {...}, "video": {...}}`` metrics with intervals
            (:func:`forgebench.protocol.metrics_with_intervals`).
        thresholds: ``threshold``, ``video_threshold`` (probabilities in [0, 1]) and their
            ``*_source``, plus the low-FPR thresholds when chosen on validation.
        video_aggregation: how frame scores become a video score (``mean``, ...).
        split: the part scored: ``test``, or ``all`` for a dataset scored whole.
        train_methods: the generators the detector was trained on (empty when not here).
        val: validation metrics, when the run has a validation split.
        **facts: what this kind records besides (settings, checkpoint, weights origin,
            cross-dataset facts, submission file, ...); must not repeat a shared key.

    Returns:
        the document (plain JSON-able values; NaN where a metric is undefined).

    Raises:
        ValueError: an unknown ``kind``, ``test_set`` not in ``test_sets``, a threshold
            missing, or a fact that repeats a shared key (programming errors).
    """
    if kind not in RESULT_KINDS:
        raise ValueError(f"result kind must be one of {RESULT_KINDS}, got {kind!r}")
    if test_set not in test_sets:
        raise ValueError(f"in-domain test set {test_set!r} is not among the test sets {sorted(test_sets)}")
    missing = [k for k in ("threshold", "video_threshold") if k not in thresholds]
    if missing:
        raise ValueError(f"thresholds lack {missing}")
    top = test_sets[test_set]
    doc: dict[str, Any] = {
        "detector": detector,
        "train_set": train_set,
        "test_set": test_set,
        "split": split,
        "kind": kind,
        "train_methods": list(train_methods),
        **top,
        "test_sets": dict(test_sets),
        "n_frames": int(top["frame"]["n_frames"]),
        "n_videos": int(top["video"]["n_videos"]),
        **thresholds,
        "video_aggregation": video_aggregation,
    }
    if kind in ("evaluated", "cross_dataset"):
        doc["evaluated"] = True  # read by the report and the multi-run leaderboard
    if kind == "submission":
        doc["submission"] = True
    if val is not None:
        doc["val"] = val
    repeated = sorted(set(facts) & set(doc))
    if repeated:
        raise ValueError(f"result facts repeat shared keys {repeated}")
    doc.update(facts)
    return doc


def result_kind(doc: Mapping[str, Any]) -> str:
    """The :data:`RESULT_KINDS` entry of a document (from its flags when it predates ``kind``)."""
    if doc.get("kind") in RESULT_KINDS:
        return str(doc["kind"])
    if doc.get("submission"):
        return "submission"
    if doc.get("cross_dataset"):
        return "cross_dataset"
    return "evaluated" if doc.get("evaluated") else "trained"


def check_result(doc: Any, where: str | os.PathLike) -> dict[str, Any]:
    """A stored result document, checked: a JSON object holding :data:`REQUIRED_KEYS`,
    with ``kind`` filled in for documents that predate it.

    Raises:
        DataError: not an object, or a required key is missing (the message names the
            file and the keys).
    """
    if not isinstance(doc, dict):
        raise DataError(f"{where}: expected a JSON object (a detector result)")
    missing = [k for k in REQUIRED_KEYS if k not in doc]
    if missing:
        raise DataError(f"{where}: detector result lacks {missing} (keys: docs/architecture.md, 'metrics.json')")
    return {**doc, "kind": result_kind(doc)}
