"""Pretrained initial weights of detectors: ``pretrained: true`` (the default) loads them or
stops with a clear error, never falls back to random init; where a detector's weights came
from (``weights_origin``) is in its ``metrics.json`` and in every detection table.

Caches are the empty temporary ``TORCH_HOME`` / ``HF_HOME`` of ``conftest``; the ImageNet
weights are a state dict made here and saved where timm looks (the Hugging Face hub cache).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from toy_data import SPLITS, make_toy_run, manipulate, train_once

from forgebench.configure import config_from_dict
from forgebench.detectors import TrainSettings, check_pretrained_weights, create_detector, read_detector_checkpoint
from forgebench.errors import ConfigError
from forgebench.fileio import sha256_file
from forgebench.leaderboard.tables import DETECTION_COLUMNS, detection_table, long_table
from forgebench.weights import WeightsUnavailable, origin_of_document, weights_origin

pytestmark = pytest.mark.usefixtures("torch_threads")

SIZE = 64
HF_REPO = "models--timm--efficientnet_b0.ra_in1k"


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A toy run of synthetic 64-px crops (four per identity of the toy splits) and their
    manipulated copies: enough for the train stage's unit, fast."""
    rng = np.random.default_rng(0)
    crops = {ident: [rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8) for _ in range(4)] for ident in SPLITS}
    run_dir = tmp_path_factory.mktemp("pretrained_run")
    return run_dir, make_toy_run(run_dir, crops, {"toyswap": manipulate})


def _efficientnet_section(**extra) -> TrainSettings:
    """``detectors.efficientnet_b0`` of a run config, validated as the CLI does."""
    config = config_from_dict(
        {
            "detectors": {
                "efficientnet_b0": {
                    "epochs": 1,
                    "batch_size": 8,
                    "image_size": SIZE,
                    "max_train_frames": 8,
                    "augment": False,
                    **extra,
                }
            }
        },
        "run.yaml",
    )
    return config.detector_settings("efficientnet_b0")


