"""Throughput of forgebench's units of work with 1 and 2 local workers and on a local Ray:
the faces stage (frames/s of sampled frames turned into crops) and fake-video conversion
(frames/s of converted frames), with the core count and load average beside each figure.

    python benchmarks/scaling.py [--frames 32] [--seconds 4] [--skip-ray] [--clips DIR]

Faces: :func:`forgebench.stages.extract.extract_faces` on the six sample clips.
Conversion: :func:`forgebench.stages.generate.convert_unit` of the quickstart's
``autoencoder_swap`` (random weights: its speed does not depend on them) on the first
``--seconds`` of each clip as target. Each backend is warmed up (worker processes started,
models loaded) on one unit before the timed run, as a run's pool serves all its stages.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from forgebench.config import FacesSettings
from forgebench.execution import Backend, LocalBackend, RayBackend, SerialBackend, Unit, cpu_count, run_units
from forgebench.faces import FaceAnalyzer
from forgebench.generators import VideoInput, VideoOutput, get_generator
from forgebench.media import probe
from forgebench.samples import fetch_clips
from forgebench.stages import RunDir
from forgebench.stages.extract import VideoMeta, extract_faces
from forgebench.stages.generate import GeneratorSpec, convert_unit

SWAP = {"iterations": 1, "batch_size": 16, "encoder_dim": 512, "width": 0.25}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def faces(backend: Backend, clips: list[Path], frames: int, tmp: Path) -> float:
    settings = FacesSettings(frames_per_video=frames)
    jobs = [(c, VideoMeta("bench", "real", "c23", c.stem, 0, c.stem)) for c in clips]
    # warm-up on as many videos as workers, so every worker process has started
    extract_faces(
        RunDir(tmp / "warm"), jobs[: cpu_count()], FacesSettings(frames_per_video=2), progress=False, backend=backend
    )
    start = time.perf_counter()
    extract_faces(RunDir(tmp / "faces"), jobs, settings, progress=False, backend=backend)
    return sum(min(frames, probe(c).n_frames) for c in clips) / (time.perf_counter() - start)


def conversion(backend: Backend, clips: list[Path], seconds: float, checkpoint: Path, tmp: Path) -> float:
    spec = GeneratorSpec(
        "autoencoder_swap", get_generator("autoencoder_swap").Settings(**SWAP), FacesSettings(), "cpu", 0, {}
    )

    def units(tag: str, few: int | None = None) -> tuple[list[Unit], int]:
        out, n = [], 0
        for c in clips:
            frames = few or max(1, round(seconds * probe(c).fps))
            n += min(frames, probe(c).n_frames)
            target = VideoInput(c, c.stem, frames)
            out.append(
                Unit(
                    c.stem,
                    convert_unit,
                    (
                        spec,
                        checkpoint,
                        target,
                        "d3",
                        None,
                        VideoOutput(tmp / tag / f"{c.stem}.mp4"),
                        tmp / tag / f"{c.stem}.parquet",
                        False,
                    ),
                )
            )
        return out, n

    run_units(units("warm", 2)[0][: cpu_count()], "warm-up", progress=False, backend=backend)
    todo, n = units("conv")
    start = time.perf_counter()
    run_units(todo, "convert", progress=False, backend=backend)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=32, help="faces: frames sampled per clip")
    parser.add_argument("--seconds", type=float, default=4.0, help="conversion: seconds of each clip converted")
    parser.add_argument("--skip-ray", action="store_true", help="leave out the local Ray")
    parser.add_argument("--clips", type=Path, default=None, help="folder of clips (default: the six samples)")
    args = parser.parse_args()
    clips = sorted(args.clips.glob("*.mp4")) if args.clips else fetch_clips()
    print(f"{len(clips)} sample clips; {cpu_count()} cores; load average {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        gen = get_generator("autoencoder_swap")(SWAP, FaceAnalyzer(), "cpu", 0)
        gen.build(["d0", "d3"])
        checkpoint = gen.save(tmp / "model.pt")
        backends: list[tuple[str, object]] = [
            ("1 worker x 1 thread (main process)", lambda: SerialBackend(1)),
            ("2 local workers x 1 thread", lambda: LocalBackend(2, threads=1)),
        ]
        if not args.skip_ray:
            backends.append((f"local Ray ({cpu_count()} CPUs) x 1 thread", start_ray))
        print(f"{'backend':36s} {'faces frames/s':>15s} {'conversion frames/s':>20s}  load average after")
        for name, make in backends:
            backend = make()  # Ray starts only for its own row: its processes would load the cores of the others
            f = faces(backend, clips, args.frames, tmp / name.split()[0])
            c = conversion(backend, clips, args.seconds, checkpoint, tmp / (name.split()[0] + "c"))
            print(f"{name:36s} {f:15.1f} {c:20.1f}  {load()}")
            backend.close()
        if not args.skip_ray:
            import ray  # optional dependency (extra 'ray')

            ray.shutdown()


def start_ray() -> Backend:
    """A local Ray with this machine's cores, and its backend."""
    import ray  # optional dependency (extra 'ray')

    ray.init(num_cpus=cpu_count(), include_dashboard=False, log_to_driver=False)
    return RayBackend(threads=1)


if __name__ == "__main__":
    main()
