"""First Order Motion Model: checkpoint compatibility, keypoints, training step, animation.

Everything but the vox-256 state_dict test uses a tiny model on 64x64 frames of a real clip.
"""

from __future__ import annotations

import ast
import datetime
import math
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from forgebench.errors import DataError
from forgebench.generators.fomm import model as fomm_model
from forgebench.generators.fomm import motion as fomm_motion
from forgebench.generators.fomm.model import build_fomm, load_checkpoint
from forgebench.generators.fomm.motion import (
    Transform,
    Vgg19Features,
    animate,
    best_frame,
    equivariance_losses,
    generator_full_step,
    normalize_kp,
    perceptual_loss,
)

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "fomm_vox256_state_dict.txt"

TINY = {
    "common_params": {"num_kp": 4, "num_channels": 3, "estimate_jacobian": True},
    "kp_detector_params": {
        "temperature": 0.1,
        "block_expansion": 8,
        "max_features": 64,
        "scale_factor": 0.5,
        "num_blocks": 3,
    },
    "generator_params": {
        "block_expansion": 8,
        "max_features": 64,
        "num_down_blocks": 2,
        "num_bottleneck_blocks": 1,
        "estimate_occlusion_map": True,
        "dense_motion_params": {"block_expansion": 8, "max_features": 64, "num_blocks": 3, "scale_factor": 0.5},
    },
    "discriminator_params": {"scales": [1], "block_expansion": 8, "max_features": 64, "num_blocks": 4, "sn": True},
}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models gain nothing from threads, and spinning threads crawl on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def reference_shapes() -> dict[str, tuple[int, ...]]:
    """``{'generator.first.conv.weight': (64, 3, 7, 7), ...}`` from the reference list."""
    if not REFERENCE.is_file():
        pytest.skip(f"the official FOMM state_dict list {REFERENCE} is absent (shared/reference is outside the repo)")
    shapes = {}
    for line in REFERENCE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, shape = line.split(" ", 1)
            shapes[name] = tuple(int(d) for d in re.findall(r"\d+", shape))
    return shapes


@pytest.fixture(scope="module")
def frames(clips_dir) -> torch.Tensor:
    """Six frames of d0.mp4, centre-cropped square, 64x64: ``(6, 3, 64, 64)`` float in [0, 1]."""
    from forgebench.media import read_frames

    decoded = read_frames(clips_dir / "d0.mp4", [0, 6, 12, 18, 24, 30])
    out = []
    for _, rgb in sorted(decoded.items()):
        h, w = rgb.shape[:2]
        side = min(h, w)
        crop = rgb[(h - side) // 2 : (h + side) // 2, (w - side) // 2 : (w + side) // 2]
        out.append(cv2.resize(crop, (64, 64), interpolation=cv2.INTER_AREA))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 255.0


def test_vox256_state_dict_equals_reference_and_official_layout_loads(tmp_path):
    ref = reference_shapes()
    modules = build_fomm()
    ours = {f"{name}.{key}": tuple(v.shape) for name, m in modules.items() for key, v in m.state_dict().items()}
    assert sorted(set(ref) - set(ours)) == [] and sorted(set(ours) - set(ref)) == []
    assert ours == ref
    del modules
    gen = torch.Generator().manual_seed(0)
    ckpt: dict = {"generator": {}, "kp_detector": {}, "discriminator": {}}
    for name, shape in ref.items():
        module, key = name.split(".", 1)
        counter = key.endswith("num_batches_tracked")
        ckpt[module][key] = torch.tensor(3) if counter else torch.randn(shape, generator=gen)
    group = {"lr": 2e-4, "betas": (0.5, 0.999), "eps": 1e-8, "weight_decay": 0, "amsgrad": False, "params": [0, 1]}
    for opt in ("optimizer_generator", "optimizer_discriminator", "optimizer_kp_detector"):
        ckpt[opt] = {"state": {0: {"step": 5, "exp_avg": torch.zeros(2)}}, "param_groups": [group]}
    ckpt["epoch"] = 99
    path = tmp_path / "vox-cpk.pth.tar"
    torch.save(ckpt, path)
    loaded = load_checkpoint(path)
    assert set(loaded) == {"generator", "kp_detector", "discriminator"}
    for name, module in loaded.items():
        assert not module.training
        state = module.state_dict()
        assert all(torch.equal(state[k], v) for k, v in ckpt[name].items())


def test_checkpoint_yaml_config_legacy_format_and_errors(tmp_path):
    torch.manual_seed(0)
    ckpt = {name: m.state_dict() for name, m in build_fomm(TINY).items()}
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({"model_params": TINY, "train_params": {"scales": [1, 0.5]}}))
    legacy = tmp_path / "legacy.pth.tar"  # the pre-1.6 serialisation of the official files
    torch.save({**ckpt, "epoch": 1}, legacy, _use_new_zipfile_serialization=False)
    loaded = load_checkpoint(legacy, config=config)
    assert torch.equal(loaded["kp_detector"].kp.weight, ckpt["kp_detector"]["kp.weight"])
    no_disc = tmp_path / "no_disc.pth"
    torch.save({"generator": ckpt["generator"], "kp_detector": ckpt["kp_detector"]}, no_disc)
    assert set(load_checkpoint(no_disc, config=TINY)) == {"generator", "kp_detector"}

    bad = tmp_path / "bad.pth.tar"
    torch.save({**ckpt, "kp_detector": {**ckpt["kp_detector"], "kp.weight": torch.zeros(5, 35, 7, 7)}}, bad)
    with pytest.raises(DataError, match=r"bad\.pth\.tar.*kp_detector.*kp\.weight"):
        load_checkpoint(bad, config=TINY)
    with pytest.raises(DataError, match=r"no_disc\.pth: .generator. does not match"):  # vox-256 config, tiny weights
        load_checkpoint(no_disc)
    unsafe = tmp_path / "unsafe.pth.tar"
    torch.save({**ckpt, "epoch": datetime.date(2020, 1, 1)}, unsafe)
    with pytest.raises(DataError, match=r"unsafe\.pth\.tar: refused for safety"):
        load_checkpoint(unsafe, config=TINY)
    with pytest.raises(DataError, match=r"absent\.pth\.tar"):
        load_checkpoint(tmp_path / "absent.pth.tar")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(DataError, match=r"text\.pth"):
        load_checkpoint(tmp_path / "text.pth")


