"""The generator contract, checked for every registered generator (as tests/test_detector_zoo.py
does for detectors): its metadata (:class:`~forgebench.generators.GeneratorInfo`: citation,
code URL, kind, what differs from the paper, settings), a strict ``Settings`` model whose
defaults validate, the methods its base class says a plugin must override, a checkpoint
that round-trips (a model fitted for one step at a tiny size on real face crops, saved and
loaded into a fresh object, makes exactly the same fake of a real clip), and the fake's
mask video: the blending mask of every frame, 0 where the fake equals the target frame
(within the codec's error) and 1 where the face was replaced.

A new generator adds its tiny settings to :data:`TINY` (a few seconds on a 2-core CPU).
"""

from __future__ import annotations

import copy
import inspect
import json
import re

import numpy as np
import pytest
import torch
from test_fomm_generator import TINY_PARAMS  # the tiny FOMM networks of the FOMM tests (as test_low_precision)

from forgebench.config import FacesSettings
from forgebench.errors import ConfigError, DataError
from forgebench.faces import FaceAnalyzer
from forgebench.generators import (
    DrivingInput,
    Generator,
    GeneratorInfo,
    GeneratorSettings,
    ReenactmentGenerator,
    SwapGenerator,
    VideoInput,
    VideoOutput,
    get_generator,
    get_generator_info,
    list_generators,
    validate_generator_section,
)
from forgebench.media import VideoWriter, iter_frames, probe, sample_indices

TARGET, OTHER = "d12", "d0"  # the target shown, and the source pasted in or the driving video
CROP = 64

#: Per generator: settings of a tiny model and a one-step schedule.
TINY: dict[str, dict] = {
    "autoencoder_swap": {"image_size": 32, "encoder_dim": 32, "width": 0.25, "batch_size": 2, "iterations": 1},
    "pix2pix_reenact": {"image_size": 32, "ngf": 8, "ndf": 8, "epochs": 1},
    "fomm": {"model_params": copy.deepcopy(TINY_PARAMS), "image_size": 32, "iterations": 1, "batch_size": 2},
    "faceswap_graphics": {},  # nothing to train: its defaults are already tiny
}

#: what a generator that trains a model overrides (all of them, or none: Generator's docstring).
TRAINING_METHODS = ("model_key", "model_identities", "fit", "save", "load")

NAMES = list_generators()

TORCH_THREADS = 2
pytestmark = pytest.mark.usefixtures("torch_threads")


def tiny(name: str) -> dict:
    if name not in TINY:
        pytest.fail(f"generator {name!r} has no tiny settings: add them to TINY in tests/test_generator_contract.py")
    return copy.deepcopy(TINY[name])


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer(FacesSettings(crop_size=CROP))


@pytest.fixture(scope="module")
def faces(clips_dir, analyzer) -> tuple[dict, dict]:
    """4 aligned crops and their ``(68, 2)`` crop landmarks per identity, in frame order."""
    crops, points = {}, {}
    for identity in (TARGET, OTHER):
        clip = clips_dir / f"{identity}.mp4"
        crops[identity], points[identity] = [], []
        for _, frame in iter_frames(clip, indices=sample_indices(probe(clip).n_frames, 4)):
            face = analyzer.detect(frame)
            crops[identity].append(face.crop(frame))
            points[identity].append(face.landmarks_crop)
    return crops, points


@pytest.fixture(scope="module")
def driving_clip(clips_dir, tmp_path_factory):
    """The first 2 frames of the other identity's clip, as a short driving video."""
    path = tmp_path_factory.mktemp("driving") / f"{OTHER}.mp4"
    source = clips_dir / f"{OTHER}.mp4"
    with VideoWriter(path, fps=probe(source).fps) as writer:
        for _, frame in iter_frames(source, max_frames=2):
            writer.write(frame)
    return path


@pytest.mark.parametrize("name", NAMES)
def test_metadata(name):
    cls = get_generator(name)
    info = get_generator_info(name)
    assert isinstance(info, GeneratorInfo) and info == cls.info()
    assert info.name == cls.name == name
    assert info.settings_cls is cls.Settings
    assert info.kind == ("swap" if issubclass(cls, SwapGenerator) else "reenactment")
    assert info.citation.strip(), f"{name}: no citation (the paper, or the project a method without one follows)"
    assert re.fullmatch(r"https://\S+", info.code_url), f"{name}: code_url {info.code_url!r} is not a URL"
    assert info.notes.strip(), f"{name}: no notes on what differs from the paper"
    row = json.loads(json.dumps(info.to_dict()))
    assert row["name"] == name and row["defaults"] == info.defaults()


