"""Scoring speed of a DeepfakeBench detector: ``forgebench evaluate``'s path side by side with
DeepfakeBench's test procedure, on the same crops and the same weights.

    python benchmarks/published_detectors.py [--detector dfb_xception] [--checkpoint xception_best.pth]
        [--crops DIR | --run RUN_DIR] [--n 128] [--workers 1] [--threads N] [--device cpu|cuda|all]

DeepfakeBench's procedure (``training/test.py`` and ``training/dataset/abstract_dataset.py``
at 8a4a7bf, written here from them): batches of 32 crops, each read one by one from its PNG
with OpenCV, BGR -> RGB, resized to 256 px with ``INTER_CUBIC`` (a no-op for 256 px
crops), divided by 255 and normalised, stacked, the detector's forward in float32 (NCHW),
``softmax(cls, 1)[:, 1]``, one process. forgebench's path is what ``forgebench evaluate``
runs (:func:`forgebench.detectors.make_loader` + :func:`forgebench.detectors.predict_loader`):
decoding in ``--workers`` loader processes while the model runs, channels-last, float32 on
the CPU (bfloat16 autocast only on CUDA, where the detector's settings ask for it; not used
here so the probabilities can be compared at the 1e-4 tolerance of the equivalence tests).

Crops: ``--crops DIR`` (PNG files), ``--run RUN_DIR`` (the run's test crops), else the six
sample clips' faces cropped at 256 px into a temporary folder. Weights: ``--checkpoint``
(DeepfakeBench's file) or a seeded random initialisation (speed does not depend on the
weights). Each path is timed after an untimed warm-up batch; the output states torch's
version, threads, workers, the load average and the device.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from bench_devices import bench_devices

from forgebench.config import FacesSettings
from forgebench.detectors import create_detector, make_loader, predict_loader
from forgebench.faces import FaceAnalyzer, sample_faces
from forgebench.media import write_png
from forgebench.samples import fetch_clips
from forgebench.stages import RunDir

BATCH = 32  # DeepfakeBench's test batch size (test_batchSize in the detector yamls)


def sample_crops(folder: Path, n: int) -> list[Path]:
    """``n`` face crops (256 px, forgebench's alignment) of the six sample clips as PNG files."""
    clips = fetch_clips()  # $FORGEBENCH_DATA_DIR first, then the cache
    settings = FacesSettings(frames_per_video=max(1, -(-n // len(clips))))
    analyzer = FaceAnalyzer(settings)
    paths = []
    for clip in clips:
        for s in sample_faces(clip, settings, analyzer)[1]:
            paths.append(folder / f"{clip.stem}_{s.frame_index:04d}.png")
            write_png(paths[-1], s.crop)
    return paths[:n]


def deepfakebench_procedure(model: torch.nn.Module, paths: list[Path], device: str) -> np.ndarray:
    """DeepfakeBench's test loop (module docstring): fake probabilities ``(N,)``."""
    cfg = model.published
    mean = torch.tensor(cfg.mean).view(1, 3, 1, 1)
    std = torch.tensor(cfg.std).view(1, 3, 1, 1)
    model.to(memory_format=torch.contiguous_format)
    out = []
    with torch.no_grad():
        for start in range(0, len(paths), BATCH):
            images = []
            for path in paths[start : start + BATCH]:
                rgb = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                rgb = cv2.resize(rgb, (cfg.input_size, cfg.input_size), interpolation=cv2.INTER_CUBIC)
                images.append(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0)
            x = ((torch.stack(images) - mean) / std).to(device)
            out.append(torch.softmax(model.class_scores(x), dim=1)[:, 1].cpu())
    return torch.cat(out).double().numpy()


def forgebench_path(model: torch.nn.Module, paths: list[Path], device: str, workers: int) -> np.ndarray:
    """``forgebench evaluate``'s scoring: the crop loader with ``workers`` processes and
    :func:`predict_loader`; fake probabilities ``(N,)``."""
    loader = make_loader(
        pd.DataFrame({"crop_path": [str(p) for p in paths], "label": -1}),
        model.published.input_size,
        BATCH,
        train=False,
        num_workers=workers,
        with_labels=False,
    )
    return 1.0 / (1.0 + np.exp(-predict_loader(model, loader, device)))


def timed(fn) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detector", default="dfb_xception", help="a dfb_ detector (default: dfb_xception)")
    parser.add_argument(
        "--checkpoint", type=Path, help="DeepfakeBench's checkpoint file (default: random weights, seed 0)"
    )
    parser.add_argument("--crops", type=Path, help="a folder of PNG face crops")
    parser.add_argument("--run", type=Path, help="a run directory: its test crops")
    parser.add_argument("--n", type=int, default=128, help="crops per timed pass (default: 128 = 4 batches of 32)")
    parser.add_argument("--workers", type=int, default=1, help="loader processes of forgebench's path (default: 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument(
        "--device", choices=["cpu", "cuda", "all"], default="cpu", help="all = the CPU, and CUDA when available"
    )
    args = parser.parse_args()
    if args.n < 1 or args.workers < 0:
        parser.error("--n must be at least 1 and --workers at least 0")
    devices = bench_devices(parser, args.device, args.threads)
    torch.manual_seed(0)
    model = create_detector(args.detector, checkpoint_path=str(args.checkpoint) if args.checkpoint else None).eval()
    with tempfile.TemporaryDirectory() as tmp:
        if args.crops:
            paths = sorted(args.crops.glob("*.png"))[: args.n]
        elif args.run:
            faces = RunDir(args.run).faces.read_manifest()
            faces = faces[faces["split"] == "test"]
            paths = [RunDir(args.run).resolve(p) for p in faces["crop_path"]][: args.n]
        else:
            paths = sample_crops(Path(tmp), args.n)
        if not paths:
            parser.error("no crops found")
        source = "checkpoint " + args.checkpoint.name if args.checkpoint else "random weights (seed 0)"
        print(
            f"{args.detector} ({source}), {len(paths)} crops of {args.crops or args.run or 'the sample clips'}, batches of {BATCH}"
        )
        print(
            f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}, forgebench loader workers {args.workers}, "
            f"{platform.processor() or platform.machine()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        for device in devices:
            model.to(device)
            deepfakebench_procedure(model, paths[:BATCH], device)  # warm-up
            ref_s, ref = timed(lambda: deepfakebench_procedure(model, paths, device))
            forgebench_path(model, paths[:BATCH], device, 0)  # warm-up
            ours_s, ours = timed(lambda: forgebench_path(model, paths, device, args.workers))
            name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
            print(
                f"device {device} ({name}): DeepfakeBench's test procedure {len(paths) / ref_s:7.2f} crops/s | forgebench evaluate "
                f"{len(paths) / ours_s:7.2f} crops/s | speed-up {ref_s / ours_s:.2f}x | max |difference| of p "
                f"{float(np.abs(ref - ours).max()):.2e} (tolerance 1e-4)"
            )


if __name__ == "__main__":
    main()
