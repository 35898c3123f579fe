"""The fixed cost of a stage command: ``forgebench extract RUN`` on ten clips in a fresh
process, beside the same stage's work in a process that has already imported everything,
against the issue-22 goal (at most 3 s beyond the work).

    .venv/bin/python benchmarks/stage_fixed_cost.py [--clips 10] [--workers 1 2] [--repeat 5] [--clip-dir DIR]

The clips are the sample clips (``$FORGEBENCH_DATA_DIR`` or ``../shared/data/clips``),
repeated under new names when fewer than ``--clips`` exist (the repeats are the same
people under other identity labels; the identity check reports them, which costs what it
costs in a real run). For each worker count:

- **command**: wall time of ``forgebench --no-progress extract RUN`` in a fresh process
  (interpreter start-up, imports, config, listing, the worker processes' start-up and
  imports, the work);
- **work**: wall time of the same stage called again in this process, on a fresh run
  directory of the same clips (imports done, worker processes started and warm: the first
  call warms them up);
- **fixed**: the median over ``--repeat`` alternated pairs of command minus work, with the
  pairs' range beside it: the work of ten clips is about 25 s and moves by seconds between
  runs on a loaded 2-core machine, so single pairs scatter around the fixed cost; the goal
  is judged on it;
- **fastest**: the fastest command minus the fastest work, the estimate least disturbed by
  the machine's load (other work only ever slows a run down);
- **start-up measured directly**: a fresh interpreter importing the CLI and the extract stage
  and loading the dlib models, timed alone (the noise-free part of the fixed cost; worker
  processes pay it too, in parallel).

Command and work columns are medians of ``--repeat`` runs.

A figure, never a test: the numbers depend on the machine and its load, printed with both.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from forgebench.configure import load_config, load_run_config
from forgebench.execution import set_threads
from forgebench.stages import STAGE_FUNCS, RunDir, bind

GOAL_S = 3.0
REPO = Path(__file__).resolve().parents[1]


def _clips(clip_dir: Path, n: int, out: Path) -> Path:
    """``out`` holding ``n`` videos: the clips of ``clip_dir``, repeated under new names."""
    found = sorted(clip_dir.glob("*.mp4"))
    if not found:
        raise SystemExit(f"{clip_dir}: no .mp4 clips (set FORGEBENCH_DATA_DIR or --clip-dir)")
    out.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        src = found[k % len(found)]
        name = src.stem if k < len(found) else f"{src.stem}r{k // len(found)}"
        shutil.copyfile(src, out / f"{name}.mp4")
    return out


def _run_dir(root: Path, name: str, videos: Path, workers: int) -> RunDir:
    """A bound run directory of the quickstart config on ``videos`` with ``workers`` workers."""
    overrides = {
        "data.videos": str(videos),
        "execution.workers": workers,
        "execution.threads_per_worker": 1,
        "name": name,
    }
    config = load_config(REPO / "configs" / "quickstart.yaml", overrides)
    run = RunDir(root / name)
    bind(run, config)
    return run


STARTUP_CODE = """
import time
start = time.perf_counter()
import forgebench.cli, forgebench.stages.extract
imported = time.perf_counter()
from forgebench.faces import dlib_models
dlib_models.hog_detector(); dlib_models.shape_predictor(); dlib_models.descriptor_model()
print(imported - start, time.perf_counter() - imported)
import gc; gc.freeze()  # as the forgebench command and its workers do at exit
"""


def _startup_line() -> str:
    """The constant part measured directly, free of the work's noise: a fresh interpreter
    importing the CLI and the extract stage, then loading the dlib models its units use
    (what each worker process also pays once); medians of three."""
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", STARTUP_CODE], check=True, capture_output=True, text=True)
        total = time.perf_counter() - start
        imports, models = (float(x) for x in out.stdout.split())
        runs.append((total, imports, models))
    total, imports, models = (statistics.median(r[i] for r in runs) for i in range(3))
    return (
        f"start-up measured directly (fresh interpreter, median of 3): {total:.2f} s "
        f"= imports {imports:.2f} s + dlib models {models:.2f} s "
        f"+ interpreter start and exit {total - imports - models:.2f} s"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=10, help="videos the stage extracts faces from")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker processes (execution.workers)")
    default_dir = os.environ.get("FORGEBENCH_DATA_DIR") or str(REPO.parent / "shared" / "data" / "clips")
    parser.add_argument("--clip-dir", type=Path, default=Path(default_dir), help="folder of sample clips")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each measurement (the median is printed)")
    args = parser.parse_args(argv)
    set_threads(1)
    exe = Path(sys.executable).with_name("forgebench")
    with tempfile.TemporaryDirectory(prefix="fixed_cost_") as tmp:
        root = Path(tmp)
        videos = _clips(args.clip_dir, args.clips, root / "videos")
        print(
            f"forgebench extract on {args.clips} clips; load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores"
        )
        print(
            f"{'workers':>7} {'command s':>10} {'work s':>8} {'fixed s':>8} {'pairs min..max s':>17}"
            f" {'fastest s':>9}  goal: fixed <= {GOAL_S:g} s"
        )
        for workers in args.workers:
            works, commands = [], []

            def warm(name: str, workers: int = workers) -> float:
                run = _run_dir(root, name, videos, workers)
                start = time.perf_counter()
                STAGE_FUNCS["extract"](run, load_run_config(run.config_file), False)
                return time.perf_counter() - start

            warm(f"warmup{workers}")  # imports, starts and warms the workers; not counted
            for k in range(args.repeat):  # alternated, so a change of the machine's load hits both alike
                works.append(warm(f"warm{workers}_{k}"))
                run = _run_dir(root, f"cli{workers}_{k}", videos, workers)
                start = time.perf_counter()
                subprocess.run([str(exe), "--no-progress", "extract", str(run.root)], check=True, capture_output=True)
                commands.append(time.perf_counter() - start)
            pairs = [c - w for c, w in zip(commands, works)]
            fixed = statistics.median(pairs)
            met = "met" if fixed <= GOAL_S else "NOT met"
            spread = f"{min(pairs):.2f}..{max(pairs):.2f}"
            print(
                f"{workers:>7} {statistics.median(commands):>10.2f} {statistics.median(works):>8.2f} "
                f"{fixed:>8.2f} {spread:>17} {min(commands) - min(works):>9.2f}  {met}"
            )
        print(_startup_line())
        print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
