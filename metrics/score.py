"""The ``forgebench score`` stage: quality metrics of every generator's fakes.

Reads only (docs/architecture.md): ``faces/videos.parquet``, the face manifests
(``faces/manifest/<method>/<video>.parquet``), ``fakes/<generator>/manifest.parquet`` and
``fakes/<generator>/frames/<video>.parquet``, plus the videos they name. Writes
``metrics/quality.parquet`` (one row per fake video), ``metrics/quality_frames.parquet``
(one row per scored frame) and ``metrics/quality_sets.parquet`` (set-level rows per
generator: ``fid``, ``frechet_dlib``, ``lpips``).

Per fake video, ``metrics.frames_per_video`` frames are sampled evenly among the frames
whose target face was replaced. The fake frame and the real frame it replaced (same
index in the fakes manifest's ``target_path``) are warped with the swap's frame -> crop
matrix into an aligned pair; the face mask is the convex hull of the target landmarks.
A frame is scored when FaceAnalyzer also finds a face on the fake frame (needed for the
identity descriptor and the landmark distance). SSIM, PSNR and LPIPS (spatial map,
AlexNet) are averaged inside the mask. Identity: dlib descriptors of the fake face vs
the mean descriptors of each identity's real face-manifest rows (computed on the real
re-encoded frames with the stored landmarks).

Set level per generator: FID between the real and the generator's face crops of the
face manifests (pytorch-fid, 2048-d; biased for few crops, ``n_real``/``n_fake`` are
recorded), the Fréchet distance between the real rows' and the scored fake frames'
dlib descriptors, and the mean masked LPIPS with its weights file. A metric that cannot
be computed gets NaN and ``unavailable: <reason>``. Work is saved per generator; a
generator whose rows cover its current fakes manifest is not scored again (resume).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from forgebench.config import Config
from forgebench.errors import DataError
from forgebench.faces import FaceAnalyzer, descriptor_from_landmarks
from forgebench.faces.align import inter_ocular_distance, transform_points, warp_crop
from forgebench.atomic import write_parquet
from forgebench.faces.extract import landmarks_array, load_manifest
from forgebench.media import read_frames, read_image, sample_indices
from forgebench.metrics.identity import cosine_similarity, frechet_distance_features, identity_means, nearest_identity
from forgebench.metrics.reconstruction import FRAME_COLUMNS as RECON_FRAME_COLUMNS
from forgebench.metrics.reconstruction import IDENTITY_COLUMNS, SET_METRICS, has_protocol, score_reconstruction, summarize
from forgebench.metrics.quality import QualitySettings, face_mask, landmark_distance, masked_psnr, masked_ssim
from forgebench.weights import WeightsUnavailable, get_entry

VIDEO_COLUMNS = [
    "generator", "video_id", "video_name", "target", "source", "split", "n_frames", "ssim", "psnr", "lpips",
    "id_sim_source", "id_sim_target", "id_retrieval", "landmark_distance", "akd", "akd_iod", "eval_mode",
]
FRAME_COLUMNS = [
    "generator", "video_id", "video_name", "frame_index", "ssim", "psnr", "lpips", "id_sim_source",
    "id_sim_target", "id_nearest", "landmark_distance", "akd", "akd_iod",
]
SET_COLUMNS = ["generator", "metric", "value", "status", "n_real", "n_fake", "weights", "weights_sha256", "eval_mode"]
FILES = {
    "videos": "quality.parquet", "frames": "quality_frames.parquet", "sets": "quality_sets.parquet",
    "reconstruction": "reconstruction.parquet", "reconstruction_frames": "reconstruction_frames.parquet",
}


class _Context:
    """What every generator's scoring shares: settings, face analyzer, device, and the
    real reference (identity means, real descriptors, real Inception features), computed
    lazily once per stage run."""

    def __init__(self, run_dir: Path, config: Config, progress: bool) -> None:
        from forgebench.runtime import select_device

        self.run_dir, self.config, self.progress = run_dir, config, progress
        self.settings: QualitySettings = config.metrics_settings()
        self.device = select_device(config.device)
        self.analyzer = FaceAnalyzer(config.faces)
        self._real: tuple[pd.DataFrame, np.ndarray] | None = None
        self._real_inception: np.ndarray | None = None
        self._means: dict[str, np.ndarray] | None = None
        self.lpips_status, self.lpips_weights = self._lpips_status()

    def _lpips_status(self) -> tuple[str, tuple[str, str]]:
        entry = get_entry("alexnet")
        if not self.settings.lpips:
            return "unavailable: disabled in the config (metrics.lpips: false)", (entry.file, "")
        from forgebench.metrics.lpips_metric import load_lpips

        try:
            _, wf = load_lpips("alex", spatial=True, device=self.device)
        except WeightsUnavailable as exc:
            return f"unavailable: {exc.reason}", (entry.file, "")
        return "ok", (entry.file, wf.sha256)

    def real_reference(self) -> tuple[pd.DataFrame, np.ndarray]:
        """Real face-manifest rows and their dlib descriptors ``(N, 128)``."""
        if self._real is None:
            self._real = real_descriptors(self.run_dir, self.progress)
        return self._real

    def means(self) -> dict[str, np.ndarray]:
        """``{identity: (128,) mean real descriptor}``."""
        if self._means is None:
            rows, desc = self.real_reference()
            self._means = identity_means({i: desc[(rows["identity"] == i).to_numpy()] for i in sorted(set(rows["identity"]))})
        return self._means

    def real_inception(self) -> np.ndarray:
        """FID Inception features ``(N, 2048)`` of the real face crops (raises
        :class:`WeightsUnavailable`)."""
        from forgebench.metrics.fid import inception_features

        if self._real_inception is None:
            rows, _ = self.real_reference()
            self._real_inception = inception_features(
                _crops(self.run_dir, rows), batch_size=self.settings.batch_size, device=self.device, progress=self.progress
            )
        return self._real_inception


def real_descriptors(run_dir: Path, progress: bool = True) -> tuple[pd.DataFrame, np.ndarray]:
    """dlib descriptors of every real face-manifest row, computed on the re-encoded real
    frame (``videos.parquet`` ``real_path``) with the stored 68 landmarks.

    Returns:
        (the real rows, ``(N, 128)`` float64 descriptors in the same order).

    Raises:
        DataError: ``faces/videos.parquet`` or the real face manifests are missing.
        MediaError: a real video cannot be decoded.
    """
    videos_file = run_dir / "faces" / "videos.parquet"
    if not videos_file.is_file():
        raise DataError(f"{videos_file}: missing; run 'forgebench extract {run_dir}' first")
    real_path = pd.read_parquet(videos_file).set_index("video_name")["real_path"]
    rows = load_manifest(run_dir, ["real"])
    if rows.empty:
        raise DataError(f"{run_dir / 'faces' / 'manifest' / 'real'}: no real face rows; run 'forgebench extract {run_dir}'")
    rows = rows.sort_values(["video_name", "frame_index"]).reset_index(drop=True)
    desc = np.zeros((len(rows), 128))
    for name, group in tqdm(rows.groupby("video_name"), desc="real identities", disable=not progress, leave=False):
        if name not in real_path.index:
            raise DataError(f"{videos_file}: no row for real video {name!r} of the face manifest")
        frames = read_frames(run_dir / real_path[name], group["frame_index"].tolist())
        for i, r in group.iterrows():
            if r["frame_index"] not in frames:
                raise DataError(f"{run_dir / real_path[name]}: frame {r['frame_index']} of the face manifest is past the end")
            desc[i] = descriptor_from_landmarks(frames[r["frame_index"]], landmarks_array(r["landmarks"]))
    return rows, desc


def _crops(run_dir: Path, rows: pd.DataFrame) -> np.ndarray:
    images = [read_image(run_dir / p) for p in rows["crop_path"]]
    if len({im.shape for im in images}) > 1:
        raise DataError(f"{run_dir / 'faces' / 'crops'}: face crops of different sizes {sorted({im.shape for im in images})}")
    return np.stack(images)


def score_video(row: dict, ctx: _Context) -> tuple[dict, list[dict], np.ndarray]:
    """Score one fake video (a row of its generator's fakes manifest).

    Returns:
        (the ``quality.parquet`` row, its ``quality_frames.parquet`` rows, the ``(n, 128)``
        dlib descriptors of its scored fake faces).

    Raises:
        DataError: the frames table is missing. MediaError: a video cannot be decoded.
    """
    run_dir, size = ctx.run_dir, ctx.config.faces.crop_size
    frames_file = run_dir / "fakes" / row["generator"] / "frames" / f"{row['video_name']}.parquet"
    if not frames_file.is_file():
        raise DataError(f"{frames_file}: missing frames table of fake {row['video_id']}; re-run 'forgebench generate'")
    table = pd.read_parquet(frames_file)
    table = table[table["has_face"]].sort_values("frame_index").set_index("frame_index")
    candidates = table.index.tolist()
    picks = [candidates[i] for i in sample_indices(len(candidates), ctx.settings.frames_per_video)]
    target_path = Path(row["target_path"])
    fakes = read_frames(run_dir / row["path"], picks)
    reals = read_frames(target_path if target_path.is_absolute() else run_dir / target_path, picks)
    means = ctx.means()
    pairs, masks, frames, descs = [], [], [], []
    for index in picks:
        if index not in fakes or index not in reals:
            continue
        face = ctx.analyzer.detect(fakes[index])
        if face is None:
            continue
        matrix = np.asarray(table.at[index, "matrix"], dtype=np.float64).reshape(2, 3)
        target = landmarks_array(table.at[index, "landmarks"])
        drawn = table.at[index, "driving_landmarks"] if "driving_landmarks" in table else []
        expected = transform_points(landmarks_array(drawn) if len(drawn) else target, matrix)
        akd = float(np.linalg.norm(transform_points(face.landmarks, matrix) - expected, axis=1).mean())
        real_crop, fake_crop = warp_crop(reals[index], matrix, size), warp_crop(fakes[index], matrix, size)
        mask = face_mask(transform_points(target, matrix), size)
        desc = descriptor_from_landmarks(fakes[index], face.landmarks)
        pairs.append((real_crop, fake_crop))
        masks.append(mask)
        descs.append(desc)
        frames.append(
            {
                "generator": row["generator"], "video_id": row["video_id"], "video_name": row["video_name"],
                "frame_index": int(index), "ssim": masked_ssim(real_crop, fake_crop, mask),
                "psnr": masked_psnr(real_crop, fake_crop, mask), "lpips": np.nan,
                "id_sim_source": _sim(desc, means, row["source"]), "id_sim_target": _sim(desc, means, row["target"]),
                "id_nearest": nearest_identity(desc[None], means)[0],
                "landmark_distance": landmark_distance(face.landmarks, target),
                "akd": akd, "akd_iod": akd / inter_ocular_distance(expected),
            }
        )
    if pairs and ctx.lpips_status == "ok":
        from forgebench.metrics.lpips_metric import lpips_distance

        real_b, fake_b = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
        values = lpips_distance(real_b, fake_b, mask=np.stack(masks), batch_size=ctx.settings.batch_size, device=ctx.device)
        for f, v in zip(frames, values):
            f["lpips"] = float(v)
    video = {k: row[k] for k in VIDEO_COLUMNS[:6]}
    video["n_frames"] = len(frames)
    video["eval_mode"] = _eval_mode(row)
    for col in ("ssim", "psnr", "lpips", "id_sim_source", "id_sim_target", "landmark_distance", "akd", "akd_iod"):
        vals = np.array([f[col] for f in frames], dtype=np.float64)
        video[col] = float(vals.mean()) if len(vals) and not np.isnan(vals).all() else np.nan
    video["id_retrieval"] = (
        float(np.mean([f["id_nearest"] == row["source"] for f in frames])) if frames and row["source"] in means else np.nan
    )
    return video, frames, np.array(descs).reshape(-1, 128)


def _eval_mode(row: dict) -> bool | None:
    """``eval_mode`` of the generator settings that made a fake (fakes manifest row)."""
    import json

    value = json.loads(row.get("settings") or "{}").get("eval_mode")
    return None if value is None else bool(value)


def _sim(desc: np.ndarray, means: dict[str, np.ndarray], identity: str) -> float:
    return float(cosine_similarity(desc, means[identity])) if identity in means else np.nan


def _set_row(gen: str, metric: str, value: float, status: str, n_real: int, n_fake: int, weights: tuple[str, str]) -> dict:
    ok = status == "ok"
    return {
        "generator": gen, "metric": metric, "value": float(value) if ok else np.nan, "status": status,
        "n_real": int(n_real), "n_fake": int(n_fake), "weights": weights[0], "weights_sha256": weights[1] if ok else "",
    }


def set_metrics(gen: str, ctx: _Context, frames: pd.DataFrame, fake_desc: np.ndarray) -> list[dict]:
    """The ``quality_sets.parquet`` rows of generator ``gen``: ``fid``, ``frechet_dlib``
    and ``lpips`` (NaN + ``unavailable: <reason>`` when they cannot be computed)."""
    from forgebench.faces.dlib_models import MODEL_FILES, model_path
    from forgebench.weights import file_sha256

    run_dir, settings = ctx.run_dir, ctx.settings
    real_rows, real_desc = ctx.real_reference()
    fake_rows = load_manifest(run_dir, [gen])
    fid_entry = get_entry("pt_inception")
    n_real, n_fake = len(real_rows), len(fake_rows)
    fid = (np.nan, "", "ok")
    if not settings.fid:
        fid = (np.nan, "", "unavailable: disabled in the config (metrics.fid: false)")
    elif n_real < 2 or n_fake < 2:
        fid = (np.nan, "", f"unavailable: FID needs >= 2 face crops per set, found {n_real} real and {n_fake} of {gen} in faces/manifest")
    else:
        from forgebench.metrics.fid import fid_from_features, inception_features, weights_file

        try:
            real_feat = ctx.real_inception()
            fake_feat = inception_features(_crops(run_dir, fake_rows), batch_size=settings.batch_size, device=ctx.device, progress=ctx.progress)
            fid = (fid_from_features(real_feat, fake_feat), weights_file().sha256, "ok")
        except WeightsUnavailable as exc:
            fid = (np.nan, "", f"unavailable: {exc.reason}")
    dlib_file = model_path("descriptor")
    dlib_weights = (MODEL_FILES["descriptor"], file_sha256(dlib_file))
    if len(real_desc) >= 2 and len(fake_desc) >= 2:
        fd = (frechet_distance_features(real_desc, fake_desc), "ok")
    else:
        fd = (np.nan, f"unavailable: needs >= 2 descriptors per set, got {len(real_desc)} real and {len(fake_desc)} fake")
    lp = frames["lpips"].to_numpy(dtype=np.float64) if len(frames) else np.zeros(0)
    lp_status = ctx.lpips_status if len(lp) or ctx.lpips_status != "ok" else "unavailable: no frame was scored"
    lp_value = float(np.nanmean(lp)) if lp_status == "ok" else np.nan
    return [
        _set_row(gen, "fid", fid[0], fid[2], n_real, n_fake, (fid_entry.file, fid[1])),
        _set_row(gen, "frechet_dlib", fd[0], fd[1], len(real_desc), len(fake_desc), dlib_weights),
        _set_row(gen, "lpips", lp_value, lp_status, len(lp), len(lp), ctx.lpips_weights),
    ]


def reconstruction_set_rows(gen: str, identity_rows: list[dict], frame_rows: list[dict]) -> list[dict]:
    """``quality_sets.parquet`` rows ``recon_<metric>`` (l1, ssim, akd, akd_iod, aed, mkr)
    of the reconstruction protocol (:mod:`forgebench.metrics.reconstruction`), averaged
    over all held-out frames; none for a generator without the protocol."""
    if not has_protocol(gen):
        return []
    summary = summarize(frame_rows)
    status = "ok" if frame_rows else "unavailable: no held-out frame to reconstruct (generator holdout / splits)"
    n = summary["n_frames"]
    return [
        _set_row(gen, f"recon_{m}", summary[m], status if np.isfinite(summary[m]) or not frame_rows else "unavailable: no face found on any reconstruction", n, n, ("", ""))
        for m in SET_METRICS
    ]


def _read(out_dir: Path, key: str, columns: list[str]) -> pd.DataFrame:
    path = out_dir / FILES[key]
    return pd.read_parquet(path) if path.is_file() else pd.DataFrame(columns=columns)


def _is_done(gen: str, manifest: pd.DataFrame, videos: pd.DataFrame, sets: pd.DataFrame) -> bool:
    have = set(videos.loc[videos["generator"] == gen, "video_id"])
    return have == set(manifest["video_id"]) and bool((sets["generator"] == gen).any())


def fake_manifests(run_dir: Path) -> dict[str, pd.DataFrame]:
    """``{generator: fakes/<generator>/manifest.parquet}``.

    Raises:
        DataError: no fakes manifest in the run directory.
    """
    files = sorted((run_dir / "fakes").glob("*/manifest.parquet"))
    if not files:
        raise DataError(f"{run_dir / 'fakes'}: no fakes manifest; run 'forgebench generate {run_dir}' first")
    return {f.parent.name: pd.read_parquet(f) for f in files}


def score_run(run_dir: Path, config: Config, progress: bool = True) -> pd.DataFrame:
    """The ``forgebench score`` stage (see the module docstring for what is measured).

    Args:
        run_dir: the run directory (extract and generate stages done).
        config: the resolved run config (``metrics`` = :class:`QualitySettings`,
            ``faces.crop_size`` = side of the aligned pairs, ``device``).
        progress: show tqdm progress bars.

    Returns:
        The ``metrics/quality.parquet`` table (one row per fake video, all generators).

    Raises:
        DataError: missing inputs of earlier stages (message names the file).
        MediaError: a fake or real video cannot be decoded.
    """
    run_dir = Path(run_dir)
    out_dir = run_dir / "metrics"
    manifests = fake_manifests(run_dir)
    videos = _read(out_dir, "videos", VIDEO_COLUMNS)
    frames = _read(out_dir, "frames", FRAME_COLUMNS)
    sets = _read(out_dir, "sets", SET_COLUMNS)
    n_before = (len(videos), len(frames), len(sets))
    videos, frames, sets = (t[t["generator"].isin(list(manifests))] for t in (videos, frames, sets))
    if (len(videos), len(frames), len(sets)) != n_before:  # generators whose fakes are gone
        for key, table in (("frames", frames), ("sets", sets), ("videos", videos)):
            write_parquet(out_dir / FILES[key], table)
    todo = [g for g in manifests if not _is_done(g, manifests[g], videos, sets)]
    ctx = _Context(run_dir, config, progress) if todo else None
    for gen in tqdm(todo, desc="score", disable=not progress):
        rows, frame_rows, descs = [], [], []
        for row in tqdm(manifests[gen].to_dict("records"), desc=f"score {gen}", disable=not progress, leave=False):
            video, fr, desc = score_video(row, ctx)
            rows.append(video)
            frame_rows += fr
            descs.append(desc)
        gen_frames = pd.DataFrame(frame_rows, columns=FRAME_COLUMNS)
        fake_desc = np.concatenate(descs) if descs else np.zeros((0, 128))
        recon_ids, recon_frames = score_reconstruction(run_dir, config, gen, ctx.analyzer, ctx.device, progress)
        set_rows = set_metrics(gen, ctx, gen_frames, fake_desc) + reconstruction_set_rows(gen, recon_ids, recon_frames)
        gen_sets = pd.DataFrame(set_rows, columns=SET_COLUMNS)
        gen_sets["eval_mode"] = _eval_mode(manifests[gen].iloc[0].to_dict()) if len(manifests[gen]) else None
        frames = _concat(frames, gen_frames, gen)
        sets = _concat(sets, gen_sets, gen)
        videos = _concat(videos, pd.DataFrame(rows, columns=VIDEO_COLUMNS), gen)
        for key, new, columns in (("reconstruction", recon_ids, IDENTITY_COLUMNS), ("reconstruction_frames", recon_frames, RECON_FRAME_COLUMNS)):
            old = _read(out_dir, key, columns)
            write_parquet(out_dir / FILES[key], _concat(old[old["generator"].isin(list(manifests))], pd.DataFrame(new, columns=columns), gen))
        # quality.parquet last: a generator counts as done once its video rows are written.
        write_parquet(out_dir / FILES["frames"], frames)
        write_parquet(out_dir / FILES["sets"], sets)
        write_parquet(out_dir / FILES["videos"], videos)
    return videos.reset_index(drop=True)


def _concat(old: pd.DataFrame, new: pd.DataFrame, gen: str) -> pd.DataFrame:
    old = old[old["generator"] != gen]
    parts = [t for t in (old, new) if len(t)]
    return pd.concat(parts, ignore_index=True) if parts else new.iloc[:0]