@pytest.mark.parametrize("name", NAMES)
def test_settings_defaults_validate_and_unknown_keys_are_rejected(name):
    cls = get_generator(name)
    assert issubclass(cls.Settings, GeneratorSettings) and cls.Settings is not GeneratorSettings
    defaults = get_generator_info(name).defaults()
    assert {"eval_mode", "low_precision"} <= set(defaults)
    settings, resolved = validate_generator_section(name, None, "run.yaml")
    assert isinstance(settings, cls.Settings) and resolved == defaults
    assert cls.Settings.model_validate(defaults) == settings  # the written-out defaults read back the same
    with pytest.raises(ConfigError, match=re.escape(f"run.yaml: unknown key 'generators.{name}.no_such_key'")):
        validate_generator_section(name, {"no_such_key": 1}, "run.yaml")
    with pytest.raises(ConfigError, match=rf"generators\.{name}: invalid settings(.|\n)*no_such_key"):
        cls({"no_such_key": 1})
    validate_generator_section(name, tiny(name), "run.yaml")  # the tiny settings below are valid ones


@pytest.mark.parametrize("name", NAMES)
def test_implements_what_its_base_requires(name):
    cls = get_generator(name)
    assert issubclass(cls, (SwapGenerator, ReenactmentGenerator)), (
        f"{name}: subclass SwapGenerator or ReenactmentGenerator"
    )
    assert not inspect.isabstract(cls), f"{name}: abstract methods left: {sorted(cls.__abstractmethods__)}"
    base, method, role = (
        (SwapGenerator, "convert_face", "source")
        if issubclass(cls, SwapGenerator)
        else (ReenactmentGenerator, "generate", "driving")
    )
    assert getattr(cls, method) is not getattr(base, method) and cls.role == role
    overridden = {m for m in TRAINING_METHODS if getattr(cls, m) is not getattr(Generator, m)}
    assert overridden in (set(), set(TRAINING_METHODS)), (
        f"{name} overrides {sorted(overridden)}: a generator that trains overrides all of {TRAINING_METHODS}"
    )
    assert set(cls.CHECKPOINT_KEYS) <= set(cls.Settings.model_fields), f"{name}: CHECKPOINT_KEYS that are no settings"


def _fake(gen: Generator, clips_dir, driving_clip, path) -> tuple[list[np.ndarray], list]:
    """The fake of TARGET (its first 2 frames) with OTHER, decoded, and its frame records;
    its mask video is written beside it (``<stem>_mask.mp4``)."""
    other = OTHER if gen.role == "source" else DrivingInput(driving_clip, OTHER)
    output = VideoOutput(path, mask_path=path.with_name(f"{path.stem}_mask.mp4"))
    records = gen.generate(VideoInput(clips_dir / f"{TARGET}.mp4", TARGET, 2), other, output, progress=False)
    return [frame for _, frame in iter_frames(path)], records


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_round_trip_makes_the_same_fake(name, analyzer, faces, clips_dir, driving_clip, tmp_path):
    crops, points = faces
    cls = get_generator(name)
    splits = {TARGET: "train", OTHER: "train"}

    def fitted(seed: int, swapped: bool = False) -> tuple[Generator, str]:
        gen = cls(tiny(name), analyzer, "cpu", seed=seed)
        gen.set_splits(splits)
        key = gen.model_key(TARGET, OTHER)
        assert isinstance(key, str) and key and "/" not in key
        needed = gen.model_identities(key)
        assert set(needed) <= {TARGET, OTHER}
        of = {TARGET: OTHER, OTHER: TARGET} if swapped else {TARGET: TARGET, OTHER: OTHER}
        log = gen.fit({i: crops[of[i]] for i in needed}, progress=False, landmarks={i: points[of[i]] for i in needed})
        json.dumps(log)  # a training log of plain values
        return gen, key

    def loaded(path) -> Generator:
        gen = cls(tiny(name), analyzer, "cpu", seed=0)
        gen.set_splits(splits)
        gen.model_key(TARGET, OTHER)
        gen.load(path)
        return gen

    gen, key = fitted(0)
    path = gen.save(tmp_path / f"{key}.pt")
    assert path.is_file()
    # other initial weights and the two people's faces exchanged (a generator with nothing random
    # gets another face bank): its checkpoint must make another fake
    other_seed, _ = fitted(1, swapped=True)
    other_path = other_seed.save(tmp_path / f"{key}_seed1.pt")

    frames, records = _fake(gen, clips_dir, driving_clip, tmp_path / "saved.mp4")
    again = loaded(path)
    frames_again, records_again = _fake(again, clips_dir, driving_clip, tmp_path / "loaded.mp4")
    assert len(frames) == len(records) > 0 and any(r.has_face for r in records)
    assert len(frames_again) == len(frames) and all(np.array_equal(a, b) for a, b in zip(frames, frames_again))
    for a, b in zip(records, records_again):
        assert a.frame_index == b.frame_index
        for field in ("landmarks", "matrix", "driving_landmarks"):
            x, y = getattr(a, field), getattr(b, field)
            assert (x is None and y is None) or np.array_equal(x, y), (name, a.frame_index, field)
    assert again.provenance() == gen.provenance()
    frames_other, _ = _fake(loaded(other_path), clips_dir, driving_clip, tmp_path / "other.mp4")
    assert not all(np.array_equal(a, b) for a, b in zip(frames, frames_other)), "the weights did not come from the file"

    with pytest.raises(DataError, match="missing.pt"):
        cls(tiny(name), analyzer, "cpu", seed=0).load(tmp_path / "missing.pt")
    torch.save({"format": "something else"}, tmp_path / "foreign.pt")
    with pytest.raises(DataError, match="foreign.pt"):
        cls(tiny(name), analyzer, "cpu", seed=0).load(tmp_path / "foreign.pt")


