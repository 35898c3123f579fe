"""The stages of a run: extract -> generate -> score -> train -> report.

Each stage reads only files earlier stages wrote in the run directory (docs/architecture.md)
and skips work whose outputs exist, so a stage can be re-run alone and an interrupted
run resumes without redoing finished work.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from forgebench.config import Config
from forgebench.errors import ConfigError, DataError
from forgebench.atomic import write_json, write_parquet, write_text
from forgebench.faces.extract import VideoMeta, extract_many, identity_faces, load_manifest, record_error
from forgebench.media import list_videos, probe, reencode
from forgebench.provenance import sha256_file, update_provenance
from forgebench.splits import assign_splits, make_pairs

STAGES = ("extract", "generate", "score", "train", "report")


def log(message: str) -> None:
    """Print a stage message (through tqdm so progress bars stay intact)."""
    tqdm.write(f"[forgebench] {message}")


# -- run directory -----------------------------------------------------------------------
def init_run(config: Config, run_dir: Path) -> None:
    """Create the run directory and write ``config.yaml`` (resolved, every default out).

    Raises:
        ConfigError: the directory holds a run made with a different config, whose
            results would mix with this one's (use another ``--out``).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "config.yaml"
    if path.is_file():
        from forgebench.config import load_config

        old = load_config(path)
        if old.config_hash() != config.config_hash():
            raise ConfigError(
                f"{path}: this run directory was made with a different config (hash {old.config_hash()[:12]} "
                f"vs {config.config_hash()[:12]}); resume it with 'forgebench run {path}' or choose another --out"
            )
        return
    write_text(path, config.to_yaml())


def dataset_name(config: Config) -> str:
    """Dataset name in video ids: ``data.dataset``, else the videos folder name, else ``samples``."""
    if config.data.dataset:
        return config.data.dataset
    return Path(config.data.videos).name if config.data.videos else "samples"


def input_videos(config: Config) -> list[Path]:
    """The real input videos: ``data.videos`` folder, else the verified sample clips.

    Raises:
        DataError: two files share a stem (identity ids would collide).
    """
    if config.data.videos:
        videos = list_videos(config.data.videos)
    else:
        from forgebench.samples import fetch_clips

        videos = fetch_clips(config.data.sample_dir)
    stems = [v.stem for v in videos]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise DataError(f"{config.data.videos}: several files share the identity stem(s) {dup}")
    return videos


# -- extract ------------------------------------------------------------------------------
def stage_extract(run_dir: Path, config: Config, progress: bool = True) -> None:
    """Re-encode real videos with the fakes' codec settings, extract their faces, assign
    identity-disjoint splits (``faces/videos.parquet``); also extract faces of fakes that
    exist. Unreadable videos and videos with no face are reported and left out."""
    start = time.time()
    faces_dir = run_dir / "faces"
    videos_table = faces_dir / "videos.parquet"
    dataset, comp = dataset_name(config), config.data.compression
    if videos_table.is_file():
        rows = pd.read_parquet(videos_table).to_dict("records")
    else:
        rows = []
        for video in tqdm(input_videos(config), desc=f"re-encode {comp}", disable=not progress):
            meta_id = f"{dataset}/real/{comp}/{video.stem}"
            real = faces_dir / "real" / comp / f"{video.stem}.mp4"
            try:
                info = probe(video)
                max_frames = None if config.data.max_seconds is None else max(1, round(config.data.max_seconds * info.fps))
                if not real.is_file():
                    reencode(video, real, crf=config.data.crf, max_frames=max_frames)
                out = probe(real)
            except Exception as exc:  # noqa: BLE001 - any decode failure: record, go on
                record_error(run_dir, meta_id, video, exc)
                log(f"skipped {video}: {exc}")
                continue
            rows.append(
                {
                    "video_name": video.stem,
                    "identity": video.stem,
                    "source_path": str(video.resolve()),
                    "real_path": real.relative_to(run_dir).as_posix(),
                    "fps": out.fps,
                    "n_frames": out.n_frames,
                    "width": out.width,
                    "height": out.height,
                }
            )
    jobs = [
        (run_dir / r["real_path"], VideoMeta(dataset, "real", comp, r["video_name"], 0, r["identity"], r["identity"]))
        for r in rows
    ]
    done, errors = extract_many(jobs, run_dir, config.faces, progress)
    for e in errors:
        log(f"left out: {e}")
    if not videos_table.is_file():
        with_faces = {df["identity"].iloc[0] for df in done}
        split_of = assign_splits(sorted(with_faces), config.splits.ratio, config.seed, config.splits.min_per_split)
        table = pd.DataFrame([r for r in rows if r["identity"] in with_faces])
        table["split"] = table["identity"].map(split_of)
        write_parquet(videos_table, table)
    extract_fakes(run_dir, config, progress)
    manifest = load_manifest(run_dir)
    write_parquet(faces_dir / "manifest.parquet", manifest)
    report = manifest.groupby("method").agg(videos=("video_id", "nunique"), faces=("video_id", "size"))
    log(f"faces: {report.to_dict('index')}; report in {faces_dir / 'report.json'}")
    update_provenance(run_dir, config, "extract", time.time() - start)


