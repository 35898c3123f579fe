"""Pure quality and identity metrics on real face crops and frames of the sample clips."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from forgebench.config import FacesSettings
from forgebench.faces import FaceAnalyzer
from forgebench.faces.align import template_in_crop
from forgebench.media import iter_frames, probe, sample_indices
from forgebench.metrics.identity import (
    cosine_similarity,
    frechet_distance_features,
    id_retrieval,
    identity_means,
    nearest_reference,
)
from forgebench.metrics.quality import QualitySettings, face_mask, landmark_distance, masked_psnr, masked_ssim

CROP = 64


@pytest.fixture(scope="module")
def mask():
    return face_mask(template_in_crop(CROP, 1.3), CROP)


@pytest.fixture(scope="module")
def descriptors(clips_dir):
    """dlib descriptors of 4 frames of three clips: ``{identity: (4, 128)}``."""
    analyzer = FaceAnalyzer(FacesSettings(crop_size=CROP))
    out = {}
    for name in ("d0", "d3", "d9"):
        clip = clips_dir / f"{name}.mp4"
        desc = []
        for _, frame in iter_frames(clip, indices=sample_indices(probe(clip).n_frames, 4)):
            face = analyzer.detect(frame)
            assert face is not None
            desc.append(analyzer.descriptor(frame, face))
        out[name] = np.stack(desc)
    return out


def _noisy(img: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, img.shape)
    return np.clip(img.astype(np.float64) + noise, 0, 255).astype(np.uint8)


def test_settings_defaults_and_strict():
    s = QualitySettings()
    assert (s.frames_per_video, s.fid, s.lpips, s.batch_size) == (16, True, True, 16)
    with pytest.raises(ValidationError):
        QualitySettings(unknown=1)
    with pytest.raises(ValidationError):
        QualitySettings(frames_per_video=0)


def test_face_mask_is_the_landmark_hull(mask):
    assert mask.shape == (CROP, CROP) and mask.dtype == bool
    pts = template_in_crop(CROP, 1.3)
    # The nose tip is inside, the crop corners outside; the face covers a good share.
    x, y = np.round(pts[30]).astype(int)
    assert mask[y, x] and not mask[0, 0] and not mask[-1, -1]
    assert 0.25 < mask.mean() < 0.7
    assert face_mask(pts, (CROP, CROP + 10)).shape == (CROP, CROP + 10)
    with pytest.raises(ValueError):
        face_mask(pts[:2], CROP)


def test_ssim_with_a_mask_of_ones_equals_scikit_image(real_crops, mask):
    from skimage.metrics import structural_similarity

    a, b = real_crops["d0"][0], real_crops["d0"][3]
    expected = structural_similarity(
        a, b, channel_axis=2, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert masked_ssim(a, b, np.ones(a.shape[:2], bool)) == pytest.approx(expected, abs=1e-12)
    border = np.zeros(a.shape[:2], bool)
    border[:3] = True
    with pytest.raises(ValueError, match="border"):
        masked_ssim(a, b, border)


def test_masked_ssim_on_real_crops(real_crops, mask):
    crop = real_crops["d0"][0]
    assert masked_ssim(crop, crop, mask) == pytest.approx(1.0)
    values = [masked_ssim(crop, _noisy(crop, s), mask) for s in (2, 8, 32)]
    assert 1 > values[0] > values[1] > values[2] > 0
    # Noise outside the mask does not count.
    outside = np.where(mask[..., None], crop, _noisy(crop, 40))
    assert masked_ssim(crop, outside, mask) > masked_ssim(crop, outside, np.ones_like(mask))
    # Another person scores lower than the same person a few frames later.
    same = masked_ssim(crop, real_crops["d0"][1], mask)
    other = masked_ssim(crop, real_crops["d12"][0], mask)
    assert same > other
    with pytest.raises(ValueError, match="empty"):
        masked_ssim(crop, crop, np.zeros_like(mask))
    with pytest.raises(ValueError):
        masked_ssim(crop, crop[:32], mask)


def test_masked_psnr(real_crops, mask):
    crop = real_crops["d3"][0]
    assert masked_psnr(crop, crop, mask) == np.inf
    # Known error: +10 on every pixel -> 20 log10(255 / 10) dB.
    dim = crop // 2
    assert masked_psnr(dim, dim + 10, mask) == pytest.approx(20 * np.log10(25.5), abs=1e-9)
    assert masked_psnr(crop, _noisy(crop, 4), mask) > masked_psnr(crop, _noisy(crop, 16), mask) > 10
    # A float mask weights the pixels.
    half = mask * 0.5
    assert masked_psnr(crop, _noisy(crop, 8), half) == pytest.approx(masked_psnr(crop, _noisy(crop, 8), mask))


def test_landmark_distance_zero_and_scale_invariant():
    ref = template_in_crop(256, 1.3)
    assert landmark_distance(ref, ref) == 0.0
    rng = np.random.default_rng(1)
    pred = ref + rng.normal(0, 2, ref.shape)
    d = landmark_distance(pred, ref)
    assert d > 0
    assert landmark_distance(pred * 3 + 7, ref * 3 + 7) == pytest.approx(d)
    # Shifting every point by the inter-ocular distance gives exactly 1.
    iod = np.linalg.norm(ref[36] - ref[45])
    assert landmark_distance(ref + [iod, 0], ref) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        landmark_distance(ref[:5], ref)
    with pytest.raises(ValueError, match="inter-ocular"):
        landmark_distance(ref, np.zeros((68, 2)))


def test_identity_similarity_on_real_faces(descriptors):
    d0, d3 = descriptors["d0"], descriptors["d3"]
    assert cosine_similarity(d0[0], d0[0]) == pytest.approx(1.0)
    same = np.mean([cosine_similarity(d0[0], d0[i]) for i in range(1, 4)])
    other = np.mean([cosine_similarity(d0[0], d3[i]) for i in range(4)])
    assert same > other
    assert cosine_similarity(d0, d3).shape == (4,)
    means = identity_means(descriptors)
    assert set(means) == {"d0", "d3", "d9"} and means["d0"].shape == (128,)
    # retrieval against every reference frame (FaceShifter), leaving the query frames out
    ref = np.concatenate([d0[1:], d3[1:], descriptors["d9"]])
    ids = ["d0"] * (len(d0) - 1) + ["d3"] * (len(d3) - 1) + ["d9"] * len(descriptors["d9"])
    assert nearest_reference(np.stack([d0[0], d3[0]]), ref, ids) == ["d0", "d3"]
    assert id_retrieval(d3[:1], "d3", ref, ids) == 1.0 and id_retrieval(d3[:1], "d0", ref, ids) == 0.0
    with pytest.raises(ValueError, match="no reference frame"):
        id_retrieval(d3, "dx", ref, ids)
    with pytest.raises(ValueError, match="zero vector"):
        cosine_similarity(np.zeros(128), d0[0])


def test_frechet_distance_features(descriptors):
    d0, d3 = descriptors["d0"], descriptors["d3"]
    assert frechet_distance_features(d0, d0) == pytest.approx(0.0, abs=1e-6)
    between = frechet_distance_features(d0, d3)
    assert between > 0
    # Translating both sets does not change the distance; translating one does.
    assert frechet_distance_features(d0 + 1, d3 + 1) == pytest.approx(between, rel=1e-4)
    assert frechet_distance_features(d0, d0 + 0.5) == pytest.approx(0.25 * 128, rel=1e-4)
    with pytest.raises(ValueError, match=">= 2 samples"):
        frechet_distance_features(d0[:1], d3)


def test_kid_equals_torch_fidelity_on_the_same_features():
    torch_fidelity = pytest.importorskip("torch_fidelity.metric_kid")
    import torch

    from forgebench.metrics.kid import kid_from_features, polynomial_mmd2

    rng = np.random.default_rng(0)
    real = rng.normal(size=(60, 2048))
    fake = rng.normal(size=(50, 2048)) * 1.1 + 0.05
    ours = kid_from_features(real, fake, subsets=20, subset_size=40)
    theirs = torch_fidelity.kid_features_to_metric(
        torch.from_numpy(real), torch.from_numpy(fake), kid_subsets=20, kid_subset_size=40, verbose=False
    )
    assert ours.mean == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-12, abs=1e-15)
    assert ours.std == pytest.approx(theirs["kernel_inception_distance_std"], rel=1e-9)
    # unbiased: about 0 between two samples of one distribution, clearly above for shifted ones
    a, b = rng.normal(size=(200, 64)), rng.normal(size=(200, 64))
    same, shifted = (kid_from_features(a, other, subsets=10, subset_size=100) for other in (b, b + 0.5))
    assert abs(same.mean) < 0.05 * shifted.mean and polynomial_mmd2(a, b + 0.5) == pytest.approx(shifted.mean, rel=0.2)
    assert kid_from_features(real, fake[:5], subsets=2).subset_size == 5  # capped at the smaller set
    with pytest.raises(ValueError, match=">= 2 feature rows"):
        kid_from_features(real, fake[:1])
    with pytest.raises(ValueError, match=r"\(N, D\) and \(M, D\)"):
        kid_from_features(real, fake[:, :10])
