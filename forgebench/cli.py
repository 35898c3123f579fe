"""Command line: ``forgebench run CONFIG`` runs every stage; ``forgebench
extract|generate|score|train|report RUN_DIR`` runs one stage of an existing run
(``generate`` then extracts the faces of the new fakes, the extract stage's job;
``train --detector package.module:factory`` trains a detector from outside the repository);
``forgebench detect VIDEO --detector RUN_DIR/detectors/NAME`` scores one video with a
trained detector (:mod:`forgebench.detect`); ``forgebench evaluate RUN_DIR --detector
SPEC --checkpoint FILE`` scores an already trained detector (:mod:`forgebench.evaluate`);
``forgebench export testset RUN_DIR`` and ``forgebench submit RUN_DIR FILE --name NAME``
take prediction submissions (:mod:`forgebench.submissions`); ``forgebench leaderboard
RUN_DIR...`` publishes one table across runs (:mod:`forgebench.publish`).

Errors on bad input (config, media, data) print one clear message and exit with status 2;
work already done stays in the run directory.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from forgebench import interop, stages
from forgebench.configure import load_config
from forgebench.detect import detect_video
from forgebench.detectors.external import is_spec, use_external
from forgebench.errors import ForgebenchError
from forgebench.evaluate import evaluate_detector
from forgebench.publish import write_across

from forgebench.execution import set_threads
from forgebench.rundir import RunDir
from forgebench.submissions import export_testset, submit


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
    helps = {"generate": "run the generate stage (then the extract stage: faces of the new fakes)"}
    for stage in stages.STAGES:
        p = sub.add_parser(stage, help=helps.get(stage, f"run the {stage} stage of an existing run directory"))
        p.add_argument("run_dir", type=Path)
        if stage == "train":
            p.add_argument("--detector", help="train only this detector: a registered name or package.module:factory "
                           "(a torch.nn.Module factory declaring input_size, mean, std in default_cfg)")
            p.add_argument("--name", help="the detector's name in the run (default: the factory's name)")
    _add_detect_parser(sub)
    _add_interop_parsers(sub)
    _add_protocol_parsers(sub)
    return parser


def _add_protocol_parsers(sub) -> None:
    """``evaluate``, ``submit`` and ``leaderboard``: detectors and tables from outside the zoo."""
    p = sub.add_parser("evaluate", help="score an already trained detector under the protocol (no training)")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--detector", required=True, help="package.module:factory, or a registered detector name")
    p.add_argument("--checkpoint", type=Path, required=True, help="its weights (a state dict; read with weights_only=True)")
    p.add_argument("--name", help="the detector's name in the run (default: the factory's name)")
    p = sub.add_parser("submit", help="score a predictions file (CSV or Parquet: id, score) against the sealed test labels")
    p.add_argument("run_dir", type=Path)
    p.add_argument("file", type=Path, help="one row per test frame id or video id of 'forgebench export testset'")
    p.add_argument("--name", required=True, help="the submission's name in the leaderboard")
    p = sub.add_parser("leaderboard", help="one table across runs and submissions (Markdown, CSV, HTML, LaTeX)")
    p.add_argument("run_dirs", type=Path, nargs="+")
    p.add_argument("--out", type=Path, default=Path("leaderboard"), help="output folder (default: ./leaderboard)")


def _add_detect_parser(sub) -> None:
    """The ``detect`` verb: score one video with a trained detector."""
    p = sub.add_parser("detect", help="score one video with a trained detector (frame scores, plot, verdict)")
    p.add_argument("video", type=Path, help="the video file")
    p.add_argument("--detector", type=Path, required=True,
                   help="RUN_DIR/detectors/NAME, or its train-set folder RUN_DIR/detectors/NAME/SET holding best.pt")
    p.add_argument("--train-set", help="train set of the detector (default: 'all' if trained, else the only one)")
    p.add_argument("--out", type=Path, default=Path("forgebench_detect"), help="output folder (default: ./forgebench_detect)")
    p.add_argument("--every", type=int, default=1, help="analyse every N-th frame (default: 1, every frame)")
    p.add_argument("--max-frames", type=int, help="analyse at most N frames (after --every)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="default: auto (CUDA when available)")


def _add_interop_parsers(sub) -> None:
    """``export deepfakebench RUN_DIR`` and ``import faceforensics ROOT --out RUN_DIR``
    (:mod:`forgebench.interop`)."""
    p = sub.add_parser("export", help="write a run's face crops in another benchmark's format, or its unlabelled test set")
    p.add_argument("format", choices=["deepfakebench", "testset"],
                   help="deepfakebench: dataset JSON index + label dict; testset: test and validation crops and videos "
                   "with anonymous ids and no labels, for 'forgebench submit'")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--out", type=Path, help="JSON file (default: RUN_DIR/export/deepfakebench/<dataset>.json), "
                   "or folder (default: RUN_DIR/export/testset)")
    p.add_argument("--absolute", action="store_true", help="absolute frame paths (default: relative to RUN_DIR)")
    p.add_argument("--compression-level", action=argparse.BooleanOptionalAction, default=None,
                   help="compression key between split and video (default: only for DeepfakeBench's FaceForensics++ names)")
    p = sub.add_parser("import", help="make a run directory from a downloaded dataset")
    p.add_argument("format", choices=["faceforensics"], help="faceforensics: a FaceForensics++ download + official splits")
    p.add_argument("root", type=Path, help="the dataset folder (holding original_sequences/, manipulated_sequences/)")
    p.add_argument("--out", type=Path, required=True, help="run directory to write")
    p.add_argument("--compression", default="c23", help="raw, c23 or c40 (default: c23)")
    p.add_argument("--methods", default="Deepfakes,Face2Face,FaceSwap,NeuralTextures,FaceShifter",
                   help="comma-separated manipulation folders (default: the five FaceForensics++ methods)")
    p.add_argument("--config", type=Path, help="forgebench YAML config for the run (default: built-in defaults)")
    p.add_argument("--frames-per-video", type=int, help="faces sampled per video (overrides faces.frames_per_video)")
    p.add_argument("--max-videos", type=int, help="at most N real videos, whole split pairs (quick trials)")
    p.add_argument("--splits", type=Path, help="folder of train/val/test.json (default: ROOT/splits, then ROOT)")


def _interop(args, progress: bool) -> None:
    """Run the ``export`` / ``import`` verbs and print what they wrote."""
    if args.command == "export" and args.format == "testset":
        s = export_testset(RunDir(args.run_dir).require(), args.out, progress)
        print(f"wrote {s['out']}: {s['videos']} videos and {s['frames']} face crops without labels (index.csv, README.txt); "
              f"next: 'forgebench submit {args.run_dir} PREDICTIONS.csv --name NAME'")
        return
    if args.command == "export":
        for path in interop.export_deepfakebench(args.run_dir, args.out, args.absolute, args.compression_level):
            print(f"wrote {path} and {interop.deepfakebench.label_dict_path(path)}")
        return
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    s = interop.import_faceforensics(args.root, args.out, args.compression, methods, args.config,
                                     args.frames_per_video, args.max_videos, args.splits, progress)
    print(f"imported {s['real_videos']} real and {sum(s['fake_videos'].values())} fake videos {s['fake_videos']} into {s['run_dir']}; "
          f"{len(s['errors'])} failed (faces/report.json); next: 'forgebench train {s['run_dir']}'")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``forgebench`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    progress = not args.no_progress
    try:
        if args.command == "run":
            overrides = {"data.videos": str(args.videos.resolve())} if args.videos else None
            config = load_config(args.config, overrides)
            set_threads(config.execution.threads_per_worker)
            run = RunDir(args.out or Path(config.runs_dir) / config.name)
            _print_leaderboard(*stages.run_all(run, config, progress))
        elif args.command == "detect":
            _detect(args, progress)
        elif args.command in ("export", "import"):
            _interop(args, progress)
        elif args.command in ("evaluate", "submit", "leaderboard"):
            _protocol(args, progress)
        else:
            run = RunDir(args.run_dir).require()
            config = load_config(run.config_file)
            set_threads(config.execution.threads_per_worker)
            if args.command == "train" and args.detector:
                spec = args.detector if is_spec(args.detector) else ""
                name = use_external(spec, args.name) if spec else args.detector
                result = stages.STAGE_FUNCS["train"](run, config, progress, detectors={name: spec})
            else:
                result = stages.STAGE_FUNCS[args.command](run, config, progress)
            if args.command == "generate":
                stages.STAGE_FUNCS["extract"](run, config, progress)
            if args.command == "report":
                _print_leaderboard(*result)
    except ForgebenchError as exc:
        print(f"forgebench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("forgebench: interrupted; finished work is kept, run the same command again to resume", file=sys.stderr)
        return 130
    return 0


def _protocol(args: argparse.Namespace, progress: bool) -> None:
    """Run ``evaluate``, ``submit`` or ``leaderboard`` and print what they wrote."""
    if args.command == "leaderboard":
        out, markdown = write_across(list(args.run_dirs), args.out, progress)
        _print_leaderboard(out, markdown)
        return
    run = RunDir(args.run_dir).require()
    config = load_config(run.config_file)
    set_threads(config.execution.threads_per_worker)
    if args.command == "evaluate":
        doc = evaluate_detector(run, config, args.detector, args.checkpoint, args.name, progress)
        where = run.detector_files(doc["detector"], doc["train_set"]).folder
    else:
        doc = submit(run, args.file, args.name)
        where = run.submission_files(args.name).folder
    video = doc["video"]
    print(f"{doc['detector']} ({doc['train_set']}) on test set {doc['test_set']}: video AUC {video['auc']:.3f} "
          f"[{video['auc_ci_low']:.3f}, {video['auc_ci_high']:.3f}] ({video['n_identities']} identities, {video['n_videos']} videos); "
          f"wrote {where}; 'forgebench report {args.run_dir}' adds it to the leaderboard")


def _detect(args: argparse.Namespace, progress: bool) -> None:
    """Run ``forgebench detect`` and print the video score and the files written."""
    if args.every < 1 or (args.max_frames is not None and args.max_frames < 1):
        raise ForgebenchError(f"--every and --max-frames must be at least 1, got {args.every} and {args.max_frames}")
    s = detect_video(args.video, args.detector, args.out, train_set=args.train_set, every=args.every,
                     max_frames=args.max_frames, device=args.device, progress=progress)
    print(f"{s['video']}: {s['detector']} (trained on {s['train_set']}), {s['frames_with_face']} of "
          f"{s['frames_analysed']} analysed frames with a face")
    print(f"video score: {s['video_score']:.4f} ({s['aggregation']} of frame scores), "
          f"video threshold: {s['video_threshold']:.4f} -> {s['verdict']}")
    print(f"frames called fake: {s['frames_called_fake']} of {s['frames_with_face']} (frame threshold {s['threshold']:.4f})")
    print(f"wrote {s['csv']}, {s['plot']}, {s['json']}")


def _print_leaderboard(out: Path, markdown: str) -> None:
    """Print where the leaderboard is and its Markdown (as the report stage wrote it)."""
    print(f"\nLeaderboard: {out / 'leaderboard.md'}  (report: {out / 'report.html'})\n")
    print(markdown)


if __name__ == "__main__":
    sys.exit(main())
