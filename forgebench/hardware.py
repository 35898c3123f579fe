"""What the CPU this process runs on can do: its instruction-set flags, read once.

Used where the fastest correct code path depends on the CPU: libx264's instruction set
(:func:`forgebench.media.x264_asm`) and bfloat16 conversion on the CPU
(:meth:`forgebench.generators.Generator.use_low_precision`).
"""

from __future__ import annotations

import functools
from pathlib import Path

__all__ = ["cpu_flags", "cpu_native_bf16"]


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The ``flags`` of the first CPU in ``/proc/cpuinfo`` (Linux on x86: ``avx2``,
    ``avx512f``, ``avx512_bf16``, ...); empty where that file is missing or lists none
    (macOS, Windows, some ARM kernels)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    return frozenset(
        next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    )


def cpu_native_bf16() -> bool:
    """Whether the CPU multiplies bfloat16 in hardware (x86 ``avx512_bf16`` or
    ``amx_bf16``) and PyTorch's oneDNN uses it: there, bfloat16 autocast with channels-last
    convolutions ran FOMM 2x faster than float32 on 2 AMD EPYC cores
    (``benchmarks/fomm_speed.py``); elsewhere bfloat16 is emulated and no faster."""
    if not {"avx512_bf16", "amx_bf16"} & cpu_flags():
        return False
    try:
        import torch  # only here: the codec helpers that read cpu_flags need no torch

        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError, ImportError):
        return False
