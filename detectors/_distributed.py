"""Multi-process training with ``torchrun`` (DistributedDataParallel).

``torchrun --nproc_per_node N -m forgebench.cli train runs/quickstart`` starts N processes; each
reads ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` / ``MASTER_ADDR`` from the environment
``torchrun`` sets, and :func:`init_distributed` joins the process group (NCCL on CUDA,
one GPU per process; Gloo on CPU). Training then follows PyTorch's DDP recipe: every
process trains on its shard of the training frames (``DistributedSampler``, reshuffled per
epoch from the run seed) with gradients averaged across processes; validation, checkpoint
choice, the test evaluation and every file write happen on rank 0 only, and rank 0's
decisions (stop early or not) are broadcast, so all processes run the same epochs.

Without ``torchrun`` (``WORLD_SIZE`` unset or 1) everything here is a no-op and training is
the single-process code path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

__all__ = ["DistInfo", "init_distributed", "dist_info", "is_main", "barrier", "broadcast_flag", "wrap_ddp"]


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` in ``[0, world_size)``, ``world_size`` >= 1,
    ``local_rank`` (GPU index on its machine), ``backend`` (``"gloo"``, ``"nccl"`` or
    ``""`` when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def enabled(self) -> bool:
        """True when more than one process trains together."""
        return self.world_size > 1


def dist_info() -> DistInfo:
    """The current process group's :class:`DistInfo` (single process when none)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistInfo()
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)), dist.get_backend())


def init_distributed(device: torch.device) -> tuple[DistInfo, torch.device]:
    """Join the ``torchrun`` process group when ``WORLD_SIZE`` > 1.

    Args:
        device: the configured device; on CUDA each process takes ``cuda:LOCAL_RANK``.

    Returns:
        ``(info, device)``: the :class:`DistInfo` and the device this process uses.

    Raises:
        RuntimeError: ``WORLD_SIZE`` > 1 but torch.distributed is unavailable, or the
            rendezvous fails (torch's message).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(), device
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return dist_info(), device


def is_main() -> bool:
    """True on rank 0 (or when not distributed): the process that evaluates and writes."""
    return dist_info().rank == 0


def barrier() -> None:
    """Wait for every process (no-op without a process group)."""
    if dist_info().enabled:
        dist.barrier()


def broadcast_flag(flag: bool) -> bool:
    """Rank 0's ``flag`` on every process (no-op without a process group)."""
    info = dist_info()
    if not info.enabled:
        return flag
    device = torch.device("cuda", torch.cuda.current_device()) if info.backend == "nccl" else torch.device("cpu")
    t = torch.tensor([1 if flag else 0], dtype=torch.int64, device=device)
    dist.broadcast(t, src=0)
    return bool(t.item())


def wrap_ddp(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``DistributedDataParallel(model)`` when distributed, else ``model`` unchanged.

    BatchNorm statistics are rank 0's (DDP broadcasts buffers before each forward), so the
    saved weights are the same on every process.
    """
    if not dist_info().enabled:
        return model
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
