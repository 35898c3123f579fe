"""The ``fomm`` generator on the real clips at tiny sizes: an official-layout checkpoint used
through ``generators.fomm.checkpoint``, animation video, reconstruction, settings errors."""

import copy

import cv2
import numpy as np
import pytest
import torch

from forgebench.config import FacesSettings
from forgebench.errors import ConfigError, DataError
from forgebench.faces import FaceAnalyzer
from forgebench.faces.align import invert_matrix, transform_points
from forgebench.generators import DrivingInput, VideoInput, VideoOutput, get_generator
from forgebench.generators.fomm import build_fomm
from forgebench.media import iter_frames, probe, read_tags, sample_indices, synthetic_tag
from forgebench.stages.generate import frames_table

TINY_PARAMS = {
    "common_params": {"num_kp": 4, "num_channels": 3, "estimate_jacobian": True},
    "kp_detector_params": {
        "temperature": 0.1,
        "block_expansion": 8,
        "max_features": 32,
        "num_blocks": 3,
        "scale_factor": 0.5,
    },
    "generator_params": {
        "block_expansion": 8,
        "max_features": 32,
        "num_down_blocks": 2,
        "num_bottleneck_blocks": 1,
        "estimate_occlusion_map": True,
        "dense_motion_params": {"block_expansion": 8, "max_features": 32, "num_blocks": 3, "scale_factor": 0.5},
    },
    "discriminator_params": {"scales": [1], "block_expansion": 8, "max_features": 32, "num_blocks": 3, "sn": True},
}


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """A checkpoint file in the authors' layout (tiny model_params), as a user would have."""
    torch.manual_seed(0)
    modules = build_fomm(TINY_PARAMS)
    path = tmp_path_factory.mktemp("ckpt") / "tiny-cpk.pth.tar"
    payload = {k: m.state_dict() for k, m in modules.items()}
    payload.update(optimizer_generator={}, optimizer_kp_detector={}, optimizer_discriminator={}, epoch=99)
    torch.save(payload, path)
    return path


def settings(path=None, **extra):
    return {
        "checkpoint": str(path) if path else None,
        "model_params": copy.deepcopy(TINY_PARAMS),
        "image_size": 32,
        **extra,
    }


def test_official_checkpoint_animates_driving_video(official, clips_dir, tmp_path):
    analyzer = FaceAnalyzer(FacesSettings(crop_size=64))
    cls = get_generator("fomm")
    gen = cls(settings(official), analyzer, "cpu", seed=0)
    gen.set_splits({"d3": "train", "d0": "test"})
    assert gen.model_identities(gen.model_key("d3", "d0")) == []  # nothing to train
    log = gen.fit({}, progress=False)
    assert log["official_checkpoint"] == str(official) and len(log["sha256"]) == 64
    gen.save(tmp_path / "fomm.pt")
    assert (tmp_path / "fomm.pt").stat().st_size < official.stat().st_size  # weights are not copied
    again = cls(settings(official), analyzer, "cpu", seed=0)
    again.load(tmp_path / "fomm.pt")
    assert again.provenance()["sha256"] == log["sha256"] and again.provenance()["eval_mode"] is True
    out = tmp_path / "d3_d0.mp4"
    table = frames_table(
        again.generate(
            VideoInput(clips_dir / "d3.mp4", "d3"),
            DrivingInput(clips_dir / "d0.mp4", "d0"),
            VideoOutput(out, 23, synthetic_tag("fomm")),
            progress=False,
        )
    )
    n_driving = probe(clips_dir / "d0.mp4").n_frames
    assert probe(out).n_frames == n_driving == len(table)
    assert (probe(out).width, probe(out).height) == (
        probe(clips_dir / "d3.mp4").width,
        probe(clips_dir / "d3.mp4").height,
    )
    assert '"generator": "fomm"' in read_tags(out)["description"]
    assert all(len(v) == 136 for v in table["driving_landmarks"])
    # The animation is pasted inside the animated face's hull, not as the crop square: the
    # square's corners (crop region outside a generous face box) keep the target frame.
    frame, face = again._target_face(clips_dir / "d3.mp4", None)
    fake0 = next(iter_frames(out, indices=[0]))[1]
    square = np.zeros(frame.shape[:2], np.uint8)
    s = face.crop_size - 1
    corners = np.array([[0, 0], [s, 0], [s, s], [0, s]], np.float64)
    cv2.fillConvexPoly(square, np.round(transform_points(corners, invert_matrix(face.matrix))).astype(np.int32), 1)
    lo, hi = face.landmarks.min(0), face.landmarks.max(0)
    pad = 0.1 * (hi - lo)
    box = np.zeros_like(square)
    box[int(lo[1] - pad[1]) : int(hi[1] + pad[1]), int(lo[0] - pad[0]) : int(hi[0] + pad[0])] = 1
    outside = (square == 1) & (box == 0)
    assert outside.sum() > 500
    diff = np.abs(fake0.astype(float) - frame.astype(float)).mean(axis=2)
    assert diff[outside].mean() < 4.0  # codec noise only (an untrained tiny model paints noise)
    assert diff[box == 1].mean() > diff[outside].mean()
    # every identity is held out of an official model: all frames are reconstructed
    assert again.evaluation_positions("d3", 5) == [0, 1, 2, 3, 4]
    crops = []
    for _, frame in iter_frames(clips_dir / "d0.mp4", indices=sample_indices(n_driving, 3)):
        crops.append(analyzer.detect(frame).crop(frame))
    rec = again.reconstruct("d0", crops, [None] * 3)
    assert len(rec) == 3 and rec[0].shape == (64, 64, 3) and rec[0].dtype == np.uint8


def test_trained_model_holds_out_train_identities(clips_dir):
    gen = get_generator("fomm")(
        settings(iterations=2, batch_size=2), FaceAnalyzer(FacesSettings(crop_size=64)), "cpu", seed=0
    )
    gen.set_splits({"a": "train", "b": "train", "c": "val", "d": "test"})
    assert gen.model_identities("fomm") == ["a", "b"]
    assert gen.evaluation_positions("a", 3) == [] and gen.evaluation_positions("d", 2) == [0, 1]
    with pytest.raises(DataError, match="2\\+ face crops"):
        gen.fit({"a": [np.zeros((64, 64, 3), np.uint8)]}, progress=False)


def test_bad_settings_and_checkpoints(official, tmp_path):
    cls = get_generator("fomm")
    bad = copy.deepcopy(TINY_PARAMS)
    bad["kp_detector_params"]["num_kpp"] = 3
    with pytest.raises(ConfigError, match="num_kpp"):
        cls({"model_params": bad})
    with pytest.raises(ConfigError, match="loss weights"):
        cls({"loss_weights": {"perceptul": [1]}})
    wrong = cls(
        settings(
            official,
            model_params={
                **copy.deepcopy(TINY_PARAMS),
                "common_params": {"num_kp": 6, "num_channels": 3, "estimate_jacobian": True},
            },
        )
    )
    with pytest.raises(DataError, match="tiny-cpk.pth.tar"):
        wrong.fit({}, progress=False)
    missing = cls(settings(tmp_path / "nothing.pth.tar"))
    with pytest.raises(DataError, match="nothing.pth.tar"):
        missing.fit({}, progress=False)
