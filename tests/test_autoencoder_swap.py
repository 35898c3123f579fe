"""The generator registry and ``autoencoder_swap`` on real crops and clips (tiny sizes)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from forgebench.blending import hull_mask
from forgebench.config import FacesSettings
from forgebench.configure import config_from_dict
from forgebench.errors import DataError
from forgebench.faces import FaceAnalyzer
from forgebench.generators import Generator, VideoInput, VideoOutput, get_generator, list_generators
from forgebench.generators._augment import AugmentSettings, prepare_faces, training_batch
from forgebench.generators.autoencoder_swap.model import ssim
from forgebench.media import VideoWriter, iter_frames, probe, read_tags, synthetic_tag
from forgebench.stages.generate import frames_table

PAIR = ("d0", "d3")
# Tiny schedule for CPU tests: 32-px model input (from 64-px crops), small bottleneck.
TINY = {"image_size": 32, "encoder_dim": 32, "batch_size": 4, "iterations": 8, "lr": 2e-4}


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture(scope="module")
def analyzer():
    return FaceAnalyzer(FacesSettings(crop_size=64))


@pytest.fixture(scope="module")
def pair_crops(real_crops):
    return {i: real_crops[i] for i in PAIR}


@pytest.fixture(scope="module")
def trained(pair_crops, analyzer):
    """A tiny model fitted on d0 and d3 (module scope: trained once)."""
    torch.set_num_threads(2)
    gen = get_generator("autoencoder_swap")(TINY, analyzer, torch.device("cpu"), seed=0)
    gen.build(sorted(PAIR))
    before = gen.reconstruction_loss(pair_crops)
    log = gen.fit(pair_crops, progress=False)
    after = gen.reconstruction_loss(pair_crops)
    return gen, before, after, log


def test_registry_and_settings():
    assert "autoencoder_swap" in list_generators()
    cls = get_generator("autoencoder_swap")
    assert issubclass(cls, Generator) and cls.name == "autoencoder_swap"
    s = cls.Settings()
    assert (s.image_size, s.encoder_dim, s.iterations, s.batch_size) == (64, 1024, 10000, 64)
    assert s.lr == 5e-5 and tuple(s.betas) == (0.5, 0.999) and s.ssim_weight == 0.0
    assert s.blend.color_transfer is True and s.blend.seamless_clone is False and s.eval_mode is True
    with pytest.raises(ValidationError):
        cls.Settings(encoder_dimm=3)
    with pytest.raises(ValidationError):
        cls.Settings(image_size=70)
    with pytest.raises(KeyError, match="autoencoder_swap"):
        get_generator("no_such_generator")
    # The run config's generator section is validated by this Settings model.
    cfg = config_from_dict({"generators": {"autoencoder_swap": {"iterations": 5, "blend": {"mask_blur": 0.1}}}})
    typed = cfg.generator_settings("autoencoder_swap")
    assert typed.iterations == 5 and typed.blend.mask_blur == 0.1 and typed.encoder_dim == 1024


def test_augmentation_on_real_crops(pair_crops):
    settings = AugmentSettings()
    faces = prepare_faces(pair_crops["d0"], 32, 0.8)
    assert faces.shape == (len(pair_crops["d0"]), 40, 40, 3) and faces.dtype == np.uint8
    warped, target = training_batch(faces, 6, 32, settings, np.random.default_rng(1))
    again = training_batch(faces, 6, 32, settings, np.random.default_rng(1))
    assert warped.shape == target.shape == (6, 32, 32, 3)
    assert np.array_equal(warped, again[0]) and np.array_equal(target, again[1])
    diff = np.abs(warped.astype(int) - target.astype(int))
    assert 1.0 < diff.mean() < 40.0  # warped, but still the same face
    still = AugmentSettings(rotation=0, zoom=0, shift=0, flip=0, warp_scale=0)
    w, t = training_batch(faces, 2, 32, still, np.random.default_rng(0))
    assert np.array_equal(w, t)
    assert np.array_equal(t[0], faces[np.random.default_rng(0).integers(0, len(faces), 2)[0], 4:36, 4:36])


def test_ssim(pair_crops):
    x = torch.from_numpy(np.stack(pair_crops["d0"][:2])).permute(0, 3, 1, 2).float() / 255
    assert float(ssim(x, x)) == pytest.approx(1.0, abs=1e-5)
    noisy = (x + 0.2 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    assert float(ssim(x, noisy)) < 0.6


def test_model_key_is_one_per_unordered_pair(analyzer):
    gen = get_generator("autoencoder_swap")(TINY, analyzer, None, 0)
    assert gen.model_key("d3", "d0") == gen.model_key("d0", "d3") == "d0_d3"
    assert gen.model_identities("d0_d3") == ["d0", "d3"]
    assert gen.model_identities(gen.model_key("id_1", "id_0")) == ["id_0", "id_1"]
    with pytest.raises(ValueError):
        gen.model_key("d0", "d0")


def test_training_lowers_reconstruction_loss(trained):
    gen, before, after, log = trained
    assert set(before) == set(PAIR)
    for identity in PAIR:
        assert after[identity] < before[identity]
    assert sum(after.values()) < 0.85 * sum(before.values())
    assert log["iterations"] == TINY["iterations"] and log["seconds"] > 0
    assert set(log["loss_final"]) == set(PAIR)
    json.dumps(log)  # plain data


def test_fit_is_reproducible(pair_crops, analyzer, trained):
    short = {**TINY, "iterations": 2}
    one, two = (get_generator("autoencoder_swap")(short, analyzer, None, seed=0) for _ in range(2))
    one.fit(pair_crops, progress=False)
    two.fit(pair_crops, progress=False)
    crop = pair_crops["d0"][0]
    assert np.array_equal(one.swap_crop(crop, "d3"), two.swap_crop(crop, "d3"))
    assert not np.array_equal(one.swap_crop(crop, "d3"), trained[0].swap_crop(crop, "d3"))


def test_fit_rejects_bad_crops(pair_crops, analyzer):
    gen = get_generator("autoencoder_swap")(TINY, analyzer, None, 0)
    with pytest.raises(DataError, match="two identities"):
        gen.fit({"d0": pair_crops["d0"]}, progress=False)
    with pytest.raises(DataError, match="'d3'"):
        gen.fit({"d0": pair_crops["d0"], "d3": [np.zeros((64, 64), np.uint8)]}, progress=False)


def test_save_load_round_trip(trained, analyzer, tmp_path, pair_crops):
    gen = trained[0]
    path = gen.save(tmp_path / "models" / "d0_d3.pt")
    assert path.is_file() and not list(path.parent.glob("*.partial"))
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert raw["identities"] == ["d0", "d3"] and raw["generator"] == "autoencoder_swap"
    loaded = get_generator("autoencoder_swap")(TINY, analyzer, None, seed=123)
    loaded.load(path)
    crop = pair_crops["d3"][1]
    for source in PAIR:
        assert np.array_equal(gen.swap_crop(crop, source), loaded.swap_crop(crop, source))
    assert loaded.train_log["iterations"] == TINY["iterations"]
    # Settings that change the model must match the checkpoint's.
    other = get_generator("autoencoder_swap")({**TINY, "encoder_dim": 16}, analyzer, None, 0)
    with pytest.raises(DataError, match="encoder_dim") as err:
        other.load(path)
    assert str(path) in str(err.value)
    # Blending settings only change conversion: loading works.
    get_generator("autoencoder_swap")({**TINY, "blend": {"mask_blur": 0.1}}, analyzer, None, 0).load(path)


def test_corrupt_checkpoint_names_the_file(trained, analyzer, tmp_path):
    gen = get_generator("autoencoder_swap")(TINY, analyzer, None, 0)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a checkpoint")
    with pytest.raises(DataError, match="bad.pt"):
        gen.load(bad)
    good = trained[0].save(tmp_path / "good.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DataError, match="truncated.pt"):
        gen.load(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(DataError, match="foreign.pt.*not a forgebench generator checkpoint"):
        gen.load(foreign)
    with pytest.raises(DataError, match="missing.pt"):
        gen.load(tmp_path / "missing.pt")


def test_generate_real_clip(trained, clips_dir, tmp_path):
    gen = trained[0]
    target_video = clips_dir / "d0.mp4"
    out = tmp_path / "fakes" / "d0_d3.mp4"
    tag = synthetic_tag("autoencoder_swap", target="d0", source="d3")
    table = frames_table(
        gen.generate(VideoInput(target_video, "d0", 8), "d3", VideoOutput(out, 23, tag), progress=False)
    )
    info, src = probe(out), probe(target_video)
    assert info.n_frames == 8 and info.fps == pytest.approx(src.fps)
    assert (info.width, info.height) == (src.width, src.height)
    tags = read_tags(out)
    assert "synthetic" in tags.get("comment", "") and json.loads(tags["description"])["source"] == "d3"
    assert list(table.columns) == ["frame_index", "has_face", "landmarks", "matrix", "driving_landmarks"]
    assert all(len(v) == 0 for v in table["driving_landmarks"])  # a swap keeps the target's own expression
    assert table["frame_index"].tolist() == list(range(8)) and table["has_face"].all()
    assert all(len(v) == 136 for v in table["landmarks"]) and all(len(v) == 6 for v in table["matrix"])
    fake = dict(iter_frames(out))
    inside_diffs = []
    for (i, real), row in zip(iter_frames(target_video, max_frames=8), table.itertuples()):
        landmarks = np.asarray(row.landmarks).reshape(68, 2)
        hull = hull_mask(landmarks, real.shape[:2]) > 0
        diff = np.abs(fake[i].astype(int) - real.astype(int)).mean(axis=2)
        # Outside the face hull (plus a few pixels for the codec's blocks), nearly unchanged.
        yy, xx = np.mgrid[: real.shape[0], : real.shape[1]]
        x0, y0 = landmarks.min(axis=0) - 16
        x1, y1 = landmarks.max(axis=0) + 16
        far = ~hull & ((xx < x0) | (xx > x1) | (yy < y0) | (yy > y1))
        assert diff[far].mean() < 2.0, f"frame {i}: background changed"
        inside_diffs.append(diff[hull].mean())
    assert np.mean(inside_diffs) > 3.0  # the face itself was replaced


def test_generate_writes_faceless_frames_unchanged(trained, clips_dir, tmp_path):
    gen = trained[0]
    frames = [f for _, f in iter_frames(clips_dir / "d0.mp4", max_frames=3)]
    frames.insert(1, np.full_like(frames[0], 128))  # a frame without a face
    clip = tmp_path / "with_gap.mp4"
    with VideoWriter(clip, fps=25, crf=0) as writer:
        for f in frames:
            writer.write(f)
    out = tmp_path / "fake.mp4"
    table = frames_table(
        gen.generate(
            VideoInput(clip, "d0"), "d3", VideoOutput(out, 23, synthetic_tag("autoencoder_swap")), progress=False
        )
    )
    assert table["has_face"].tolist() == [True, False, True, True]
    assert table.loc[1, "landmarks"] == [] and table.loc[1, "matrix"] == []
    fake = dict(iter_frames(out))
    assert len(fake) == 4
    assert np.abs(fake[1].astype(int) - 128).mean() < 1.0
    with pytest.raises(DataError, match="no decoder"):
        gen.generate(VideoInput(clip, "d0"), "d12", VideoOutput(tmp_path / "x.mp4"), progress=False)
    assert not (tmp_path / "x.mp4").exists()
