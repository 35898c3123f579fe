"""The train stage: train every configured detector on each generator's fakes (and on all of
them), test it once on every generator's test fakes, and attack the robustness model with
test-time perturbations.

Units of work:

- :func:`train_unit`: one detector x train set (``detectors/<detector>/<train_set>/``):
  train on the train split, choose checkpoint and thresholds on validation, read the
  sealed test split once, write ``predictions.parquet`` and ``metrics.json`` (metrics and
  intervals computed once, :mod:`forgebench.protocol`);
- :func:`perturbed_video_unit`: one test video under one video-level perturbation
  (``robustness/<name>_<param><strength>/<method>/<video>.mp4``, shared by every detector);
- :func:`robustness_unit`: one detector's test crops under one perturbation strength,
  scored (``robustness/<name>_<strength>.parquet`` in its folder).

Under ``torchrun`` every process trains; rank 0 evaluates and writes. A unit whose outputs
exist is skipped, so the stage resumes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from forgebench.config import Config
from forgebench.detectors import (
    TrainFiles,
    TrainSettings,
    barrier,
    check_pretrained_weights,
    get_detector_cfg,
    init_distributed,
    is_main,
    load_detector,
    predict_crops,
    resolve_defaults,
    subsample_frames,
    train_detector,
    use_external,
)
from forgebench.errors import DataError
from forgebench.execution import Backend, Unit, backend_for, run_units, stage_progress
from forgebench.faces import crops_at
from forgebench.fileio import read_json, read_parquet, sha256_file, write_json, write_parquet
from forgebench.media import read_image
from forgebench.perturbations import get_perturbation, perturb_crop, perturb_video
from forgebench.protocol import (
    ProtocolSettings,
    SealedLabels,
    add_clusters,
    check_disjoint_splits,
    check_frames,
    final_evaluation,
    metrics_document,
    robustness_metrics,
    select_frames,
)
from forgebench.provenance import update_provenance
from forgebench.rundir import DetectorFiles, RunDir
from forgebench.runtime import select_device
from forgebench.schemas import ROBUSTNESS
from forgebench.seeds import seed_summary
from forgebench.stages.common import log

__all__ = [
    "TrainJob",
    "train_unit",
    "perturbed_video_unit",
    "perturbed_crops",
    "robustness_unit",
    "detector_settings",
    "detection_frames",
    "run_robustness",
    "check_declared_size",
    "train",
]


@dataclass(frozen=True)
class TrainJob:
    """One detector x train set.

    Attributes:
        detector: registered detector name.
        settings: its validated settings.
        protocol: the protocol settings.
        train_set: a generator, or ``all``.
        train_methods: the fake methods trained and validated on (``None`` = every fake
            method of the frames).
        files: its folder's files (:class:`forgebench.rundir.DetectorFiles`).
        seed: the training seed (one of ``protocol.seeds``, else the run seed); the first
            seed's job writes ``files`` = the train set's folder, the others its
            ``seeds/<seed>/`` sub-folder.
        factory: ``package.module:factory`` of an external detector
            (:func:`forgebench.detectors.use_external`), registered in the unit's process and
            recorded in the checkpoints; ``""`` for the zoo and entry points.
    """

    detector: str
    settings: TrainSettings
    protocol: ProtocolSettings
    train_set: str
    train_methods: list[str] | None
    files: DetectorFiles
    seed: int
    factory: str = ""


def train_unit(
    job: TrainJob, frames: pd.DataFrame, device: torch.device | str, progress: bool = True
) -> dict[str, Any]:
    """Train, choose on validation, test once: one detector x train set.

    Args:
        job: the :class:`TrainJob`.
        frames: face rows of the real videos and the fakes, all splits (the combined face
            manifest with ``crop_path`` resolved to the PNG files).
        device: torch device (under ``torchrun``: this process's).
        progress: tqdm bars.

    Returns:
        the ``metrics.json`` document (``{}`` on ranks other than 0).

    Raises:
        DataError: missing columns or bad labels, a person or video in two splits, no
            train frames of one class, an empty validation or test split, an image size
            below the detector's minimum, unreadable crops or stored files.
        forgebench.weights.WeightsUnavailable: ``pretrained: true`` and the detector's
            pretrained weights are missing (raised before training).
    """
    files = job.files
    if files.trained:
        return read_json(files.metrics, "detector metrics") if is_main() else {}
    device = torch.device(device)
    name, where = job.detector, f"{files.folder} ({job.detector} on {job.train_set})"
    if job.factory:
        use_external(job.factory, name)
        check_declared_size(job.settings, name, where)
    settings = resolve_defaults(job.settings, name)
    check_frames(frames, where)
    check_disjoint_splits(frames, where)
    cfg = get_detector_cfg(name)
    if int(settings.image_size) < cfg.min_input_size:
        raise DataError(
            f"{where}: image_size {settings.image_size} is below {name}'s minimum of {cfg.min_input_size} px"
        )
    train_df, val_df, test_df, methods = select_frames(frames, job.train_methods, job.protocol.cross_generator, where)
    train_df = subsample_frames(train_df, settings.max_train_frames, job.seed)
    n_fake = int((train_df["label"] == 1).sum())
    if n_fake == 0 or n_fake == len(train_df):
        raise DataError(
            f"{where}: the train split needs real and fake frames, got {len(train_df) - n_fake} real and {n_fake} fake"
        )
    if val_df.empty:
        raise DataError(f"{where}: no validation frames (split == 'val'); checkpoints are chosen on validation")
    if test_df.empty:
        raise DataError(f"{where}: no test frames (split == 'test')")
    # The test labels are sealed now, before anything is trained or chosen.
    sealed = SealedLabels(test_df["label"].to_numpy(), where)
    test_df = test_df.drop(columns=["label"])
    desc = f"{name}/{job.train_set}"
    result = train_detector(
        name,
        settings,
        train_df,
        val_df,
        TrainFiles(files.best, files.last, files.history),
        device,
        job.seed,
        progress=progress,
        desc=desc,
        extra_meta={
            "train_set": job.train_set,
            "train_methods": methods,
            "video_aggregation": job.protocol.video_aggregation,
            "factory": job.factory,
        },
    )
    if not is_main():
        barrier()
        return {}
    ev = final_evaluation(
        files.best,
        val_df,
        test_df,
        sealed,
        settings=settings,
        protocol=job.protocol,
        device=device,
        amp=result.amp,
        progress=progress,
        desc=desc,
    )
    doc = metrics_document(
        ev,
        result.meta,
        settings,
        n_val_frames=len(val_df),
        n_val_videos=val_df["video_id"].nunique(),
        epochs_run=len(result.history),
        stopped_early=result.stopped_early,
        device=device,
        checkpoint_sha256=sha256_file(files.best),
        how=job.protocol.video_aggregation,
    )
    doc["weights_origin"] = result.meta[
        "weights_origin"
    ]  # imagenet:<sha256> or none: a column of every detection table
    write_parquet(files.predictions, ev.predictions)
    write_json(files.metrics, doc)
    files.last.unlink(missing_ok=True)
    barrier()
    return read_json(files.metrics, "detector metrics")


def _summarise_seeds(jobs: list[TrainJob], seeds: list[int]) -> None:
    """Write the seed summary (:func:`forgebench.seeds.seed_summary`) into the first seed's
    ``metrics.json`` of every detector x train set whose seeds all finished."""
    by_folder: dict[Path, list[TrainJob]] = {}
    for j in jobs:
        by_folder.setdefault(j.files.folder if j.seed == seeds[0] else j.files.folder.parent.parent, []).append(j)
    for group in by_folder.values():
        group = sorted(group, key=lambda j: seeds.index(j.seed))
        if len(group) != len(seeds) or not all(j.files.trained for j in group):
            continue  # a seed failed: the others' results stand alone
        docs = [read_json(j.files.metrics, "detector metrics") for j in group]
        summary = seed_summary(
            seeds,
            docs,
            [read_parquet(j.files.predictions) for j in group],
            group[0].protocol.n_boot,
            group[0].protocol.video_aggregation,
        )
        write_json(group[0].files.metrics, {**docs[0], "seeds": summary})


def check_declared_size(settings: TrainSettings, name: str, where: str) -> None:
    """An external detector is fed crops of the input size it declares: a configured
    ``image_size`` that differs is a mismatch.

    Raises:
        DataError: ``settings.image_size`` differs from the declared input size.
    """
    declared = get_detector_cfg(name).input_size
    if settings.image_size is not None and int(settings.image_size) != declared:
        raise DataError(
            f"{where}: image_size {settings.image_size} differs from the input size {declared} px that {name} "
            "declares (default_cfg input_size); leave image_size unset or change the declaration"
        )


def perturbed_video_unit(src: Path, dst: Path, stamp_file: Path, name: str, strength: float) -> Path:
    """A test video ``dst`` under video-level perturbation ``name`` at ``strength``
    (:func:`forgebench.perturbations.perturb_video`), made unless a complete copy of the
    same source (path and size, recorded in ``stamp_file``) is already there.

    Raises:
        MediaError: ``src`` cannot be decoded.
    """
    p = get_perturbation(name)
    stamp = {"source": str(src), "source_bytes": Path(src).stat().st_size, "perturbation": name, p.param: strength}
    if Path(dst).is_file() and Path(stamp_file).is_file() and read_json(stamp_file) == stamp:
        return Path(dst)
    perturb_video(src, dst, name, strength)
    write_json(stamp_file, stamp)
    return Path(dst)


def perturbed_crops(
    frames: pd.DataFrame, name: str, strength: float | None, videos: dict[str, Path], seed: int
) -> list[np.ndarray]:
    """The face crops of ``frames`` under one perturbation strength, in row order.

    Args:
        frames: face rows (``crop_path`` = PNG file, ``crop_key`` = its run-relative path;
            video level: ``video_id``, ``frame_index``, ``matrix``, ``crop_size``).
        name, strength: the perturbation (``none`` / ``None``: the clean crops as stored).
        videos: video level: ``{video_id: perturbed video}`` (:func:`perturbed_video_unit`),
            re-cropped at the stored alignment.
        seed: seed of random perturbations; each crop's noise is keyed by its
            ``crop_key``, so it does not depend on the order or the batch.

    Returns:
        one ``(S, S, 3)`` uint8 RGB crop per row, ``S`` its stored crop size.

    Raises:
        MediaError: a crop or video cannot be read. DataError: a frame is past the end
        of a video. KeyError: a video-level perturbation without its video.
    """
    if strength is None:
        return [read_image(p) for p in frames["crop_path"]]
    if get_perturbation(name).level == "crop":
        return [
            perturb_crop(read_image(p), name, strength, seed=seed, key=k)
            for p, k in zip(frames["crop_path"], frames["crop_key"])
        ]
    crops: list[np.ndarray | None] = [None] * len(frames)
    table = frames.reset_index(drop=True)
    for video_id, rows in table.groupby("video_id", sort=False):
        found = crops_at(
            videos[video_id], rows["frame_index"].tolist(), rows["matrix"].tolist(), int(rows["crop_size"].iloc[0])
        )
        for pos, crop in zip(rows.index, found):
            crops[int(pos)] = crop
    return crops  # type: ignore[return-value]


def robustness_unit(
    checkpoint: Path,
    frames: pd.DataFrame,
    *,
    name: str,
    strength: float | None,
    videos: dict[str, Path],
    device: str,
    seed: int,
    batch_size: int,
    out: Path,
) -> Path:
    """Score one detector's test crops under one perturbation strength.

    Args:
        checkpoint: the detector (``best.pt``).
        frames: test face rows (``video_id``, ``frame_index``, ``label``, ``method``,
            ``crop_path`` = PNG file, ``crop_key`` = its run-relative path, the noise key,
            ``matrix``, ``crop_size``).
        name, strength: the perturbation (``none`` / ``None``: the clean crops).
        videos: video level: ``{video_id: perturbed video}`` to re-crop at the stored
            alignment.
        device: torch device name; seed: seed of random perturbations (noise), per crop.
        batch_size: crops per forward pass.
        out: the part file (:data:`forgebench.schemas.ROBUSTNESS` rows).

    Returns:
        ``out``. Each crop is perturbed at the stored crop size and then resized to the
        detector input as in training.

    Raises:
        DataError: a checkpoint or crop cannot be read, or a frame is past the end of a video.
    """
    model, meta = load_detector(checkpoint, device)
    crops = perturbed_crops(frames, name, strength, videos, seed)
    part = frames[["video_id", "frame_index", "label", "method", "identity"]].copy()
    part["cluster"] = frames["cluster"] if "cluster" in frames.columns else frames["identity"]
    part["label"] = part["label"].astype(np.int64)
    part["frame_index"] = part["frame_index"].astype(np.int64)
    part["detector"], part["train_set"] = str(meta["detector"]), str(meta["train_set"])
    part["perturbation"], part["strength"] = name, np.nan if strength is None else strength
    part["score"] = predict_crops(model, crops, int(meta["image_size"]), device, batch_size=batch_size)
    write_parquet(out, ROBUSTNESS.check(part[list(ROBUSTNESS.columns)], out))
    return out


def detector_settings(config: Config, detector: str) -> TrainSettings:
    """The config's ``detectors.<detector>`` settings, or the defaults for a detector the
    config does not list (an external one named on the command line)."""
    return config.detector_settings(detector) if detector in config.detectors else TrainSettings()


def detection_frames(run: RunDir) -> pd.DataFrame:
    """The combined face manifest, checked to hold fakes of every generator in every split,
    with ``crop_key`` (the stored relative path), ``crop_path`` resolved to the files and
    ``cluster`` (:func:`forgebench.protocol.add_clusters`).

    Raises:
        DataError: no face rows, no fakes, no real video, fakes not extracted, or a
            generator without faces in one split (the message says what to run).
    """
    faces = run.faces.read_manifest()
    if faces.empty or faces["split"].isna().all():
        raise DataError(f"{run.faces.manifest_file}: no face rows; run 'forgebench extract {run.root}' first")
    generators = sorted(set(faces["method"]) - {"real"})
    if not generators:
        raise DataError(
            f"{run.faces.manifest_file}: no faces of fakes; run 'forgebench generate {run.root}' (and 'forgebench extract') first"
        )
    if not (faces["label"] == 0).any():
        raise DataError(
            f"{run.faces.manifest_file}: the run holds fakes only (no real video): detectors need both classes; import the "
            "dataset's real class too (forgebench import ... --real-root DIR)"
        )
    missing = _unextracted(run, faces)
    if missing:
        raise DataError(
            f"{run.faces.manifest_file}: the faces of {len(missing)} fake video(s) (e.g. {missing[:3]}) are not extracted; "
            f"run 'forgebench extract {run.root}'"
        )
    for gen in generators:
        per_split = faces[faces["method"] == gen].groupby("split")["video_id"].nunique()
        empty = [s for s in ("train", "val", "test") if per_split.get(s, 0) == 0]
        if empty:
            raise DataError(
                f"{run.faces.report_file}: no face was found in the {gen} fakes of split(s) {empty}, so detectors cannot be trained "
                f"and tested on them; the generator may be undertrained (see that report and fakes/{gen}/)"
            )
    faces = add_clusters(faces)  # the bootstrap resamples connected groups of people
    return faces.assign(crop_key=faces["crop_path"], crop_path=[str(run.resolve(p)) for p in faces["crop_path"]])


def _unextracted(run: RunDir, faces: pd.DataFrame) -> list[str]:
    """Video ids of fakes in the fakes manifests with neither face rows nor a report entry."""
    if not run.fakes.methods():
        return []
    done = set(faces["video_id"]) | set(run.faces.read_report())
    return sorted(set(run.fakes.read()["video_id"]) - done)


def run_robustness(
    run: RunDir,
    jobs: list[TrainJob],
    frames: pd.DataFrame,
    device: torch.device,
    progress: bool,
    backend: Backend | None = None,
) -> None:
    """Score the robustness models ``jobs`` (one per detector) under every configured
    perturbation strength and store each one's ``robustness.parquet`` and
    ``robustness_metrics.parquet`` (written last). The perturbed test videos are made once
    for all detectors, and the scoring units of every detector run in one call, so the
    workers stay busy across detectors."""
    videos_of: dict[Path, Unit] = {}
    score_units = []
    for job in jobs:
        v, s = _robustness_units(run, job, frames, device)
        for unit in v:
            videos_of.setdefault(unit.args[1], unit)  # the same test video under the same strength: one file
        score_units += s
    run_units(list(videos_of.values()), "perturbed videos", progress, backend=backend)
    run_units(score_units, "robustness", progress, backend=backend)
    for job in jobs:
        files = job.files
        parts = [files.robustness_part(n, s) for n, s in job.protocol.robustness.jobs()]
        table = pd.concat(
            [read_parquet(p) for p in parts if p.is_file()], ignore_index=True
        )  # skipped video-level parts absent
        for col in ("identity", "cluster"):  # parts scored by an older forgebench: from the manifest
            if col not in table.columns:
                table.insert(4, col, table["video_id"].map(dict(zip(frames["video_id"], frames[col]))))
        write_parquet(files.robustness, table)
        write_parquet(
            files.robustness_metrics, robustness_metrics(table, job.protocol.video_aggregation, job.protocol.n_boot)
        )


def _robustness_units(
    run: RunDir, job: TrainJob, frames: pd.DataFrame, device: torch.device
) -> tuple[list[Unit], list[Unit]]:
    """The units of one robustness model: the perturbed test videos it needs, and one
    scoring unit per perturbation strength whose part file is missing."""
    settings, files = job.protocol.robustness, job.files
    test = frames[frames["split"] == "test"]
    if not job.protocol.cross_generator and job.train_methods is not None:
        test = test[test["method"].isin(["real", *job.train_methods])]
    test = test.reset_index(drop=True)
    if settings.max_frames_per_video:
        test = test.groupby("video_id", sort=False).head(settings.max_frames_per_video).reset_index(drop=True)
    todo = [(n, s) for n, s in settings.jobs() if not files.robustness_part(n, s).is_file()]
    sources = (
        {v: run.faces.source_video(v) for v in test["video_id"].unique()}
        if any(s is not None and get_perturbation(n).level == "video" for n, s in todo)
        else {}
    )
    if any(not p.is_file() for p in sources.values()):
        log(
            f"{job.detector}/{job.train_set}: video-level perturbations skipped: the test split holds frame folders or "
            "crops (a dataset shipped as images), not videos to re-encode"
        )
        todo = [(n, s) for n, s in todo if s is None or get_perturbation(n).level != "video"]
    video_units, videos = [], {}
    for name, strength in todo:
        if strength is None or get_perturbation(name).level != "video":
            continue
        param = get_perturbation(name).param
        for video_id, rows in test.groupby("video_id", sort=False):
            where = (name, param, strength, str(rows["method"].iloc[0]), str(rows["video_name"].iloc[0]))
            dst = run.detectors.perturbed_video(*where)
            videos.setdefault((name, strength), {})[video_id] = dst
            video_units.append(
                Unit(
                    f"{name} {strength:g} {video_id}",
                    perturbed_video_unit,
                    (sources[video_id], dst, run.detectors.perturbed_video_stamp(*where), name, strength),
                )
            )
    score_units = []
    for name, strength in todo:
        part = files.robustness_part(name, strength)
        of = videos.get((name, strength), {})
        score_units.append(
            Unit(
                f"{job.detector}/{job.train_set} {name} {'clean' if strength is None else f'{strength:g}'}",
                robustness_unit,
                (files.best, test),
                dict(
                    name=name,
                    strength=strength,
                    videos=of,
                    device=str(device),
                    seed=job.seed,
                    batch_size=job.settings.batch_size,
                    out=part,
                ),
            )
        )
    return video_units, score_units


def train(run: RunDir, config: Config, progress: bool = True, detectors: dict[str, str] | None = None) -> None:
    """The train stage (module docstring).

    Args:
        run, config, progress: the run, its config, tqdm bars.
        detectors: train these instead of the config's ``detectors``: ``{name: factory
            spec}`` (``""`` for a registered name; a spec is an external detector,
            ``forgebench train RUN_DIR --detector package.module:factory``), each with the
            config's ``detectors.<name>`` settings when it has them, else the defaults.

    Raises:
        DataError: no face manifest or no fakes, faces of fakes not extracted, a generator
            whose fakes of some split hold no face, or a unit's bad input (see
            :func:`train_unit`).
        forgebench.weights.WeightsUnavailable: a detector to train has ``pretrained: true``
            and its pretrained weights are not in the local caches (checked before any
            unit runs; set ``pretrained: false`` to train it from scratch).
    """
    start = time.time()
    frames = detection_frames(run)
    generators = sorted(set(frames["method"]) - {"real"})
    protocol: ProtocolSettings = config.protocol_settings()
    dist, device = init_distributed(select_device(config.device))
    train_sets = {gen: [gen] for gen in generators}
    if protocol.train_on_all and len(generators) > 1:
        train_sets["all"] = generators
    robust = protocol.robustness
    robust_set = (
        robust.train_set if robust.train_set in train_sets else ("all" if "all" in train_sets else generators[0])
    )
    chosen = detectors if detectors is not None else {det: "" for det in config.detectors}
    seeds = protocol.training_seeds(config.seed)
    jobs = []
    for det, spec in chosen.items():
        settings = detector_settings(config, det)
        spec = spec or settings.factory
        for train_set, methods in train_sets.items():
            primary = run.detectors.files(det, train_set)
            jobs += [
                TrainJob(
                    det,
                    settings,
                    protocol,
                    train_set,
                    methods,
                    primary if k == 0 else primary.seed_files(seed),
                    seed,
                    spec,
                )
                for k, seed in enumerate(seeds)
            ]
    for det in dict.fromkeys(j.detector for j in jobs if not j.files.trained and not j.factory):
        # missing pretrained weights stop the stage here, before any detector is trained
        check_pretrained_weights(det, detector_settings(config, det).pretrained)
    if is_main():
        log(
            f"detectors {list(chosen)} x train sets {list(train_sets)}: train/val on real + the train set, test on "
            f"{'every generator' if protocol.cross_generator else 'the train set'}"
        )
    with stage_progress("train", progress and is_main()):
        backend = backend_for(config.execution)
        inner = progress and backend.serial and is_main()
        # cost: the generators' fakes a detector trains on (the "all" train sets go first)
        seed_text = lambda j: f" seed {j.seed}" if len(seeds) > 1 else ""  # noqa: E731
        units = [
            Unit(
                f"detector {j.detector}/{j.train_set}{seed_text(j)}",
                train_unit,
                (j, frames, device, inner),
                cost=len(j.train_methods or generators),
            )
            for j in jobs
            if not j.files.trained
        ]
        run_units(units, "detectors", progress and is_main(), announce=is_main(), backend=backend)
        if is_main() and len(seeds) > 1:
            _summarise_seeds(jobs, seeds)
        robust_jobs = [
            j
            for j in jobs
            if j.train_set == robust_set and j.seed == seeds[0] and not j.files.robustness_metrics.is_file()
        ]
        if is_main() and robust.enabled and robust_jobs:
            log(
                f"detectors {[f'{j.detector}/{j.train_set}' for j in robust_jobs]}: robustness to test-time perturbations"
            )
            run_robustness(run, robust_jobs, frames, device, progress, backend)
        barrier()
        if is_main():
            update_provenance(
                run,
                config,
                "train",
                time.time() - start,
                {"detectors": sorted(f"{j.detector}/{j.train_set}" for j in jobs), "world_size": dist.world_size},
            )
