"""Print the faces stage's throughput on the sample clips: frames per second of decoding,
dlib detection + 68 landmarks + alignment + crop, per detector setting.

    python benchmarks/faces_throughput.py [--frames 32] [--detector hog|cnn] [--crop-size 256]

Figures depend on the machine; README.md states the ones measured there.
"""

from __future__ import annotations

import argparse
import time

from forgebench.config import FacesSettings
from forgebench.faces import FaceAnalyzer
from forgebench.media import iter_frames, probe, sample_indices
from forgebench.samples import fetch_clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=32, help="frames sampled per clip")
    parser.add_argument("--detector", choices=["hog", "cnn"], default="hog")
    parser.add_argument("--crop-size", type=int, default=256)
    args = parser.parse_args()
    analyzer = FaceAnalyzer(FacesSettings(detector=args.detector, crop_size=args.crop_size))
    decode_s = detect_s = 0.0
    n = found = 0
    for clip in fetch_clips():
        idx = sample_indices(probe(clip).n_frames, args.frames)
        t0 = time.perf_counter()
        frames = list(iter_frames(clip, indices=idx))
        decode_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        for _, frame in frames:
            face = analyzer.detect(frame)
            if face is not None:
                face.crop(frame)
                found += 1
        detect_s += time.perf_counter() - t0
        n += len(frames)
    print(f"clips: 6, frames: {n}, faces found: {found}")
    print(f"decode (sampled, incl. skipped frames): {n / decode_s:8.1f} frames/s")
    print(f"detect+landmarks+align+crop ({args.detector}, {args.crop_size}px): {n / detect_s:8.1f} frames/s")


if __name__ == "__main__":
    main()
