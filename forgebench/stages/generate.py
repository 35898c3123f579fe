"""The generate stage: train each configured generator on the identities its fakes need and
write one fake per (target, source or driving) pair.

Units of work:

- :func:`model_unit`: one generator model (``fakes/<method>/models/<key>.pt`` and its
  training log ``<key>.json``), trained on the aligned face crops of its identities;
- :func:`convert_unit`: one fake video's conversion (``fakes/<method>/<name>.mp4``, its
  manipulation mask ``fakes/<method>/masks/<name>.mp4`` in the FaceForensics++ masks
  layout, lossless, and its frames table ``fakes/<method>/frames/<name>.parquet``).

Pairs pair identities inside a split (:func:`forgebench.splits.make_pairs`), so no person
crosses splits. A unit whose outputs exist is skipped; every unit seeds itself from the run
seed and the identities it concerns, so results never depend on the order units run in.
The stage then writes each generator's fakes manifest (``fakes/<method>/manifest.parquet``).
The faces of the fakes are the extract stage's job (``forgebench generate`` runs it next).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forgebench.config import Config, FacesSettings
from forgebench.execution import Unit, backend_for, run_units, stage_progress
from forgebench.faces import FaceAnalyzer
from forgebench.fileio import sha256_file, write_json, write_parquet
from forgebench.generators import DrivingInput, FrameRecord, GeneratorSettings, VideoInput, VideoOutput, get_generator
from forgebench.media import probe, read_image, synthetic_tag
from forgebench.provenance import update_provenance
from forgebench.rundir import RunDir
from forgebench.runtime import seed_everything, select_device
from forgebench.schemas import FRAMES, make_video_id
from forgebench.splits import make_pairs
from forgebench.stages.common import dataset_name, log, require_fakes
from forgebench.stages.extract import identity_faces

__all__ = ["GeneratorSpec", "frames_table", "model_unit", "convert_unit", "generate"]


@dataclass(frozen=True)
class GeneratorSpec:
    """Everything needed to build a generator in any process.

    Attributes:
        name: registered generator name.
        settings: its validated settings.
        faces: the run's ``faces`` settings (its face analyzer).
        device: torch device name (``cpu``, ``cuda``, ``cuda:1``).
        seed: the run seed.
        split_of: ``{identity: split}`` of the run.
    """

    name: str
    settings: GeneratorSettings
    faces: FacesSettings
    device: str
    seed: int
    split_of: dict[str, str]

    def build(self):
        """A fresh generator of this spec (:class:`~forgebench.generators.Generator`)."""
        gen = get_generator(self.name)(self.settings, FaceAnalyzer(generator_faces(self.faces)), self.device, self.seed)
        gen.set_splits(self.split_of)
        return gen


def generator_faces(faces: FacesSettings) -> FacesSettings:
    """The faces settings a generator's analyzer uses: the run's, aligned with forgebench's
    template (the generators' crops and landmarks are built on it) whatever
    ``faces.alignment`` the detectors' crops use."""
    return faces.model_copy(update={"alignment": "forgebench"})


def frames_table(records: list[FrameRecord]) -> pd.DataFrame:
    """The frames table of a fake (:data:`forgebench.schemas.FRAMES`) from its records:
    ``frame_index`` int64, ``has_face`` bool, ``landmarks`` / ``matrix`` /
    ``driving_landmarks`` lists of float (empty when absent)."""

    def floats(a: np.ndarray | None) -> list[float]:
        return [] if a is None else [float(v) for v in a]

    rows = [
        {
            "frame_index": r.frame_index,
            "has_face": r.has_face,
            "landmarks": floats(r.landmarks),
            "matrix": floats(r.matrix),
            "driving_landmarks": floats(r.driving_landmarks),
        }
        for r in records
    ]
    return pd.DataFrame(rows, columns=list(FRAMES.columns)).astype({"frame_index": "int64", "has_face": "bool"})


def model_unit(
    spec: GeneratorSpec,
    key: str,
    crops: dict[str, list[Path]],
    landmarks: dict[str, list[np.ndarray]],
    checkpoint: Path,
    log_file: Path,
    progress: bool = True,
) -> dict[str, Any]:
    """Train one generator model and save it.

    Args:
        spec: the generator.
        key: the model's key (:meth:`~forgebench.generators.Generator.model_key`).
        crops: ``{identity: [crop PNG files in frame order]}`` of the identities it needs.
        landmarks: ``{identity: [(68, 2) crop-pixel landmarks]}``, same order.
        checkpoint: where the model goes (written last).
        log_file: where its training log (JSON) goes.
        progress: tqdm bar of the training.

    Returns:
        the generator's provenance facts after training (``eval_mode``, losses used, ...).

    Raises:
        MediaError: a crop cannot be read. DataError: the generator refuses the crops.
    """
    gen = spec.build()
    images = {i: [read_image(p) for p in paths] for i, paths in crops.items()}
    seed_everything(spec.seed)
    train_log = gen.fit(images, progress=progress, landmarks=landmarks)
    write_json(log_file, train_log)
    gen.save(checkpoint)
    return gen.provenance()


def convert_unit(
    spec: GeneratorSpec,
    checkpoint: Path,
    target: VideoInput,
    other: str,
    driving_video: Path | None,
    output: VideoOutput,
    frames_file: Path,
    progress: bool = True,
) -> dict[str, Any]:
    """Make one fake video with a trained model.

    Args:
        spec: the generator.
        checkpoint: its model (from :func:`model_unit`).
        target: the target's input video (the identity shown).
        other: the source identity (face swaps) or the driving identity (reenactment).
        driving_video: the driving identity's re-encoded real video (reenactment only).
        output: the fake ``.mp4`` to write, with the run's CRF and the synthetic tag, and
            its mask video (``output.mask_path``).
        frames_file: its frames table (:data:`forgebench.schemas.FRAMES`), written last.
        progress: tqdm bar over the frames.

    Returns:
        ``n_frames``, ``n_frames_with_face`` and the generator's provenance facts.

    Raises:
        MediaError: a video cannot be decoded. DataError: the checkpoint is unreadable or
        was made with other settings, or no face where one is needed.
    """
    gen = spec.build()
    gen.load(checkpoint)
    if gen.role == "driving":
        records = gen.generate(target, DrivingInput(Path(driving_video), other), output, progress=progress)
    else:
        records = gen.generate(target, other, output, progress=progress)
    table = frames_table(records)
    write_parquet(frames_file, FRAMES.check(table, frames_file))
    return {
        "n_frames": int(len(table)),
        "n_frames_with_face": int(table["has_face"].sum()),
        "provenance": gen.provenance(),
    }


def _spec(run: RunDir, config: Config, name: str, split_of: dict[str, str]) -> GeneratorSpec:
    device = select_device(config.device)
    return GeneratorSpec(name, config.generator_settings(name), config.faces, str(device), config.seed, split_of)


def generate(run: RunDir, config: Config, progress: bool = True) -> None:
    """The generate stage (module docstring).

    Raises:
        ConfigError: no generator configured and no imported fakes.
        DataError: the extract stage has not run, a checkpoint is unreadable or was made
            with other settings, or a generator cannot use the crops it is given.
        MediaError: a video cannot be decoded.
    """
    require_fakes(run, config)
    with stage_progress("generate", progress) as bar:
        start = time.time()
        split_of = run.faces.split_of()
        video_of = run.faces.identity_videos()  # an identity with several videos is faked and drives with its first
        pairs = make_pairs(split_of)
        real = run.faces.read_manifest(["real"])
        dataset, comp = dataset_name(config), config.data.compression
        backend = backend_for(config.execution)
        inner = progress and backend.serial  # bars of the units themselves only when they run here
        specs = {name: _spec(run, config, name, split_of) for name in config.generators}
        keys: dict[str, dict[str, list[tuple[str, str]]]] = {}
        model_units, convert_units = [], []
        model_owner, convert_owner = [], []  # the generator of each unit, in the units' order
        for name, spec in specs.items():
            gen = get_generator(name)(
                spec.settings, FaceAnalyzer(generator_faces(config.faces)), spec.device, spec.seed
            )
            gen.set_splits(split_of)
            keys[name] = {}
            for target, other in pairs:
                keys[name].setdefault(gen.model_key(target, other), []).append((target, other))
            for key in keys[name]:
                ckpt = run.fakes.model_file(name, key)
                if not ckpt.is_file():
                    crops, landmarks, _ = identity_faces(run, real, gen.model_identities(key))
                    # cost: the fakes that wait on the model (fomm's one shared model goes first)
                    model_owner.append(name)
                    model_units.append(
                        Unit(
                            f"{name} model {key} ({sum(map(len, crops.values()))} crops)",
                            model_unit,
                            (spec, key, crops, landmarks, ckpt, run.fakes.model_log(name, key), inner),
                            cost=len(keys[name][key]),
                        )
                    )
                for target, other in keys[name][key]:
                    video_name = f"{target}_{other}"
                    mp4, frames_file = run.fakes.video(name, video_name), run.fakes.frames_file(name, video_name)
                    mask = run.fakes.mask_video(name, video_name)
                    if mp4.is_file() and mask.is_file() and frames_file.is_file():
                        continue
                    tv = video_of.loc[target]
                    role = get_generator(name).role
                    tag = synthetic_tag(name, target=target, **{role: other})
                    target_input = VideoInput(run.resolve(tv["input_path"]), target, int(tv["n_frames"]))
                    driving_video = run.resolve(video_of.loc[other, "real_path"]) if role == "driving" else None
                    convert_owner.append(name)
                    convert_units.append(
                        Unit(
                            f"{name} fake {video_name}",
                            convert_unit,
                            (
                                spec,
                                ckpt,
                                target_input,
                                other,
                                driving_video,
                                VideoOutput(mp4, config.data.crf, tag, mask_path=mask),
                                frames_file,
                                inner,
                            ),
                        )
                    )
        bar.total = len(model_units) + len(convert_units)  # the stage's bar counts both steps from the start
        bar.refresh()
        facts: dict[str, dict[str, Any]] = {}
        # run_units returns the outcomes in the order of the units, so each belongs to its owner
        for owner, outcome in zip(
            model_owner, run_units(model_units, "generator models", progress, announce=True, backend=backend)
        ):
            facts.setdefault(owner, {}).update(outcome.value)
        for owner, outcome in zip(
            convert_owner, run_units(convert_units, "fake videos", progress, announce=True, backend=backend)
        ):
            facts.setdefault(owner, {}).update(outcome.value["provenance"])
        checkpoints, recorded = {}, run.stage_facts("generate").get("generators", {})
        generators = {}
        for name, spec in specs.items():
            rows = []
            role = get_generator(name).role
            for key, key_pairs in keys[name].items():
                ckpt = run.fakes.model_file(name, key)
                ckpt_sha = sha256_file(ckpt)
                checkpoints[run.relative(ckpt)] = ckpt_sha
                for target, other in key_pairs:
                    video_name = f"{target}_{other}"
                    mp4, mask = run.fakes.video(name, video_name), run.fakes.mask_video(name, video_name)
                    frames = run.fakes.read_frames(name, video_name)
                    rows.append(
                        {
                            "method": name,
                            "video_name": video_name,
                            "video_id": make_video_id(dataset, name, comp, video_name),
                            "target": target,
                            "source": other if role == "source" else "",
                            "driving": other if role == "driving" else "",
                            "split": split_of[target],
                            "path": run.relative(mp4),
                            "mask_path": run.relative(mask),
                            "mask_sha256": sha256_file(mask),
                            "target_path": str(video_of.loc[target, "input_path"]),
                            "n_frames": int(len(frames)),
                            "n_frames_with_face": int(frames["has_face"].sum()),
                            "fps": float(probe(mp4).fps),
                            "checkpoint": run.relative(ckpt),
                            "checkpoint_sha256": ckpt_sha,
                            "settings": spec.settings.model_dump_json(),
                        }
                    )
            run.fakes.write(name, pd.DataFrame(rows))
            # Facts of a generator whose units were all done before stay as recorded.
            generators[name] = {
                **recorded.get(name, {}),
                "eval_mode": bool(spec.settings.eval_mode),
                **facts.get(name, {}),
            }
            log(f"{name}: {len(rows)} fakes in {run.fakes.folder(name)}")
        update_provenance(
            run, config, "generate", time.time() - start, {"checkpoints": checkpoints, "generators": generators}
        )
