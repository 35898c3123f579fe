"""Third-party plugins: a tiny package, pip-installed from a temporary directory, adds a
generator, a detector, a frame-pair quality metric, a perturbation and a dataset importer
through entry points, and a small run on the real clips uses the first four without touching
this repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "toyplug"
version = "0.1"

[project.entry-points."forgebench.generators"]
blur = "toyplug.generator"

[project.entry-points."forgebench.detectors"]
tiny = "toyplug.detector"
toy_plain = "toyplug.detector:toy_plain"

[project.entry-points."forgebench.metrics"]
toy_mae = "toyplug.metric:toy_mae"

[project.entry-points."forgebench.perturbations"]
toy_gamma = "toyplug.perturbation"

[project.entry-points."forgebench.datasets"]
toyds = "toyplug.dataset"

[tool.setuptools]
packages = ["toyplug"]
"""

README = REPO / "README.md"


def readme_block(first_line: str) -> str:
    """The README's Python block that starts with ``first_line`` (the "Add a detector" /
    "Add a generator" examples), so the test runs exactly what the README shows."""
    text = README.read_text()
    start = text.index("```python\n" + first_line)
    return text[start + len("```python\n") : text.index("```", start + 10)]


# The README's two examples, as they are: a generator with nothing to train and a detector
# whose normalisation is declared once, in its DetectorCfg.
GENERATOR = readme_block("# generators/blur.py")
DETECTOR = (
    readme_block("# detectors/tiny.py")
    + '''

def toy_plain():
    """A plain torch.nn.Module, its input declared as timm's pretrained cfg."""
    return nn.Sequential(nn.Conv2d(3, 4, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 1))


toy_plain.default_cfg = {"input_size": (3, 48, 48), "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}
'''
)

METRIC = '''
import numpy as np


def toy_mae(real, fake, mask):
    """Mean absolute difference inside the mask, grey levels."""
    diff = np.abs(real.astype(float) - fake.astype(float)).mean(axis=2)
    return float(diff[mask].mean())


toy_mae.higher_is_better = False
toy_mae.units = "grey levels"
'''

PERTURBATION = """
import numpy as np

from forgebench.perturbations import register_perturbation


@register_perturbation("toy_gamma", level="crop", param="gamma", units="exponent", low=0.1, high=10, stronger="higher",
                       identity=1)
def toy_gamma(image, gamma, seed=0, key=""):
    return np.clip(255.0 * (image / 255.0) ** gamma, 0, 255).astype(np.uint8)
"""


