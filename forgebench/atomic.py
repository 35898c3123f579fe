"""Atomic file writers: every file a stage writes appears under its final name only when
complete (``<name>.partial`` + :func:`os.replace`), so an interrupted run never leaves a
truncated file that a resumed run would take for finished work."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def partial_path(path: Path) -> Path:
    """The temporary name a file is written under before it is renamed to ``path``."""
    return path.with_name(path.name + ".partial")


def _commit(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    write(tmp)
    os.replace(tmp, path)


def json_safe(value: Any) -> Any:
    """Copy of ``value`` with NaN/inf floats replaced by ``None`` and NumPy scalars made
    plain, so it can be written as strict JSON."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    _commit(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, doc: Any) -> None:
    """Write ``doc`` as strict, indented JSON atomically (NaN/inf written as ``null``;
    other non-JSON values through ``str``)."""
    write_text(path, json.dumps(json_safe(doc), indent=2, sort_keys=True, allow_nan=False, default=str) + "\n")


def write_csv(path: Path, df: pd.DataFrame) -> None:
    """Write a DataFrame as CSV (no index) atomically."""
    _commit(path, lambda tmp: df.to_csv(tmp, index=False))


def write_parquet(path: Path, df: pd.DataFrame) -> None:
    """Write a DataFrame as Parquet (no index) atomically."""
    _commit(path, lambda tmp: df.to_parquet(tmp, index=False))
