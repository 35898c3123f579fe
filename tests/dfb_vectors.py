"""Test vectors of DeepfakeBench's released detectors, built without DeepfakeBench.

Implements the weight specification of ``../shared/reference/deepfakebench/README.md``
("Test vectors"): every state-dict entry of a detector is a function of its entry index,
key, shape and element index; a few frozen entries come from ``fixed_entries.npz``. The
checkpoint is saved as DeepfakeBench's ``trainer.save_ckpt`` does (a plain dict of tensors),
and ``expected_outputs.json`` holds DeepfakeBench's probabilities and logits for the two
reference crops. Written from the specification's text; the reference folder is read, not
copied.
"""

from __future__ import annotations

import json
import math
import re
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import torch

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "deepfakebench"

#: DeepfakeBench name -> forgebench registry name.
NAMES = {
    "xception": "dfb_xception",
    "meso4": "dfb_meso4",
    "meso4Inception": "dfb_meso4inception",
    "resnet34": "dfb_resnet34",
    "efficientnetb4": "dfb_efficientnetb4",
    "capsule_net": "dfb_capsule_net",
    "fwa": "dfb_fwa",
    "facexray": "dfb_facexray",
    "ffd": "dfb_ffd",
    "core": "dfb_core",
    "recce": "dfb_recce",
    "ucf": "dfb_ucf",
    "f3net": "dfb_f3net",
    "spsl": "dfb_spsl",
    "srm": "dfb_srm",
    "sbi": "dfb_sbi",
}

#: Entries that keep DeepfakeBench's constructor values (read from fixed_entries.npz).
FIXED = {
    "f3net": {"FAD_head._DCT_all", "FAD_head._DCT_all_T"} | {f"FAD_head.filters.{b}.base" for b in range(4)},
    "srm": {"srm_conv0.kernel", "srm_conv1.kernel", "srm_conv2.kernel", "srm_sa.srm.kernel", "blur.weight"},
}

_EFF = r"backbone\.efficientnet\."
_EFF_RESIDUAL_BN2 = (
    _EFF + r"_blocks\.(1|3|4|5|7|8|9|11|12|13|14|15|17|18|19|20|21|23|24|25|26|27|28|29|31)\._bn2\.weight"
)
#: name -> (V, ((key regex, factor), ...)), the per-detector table of the specification.
SCALES = {
    **{n: (1.2, ()) for n in ("xception", "fwa", "core", "ffd", "f3net", "spsl", "srm")},
    "ucf": (1.5, ()),
    "recce": (1.5, ()),
    "resnet34": (1.0, ()),
    "meso4": (1.0, ()),
    "meso4Inception": (1.0, ()),
    "facexray": (2.0, ()),
    "capsule_net": (1.0, ((r"routing_stats\.route_weights", 30.0), (r"fea_ext\.capsules\.\d+\.10\.weight", 30.0))),
    "efficientnetb4": (
        0.475,
        ((_EFF_RESIDUAL_BN2, 0.1), (_EFF + r"_conv_stem\.weight", 2.0), (_EFF + r"_conv_head\.weight", 10.0)),
    ),
    "sbi": (0.475, ((_EFF_RESIDUAL_BN2, 0.1), (_EFF + r"_conv_head\.weight", 10.0))),
}


def layout(name: str) -> list[tuple[str, tuple[int, ...]]]:
    """``[(key, shape), ...]`` in state-dict order from ``<name>_state_dict.txt``."""
    entries = []
    for line in (REFERENCE / f"{name}_state_dict.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, shape = line.split(" ", 1)
        entries.append((key, tuple(int(v) for v in re.findall(r"\d+", shape))))
    return entries


def _uniform(k: int, n: int) -> np.ndarray:
    """The specification's u(k, i) in [0, 1) for i = 0..n-1 (float64)."""
    s = np.sin(np.arange(n, dtype=np.float64) * 12.9898 + k * 78.233) * 43758.5453
    return s - np.floor(s)


def entry_value(name: str, k: int, key: str, shape: tuple[int, ...]) -> np.ndarray:
    """Value of entry ``k`` (``key``, ``shape``) of detector ``name`` by the formula."""
    if key.endswith("num_batches_tracked"):
        return np.zeros(shape, dtype=np.int64)
    v_scale, factors = SCALES[name]
    n = math.prod(shape)
    u = _uniform(k, n)
    r = 2.0 * u - 1.0
    if key.endswith("running_mean"):
        value = 0.02 * r
    elif key.endswith("running_var"):
        value = 0.04 * v_scale * (1.0 + 0.15 * u)
    elif len(shape) >= 2:
        fan_in = n // shape[0]
        rows = r.reshape(shape[0], fan_in)
        if len(shape) == 4 and shape[1] == 1:  # depthwise conv
            value = rows * math.sqrt(3.0 / fan_in)
        else:  # zero-sum rows, uniform He
            value = (rows - rows.mean(axis=1, keepdims=True)) * math.sqrt(6.0 / fan_in)
    elif key.endswith(".weight"):
        value = 0.2 * (1.0 + 0.05 * r)
    else:
        value = 0.02 * r
    for pattern, factor in factors:
        if re.fullmatch(pattern, key):
            value = value * factor
    return np.asarray(value, dtype=np.float64).reshape(shape).astype(np.float32)


def state_dict(name: str) -> dict[str, torch.Tensor]:
    """The test-vector state dict of detector ``name``, keys in DeepfakeBench's order."""
    fixed = np.load(REFERENCE / "fixed_entries.npz") if name in FIXED else None
    out = {}
    for k, (key, shape) in enumerate(layout(name)):
        value = fixed[f"{name}/{key}"] if key in FIXED.get(name, ()) else entry_value(name, k, key, shape)
        out[key] = torch.from_numpy(np.array(value, order="C"))
    return out


def write_checkpoint(name: str, path: Path, prefix: str = "") -> Path:
    """Save the test-vector weights as DeepfakeBench's ``save_ckpt`` does (``prefix``:
    ``"module."`` for a DDP-trained file)."""
    torch.save({prefix + k: v for k, v in state_dict(name).items()}, path)
    return path


@cache
def expected() -> dict:
    """``expected_outputs.json`` (per DeepfakeBench name)."""
    return json.loads((REFERENCE / "expected_outputs.json").read_text())


def inputs(name: str = "xception") -> torch.Tensor:
    """The reference crops of ``expected()[name]["inputs"]`` as ``(2, 3, 256, 256)`` float32
    RGB in [0, 1]."""
    crops = []
    for file in expected()[name]["inputs"]:
        bgr = cv2.imread(str(REFERENCE / "inputs" / file), cv2.IMREAD_COLOR)
        crops.append(torch.from_numpy(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).permute(2, 0, 1).float() / 255.0)
    return torch.stack(crops)


def check_outputs(name: str, logits: torch.Tensor) -> None:
    """Assert logits ``(2,)`` match DeepfakeBench's probabilities and logits within the
    stated tolerance."""
    ref = expected()[name]
    tol = ref["tolerance"]
    logits = logits.detach().double().reshape(-1)
    prob = torch.sigmoid(logits).numpy()
    assert np.allclose(prob, ref["prob"], rtol=0, atol=tol["prob"]), (name, prob, ref["prob"])
    for got, want in zip(logits.numpy(), ref["logit"]):
        assert abs(got - want) <= tol["logit_rel"] * max(1.0, abs(want)), (name, got, want)
