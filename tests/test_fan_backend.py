"""The optional face-alignment 2D-FAN landmark backend (``faces.landmarks: fan``) through
the weights registry: unavailable weights, a test-made FAN(4) state_dict in the torch hub
cache or at the ``FORGEBENCH_WEIGHTS_FAN2D`` override, never a download.

The weights are random (made here), so the points are meaningless; the tests check the
loading path, that exactly the resolved file is loaded, and the shapes on a real frame.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("face_alignment")

from forgebench import weights  # noqa: E402
from forgebench.config import FacesSettings  # noqa: E402
from forgebench.errors import DataError  # noqa: E402
from forgebench.faces import FaceAnalyzer  # noqa: E402
from forgebench.media import read_frames  # noqa: E402
from forgebench.provenance import sha256_file  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _no_downloads(monkeypatch):
    """Any attempt of face-alignment to download something fails the test; each test
    starts with no weights recorded as used."""
    import face_alignment.api
    import face_alignment.utils

    def refuse(*args, **kwargs):
        raise AssertionError(f"face-alignment tried to download: {args}")

    monkeypatch.setattr(face_alignment.utils, "download_url_to_file", refuse)
    monkeypatch.setattr(face_alignment.utils, "load_file_from_url", refuse)
    monkeypatch.setattr(face_alignment.api, "load_file_from_url", refuse)
    monkeypatch.setattr(weights, "_USED", {})


@pytest.fixture(scope="module")
def frame(clips_dir) -> np.ndarray:
    """First frame of the real clip d0: ``(H, W, 3)`` uint8 RGB."""
    return read_frames(clips_dir / "d0.mp4", [0])[0]


def _fan_state(seed: int) -> dict[str, torch.Tensor]:
    """Random-init state_dict of face-alignment's own FAN(4) network."""
    from face_alignment.models import FAN

    torch.manual_seed(seed)
    return FAN(4).state_dict()


def _save_trusted(monkeypatch, path: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """Save a FAN(4) state_dict at ``path`` and make the registry expect its hash."""
    state = _fan_state(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    entry = dataclasses.replace(weights.REGISTRY["fan2d"], sha256=sha256_file(path))
    monkeypatch.setitem(weights.REGISTRY, "fan2d", entry)
    return state


def _assert_loaded(analyzer: FaceAnalyzer, state: dict[str, torch.Tensor]) -> None:
    loaded = analyzer._fan.face_alignment_net.state_dict()
    assert loaded.keys() == state.keys()
    for key in list(state)[:5] + list(state)[-5:]:
        assert torch.equal(loaded[key].cpu(), state[key]), key


def test_registry_entry():
    entry = weights.get_entry("fan2d")
    assert entry.file == "2DFAN4-11f355bf06.pth.tar"
    assert entry.url.endswith("/" + entry.file)
    assert entry.sha256 == "11f355bf06"


def test_missing_weights_raise_data_error():
    with pytest.raises(DataError) as info:
        FaceAnalyzer(FacesSettings(landmarks="fan"))
    message = str(info.value)
    assert "2DFAN4-11f355bf06.pth.tar" in message
    assert str(weights.cache_dir()) in message and "FORGEBENCH_WEIGHTS_FAN2D" in message
    assert "faces.landmarks: dlib" in message


def test_wrong_hash_is_not_used():
    cache = weights.cache_dir()
    cache.mkdir(parents=True)
    torch.save(_fan_state(0), cache / "2DFAN4-11f355bf06.pth.tar")  # hash not trusted
    with pytest.raises(DataError, match="does not match"):
        FaceAnalyzer(FacesSettings(landmarks="fan"))


def test_not_a_fan_state_dict(monkeypatch, tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(3)}, path)
    monkeypatch.setenv("FORGEBENCH_WEIGHTS_FAN2D", str(path))
    monkeypatch.setitem(
        weights.REGISTRY, "fan2d", dataclasses.replace(weights.REGISTRY["fan2d"], sha256=sha256_file(path))
    )
    with pytest.raises(DataError, match="other.pth"):
        FaceAnalyzer(FacesSettings(landmarks="fan"))


def test_cached_weights_give_68_landmarks(monkeypatch, frame):
    state = _save_trusted(monkeypatch, weights.cache_dir() / "2DFAN4-11f355bf06.pth.tar")
    analyzer = FaceAnalyzer(FacesSettings(landmarks="fan", crop_size=64))
    _assert_loaded(analyzer, state)
    face = analyzer.detect(frame)
    assert face is not None
    assert face.landmarks.shape == (68, 2) and face.landmarks.dtype == np.float64
    assert np.isfinite(face.landmarks).all()
    # The box is dlib's (the same as the default backend finds), not face-alignment's.
    dlib_face = FaceAnalyzer(FacesSettings(crop_size=64)).detect(frame)
    np.testing.assert_allclose(face.bbox, dlib_face.bbox)
    assert face.crop(frame).shape == (64, 64, 3)
    used = {u["name"]: u for u in weights.used_weights()}
    assert used["fan2d"]["source"] == "cache"


def test_override_file_is_the_one_loaded(monkeypatch, tmp_path):
    # A different (also valid-looking) file sits in the cache; the override must win.
    cache_file = weights.cache_dir() / "2DFAN4-11f355bf06.pth.tar"
    cache_file.parent.mkdir(parents=True)
    torch.save(_fan_state(1), cache_file)
    override = tmp_path / "my_fan.pth.tar"
    state = _save_trusted(monkeypatch, override, seed=2)
    monkeypatch.setenv("FORGEBENCH_WEIGHTS_FAN2D", str(override))
    analyzer = FaceAnalyzer(FacesSettings(landmarks="fan"))
    _assert_loaded(analyzer, state)
    used = {u["name"]: u for u in weights.used_weights()}
    assert used["fan2d"]["source"] == "override" and used["fan2d"]["path"] == str(override)
