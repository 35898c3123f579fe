"""Device choice shared by the benchmark scripts (run as ``python benchmarks/<script>.py``,
which puts this folder on ``sys.path``)."""

from __future__ import annotations

import argparse

import torch


def bench_devices(parser: argparse.ArgumentParser, device: str, threads: int | None) -> list[str]:
    """Devices to time for ``--device`` ``all`` (the CPU, and CUDA when available), ``cpu``
    or ``cuda``; sets torch's CPU thread count when ``threads`` is given. Exits through
    ``parser.error`` when CUDA is asked for and missing."""
    if threads:
        torch.set_num_threads(threads)
    devices = [] if device == "cuda" else ["cpu"]
    if device != "cpu" and torch.cuda.is_available():
        devices.append("cuda")
    elif device == "cuda":
        parser.error("--device cuda: torch.cuda.is_available() is False")
    return devices
