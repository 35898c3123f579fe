"""Command line: ``forgebench run CONFIG`` runs every stage; ``forgebench
extract|generate|score|train|report RUN_DIR`` runs one stage of an existing run.

Errors on bad input (config, media, data) print one clear message and exit with status 2;
work already done stays in the run directory.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from forgebench.errors import ForgebenchError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forgebench",
        description="Face forgery benchmark: 'forgebench run CONFIG' runs every stage; "
        "'forgebench extract|generate|score|train|report RUN_DIR' runs one stage of an existing run.",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run every stage for a config file")
    run.add_argument("config", type=Path, help="YAML config (e.g. configs/quickstart.yaml)")
    run.add_argument("--videos", type=Path, help="folder of real videos, one identity per file stem (overrides data.videos)")
    run.add_argument("--out", type=Path, help="run directory (default: <runs_dir>/<name>)")
    for stage in ("extract", "generate", "score", "train", "report"):
        p = sub.add_parser(stage, help=f"run the {stage} stage of an existing run directory")
        p.add_argument("run_dir", type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``forgebench`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    from forgebench import pipeline
    from forgebench.config import load_config

    progress = not args.no_progress
    try:
        if args.command == "run":
            overrides = {"data.videos": str(args.videos.resolve())} if args.videos else None
            config = load_config(args.config, overrides)
            run_dir = args.out or Path(config.runs_dir) / config.name
            out = pipeline.run_all(run_dir, config, progress)
            _print_leaderboard(run_dir, out)
        else:
            config_file = args.run_dir / "config.yaml"
            if not config_file.is_file():
                raise ForgebenchError(f"{args.run_dir}: not a run directory (no config.yaml); start one with 'forgebench run CONFIG'")
            config = load_config(config_file)
            result = pipeline.STAGE_FUNCS[args.command](args.run_dir, config, progress)
            if args.command == "report":
                _print_leaderboard(args.run_dir, result)
    except ForgebenchError as exc:
        print(f"forgebench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("forgebench: interrupted; finished work is kept, run the same command again to resume", file=sys.stderr)
        return 130
    return 0


def _print_leaderboard(run_dir: Path, out: Path) -> None:
    from forgebench.leaderboard import format_markdown

    print(f"\nLeaderboard: {out / 'leaderboard.md'}  (report: {out / 'report.html'})\n")
    print(format_markdown(run_dir))


if __name__ == "__main__":
    sys.exit(main())
