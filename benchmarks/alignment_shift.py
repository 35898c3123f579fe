"""How much a detector's probabilities move between forgebench's crops and DeepfakeBench's.

    python benchmarks/alignment_shift.py --checkpoint-dir DIR [--frames 8] [--picture crops.png]
    python benchmarks/alignment_shift.py --forgebench RUN/detectors/NAME/all/best.pt ...

The same faces of the six sample clips (``--frames`` evenly spaced frames each, found and
fitted once with dlib's 68 landmarks) are cropped twice at 256 px, margin 1.3: with
forgebench's alignment (all 68 points on its template, ``faces.alignment: forgebench``) and
with DeepfakeBench's (five points on the ArcFace template, ``faces.alignment:
deepfakebench``). Each detector scores both crops of every face; the output gives, per
detector, the mean, median, 95th percentile and maximum of ``|p_forgebench -
p_deepfakebench|``, the Pearson correlation of the two probabilities and how many faces
change side of p = 0.5.

Detectors: every ``<name>_best.pth`` of DeepfakeBench's in ``--checkpoint-dir`` (as
``dfb_<name>``), and forgebench checkpoints given with ``--forgebench`` (a run's
``best.pt``, scored at the image size it was trained at). ``--picture`` writes the crops
of the first face of each clip, forgebench's above DeepfakeBench's.
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

import cv2
import numpy as np
import torch

from forgebench.config import FacesSettings
from forgebench.detectors import create_detector, crops_to_tensor, list_detectors, load_detector
from forgebench.detectors.deepfakebench import registry_name
from forgebench.faces import FaceAnalyzer
from forgebench.faces.align import alignment_matrix, deepfakebench_matrix, warp_crop
from forgebench.media import iter_frames, probe, sample_indices, write_png
from forgebench.samples import fetch_clips

SIZE, MARGIN = 256, 1.3


def crop_pairs(frames: int) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Both crops of every face found in ``frames`` frames of each sample clip:
    ``(forgebench crops, DeepfakeBench crops, clip names)``, uint8 RGB ``(256, 256, 3)``."""
    analyzer = FaceAnalyzer(FacesSettings(crop_size=SIZE, margin=MARGIN))
    ours, theirs, names = [], [], []
    for clip in fetch_clips():
        for _, frame in iter_frames(clip, indices=sample_indices(probe(clip).n_frames, frames)):
            face = analyzer.detect(frame)
            if face is None:
                continue
            ours.append(warp_crop(frame, alignment_matrix(face.landmarks, SIZE, MARGIN), SIZE))
            theirs.append(warp_crop(frame, deepfakebench_matrix(face.landmarks, SIZE, MARGIN), SIZE))
            names.append(clip.stem)
    return ours, theirs, names


@torch.inference_mode()
def probabilities(model: torch.nn.Module, crops: list[np.ndarray], size: int) -> np.ndarray:
    """Fake probabilities ``(N,)`` of ``crops`` resized to ``size``, batches of 32."""
    out = [torch.sigmoid(model(crops_to_tensor(crops[i : i + 32], size))) for i in range(0, len(crops), 32)]
    return torch.cat(out).double().numpy()


def detectors(args: argparse.Namespace) -> list[tuple[str, torch.nn.Module, int]]:
    """``(label, model in eval mode, input size)`` of every detector asked for."""
    out = []
    if args.checkpoint_dir:
        known = set(list_detectors())
        for path in sorted(args.checkpoint_dir.glob("*_best.pth")):
            name = registry_name(path.name[: -len("_best.pth")])
            if name in known:
                model = create_detector(name, checkpoint_path=str(path))
                out.append((f"{name} ({path.name})", model, model.default_cfg["input_size"]))
    for path in args.forgebench or []:
        model, meta = load_detector(path)
        out.append((f"{meta['detector']} ({path})", model, int(meta["image_size"])))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint-dir", type=Path, help="a folder of DeepfakeBench checkpoints <name>_best.pth")
    parser.add_argument(
        "--forgebench", type=Path, action="append", help="a forgebench detector checkpoint (best.pt); repeatable"
    )
    parser.add_argument("--frames", type=int, default=8, help="frames per clip (default: 8)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--picture", type=Path, help="write the two crops of each clip's first face to this PNG")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    models = detectors(args)
    if not models:
        parser.error("no detector: give --checkpoint-dir with <name>_best.pth files of dfb_ detectors, or --forgebench")
    ours, theirs, names = crop_pairs(args.frames)
    print(
        f"{len(ours)} faces of {len(set(names))} sample clips, crops {SIZE} px at margin {MARGIN}: forgebench's alignment "
        "(68 points, its template) vs DeepfakeBench's (points 37, 44, 30, 49, 55 of dlib's 68, ArcFace template)"
    )
    print(
        f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}, {platform.processor() or platform.machine()}, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(
        f"{'detector':52s} {'mean':>7s} {'median':>7s} {'p95':>7s} {'max':>7s} {'corr':>6s} {'flips at 0.5':>12s}   |p_forgebench - p_deepfakebench|"
    )
    for label, model, size in models:
        p_ours, p_theirs = probabilities(model.eval(), ours, size), probabilities(model, theirs, size)
        d = np.abs(p_ours - p_theirs)
        corr = float(np.corrcoef(p_ours, p_theirs)[0, 1]) if p_ours.std() > 0 and p_theirs.std() > 0 else float("nan")
        flips = int(((p_ours >= 0.5) != (p_theirs >= 0.5)).sum())
        print(
            f"{label:52s} {d.mean():7.4f} {np.median(d):7.4f} {np.percentile(d, 95):7.4f} {d.max():7.4f} {corr:6.3f} "
            f"{flips:5d} of {len(d):<4d}"
        )
    if args.picture:
        first = [names.index(n) for n in dict.fromkeys(names)]
        grid = np.concatenate(
            [np.concatenate([ours[i] for i in first], axis=1), np.concatenate([theirs[i] for i in first], axis=1)],
            axis=0,
        )
        small = cv2.resize(grid, (grid.shape[1] // 2, grid.shape[0] // 2), interpolation=cv2.INTER_AREA)
        write_png(args.picture, small)
        print(f"wrote {args.picture}: top forgebench's crops, bottom DeepfakeBench's")


if __name__ == "__main__":
    main()
