"""``forgebench evaluate RUN_DIR --detector package.module:factory --checkpoint FILE``: score
an already trained detector under the protocol, without training it.

The detector (an external factory, :mod:`forgebench.detectors.external`, or a registered
name) is built, its own weights are read from ``FILE`` with
``torch.load(path, weights_only=True)`` and stored as a forgebench checkpoint in
``detectors/<name>/pretrained/best.pt`` (the spec and the file's SHA-256 in its ``meta``).
Then the zoo's evaluation applies unchanged (:func:`forgebench.protocol.final_evaluation`):
thresholds from the validation split (its EER points), the sealed test split read once,
every generator's test set (the cross-generator row ``pretrained``), the metrics with
their identity-level intervals, and the robustness perturbations of the protocol. The
result appears in the leaderboard as the train set ``pretrained``: trained on nothing of
this run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from forgebench.config import Config
from forgebench.detectors.external import ExternalDetector, is_spec, use_external
from forgebench.detectors.inference import save_detector_checkpoint
from forgebench.detectors.registry import create_detector, get_detector_cfg
from forgebench.detectors.settings import TrainSettings, resolve_defaults
from forgebench.detectors.training import amp_dtype
from forgebench.errors import DataError
from forgebench.protocol import SealedLabels, check_disjoint_splits, check_frames, final_evaluation, select_frames
from forgebench.provenance import update_provenance
from forgebench.rundir import PRETRAINED_SET, RunDir, load_checkpoint, sha256_file, write_json, write_parquet
from forgebench.runtime import select_device
from forgebench.stages.train import TrainJob, _frames, _robustness, _settings, check_declared_size

__all__ = ["evaluate_detector"]


def _load_weights(model: torch.nn.Module, checkpoint: Path, name: str) -> None:
    """Load the user's weights file into ``model`` (strict; never unpickles code).

    Raises:
        DataError: the file cannot be read as a weights-only torch file, or its keys and
            shapes do not fit the detector.
    """
    state = load_checkpoint(checkpoint, f"weights of detector {name}")
    if isinstance(model, ExternalDetector):
        model.load_user_state(state, str(checkpoint))
        return
    for key in ("state_dict", "model"):
        if isinstance(state.get(key), dict):
            state = state[key]
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise DataError(f"{checkpoint}: weights do not fit detector {name} ({str(exc).splitlines()[0]} ...)") from None


def evaluate_detector(run: RunDir, config: Config, detector: str, checkpoint: Path, name: str | None = None,
                      progress: bool = True) -> dict[str, Any]:
    """Score a trained detector on the run's protocol (module docstring).

    Args:
        run, config: the run directory and its config (protocol, device, seed).
        detector: ``package.module:factory`` or a registered detector name.
        checkpoint: the detector's weights (a state dict, optionally under ``state_dict``
            or ``model``, keys optionally prefixed ``module.``).
        name: the detector's name in the run (default: the factory's name).
        progress: tqdm bars.

    Returns:
        the ``metrics.json`` document of ``detectors/<name>/pretrained/``.

    Raises:
        DataError: bad spec or declaration, unreadable or mismatched weights, a run
            without faces of fakes, or an empty validation or test split.
    """
    start = time.time()
    spec = detector if is_spec(detector) else ""
    name = use_external(spec, name) if spec else detector
    where = f"forgebench evaluate {name}"
    settings: TrainSettings = _settings(config, name)
    if spec:
        check_declared_size(settings, name, where)
    settings = resolve_defaults(settings.model_copy(update={"pretrained": False}), name)
    checkpoint = Path(checkpoint)
    model = create_detector(name, pretrained=False, **settings.model_kwargs)
    _load_weights(model, checkpoint, name)
    files = run.detector_files(name, PRETRAINED_SET)
    frames = _frames(run)
    check_frames(frames, where)
    check_disjoint_splits(frames, where)
    protocol = config.protocol_settings()
    _, val_df, test_df, methods = select_frames(frames, None, True, where)
    if val_df.empty or test_df.empty:
        raise DataError(f"{where}: the run needs validation and test frames (splits val and test)")
    sealed = SealedLabels(test_df["label"].to_numpy(), where)
    test_df = test_df.drop(columns=["label"])
    digest = sha256_file(checkpoint)
    meta = {
        "detector": name, "factory": spec, "image_size": int(settings.image_size), "train_set": PRETRAINED_SET,
        "train_methods": [], "epoch": 0, "val_auc": float("nan"), "val_loss": float("nan"), "seed": int(config.seed),
        "settings": settings.model_dump(mode="json"), "model_kwargs": dict(settings.model_kwargs),
        "pretrained": True, "source_checkpoint": str(checkpoint), "source_sha256": digest,
        "video_aggregation": protocol.video_aggregation,
    }
    save_detector_checkpoint(files.best, model.state_dict(), meta)
    device = select_device(config.device)
    amp = amp_dtype(device, settings.amp)
    ev = final_evaluation(files.best, val_df, test_df, sealed, settings=settings, protocol=protocol, device=device, amp=amp,
                          progress=progress, desc=f"{name}/{PRETRAINED_SET}")
    test_metrics = ev.test_sets[ev.in_domain]
    doc = {
        "detector": name, "train_set": PRETRAINED_SET, "test_set": ev.in_domain, "split": "test", "train_methods": [],
        "factory": spec, "evaluated": True, **test_metrics, "test_sets": ev.test_sets,
        "n_frames": test_metrics["frame"]["n_frames"], "n_videos": test_metrics["video"]["n_videos"], **ev.thresholds,
        "val": ev.val, "image_size": int(settings.image_size), "input": get_detector_cfg(name).to_dict(),
        "checkpoint": files.best.name, "checkpoint_sha256": digest, "source_checkpoint": str(checkpoint),
        "device": str(device), "video_aggregation": protocol.video_aggregation, "seed": int(config.seed),
    }
    write_parquet(files.predictions, ev.predictions)
    write_json(files.metrics, doc)
    if protocol.robustness.enabled and not files.robustness_metrics.is_file():
        job = TrainJob(name, settings, protocol, PRETRAINED_SET, methods, files, config.seed, spec)
        _robustness(run, [job], frames, device, progress)
    update_provenance(run, config, "evaluate", time.time() - start, {"detector": name, "checkpoint_sha256": digest})
    return doc
