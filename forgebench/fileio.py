"""Generic file IO shared by every part of forgebench: one atomic writer, one JSON /
CSV / Parquet reader and writer, one checkpoint writer and reader, one SHA-256.

- :func:`atomic_path` and the ``write_*`` functions: a file appears under its final name
  only when complete (``<stem>.partial<suffix>`` + :func:`os.replace`), so an interrupted
  run never leaves a truncated file a resumed run would take for finished work;
- :func:`save_checkpoint` / :func:`load_checkpoint`: ``torch.save`` atomically, and
  ``torch.load(weights_only=True)`` with errors that name the file and say what is wrong
  (missing, truncated, holding code) — user files are never unpickled;
- :func:`sha256_file`: the one SHA-256 of a file (cached per path, size and mtime).

This module knows nothing of a run directory's layout (that is :mod:`forgebench.rundir`)
or of table columns (:mod:`forgebench.schemas`); plugins import it, never ``rundir``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import pickle
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forgebench.errors import DataError

if TYPE_CHECKING:  # annotations only: pandas (0.3 s of import) is imported by the function that reads
    # a table, as worker processes that write crops and videos through atomic_path do not need it
    import pandas as pd


# -- one atomic writer -------------------------------------------------------------------
def partial_path(path: str | os.PathLike) -> Path:
    """The temporary name ``<stem>.partial<suffix>`` a file is written under before it is
    renamed to ``path`` (the suffix is kept so writers that pick a format from it, PyAV
    and PIL, still do)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.partial{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Context manager yielding the temporary path to write ``path`` through.

    On a clean exit the temporary file is renamed to ``path`` (atomic on POSIX); on an
    exception it is deleted and the exception propagates, so ``path`` is either absent,
    the old file, or the complete new file. The parent folder is created.

    Example:
        >>> with atomic_path(out) as tmp:
        ...     df.to_parquet(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def json_safe(value: Any) -> Any:
    """Copy of ``value`` with NaN/inf floats replaced by ``None``, NumPy scalars and arrays
    made plain and tuples made lists, so it can be written as strict JSON."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, doc: Any) -> Path:
    """Write ``doc`` as strict, indented, key-sorted JSON atomically (NaN/inf written as
    ``null``, other non-JSON values through ``str``); returns the path."""
    return write_text(path, json.dumps(json_safe(doc), indent=2, sort_keys=True, allow_nan=False, default=str) + "\n")


def write_csv(path: str | os.PathLike, df: pd.DataFrame) -> Path:
    """Write a DataFrame as CSV (no index) atomically; returns the path."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
    return Path(path)


def write_parquet(path: str | os.PathLike, df: pd.DataFrame) -> Path:
    """Write a DataFrame as Parquet (pyarrow, no index) atomically; returns the path."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return Path(path)


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """Read a JSON file.

    Raises:
        DataError: missing or not valid JSON; the message names the file and ``what``.
    """
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: {what} not found") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read {what} ({exc}); delete it to redo the work that wrote it") from None


def read_parquet(path: str | os.PathLike, required: tuple[str, ...] | list[str] = ()) -> pd.DataFrame:
    """Read a Parquet table and check it has the ``required`` columns.

    Raises:
        DataError: the file is missing, unreadable, or lacks a required column (the
            message names the file and the columns).
    """
    import pandas as pd  # here, not at the top: see the TYPE_CHECKING import

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: not found")
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a corrupt file
        raise DataError(f"{path}: cannot read as Parquet ({exc}); delete it to redo the work that wrote it") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing} (schema: docs/architecture.md)")
    return df


# -- one SHA-256 --------------------------------------------------------------------------
_HASHES: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Full SHA-256 hex digest (64 lower-case hex digits) of a file, cached in this process
    by (resolved path, size, modification time), so a file hashed twice is read once.

    Raises:
        OSError: the file cannot be read.
    """
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(chunk), b""):
                h.update(block)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


# -- one checkpoint writer and reader -----------------------------------------------------------
def save_checkpoint(path: str | os.PathLike, payload: Mapping[str, Any]) -> Path:
    """Write a checkpoint dict with ``torch.save``, atomically; returns the path.

    ``payload`` must hold only what ``torch.load(weights_only=True)`` reads back: tensors,
    dicts, lists, tuples, str, int, float, bool and None (no objects, no code). Tensors are
    saved as they are: detach and move them to the CPU first.
    """
    import torch  # torch takes seconds to import; readers of tables (CLI, extract workers) never need it

    with atomic_path(path) as tmp:
        torch.save(dict(payload), tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike, what: str = "checkpoint") -> dict[str, Any]:
    """Read a checkpoint dict with ``torch.load(weights_only=True)`` onto the CPU.

    Only tensors and plain containers are read; a file that holds pickled code is refused,
    never unpickled.

    Args:
        path: the file.
        what: what the file should be, for messages (``"generator checkpoint"``).

    Returns:
        the dict stored in the file.

    Raises:
        DataError: the file is missing, empty, truncated or not a torch file, holds
            pickled objects other than tensors and plain containers, or does not hold a
            dict; the one-line message names the file.
    """
    import torch  # torch takes seconds to import; readers of tables (CLI, extract workers) never need it

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} not found")
    size = path.stat().st_size
    if size == 0:
        raise DataError(f"{path}: {what} is an empty file (an interrupted copy?)")
    if not zipfile.is_zipfile(path) and _looks_like_zip(path):
        raise DataError(
            f"{path}: {what} is truncated or corrupt ({size} bytes; the zip archive torch writes is incomplete)"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights_only" in str(exc) or "Weights only load failed" in str(exc):
            raise DataError(
                f"{path}: refused for safety: this {what} holds pickled Python objects or code besides tensors, "
                "and forgebench reads files with torch.load(weights_only=True) and never unpickles code "
                "(save a plain dict of tensors and numbers instead)"
            ) from None
        raise DataError(f"{path}: {what} is corrupt or not a torch file ({_first_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001 - zip, pickle and torch raise many types for bad files
        raise DataError(
            f"{path}: {what} is truncated, corrupt or not a torch file ({type(exc).__name__}: {_first_line(exc)})"
        ) from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: {what} must hold a dict, holds {type(obj).__name__}")
    return obj


def _looks_like_zip(path: Path) -> bool:
    """Whether a file starts like a zip archive (``PK``), i.e. is torch's format."""
    with open(path, "rb") as f:
        return f.read(2) == b"PK"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
