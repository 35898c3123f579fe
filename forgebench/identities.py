"""The identity check (``forgebench identities RUN_DIR``): which videos under different identity
labels show one person.

A dataset's identity labels are what the protocol trusts: splits are disjoint by person and
intervals resample people. Two things break them and neither shows in the labels: one
person under two ids (FaceForensics++'s 1,000 sequences come from 977 YouTube videos: 043
and 343 are one person, so are 179, 183 and 826), and a person whose videos one folder of
clips gives several file stems. This check embeds the faces of every real video and
reports the pairs of videos, under different labels, that look like one person.

Embeddings: ArcFace (insightface IResNet-100, Glint360K, :mod:`forgebench.metrics.arcface`)
when its weights are there, else dlib's 128-d ResNet descriptor, named in the result. Up
to ``splits.identity_faces`` faces per video (its stored crops and crop landmarks), evenly
spread; cached in ``faces/identity_embeddings.parquet`` so a repeated check embeds only new
videos.

Decision (two conditions, both reported per pair):

1. the distance between the two videos' mean embeddings is below the model's verification
   threshold: dlib 0.6 Euclidean (dlib's ``dnn_face_recognition_ex.cpp``: below 0.6 the
   same person, 99.38% on LFW), ArcFace 1.13 Euclidean between unit embeddings (cosine
   similarity above 0.36; deepface's threshold for ArcFace on LFW,
   ``deepface/config/threshold.py``), or ``splits.identity_threshold``;
2. the two videos' faces are as close across the videos as within them: the median
   distance between a face of one and a face of the other is at most :data:`MAX_RATIO`
   times the larger of the two videos' median within-video distances (a video with one
   face takes the run's median). One person filmed twice passes; two people the model only
   finds alike do not (on the six sample clips, dlib puts two different women at 0.44 on
   condition 1, but their ratio is 1.74; halves of one clip are at 0.88 to 1.08).

Pairs are grouped by identity pair (the closest video pair stands for it) and people are
clustered (connected components over the likely pairs, :func:`forgebench.splits.person_components`);
``splits.identity: merge_likely`` merges each cluster into one identity before a new run
is split (official splits are followed as published: their crossing pairs are reported).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forgebench.config import Config, SplitSettings
from forgebench.errors import DataError
from forgebench.execution import Backend, Unit, backend_for, run_units
from forgebench.faces.embedding import embedding_unit  # re-exported: the unit of this check
from forgebench.fileio import read_parquet, write_json, write_parquet
from forgebench.media import sample_indices
from forgebench.rundir import RunDir
from forgebench.schemas import IDENTITY_EMBEDDINGS
from forgebench.splits import person_components
from forgebench.weights import ARCFACE_WEIGHTS, weights_status

__all__ = [
    "MODELS",
    "MAX_RATIO",
    "IdentityCheck",
    "choose_model",
    "embedding_unit",
    "check_identities",
    "identity_document",
    "merge_map",
    "summary_line",
    "run_identity_check",
]

#: Identity models: threshold on the distance between mean embeddings, and where it comes from.
MODELS = {
    "arcface": {
        "name": "ArcFace IResNet-100 (Glint360K, insightface)",
        "threshold": 1.13,
        "threshold_source": "deepface's ArcFace verification threshold on LFW: Euclidean 1.13 between unit "
        "embeddings (serengil/deepface, deepface/config/threshold.py)",
    },
    "dlib": {
        "name": "dlib 128-d ResNet face descriptor (dlib_face_recognition_resnet_model_v1)",
        "threshold": 0.6,
        "threshold_source": "dlib's verification threshold: Euclidean 0.6 (dlib dnn_face_recognition_ex.cpp; 99.38% "
        "on LFW)",
    },
}
#: Condition 2: cross-video median face distance over the larger within-video median.
MAX_RATIO = 1.3


def choose_model() -> tuple[str, str]:
    """``(model, note)``: ``arcface`` when its registry weights are there, else ``dlib`` with
    the reason ArcFace is not used."""
    status = weights_status(ARCFACE_WEIGHTS)
    if status == "ok":
        return "arcface", ""
    return "dlib", f"ArcFace {status}"


@dataclass
class IdentityCheck:
    """The result of :func:`check_identities` (before splits are known).

    Attributes:
        model, model_note: the identity model (``arcface`` / ``dlib``) and why ArcFace was
            not used.
        threshold, threshold_source: condition 1 and where it comes from; max_ratio: condition 2.
        faces_per_video: faces embedded per video (at most).
        videos: ``{video_id: identity label}`` of the real videos checked.
        not_embedded: real videos without a usable face (no landmarks).
        pairs: one dict per identity pair that looks like one person (see :func:`identity_document`).
    """

    model: str
    model_note: str
    threshold: float
    threshold_source: str
    max_ratio: float
    faces_per_video: int
    videos: dict[str, str]
    not_embedded: list[str] = field(default_factory=list)
    pairs: list[dict[str, Any]] = field(default_factory=list)

    def clusters(self) -> list[list[str]]:
        """Groups of identity labels linked by likely pairs (two or more labels each), sorted."""
        comp = person_components([{"identity": p["identity_a"], "source": p["identity_b"]} for p in self.pairs])
        groups: dict[str, list[str]] = {}
        for label, key in comp.items():
            groups.setdefault(key, []).append(label)
        return sorted(sorted(g) for g in groups.values() if len(g) > 1)


def _pick(rows: pd.DataFrame, n: int) -> pd.DataFrame:
    """Up to ``n`` face rows of one video with 68 landmarks, evenly spread in frame order."""
    rows = rows[[len(v) == 136 for v in rows["landmarks_crop"]]].sort_values("frame_index")
    return rows.iloc[sample_indices(len(rows), n)] if len(rows) else rows


def _embed(
    real: pd.DataFrame,
    model: str,
    n_faces: int,
    cache: Path | None,
    progress: bool,
    backend: Backend | None,
    device: str,
) -> dict[str, np.ndarray]:
    """``{video_id: (n, d) embeddings}`` of each video's picked faces (in frame order): from
    the cache where it holds the same faces with the same model, the others embedded by
    :func:`~forgebench.faces.embedding.embedding_unit` units; the cache is rewritten when
    something new was embedded."""
    cached = read_parquet(cache) if cache is not None and cache.is_file() else IDENTITY_EMBEDDINGS.empty()
    cached = cached[cached["model"] == model]
    out: dict[str, np.ndarray] = {}
    picked_of: dict[str, pd.DataFrame] = {}
    units = []
    for video_id, rows in real.groupby("video_id", sort=True):
        picked = _pick(rows, n_faces)
        if picked.empty:
            continue
        picked_of[video_id] = picked
        old = cached[cached["video_id"] == video_id].sort_values("frame_index")
        if old["frame_index"].astype(int).tolist() == picked["frame_index"].astype(int).tolist():
            out[video_id] = np.asarray(old["embedding"].tolist(), dtype=np.float64)
            continue
        lms = [np.asarray(v, dtype=np.float64).reshape(68, 2) for v in picked["landmarks_crop"]]
        units.append(
            Unit(f"identity {video_id}", embedding_unit, ([Path(p) for p in picked["crop_path"]], lms, model, device))
        )
    for o in run_units(units, "identity embeddings", progress, backend=backend):
        out[o.key.split(" ", 1)[1]] = o.value
    if cache is not None and units:
        table = pd.concat(
            [
                picked_of[v][["video_id", "identity", "frame_index"]].assign(
                    model=model, embedding=[e.tolist() for e in out[v]]
                )
                for v in sorted(out)
            ],
            ignore_index=True,
        )
        write_parquet(cache, IDENTITY_EMBEDDINGS.check(table, cache))
    return out


def _median_pairwise(a: np.ndarray, b: np.ndarray | None = None) -> float:
    """Median Euclidean distance between rows of ``a`` and ``b`` (within ``a`` when ``b`` is
    None: distinct pairs; NaN with fewer than two rows)."""
    if b is None:
        if len(a) < 2:
            return float("nan")
        d = np.linalg.norm(a[:, None] - a[None], axis=2)
        return float(np.median(d[np.triu_indices(len(a), 1)]))
    return float(np.median(np.linalg.norm(a[:, None] - b[None], axis=2)))


def _mean(emb: np.ndarray, model: str) -> np.ndarray:
    m = emb.mean(axis=0)
    return m / np.linalg.norm(m) if model == "arcface" else m


def check_identities(
    real: pd.DataFrame,
    settings: SplitSettings,
    progress: bool = True,
    backend: Backend | None = None,
    cache: Path | None = None,
    device: str = "cpu",
) -> IdentityCheck:
    """Embed the faces of every real video and find the identity pairs that look like one
    person (module docstring).

    Args:
        real: face rows of the real videos: ``video_id``, ``identity``, ``frame_index``,
            ``crop_path`` (the PNG file), ``landmarks_crop`` (136 floats, crop pixels; rows
            without them are skipped).
        settings: ``splits`` settings (``identity_faces``, ``identity_threshold``).
        progress: tqdm bar; backend: where the embedding units run (default: here).
        cache: the embeddings cache file (``faces/identity_embeddings.parquet``), or None.
        device: torch device of ArcFace (a config's ``device``: ``auto``, ``cpu``, ``cuda``).

    Returns:
        the :class:`IdentityCheck`.

    Raises:
        DataError: a face row lacks a column. MediaError: a crop cannot be read.
    """
    missing = [
        c for c in ("video_id", "identity", "frame_index", "crop_path", "landmarks_crop") if c not in real.columns
    ]
    if missing:
        raise DataError(f"identity check: the face rows lack column(s) {missing}")
    model, note = choose_model()
    spec = MODELS[model]
    threshold = float(settings.identity_threshold) if settings.identity_threshold is not None else spec["threshold"]
    source = (
        "splits.identity_threshold (set in the config)"
        if settings.identity_threshold is not None
        else spec["threshold_source"]
    )
    labels = dict(zip(real["video_id"].astype(str), real["identity"].astype(str)))
    emb = _embed(real, model, settings.identity_faces, cache, progress, backend, device)
    check = IdentityCheck(
        model, note, threshold, source, MAX_RATIO, settings.identity_faces, labels, sorted(set(labels) - set(emb))
    )
    ids = sorted(emb)
    if len(ids) < 2:
        return check
    means = np.stack([_mean(emb[v], model) for v in ids])
    within = {v: _median_pairwise(emb[v]) for v in ids}
    finite = [w for w in within.values() if np.isfinite(w)]
    typical = float(np.median(finite)) if finite else 0.0  # the spread of a one-face video: the run's median
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for i, (ds, js) in enumerate(_radius_neighbours(means, threshold)):
        for d, j in zip(ds, js):
            a, b = ids[i], ids[int(j)]
            if a >= b or labels[a] == labels[b]:
                continue
            spread = max(w if np.isfinite(w) else typical for w in (within[a], within[b]))
            ratio = _median_pairwise(emb[a], emb[b]) / spread if spread > 0 else float("inf")
            if ratio > MAX_RATIO:
                continue
            key = tuple(sorted((labels[a], labels[b])))
            pair = {
                "identity_a": key[0],
                "identity_b": key[1],
                "video_a": a if labels[a] == key[0] else b,
                "video_b": b if labels[a] == key[0] else a,
                "distance": float(d),
                "cross_within_ratio": float(ratio),
                "threshold": threshold,
                "model": model,
            }
            old = best.get(key)
            if old is None or pair["distance"] < old["distance"]:
                pair["n_video_pairs"] = (old or {}).get("n_video_pairs", 0) + 1
                best[key] = pair
            else:
                old["n_video_pairs"] += 1
    check.pairs = [best[k] for k in sorted(best)]
    return check


def _radius_neighbours(points: np.ndarray, radius: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each row of ``points`` (N, D float), its neighbours within Euclidean ``radius``
    (itself included) as ``(distances, indices)``, ordered by distance, then index.

    A k-d tree (scipy's ``cKDTree``), not a full N x N matrix: a run of thousands of videos
    stays small. scipy rather than scikit-learn's ``NearestNeighbors``: importing
    scikit-learn costs the extract stage a second, and this is its only use there.
    """
    from scipy.spatial import cKDTree  # only this check needs it; keeps the extract import light

    out = []
    for i, found in enumerate(cKDTree(points).query_ball_point(points, r=radius)):
        idx = np.asarray(found, dtype=np.int64)
        dist = np.linalg.norm(points[idx] - points[i], axis=1)
        order = np.lexsort((idx, dist))
        out.append((dist[order], idx[order]))
    return out


def merge_map(check: IdentityCheck) -> dict[str, str]:
    """``{identity label: merged person}`` for ``splits.identity: merge_likely``: each cluster
    of :meth:`IdentityCheck.clusters` becomes its first label in sorted order."""
    return {label: group[0] for group in check.clusters() for label in group}


def summary_line(doc: dict[str, Any]) -> str:
    """The one-line summary of an identity-check document: ``identity check (<model>): 1,000
    videos, 7 likely same-person pairs under different ids, 2 of them across splits``."""
    n, k, x = doc["n_videos"], len(doc["likely_same_person"]), len(doc["across_splits"])
    pairs = f"{k:,} likely same-person pair{'s' if k != 1 else ''} under different ids"
    tail = f", {x:,} of them across splits" if doc.get("splits_known", True) else ""
    merged = "; merged before the split (splits.identity: merge_likely)" if doc.get("merged") else ""
    return f"identity check ({doc['model']}): {n:,} videos, {pairs}{tail}{merged}"


def identity_document(check: IdentityCheck, split_of: dict[str, str] | None, mode: str, merged: bool) -> dict[str, Any]:
    """The ``faces/identity_check.json`` document.

    Args:
        check: the check's result.
        split_of: ``{identity label: split}`` of the run (None before splits exist).
        mode: ``splits.identity`` (``labels`` or ``merge_likely``).
        merged: whether the likely pairs were merged before the split.

    Returns:
        ``model``, ``model_name``, ``model_note``, ``threshold``, ``threshold_source``,
        ``max_ratio``, ``faces_per_video``, ``n_videos``, ``n_identities``, ``not_embedded``,
        ``likely_same_person`` (per identity pair: ``identity_a``, ``identity_b``, the
        closest ``video_a``/``video_b``, ``distance``, ``cross_within_ratio``, ``threshold``,
        ``model``, ``n_video_pairs``, and ``split_a``/``split_b`` when known),
        ``across_splits`` (those pairs whose identities are in different splits),
        ``clusters``, ``identity_mode``, ``merged``, ``splits_known`` and ``summary``.
    """
    pairs = [dict(p) for p in check.pairs]
    across = []
    for p in pairs:
        if split_of is not None:
            p["split_a"], p["split_b"] = split_of.get(p["identity_a"], ""), split_of.get(p["identity_b"], "")
            if p["split_a"] and p["split_b"] and p["split_a"] != p["split_b"]:
                across.append(p)
    doc = {
        "model": check.model,
        "model_name": MODELS[check.model]["name"],
        "model_note": check.model_note,
        "threshold": check.threshold,
        "threshold_source": check.threshold_source,
        "max_ratio": check.max_ratio,
        "faces_per_video": check.faces_per_video,
        "n_videos": len(check.videos),
        "n_identities": len(set(check.videos.values())),
        "not_embedded": check.not_embedded,
        "likely_same_person": pairs,
        "across_splits": across,
        "clusters": check.clusters(),
        "identity_mode": mode,
        "merged": merged,
        "splits_known": split_of is not None,
    }
    doc["summary"] = summary_line(doc)
    return doc


def run_identity_check(run: RunDir, config: Config, progress: bool = True) -> dict[str, Any]:
    """``forgebench identities RUN_DIR``: the identity check of an existing run, against its
    splits; writes ``faces/identity_check.json`` and returns its document. The identity
    labels are the dataset's (``identity_label`` of ``faces/dataset_index.parquet`` where a
    ``merge_likely`` run merged them); splits are not changed (a run is split once).

    Raises:
        DataError: the faces were not extracted (says to run ``forgebench extract``).
    """
    faces = run.faces.read_manifest(["real"])
    labels = dict(zip(faces["video_id"], faces["identity"]))
    if run.faces.dataset_index_file.is_file():
        index = run.faces.read_dataset_index()
        labels.update(dict(zip(index["video_id"], index["identity_label"])))
    real = faces.assign(
        identity=faces["video_id"].map(labels), crop_path=[str(run.resolve(p)) for p in faces["crop_path"]]
    )
    check = check_identities(
        real,
        config.splits,
        progress,
        backend_for(config.execution),
        cache=run.faces.identity_embeddings_file,
        device=config.device,
    )
    split_of = dict(zip(real["identity"], real["split"].astype(str)))
    old = run.faces.read_identity_check() or {}
    doc = identity_document(check, split_of, config.splits.identity, bool(old.get("merged")))
    write_json(run.faces.identity_check_file, doc)
    return doc
