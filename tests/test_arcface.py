"""ArcFace identity embeddings (:mod:`forgebench.metrics.arcface`): the IResNet-100 state
dict layout of insightface's ``arcface_torch`` backbones, loading through the weights
registry (test-made random weights in a temporary torch hub cache or at the override,
never a download), the typed errors for missing / wrong / corrupt files, and the 5-point
ArcFace alignment on a real frame.

The weights are random (made here), so embeddings carry no identity; the tests check the
loading path (exactly the file's tensors are used), shapes, normalisation, determinism,
and that different faces give different embeddings.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from forgebench import weights
from forgebench.faces import FaceAnalyzer
from forgebench.media import read_frames
from forgebench.metrics import arcface
from forgebench.metrics.arcface import (
    ARCFACE_TEMPLATE,
    ARCFACE_WEIGHTS,
    arcface_align,
    arcface_embeddings,
    arcface_matrix,
    arcface_points,
    arcface_template_error,
    iresnet100,
    load_arcface,
)
from forgebench.provenance import sha256_file
from forgebench.weights import WeightsUnavailable

pytestmark = pytest.mark.usefixtures("torch_threads")

FILE = "glint360k_cosface_r100_fp16_0.1.pth"
# insightface IResNet-100 (arcface_torch/backbones/iresnet.py): stem conv1 + bn1 (5 entries
# with num_batches_tracked) + prelu = 7; 49 IBasicBlocks of 18 entries (bn1, conv1, bn2,
# prelu, conv2, bn3) of which 4 have a downsample (conv + BatchNorm, 6 more); bn2 (5), fc
# weight + bias (2), features (5): 7 + 49 * 18 + 4 * 6 + 12 = 925.
N_KEYS = 925


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    """Each test starts with no cached network and no weights recorded as used."""
    monkeypatch.setattr(arcface, "_MODELS", {})
    monkeypatch.setattr(weights, "_USED", {})


@pytest.fixture(scope="module")
def random_state() -> dict[str, torch.Tensor]:
    """State dict of a random-initialised IResNet-100 (seeded), BatchNorm running
    statistics randomised too so that eval mode does real work."""
    torch.manual_seed(0)
    model = iresnet100()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return model.state_dict()


@pytest.fixture(scope="module")
def faces(clips_dir) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Frame 0 of the real clips d0 and d3 with their dlib landmarks:
    ``{clip: ((H, W, 3) uint8 RGB, (68, 2) float64 frame pixels)}``."""
    analyzer = FaceAnalyzer()
    out = {}
    for clip in ("d0", "d3"):
        frame = read_frames(clips_dir / f"{clip}.mp4", [0])[0]
        face = analyzer.detect(frame)
        assert face is not None, f"{clip}: no face in frame 0"
        out[clip] = (frame, face.landmarks)
    return out


@pytest.fixture(scope="module")
def crops(faces) -> dict[str, np.ndarray]:
    """ArcFace-aligned ``(112, 112, 3)`` uint8 crops of the real faces."""
    return {clip: arcface_align(frame, lm) for clip, (frame, lm) in faces.items()}


def _trust(monkeypatch, path: Path) -> None:
    """Make the registry expect ``path``'s hash (test-made weights)."""
    entry = dataclasses.replace(weights.REGISTRY[ARCFACE_WEIGHTS], sha256=sha256_file(path))
    monkeypatch.setitem(weights.REGISTRY, ARCFACE_WEIGHTS, entry)


def _save_trusted(monkeypatch, state, path: Path | None = None) -> Path:
    """Save ``state`` into the torch hub cache under the registry file name (or at
    ``path``) and make the registry expect its hash."""
    path = path or weights.cache_dir() / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    _trust(monkeypatch, path)
    return path


def test_registry_entry():
    entry = weights.get_entry(ARCFACE_WEIGHTS)
    assert entry.file == FILE
    assert len(entry.sha256) == 64 and entry.sha256 == entry.sha256.lower()
    assert entry.url == "https://github.com/deepinsight/insightface/tree/master/recognition/arcface_torch"
    assert "backbone.pth" in entry.description and "renamed" in entry.description


