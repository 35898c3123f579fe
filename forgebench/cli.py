"""Command line: ``forgebench run CONFIG`` runs every stage; ``forgebench
extract|generate|score|train|report RUN_DIR`` runs one stage of an existing run
(``generate`` then extracts the faces of the new fakes, the extract stage's job;
``train --detector package.module:factory`` trains a detector from outside the repository);
``forgebench detect VIDEO --detector RUN_DIR/detectors/NAME`` scores one video with a
trained detector (:mod:`forgebench.detect`); ``forgebench evaluate RUN_DIR --detector
SPEC --checkpoint FILE`` scores an already trained detector (:mod:`forgebench.evaluate`);
``forgebench evaluate RUN_B --detector RUN_A/detectors/NAME`` scores it across datasets;
``forgebench export testset RUN_DIR`` and ``forgebench submit RUN_DIR FILE --name NAME``
take prediction submissions (:mod:`forgebench.submissions`); ``forgebench leaderboard
RUN_DIR...`` publishes one table across runs (:mod:`forgebench.publish`); ``forgebench
import NAME ROOT --out RUN_DIR`` makes a run of one of the field's datasets
(:mod:`forgebench.importing`) and ``forgebench identities RUN_DIR`` checks its identities
(:mod:`forgebench.identities`).

Errors on bad input (config, media, data) print one clear message and exit with status 2;
work already done stays in the run directory.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from forgebench.errors import ConfigError, ForgebenchError

if TYPE_CHECKING:  # annotations only: importing it costs pandas
    from forgebench.rundir import RunDir

# Every other forgebench module imports torch, pandas or OpenCV (seconds on a small CPU), so
# each verb imports what it needs inside its function: `forgebench --help` and argument
# errors answer at once (benchmarks/cli_startup.py measures it).

#: The stage verbs, in order (``forgebench.stages.STAGES``; kept here so the parser needs no
#: stage module; ``tests/test_cli_e2e.py`` checks they agree).
STAGE_NAMES = ("extract", "generate", "score", "train", "report")


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
    run.add_argument(
        "--videos", type=Path, help="folder of real videos, one identity per file stem (overrides data.videos)"
    )
    run.add_argument("--out", type=Path, help="run directory (default: <runs_dir>/<name>)")
    helps = {"generate": "run the generate stage (then the extract stage: faces of the new fakes)"}
    for stage in STAGE_NAMES:
        p = sub.add_parser(stage, help=helps.get(stage, f"run the {stage} stage of an existing run directory"))
        p.add_argument("run_dir", type=Path)
        if stage == "train":
            p.add_argument(
                "--detector",
                help="train only this detector: a registered name or package.module:factory "
                "(a torch.nn.Module factory declaring input_size, mean, std in default_cfg)",
            )
            p.add_argument("--name", help="the detector's name in the run (default: the factory's name)")
    _add_detect_parser(sub)
    _add_interop_parsers(sub)
    _add_protocol_parsers(sub)
    return parser


def _add_protocol_parsers(sub) -> None:
    """``evaluate``, ``submit`` and ``leaderboard``: detectors and tables from outside the zoo."""
    p = sub.add_parser(
        "evaluate",
        help="score an already trained detector under the protocol (no training): your weights, "
        "or a detector trained in another run (cross-dataset)",
    )
    p.add_argument("run_dir", type=Path, nargs="?")
    p.add_argument(
        "--list-published",
        action="store_true",
        help="list DeepfakeBench's released detectors (dfb_<name>): "
        "expected checkpoint files, where they are published, papers; then exit",
    )
    p.add_argument(
        "--detector",
        help="package.module:factory or a registered name (with --checkpoint; dfb_<name>: "
        "DeepfakeBench's <name>_best.pth as published), or "
        "RUN_A/detectors/NAME[/TRAIN_SET]: a detector trained in run A, scored on this run's test split with A's "
        "thresholds (cross-dataset)",
    )
    p.add_argument(
        "--checkpoint", type=Path, help="the weights of --detector SPEC (a state dict; read with weights_only=True)"
    )
    p.add_argument(
        "--train-set", help="cross-dataset: the train set in run A (default: all when trained, else the only one)"
    )
    p.add_argument("--name", help="the detector's name in the run (default: the factory's name)")
    p = sub.add_parser(
        "submit", help="score a predictions file (CSV or Parquet: id, score) against the sealed test labels"
    )
    p.add_argument("run_dir", type=Path)
    p.add_argument("file", type=Path, help="one row per test frame id or video id of 'forgebench export testset'")
    p.add_argument("--name", required=True, help="the submission's name in the leaderboard")
    p = sub.add_parser(
        "compare",
        help="is detector A better than B on the same test set? paired cluster bootstrap "
        "of the differences in AUC, AP, EER and log loss, with p-values (and DeLong's test)",
    )
    p.add_argument("run_dir", type=Path)
    p.add_argument("a", help="detector A: NAME or NAME/TRAIN_SET (default train set: all, else the only one)")
    p.add_argument("b", help="detector B, as A (a submission: NAME/submission; published weights: NAME/pretrained)")
    p.add_argument("--test-set", help="the test set (default: all, else the only one both have)")
    p = sub.add_parser("leaderboard", help="one table across runs and submissions (Markdown, CSV, HTML, LaTeX)")
    p.add_argument("run_dirs", type=Path, nargs="+")
    p.add_argument("--out", type=Path, default=Path("leaderboard"), help="output folder (default: ./leaderboard)")


def _add_detect_parser(sub) -> None:
    """The ``detect`` verb: score one video with a trained detector."""
    p = sub.add_parser("detect", help="score one video with a trained detector (frame scores, plot, verdict)")
    p.add_argument("video", type=Path, help="the video file")
    p.add_argument(
        "--detector",
        type=Path,
        required=True,
        help="RUN_DIR/detectors/NAME, or its train-set folder RUN_DIR/detectors/NAME/SET holding best.pt",
    )
    p.add_argument("--train-set", help="train set of the detector (default: 'all' if trained, else the only one)")
    p.add_argument(
        "--out", type=Path, default=Path("forgebench_detect"), help="output folder (default: ./forgebench_detect)"
    )
    p.add_argument("--every", type=int, default=1, help="analyse every N-th frame (default: 1, every frame)")
    p.add_argument("--max-frames", type=int, help="analyse at most N frames (after --every)")
    p.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], default="auto", help="default: auto (CUDA when available)"
    )


def _add_interop_parsers(sub) -> None:
    """``export deepfakebench|testset RUN_DIR``, ``import NAME ROOT --out RUN_DIR`` and
    ``identities RUN_DIR`` (:mod:`forgebench.interop`, :mod:`forgebench.importing`,
    :mod:`forgebench.identities`)."""
    p = sub.add_parser(
        "export", help="write a run's face crops in another benchmark's format, or its unlabelled test set"
    )
    p.add_argument(
        "format",
        choices=["deepfakebench", "testset"],
        help="deepfakebench: dataset JSON + label dict (with --deepfakebench-root: what DeepfakeBench's train.py "
        "loads); testset: test and validation crops and videos with anonymous ids and no labels, for 'forgebench submit'",
    )
    p.add_argument("run_dir", type=Path)
    p.add_argument(
        "--deepfakebench-root",
        type=Path,
        help="DeepfakeBench's folder: writes preprocessing/dataset_json/<name>.json "
        "and places the crops under datasets/rgb/<name>/ (links; --copy to copy)",
    )
    p.add_argument("--name", help="the dataset name in DeepfakeBench (default: the run's dataset)")
    p.add_argument(
        "--copy", action="store_true", help="copy the crops into --deepfakebench-root instead of linking them"
    )
    p.add_argument(
        "--out",
        type=Path,
        help="JSON file (default: RUN_DIR/export/deepfakebench/<dataset>.json), "
        "or folder (default: RUN_DIR/export/testset)",
    )
    p.add_argument("--absolute", action="store_true", help="absolute frame paths (default: relative to RUN_DIR)")
    p.add_argument(
        "--compression-level",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="compression key between split and video (default: only for DeepfakeBench's FaceForensics++ names)",
    )
    p = sub.add_parser(
        "import",
        help="make a run directory from a dataset as its official download leaves it "
        "('forgebench import --list' names the datasets)",
    )
    p.add_argument(
        "name",
        nargs="?",
        help="the dataset importer (faceforensics, celebdf, dfdc, dfdcp, deeperforensics, df40, "
        "deepfakebench, folder, or a plugin's)",
    )
    p.add_argument("root", nargs="?", type=Path, help="the dataset folder (for deepfakebench: its dataset JSON file)")
    p.add_argument(
        "--list", action="store_true", help="list the dataset importers with their layout, split and identity rules"
    )
    p.add_argument("--out", type=Path, help="run directory to write")
    p.add_argument("--config", type=Path, help="forgebench YAML config for the run (default: built-in defaults)")
    p.add_argument("--frames-per-video", type=int, help="faces sampled per video (overrides faces.frames_per_video)")
    p.add_argument(
        "--max-videos", type=int, help="at most N real videos, whole groups of people from every split (quick trials)"
    )
    options = p.add_argument_group("importer options (each importer takes some: forgebench import --list)")
    for flag, kwargs in IMPORT_OPTIONS.items():
        options.add_argument(flag, **kwargs)
    options.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other option of the importer (a plugin's), e.g. --option subset=hq",
    )
    p = sub.add_parser(
        "identities",
        help="find videos under different identity labels that show one person (faces/identity_check.json)",
    )
    p.add_argument("run_dir", type=Path)


#: The importers' options as CLI flags (``dest`` = the option's name in the importer's ``Options``).
IMPORT_OPTIONS: dict[str, dict] = {
    "--compression": {"help": "faceforensics: raw, c23 or c40 (default c23)"},
    "--methods": {"help": "faceforensics, df40: method folders, comma-separated"},
    "--splits": {"type": Path, "help": "faceforensics, df40: folder of FaceForensics++ train/val/test.json"},
    "--version": {"help": "celebdf: v1, v2 or ++ (default: from the folder name)"},
    "--variants": {"help": "deeperforensics: manipulated_videos subfolders (default end_to_end)"},
    "--domains": {"help": "df40: ff and/or cdf (default both)"},
    "--real-root": {
        "type": Path,
        "action": "append",
        "help": "deeperforensics, df40: the download holding the real class "
        "(FaceForensics++; for df40 also Celeb-DF: give it once per domain)",
    },
    "--real-compression": {
        "help": "deeperforensics, df40: compression folder of the FaceForensics++ reals (default c23)"
    },
    "--frames-root": {"type": Path, "help": "deepfakebench: the folder the JSON's frame paths are relative to"},
    "--label-dict": {"type": Path, "help": "deepfakebench: JSON of label name -> 0/1"},
    "--manifest": {"type": Path, "help": "folder: the CSV manifest (default ROOT/identities.csv)"},
}


def _import_options(args: argparse.Namespace) -> dict:
    """The importer options given on the command line (``--option KEY=VALUE`` included).

    Raises:
        ConfigError: an ``--option`` without ``=``.
    """
    options = {flag[2:].replace("-", "_"): getattr(args, flag[2:].replace("-", "_")) for flag in IMPORT_OPTIONS}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--option {item!r}: expected KEY=VALUE")
        options[key.strip().replace("-", "_")] = value
    return options


def _interop(args, progress: bool) -> None:
    """Run the ``export`` / ``import`` / ``identities`` verbs and print what they wrote."""
    # imported here, not at the top: heavy (torch, pandas, OpenCV); see the module's imports
    from forgebench import interop
    from forgebench.configure import load_config
    from forgebench.datasets import get_dataset, list_datasets
    from forgebench.identities import run_identity_check
    from forgebench.importing import import_dataset
    from forgebench.rundir import RunDir
    from forgebench.submissions import export_testset

    if args.command == "export" and args.format == "testset":
        s = export_testset(RunDir(args.run_dir).require(), args.out, progress)
        print(
            f"wrote {s['out']}: {s['videos']} videos and {s['frames']} face crops without labels (index.csv, README.txt); "
            f"next: 'forgebench submit {args.run_dir} PREDICTIONS.csv --name NAME'"
        )
        return
    if args.command == "export" and args.deepfakebench_root:
        path, rgb, n = interop.export_to_deepfakebench(
            RunDir(args.run_dir).require(), args.deepfakebench_root, args.name, args.copy, args.compression_level
        )
        print(
            f"wrote {path} and {interop.deepfakebench.label_dict_path(path)}; {'copied' if args.copy else 'linked'} {n} crops and mask crops "
            f"into {rgb}. In DeepfakeBench: merge the label dict into label_dict of training/config/train_config.yaml and "
            f"test_config.yaml, set lmdb: false there, and run from {args.deepfakebench_root}: python training/train.py "
            f"--detector_path training/config/detector/xception.yaml --train_dataset {path.stem} --test_dataset {path.stem}"
        )
        return
    if args.command == "export":
        for path in interop.export_deepfakebench(args.run_dir, args.out, args.absolute, args.compression_level):
            print(f"wrote {path} and {interop.deepfakebench.label_dict_path(path)}")
        return
    if args.command == "identities":
        run = RunDir(args.run_dir).require()
        doc = run_identity_check(run, load_config(run.config_file), progress)
        print(f"{doc['summary']}; wrote {run.faces.identity_check_file}")
        return
    if args.list:
        for name in list_datasets():
            meta = get_dataset(name).metadata()
            print(
                f"{name}: {meta['title']}\n  layout: {meta['layout']}\n  split: {meta['split_rule']}\n"
                f"  identity: {meta['identity_rule']}" + (f"\n  options: {meta['options']}" if meta["options"] else "")
            )
        return
    if not args.name or not args.root or not args.out:
        raise ConfigError("forgebench import NAME ROOT --out RUN_DIR (forgebench import --list names the datasets)")
    s = import_dataset(
        args.name,
        args.root,
        args.out,
        options=_import_options(args),
        config=args.config,
        frames_per_video=args.frames_per_video,
        max_videos=args.max_videos,
        progress=progress,
    )
    left = "; ".join(f"{n} {reason}" for reason, n in s["left_out"].items()) or "none"
    print(
        f"imported {s['real_videos']} real and {sum(s['fake_videos'].values())} fake videos {s['fake_videos']} of "
        f"{s['dataset']} into {s['run_dir']} (splits {s['splits']}); left out: {left}; {len(s['errors'])} failed "
        f"(faces/report.json)"
    )
    print(s["identity_check"])
    print(
        f"next: 'forgebench train {s['run_dir']}'"
        if not s["fakes_only"]
        else f"the run holds fakes only: import the real class with --real-root, or evaluate a detector on it "
        f"('forgebench evaluate {s['run_dir']} --detector RUN/detectors/NAME') once it holds both"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``forgebench`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    progress = not args.no_progress
    # At exit the interpreter's last garbage collection walks every object of the libraries
    # imported, 0.15 s a process on a 2-core machine, and the command waits for its workers'
    # exit before its own (they do the same: forgebench.execution). Nothing needs collecting
    # then, so the objects are frozen out of it; at exit only, as main() may be called in a
    # process that goes on.
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
    try:
        if args.command in ("extract", "generate", "score", "train"):
            _start_workers(args.run_dir, args.command)
        # imported here, not at the top: heavy (pandas, pydantic); see the module's imports. A stage
        # verb imports its stage only (forgebench.stages.STAGE_FUNCS) and validates only the config
        # sections that stage reads (load_run_config).
        from forgebench import stages
        from forgebench.configure import load_config, load_run_config
        from forgebench.execution import set_threads
        from forgebench.rundir import RunDir

        if args.command == "run":
            overrides = {"data.videos": str(args.videos.resolve())} if args.videos else None
            config = load_config(args.config, overrides)
            set_threads(config.execution.threads_per_worker)
            run = RunDir(args.out or Path(config.runs_dir) / config.name)
            stages.run_all(run, config, progress)
            _print_summary(run)
        elif args.command == "detect":
            _detect(args, progress)
        elif args.command in ("export", "import", "identities"):
            _interop(args, progress)
        elif args.command in ("evaluate", "submit", "leaderboard"):
            _protocol(args, progress)
        elif args.command == "compare":
            from forgebench.compare import compare_detectors, comparison_text  # heavy: scipy, torch

            doc = compare_detectors(RunDir(args.run_dir).require(), args.a, args.b, args.test_set)
            print(comparison_text(doc))
            print(
                f"wrote {RunDir(args.run_dir).leaderboard.comparison_file(doc['a'], doc['b'], doc['test_set'])}; "
                f"'forgebench report {args.run_dir}' adds it to the leaderboard"
            )
        else:
            run = RunDir(args.run_dir).require()
            config = load_run_config(run.config_file)
            set_threads(config.execution.threads_per_worker)
            if args.command == "train" and args.detector:
                from forgebench.detectors import is_spec, use_external  # heavy: torch, timm

                spec = args.detector if is_spec(args.detector) else ""
                name = use_external(spec, args.name) if spec else args.detector
                stages.STAGE_FUNCS["train"](run, config, progress, detectors={name: spec})
            else:
                stages.STAGE_FUNCS[args.command](run, config, progress)
            if args.command == "generate":
                stages.STAGE_FUNCS["extract"](run, config, progress)
            if args.command == "report":
                _print_summary(run)
    except ForgebenchError as exc:
        print(f"forgebench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("forgebench: interrupted; finished work is kept, run the same command again to resume", file=sys.stderr)
        return 130
    return 0


def _start_workers(run_dir: Path, stage: str) -> None:
    """Start the worker processes of the run's ``execution`` backend, each importing the
    modules of ``stage``'s units (:data:`forgebench.stages.WORKER_MODULES`), before this
    process imports the stage: the imports take seconds on a small CPU, and workers started
    after them would pay theirs again while this process waits
    (:meth:`forgebench.execution.Backend.start`). A run directory or config with a problem
    is left to the stage, which reports it."""
    from forgebench.config import RUN_CONFIG
    from forgebench.configure import load_run_config  # pydantic only: fast
    from forgebench.execution import backend_for
    from forgebench.stages import WORKER_MODULES  # the package imports no stage

    config_file = Path(run_dir) / RUN_CONFIG
    try:
        config = load_run_config(config_file)
    except ForgebenchError:
        return
    backend_for(config.execution).start(list(WORKER_MODULES[stage]))


def _protocol(args: argparse.Namespace, progress: bool) -> None:
    """Run ``evaluate``, ``submit`` or ``leaderboard`` and print what they wrote."""
    # imported here, not at the top: heavy (torch, pandas, OpenCV); see the module's imports
    from forgebench.configure import load_config
    from forgebench.evaluate import evaluate_cross_dataset, evaluate_detector, list_published_text
    from forgebench.execution import set_threads
    from forgebench.publish import write_across
    from forgebench.rundir import RunDir
    from forgebench.submissions import submit

    if args.command == "leaderboard":
        out, markdown = write_across(list(args.run_dirs), args.out, progress)
        _print_leaderboard(out, markdown)
        return
    if args.command == "evaluate" and args.list_published:
        print(list_published_text())
        return
    if args.command == "evaluate" and (args.run_dir is None or args.detector is None):
        raise ConfigError("forgebench evaluate: give RUN_DIR and --detector (or --list-published)")
    run = RunDir(args.run_dir).require()
    config = load_config(run.config_file)
    set_threads(config.execution.threads_per_worker)
    if args.command == "evaluate" and args.checkpoint is None:
        if not Path(args.detector).is_dir():
            raise ConfigError(
                f"--detector {args.detector}: give RUN_A/detectors/NAME (a detector trained in another run), or a "
                "factory or registered name with --checkpoint FILE"
            )
        doc = evaluate_cross_dataset(run, config, Path(args.detector), args.train_set, progress)
        where = run.detectors.files(doc["detector"], doc["train_set"]).folder
    elif args.command == "evaluate":
        doc = evaluate_detector(run, config, args.detector, args.checkpoint, args.name, progress)
        where = run.detectors.files(doc["detector"], doc["train_set"]).folder
    else:
        doc = submit(run, args.file, args.name)
        where = run.submissions.files(args.name).folder
    video = doc["video"]
    low, high = video["auc_ci_low"], video["auc_ci_high"]
    finite = all(isinstance(v, (int, float)) and math.isfinite(v) for v in (low, high))
    ci = f"[{low:.3f}, {high:.3f}]" if finite else f"[{video.get('ci_status') or 'no interval'}]"
    print(
        f"{doc['detector']} ({doc['train_set']}) on test set {doc['test_set']}: video AUC {video['auc']:.3f} "
        f"{ci} ({video['n_identities']} identities, {video['n_videos']} videos); "
        f"wrote {where}; 'forgebench report {args.run_dir}' adds it to the leaderboard"
    )
    print(
        f"thresholds: frame {doc['threshold']:.4f} ({doc.get('threshold_source', 'n/a')}), video {doc['video_threshold']:.4f} "
        f"({doc.get('video_threshold_source', 'n/a')})"
    )
    if args.command == "submit":
        limit = config.protocol_settings().max_submissions_per_day
        print(
            f"attempt {doc['attempt']} under this name, {doc['attempts_run']} scored in this run (at most {limit} in any "
            f"24 hours, protocol.max_submissions_per_day; every attempt is logged in {run.submissions.log_file})"
        )


def _detect(args: argparse.Namespace, progress: bool) -> None:
    """Run ``forgebench detect`` and print the video score and the files written."""
    from forgebench.detect import detect_video  # heavy (torch, OpenCV): imported by the verb that needs it

    if args.every < 1 or (args.max_frames is not None and args.max_frames < 1):
        raise ForgebenchError(f"--every and --max-frames must be at least 1, got {args.every} and {args.max_frames}")
    s = detect_video(
        args.video,
        args.detector,
        args.out,
        train_set=args.train_set,
        every=args.every,
        max_frames=args.max_frames,
        device=args.device,
        progress=progress,
    )
    print(
        f"{s['video']}: {s['detector']} (trained on {s['train_set']}), {s['frames_with_face']} of "
        f"{s['frames_analysed']} analysed frames with a face"
    )
    print(
        f"video score: {s['video_score']:.4f} ({s['aggregation']} of frame scores), "
        f"video threshold: {s['video_threshold']:.4f} -> {s['verdict']}"
    )
    print(
        f"frames called fake: {s['frames_called_fake']} of {s['frames_with_face']} (frame threshold {s['threshold']:.4f})"
    )
    print(f"wrote {s['csv']}, {s['plot']}, {s['json']}")


def _print_summary(run: RunDir) -> None:
    """Print a run's summary (``leaderboard/summary.txt``, at most 25 lines: what ran, the
    headline video AUCs, the thin-evidence line, where the report is); the tables are in the
    files it names."""
    print("\n" + run.leaderboard.summary.read_text())


def _print_leaderboard(out: Path, markdown: str) -> None:
    """Print where the leaderboard is and its Markdown (as the report stage wrote it)."""
    print(f"\nLeaderboard: {out / 'leaderboard.md'}  (report: {out / 'report.html'})\n")
    print(markdown)


if __name__ == "__main__":
    sys.exit(main())
