"""The contract every metric keeps, parametrised over every declaration and every registered
frame-pair metric.

A declaration (:class:`forgebench.metrics.MetricDecl`) is complete (label, level, unit,
direction, what it follows and needs, a definition) and lives beside the code computing it,
in exactly one metric module; a metric that needs pretrained weights names entries of the
weights registry, and with the weights missing (the empty caches every test gets,
``HF_HUB_OFFLINE=1``) they are reported unavailable with a reason and the metric's loader
refuses to run rather than use random weights. A frame-pair metric of the registry returns
a finite float in its declared range on two real aligned crops of the sample clips and
ranks a crop against itself as its best value. Every detection metric comes out finite and
in its declared range.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import re

import numpy as np
import pytest

import forgebench.metrics
from forgebench.metrics import MetricDecl, get_metric, list_metrics
from forgebench.metrics.declared import DETECTION, QUALITY
from forgebench.weights import WeightsUnavailable, get_entry, override_variable, resolve_weights, weights_status

DECLS = (*DETECTION, *QUALITY)
LEVELS = {"detection": {("frame", "video")}, "quality": {("video",), ("set",), ("reconstruction",)}}
NEEDS = re.compile(r"^(pixels|validation|weights: [a-z0-9_]+)$")


def _loader(entry: str):
    """The loader of the metric code that needs weights ``entry``: each must raise
    ``WeightsUnavailable`` when the file cannot be had."""
    if entry == "alexnet":
        from forgebench.metrics.lpips_metric import load_lpips

        return lambda: load_lpips("alex")
    if entry == "pt_inception":
        from forgebench.metrics.fid import load_inception

        return lambda: load_inception(dims=64)
    if entry == "arcface_r100_glint360k":
        from forgebench.metrics.arcface import load_arcface

        return load_arcface
    raise AssertionError(f"weights {entry!r} of a metric declaration: add its loader to tests/test_metric_contract.py")


def _bounds(unit: str) -> tuple[float, float]:
    """The range a declared unit states (``[0, 1]``, ``cosine, [-1, 1]``, ``≥ 0``); unbounded
    otherwise (``dB``)."""
    found = re.search(r"\[(-?[\d.]+), (-?[\d.]+)\]", unit)
    if found:
        return float(found.group(1)), float(found.group(2))
    return (0.0, math.inf) if "≥ 0" in unit else (-math.inf, math.inf)


def _homes() -> dict[str, list[str]]:
    """Declared metric name -> the metric modules holding its declaration (``declared`` only
    gathers them)."""
    homes: dict[str, list[str]] = {}
    for info in pkgutil.iter_modules(forgebench.metrics.__path__):
        if info.name.startswith("_") or info.name == "declared":
            continue
        module = importlib.import_module(f"forgebench.metrics.{info.name}")
        for value in vars(module).values():
            if isinstance(value, tuple) and value and all(isinstance(d, MetricDecl) for d in value):
                for d in value:
                    homes.setdefault(d.name, []).append(module.__name__)
    return homes


@pytest.fixture(scope="module")
def homes() -> dict[str, list[str]]:
    return _homes()


@pytest.mark.parametrize("decl", DECLS, ids=lambda d: d.name)
def test_declaration_is_complete_and_beside_its_code(decl, homes):
    assert decl.kind in LEVELS and decl.levels in LEVELS[decl.kind], (decl.kind, decl.levels)
    assert decl.label.strip() and decl.unit.strip() and decl.reference.strip() and decl.definition.strip()
    assert decl.higher_is_better in (True, False, None)
    assert decl.interval is False or decl.kind == "detection"
    parts = [p.strip() for p in decl.needs.split(";")] if decl.needs else []
    assert all(NEEDS.match(p) for p in parts), decl.needs
    assert any(p.startswith("weights:") for p in parts) == bool(decl.weights), (
        "needs names weights iff weights are declared"
    )
    for entry in decl.weights:
        get_entry(entry)  # a forgebench.weights entry (KeyError otherwise)
    assert len(homes.get(decl.name, [])) == 1, f"{decl.name} declared in {homes.get(decl.name)} (exactly one module)"


@pytest.mark.parametrize("entry", sorted({w for d in DECLS for w in d.weights}))
def test_missing_weights_are_reported_unavailable_with_the_reason(entry):
    """The conftest's empty TORCH_HOME and offline hub: nothing can be found or fetched."""
    file = get_entry(entry).file
    status = weights_status(entry)
    assert status.startswith("unavailable: ") and file in status and override_variable(entry) in status
    with pytest.raises(WeightsUnavailable) as info:
        resolve_weights(entry)
    assert info.value.reason and "\n" not in info.value.reason
    with pytest.raises(WeightsUnavailable, match=re.escape(file)):
        _loader(entry)()


@pytest.fixture(scope="module")
def crops(clips_dir):
    """Two real aligned 96-px crops (different people) and the face mask of the first:
    ``(real, other, mask)``, as the score stage compares a fake with the frame it replaced."""
    from forgebench.config import FacesSettings
    from forgebench.faces import FaceAnalyzer
    from forgebench.faces.align_util import transform_points
    from forgebench.media import iter_frames
    from forgebench.metrics.quality import face_mask

    analyzer = FaceAnalyzer(FacesSettings(crop_size=96))
    out = []
    for clip in ("d0", "d3"):
        _, frame = next(iter_frames(clips_dir / f"{clip}.mp4", indices=[0]))
        face = analyzer.detect(frame)
        assert face is not None, clip
        out.append((face.crop(frame), transform_points(face.landmarks, face.matrix)))
    (real, landmarks), (other, _) = out
    return real, other, face_mask(landmarks, 96)


@pytest.mark.parametrize("name", list_metrics())
def test_pair_metric_is_finite_in_its_declared_range(name, crops):
    real, other, mask = crops
    metric = get_metric(name)
    declared = {d.name: d for d in QUALITY}.get(name)
    if declared is not None:  # built in: its declaration is a per-video column needing the replaced frame's pixels
        assert declared.levels == ("video",) and "pixels" in declared.needs
        assert declared.higher_is_better == metric.higher_is_better
        low, high = _bounds(declared.unit)
    else:  # a third-party metric: what it registered
        assert metric.units, f"{name}: a frame-pair metric registers its units"
        low, high = _bounds(metric.units)
    value = metric.fn(real, other, mask)
    assert isinstance(value, float) and math.isfinite(value), value
    assert low <= value <= high, (value, low, high)
    same = metric.fn(real, real, mask)
    assert same >= value if metric.higher_is_better else same <= value


@pytest.fixture(scope="module")
def detection_values() -> dict:
    from forgebench.metrics.detection import detection_metrics

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 200)
    scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0.0, 1.0)
    return detection_metrics(labels, scores, 0.5, {"1pct": 0.9, "0_1pct": 0.99})


@pytest.mark.parametrize("decl", DETECTION, ids=lambda d: d.name)
def test_detection_metric_is_finite_in_its_declared_range(decl, detection_values):
    value = detection_values[decl.name]
    low, high = _bounds(decl.unit)
    assert isinstance(value, float) and math.isfinite(value) and low <= value <= high, (decl.name, value)
