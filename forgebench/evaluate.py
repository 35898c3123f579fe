"""``forgebench evaluate RUN_DIR --detector package.module:factory --checkpoint FILE``: score
an already trained detector under the protocol, without training it; ``forgebench evaluate
RUN_B --detector RUN_A/detectors/NAME[/TRAIN_SET]``: the cross-dataset protocol
(:func:`evaluate_cross_dataset`).

The detector (an external factory, :func:`forgebench.detectors.use_external`, or a registered
name) is built, its own weights are read from ``FILE`` with
``torch.load(path, weights_only=True)`` and stored as a forgebench checkpoint in
``detectors/<name>/pretrained/best.pt`` (the spec and the file's SHA-256 in its ``meta``).
Then the zoo's evaluation applies unchanged (:func:`forgebench.protocol.final_evaluation`):
thresholds from the validation split (its EER points), the sealed test split read once,
every generator's test set (the cross-generator row ``pretrained``), the metrics with
their people-cluster intervals, and the robustness perturbations of the protocol. The
result appears in the leaderboard as the train set ``pretrained``: trained on nothing of
this run. Its ``metrics.json`` names the weights in ``weights_origin``:
``checkpoint:<sha256 of FILE>`` (``deepfakebench:<sha256>`` for DeepfakeBench's published
files; a cross-dataset evaluation keeps the training run's origin, ``imagenet:<sha256>``
or ``none``).

DeepfakeBench's released detectors (``--detector dfb_xception --checkpoint
xception_best.pth``, :mod:`forgebench.detectors.deepfakebench`) take the same path with
DeepfakeBench's checkpoint file as published, loaded strictly; their ``metrics.json``
records ``trained_elsewhere`` (``"DeepfakeBench v1.0.1 (FF++ c23)"``) and the detector's
published facts, so every table keeps their rows apart from the run's own detectors. On a
run without a validation split (a dataset imported as a test set only) their thresholds
are DeepfakeBench's own decision rule, p = 0.5, and say so (``threshold_source``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from forgebench.config import Config
from forgebench.configure import load_config
from forgebench.detect import read_thresholds, resolve_detector_dir, run_of_detector
from forgebench.detectors import (
    ExternalDetector,
    TrainSettings,
    amp_dtype,
    create_detector,
    get_detector_cfg,
    is_spec,
    load_detector,
    resolve_defaults,
    save_detector_checkpoint,
    use_external,
)
from forgebench.detectors.deepfakebench import RELEASE, RELEASE_URL, PublishedCfg, get_published, list_published
from forgebench.errors import DataError
from forgebench.fileio import load_checkpoint, sha256_file, write_json, write_parquet
from forgebench.protocol import (
    SealedLabels,
    add_clusters,
    check_disjoint_splits,
    check_frames,
    final_evaluation,
    fpr_thresholds_of,
    select_frames,
    test_evaluation,
)
from forgebench.provenance import update_provenance
from forgebench.results import detector_result, in_domain_set
from forgebench.rundir import RunDir
from forgebench.runtime import select_device
from forgebench.schemas import PRETRAINED_SET, cross_dataset_set
from forgebench.stages.train import TrainJob, check_declared_size, detection_frames, detector_settings, run_robustness
from forgebench.weights import origin_of_document, weights_origin

__all__ = [
    "evaluate_detector",
    "evaluate_cross_dataset",
    "cross_dataset_frames",
    "published_facts",
    "list_published_text",
]
#: Decision threshold (probability) of a published detector on a run without validation
#: split: DeepfakeBench's own rule (argmax of the two class probabilities).
OWN_RULE_THRESHOLD = 0.5


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


def published_facts(published: PublishedCfg, checkpoint: Path, digest: str) -> dict[str, Any]:
    """What ``metrics.json`` records of a detector trained elsewhere: ``trained_elsewhere``
    (``"DeepfakeBench v1.0.1 (FF++ c23)"``), ``weights_origin`` (``deepfakebench:<sha256>``
    of the checkpoint file), its published facts (paper, weights file, where it is
    published) and the checkpoint file with its SHA-256."""
    return {
        "trained_elsewhere": published.source,
        "weights_origin": weights_origin("deepfakebench", digest),
        "published": {**published.to_dict(), "checkpoint": str(checkpoint), "checkpoint_sha256": digest},
    }


def list_published_text() -> str:
    """``forgebench evaluate --list-published``: one block per DeepfakeBench detector (name,
    expected file, where it is published, paper, input)."""
    lines = [
        f"DeepfakeBench's detectors (checkpoints of {RELEASE}: {RELEASE_URL}); use as",
        "  forgebench evaluate RUN_DIR --detector dfb_<name> --checkpoint <name>_best.pth",
        "",
    ]
    for cfg in list_published():
        where = (
            f"{cfg.weights_file} ({cfg.source})"
            if cfg.released
            else f"{cfg.weights_file}: not in {RELEASE}; train it with DeepfakeBench"
        )
        lines += [
            f"{cfg.registry_name:20s} {where}",
            f"{'':20s} {cfg.paper}",
            f"{'':20s} {cfg.input_size} px RGB, mean {list(cfg.mean)} std {list(cfg.std)}; {cfg.detector_class}",
        ]
    return "\n".join(lines)


def _build(
    name: str, spec: str, settings: TrainSettings, checkpoint: Path
) -> tuple[torch.nn.Module, PublishedCfg | None]:
    """The detector with the user's weights; a DeepfakeBench detector reads its checkpoint
    through its own strict loader (clear messages naming the first mismatching keys)."""
    published = None if spec else get_published(name)
    if published is not None:
        return create_detector(
            name, pretrained=False, checkpoint_path=str(checkpoint), **settings.model_kwargs
        ), published
    model = create_detector(name, pretrained=False, **settings.model_kwargs)
    _load_weights(model, checkpoint, name)
    return model, None


def evaluate_detector(
    run: RunDir, config: Config, detector: str, checkpoint: Path, name: str | None = None, progress: bool = True
) -> dict[str, Any]:
    """Score a trained detector on the run's protocol (module docstring).

    Args:
        run, config: the run directory and its config (protocol, device, seed).
        detector: ``package.module:factory`` or a registered detector name
            (``dfb_<name>``: DeepfakeBench's checkpoint file as published).
        checkpoint: the detector's weights (a state dict, optionally under ``state_dict``
            or ``model``, keys optionally prefixed ``module.``).
        name: the detector's name in the run (default: the factory's name).
        progress: tqdm bars.

    Returns:
        the ``metrics.json`` document of ``detectors/<name>/pretrained/``.

    Raises:
        DataError: bad spec or declaration, unreadable or mismatched weights (nothing is
            written then), a run without faces of fakes, or an empty validation (for a
            detector not from DeepfakeBench) or test split.
    """
    start = time.time()
    spec = detector if is_spec(detector) else ""
    name = use_external(spec, name) if spec else detector
    where = f"forgebench evaluate {name}"
    settings: TrainSettings = detector_settings(config, name)
    if spec:
        check_declared_size(settings, name, where)
    settings = resolve_defaults(settings.model_copy(update={"pretrained": False}), name)
    checkpoint = Path(checkpoint)
    model, published = _build(name, spec, settings, checkpoint)
    digest = model.pretrained_sha256 if published is not None else sha256_file(checkpoint)  # the loader hashed it
    if published is not None and not (run.faces.read_manifest()["split"] == "val").any():
        return _evaluate_without_val(run, config, model, published, settings, checkpoint, digest, start, progress)
    files = run.detectors.files(name, PRETRAINED_SET)
    frames = detection_frames(run)
    check_frames(frames, where)
    check_disjoint_splits(frames, where)
    protocol = config.protocol_settings()
    _, val_df, test_df, methods = select_frames(frames, None, True, where)
    if val_df.empty or test_df.empty:
        raise DataError(f"{where}: the run needs validation and test frames (splits val and test)")
    sealed = SealedLabels(test_df["label"].to_numpy(), where)
    test_df = test_df.drop(columns=["label"])
    elsewhere = (
        published_facts(published, checkpoint, digest)
        if published is not None
        else {"weights_origin": weights_origin("checkpoint", digest)}
    )  # the user's own weights file
    meta = {
        "detector": name,
        "factory": spec,
        "image_size": int(settings.image_size),
        "train_set": PRETRAINED_SET,
        "train_methods": [],
        "epoch": 0,
        "val_auc": float("nan"),
        "val_loss": float("nan"),
        "seed": int(config.seed),
        "settings": settings.model_dump(mode="json"),
        "model_kwargs": dict(settings.model_kwargs),
        "pretrained": True,
        "source_checkpoint": str(checkpoint),
        "source_sha256": digest,
        "video_aggregation": protocol.video_aggregation,
        **elsewhere,
    }
    save_detector_checkpoint(files.best, model.state_dict(), meta)
    device = select_device(config.device)
    amp = amp_dtype(device, settings.amp)
    ev = final_evaluation(
        files.best,
        val_df,
        test_df,
        sealed,
        settings=settings,
        protocol=protocol,
        device=device,
        amp=amp,
        progress=progress,
        desc=f"{name}/{PRETRAINED_SET}",
    )
    doc = detector_result(
        detector=name,
        train_set=PRETRAINED_SET,
        kind="evaluated",
        test_set=ev.in_domain,
        test_sets=ev.test_sets,
        thresholds=ev.thresholds,
        video_aggregation=protocol.video_aggregation,
        val=ev.val,
        factory=spec,
        image_size=int(settings.image_size),
        input=get_detector_cfg(name).to_dict(),
        checkpoint=files.best.name,
        checkpoint_sha256=digest,
        source_checkpoint=str(checkpoint),
        device=str(device),
        seed=int(config.seed),
        **elsewhere,
    )
    write_parquet(files.predictions, ev.predictions)
    write_json(files.metrics, doc)
    if protocol.robustness.enabled and not files.robustness_metrics.is_file():
        job = TrainJob(name, settings, protocol, PRETRAINED_SET, methods, files, config.seed, spec)
        run_robustness(run, [job], frames, device, progress)
    update_provenance(run, config, "evaluate", time.time() - start, {"detector": name, "checkpoint_sha256": digest})
    return doc


def _evaluate_without_val(
    run: RunDir,
    config: Config,
    model: torch.nn.Module,
    published: PublishedCfg,
    settings: TrainSettings,
    checkpoint: Path,
    digest: str,
    start: float,
    progress: bool,
) -> dict[str, Any]:
    """A published detector on a run without validation split (a dataset imported as a test
    set): its test split, or every frame when it has no train split either, at
    DeepfakeBench's own decision rule (p = 0.5); labels sealed until every frame is scored."""
    name = published.registry_name
    frames, part = cross_dataset_frames(run)
    where = f"forgebench evaluate {run.root} --detector {name}"
    check_frames(frames, where)
    protocol = config.protocol_settings()
    sealed = SealedLabels(frames["label"].to_numpy(), where)
    device = select_device(config.device)
    how = protocol.video_aggregation
    preds, per_set = test_evaluation(
        model.to(device).eval(),
        frames.drop(columns=["label"]),
        sealed,
        image_size=int(settings.image_size),
        threshold=OWN_RULE_THRESHOLD,
        video_threshold=OWN_RULE_THRESHOLD,
        how=how,
        settings=settings,
        protocol=protocol,
        device=device,
        detector=name,
        train_set=PRETRAINED_SET,
        amp=amp_dtype(device, settings.amp),
        progress=progress,
        desc=f"{name}/{PRETRAINED_SET}",
    )
    main_set = in_domain_set(per_set)
    files = run.detectors.files(name, PRETRAINED_SET)
    own_rule = "DeepfakeBench's own decision rule (p = 0.5): the run has no validation split"
    doc = detector_result(
        detector=name,
        train_set=PRETRAINED_SET,
        kind="evaluated",
        test_set=main_set,
        test_sets=per_set,
        split=part,
        thresholds={
            "threshold": OWN_RULE_THRESHOLD,
            "threshold_source": own_rule,
            "video_threshold": OWN_RULE_THRESHOLD,
            "video_threshold_source": own_rule,
        },
        video_aggregation=how,
        factory="",
        image_size=int(settings.image_size),
        input=get_detector_cfg(name).to_dict(),
        checkpoint=str(checkpoint),
        checkpoint_sha256=digest,
        source_checkpoint=str(checkpoint),
        device=str(device),
        seed=int(config.seed),
        **published_facts(published, checkpoint, digest),
    )
    write_parquet(files.predictions, preds)
    write_json(files.metrics, doc)
    update_provenance(run, config, "evaluate", time.time() - start, {"detector": name, "checkpoint_sha256": digest})
    return doc