def extract_fakes(run_dir: Path, config: Config, progress: bool = True) -> None:
    """Extract faces of every fake video listed in ``fakes/*/manifest.parquet`` with the
    same settings as the real videos."""
    dataset, comp = dataset_name(config), config.data.compression
    jobs = []
    for manifest in sorted((run_dir / "fakes").glob("*/manifest.parquet")):
        for r in pd.read_parquet(manifest).to_dict("records"):
            meta = VideoMeta(dataset, r["generator"], comp, r["video_name"], 1, r["target"], r["source"])
            jobs.append((run_dir / r["path"], meta))
    if jobs:
        _, errors = extract_many(jobs, run_dir, config.faces, progress)
        for e in errors:
            log(f"left out: {e}")


def read_videos(run_dir: Path) -> pd.DataFrame:
    """``faces/videos.parquet``. Raises DataError if the extract stage has not run."""
    path = run_dir / "faces" / "videos.parquet"
    if not path.is_file():
        raise DataError(f"{path}: missing; run 'forgebench extract {run_dir}' first")
    return pd.read_parquet(path)


# -- generate -----------------------------------------------------------------------------
def stage_generate(run_dir: Path, config: Config, progress: bool = True) -> None:
    """Train each configured generator on the identities its fakes need and write one fake
    per (target, source) pair, then extract the fakes' faces like the real ones."""
    from forgebench.faces import FaceAnalyzer
    from forgebench.generators import get_generator
    from forgebench.media import synthetic_tag
    from forgebench.runtime import seed_everything, select_device

    start = time.time()
    videos = read_videos(run_dir)
    split_of = dict(zip(videos["identity"], videos["split"]))
    video_of = videos.set_index("identity")
    pairs = make_pairs(split_of)
    real = load_manifest(run_dir, ["real"])
    device = select_device(config.device)
    dataset, comp = dataset_name(config), config.data.compression
    checkpoints, test_time = {}, {}
    for gen_name in config.generators:
        settings = config.generator_settings(gen_name)
        out_dir = run_dir / "fakes" / gen_name
        manifest_file = out_dir / "manifest.parquet"
        seed_everything(config.seed)
        generator = get_generator(gen_name)(settings, FaceAnalyzer(config.faces), device, config.seed)
        generator.set_splits(split_of)
        keys: dict[str, list[tuple[str, str]]] = {}
        for target, source in pairs:
            keys.setdefault(generator.model_key(target, source), []).append((target, source))
        rows = []
        for key, key_pairs in keys.items():
            ckpt = out_dir / "models" / f"{key}.pt"
            todo = [p for p in key_pairs if not (out_dir / f"{p[0]}_{p[1]}.mp4").is_file() or not (out_dir / "frames" / f"{p[0]}_{p[1]}.parquet").is_file()]
            if not ckpt.is_file():
                crops, landmarks, _ = identity_faces(run_dir, real, generator.model_identities(key))
                log(f"{gen_name}: training {key} on {sum(map(len, crops.values()))} crops")
                seed_everything(config.seed)
                train_log = generator.fit(crops, progress=progress, landmarks=landmarks)
                generator.save(ckpt)
                write_json(ckpt.with_suffix(".json"), train_log)
            elif todo:
                generator.load(ckpt)
            for target, source in key_pairs:
                name = f"{target}_{source}"
                mp4, frames_file = out_dir / f"{name}.mp4", out_dir / "frames" / f"{name}.parquet"
                tv = video_of.loc[target]
                if (target, source) in todo:
                    log(f"{gen_name}: converting {name}")
                    tag = synthetic_tag(gen_name, target=target, source=source)
                    frames = generator.generate(
                        Path(tv["source_path"]), target, source, mp4, max_frames=int(tv["n_frames"]),
                        metadata=tag, progress=progress, crf=config.data.crf,
                        driving_video=run_dir / video_of.loc[source, "real_path"],
                    )
                    write_parquet(frames_file, frames)
                frames = pd.read_parquet(frames_file)
                rows.append(
                    {
                        "generator": gen_name,
                        "video_name": name,
                        "video_id": f"{dataset}/{gen_name}/{comp}/{name}",
                        "target": target,
                        "source": source,
                        "split": split_of[target],
                        "path": mp4.relative_to(run_dir).as_posix(),
                        "target_path": tv["source_path"],
                        "n_frames": int(len(frames)),
                        "n_frames_with_face": int(frames["has_face"].sum()),
                        "fps": float(probe(mp4).fps),
                        "checkpoint": ckpt.relative_to(run_dir).as_posix(),
                        "checkpoint_sha256": sha256_file(ckpt),
                        "settings": settings.model_dump_json(),
                    }
                )
                checkpoints[ckpt.relative_to(run_dir).as_posix()] = rows[-1]["checkpoint_sha256"]
        write_parquet(manifest_file, pd.DataFrame(rows))
        # Facts of a generator that was neither trained nor loaded (all resumed) stay as recorded.
        test_time[gen_name] = {**_recorded_generator_facts(run_dir, gen_name), **generator.provenance()}
    extract_fakes(run_dir, config, progress)
    write_parquet(run_dir / "faces" / "manifest.parquet", load_manifest(run_dir))
    update_provenance(run_dir, config, "generate", time.time() - start, {"checkpoints": checkpoints, "generators": test_time})


