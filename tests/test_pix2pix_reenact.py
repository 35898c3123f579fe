"""pix2pix_reenact on the real clips at tiny sizes: the authors' state_dict layout, sketches
of real landmarks, retargeting, training, reenactment video, held-out reconstruction."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from forgebench.config import FacesSettings
from forgebench.errors import ConfigError, DataError
from forgebench.faces import FaceAnalyzer
from forgebench.generators import DrivingInput, VideoInput, VideoOutput, get_generator
from forgebench.generators._sketch import line_width, render_sketch, retarget_landmarks
from forgebench.generators.pix2pix_reenact import NLayerDiscriminator, UnetGenerator
from forgebench.generators.pix2pix_reenact.model import load_pix2pix_file, load_pix2pix_state_dict
from forgebench.media import iter_frames, probe, read_tags, sample_indices, synthetic_tag
from forgebench.stages.generate import frames_table

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "pix2pix_unet256_state_dict.txt"
TINY = {"image_size": 64, "ngf": 8, "ndf": 8, "epochs": 6}


def reference_shapes() -> dict[str, dict[str, tuple[int, ...]]]:
    """``{"G": {name: shape}, "D": {...}}`` parsed from the reference listing."""
    if not REFERENCE.is_file():
        pytest.skip(f"reference listing not found: {REFERENCE}")
    out, part = {"G": {}, "D": {}}, None
    for line in REFERENCE.read_text().splitlines():
        if line.startswith("# netG"):
            part = "G"
        elif line.startswith("# netD"):
            part = "D"
        elif part and not line.startswith("#") and line.strip():
            name, shape = re.match(r"(\S+) \((.*)\)", line).groups()
            out[part][name] = tuple(int(v) for v in shape.split(",") if v.strip())
    return out


def random_state(shapes: dict[str, tuple[int, ...]], drop_batches_tracked: bool = False) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        k: (torch.zeros(s, dtype=torch.long) if k.endswith("num_batches_tracked") else torch.rand(s, generator=g))
        for k, s in shapes.items()
        if not (drop_batches_tracked and k.endswith("num_batches_tracked"))
    }


def test_networks_match_the_authors_layout(tmp_path):
    ref = reference_shapes()
    net_g, net_d = UnetGenerator(3, 3, 8, ngf=64, use_dropout=True), NLayerDiscriminator(6, 64, 3)
    assert {k: tuple(v.shape) for k, v in net_g.state_dict().items()} == ref["G"]
    assert {k: tuple(v.shape) for k, v in net_d.state_dict().items()} == ref["D"]
    assert sum(p.numel() for p in net_g.parameters()) == 54413955
    # An authors' file (old PyTorch: no num_batches_tracked) loads, and the values arrive.
    state = random_state(ref["G"], drop_batches_tracked=True)
    torch.save(state, tmp_path / "latest_net_G.pth")
    load_pix2pix_file(net_g, tmp_path / "latest_net_G.pth")
    assert torch.equal(net_g.state_dict()["model.model.3.bias"], state["model.model.3.bias"])
    load_pix2pix_state_dict(net_d, random_state(ref["D"]))
    bad = random_state(ref["D"])
    bad["model.0.weight"] = torch.zeros(64, 3, 4, 4)
    with pytest.raises(DataError, match="wrong shapes"):
        load_pix2pix_state_dict(net_d, bad, "netD.pth")
    del bad["model.0.weight"]
    with pytest.raises(DataError, match="missing"):
        load_pix2pix_state_dict(net_d, bad, "netD.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="junk.pth"):
        load_pix2pix_file(net_g, tmp_path / "junk.pth")


@pytest.fixture(scope="module")
def faces(clips_dir):
    """16 aligned 64-px crops of d12 with their crop landmarks, in frame order."""
    analyzer = FaceAnalyzer(FacesSettings(crop_size=64))
    clip = clips_dir / "d12.mp4"
    crops, points = [], []
    for _, frame in iter_frames(clip, indices=sample_indices(probe(clip).n_frames, 16)):
        face = analyzer.detect(frame)
        crops.append(face.crop(frame))
        points.append(face.landmarks_crop)
    return analyzer, crops, points


def test_sketch_of_real_landmarks(faces):
    _, _, points = faces
    big = render_sketch(points[0] * 4, 256)
    assert big.shape == (256, 256, 3) and big.dtype == np.uint8
    drawn = big.max(axis=2) > 0
    assert 0.01 < drawn.mean() < 0.2  # lines on black, not filled
    for x, y in np.round(points[0] * 4).astype(int):  # every landmark lies on a line
        assert big[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2].max() > 0
    assert np.all(big[:8, :8] == 0)  # background black
    # mouth (inner lips) is red, eyes green: parts are told apart by colour
    x, y = np.round(points[0][62] * 4).astype(int)
    assert big[y - 1 : y + 2, x - 1 : x + 2, 0].max() > 200
    assert line_width(256) == 2 and line_width(64) == 1
    small = render_sketch(points[0], 64)
    assert small.shape == (64, 64, 3) and (small.max(axis=2) > 0).mean() > 0.02
    with pytest.raises(ValueError, match="68, 2"):
        render_sketch(points[0][:10], 64)


def test_retargeting_keeps_motion_and_target_shape(faces):
    _, _, points = faces
    driving = np.stack(points)
    target_mean = driving.mean(axis=0) * 1.1 + 3.0
    out = retarget_landmarks(driving, driving.mean(axis=0), target_mean)
    assert np.allclose(out.mean(axis=0), target_mean)
    assert np.allclose(out[3] - out[5], driving[3] - driving[5])


def test_training_lowers_l1_and_reenactment_video(faces, clips_dir, tmp_path):
    analyzer, crops, points = faces
    cls = get_generator("pix2pix_reenact")
    gen = cls(TINY, analyzer, "cpu", seed=0)
    assert gen.settings.eval_mode is False  # the paper's test-time behaviour by default
    held = gen.evaluation_positions("d12", len(crops))
    assert held == list(range(13, 16))
    untrained = cls(TINY, analyzer, "cpu", seed=0)
    untrained.build("d12")
    untrained.mean_shape = np.mean(points, axis=0)
    before = np.mean(
        [
            np.abs(a.astype(float) - b).mean()
            for a, b in zip(untrained.reconstruct("d12", crops[:13], points[:13]), crops)
        ]
    )
    log = gen.fit({"d12": crops}, progress=False, landmarks={"d12": points})
    assert log["n_train"] == 13 and log["n_holdout"] == 3
    assert log["l1_final"] < 0.8 * log["l1_first"]
    after = np.mean(
        [np.abs(a.astype(float) - b).mean() for a, b in zip(gen.reconstruct("d12", crops[:13], points[:13]), crops)]
    )
    assert after < 0.8 * before

    gen.save(tmp_path / "d12.pt")
    loaded = cls(TINY, analyzer, "cpu", seed=0)
    loaded.load(tmp_path / "d12.pt")
    assert np.allclose(loaded.mean_shape, gen.mean_shape)
    with pytest.raises(DataError, match="other settings"):
        cls({**TINY, "epochs": 7}, analyzer, "cpu").load(tmp_path / "d12.pt")
    out = tmp_path / "d12_d0.mp4"
    table = frames_table(
        loaded.generate(
            VideoInput(clips_dir / "d12.mp4", "d12", 10),
            DrivingInput(clips_dir / "d0.mp4", "d0"),
            VideoOutput(out, 23, synthetic_tag("pix2pix_reenact")),
            progress=False,
        )
    )
    assert probe(out).n_frames == 10 == len(table)
    assert '"synthetic": "true"' in read_tags(out)["description"]
    assert table["has_face"].all() and all(len(v) == 136 for v in table["driving_landmarks"])
    with pytest.raises(DataError, match="renders 'd12'"):
        loaded.generate(
            VideoInput(clips_dir / "d3.mp4", "d3", 2),
            DrivingInput(clips_dir / "d0.mp4", "d0"),
            VideoOutput(tmp_path / "x.mp4"),
        )


def test_bad_inputs(faces):
    analyzer, crops, points = faces
    cls = get_generator("pix2pix_reenact")
    with pytest.raises(ConfigError, match="image_sise"):
        cls({"image_sise": 64}, analyzer)
    gen = cls(TINY, analyzer, "cpu")
    with pytest.raises(DataError, match="one target identity"):
        gen.fit({"a": crops, "b": crops}, progress=False, landmarks={"a": points, "b": points})
    with pytest.raises(DataError, match="landmarks"):
        gen.fit({"a": crops}, progress=False)
