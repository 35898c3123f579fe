"""DeepfakeBench's released detectors (``dfb_<name>``): each loads a DeepfakeBench-format
checkpoint strictly and reproduces DeepfakeBench's outputs on the reference crops.

The checkpoints are the test vectors of ``../shared/reference/deepfakebench`` (a weight
formula, saved as DeepfakeBench's ``save_ckpt`` does); ``expected_outputs.json`` holds what
DeepfakeBench's own code computes from them. No DeepfakeBench code, no download.
"""

from __future__ import annotations

import shutil

import dfb_vectors as vectors
import pandas as pd
import pytest
import torch
import yaml

from forgebench.cli import main
from forgebench.detectors import create_detector, list_detectors
from forgebench.errors import DataError
from forgebench.fileio import sha256_file
from forgebench.stages import RunDir

ALL = sorted(vectors.NAMES)


@pytest.fixture(scope="module", autouse=True)
def _threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def test_every_documented_detector_is_registered():
    assert set(vectors.expected()) == set(vectors.NAMES)
    assert {vectors.NAMES[n] for n in ALL} <= set(list_detectors())


@pytest.mark.parametrize("name", ALL)
def test_checkpoint_loads_strictly_and_matches_deepfakebench(name, tmp_path):
    path = vectors.write_checkpoint(name, tmp_path / f"{name}_best.pth")
    model = create_detector(vectors.NAMES[name], checkpoint_path=str(path))
    assert not model.training
    assert list(model.state_dict()) == [k for k, _ in vectors.layout(name)]
    with torch.inference_mode():
        logits = model(vectors.inputs(name))
    assert logits.shape == (2,)
    vectors.check_outputs(name, logits)
    # as forgebench scores it (predict_loader): channels-last, same numbers
    model.to(memory_format=torch.channels_last)
    with torch.inference_mode():
        vectors.check_outputs(name, model(vectors.inputs(name).contiguous(memory_format=torch.channels_last)))


def test_ddp_prefix_and_forgebench_checkpoint_load(tmp_path):
    plain = create_detector("dfb_meso4", checkpoint_path=str(vectors.write_checkpoint("meso4", tmp_path / "a.pth")))
    ddp = create_detector(
        "dfb_meso4", checkpoint_path=str(vectors.write_checkpoint("meso4", tmp_path / "b.pth", prefix="module."))
    )
    x = vectors.inputs("meso4")
    with torch.inference_mode():
        assert torch.equal(plain(x), ddp(x))
    assert plain.pretrained_loaded and len(plain.pretrained_sha256) == 64 and plain.pretrained_file.endswith("a.pth")
    assert "DeepfakeBench v1.0.1 (FF++ c23)" in plain.pretrained_note


def test_random_init_trains_under_the_protocol():
    """Without a checkpoint a dfb_ detector is an architecture to train: train mode, gradients."""
    model = create_detector("dfb_meso4")
    assert model.training and model.default_cfg["input_size"] == 256
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        model(vectors.inputs("meso4")), torch.tensor([0.0, 1.0])
    )
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    xception = create_detector("dfb_xception")
    frozen = {k for k, p in xception.named_parameters() if not p.requires_grad}
    assert frozen == {
        "backbone.adjust_channel.0.weight",
        "backbone.adjust_channel.0.bias",
        "backbone.adjust_channel.1.weight",
        "backbone.adjust_channel.1.bias",
    }  # stored by DeepfakeBench, unused at inference


def test_bad_checkpoints_are_one_clear_line(tmp_path):
    good = vectors.write_checkpoint("meso4", tmp_path / "meso4_best.pth")
    # another architecture's checkpoint
    other = vectors.write_checkpoint("meso4Inception", tmp_path / "meso4Inception_best.pth")
    with pytest.raises(
        DataError,
        match=r"meso4Inception_best.pth: not a DeepfakeBench meso4 checkpoint for dfb_meso4 "
        r"\(\d+ missing keys: backbone\.bn2\.weight.*; \d+ unexpected keys: backbone\.Incption1",
    ):
        create_detector("dfb_meso4", checkpoint_path=str(other))
    # a missing and an unexpected key
    state = torch.load(good, weights_only=True)
    state["backbone.extra.weight"] = state.pop("backbone.fc2.bias")
    torch.save(state, tmp_path / "keys.pth")
    with pytest.raises(
        DataError, match=r"1 missing keys: backbone\.fc2\.bias; 1 unexpected keys: backbone\.extra\.weight"
    ):
        create_detector("dfb_meso4", checkpoint_path=str(tmp_path / "keys.pth"))
    # a wrong shape
    state = torch.load(good, weights_only=True)
    state["backbone.fc2.weight"] = torch.zeros(3, 16)
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(
        DataError,
        match=r"shape.pth: .*1 entries of another shape: backbone\.fc2\.weight \(3, 16\) \(expected \(2, 16\)\)",
    ):
        create_detector("dfb_meso4", checkpoint_path=str(tmp_path / "shape.pth"))
    # pickled code
    torch.save({"backbone.conv1.weight": torch.zeros(1), "hook": _Hook()}, tmp_path / "code.pth")
    with pytest.raises(DataError, match=r"code.pth: refused for safety"):
        create_detector("dfb_meso4", checkpoint_path=str(tmp_path / "code.pth"))
    # truncated, empty, not a file
    data = good.read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut.pth: dfb_meso4 checkpoint is truncated"):
        create_detector("dfb_meso4", checkpoint_path=str(tmp_path / "cut.pth"))
    with pytest.raises(DataError, match=r": not a file \(checkpoint of dfb_meso4\)"):
        create_detector("dfb_meso4", checkpoint_path=str(tmp_path))
    # a fixed-size network given another size
    model = create_detector("dfb_meso4", checkpoint_path=str(good))
    with pytest.raises(ValueError, match="smaller than the minimum 256 px"):
        model(torch.zeros(1, 3, 128, 128))
    with pytest.raises(ValueError, match="takes 256x256 px crops only"):
        model(torch.zeros(1, 3, 320, 320))


