"""FOMM animation speed: forgebench's conversion path side by side with the official demo's
frame-by-frame loop, on the same model and input.

    python benchmarks/fomm_speed.py [--frames 16] [--batch B] [--threads N] [--device cpu|cuda|all]

The reference is the official ``demo.make_animation`` procedure, written here from it:
for each driving frame in turn, the keypoints of that frame, relative motion
(``normalize_kp``), the generator on the source, batch 1, float32. forgebench's path is
``forgebench.generators.fomm.motion.animate`` as the ``fomm`` generator runs it:
``--batch`` driving frames per forward pass (default: the generator's, 16 on CUDA and
4 on CPU), and, on CUDA and on CPUs with hardware
bfloat16 (``forgebench.hardware.cpu_native_bf16``), channels-last with bfloat16 autocast
(the generator's ``low_precision``, within its stated tolerance of float32).
Full vox-256 networks at 256x256 with random weights (speed does not depend on them);
each timed run follows an untimed warm-up; the keypoints of the source and of the
reference frame are inside the time. The output states torch's version, threads, the
load average and the device.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch
from bench_devices import bench_devices

from forgebench.generators.fomm import Fomm
from forgebench.generators.fomm.model import build_fomm
from forgebench.generators.fomm.motion import animate, normalize_kp
from forgebench.hardware import cpu_native_bf16


def official_loop(modules: dict, source: torch.Tensor, driving: torch.Tensor) -> torch.Tensor:
    """The official demo's ``make_animation``: one driving frame at a time, float32."""
    generator, kp_detector = modules["generator"], modules["kp_detector"]
    out = []
    with torch.inference_mode():
        kp_source = kp_detector(source)
        kp_initial = kp_detector(driving[:1])
        for t in range(driving.shape[0]):
            kp_driving = kp_detector(driving[t : t + 1])
            kp_norm = normalize_kp(kp_source, kp_driving, kp_initial, True, True, True)
            out.append(generator(source, kp_source=kp_source, kp_driving=kp_norm)["prediction"])
    return torch.cat(out)


def low_precision(device: str) -> bool:
    """Whether the fomm generator converts in bfloat16 on ``device`` (its ``low_precision``
    default)."""
    return device == "cuda" or cpu_native_bf16()


def forgebench_path(modules: dict, source: torch.Tensor, driving: torch.Tensor, batch: int) -> torch.Tensor:
    """``animate`` in batches; under bfloat16 autocast where the generator uses it (the
    modules are already channels-last there)."""
    device = source.device.type
    with torch.autocast(device, dtype=torch.bfloat16, enabled=low_precision(device)):
        return animate(source, driving, modules, relative=True, adapt_movement_scale=True, batch_size=batch)


def timed(fn, source: torch.Tensor) -> float:
    fn()  # warm-up (kernel selection, allocations)
    if source.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if source.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=16, help="driving frames per timed run")
    parser.add_argument(
        "--batch",
        type=int,
        default=None,
        help="driving frames per forward pass of forgebench's path (default: the fomm generator's, 16 on CUDA, 4 on CPU)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument(
        "--device", choices=["cpu", "cuda", "all"], default="all", help="all = the CPU, and CUDA when available"
    )
    args = parser.parse_args()
    if args.frames < 1 or (args.batch is not None and args.batch < 1):
        parser.error("--frames and --batch must be at least 1")
    devices = bench_devices(parser, args.device, args.threads)

    torch.manual_seed(0)
    modules = {k: m.eval() for k, m in build_fomm().items() if k != "discriminator"}
    source = torch.rand(1, 3, 256, 256)
    driving = torch.rand(args.frames, 3, 256, 256)
    print(f"FOMM vox-256 (random weights), 256x256, {args.frames} driving frames, relative motion")
    print(
        f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}, {platform.processor() or platform.machine()}, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    for device in devices:
        name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
        batch = args.batch or (Fomm.BATCH if device == "cuda" else Fomm.CPU_BATCH)
        src, drv = source.to(device), driving.to(device)
        # the official loop on the official memory layout; then forgebench's layout
        for module in modules.values():
            module.to(device, memory_format=torch.contiguous_format)
        ref = timed(lambda: official_loop(modules, src, drv), src)
        expected = official_loop(modules, src, drv).float()
        for module in modules.values():
            module.to(device, memory_format=torch.channels_last if low_precision(device) else torch.contiguous_format)
        ours = timed(lambda: forgebench_path(modules, src, drv, batch), src)
        diff = (expected - forgebench_path(modules, src, drv, batch).float()).abs().max()
        print(
            f"device {device} ({name}): official frame-by-frame loop {args.frames / ref:8.2f} frames/s | forgebench "
            f"(batch {batch}{', bf16 channels-last' if low_precision(device) else ', float32'}) {args.frames / ours:8.2f} frames/s | "
            f"speed-up {ref / ours:.2f}x | max |difference| {float(diff):.4f} (pixel values in [0, 1])"
        )


if __name__ == "__main__":
    main()
