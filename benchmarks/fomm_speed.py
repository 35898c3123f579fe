"""Print the animation speed of the First Order Motion Model: frames per second of
``forgebench.generators.fomm_motion.animate`` at 256x256 with the full vox-256 networks
(random weights: speed does not depend on them), batch 1 and batched, on the CPU and, when
one is available, on CUDA.

    python benchmarks/fomm_speed.py [--frames 4] [--batch 8] [--threads N] [--device cpu|cuda|all]

Each timed run follows one untimed warm-up frame; the keypoints of the source and of the
reference frame are included in the time, as in a real animation. Figures depend on the
machine; the output states torch's version, threads and the device.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
from bench_devices import bench_devices

from forgebench.generators.fomm_model import build_fomm
from forgebench.generators.fomm_motion import animate


def measure(modules: dict, source: torch.Tensor, driving: torch.Tensor, batch: int) -> float:
    """Frames per second of ``animate`` over ``driving`` in batches of ``batch`` (after a warm-up)."""
    animate(source, driving[:1], modules, batch_size=1)
    if source.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    animate(source, driving, modules, relative=True, adapt_movement_scale=True, batch_size=batch)
    if source.is_cuda:
        torch.cuda.synchronize()
    return driving.shape[0] / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=4, help="driving frames per timed run")
    parser.add_argument("--batch", type=int, default=8, help="frames per batch of the batched run")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all",
                        help="all = the CPU, and CUDA when available")
    args = parser.parse_args()
    if args.frames < 1 or args.batch < 1:
        parser.error("--frames and --batch must be at least 1")
    devices = bench_devices(parser, args.device, args.threads)

    torch.manual_seed(0)
    modules = {k: m.eval() for k, m in build_fomm().items() if k != "discriminator"}
    source = torch.rand(1, 3, 256, 256)
    driving = torch.rand(args.frames, 3, 256, 256)
    batch = min(args.batch, args.frames)
    print(f"FOMM vox-256 (random weights), 256x256, {args.frames} driving frames, relative motion")
    cpu = platform.processor() or platform.machine()
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}, {cpu}")
    for device in devices:
        name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
        for module in modules.values():
            module.to(device)
        src, drv = source.to(device), driving.to(device)
        for b in sorted({1, batch}):
            fps = measure(modules, src, drv, b)
            print(f"device {device} ({name}), batch {b:3d}: {fps:8.2f} frames/s ({1000 / fps:8.1f} ms/frame)")


if __name__ == "__main__":
    main()
