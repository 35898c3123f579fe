"""The detector zoo: every registered detector builds, scores real face crops and trains.

Real aligned crops of the sample clips (64 px, ``real_crops`` fixture) are enlarged to
96 px with ``torch.nn.functional.interpolate``; batches of 2 keep the timm backbones fast
on a 2-core CPU. No weights are downloaded: TORCH_HOME and HF_HOME are empty temporary
folders (tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from forgebench.detectors import create_detector, detector_input_size, get_detector_cfg, list_detectors
from forgebench.fileio import sha256_file

SIZE = 96  # small input every detector accepts (min_input_size is 32 for all)

#: Paper / FaceForensics++ input sizes (pixels) the zoo must keep.
INPUT_SIZES = {
    "meso4": 256,
    "mesoinception4": 256,
    "efficientnet_b0": 224,
    "efficientnet_b4": 380,
    "resnet50": 224,
    "xception": 299,
    "srm_cnn": 256,
}
TIMM = ("efficientnet_b0", "efficientnet_b4", "resnet50", "xception")


TORCH_THREADS = 1
pytestmark = pytest.mark.usefixtures("torch_threads")


@pytest.fixture(scope="module")
def batch(real_crops) -> torch.Tensor:
    """Two real face crops of two identities, ``(2, 3, SIZE, SIZE)`` float in [0, 1]."""
    crops = np.stack([real_crops["d0"][0], real_crops["d18"][0]])  # (2, 64, 64, 3) uint8
    x = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255.0
    x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False, antialias=False)
    return x.clamp(0.0, 1.0)


def test_zoo_names_and_input_sizes():
    assert set(INPUT_SIZES) <= set(list_detectors())
    for name, size in INPUT_SIZES.items():
        assert detector_input_size(name) == size, name
    assert get_detector_cfg("xception").mean == pytest.approx((0.5, 0.5, 0.5))
    assert get_detector_cfg("xception").std == pytest.approx((0.5, 0.5, 0.5))
    for name in ("efficientnet_b4", "resnet50"):
        assert get_detector_cfg(name).mean == pytest.approx((0.485, 0.456, 0.406))


def test_xception_is_the_legacy_timm_model_when_available():
    import timm

    tag = "legacy_xception.tf_in1k" if timm.list_models("legacy_xception") else "xception41.tf_in1k"
    assert get_detector_cfg("xception").pretrained_source == f"timm:{tag}"


@pytest.mark.parametrize("name", list_detectors())
def test_detector_scores_real_crops_and_trains_one_step(name, batch):
    torch.manual_seed(0)
    model = create_detector(name)
    cfg = get_detector_cfg(name)
    if (
        cfg.min_input_size > SIZE
    ):  # a network that takes its own size only (DeepfakeBench's Meso, Face X-ray, F3-Net, SRM)
        batch = F.interpolate(
            batch, size=(cfg.min_input_size, cfg.min_input_size), mode="bilinear", align_corners=False
        )
    assert model.default_cfg["input_size"] == cfg.input_size and model.detector_name == name
    assert torch.allclose(model.mean.flatten(), torch.tensor(cfg.mean))
    assert torch.allclose(model.std.flatten(), torch.tensor(cfg.std))
    y = torch.tensor([0.0, 1.0])
    model.eval()
    with torch.no_grad():
        logits = model(batch)
    assert logits.shape == (2,) and logits.dtype == torch.float32 and torch.isfinite(logits).all()
    eval_loss = F.binary_cross_entropy_with_logits(logits, y)

    model.train()
    # frozen parameters (requires_grad=False: stored entries a network never uses, fixed filters) are not trained
    trainable = {k: p for k, p in model.named_parameters() if p.requires_grad}
    before = {k: p.detach().clone() for k, p in trainable.items()}
    opt = torch.optim.AdamW(trainable.values(), lr=1e-3)
    # stochastic depth (dfb_efficientnetb4's drop-connect, per sample) may skip a block for both crops of
    # the batch, leaving it without gradient for this one step: a seed with which no block is skipped
    torch.manual_seed(1)
    loss = F.binary_cross_entropy_with_logits(model(batch), y)
    loss.backward()
    assert torch.isfinite(loss)
    grads = {k: p.grad for k, p in trainable.items()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values()), name
    assert any(g.abs().sum() > 0 for g in grads.values())
    opt.step()
    unchanged = [k for k, p in trainable.items() if torch.equal(p, before[k])]
    assert not unchanged, f"{name}: parameters not updated: {unchanged[:5]}"
    with torch.no_grad():
        after = F.binary_cross_entropy_with_logits(model.eval()(batch), y)
    assert torch.isfinite(after) and after != eval_loss


def test_mesoinception4_is_the_paper_network():
    model = create_detector("mesoinception4").eval()
    # Afchar et al. 2018 report 28,615 trainable parameters for MesoInception-4.
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 28615
    assert model.features(torch.rand(1, 3, 256, 256)).shape == (1, 16, 8, 8)  # 1024 inputs to the head
    # no pretrained weights exist for it: pretrained=True (the config's default) trains from scratch, and says so
    scratch = create_detector("mesoinception4", pretrained=True)
    assert "no pretrained weights" in scratch.pretrained_note and scratch.weights_origin == "none"
    assert scratch.pretrained_loaded is False and scratch.pretrained_sha256 is None


def test_srm_kernels_are_the_fixed_high_pass_filters():
    from forgebench.detectors.frequency import SRMFilter, srm_kernels

    k = srm_kernels(3)
    assert k.shape == (3, 3, 5, 5)
    assert torch.equal(k[:, 0], k[:, 1]) and torch.equal(k[:, 0], k[:, 2])  # same kernel on R, G, B
    assert k[0, 0, 2, 2] == -1.0 and k[1, 0, 2, 2] == -1.0 and k[2, 0, 2, 2] == -1.0  # -4/4, -12/12, -2/2
    assert torch.allclose(k.sum(dim=(1, 2, 3)), torch.zeros(3), atol=1e-6)  # high-pass
    srm = SRMFilter(3, truncation=3.0)
    flat = srm(torch.full((1, 3, 16, 16), 0.3))
    assert flat[..., 2:-2, 2:-2].abs().max() < 1e-6  # no residual away from the zero-padded border
    assert srm(torch.randn(2, 3, 16, 16) * 100).abs().max() <= 3.0  # truncation
    model = create_detector("srm_cnn")
    assert not any("srm" in k for k in model.state_dict())  # constants, not weights
    assert all(not p.requires_grad or not n.startswith("srm") for n, p in model.named_parameters())
    scratch = create_detector("srm_cnn", pretrained=True)  # none exist: from scratch, origin none
    assert "no pretrained weights" in scratch.pretrained_note and scratch.weights_origin == "none"
    with pytest.raises(ValueError, match="truncation"):
        create_detector("srm_cnn", truncation=0)


@pytest.mark.parametrize("name", [n for n in TIMM if n != "efficientnet_b0"])
def test_new_timm_backbones_use_cached_weights_only(name):
    from forgebench.weights import WeightsUnavailable

    with pytest.raises(WeightsUnavailable, match="no pretrained weights file found"):
        create_detector(name, pretrained=True)
    model = create_detector(name, pretrained=False)
    assert model.pretrained_loaded is False and model.pretrained_file is None and model.weights_origin == "none"


def test_xception_loads_weights_from_the_torch_hub_cache(monkeypatch):
    import timm

    from forgebench.detectors import timm_backbones

    tag = get_detector_cfg("xception").pretrained_source.removeprefix("timm:")
    torch.manual_seed(1)
    state = timm.create_model(tag.split(".")[0], pretrained=False).state_dict()  # 1000-class head
    url = timm.models.get_pretrained_cfg(tag).url
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    # a file made here cannot match the hash prefix in timm's file name
    monkeypatch.setattr(timm_backbones, "_hash_prefix_ok", lambda p, d: True)
    model = create_detector("xception", pretrained=True)
    assert model.pretrained_loaded is True and model.pretrained_file == str(path)
    assert model.weights_origin == f"imagenet:{sha256_file(path)}"
    first = next(k for k in state if k.endswith("weight"))
    assert torch.equal(model.model.state_dict()[first], state[first])