def test_keypoints_deterministic_and_identity_transform_is_equivariant(frames):
    torch.manual_seed(0)
    kp_detector = build_fomm(TINY)["kp_detector"].eval()
    torch.nn.init.normal_(kp_detector.jacobian.weight, std=0.01)  # jacobians other than identity
    x = frames[:2]
    with torch.no_grad():
        a, b = kp_detector(x), kp_detector(x.clone())
    assert a["value"].shape == (2, 4, 2) and a["jacobian"].shape == (2, 4, 2, 2)
    assert torch.equal(a["value"], b["value"]) and torch.equal(a["jacobian"], b["jacobian"])
    assert float(a["value"].abs().max()) <= 1.0
    identity = Transform(2, sigma_affine=0.0, sigma_tps=0.0, points_tps=5)
    transformed = identity.transform_frame(x)
    assert torch.allclose(transformed, x, atol=1e-5)
    with torch.no_grad():
        losses = equivariance_losses(a, kp_detector(transformed), identity)
    assert float(losses["equivariance_value"]) < 1e-5 and float(losses["equivariance_jacobian"]) < 1e-4

    # The TPS Jacobian agrees with finite differences.
    warp = Transform(2, sigma_affine=0.05, sigma_tps=0.005, points_tps=5, generator=torch.Generator().manual_seed(3))
    z = torch.rand(2, 6, 2, dtype=torch.float64) * 1.6 - 0.8
    jac, eps = warp.jacobian(z), 1e-6
    for j in range(2):
        step = torch.zeros_like(z)
        step[..., j] = eps
        numeric = (warp.warp_coordinates(z + step) - warp.warp_coordinates(z - step)) / (2 * eps)
        assert torch.allclose(jac[..., :, j], numeric, atol=1e-5)


