"""``provenance.json``: what made a run's numbers (versions, seed, git commit, config hash,
weights files with SHA-256, hardware), updated after every stage."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

from forgebench.atomic import write_json

PACKAGES = (
    "forgebench", "torch", "torchvision", "timm", "numpy", "opencv-python", "dlib-bin",
    "face-recognition-models", "av", "scikit-learn", "scikit-image", "pandas", "pyarrow",
    "lpips", "pytorch-fid", "pydantic", "matplotlib", "face-alignment",
)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


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
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=10)
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def hardware() -> dict[str, object]:
    """CPU, core count, OS, and CUDA device names if any."""
    info: dict[str, object] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # torch missing or CUDA driver trouble: provenance must not fail
        info["cuda"] = []
    return info


def dlib_weights() -> list[dict[str, str]]:
    """The dlib model files used by the faces stage and the identity metrics, with SHA-256."""
    from forgebench.faces.dlib_models import MODEL_FILES, model_path

    out = []
    for name in MODEL_FILES:
        path = model_path(name)
        out.append({"name": f"dlib_{name}", "file": path.name, "sha256": sha256_file(path)})
    return out


def update_provenance(run_dir: Path, config, stage: str, seconds: float, extra: dict | None = None) -> dict:
    """Merge this stage's facts into ``run_dir/provenance.json`` and return the document.

    Args:
        run_dir: the run directory.
        config: the resolved :class:`forgebench.config.Config`.
        stage: stage name (``extract``, ``generate``, ``score``, ``train``, ``report``).
        seconds: wall time of the stage.
        extra: stage facts to record (e.g. generator checkpoints and their SHA-256).
    """
    path = Path(run_dir) / "provenance.json"
    doc = json.loads(path.read_text()) if path.is_file() else {}
    doc.update(
        {
            "tool": "forgebench",
            "config_hash": config.config_hash(),
            "seed": config.seed,
            "git_commit": git_commit(),
            "packages": package_versions(),
            "hardware": hardware(),
        }
    )
    weights = {w["name"]: w for w in doc.get("weights", [])}
    for w in dlib_weights():
        weights[w["name"]] = w
    try:
        from forgebench.weights import used_weights

        for w in used_weights():
            weights[w["name"]] = w
    except ImportError:
        pass
    doc["weights"] = sorted(weights.values(), key=lambda w: w["name"])
    stages = doc.setdefault("stages", {})
    stages[stage] = {"finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seconds": round(seconds, 1), **(extra or {})}
    write_json(path, doc)
    return doc
