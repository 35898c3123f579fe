"""Fit the canonical 68-point template on videos: ``python -m forgebench.faces.template_cli
VIDEO... [--frames 32]`` prints the points of :data:`forgebench.faces.template.TEMPLATE_68`
(generalised Procrustes mean of dlib landmarks, mirrored to be symmetric)."""

from __future__ import annotations

import argparse

import numpy as np

from forgebench.faces.analyzer import FaceAnalyzer
from forgebench.faces.template import fit_template
from forgebench.media import iter_frames, probe, sample_indices


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fit the canonical 68-point template on videos.")
    parser.add_argument("videos", nargs="+")
    parser.add_argument("--frames", type=int, default=32)
    args = parser.parse_args(argv)
    analyzer = FaceAnalyzer()
    shapes = []
    for video in args.videos:
        idx = sample_indices(probe(video).n_frames, args.frames)
        for _, frame in iter_frames(video, indices=idx):
            boxes = analyzer.detect_boxes(frame)
            if boxes:
                bbox = max(boxes, key=lambda b: (b[0][2] - b[0][0]) * (b[0][3] - b[0][1]))[0]
                shapes.append(analyzer.landmarks(frame, bbox))
    template = fit_template(np.stack(shapes))
    for x, y in template:
        print(f"    [{x: .6f}, {y: .6f}],")


if __name__ == "__main__":
    _main()
