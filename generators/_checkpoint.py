"""Generator checkpoint files: what a trained generator model is saved as.

A generator checkpoint is one ``torch.save`` dict of plain values (written and read by the
one checkpoint writer/reader of :mod:`forgebench.fileio`, ``weights_only=True``)::

    {"format": "forgebench.generator/1", "generator": <name>, "identities": [str, ...],
     "settings": {...}, "state_dict": {name: Tensor}, "train_log": {...}, **extra}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from forgebench.errors import DataError
from forgebench.fileio import load_checkpoint, save_checkpoint

__all__ = [
    "CHECKPOINT_FORMAT",
    "checkpoint_payload",
    "save_generator_checkpoint",
    "read_generator_checkpoint",
    "check_settings_match",
]

CHECKPOINT_FORMAT = "forgebench.generator/1"


def checkpoint_payload(
    generator: str,
    identities: list[str],
    settings: Mapping[str, Any],
    state_dict: Mapping[str, torch.Tensor],
    train_log: Mapping[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    """The dict a generator saves: ``format``, ``generator`` (its registered name),
    ``identities``, ``settings`` (JSON-able), ``state_dict`` (detached CPU copies of the
    tensors), ``train_log`` and any ``extra`` plain entries."""
    return {
        "format": CHECKPOINT_FORMAT,
        "generator": generator,
        "identities": list(identities),
        "settings": dict(settings),
        "state_dict": {k: v.detach().cpu().clone() for k, v in state_dict.items()},
        "train_log": dict(train_log),
        **extra,
    }


def save_generator_checkpoint(path: str | os.PathLike, payload: Mapping[str, Any]) -> Path:
    """Write a :func:`checkpoint_payload` atomically (:func:`forgebench.fileio.save_checkpoint`)."""
    return save_checkpoint(path, payload)


def read_generator_checkpoint(path: str | os.PathLike, generator: str) -> dict[str, Any]:
    """Read a generator checkpoint (``torch.load(weights_only=True)``, CPU) and check its
    format and generator name.

    Returns:
        the checkpoint dict: ``format``, ``generator``, ``identities`` (list[str]),
        ``settings`` (dict), ``state_dict`` (dict[str, Tensor]), ``train_log`` (dict).

    Raises:
        DataError: missing, truncated or unreadable file, a file holding code, not a
            forgebench generator checkpoint, or one made by another generator; the
            message names the file.
    """
    path = Path(path)
    ckpt = load_checkpoint(path, "generator checkpoint")
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise DataError(f"{path}: not a forgebench generator checkpoint (format {CHECKPOINT_FORMAT!r} expected)")
    if ckpt.get("generator") != generator:
        raise DataError(f"{path}: checkpoint of generator {ckpt.get('generator')!r}, not {generator!r}")
    for key, kind in (("identities", list), ("settings", dict), ("state_dict", dict)):
        if not isinstance(ckpt.get(key), kind):
            raise DataError(f"{path}: checkpoint has no valid {key!r} entry")
    if not all(isinstance(i, str) for i in ckpt["identities"]):
        raise DataError(f"{path}: checkpoint identities must be strings")
    if not all(isinstance(v, torch.Tensor) for v in ckpt["state_dict"].values()):
        raise DataError(f"{path}: checkpoint state_dict must hold only tensors")
    return ckpt


def check_settings_match(
    path: Path, saved: Mapping[str, Any], current: Mapping[str, Any], keys: tuple[str, ...]
) -> None:
    """Compare the settings ``keys`` (those that change the model) of the current settings
    with a checkpoint's.

    Raises:
        DataError: a key differs; the message names the file, the key and both values.
    """
    diffs = [f"{k}: checkpoint {saved.get(k)!r}, settings {current[k]!r}" for k in keys if saved.get(k) != current[k]]
    if diffs:
        raise DataError(
            f"{path}: checkpoint was trained with other settings ({'; '.join(diffs)}); "
            "delete it to retrain, or use the settings it was made with"
        )
