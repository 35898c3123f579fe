"""Weights registry: unavailable / loading / hash mismatch / override paths, and FID and
LPIPS running on weights files the tests make themselves (random init, hash patched in)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from forgebench import weights
from forgebench.provenance import sha256_file
from forgebench.weights import WeightsUnavailable, resolve_weights, used_weights, weights_status

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _fresh_usage(monkeypatch):
    """Each test starts with no weights recorded as used in this process."""
    monkeypatch.setattr(weights, "_USED", {})


def _cache(tmp_home: Path) -> Path:
    path = tmp_home / "hub" / "checkpoints"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _trust(monkeypatch, name: str, path: Path) -> None:
    """Make the registry expect ``path``'s hash for ``name`` (test-made weights)."""
    entry = dataclasses.replace(weights.REGISTRY[name], sha256=sha256_file(path))
    monkeypatch.setitem(weights.REGISTRY, name, entry)


def _fake_fid_state() -> dict:
    """Random-init state dict of pytorch-fid's FID Inception-v3 (its own architecture):
    the network's loader is fed the network's own fresh weights."""
    from unittest import mock

    from pytorch_fid import inception as fid_inception

    built = []
    original = fid_inception._inception_v3

    def capture(*args, **kwargs):
        built.append(original(*args, **kwargs))
        return built[-1]

    with (
        mock.patch.object(fid_inception, "_inception_v3", capture),
        mock.patch.object(fid_inception, "load_state_dict_from_url", lambda *a, **k: built[-1].state_dict()),
    ):
        fid_inception.fid_inception_v3()
    return built[-1].state_dict()


def test_registry_entries():
    for name, file in [
        ("pt_inception", "pt_inception-2015-12-05-6726825d.pth"),
        ("alexnet", "alexnet-owt-7be5be79.pth"),
        ("vgg16", "vgg16-397923af.pth"),
    ]:
        entry = weights.get_entry(name)
        assert entry.file == file and entry.url.endswith(file)
        # The stored hash is (at least) the torch hub prefix in the file name.
        assert file.rsplit("-", 1)[1].split(".")[0].startswith(entry.sha256[:8])
    with pytest.raises(KeyError, match="registered"):
        weights.get_entry("nope")


def test_unavailable_names_file_and_cache(tmp_path):
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    with pytest.raises(WeightsUnavailable) as info:
        resolve_weights("pt_inception")
    reason = info.value.reason
    assert "pt_inception-2015-12-05-6726825d.pth" in reason and str(cache) in reason
    assert "FORGEBENCH_WEIGHTS_PT_INCEPTION" in reason
    status = weights_status("alexnet")
    assert status.startswith("unavailable: ") and "alexnet-owt-7be5be79.pth" in status


def test_hash_mismatch_is_unavailable(monkeypatch):
    cache = _cache(Path(torch.hub.get_dir()).parent)
    bad = cache / "alexnet-owt-7be5be79.pth"
    bad.write_bytes(b"truncated download")
    with pytest.raises(WeightsUnavailable, match="does not match"):
        resolve_weights("alexnet")
    assert used_weights() == []  # a rejected file is never recorded as used
    assert weights_status("alexnet").startswith("unavailable:")


def test_local_override(tmp_path, monkeypatch):
    target = tmp_path / "my_alexnet.pth"
    torch.save({"x": torch.zeros(3)}, target)
    monkeypatch.setenv("FORGEBENCH_WEIGHTS_ALEXNET", str(tmp_path / "missing.pth"))
    with pytest.raises(WeightsUnavailable, match="FORGEBENCH_WEIGHTS_ALEXNET"):
        resolve_weights("alexnet")
    monkeypatch.setenv("FORGEBENCH_WEIGHTS_ALEXNET", str(target))
    with pytest.raises(WeightsUnavailable, match="does not match"):
        resolve_weights("alexnet")  # the override is hash-checked too
    _trust(monkeypatch, "alexnet", target)
    wf = resolve_weights("alexnet")
    assert wf.path == target and wf.source == "override" and wf.sha256 == sha256_file(target)
    assert weights_status("alexnet") == "ok"
    rec = {w["name"]: w for w in used_weights()}["alexnet"]
    assert rec["sha256"] == wf.sha256 and rec["path"] == str(target) and rec["source"] == "override"


