"""Detector zoo and training/evaluation on real face crops of the sample clips (64 px).

The fake set is made here: each real crop with its face region blurred and tinted, a
visible manipulation a detector can learn in a few steps. Identities are split
train d0, d3 / val d9, d12 / test d18, d19, as the run's identity-disjoint splits.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from toy_data import make_toy_run, manipulate, train_once

from forgebench.detectors import (
    TrainSettings,
    create_detector,
    crops_to_tensor,
    detector_input_size,
    get_detector_cfg,
    list_detectors,
    load_detector,
    predict_crops,
)
from forgebench.detectors import _training as training
from forgebench.detectors._data import make_loader
from forgebench.errors import DataError, MediaError
from forgebench.fileio import sha256_file
from forgebench.media import read_image
from forgebench.schemas import PREDICTIONS

SIZE = 64


pytestmark = pytest.mark.usefixtures("torch_threads")


@pytest.fixture(scope="module")
def toy_run(real_crops, tmp_path_factory):
    """A run directory with real crops and their manipulated copies as PNGs, and the
    frame table (face-manifest columns) describing them."""
    run_dir = tmp_path_factory.mktemp("run")
    return run_dir, make_toy_run(run_dir, real_crops, {"toyswap": manipulate})


MESO = TrainSettings(epochs=4, batch_size=8, image_size=SIZE, augment=True)


@pytest.fixture(scope="module")
def meso_result(toy_run):
    run_dir, frames = toy_run
    torch.set_num_threads(2)
    out = run_dir / "detectors" / "meso4" / "toyswap"
    metrics = train_once("meso4", MESO, frames, run_dir, out, "toyswap")
    return out, metrics


def test_registry_lists_and_sizes():
    names = list_detectors()
    assert {"meso4", "efficientnet_b0"} <= set(names)
    assert detector_input_size("meso4") == 256 and detector_input_size("efficientnet_b0") == 224
    assert get_detector_cfg("efficientnet_b0").mean == pytest.approx((0.485, 0.456, 0.406))
    with pytest.raises(KeyError, match="meso4"):
        create_detector("mesonet9")


@pytest.mark.parametrize("name", list_detectors())
def test_every_detector_runs_on_real_crops(name, real_crops):
    crops = real_crops["d0"][:4] + real_crops["d18"][:2]
    model = create_detector(name).eval()
    assert model.default_cfg["input_size"] == detector_input_size(name)
    size = max(SIZE, get_detector_cfg(name).min_input_size)  # networks that take their own size only
    with torch.no_grad():
        logits = model(crops_to_tensor(crops, size))
    assert logits.shape == (6,) and torch.isfinite(logits).all()
    probs = predict_crops(model, crops, size, "cpu", batch_size=4)
    assert probs.shape == (6,) and ((probs >= 0) & (probs <= 1)).all()
    np.testing.assert_allclose(probs, torch.sigmoid(logits).double().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="3, H, W"):
        model(torch.zeros(2, 1, SIZE, SIZE))
    with pytest.raises(ValueError, match="smaller"):
        model(torch.zeros(2, 3, 16, 16))


def test_meso4_is_the_paper_network():
    model = create_detector("meso4").eval()
    # Afchar et al. 2018 report 27,977 trainable parameters for Meso-4 at 256x256.
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 27977
    with torch.no_grad():
        assert model(torch.rand(2, 3, 256, 256)).shape == (2,)
        assert model(torch.rand(1, 3, 96, 128)).shape == (1,)
    # MesoNet has no pretrained weights: the config's default pretrained=True trains it from scratch, and says so
    scratch = create_detector("meso4", pretrained=True)
    assert "no pretrained weights" in scratch.pretrained_note and scratch.weights_origin == "none"


@pytest.mark.parametrize("name", list_detectors())
def test_one_training_step_changes_weights(name, real_crops):
    torch.manual_seed(0)
    model = create_detector(name).train()
    size = max(SIZE, get_detector_cfg(name).min_input_size)  # networks that take their own size only
    x = crops_to_tensor(real_crops["d0"][:4] + [manipulate(c) for c in real_crops["d0"][:4]], size)
    y = torch.tensor([0.0] * 4 + [1.0] * 4)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
    loss.backward()
    opt.step()
    changed = [k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])]
    params = [k for k, p in model.named_parameters() if p.requires_grad]  # frozen ones are not trained
    assert torch.isfinite(loss) and set(params) <= set(changed)


def test_a_training_batch_of_one_frame_is_dropped(toy_run):
    # 9 frames in batches of 4: training sees 4 + 4 (a batch of one would stop BatchNorm,
    # dfb_facexray's head among others), evaluation sees every frame
    run_dir, frames = toy_run
    frames = frames.assign(crop_path=[str(run_dir / p) for p in frames["crop_path"]])
    nine = frames.iloc[:9]
    assert [len(y) for _, y in make_loader(nine, SIZE, 4, train=True, seed=0)] == [4, 4]
    assert [len(y) for _, y in make_loader(nine, SIZE, 4, train=False)] == [4, 4, 1]
    assert [len(y) for _, y in make_loader(frames.iloc[:10], SIZE, 4, train=True, seed=0)] == [4, 4, 2]
    facexray = create_detector("dfb_facexray").train()
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        facexray(torch.rand(1, 3, 256, 256))
    assert facexray(torch.rand(2, 3, 256, 256)).shape == (2,)


def test_pretrained_with_empty_cache_is_an_error_never_random_init():
    from forgebench.weights import WeightsUnavailable

    with pytest.raises(WeightsUnavailable, match="no pretrained weights file found") as err:
        create_detector("efficientnet_b0", pretrained=True)
    message = str(err.value)
    assert "\n" not in message and "pretrained: false" in message
    assert str(torch.hub.get_dir()) in message and "efficientnet_b0_ra-3dd342df.pth" in message  # file and cache named
    with pytest.raises(ValueError, match="auto"):
        create_detector("efficientnet_b0", pretrained="auto")
    model = create_detector("efficientnet_b0", pretrained=False)
    assert model.pretrained_loaded is False and model.pretrained_file is None and model.weights_origin == "none"


def _imagenet_state() -> dict[str, torch.Tensor]:
    import timm

    torch.manual_seed(1)
    imagenet = timm.create_model("efficientnet_b0", pretrained=False)  # 1000-class head
    return {k: v.contiguous() for k, v in imagenet.state_dict().items()}


@pytest.mark.parametrize("cache", ["torch_hub", "hf_hub"])
def test_pretrained_weights_found_in_local_cache(cache, tmp_path, monkeypatch):
    from safetensors.torch import save_file

    from forgebench.detectors import timm_backbones
    from forgebench.weights import used_weights

    state = _imagenet_state()
    if cache == "torch_hub":
        path = Path(torch.hub.get_dir()) / "checkpoints" / "efficientnet_b0_ra-3dd342df.pth"
        path.parent.mkdir(parents=True)
        torch.save(state, path)
        # a file made here cannot match the hash prefix in timm's file name: accept it
        # for this test only (the check itself is tested below)
        monkeypatch.setattr(timm_backbones, "_hash_prefix_ok", lambda p, d: True)
    else:
        snapshot = tmp_path / "hf" / "hub" / "models--timm--efficientnet_b0.ra_in1k" / "snapshots" / ("0" * 40)
        snapshot.mkdir(parents=True)
        (snapshot.parents[1] / "refs").mkdir()
        (snapshot.parents[1] / "refs" / "main").write_text("0" * 40)
        path = snapshot / "model.safetensors"
        save_file(state, str(path))
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    model = create_detector("efficientnet_b0", pretrained=True)
    assert model.pretrained_loaded is True and model.pretrained_file == str(path)
    assert model.pretrained_sha256 == sha256_file(path) and model.weights_origin == f"imagenet:{sha256_file(path)}"
    assert torch.equal(model.model.conv_stem.weight, state["conv_stem.weight"])
    assert model.model.classifier.weight.shape == (1, 1280)  # new one-logit head
    assert any(w["sha256"] == sha256_file(path) for w in used_weights())  # for provenance.json


def test_cached_file_with_wrong_hash_is_not_used():
    path = Path(torch.hub.get_dir()) / "checkpoints" / "efficientnet_b0_ra-3dd342df.pth"
    path.parent.mkdir(parents=True)
    torch.save(_imagenet_state(), path)
    from forgebench.weights import WeightsUnavailable

    with pytest.raises(WeightsUnavailable, match="does not match the hash prefix"):
        create_detector("efficientnet_b0", pretrained=True)


def test_train_and_evaluate_writes_outputs(meso_result, toy_run):
    out, metrics = meso_result
    _, frames = toy_run
    for name in ("best.pt", "history.csv", "predictions.parquet", "metrics.json"):
        assert (out / name).is_file(), name
    assert not (out / "last.pt").exists()
    history = pd.read_csv(out / "history.csv")
    assert list(history.columns[:4]) == ["epoch", "train_loss", "val_loss", "val_auc"]
    assert history["epoch"].tolist() == [1, 2, 3, 4] and history["train_loss"].notna().all()
    preds = pd.read_parquet(out / "predictions.parquet")
    test = frames[frames["split"] == "test"]
    assert list(preds.columns) == list(PREDICTIONS.columns)
    assert len(preds) == len(test) and set(preds["split"]) == {"test"}
    assert preds["score"].between(0, 1).all() and (preds["test_set"] == "toyswap").all()
    assert preds["video_id"].nunique() == 4
    stored = json.loads((out / "metrics.json").read_text())
    assert stored == metrics
    assert metrics["frame"]["n_frames"] == metrics["n_frames"] == len(test)
    assert metrics["video"]["n_videos"] == metrics["n_videos"] == 4
    assert 0 <= metrics["threshold"] <= 1 and metrics["threshold_source"] == "val frame EER"
    assert metrics["image_size"] == SIZE and metrics["seed"] == 0 and metrics["pretrained"] is False
    assert metrics["weights_origin"] == "none"  # meso4 has no pretrained weights: from scratch under the default
    assert metrics["best_epoch"] == int(history.loc[history["val_auc"].idxmax(), "epoch"])
    # the manipulation is learnable: validation and test separate real from fake
    assert metrics["best_val_auc"] > 0.7 and metrics["frame"]["auc"] > 0.7


def test_checkpoint_loads_weights_only_and_reproduces_scores(meso_result, toy_run):
    out, metrics = meso_result
    run_dir, _ = toy_run
    ckpt = torch.load(out / "best.pt", map_location="cpu", weights_only=True)
    assert ckpt["meta"]["detector"] == "meso4" and ckpt["meta"]["epoch"] == metrics["best_epoch"]
    model, meta = load_detector(out / "best.pt", "cpu")
    assert meta["image_size"] == SIZE and not model.training
    preds = pd.read_parquet(out / "predictions.parquet")
    frames = toy_run[1].set_index(["video_id", "frame_index"])
    crops = [
        read_image(run_dir / frames.loc[(v, i), "crop_path"]) for v, i in zip(preds["video_id"], preds["frame_index"])
    ]
    np.testing.assert_allclose(predict_crops(model, crops, meta["image_size"], "cpu"), preds["score"], atol=1e-6)


def test_finished_output_is_not_redone(meso_result, toy_run):
    out, metrics = meso_result
    run_dir, frames = toy_run
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = train_once("meso4", MESO, frames, run_dir, out, "toyswap")
    assert again == metrics
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps


def test_interrupted_training_resumes_to_the_same_numbers(meso_result, toy_run, monkeypatch):
    ref_out, ref_metrics = meso_result
    run_dir, frames = toy_run
    out = run_dir / "detectors" / "meso4" / "toyswap_resumed"
    real_epoch, calls = training._train_epoch, []

    def crash_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(training, "_train_epoch", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        train_once("meso4", MESO, frames, run_dir, out, "toyswap")
    assert (out / "last.pt").is_file() and not (out / "predictions.parquet").exists()
    assert len(pd.read_csv(out / "history.csv")) == 2
    monkeypatch.setattr(training, "_train_epoch", real_epoch)
    metrics = train_once("meso4", MESO, frames, run_dir, out, "toyswap")
    pd.testing.assert_frame_equal(pd.read_csv(out / "history.csv"), pd.read_csv(ref_out / "history.csv"))
    a, b = pd.read_parquet(out / "predictions.parquet"), pd.read_parquet(ref_out / "predictions.parquet")
    np.testing.assert_array_equal(a["score"].to_numpy(), b["score"].to_numpy())
    assert metrics["frame"] == ref_metrics["frame"] and metrics["threshold"] == ref_metrics["threshold"]


def test_efficientnet_end_to_end_from_scratch(toy_run):
    run_dir, frames = toy_run
    out = run_dir / "detectors" / "efficientnet_b0" / "toyswap"
    settings = TrainSettings(epochs=1, batch_size=8, image_size=SIZE, pretrained=False, max_train_frames=16)
    metrics = train_once("efficientnet_b0", settings, frames, run_dir, out, "toyswap")
    assert metrics["pretrained"] is False and "random init" in metrics["pretrained_note"]
    assert metrics["n_train_frames"] == 16 and metrics["pretrained_requested"] is False
    assert metrics["weights_origin"] == "none"
    assert len(pd.read_parquet(out / "predictions.parquet")) == metrics["n_frames"]
    model, meta = load_detector(out / "best.pt", "cpu")
    assert meta["detector"] == "efficientnet_b0" and meta["pretrained"] is False


def test_bad_inputs_give_clear_errors(toy_run, tmp_path):
    run_dir, frames = toy_run
    settings = TrainSettings(epochs=1, batch_size=8, image_size=SIZE)
    with pytest.raises(DataError, match="method"):
        train_once("meso4", settings, frames.drop(columns="method"), run_dir, tmp_path / "a", "x")
    only_real = frames[frames["label"] == 0]
    with pytest.raises(DataError, match="real and fake"):
        train_once("meso4", settings, only_real, run_dir, tmp_path / "b", "x")
    leaky = frames.copy()
    leaky.loc[(leaky["identity"] == "d18") & (leaky["frame_index"] == 0), "split"] = "train"
    with pytest.raises(DataError, match="more than one split"):
        train_once("meso4", settings, leaky, run_dir, tmp_path / "e", "x")
    broken = frames.copy()
    broken.loc[broken["split"] == "train", "crop_path"] = "faces/crops/missing.png"
    with pytest.raises(MediaError, match="missing.png"):
        train_once("meso4", settings, broken, run_dir, tmp_path / "c", "x")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "best.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="best.pt"):
        load_detector(tmp_path / "d" / "best.pt", "cpu")
    with pytest.raises(Exception, match="epoch"):
        TrainSettings.model_validate({"epoch": 3})
    with pytest.raises(Exception, match="auto"):
        TrainSettings.model_validate({"pretrained": "auto"})
    assert TrainSettings().pretrained is True
    assert TrainSettings.model_validate({"pretrained": False}).pretrained is False