def _recorded_generator_facts(run_dir: Path, gen_name: str) -> dict:
    """``stages.generate.generators.<gen_name>`` of an existing ``provenance.json`` ({} if none)."""
    import json

    path = run_dir / "provenance.json"
    doc = json.loads(path.read_text()) if path.is_file() else {}
    return dict(doc.get("stages", {}).get("generate", {}).get("generators", {}).get(gen_name, {}))


# -- score, train, report -------------------------------------------------------------------
def stage_score(run_dir: Path, config: Config, progress: bool = True) -> None:
    """Quality metrics of every generator's fakes (``metrics/quality*.parquet``)."""
    from forgebench.metrics.score import score_run

    start = time.time()
    score_run(run_dir, config, progress=progress)
    update_provenance(run_dir, config, "score", time.time() - start)


def stage_train(run_dir: Path, config: Config, progress: bool = True) -> None:
    """Train every configured detector on each generator's fakes (plus the real videos) and,
    with ``protocol.train_on_all``, on all generators' fakes together (train set ``all``):
    checkpoint chosen on validation AUC, test split scored once at the end on every
    generator's test set (cross-generator matrix), then the robustness perturbations on
    the ``protocol.robustness.train_set`` model. Under ``torchrun`` every process trains;
    rank 0 evaluates and writes."""
    from forgebench.detectors.distributed import barrier, init_distributed, is_main
    from forgebench.detectors.evaluation import evaluate_robustness
    from forgebench.detectors.inference import load_detector
    from forgebench.detectors.training import train_and_evaluate
    from forgebench.runtime import select_device

    start = time.time()
    manifest = load_manifest(run_dir)
    if manifest.empty or "split" not in manifest:
        raise DataError(f"{run_dir / 'faces'}: no face manifest; run 'forgebench extract {run_dir}' first")
    generators = sorted(set(manifest["method"]) - {"real"})
    if not generators:
        raise DataError(f"{run_dir / 'fakes'}: no fakes; run 'forgebench generate {run_dir}' first")
    for gen in generators:
        fakes_per_split = manifest[manifest["method"] == gen].groupby("split")["video_id"].nunique()
        missing = [s for s in ("train", "val", "test") if fakes_per_split.get(s, 0) == 0]
        if missing:
            raise DataError(
                f"{run_dir / 'faces' / 'report.json'}: no face was found in the {gen} fakes of split(s) "
                f"{missing}, so detectors cannot be trained and tested on them; the generator may be "
                f"undertrained (see that report and fakes/{gen}/)"
            )
    protocol = config.protocol_settings()
    dist, device = init_distributed(select_device(config.device))
    train_sets = {gen: [gen] for gen in generators}
    if protocol.train_on_all and len(generators) > 1:
        train_sets["all"] = generators
    robust = protocol.robustness
    robust_set = robust.train_set if robust.train_set in train_sets else ("all" if "all" in train_sets else generators[0])
    results = {}
    for det_name in config.detectors:
        settings = config.detector_settings(det_name)
        for train_set, methods in train_sets.items():
            out_dir = run_dir / "detectors" / det_name / train_set
            if is_main():
                log(f"detector {det_name}: train/val on real + {train_set}, test on "
                    f"{'every generator' if protocol.cross_generator else train_set}")
            metrics = train_and_evaluate(
                det_name, settings, manifest, run_dir, out_dir, device, config.seed, train_set, progress=progress,
                train_methods=methods, cross_generator=protocol.cross_generator,
                video_aggregation=protocol.video_aggregation,
            )
            results[f"{det_name}/{train_set}"] = metrics
            if robust.enabled and train_set == robust_set and is_main() and not (out_dir / "robustness.parquet").is_file():
                log(f"detector {det_name}/{train_set}: robustness to test-time perturbations")
                model, meta = load_detector(out_dir, device)
                test = manifest[manifest["split"] == "test"]
                if not protocol.cross_generator:
                    test = test[test["method"].isin(["real", *methods])]
                evaluate_robustness(model, meta, test, run_dir, out_dir, robust, device, config.seed,
                                    batch_size=settings.batch_size, progress=progress)
            barrier()
    if is_main():
        update_provenance(run_dir, config, "train", time.time() - start,
                          {"detectors": sorted(results), "world_size": dist.world_size})


def stage_report(run_dir: Path, config: Config, progress: bool = True) -> Path:
    """Write the leaderboard (``leaderboard/``); returns its folder."""
    from forgebench.leaderboard import build_report

    start = time.time()
    out = build_report(run_dir, progress=progress)
    update_provenance(run_dir, config, "report", time.time() - start)
    return out


STAGE_FUNCS = {
    "extract": stage_extract,
    "generate": stage_generate,
    "score": stage_score,
    "train": stage_train,
    "report": stage_report,
}


def run_all(run_dir: Path, config: Config, progress: bool = True) -> Path:
    """Run every stage in order (each skips finished work); returns the leaderboard folder."""
    init_run(config, run_dir)
    for name in STAGES[:-1]:
        log(f"stage {name}")
        STAGE_FUNCS[name](run_dir, config, progress)
    log("stage report")
    return stage_report(run_dir, config, progress)
