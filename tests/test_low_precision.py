"""bfloat16 autocast and channels-last conversion (what the generators use on CUDA with
``low_precision``) stays within each generator's stated tolerance of float32, checked on
the CPU with briefly trained tiny models on real crops of the sample clips."""

from __future__ import annotations

import numpy as np
import pytest
from test_fomm_generator import TINY_PARAMS

from forgebench.config import FacesSettings
from forgebench.faces import FaceAnalyzer
from forgebench.generators import get_generator
from forgebench.media import iter_frames, probe, sample_indices

pytestmark = pytest.mark.usefixtures("torch_threads")


@pytest.fixture(scope="module")
def faces(clips_dir):
    analyzer = FaceAnalyzer(FacesSettings(crop_size=64))
    crops, points = {}, {}
    for name in ("d0", "d3"):
        video = clips_dir / f"{name}.mp4"
        crops[name], points[name] = [], []
        for _, frame in iter_frames(video, indices=sample_indices(probe(video).n_frames, 8)):
            face = analyzer.detect(frame)
            crops[name].append(face.crop(frame))
            points[name].append(face.landmarks_crop)
    return analyzer, crops, points


def _within(gen, fp32: np.ndarray, bf16: np.ndarray) -> None:
    diff = np.abs(fp32.astype(int) - bf16.astype(int))
    assert diff.max() <= gen.LOW_PRECISION_TOLERANCE and diff.mean() < 1.0, (diff.max(), diff.mean())


def test_swap_within_tolerance(faces):
    analyzer, crops, _ = faces
    gen = get_generator("autoencoder_swap")(
        {"iterations": 30, "batch_size": 4, "encoder_dim": 64, "width": 0.25}, analyzer, "cpu", 0
    )
    gen.fit(crops, progress=False)
    gen.check_ready("d0", "d3")
    fp32 = np.stack(gen.swap_crops(crops["d0"], "d3"))
    gen.force_low_precision = True
    assert gen.use_low_precision
    _within(gen, fp32, np.stack(gen.swap_crops(crops["d0"], "d3")))


def test_pix2pix_within_tolerance(faces):
    analyzer, crops, points = faces
    gen = get_generator("pix2pix_reenact")(
        {"image_size": 64, "ngf": 8, "ndf": 8, "epochs": 2, "eval_mode": True}, analyzer, "cpu", 0
    )
    gen.fit({"d0": crops["d0"]}, progress=False, landmarks={"d0": points["d0"]})
    fp32 = gen.render(points["d0"])
    gen.force_low_precision = True
    _within(gen, fp32, gen.render(points["d0"]))


def test_fomm_within_tolerance(faces):
    analyzer, crops, _ = faces
    gen = get_generator("fomm")(
        {"image_size": 32, "iterations": 3, "batch_size": 2, "model_params": TINY_PARAMS}, analyzer, "cpu", 0
    )
    gen.set_splits({"d0": "train", "d3": "train"})
    gen.fit(crops, progress=False)
    fp32 = np.stack(gen._animate(crops["d0"][0], crops["d3"], True, 0, 64))
    gen.force_low_precision = True
    _within(gen, fp32, np.stack(gen._animate(crops["d0"][0], crops["d3"], True, 0, 64)))
