"""Import + faces throughput of every dataset importer on small trees in the official layouts,
built from the sample clips (``tests/dataset_trees.py``), beside the faces stage alone on the
same videos.

    .venv/bin/python benchmarks/import_speed.py [--frames-per-video 32] [--crop-size 256] [--workers 1] [--out DIR]

For each importer: videos imported, frames sampled, faces found, wall seconds of
``forgebench.importing.import_dataset`` (read the layout, probe, faces, identity check,
splits, tables), videos/s and frames/s; then the faces stage alone
(:func:`forgebench.faces.sample_faces` / :func:`~forgebench.faces.sample_image_faces` in this
process) on the FaceForensics++ tree's videos and the DF40 tree's frame folders, so the
import's own cost is the difference. Prints the load average before and after and the
torch/OpenMP threads: other processes on the CPU slow every figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the tree builders the importer tests use

import dataset_trees as trees  # noqa: E402

from forgebench.config import FacesSettings  # noqa: E402
from forgebench.datasets import get_dataset  # noqa: E402
from forgebench.faces import FaceAnalyzer, sample_faces, sample_image_faces  # noqa: E402
from forgebench.importing import import_dataset  # noqa: E402
from forgebench.stages import RunDir  # noqa: E402


def _clips() -> Path:
    env = os.environ.get("FORGEBENCH_DATA_DIR")
    return Path(env) if env else REPO.parent / "shared" / "data" / "clips"


def main(argv: list[str] | None = None) -> int:
    """Build the trees, import each, print the figures; returns 0."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames-per-video", type=int, default=32)
    p.add_argument("--crop-size", type=int, default=256)
    p.add_argument(
        "--workers", default="1", help="execution.workers of the imports (1 = this process; 'auto' = the cores)"
    )
    p.add_argument("--out", type=Path, help="folder for the trees and runs (default: a temporary folder)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    out = args.out or Path(tempfile.mkdtemp(prefix="forgebench_import_speed_"))
    load0 = os.getloadavg()
    t = time.perf_counter()
    seg = trees.segments(_clips(), out / "seg")
    roots = {
        "faceforensics": trees.ff_tree(out / "ffpp", seg),
        "celebdf": trees.celebdf_tree(out / "Celeb-DF-v2", seg),
        "dfdc": trees.dfdc_tree(out / "dfdc", seg),
        "dfdcp": trees.dfdcp_tree(out / "dfdcp", seg),
        "deeperforensics": trees.deeperforensics_tree(out / "DeeperForensics-1.0", seg),
        "df40": trees.df40_tree(out / "DF40", seg),
        "folder": trees.folder_tree(out / "folder", seg),
    }
    build = time.perf_counter() - t
    workers = args.workers if args.workers == "auto" else int(args.workers)
    config = out / "cfg.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "speed",
                "device": "cpu",
                "splits": {"min_per_split": 1},
                "faces": {"frames_per_video": args.frames_per_video, "crop_size": args.crop_size},
                "execution": {"workers": workers, "threads_per_worker": 1},
            }
        )
    )
    options = {
        "deeperforensics": {"real_root": roots["faceforensics"]},
        "df40": {"real_root": [roots["faceforensics"], roots["celebdf"]]},
    }
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, 1 torch thread per process, "
        f"execution.workers {workers}; faces: {args.frames_per_video} frames per video, {args.crop_size} px, dlib HOG"
    )
    print(
        f"trees built in {build:.1f} s ({len(seg)} clip segments of {trees.FRAMES} frames, {trees.SIDE} px) under {out}"
    )
    print(f"{'importer':<16} {'videos':>6} {'sampled':>8} {'faces':>6} {'wall s':>7} {'videos/s':>9} {'frames/s':>9}")
    for name, root in roots.items():
        run = RunDir(out / "runs" / name)
        t = time.perf_counter()
        s = import_dataset(name, root, run.root, options=options.get(name), config=config, progress=False)
        wall = time.perf_counter() - t
        report = run.faces.read_report()
        sampled = sum(int(e.get("frames_sampled", 0)) for e in report.values())
        faces = sum(int(e.get("frames_with_face", 0)) for e in report.values())
        n = s["real_videos"] + sum(s["fake_videos"].values())
        print(f"{name:<16} {n:>6} {sampled:>8} {faces:>6} {wall:>7.1f} {n / wall:>9.2f} {sampled / wall:>9.1f}")
    settings = FacesSettings(frames_per_video=args.frames_per_video, crop_size=args.crop_size)
    analyzer = FaceAnalyzer(settings)
    videos = sorted((roots["faceforensics"] / "original_sequences").rglob("*.mp4"))
    t = time.perf_counter()
    sampled = faces = 0
    for v in videos:
        k, found = sample_faces(v, settings, analyzer)
        sampled, faces = sampled + k, faces + len(found)
    wall = time.perf_counter() - t
    print(
        f"{'faces stage alone':<16} {len(videos):>6} {sampled:>8} {faces:>6} {wall:>7.1f} {len(videos) / wall:>9.2f} "
        f"{sampled / wall:>9.1f}   (the FaceForensics++ tree's real videos, this process)"
    )
    folders = get_dataset("df40")().read(roots["df40"])
    t = time.perf_counter()
    sampled = faces = 0
    for frames in folders["frames"]:
        k, found = sample_image_faces(list(frames), settings, analyzer)
        sampled, faces = sampled + k, faces + len(found)
    wall = time.perf_counter() - t
    print(
        f"{'frames alone':<16} {len(folders):>6} {sampled:>8} {faces:>6} {wall:>7.1f} {len(folders) / wall:>9.2f} "
        f"{sampled / wall:>9.1f}   (the DF40 tree's frame folders, this process)"
    )
    print(f"load average: {load0[0]:.2f} before, {os.getloadavg()[0]:.2f} after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
