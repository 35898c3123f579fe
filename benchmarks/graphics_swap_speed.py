"""Conversion speed of ``faceswap_graphics`` (no training) beside the learned generators'
conversion on the same frames, against the issue-23 goal: at least 25 frames/s on one core
at 256-px crops.

    .venv/bin/python benchmarks/graphics_swap_speed.py [--frames 48] [--threads 1] [--clip-dir DIR]

Target ``d0`` and source (or driving) ``d3`` of the sample clips (``$FORGEBENCH_DATA_DIR`` or
``../shared/data/clips``), faces at the quickstart's 256-px crops (margin 1.3). The target
frames and their tracked faces are prepared first (decoding and tracking are the same for
every generator); what is timed is each generator's conversion of those frames with their
faces into fake frames and masks (warp or network, colour correction, blending, paste-back):

- ``faceswap_graphics`` with each blending and colour correction;
- ``autoencoder_swap`` (``convert_faces``: network on the batch and paste-back) at the
  quickstart's settings and at the original's full width, untrained (speed does not depend
  on the weights);
- every generator's whole ``generate`` of the same frames (decode, tracking, conversion,
  H.264 writing of the fake and its mask), frames per second of wall time, for scale.

Each figure is the median of ``--repeat`` runs after a warm-up; torch and OpenCV get
``--threads`` threads. A figure, never a test.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import torch

from forgebench.config import FacesSettings
from forgebench.faces import FaceAnalyzer, FaceTracker, sample_faces
from forgebench.generators import DrivingInput, VideoInput, VideoOutput, get_generator
from forgebench.media import VideoWriter, iter_frames, probe

GOAL_FPS = 25.0
REPO = Path(__file__).resolve().parents[1]
TARGET, OTHER = "d0", "d3"
QUICKSTART = {
    "autoencoder_swap": {"iterations": 1, "batch_size": 2, "encoder_dim": 512, "width": 0.25},
    "pix2pix_reenact": {"image_size": 128, "ngf": 32, "ndf": 32, "epochs": 1},
    "fomm": None,  # filled from configs/quickstart.yaml (its small model_params)
    "faceswap_graphics": {},
}


def _timed(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48, help="target frames converted")
    parser.add_argument("--threads", type=int, default=1, help="torch and OpenCV threads")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (the median is printed)")
    default_dir = os.environ.get("FORGEBENCH_DATA_DIR") or str(REPO.parent / "shared" / "data" / "clips")
    parser.add_argument("--clip-dir", type=Path, default=Path(default_dir), help="folder of the sample clips")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    import yaml  # only to read the quickstart's fomm networks

    quick = yaml.safe_load((REPO / "configs" / "quickstart.yaml").read_text())
    QUICKSTART["fomm"] = {**quick["generators"]["fomm"], "iterations": 1, "batch_size": 2}
    target_clip, other_clip = args.clip_dir / f"{TARGET}.mp4", args.clip_dir / f"{OTHER}.mp4"
    settings = FacesSettings(crop_size=256, margin=1.3)
    analyzer = FaceAnalyzer(settings)
    _, samples = sample_faces(other_clip, settings, analyzer)
    source_crops = {OTHER: [s.crop for s in samples]}
    source_points = {OTHER: [s.face.landmarks_crop for s in samples]}
    _, target_samples = sample_faces(target_clip, settings, analyzer)
    tracker = FaceTracker(analyzer)
    frames, faces = [], []
    for _, frame in iter_frames(target_clip, max_frames=args.frames):
        face = tracker(frame)
        if face is not None:
            frames.append(frame)
            faces.append(face)
    info = probe(target_clip)
    print(
        f"{len(frames)} frames of {TARGET} ({info.width}x{info.height}) with faces, source {OTHER} "
        f"({len(samples)} faces); 256-px crops; {args.threads} thread(s); torch {torch.__version__}; "
        f"{platform.processor() or platform.machine()}; load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'conversion (frames and faces given)':<58} {'frames/s':>9}   goal >= {GOAL_FPS:g} frames/s")

    def built(name: str, extra: dict) -> object:
        gen = get_generator(name)(extra, FaceAnalyzer(settings), "cpu", seed=0)
        gen.set_splits({TARGET: "train", OTHER: "train"})
        needed = gen.model_identities(gen.model_key(TARGET, OTHER))
        crops = {i: source_crops[OTHER] if i == OTHER else [s.crop for s in target_samples] for i in needed}
        points = {
            i: source_points[OTHER] if i == OTHER else [s.face.landmarks_crop for s in target_samples] for i in needed
        }
        gen.fit(crops, progress=False, landmarks=points)
        return gen

    rows = []
    for color in ("lab", "histogram"):
        for blend in ("poisson", "feather"):
            gen = built("faceswap_graphics", {"color": color, "blend": blend})
            seconds = _timed(lambda g=gen: g.convert_faces(frames, faces, OTHER), args.repeat)
            rows.append((f"faceswap_graphics color={color} blend={blend}", len(frames) / seconds))
    for label, extra in (
        ("autoencoder_swap quickstart (64 px, width 0.25)", QUICKSTART["autoencoder_swap"]),
        ("autoencoder_swap original (64 px, width 1.0, 1024-d)", {"iterations": 1, "batch_size": 2}),
    ):
        gen = built("autoencoder_swap", extra)
        seconds = _timed(lambda g=gen: g.convert_faces(frames, faces, OTHER), args.repeat)
        rows.append((label, len(frames) / seconds))
    for label, fps in rows:
        mark = "met" if fps >= GOAL_FPS else ""
        print(f"{label:<58} {fps:>9.1f}   {mark}")

    print(f"\n{'whole generate (decode, track, convert, write fake + mask)':<58} {'frames/s':>9}")
    with tempfile.TemporaryDirectory(prefix="graphics_swap_") as tmp:
        driving = Path(tmp) / f"{OTHER}.mp4"
        with VideoWriter(driving, fps=probe(other_clip).fps) as writer:
            for _, frame in iter_frames(other_clip, max_frames=args.frames):
                writer.write(frame)
        for name in ("faceswap_graphics", "autoencoder_swap", "pix2pix_reenact", "fomm"):
            gen = built(name, QUICKSTART[name])
            other = OTHER if gen.role == "source" else DrivingInput(driving, OTHER)
            out = Path(tmp) / f"{name}.mp4"

            def run(g=gen, o=other, out=out) -> None:
                g.generate(
                    VideoInput(target_clip, TARGET, args.frames),
                    o,
                    VideoOutput(out, 23, mask_path=out.with_name(f"{out.stem}_mask.mp4")),
                    progress=False,
                )

            seconds = _timed(run, max(1, args.repeat - 2))
            print(f"{name + ' (quickstart settings)':<58} {args.frames / seconds:>9.1f}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
