"""``provenance.json``: what made a run's numbers (versions, seed, git commit, config hash,
weights files with SHA-256, hardware), updated after every stage."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from forgebench.config import Config
from forgebench.faces.dlib_models import MODEL_FILES, model_path
from forgebench.fileio import sha256_file
from forgebench.rundir import RunDir
from forgebench.weights import used_weights

PACKAGES = (
    "forgebench",
    "torch",
    "torchvision",
    "timm",
    "numpy",
    "opencv-python",
    "dlib-bin",
    "face-recognition-models",
    "av",
    "scikit-learn",
    "scikit-image",
    "pandas",
    "pyarrow",
    "lpips",
    "pytorch-fid",
    "pydantic",
    "matplotlib",
    "face-alignment",
)


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that change the numbers (None if absent)."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit() -> str | None:
    """Commit of the forgebench source tree (with ``-dirty`` if modified), or None."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def hardware() -> dict[str, object]:
    """CPU, core count, OS, Python; torch's threads and CUDA device names when this process
    has loaded torch (a stage that never uses torch, extract, does not pay seconds to import
    it for provenance: the entries the last torch stage recorded stay, see
    :meth:`forgebench.rundir.RunDir.write_provenance`)."""
    info: dict[str, object] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            info["torch_threads"] = torch.get_num_threads()
            info["cuda"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        except Exception:  # CUDA driver trouble: provenance must not fail
            info["cuda"] = []
    return info


def dlib_weights() -> list[dict[str, str]]:
    """The dlib model files used by the faces stage and the identity metrics, with SHA-256."""
    out = []
    for name in MODEL_FILES:
        path = model_path(name)
        out.append({"name": f"dlib_{name}", "file": path.name, "sha256": sha256_file(path)})
    return out


def run_facts(config: Config) -> dict[str, Any]:
    """Run-level facts of ``provenance.json``: tool, config hash, seed, git commit,
    package versions, hardware."""
    return {
        "tool": "forgebench",
        "config_hash": config.config_hash(),
        "seed": config.seed,
        "git_commit": git_commit(),
        "packages": package_versions(),
        "hardware": hardware(),
    }


def update_provenance(run: RunDir, config: Config, stage: str, seconds: float, extra: dict | None = None) -> dict:
    """Merge this stage's facts into the run's ``provenance.json`` and return the document.

    Args:
        run: the run directory.
        config: the resolved config.
        stage: stage name (``extract``, ``generate``, ``score``, ``train``, ``report``, ``import``).
        seconds: wall time of the stage.
        extra: stage facts to record (e.g. generator checkpoints and their SHA-256).
    """
    return run.write_provenance(run_facts(config), stage, seconds, extra, dlib_weights() + used_weights())
