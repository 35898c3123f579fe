"""Device choice, seeding and determinism, shared by every stage that uses torch."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def select_device(name: str = "auto"):
    """``torch.device`` for a config's ``device`` key: ``auto`` (CUDA if available, else
    CPU), ``cpu`` or ``cuda``.

    Raises:
        RuntimeError: ``cuda`` asked for but not available.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: cuda asked for in the config, but torch sees no CUDA device")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) and make CPU torch deterministic, so the
    same config on the same machine gives the same numbers."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)
