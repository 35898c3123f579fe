"""How fast the command line answers: ``forgebench --help`` and an argument error, each in a
fresh process, against the 0.5 s goal (issue 22), and the import time of the stage modules
a verb then pays.

    .venv/bin/python benchmarks/cli_startup.py [--repeat 5]

Prints the median wall time of each command beside the goal; a figure, never a test.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

GOAL_S = 0.5


def _wall(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per command (the median is printed)")
    args = parser.parse_args(argv)
    py = sys.executable
    rows = [
        ("forgebench --help", [py, "-m", "forgebench.cli", "--help"]),
        ("forgebench nope (argument error)", [py, "-m", "forgebench.cli", "nope"]),
        ("import forgebench.stages (every stage verb)", [py, "-c", "import forgebench.stages"]),
        ("import forgebench.stages.extract (extract verb)", [py, "-c", "import forgebench.stages.extract"]),
        (
            "WORKER_MODULES['extract'] (its workers: no pandas)",
            [
                py,
                "-c",
                "import importlib; from forgebench.stages import WORKER_MODULES; "
                "[importlib.import_module(m) for m in WORKER_MODULES['extract']]",
            ],
        ),
        ("import forgebench.stages.train (train verb, its workers)", [py, "-c", "import forgebench.stages.train"]),
        ("import forgebench.stages.report (report verb: no torch)", [py, "-c", "import forgebench.stages.report"]),
        ("python -c pass (interpreter start-up)", [py, "-c", "pass"]),
    ]
    print(f"{'command':<60} {'median s':>9}  goal")
    for name, cmd in rows:
        seconds = _wall(cmd, args.repeat)
        goal = f"< {GOAL_S} s: {'met' if seconds < GOAL_S else 'NOT met'}" if name.startswith("forgebench") else "-"
        print(f"{name:<60} {seconds:>9.3f}  {goal}")


if __name__ == "__main__":
    main()
