"""DeepfakeBench's released detectors (``dfb_<name>``): each loads a DeepfakeBench-format
checkpoint strictly and reproduces DeepfakeBench's outputs on the reference crops.

The checkpoints are the test vectors of ``../shared/reference/deepfakebench`` (a weight
formula, saved as DeepfakeBench's ``save_ckpt`` does); ``expected_outputs.json`` holds what
DeepfakeBench's own code computes from them. No DeepfakeBench code, no download.
"""

from __future__ import annotations

import pytest
import torch

import dfb_vectors as vectors
from forgebench.detectors import create_detector, list_detectors

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