def test_training_steps_lower_the_loss_on_real_frames(frames):
    torch.manual_seed(0)
    modules = {k: m.train() for k, m in build_fomm(TINY).items() if k != "discriminator"}
    optimizer = torch.optim.Adam([p for m in modules.values() for p in m.parameters()], lr=2e-3, betas=(0.5, 0.999))
    source, driving = frames[[0, 1, 2]], frames[[3, 4, 5]]

    def evaluate() -> float:
        with torch.no_grad():
            total, _, _ = generator_full_step(modules, source, driving, rng=torch.Generator().manual_seed(1))
        return float(total)

    before = evaluate()
    for step in range(20):
        optimizer.zero_grad()
        total, losses, generated = generator_full_step(
            modules, source, driving, rng=torch.Generator().manual_seed(100 + step)
        )
        total.backward()
        optimizer.step()
    assert set(losses) == {"pyramid_l1", "equivariance_value", "equivariance_jacobian"}
    assert generated["prediction"].shape == driving.shape
    after = evaluate()
    assert math.isfinite(after) and after < before, (before, after)


def test_gan_and_perceptual_losses(frames):
    torch.manual_seed(0)
    modules = build_fomm(TINY)
    weights = {"generator_gan": 1.0, "equivariance_value": 0, "equivariance_jacobian": 0}
    total, losses, _ = generator_full_step(modules, frames[:2], frames[2:4], loss_weights=weights)
    assert set(losses) == {"pyramid_l1", "gen_gan", "feature_matching"} and torch.isfinite(total)
    total.backward()
    # Vgg19Features takes caller-provided weights (made here; real runs pass torchvision's file).
    made = {
        f"features.{i}.{p}": torch.randn(o, c, 3, 3) * 0.05 if p == "weight" else torch.zeros(o)
        for i, c, o in [
            (0, 3, 64),
            (2, 64, 64),
            (5, 64, 128),
            (7, 128, 128),
            (10, 128, 256),
            (12, 256, 256),
            (14, 256, 256),
            (16, 256, 256),
            (19, 256, 512),
            (21, 512, 512),
            (23, 512, 512),
            (25, 512, 512),
            (28, 512, 512),
        ]
        for p in ("weight", "bias")
    }
    vgg = Vgg19Features(made)
    features = vgg(frames[:1])
    assert [f.shape[1] for f in features] == [64, 128, 256, 512, 512]
    value = perceptual_loss(vgg, frames[:1], frames[1:2], scales=(1, 0.5))
    assert value.ndim == 0 and float(value) > 0
    with pytest.raises(DataError, match="VGG-19"):
        Vgg19Features({k: v for k, v in made.items() if not k.startswith("features.28.")})


def test_animate_relative_and_absolute(frames):
    torch.manual_seed(0)
    modules = {k: m.eval() for k, m in build_fomm(TINY).items()}
    source, driving = frames[:1], frames[1:4]
    for relative in (True, False):
        out = animate(source, driving, modules, relative=relative, adapt_movement_scale=True, batch_size=2)
        assert out.shape == (3, 3, 64, 64) and out.dtype == torch.float32
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    one_by_one = animate(source, driving, modules, relative=False, batch_size=1)
    assert torch.allclose(one_by_one, out, atol=1e-5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        animate(source * 255, driving, modules)
    with torch.no_grad():
        kp_s, kp_d = modules["kp_detector"](source), modules["kp_detector"](driving[:1])
    same = normalize_kp(
        kp_s, kp_d, kp_d, adapt_movement_scale=True, use_relative_movement=True, use_relative_jacobian=True
    )
    assert torch.allclose(same["value"], kp_s["value"], atol=1e-6)
    assert torch.allclose(same["jacobian"], kp_s["jacobian"], atol=1e-5)


def test_best_frame_ignores_position_and_scale():
    rng = np.random.default_rng(0)
    source = rng.uniform(50, 200, size=(68, 2))
    angle = 0.4
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    driving = np.stack([source @ rotation.T, source + rng.normal(0, 5, source.shape), 0.5 * source + 30])
    assert best_frame(source, driving) == 2
    with pytest.raises(ValueError):
        best_frame(source, driving[:, :10])


def test_every_resampling_call_states_align_corners():
    for module in (fomm_model, fomm_motion):
        text = Path(module.__file__).read_text()
        calls = [
            node
            for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("grid_sample", "interpolate")
        ]
        # every textual call is one the AST saw (no aliases), and each names align_corners
        assert len(calls) == len(re.findall(r"\b(?:grid_sample|interpolate)\(", text)) > 0
        for call in calls:
            assert "align_corners" in [kw.arg for kw in call.keywords], f"{module.__name__} line {call.lineno}"