def test_state_dict_layout_matches_insightface():
    model = iresnet100()
    state = model.state_dict()
    assert len(state) == N_KEYS
    assert sum(k.endswith("num_batches_tracked") for k in state) == 154  # 1 + 49 * 3 + 4 + 1 + 1
    assert state["conv1.weight"].shape == (64, 3, 3, 3)
    assert state["prelu.weight"].shape == (64,)
    assert state["layer1.0.bn1.weight"].shape == (64,)
    assert state["layer2.0.conv1.weight"].shape == (128, 64, 3, 3)
    assert state["layer2.0.downsample.0.weight"].shape == (128, 64, 1, 1)
    assert state["layer2.0.downsample.1.running_var"].shape == (128,)
    assert state["layer3.29.conv2.weight"].shape == (256, 256, 3, 3)
    assert state["layer4.2.prelu.weight"].shape == (512,)
    assert state["bn2.weight"].shape == (512,)
    assert state["fc.weight"].shape == (512, 25088) and state["fc.bias"].shape == (512,)
    assert state["features.weight"].shape == (512,) and state["features.running_mean"].shape == (512,)
    # Blocks per stage (3, 13, 30, 3); a downsample only in the first block of each stage.
    for stage, blocks in enumerate((3, 13, 30, 3), start=1):
        assert f"layer{stage}.{blocks - 1}.bn3.weight" in state and f"layer{stage}.{blocks}.bn1.weight" not in state
        assert f"layer{stage}.0.downsample.0.weight" in state and f"layer{stage}.1.downsample.0.weight" not in state
    assert "dropout" not in {k.split(".")[0] for k in state}
    # features: BatchNorm1d with the scale fixed at 1 and not trained; eps 1e-05 everywhere.
    assert torch.all(model.features.weight == 1) and not model.features.weight.requires_grad
    bns = [m for m in model.modules() if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
    assert len(bns) == 154 and all(m.eps == 1e-05 for m in bns)
    assert model.layer1[0].conv2.stride == (2, 2) and model.layer1[0].conv1.stride == (1, 1)
    assert model.layer1[1].conv2.stride == (1, 1) and model.conv1.stride == (1, 1)
    with pytest.raises(ValueError, match="112"):
        model(torch.zeros(1, 3, 64, 64))


def test_loads_strictly_and_embeds(monkeypatch, random_state, crops):
    path = _save_trusted(monkeypatch, random_state)
    model, wf = load_arcface()
    assert wf.path == path and wf.source == "cache" and wf.sha256 == sha256_file(path)
    assert not model.training and next(model.parameters()).device.type == "cpu"
    loaded = model.state_dict()
    assert loaded.keys() == random_state.keys()
    assert all(torch.equal(loaded[k], random_state[k]) for k in random_state)
    assert load_arcface("cpu")[0] is model  # cached per (file, hash, device)
    assert {w["name"]: w for w in weights.used_weights()}[ARCFACE_WEIGHTS]["sha256"] == wf.sha256

    batch = np.stack([crops["d0"], crops["d0"], crops["d3"]])
    emb = arcface_embeddings(model, batch, batch_size=2)
    assert emb.shape == (3, 512) and emb.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(emb[0], emb[1], atol=1e-6)  # the same crop twice
    again = arcface_embeddings(model, crops["d0"][None])
    np.testing.assert_allclose(again[0], emb[0], atol=1e-5)  # deterministic across calls
    assert float(emb[0] @ emb[2]) < 0.999  # a different face gives a different embedding
    assert not np.allclose(emb[0], emb[2], atol=1e-3)

    assert arcface_embeddings(model, np.zeros((0, 112, 112, 3), np.uint8)).shape == (0, 512)
    with pytest.raises(ValueError, match="112"):
        arcface_embeddings(model, np.zeros((1, 64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        arcface_embeddings(model, batch.astype(np.float32))
    with pytest.raises(ValueError, match="batch_size"):
        arcface_embeddings(model, batch, batch_size=0)
    with pytest.raises(ValueError, match="device"):
        arcface_embeddings(model, batch, device="meta")
    model.train()
    try:
        with pytest.raises(ValueError, match="eval mode"):
            arcface_embeddings(model, batch)
    finally:
        model.eval()


def test_wrapped_prefixed_half_state_at_override(monkeypatch, tmp_path, random_state):
    """A state dict under "state_dict" with DataParallel's "module." prefix and fp16
    tensors, given through FORGEBENCH_WEIGHTS_ARCFACE_R100_GLINT360K."""
    half = {f"module.{k}": v.half() if v.is_floating_point() else v for k, v in random_state.items()}
    path = _save_trusted(monkeypatch, {"state_dict": half}, tmp_path / "backbone.pth")
    monkeypatch.setenv(weights.override_variable(ARCFACE_WEIGHTS), str(path))
    model, wf = load_arcface()
    assert wf.source == "override" and wf.path == path
    loaded = model.state_dict()
    for key in ("conv1.weight", "layer3.29.conv2.weight", "fc.weight", "features.running_var"):
        assert loaded[key].dtype == torch.float32
        assert torch.equal(loaded[key], random_state[key].half().float()), key


def test_missing_file_names_file_and_how_to_provide():
    with pytest.raises(WeightsUnavailable) as info:
        load_arcface()
    exc = info.value
    assert exc.name == ARCFACE_WEIGHTS
    assert FILE in exc.reason and str(weights.cache_dir()) in exc.reason
    assert "FORGEBENCH_WEIGHTS_ARCFACE_R100_GLINT360K" in exc.reason
    assert "backbone.pth" in exc.reason and "renamed" in exc.reason
    assert weights.used_weights() == []


def test_wrong_key_set_is_unavailable(monkeypatch, random_state):
    missing = {k: v for k, v in random_state.items() if k != "fc.weight"}
    path = _save_trusted(monkeypatch, missing)
    with pytest.raises(WeightsUnavailable) as info:
        load_arcface()
    assert str(path) in info.value.reason and "fc.weight" in info.value.reason
    assert "1 missing keys" in info.value.reason and "unexpected" not in info.value.reason

    other = dict(missing)
    other["fc.weight"] = torch.zeros(512, 512)  # wrong shape
    other["head.kernel"] = torch.zeros(3)  # e.g. a margin-loss head saved with the backbone
    _save_trusted(monkeypatch, other)
    with pytest.raises(WeightsUnavailable) as info:
        load_arcface()
    reason = info.value.reason
    assert "head.kernel" in reason and "unexpected" in reason
    assert "fc.weight (512, 512) instead of (512, 25088)" in reason


def test_corrupt_or_untrusted_file_is_unavailable(monkeypatch, tmp_path):
    cache = weights.cache_dir()
    cache.mkdir(parents=True)
    good = tmp_path / "small.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 3, 3), "fc.bias": torch.zeros(512)}, good)
    data = good.read_bytes()

    (cache / FILE).write_bytes(data)  # hash not trusted: never read
    with pytest.raises(WeightsUnavailable, match="does not match"):
        load_arcface()

    (cache / FILE).write_bytes(data[: len(data) // 2])  # an interrupted copy
    _trust(monkeypatch, cache / FILE)
    with pytest.raises(WeightsUnavailable, match="truncated|corrupt") as info:
        load_arcface()
    assert FILE in info.value.reason

    torch.save(torch.zeros(3), cache / FILE)  # a torch file, but no dict
    _trust(monkeypatch, cache / FILE)
    with pytest.raises(WeightsUnavailable, match="must hold a dict"):
        load_arcface()

    torch.save({"conv1.weight": [1, 2, 3]}, cache / FILE)  # a dict, but not of tensors
    _trust(monkeypatch, cache / FILE)
    with pytest.raises(WeightsUnavailable, match="not a state dict of tensors"):
        load_arcface()
    assert weights.used_weights()[0]["name"] == ARCFACE_WEIGHTS  # resolved (hash ok), then refused


def test_align_real_frame(faces, crops):
    frame, lm = faces["d0"]
    crop = crops["d0"]
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    points = arcface_points(lm)
    np.testing.assert_allclose(points[0], lm[36:42].mean(axis=0))
    np.testing.assert_allclose(points[1], lm[42:48].mean(axis=0))
    np.testing.assert_allclose(points[2:], lm[[30, 48, 54]])
    matrix = arcface_matrix(lm)
    mapped = points @ matrix[:, :2].T + matrix[:, 2]
    eye_err = np.linalg.norm(mapped[:2] - ARCFACE_TEMPLATE[:2], axis=1)
    assert np.all(eye_err < 3.0), eye_err
    np.testing.assert_allclose(arcface_template_error(lm), np.linalg.norm(mapped - ARCFACE_TEMPLATE, axis=1))
    assert np.all(arcface_template_error(lm) < 6.0)
    # A similarity transform: equal scale on both axes, no shear.
    a, b = matrix[0, :2], matrix[1, :2]
    assert abs(np.linalg.norm(a) - np.linalg.norm(b)) < 1e-9 and abs(a @ b) < 1e-9
    # The warp applies this matrix: the crop's nose-tip pixel is the frame's.
    nose_crop = np.round(mapped[2]).astype(int)
    nose_frame = np.linalg.solve(matrix[:, :2], nose_crop - matrix[:, 2])
    x, y = np.round(nose_frame).astype(int)
    diff = np.abs(crop[nose_crop[1], nose_crop[0]].astype(int) - frame[y, x].astype(int))
    assert diff.max() <= 40, diff
    assert crop[40:100, 30:82].mean() > 20  # the face, not the black border
    # Another face aligns onto the same template too.
    assert np.all(arcface_template_error(faces["d3"][1])[:2] < 3.0)


def test_align_rejects_bad_input(faces):
    frame, lm = faces["d0"]
    with pytest.raises(ValueError, match=r"\(68, 2\)"):
        arcface_align(frame, lm[:5])
    bad = lm.copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        arcface_align(frame, bad)
    with pytest.raises(ValueError, match="uint8"):
        arcface_align(frame.astype(np.float32), lm)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        arcface_align(frame[..., 0], lm)
    with pytest.raises(ValueError, match="degenerate"):
        arcface_align(frame, np.zeros((68, 2)))
