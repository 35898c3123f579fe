"""Shared test fixtures: the real sample clips, an offline hub, few threads."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")
# forgebench's user cache (the serialised dlib HOG detector): a fresh folder, not the user's
os.environ.setdefault("FORGEBENCH_CACHE_DIR", tempfile.mkdtemp(prefix="forgebench_test_cache_"))

REPO = Path(__file__).resolve().parents[1]


def _clips_dir() -> Path:
    env = os.environ.get("FORGEBENCH_DATA_DIR")
    if env:
        return Path(env)
    return REPO.parent / "shared" / "data" / "clips"


@pytest.fixture(scope="session")
def clips_dir() -> Path:
    """Folder with the six real sample clips (d0, d3, d9, d12, d18, d19 .mp4)."""
    path = _clips_dir()
    if not (path / "d0.mp4").is_file():
        pytest.fail(f"sample clips not found in {path}; set FORGEBENCH_DATA_DIR")
    return path


@pytest.fixture(autouse=True)
def _offline_torch_home(tmp_path_factory, monkeypatch):
    """Every test gets an empty TORCH_HOME, so no weights leak in from the machine."""
    home = tmp_path_factory.mktemp("torch_home")
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    yield


@pytest.fixture(scope="session")
def real_crops(clips_dir):
    """Aligned 64-px face crops of the real clips: ``{identity: [(64, 64, 3) uint8, ...]}``,
    8 frames per clip, made with the default dlib pipeline."""
    from forgebench.config import FacesSettings
    from forgebench.faces import FaceAnalyzer
    from forgebench.media import iter_frames, probe, sample_indices

    analyzer = FaceAnalyzer(FacesSettings(crop_size=64))
    out = {}
    for clip in sorted(clips_dir.glob("*.mp4")):
        crops = []
        idx = sample_indices(probe(clip).n_frames, 8)
        for _, frame in iter_frames(clip, indices=idx):
            face = analyzer.detect(frame)
            if face is not None:
                crops.append(face.crop(frame))
        out[clip.stem] = crops
    return out


@pytest.fixture
def torch_threads(request):
    """Torch's CPU thread count for one test: the module's ``TORCH_THREADS`` (default 2),
    restored afterwards. Use with ``pytestmark = pytest.mark.usefixtures("torch_threads")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(getattr(request.module, "TORCH_THREADS", 2))
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def videos_dir(clips_dir, tmp_path_factory):
    """The six clips plus a non-video file and a video with no face in it."""
    from tiny_pipeline import make_videos_dir

    return make_videos_dir(clips_dir, tmp_path_factory.mktemp("videos"))


@pytest.fixture(scope="session")
def tiny_run(videos_dir, tmp_path_factory):
    """The tiny end-to-end run directory (``tests/tiny_pipeline.py``), built once per
    session. Tests that write into a run copy it first (``shutil.copytree``)."""
    from tiny_pipeline import build_tiny_run

    return build_tiny_run(videos_dir, tmp_path_factory.mktemp("run"))
