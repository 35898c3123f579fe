"""A stage command pays only for what its stage uses: the stage modules are imported on
first use, a run's config validates each plugin section when the stage first reads it, and
the extract stage imports neither torch nor scikit-learn, its worker processes (which import
the modules of its units) neither pandas nor torch, and the report stage no torch."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from forgebench.configure import load_config, load_run_config
from forgebench.errors import ConfigError
from forgebench.stages import STAGE_FUNCS, STAGES, WORKER_MODULES

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["quickstart.yaml", "default.yaml"])
def test_run_config_equals_the_resolved_config(tmp_path, name):
    resolved = load_config(REPO / "configs" / name)
    stored = tmp_path / "config.yaml"
    stored.write_text(resolved.to_yaml())
    lazy = load_run_config(stored)
    # the bound hash is what resuming checks: it must not change when a stage reloads the file
    assert lazy.config_hash() == resolved.config_hash() and lazy.to_yaml() == resolved.to_yaml()
    for det in resolved.detectors:
        assert lazy.detector_settings(det) == resolved.detector_settings(det)
    for gen in resolved.generators:
        assert lazy.generator_settings(gen) == resolved.generator_settings(gen)
    assert lazy.protocol_settings() == resolved.protocol_settings()
    assert lazy.metrics_settings() == resolved.metrics_settings()


def test_a_bad_plugin_section_fails_when_the_stage_reads_it(tmp_path):
    doc = yaml.safe_load(load_config(REPO / "configs" / "quickstart.yaml").to_yaml())
    doc["detectors"]["meso4"]["epochz"] = 3
    stored = tmp_path / "config.yaml"
    stored.write_text(yaml.safe_dump(doc))
    cfg = load_run_config(stored)  # the core sections are fine: an extract stage runs
    assert cfg.faces.crop_size == doc["faces"]["crop_size"]
    with pytest.raises(ConfigError, match=r"config\.yaml.*epochz"):
        cfg.detector_settings("meso4")
    with pytest.raises(ConfigError, match="no section"):
        cfg.detector_settings("not_configured")


def test_stage_functions_are_imported_on_first_use():
    assert list(STAGE_FUNCS) == list(STAGES)
    assert callable(STAGE_FUNCS["report"]) and STAGE_FUNCS["extract"].__name__ == "extract"
    with pytest.raises(KeyError):
        STAGE_FUNCS["nope"]


def test_the_extract_stage_imports_no_torch_or_sklearn(tmp_path):
    stored = tmp_path / "config.yaml"
    stored.write_text(load_config(REPO / "configs" / "quickstart.yaml").to_yaml())
    code = (
        "import sys; import forgebench.stages.extract; from forgebench.configure import load_run_config; "
        f"load_run_config({str(stored)!r}).faces; "
        "print(sorted(m for m in ('torch', 'sklearn', 'timm', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_extract_stage_workers_import_no_pandas_or_torch(clips_dir, tmp_path):
    # what a worker imports before its first unit, then runs: a faces unit on a real clip
    # (unpickled, as the pool does) and an identity unit on its crops. pandas (which pyarrow
    # imports when it builds a table) and torch would cost each worker process about a second
    # on a 2-core machine: the stage writes the face manifests in its own process
    code = f"""
import importlib, pickle, sys
from pathlib import Path
from forgebench.stages import WORKER_MODULES
for name in WORKER_MODULES["extract"]:
    importlib.import_module(name)
from forgebench.config import FacesSettings
from forgebench.execution import Unit
from forgebench.faces.embedding import embedding_unit
from forgebench.stages.extract_units import VideoMeta, faces_unit
out = Path({str(tmp_path)!r})
meta = VideoMeta("samples", "real", "c23", "d0", 0, "d0")
unit = Unit("f", faces_unit, (Path({str(clips_dir / "d0.mp4")!r}), meta, FacesSettings(crop_size=64, frames_per_video=2), out, "crops"))
result = pickle.loads(pickle.dumps(unit))()
crops = [out / r["crop_path"].split("/")[-1] for r in result.rows]
landmarks = [r["landmarks_crop"] for r in result.rows]
import numpy as np
embeddings = embedding_unit(crops, [np.reshape(v, (68, 2)) for v in landmarks], "dlib")
print(len(result.rows), embeddings.shape)
print(sorted(m for m in ("pandas", "pyarrow", "torch", "sklearn", "forgebench.rundir", "forgebench.stages.extract") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["2 (2, 128)", "[]"]


def test_every_worker_module_exists():
    # a preload that fails is ignored (only the head start is lost), so a misspelt name would go unnoticed
    assert set(WORKER_MODULES) == set(STAGES)
    missing = [m for modules in WORKER_MODULES.values() for m in modules if importlib.util.find_spec(m) is None]
    assert missing == []


def test_the_stage_process_leaves_the_face_alignment_to_its_workers():
    # the main process lists and collects; scikit-image's transforms (scipy.spatial) are
    # imported by the workers, ahead of their first unit: the module named is where
    # SimilarityTransform lives (a preload that fails costs only the head start, so check it)
    code = (
        "import importlib, sys; import forgebench.cli, forgebench.stages.extract; print('skimage' in sys.modules); "
        "from forgebench.stages import WORKER_MODULES; [importlib.import_module(m) for m in WORKER_MODULES['extract']]; "
        "import skimage.transform; print(skimage.transform.SimilarityTransform.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "skimage.transform._geometric"]


def test_the_report_stage_and_metric_declarations_import_no_torch():
    # the report formats stored results: the metrics' declarations (labels, directions) sit
    # beside code that needs torch, lpips and pytorch-fid only when it computes
    code = (
        "import sys; import forgebench.stages.report, forgebench.metrics.declared; "
        "print(sorted(m for m in ('torch', 'torchvision', 'lpips', 'pytorch_fid', 'timm') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_asking_for_weights_status_imports_no_torch(tmp_path):
    # the extract stage asks whether the ArcFace weights are there (identity check): a path, not torch
    code = (
        "import sys; from forgebench.weights import ARCFACE_WEIGHTS, cache_dir, weights_status; "
        "weights_status(ARCFACE_WEIGHTS); print(cache_dir()); print('torch' in sys.modules)"
    )
    env = {"PATH": "", "TORCH_HOME": str(tmp_path / "th"), "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.split() == [str(tmp_path / "th" / "hub" / "checkpoints"), "False"]