def cross_dataset_frames(run: RunDir) -> tuple[pd.DataFrame, str]:
    """The frames a detector from another run is scored on: the test split, or every frame when
    the run has no train split (a dataset used whole as a test set).

    Returns:
        ``(face rows with crop_path resolved to the files, which part: "test" or "all")``.

    Raises:
        DataError: no faces, no real or no fake frames among them (the message says which).
    """
    faces = run.faces.read_manifest()
    if faces.empty:
        raise DataError(
            f"{run.faces.manifest_file}: no face rows; run 'forgebench extract {run.root}' (or import a dataset) first"
        )
    part = "test" if (faces["split"] == "train").any() else "all"
    rows = faces[faces["split"] == "test"] if part == "test" else faces
    for label, what in ((0, "real"), (1, "fake")):
        if not (rows["label"] == label).any():
            raise DataError(
                f"{run.faces.manifest_file}: the {part} frames hold no {what} face: the cross-dataset protocol needs both "
                "classes (import the dataset's real class, e.g. with --real-root)"
            )
    rows = add_clusters(rows.reset_index(drop=True))  # the bootstrap resamples connected groups of people
    return rows.assign(crop_path=[str(run.resolve(p)) for p in rows["crop_path"]]), part


def evaluate_cross_dataset(
    run: RunDir, config: Config, detector_dir: str | Path, train_set: str | None = None, progress: bool = True
) -> dict[str, Any]:
    """The cross-dataset protocol: a detector trained in run A scored on run B's test split
    (or on all of B when B has no train split), with A's validation-chosen checkpoint and
    thresholds (DeepfakeBench's cross-dataset table, with thresholds that never saw B).

    The labels of B's test frames are sealed until every frame is scored
    (:func:`forgebench.protocol.test_evaluation`); video scores aggregate as A's
    ``metrics.json`` says; intervals and ``min_identities`` are B's protocol. Writes B's
    ``detectors/<NAME>/<TRAIN_SET>@<run A's folder name>/predictions.parquet`` and
    ``metrics.json`` (with ``cross_dataset``: A's run, dataset, compression, crop size and
    margin, train set, checkpoint and its SHA-256; B's dataset, crop size and margin, and
    whether the test split or the whole dataset was scored). The checkpoint stays in A.

    Args:
        run, config: run B and its config.
        detector_dir: ``RUN_A/detectors/NAME`` or ``RUN_A/detectors/NAME/TRAIN_SET``
            (:func:`forgebench.detect.resolve_detector_dir`: ``all`` when trained, else the only one).
        train_set: the train set in A (default as above).
        progress: tqdm bars.

    Returns:
        the ``metrics.json`` document.

    Raises:
        DataError: no trained checkpoint or thresholds in A, A is B itself, B without both
            classes, an unreadable checkpoint or crop.
    """
    start = time.time()
    folder, detector, chosen = resolve_detector_dir(detector_dir, train_set)
    source = run_of_detector(folder)
    if source.root.resolve() == run.root.resolve():
        raise DataError(
            f"{folder}: was trained in {run.root} itself; its test results are in its own metrics.json "
            "(the cross-dataset protocol scores a detector of another run)"
        )
    source_config = load_config(source.config_file)
    thresholds = read_thresholds(folder)
    files_a = source.detectors.files(detector, chosen)
    name = cross_dataset_set(chosen, source.root.name)
    files = run.detectors.files(detector, name)
    frames, part = cross_dataset_frames(run)
    where = f"forgebench evaluate {run.root} --detector {folder}"
    check_frames(frames, where)
    protocol = config.protocol_settings()
    sealed = SealedLabels(frames["label"].to_numpy(), where)
    test_df = frames.drop(columns=["label"])
    device = select_device(config.device)
    model, meta = load_detector(files_a.best, device)
    stored = {
        **meta.get("settings", {}),
        "pretrained": False,
    }  # scoring builds no initial weights ('auto' of older checkpoints)
    settings = resolve_defaults(TrainSettings.model_validate(stored), detector)
    how = str(thresholds["video_aggregation"])
    preds, per_set = test_evaluation(
        model,
        test_df,
        sealed,
        image_size=int(meta["image_size"]),
        threshold=thresholds["threshold"],
        video_threshold=thresholds["video_threshold"],
        how=how,
        settings=settings,
        protocol=protocol,
        device=device,
        detector=detector,
        train_set=name,
        amp=amp_dtype(device, settings.amp),
        progress=progress,
        desc=f"{detector}/{name}",
        fpr_thresholds=fpr_thresholds_of(thresholds),
    )
    main_set = in_domain_set(per_set)
    digest = sha256_file(files_a.best)
    faces_a = source.faces.read_manifest()
    doc = detector_result(
        detector=detector,
        train_set=name,
        kind="cross_dataset",
        test_set=main_set,
        test_sets=per_set,
        split=part,
        thresholds={
            "threshold": thresholds["threshold"],
            "video_threshold": thresholds["video_threshold"],
            "threshold_source": "validation split of the training run",
        },
        video_aggregation=how,
        image_size=int(meta["image_size"]),
        checkpoint=str(files_a.best),
        checkpoint_sha256=digest,
        device=str(device),
        seed=int(config.seed),
        weights_origin=origin_of_document(meta),  # where the training run's detector started from
        cross_dataset={
            "train_run": str(source.root),
            "train_run_name": str(source_config.name),
            "train_run_folder": source.root.name,
            "train_dataset": "/".join(sorted(set(faces_a["dataset"].astype(str)))),
            "train_compression": "/".join(sorted(set(faces_a["compression"].astype(str)))),
            "train_set": chosen,
            "train_crop_size": int(source_config.faces.crop_size),
            "train_margin": float(source_config.faces.margin),
            "test_dataset": "/".join(sorted(set(frames["dataset"].astype(str)))),
            "test_compression": "/".join(sorted(set(frames["compression"].astype(str)))),
            "test_crop_size": int(config.faces.crop_size),
            "test_margin": float(config.faces.margin),
            "test_part": part,
            "checkpoint": str(files_a.best),
            "checkpoint_sha256": digest,
        },
    )
    write_parquet(files.predictions, preds)
    write_json(files.metrics, doc)
    update_provenance(
        run, config, "evaluate", time.time() - start, {"detector": f"{detector}/{name}", "checkpoint_sha256": digest}
    )
    return doc