def _imagenet_file_in_hf_cache() -> Path:
    """An ImageNet-style efficientnet_b0 state dict (1000-class head) saved as
    ``model.safetensors`` of timm's hub repo in the Hugging Face cache of ``$HF_HOME``."""
    import os

    import timm
    from safetensors.torch import save_file

    torch.manual_seed(3)
    state = {k: v.contiguous() for k, v in timm.create_model("efficientnet_b0", pretrained=False).state_dict().items()}
    repo = Path(os.environ["HF_HOME"]) / "hub" / HF_REPO
    snapshot = repo / "snapshots" / ("1" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("1" * 40)
    save_file(state, str(snapshot / "model.safetensors"))
    return snapshot / "model.safetensors"


def test_default_is_pretrained_true_and_auto_is_a_config_error():
    assert TrainSettings().pretrained is True
    assert _efficientnet_section().pretrained is True
    with pytest.raises(ConfigError) as err:
        _efficientnet_section(pretrained="auto")
    message = str(err.value)
    assert "run.yaml" in message and "detectors.efficientnet_b0.pretrained" in message
    assert "'auto' is no longer accepted" in message and "true" in message and "false" in message
    with pytest.raises(ConfigError, match="must be true"):
        _efficientnet_section(pretrained="yes")


def test_missing_weights_stop_training_before_anything_is_trained(toy, tmp_path):
    run_dir, frames = toy
    settings = _efficientnet_section()  # pretrained: true by default
    # the train stage's check, before any unit runs
    with pytest.raises(WeightsUnavailable) as err:
        check_pretrained_weights("efficientnet_b0", settings.pretrained)
    message = str(err.value)
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    assert "\n" not in message  # one line
    assert f"{hub}/efficientnet_b0_ra-3dd342df.pth" in message  # the torch hub file it looked for
    assert f"{HF_REPO}/snapshots/*/model.safetensors" in message  # the Hugging Face file it looked for
    assert "Hugging Face hub cache" in message and str(hub) in message  # the caches
    assert "put the file there" in message and "pretrained: false" in message  # the two fixes
    # the unit itself: the same error, and no checkpoint, history or metrics written
    out = tmp_path / "detectors" / "efficientnet_b0" / "toyswap"
    with pytest.raises(WeightsUnavailable, match="no pretrained weights file found"):
        train_once("efficientnet_b0", settings, frames, run_dir, out, "toyswap")
    assert not out.exists() or not any(out.iterdir())
    check_pretrained_weights("efficientnet_b0", False)  # nothing to check for pretrained: false


def test_cached_imagenet_weights_give_origin_imagenet_sha256(toy, tmp_path):
    run_dir, frames = toy
    path = _imagenet_file_in_hf_cache()
    digest = sha256_file(path)
    settings = _efficientnet_section()
    check_pretrained_weights("efficientnet_b0", settings.pretrained)  # found: no error
    out = tmp_path / "detectors" / "efficientnet_b0" / "toyswap"
    metrics = train_once("efficientnet_b0", settings, frames, run_dir, out, "toyswap")
    assert metrics["weights_origin"] == f"imagenet:{digest}" == weights_origin("imagenet", digest)
    assert (
        metrics["pretrained"] is True
        and metrics["pretrained_sha256"] == digest
        and metrics["pretrained_file"] == str(path)
    )
    assert json.loads((out / "metrics.json").read_text())["weights_origin"] == f"imagenet:{digest}"
    assert read_detector_checkpoint(out / "best.pt")["meta"]["weights_origin"] == f"imagenet:{digest}"
    # a column of the detection table (one row per test set) and of the long table's detection rows
    table = detection_table([metrics])
    assert "weights_origin" in DETECTION_COLUMNS and set(table["weights_origin"]) == {f"imagenet:{digest}"}
    long = long_table(None, table)
    assert set(long["weights_origin"]) == {f"imagenet:{digest}"}


def test_pretrained_false_trains_from_scratch_with_origin_none(toy, tmp_path):
    run_dir, frames = toy
    _imagenet_file_in_hf_cache()  # present, and not used
    out = tmp_path / "detectors" / "efficientnet_b0" / "toyswap"
    metrics = train_once("efficientnet_b0", _efficientnet_section(pretrained=False), frames, run_dir, out, "toyswap")
    assert (
        metrics["weights_origin"] == "none" and metrics["pretrained"] is False and metrics["pretrained_sha256"] is None
    )
    assert set(detection_table([metrics])["weights_origin"]) == {"none"}


@pytest.mark.parametrize("name", ["meso4", "mesoinception4", "srm_cnn", "dfb_meso4"])
def test_architectures_without_pretrained_weights_train_from_scratch_under_the_default(name):
    model = create_detector(name, pretrained=True)
    assert model.weights_origin == "none" and model.pretrained_loaded is False
    assert "no pretrained weights" in model.pretrained_note


def test_origin_of_older_and_other_documents():
    sha = "ab" * 32
    assert origin_of_document({"weights_origin": "imagenet:" + sha, "pretrained_sha256": None}) == "imagenet:" + sha
    # metrics.json written before weights_origin was recorded
    assert origin_of_document({"pretrained": True, "pretrained_sha256": sha}) == f"imagenet:{sha}"
    assert origin_of_document({"pretrained": False, "pretrained_sha256": None}) == "none"
    assert (
        origin_of_document({"evaluated": True, "published": {"checkpoint_sha256": sha}, "checkpoint_sha256": sha})
        == f"deepfakebench:{sha}"
    )
    assert (
        origin_of_document({"evaluated": True, "checkpoint_sha256": sha, "train_set": "pretrained"})
        == f"checkpoint:{sha}"
    )
    assert origin_of_document({"submission": True, "checkpoint_sha256": sha}) == "unknown"
    assert origin_of_document({"evaluated": True, "cross_dataset": {}, "checkpoint_sha256": sha}) == "unknown"


def test_published_weights_scored_by_evaluate_are_deepfakebench_origin(tmp_path):
    from forgebench.detectors.deepfakebench import get_published
    from forgebench.evaluate import published_facts

    facts = published_facts(get_published("dfb_meso4"), tmp_path / "meso4_best.pth", "cd" * 32)
    assert facts["weights_origin"] == "deepfakebench:" + "cd" * 32