class _Hook:
    """A pickled object that is not a tensor (what weights_only refuses)."""


def test_evaluate_published_checkpoint_on_a_run(tiny_run, tmp_path, capsys):
    """``forgebench evaluate RUN --detector dfb_meso4 --checkpoint meso4_best.pth``: the run's
    protocol (validation thresholds, sealed test split, intervals), the checkpoint's SHA-256
    and where it was trained recorded, its rows apart in every table; a bad file writes nothing."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    checkpoint = vectors.write_checkpoint("meso4", tmp_path / "meso4_best.pth")
    wrong = vectors.write_checkpoint("meso4Inception", tmp_path / "wrong_best.pth")
    assert main(["--no-progress", "evaluate", str(run), "--detector", "dfb_meso4", "--checkpoint", str(wrong)]) == 2
    err = capsys.readouterr().err
    assert (
        "wrong_best.pth: not a DeepfakeBench meso4 checkpoint for dfb_meso4" in err
        and len(err.strip().splitlines()) == 1
    )
    assert not (run / "detectors" / "dfb_meso4").exists()

    assert (
        main(["--no-progress", "evaluate", str(run), "--detector", "dfb_meso4", "--checkpoint", str(checkpoint)]) == 0
    )
    assert "dfb_meso4 (pretrained)" in capsys.readouterr().out
    doc = RunDir(run).detectors.read_metrics("dfb_meso4", "pretrained")
    assert doc["trained_elsewhere"] == "DeepfakeBench v1.0.1 (FF++ c23)" and doc["threshold_source"].startswith("val")
    assert doc["published"]["checkpoint_sha256"] == sha256_file(checkpoint) == doc["checkpoint_sha256"]
    assert doc["published"]["weights_file"] == "meso4_best.pth" and "MesoNet" in doc["published"]["paper"]
    assert doc["image_size"] == 256 and set(doc["test_sets"]) == {"autoencoder_swap", "fomm", "pix2pix_reenact", "all"}
    assert doc["video"]["auc_ci_low"] is None and doc["video"]["ci_status"].startswith(
        "not estimable"
    )  # one cluster of people

    # the published architecture retrained on the run's fakes under the protocol
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["detectors"]["dfb_meso4"] = {"epochs": 1, "batch_size": 8, "max_train_frames": 32}
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    assert main(["--no-progress", "train", str(run), "--detector", "dfb_meso4"]) == 0
    trained = RunDir(run).detectors.read_metrics("dfb_meso4", "all")
    assert trained["image_size"] == 256 and "trained_elsewhere" not in trained

    assert main(["--no-progress", "report", str(run)]) == 0
    board = (run / "leaderboard" / "leaderboard.md").read_text()
    assert "dfb_meso4 (trained elsewhere: DeepfakeBench v1.0.1 (FF++ c23))" in board
    assert "| dfb_meso4 | all |" in board  # the run's own training of the architecture, apart
    assert (
        "| dfb_meso4 (trained elsewhere: DeepfakeBench v1.0.1 (FF++ c23)) | pretrained | jpeg |" in board
    )  # robustness
    out = tmp_path / "board"
    assert main(["--no-progress", "leaderboard", str(run), str(tiny_run), "--out", str(out)]) == 0
    md = (out / "leaderboard.md").read_text()
    section = md[md.index("## Cross-dataset") :]
    assert "| dfb_meso4 (trained elsewhere) | FF++ c23 [DeepfakeBench v1.0.1] | pretrained |" in section
    assert "dfb_meso4 (trained elsewhere" in (out / "report.html").read_text()
    csv = pd.read_csv(out / "leaderboard.csv", keep_default_na=False)
    published = csv[csv["trained_elsewhere"] != ""]
    assert set(published["detector"]) == {"dfb_meso4"} and set(published["train_set"]) == {"pretrained"}


def test_list_published(capsys):
    assert main(["evaluate", "--list-published"]) == 0
    out = capsys.readouterr().out
    for name in vectors.NAMES.values():
        assert name in out
    assert "xception_best.pth" in out and "https://github.com/SCLBD/DeepfakeBench/releases/tag/v1.0.1" in out
    assert "sbi_best.pth: not in DeepfakeBench v1.0.1" in out