@pytest.mark.parametrize("name", NAMES)
def test_the_mask_video_says_where_the_fake_differs(name, analyzer, faces, clips_dir, driving_clip, tmp_path):
    from forgebench.media import iter_masks

    crops, points = faces
    gen = get_generator(name)(tiny(name), analyzer, "cpu", seed=0)
    gen.set_splits({TARGET: "train", OTHER: "train"})
    needed = gen.model_identities(gen.model_key(TARGET, OTHER))
    gen.fit({i: crops[i] for i in needed}, progress=False, landmarks={i: points[i] for i in needed})
    fake, records = _fake(gen, clips_dir, driving_clip, tmp_path / "fake.mp4")
    masks = [m for _, m in iter_masks(tmp_path / "fake_mask.mp4")]
    target = [frame for _, frame in iter_frames(clips_dir / f"{TARGET}.mp4", max_frames=2)]
    assert len(masks) == len(fake) == len(records) and masks[0].shape == fake[0].shape[:2]
    for t, (frame, mask, record) in enumerate(zip(fake, masks, records)):
        assert mask.dtype == np.float32 and 0.0 <= mask.min() and mask.max() <= 1.0
        if not record.has_face:
            assert mask.max() == 0.0
            continue
        # an animation of one still frame pastes into that frame (the first with a face), a swap
        # or reenactment into the target frame it replaces
        reference = target[t] if gen.replaces_target_frames else target[0]
        diff = np.abs(frame.astype(np.int16) - reference.astype(np.int16)).mean(axis=2)
        outside, inside = diff[mask == 0.0].mean(), diff[mask >= 0.99].mean()
        assert (mask >= 0.99).sum() > 500, "the face was replaced somewhere"
        assert outside < 2.5, f"{name} frame {t}: pixels outside the mask moved by {outside:.2f} grey levels"
        assert inside > 4 * outside and inside > 4.0, f"{name} frame {t}: inside {inside:.2f}, outside {outside:.2f}"


def test_a_swap_returning_the_frame_alone_is_told_to_return_its_mask(analyzer, clips_dir):
    class FrameOnly(SwapGenerator):  # the interface before masks: the frame alone
        def convert_face(self, frame, face, source):
            return frame

    ((_, frame),) = iter_frames(clips_dir / f"{TARGET}.mp4", indices=[0])
    with pytest.raises(TypeError, match=r"FrameOnly: convert_face must return \(frame, mask\)"):
        FrameOnly(None, analyzer).convert_faces([frame], [analyzer.detect(frame)], OTHER)
