"""Print the evaluation throughput of every registered detector: frames (face crops) per
second of a forward pass in eval mode under ``torch.inference_mode``, on the CPU and, when
one is available, on CUDA (fp32, plus an fp16 autocast row).

    python benchmarks/detector_throughput.py [--batch-size 16] [--detectors meso4,xception]
        [--iters 5 | --seconds 3] [--warmup 2] [--device cpu|cuda|all] [--threads N]
        [--size PX] [--clip VIDEO]

Inputs are real aligned face crops: a few frames of a sample clip (``d0.mp4`` from
``$FORGEBENCH_DATA_DIR`` or ``../shared/data/clips``, or ``--clip``) through
:class:`forgebench.faces.FaceAnalyzer` with the default faces settings, resized to each
detector's input size (``get_detector_cfg(name).input_size``, or ``--size``) and repeated
to fill the batch. When no clip or no face is at hand, random tensors are used and the
output says so (speed does not depend on the pixel values). Weights are random
(``pretrained=False``): speed does not depend on them either. Face detection and JPEG/PNG
decoding are not included (see faces_speed.py). Warm-up batches are not timed; CUDA
is synchronised around the timed loop. Figures depend on the machine; the output states
torch's version, threads, the load average (other processes on the CPU slow the
frames/s figures; the process CPU time per frame is less sensitive) and the device.
docs/speed.md states the ones measured there.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from bench_devices import bench_devices

from forgebench.detectors import create_detector, crops_to_tensor, get_detector_cfg, list_detectors

REPO = Path(__file__).resolve().parents[1]


def face_crops(clip: Path | None, n_frames: int = 8) -> tuple[list[np.ndarray], str]:
    """Aligned face crops ``[(256, 256, 3) uint8]`` of ``n_frames`` frames of a sample clip.

    Returns ``(crops, note)``; ``crops`` is empty (and ``note`` says why) when the clip
    cannot be found or read or has no face.
    """
    from forgebench.config import FacesSettings
    from forgebench.faces import FaceAnalyzer
    from forgebench.media import iter_frames, probe, sample_indices

    try:
        if clip is None:
            from forgebench.samples import fetch_clip

            local = REPO.parent / "shared" / "data" / "clips"
            data_dir = os.environ.get("FORGEBENCH_DATA_DIR") or (str(local) if local.is_dir() else None)
            clip = fetch_clip("d0.mp4", data_dir)
        analyzer = FaceAnalyzer(FacesSettings())
        crops = []
        for _, frame in iter_frames(clip, indices=sample_indices(probe(clip).n_frames, n_frames)):
            face = analyzer.detect(frame)
            if face is not None:
                crops.append(face.crop(frame))
    except Exception as exc:  # noqa: BLE001 - any failure falls back to random input, stated
        return [], f"no real crops ({type(exc).__name__}: {exc})"
    if not crops:
        return [], f"no face found in {clip}"
    return crops, f"{len(crops)} real aligned face crops (256 px) of {Path(clip).name}, resized per detector"


def make_batch(crops: list[np.ndarray], size: int, batch_size: int, seed: int = 0) -> torch.Tensor:
    """A ``(batch_size, 3, size, size)`` float32 batch in [0, 1]: the crops repeated, or
    uniform random values when ``crops`` is empty."""
    if not crops:
        return torch.rand(batch_size, 3, size, size, generator=torch.Generator().manual_seed(seed))
    x = crops_to_tensor(crops, size)
    return x.repeat((batch_size + len(x) - 1) // len(x), 1, 1, 1)[:batch_size].contiguous()


@torch.inference_mode()
def measure(
    model: torch.nn.Module, x: torch.Tensor, warmup: int, iters: int, seconds: float | None, fp16: bool = False
) -> tuple[float, float, int]:
    """Speed of ``model(x)`` in eval mode.

    ``warmup`` untimed batches first; then ``iters`` timed batches, or as many as fit in
    ``seconds`` (at least one) when ``seconds`` is given. ``fp16``: CUDA autocast to float16.

    Returns:
        ``(frames per second of wall-clock time, process CPU milliseconds per frame (all
        threads; less sensitive than wall time to other processes sharing the CPU),
        number of timed batches)``.
    """
    model.eval()
    cuda = x.is_cuda
    ctx = (lambda: torch.autocast("cuda", dtype=torch.float16)) if fp16 else torch.inference_mode
    with ctx():
        for _ in range(warmup):
            model(x)
        if cuda:
            torch.cuda.synchronize()
        n, start, cpu_start = 0, time.perf_counter(), time.process_time()
        while True:
            model(x)
            n += 1
            if cuda:
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - start
            cpu = time.process_time() - cpu_start
            if (seconds is not None and elapsed >= seconds) or (seconds is None and n >= iters):
                break
    return n * x.shape[0] / elapsed, 1000 * cpu / (n * x.shape[0]), n


def format_table(rows: list[dict], columns: list[str]) -> str:
    """Rows as a Markdown table (pandas ``to_markdown`` when tabulate is installed, else plain)."""
    try:
        import pandas as pd
        import tabulate  # noqa: F401

        return pd.DataFrame(rows, columns=columns).to_markdown(index=False)
    except ImportError:
        cells = [[str(r[c]) for c in columns] for r in rows]
        widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
        left = [all(not v.replace(".", "").isdigit() for v in col) for col in zip(*cells)] or [True] * len(columns)

        def line(vals: list[str]) -> str:
            return "| " + " | ".join(v.ljust(w) if lt else v.rjust(w) for v, w, lt in zip(vals, widths, left)) + " |"

        rule = "|" + "|".join(("-" * (w + 2)) if lt else ("-" * (w + 1) + ":") for w, lt in zip(widths, left)) + "|"
        return "\n".join([line(columns), rule, *map(line, cells)])


def main() -> None:
    """Parse the options, time every chosen detector on every device, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--detectors", default=None, help="comma-separated names (default: every registered detector)")
    parser.add_argument("--iters", type=int, default=5, help="timed batches per row (default 5)")
    parser.add_argument("--seconds", type=float, default=None, help="time each row this long instead of --iters")
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches before timing (default 2)")
    parser.add_argument(
        "--device", choices=["cpu", "cuda", "all"], default="all", help="all = the CPU, and CUDA when available"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument(
        "--size", type=int, default=None, help="crop side for every detector (default: each one's input size)"
    )
    parser.add_argument(
        "--clip", type=Path, default=None, help="video to crop faces from (default: sample clip d0.mp4)"
    )
    args = parser.parse_args()
    if args.batch_size < 1 or args.iters < 1 or args.warmup < 0:
        parser.error("--batch-size and --iters must be at least 1, --warmup at least 0")
    names = args.detectors.split(",") if args.detectors else list_detectors()
    unknown = sorted(set(names) - set(list_detectors()))
    if unknown:
        parser.error(f"unknown detector(s) {unknown}; registered: {list_detectors()}")
    devices = bench_devices(parser, args.device, args.threads)

    crops, note = face_crops(args.clip)
    load = " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(
        f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, load average {load}"
    )
    if "cuda" in devices:
        print(f"CUDA device: {torch.cuda.get_device_name()}")
    else:
        print("CUDA: not available, GPU rows not measured")
    print(f"input: {note if crops else 'RANDOM TENSORS, ' + note}")
    timing = f"{args.seconds:g} s per row" if args.seconds else f"{args.iters} timed batches per row"
    print(
        f"batch size {args.batch_size}, {args.warmup} warm-up batches untimed, {timing}, eval mode, inference_mode, "
        "random weights\n"
    )

    columns = [
        "detector",
        "device",
        "precision",
        "batch",
        "crop px",
        "params (M)",
        "frames/s",
        "ms/batch",
        "CPU ms/frame",
    ]
    rows = []
    for name in names:
        size = args.size or get_detector_cfg(name).input_size
        torch.manual_seed(0)
        model = create_detector(name, pretrained=False).eval()
        params = sum(p.numel() for p in model.parameters()) / 1e6
        x_cpu = make_batch(crops, size, args.batch_size)
        for device in devices:
            model.to(device)
            x = x_cpu.to(device)
            for fp16 in [False, True] if device == "cuda" else [False]:
                fps, cpu_ms, n = measure(model, x, args.warmup, args.iters, args.seconds, fp16)
                rows.append(
                    {
                        "detector": name,
                        "device": device,
                        "precision": "fp16 autocast" if fp16 else "fp32",
                        "batch": args.batch_size,
                        "crop px": size,
                        "params (M)": f"{params:.2f}",
                        "frames/s": f"{fps:.1f}",
                        "ms/batch": f"{1000 * args.batch_size / fps:.1f}",
                        "CPU ms/frame": f"{cpu_ms:.1f}",
                    }
                )
                print(f"  {name} {device} {rows[-1]['precision']}: {fps:.1f} frames/s ({n} timed batches)", flush=True)
        model.to("cpu")
        del model
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    load = " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"\nload average at the end: {load}\n")
    print(format_table(rows, columns))


if __name__ == "__main__":
    main()