def test_lpips_loads_cached_backbone(monkeypatch, real_crops):
    from forgebench.metrics.lpips_metric import load_lpips, lpips_distance

    with pytest.raises(WeightsUnavailable):
        lpips_distance(np.stack(real_crops["d0"][:2]), np.stack(real_crops["d3"][:2]))
    import torchvision

    torch.manual_seed(0)
    path = _cache(Path(torch.hub.get_dir()).parent) / "alexnet-owt-7be5be79.pth"
    state = torchvision.models.alexnet(weights=None).state_dict()
    torch.save(state, path)
    _trust(monkeypatch, "alexnet", path)
    model, wf = load_lpips("alex")
    assert wf.source == "cache" and wf.path == path
    # The backbone really holds the file's weights (not a fresh random init).
    assert torch.equal(model.net.slice1[0].weight, state["features.0.weight"])
    a = np.stack(real_crops["d0"][:2])
    b = np.stack(real_crops["d3"][:2])
    d = lpips_distance(a, b)
    assert d.shape == (2,) and np.all(np.isfinite(d)) and np.all(d > 0)
    assert np.allclose(lpips_distance(a, a), 0, atol=1e-6)
    mask = np.zeros(a.shape[1:3], bool)
    mask[16:48, 16:48] = True
    dm = lpips_distance(a, b, mask=mask)
    assert dm.shape == (2,) and np.all(np.isfinite(dm))
    names = {w["name"] for w in used_weights()}
    assert {"alexnet", "lpips_alex_v0.1_linear"} <= names


def test_fid_loads_cached_inception(monkeypatch, real_crops):
    from forgebench.metrics.fid import fid_from_images, load_inception

    real = np.stack(real_crops["d0"][:3])
    fake = np.stack(real_crops["d9"][:3])
    with pytest.raises(WeightsUnavailable, match="pt_inception-2015-12-05-6726825d.pth"):
        fid_from_images(real, fake)
    torch.manual_seed(0)
    path = _cache(Path(torch.hub.get_dir()).parent) / "pt_inception-2015-12-05-6726825d.pth"
    state = _fake_fid_state()
    torch.save(state, path)
    _trust(monkeypatch, "pt_inception", path)
    model, wf = load_inception(dims=64)
    assert torch.equal(model.blocks[0][0].conv.weight, state["Conv2d_1a_3x3.conv.weight"])
    # dims=64 keeps the covariance small (2048-d sqrtm is slow on CPU); same weights path.
    value = fid_from_images(real, fake, dims=64)
    assert np.isfinite(value) and value > 0
    assert fid_from_images(real, real, dims=64) == pytest.approx(0, abs=1e-3)
    assert {w["name"]: w for w in used_weights()}["pt_inception"]["sha256"] == wf.sha256


def test_score_stage_writes_fid_and_kid_on_the_same_features(monkeypatch, real_crops, tmp_path):
    from forgebench.media import write_png
    from forgebench.metrics.fid import inception_features
    from forgebench.metrics.kid import kid_from_features
    from forgebench.metrics.quality import QualitySettings
    from forgebench.stages.score_rows import WeightsStatus
    from forgebench.stages.score_units import InceptionFeatures, SetUnitInputs, set_unit

    torch.manual_seed(0)
    path = _cache(Path(torch.hub.get_dir()).parent) / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(_fake_fid_state(), path)
    _trust(monkeypatch, "pt_inception", path)
    crops = {}
    for who in ("d0", "d9"):
        crops[who] = []
        for k, crop in enumerate(real_crops[who][:4]):
            crops[who].append(tmp_path / f"{who}_{k}.png")
            write_png(crops[who][-1], crop)
    real_features = inception_features(np.stack(real_crops["d0"][:4]))
    fake_features = inception_features(np.stack(real_crops["d9"][:4]))
    desc = np.random.default_rng(0).normal(size=(4, 128))
    inputs = SetUnitInputs(
        "gen",
        real_crops=crops["d0"],
        fake_crops=crops["d9"],
        real_features=InceptionFeatures(real_features, "ok"),
        real_desc=desc,
        fake_desc=desc + 0.1,
        lpips=np.array([]),
        lpips_weights=WeightsStatus("unavailable: off"),
    )
    out = set_unit(inputs, settings=QualitySettings(kid_subsets=10), device="cpu", out=tmp_path / "sets.parquet")
    sets = pd.read_parquet(out).set_index("metric")
    assert sets.loc["fid", "status"] == "ok" and sets.loc["kid", "status"] == "ok"
    assert sets.loc["kid", "weights_sha256"] == sets.loc["fid", "weights_sha256"] == sha256_file(path)
    expected = kid_from_features(real_features, fake_features, subsets=10)
    assert sets.loc["kid", "value"] == pytest.approx(expected.mean) and expected.subset_size == 4


def test_fid_rejects_wrong_state_dict(monkeypatch):
    from forgebench.metrics.fid import load_inception

    path = _cache(Path(torch.hub.get_dir()).parent) / "pt_inception-2015-12-05-6726825d.pth"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    _trust(monkeypatch, "pt_inception", path)
    with pytest.raises(WeightsUnavailable, match="not the FID Inception state dict"):
        load_inception(dims=64)