DATASET = '''
from pathlib import Path

from forgebench.datasets import DatasetImporter, check_table, register_dataset, video_row


@register_dataset("toyds")
class ToyDataset(DatasetImporter):
    """ROOT/<person>/<clip>.mp4, every clip real."""

    title = "ToyDS"
    layout = "ROOT/<person>/<clip>.mp4"
    split_rule = "none: assigned by person"
    identity_rule = "the clip's folder"

    def read(self, root):
        rows = [video_row(p, dataset=self.title, method="real", compression="orig", video_name=p.stem, label=0,
                          identity=p.parent.name, label_from="every clip is real", identity_from="the clip's folder")
                for p in sorted(Path(root).glob("*/*.mp4"))]
        return check_table(rows, str(root))
'''


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The plugin package installed with pip into a folder of its own (not this venv)."""
    root = tmp_path_factory.mktemp("plugin")
    src = root / "toyplug_src"
    (src / "toyplug").mkdir(parents=True)
    (src / "pyproject.toml").write_text(PYPROJECT)
    (src / "toyplug" / "__init__.py").write_text("")
    for name, code in (
        ("generator", GENERATOR),
        ("detector", DETECTOR),
        ("metric", METRIC),
        ("perturbation", PERTURBATION),
        ("dataset", DATASET),
    ):
        (src / "toyplug" / f"{name}.py").write_text(textwrap.dedent(code))
    target = root / "site"
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--target",
        str(target),
        str(src),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (target / "toyplug" / "generator.py").is_file()
    return target


def _env(site: Path, torch_home: Path) -> dict:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        "TORCH_HOME": str(torch_home),
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "2",
    }


def test_installed_package_plugins_are_registered(site, tmp_path, clips_dir):
    clips_parent = tmp_path / "toyds"
    (clips_parent / "ann").mkdir(parents=True)
    (clips_parent / "ann" / "d0.mp4").symlink_to(clips_dir / "d0.mp4")
    code = (
        "from forgebench.generators import list_generators; from forgebench.detectors import list_detectors, create_detector;"
        "from forgebench.metrics import list_metrics; from forgebench.perturbations import list_perturbations;"
        "from forgebench.generators import GENERATORS;"
        "print(list_generators(), list_detectors(), list_metrics(), list_perturbations());"
        "m = create_detector('tiny', width=3); print(m.net[0].out_channels, m.mean.flatten().tolist(), GENERATORS.origin('blur'));"
        "import torch; from forgebench.detectors import get_detector_cfg; m = create_detector('toy_plain');"
        "print('plain', type(m).__name__, get_detector_cfg('toy_plain').input_size, tuple(m(torch.rand(2, 3, 48, 48)).shape));"
        "from forgebench.datasets import list_datasets, get_dataset; import sys; from pathlib import Path;"
        f"print('datasets', list_datasets(), get_dataset('toyds')().read(Path({str(clips_parent)!r}))['identity'].tolist())"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=_env(site, tmp_path), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "'blur'" in out and "'tiny'" in out and "'toy_mae'" in out and "'toy_gamma'" in out
    # the factory's keyword reaches the model; the normalisation comes from the DetectorCfg
    assert "3 [0.5, 0.5, 0.5] entry point 'blur'" in out and "package toyplug" in out
    # a plain torch.nn.Module factory is wrapped with its declared input size and normalisation
    assert "'toy_plain'" in out and "plain ExternalDetector 48 (2,)" in out
    # a dataset importer from a package: found by name, reads its layout
    assert "'toyds'" in out and "'faceforensics'" in out and "['ann']" in out


@pytest.mark.slow
def test_small_run_with_plugin_generator_detector_metric_perturbation(site, clips_dir, tmp_path):
    config = {
        "name": "plugins",
        "seed": 0,
        "device": "cpu",
        "data": {"max_seconds": 1.0},
        "faces": {"frames_per_video": 4, "crop_size": 64},
        "splits": {"ratio": [1, 1, 1]},
        "generators": {"blur": {"sigma": 3.0}},
        "metrics": {"frames_per_video": 2, "extra": ["toy_mae"]},
        "detectors": {"tiny": {"epochs": 2, "batch_size": 8, "image_size": 64, "model_kwargs": {"width": 4}}},
        "protocol": {
            "n_boot": 50,
            "robustness": {
                "jpeg": [],
                "blur": [],
                "noise": [],
                "downscale": [],
                "h264": [],
                "extra": {"toy_gamma": [2.0]},
            },
        },
    }
    path = tmp_path / "plugins.yaml"
    path.write_text(yaml.safe_dump(config))
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "forgebench.cli",
        "--no-progress",
        "run",
        str(path),
        "--videos",
        str(clips_dir),
        "--out",
        str(run),
    ]
    proc = subprocess.run(
        cmd, env=_env(site, tmp_path / "torch"), capture_output=True, text=True, timeout=1200, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    fakes = pd.read_parquet(run / "fakes" / "blur" / "manifest.parquet")
    assert len(fakes) == 6 and (fakes["source"] != "").all() and (fakes["driving"] == "").all()
    quality = pd.read_parquet(run / "metrics" / "quality.parquet")
    assert "toy_mae" in quality.columns and quality["toy_mae"].dropna().gt(0).all() and quality["toy_mae"].notna().any()
    metrics = json.loads((run / "detectors" / "tiny" / "blur" / "metrics.json").read_text())
    assert metrics["model_kwargs"] == {"width": 4} and metrics["image_size"] == 64 and metrics["lr"] == 1e-3
    robust = pd.read_parquet(run / "detectors" / "tiny" / "blur" / "robustness_metrics.parquet")
    assert set(robust["perturbation"]) == {"none", "toy_gamma"}
    board = (run / "leaderboard" / "leaderboard.md").read_text()
    assert "blur" in board and "tiny" in board and "toy_gamma" in board and "toy_mae" in board
