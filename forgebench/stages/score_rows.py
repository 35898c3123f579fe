"""Typed rows of the score stage's tables, and the small typed results that travel with them.

Each row dataclass maps 1:1 to a schema of :mod:`forgebench.schemas`: its fields are the
schema's columns, in order (``tests/test_score_stage.py`` checks that they cannot drift):

- :class:`QualityFrameRow`: ``metrics/quality_frames.parquet`` (``QUALITY_FRAMES``);
- :class:`QualityRow`: ``metrics/quality.parquet`` (``QUALITY``);
- :class:`SetRow`: ``metrics/quality_sets.parquet`` (``QUALITY_SETS``);
- :class:`ReconstructionFrameRow`: ``metrics/reconstruction_frames.parquet``
  (``RECONSTRUCTION_FRAMES``);
- :class:`ReconstructionRow`: ``metrics/reconstruction.parquet`` (``RECONSTRUCTION``).

The further frame-pair metrics of ``metrics.extra`` are columns after a quality schema's own
(``Schema.extra``), so they travel beside a row (:class:`ScoredFrame`,
:class:`VideoQuality`), never as fields of it. The builders here assemble rows from values
the units already computed (means and shares of scored frames, summaries of reconstructed
frames); the metrics themselves are computed in :mod:`forgebench.stages.score_units`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forgebench.metrics.reconstruction import SET_METRICS, summarize
from forgebench.schemas import QUALITY_SETS

__all__ = [
    "WeightsRef",
    "WeightsStatus",
    "QualityFrameRow",
    "ScoredFrame",
    "QualityRow",
    "VideoQuality",
    "SetRow",
    "ReconstructionFrameRow",
    "ReconstructionRow",
    "VIDEO_MEANS",
    "UNIT_ONLY_COLUMNS",
    "SET_UNIT_COLUMNS",
    "rows_table",
    "eval_mode_of",
    "expected_identity",
    "video_quality",
    "retrieval_rows",
    "reconstruction_set_rows",
    "reconstruction_row",
]

#: Per-frame metrics averaged into a video's row (columns of both :class:`QualityFrameRow`
#: and :class:`QualityRow`).
VIDEO_MEANS = (
    "ssim",
    "psnr",
    "lpips",
    "id_sim_source",
    "id_sim_driving",
    "id_sim_target",
    "id_sim_source_dlib",
    "id_sim_driving_dlib",
    "id_sim_target_dlib",
    "landmark_distance",
    "akd",
    "akd_iod",
    "boundary",
    "warp_error",
    "warp_error_real",
)
#: Columns a video unit's result keeps for the stage (identity retrieval) after the frame
#: rows' own and the extra metrics' columns; not in ``quality_frames.parquet``.
UNIT_ONLY_COLUMNS = ("descriptor", "embedding")
#: Columns of a set unit's result: the set rows without ``eval_mode``, which the stage adds
#: from the fakes manifest when it assembles ``quality_sets.parquet``.
SET_UNIT_COLUMNS = tuple(c for c in QUALITY_SETS.columns if c != "eval_mode")


# -- weights --------------------------------------------------------------------------------
@dataclass(frozen=True)
class WeightsRef:
    """The weights file behind a set-level number (``quality_sets.parquet`` columns
    ``weights`` and ``weights_sha256``).

    Attributes:
        file: the weights file name (e.g. ``dlib_face_recognition_resnet_model_v1.dat``);
            ``""`` for a metric without weights (the ``recon_*`` rows).
        sha256: the file's SHA-256, 64 lowercase hex digits; ``""`` when it was not loaded.
    """

    file: str = ""
    sha256: str = ""


@dataclass(frozen=True)
class WeightsStatus:
    """Whether a metric's pretrained weights load, and which file they are.

    Attributes:
        status: ``"ok"``, or ``"unavailable: <reason>"`` (the reason names the file and how
            to get it, or says that the metric is disabled in the config); the metric's
            columns are NaN and the report prints the reason when it is not ``"ok"``.
        file: the weights registry's file name (given also when unavailable).
        sha256: the loaded file's SHA-256, 64 lowercase hex digits; ``""`` unless
            ``status`` is ``"ok"``.
    """

    status: str
    file: str = ""
    sha256: str = ""

    @property
    def ok(self) -> bool:
        """The weights loaded (``status == "ok"``)."""
        return self.status == "ok"

    @property
    def weights(self) -> WeightsRef:
        """The file and hash as a set row's :class:`WeightsRef`."""
        return WeightsRef(self.file, self.sha256)


# -- quality rows ---------------------------------------------------------------------------
@dataclass(frozen=True)
class QualityFrameRow:
    """One scored fake frame: a row of ``metrics/quality_frames.parquet`` (``QUALITY_FRAMES``;
    docs/architecture.md). Float metrics are NaN where they cannot be computed; the
    ``quality_sets.parquet`` rows and the report say why.

    Attributes:
        method: the generator (fakes manifest ``method``).
        video_id: the fake's unique video id (:func:`forgebench.schemas.make_video_id`).
        video_name: the fake's file stem (``<target>_<source or driving>``).
        frame_index: 0-based index of the scored frame in the fake video.
        ssim: masked SSIM of the aligned (real, fake) pair inside the face mask, in [-1, 1]
            (1 = identical); NaN where fake frame t does not replace target frame t (fomm).
        psnr: masked PSNR in dB (higher = closer; ``inf`` for identical pixels); NaN as ``ssim``.
        lpips: LPIPS distance (AlexNet, spatial map averaged inside the face mask), >= 0
            (0 = identical); NaN without its weights, with ``metrics.lpips: false``, or as ``ssim``.
        id_sim_source, id_sim_driving, id_sim_target: cosine similarity in [-1, 1] of the
            fake face's ArcFace embedding to the mean embedding of the source / driving /
            target identity's real face rows; NaN without the ArcFace weights or without
            such an identity (a swap has no driving identity, a reenactment no source).
        id_sim_source_dlib, id_sim_driving_dlib, id_sim_target_dlib: the same with dlib's
            128-d face descriptors.
        id_nearest: identity of the most similar real face frame (ArcFace, every frame of
            every identity; FaceShifter's ID retrieval); ``""`` without ArcFace, and in a
            video unit's result (the stage fills it in).
        id_nearest_dlib: the same with dlib's descriptors.
        landmark_distance: 300-W NME of the 68 landmarks found on the fake against the
            reference landmarks (module docstring of :mod:`forgebench.stages.score`),
            Euclidean per point over the reference's inter-ocular distance; unit-free, >= 0.
        akd: FOMM's average keypoint distance against the same reference, mean absolute
            coordinate difference in pixels of the ``faces.crop_size`` aligned crop, >= 0.
        akd_iod: ``akd`` over the reference's inter-ocular distance in the crop; unit-free.
        landmark_model: ``"fan"`` or ``"dlib"``, the one model of both landmark sets.
        boundary: blending-boundary score, gradient energy in a band along the rendered
            region's edge, fake over real; unit-free ratio >= 0 (1 = as the real frame,
            > 1 = a seam); NaN as ``ssim``.
        warp_error: warping error of the fake on its own flow from frame t to t + 1 inside
            the rendered region, mean squared RGB error in [0, 1] units (range [0, 1]).
        warp_error_real: the same of the real target video on its own frames t, t + 1
            inside the target face; NaN when the real video has no frame t + 1.
    """

    method: str
    video_id: str
    video_name: str
    frame_index: int
    ssim: float
    psnr: float
    lpips: float
    id_sim_source: float
    id_sim_driving: float
    id_sim_target: float
    id_sim_source_dlib: float
    id_sim_driving_dlib: float
    id_sim_target_dlib: float
    id_nearest: str
    id_nearest_dlib: str
    landmark_distance: float
    akd: float
    akd_iod: float
    landmark_model: str
    boundary: float
    warp_error: float
    warp_error_real: float


@dataclass(frozen=True)
class ScoredFrame:
    """One row of a video unit's result: a frame's :class:`QualityFrameRow`, its further
    frame-pair metrics, and the identity features the stage needs for the retrieval
    (``id_nearest``), which ``quality_frames.parquet`` does not keep.

    Attributes:
        row: the frame's quality row.
        extra: ``{metric name: value}`` of the ``metrics.extra`` frame-pair metrics, in the
            settings' order (units and range of each: its registry entry); NaN where fake
            frame t does not replace target frame t.
        descriptor: the fake face's dlib descriptor, 128 floats.
        embedding: the fake face's ArcFace embedding, 512 floats (unit norm); empty without
            ArcFace.
    """

    row: QualityFrameRow
    extra: dict[str, float]
    descriptor: list[float]
    embedding: list[float]

    def record(self) -> dict[str, Any]:
        """The unit result's row: the quality row's columns, then ``extra``'s, then
        :data:`UNIT_ONLY_COLUMNS`."""
        return {
            **dataclasses.asdict(self.row),
            **self.extra,
            "descriptor": self.descriptor,
            "embedding": self.embedding,
        }


@dataclass(frozen=True)
class QualityRow:
    """One fake video's quality scores: a row of ``metrics/quality.parquet`` (``QUALITY``;
    docs/architecture.md). Each metric is the mean of the video's :class:`QualityFrameRow`
    values over its scored frames, NaN values left out (NaN when none is finite); units
    and ranges as there.

    Attributes:
        method, video_id, video_name: as :class:`QualityFrameRow`.
        target, source, driving: identities from the fakes manifest (``""`` when not
            applicable: a swap has no driving identity, a reenactment no source).
        split: the target identity's split (``train``, ``val`` or ``test``).
        n_frames: frames scored, >= 0 (sampled evenly; a face found on the fake frame).
        ssim, psnr, lpips, id_sim_source, id_sim_driving, id_sim_target: frame means.
        id_retrieval: share in [0, 1] of the scored frames whose nearest real face frame
            (ArcFace) shows the identity the fake should show (swap: the source;
            reenactment: the target); NaN without ArcFace or without a scored frame.
        id_sim_source_dlib, id_sim_driving_dlib, id_sim_target_dlib: frame means (dlib).
        id_retrieval_dlib: ``id_retrieval`` with dlib's descriptors.
        landmark_distance, akd, akd_iod: frame means.
        landmark_model: ``"fan"`` or ``"dlib"`` (of the first scored frame; ``""`` when none).
        boundary, warp_error, warp_error_real: frame means.
        reference: what the generator's fakes are compared with
            (``Generator.quality_reference``), for the report's quality note.
        eval_mode: the generator's networks ran in eval mode (fakes manifest ``settings``);
            None when the settings do not say (a fake set made outside forgebench).
    """

    method: str
    video_id: str
    video_name: str
    target: str
    source: str
    driving: str
    split: str
    n_frames: int
    ssim: float
    psnr: float
    lpips: float
    id_sim_source: float
    id_sim_driving: float
    id_sim_target: float
    id_retrieval: float
    id_sim_source_dlib: float
    id_sim_driving_dlib: float
    id_sim_target_dlib: float
    id_retrieval_dlib: float
    landmark_distance: float
    akd: float
    akd_iod: float
    landmark_model: str
    boundary: float
    warp_error: float
    warp_error_real: float
    reference: str
    eval_mode: bool | None


@dataclass(frozen=True)
class VideoQuality:
    """One fake video's ``quality.parquet`` row with its further frame-pair metrics.

    Attributes:
        row: the video's :class:`QualityRow`.
        extra: ``{metric name: mean over the scored frames}`` of the ``metrics.extra``
            metrics, in the settings' order (NaN when no value is finite).
    """

    row: QualityRow
    extra: dict[str, float]

    def record(self) -> dict[str, Any]:
        """The table row: the quality row's columns, then ``extra``'s."""
        return {**dataclasses.asdict(self.row), **self.extra}


# -- set rows -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SetRow:
    """One set-level number of a generator: a row of ``metrics/quality_sets.parquet``
    (``QUALITY_SETS``; docs/architecture.md).

    Attributes:
        method: the generator.
        metric: ``fid``, ``kid``, ``frechet_dlib``, ``lpips``, ``id_retrieval``,
            ``id_retrieval_dlib`` or ``recon_<metric>`` (``l1``, ``ssim``, ``akd``,
            ``akd_iod``, ``aed``, ``aed_dlib``, ``mkr``).
        value: the number in the metric's unit (FID / KID / Fréchet distance: squared
            feature units, >= 0; ``lpips``: mean LPIPS distance; ``id_retrieval*``: share in
            [0, 1]; ``recon_*``: :mod:`forgebench.metrics.reconstruction`); NaN unless
            ``status`` is ``"ok"``.
        status: ``"ok"`` or ``"unavailable: <reason>"``.
        n_real, n_fake: real and fake items behind the number (crops, descriptors or
            frames), >= 0.
        weights: the weights file name (``""`` for the ``recon_*`` rows).
        weights_sha256: its SHA-256 (64 hex digits); ``""`` unless ``status`` is ``"ok"``.
        eval_mode: the generator's networks ran in eval mode; None in a set unit's result
            (:data:`SET_UNIT_COLUMNS`): the stage sets it from the fakes manifest.
    """

    method: str
    metric: str
    value: float
    status: str
    n_real: int
    n_fake: int
    weights: str
    weights_sha256: str
    eval_mode: bool | None = None

    @classmethod
    def measured(
        cls, method: str, metric: str, value: float, status: str, n_real: int, n_fake: int, weights: WeightsRef
    ) -> SetRow:
        """A row whose ``value`` and ``weights_sha256`` count only when ``status`` is
        ``"ok"`` (NaN and ``""`` otherwise); ``n_real``, ``n_fake`` as ints."""
        ok = status == "ok"
        return cls(
            method,
            metric,
            float(value) if ok else np.nan,
            status,
            int(n_real),
            int(n_fake),
            weights.file,
            weights.sha256 if ok else "",
        )


# -- reconstruction rows --------------------------------------------------------------------
@dataclass(frozen=True)
class ReconstructionFrameRow:
    """One held-out frame re-rendered by its identity's model: a row of
    ``metrics/reconstruction_frames.parquet`` (``RECONSTRUCTION_FRAMES``; the metrics of
    :func:`forgebench.metrics.reconstruction.reconstruction_frame`).

    Attributes:
        method: the generator.
        identity: whose frame (its model renders it).
        split: the identity's split.
        frame_index: the frame's index in the identity's real video.
        l1: mean absolute error of the reconstruction against the real crop, pixels in
            [0, 1], range [0, 1].
        ssim: SSIM over the whole crop, in [-1, 1].
        detected: 1.0 when a face was found on the reconstruction, else 0.0.
        akd: average keypoint distance, pixels of the crop (one landmark model on both
            crops); NaN without a face on either crop.
        akd_iod: ``akd`` over the real crop's inter-ocular distance, unit-free.
        aed: Euclidean distance of the unit-norm ArcFace embeddings of real and
            reconstruction, in [0, 2]; NaN without the ArcFace weights or a face.
        aed_dlib: the same with dlib's descriptors (>= 0).
    """

    method: str
    identity: str
    split: str
    frame_index: int
    l1: float
    ssim: float
    detected: float
    akd: float
    akd_iod: float
    aed: float
    aed_dlib: float


@dataclass(frozen=True)
class ReconstructionRow:
    """One identity's reconstruction summary: a row of ``metrics/reconstruction.parquet``
    (``RECONSTRUCTION``; :func:`forgebench.metrics.reconstruction.summarize` of its
    :class:`ReconstructionFrameRow` rows).

    Attributes:
        method, identity, split: as :class:`ReconstructionFrameRow`.
        n_frames: held-out frames reconstructed, >= 0.
        l1, ssim: means over the frames (units as :class:`ReconstructionFrameRow`).
        akd, akd_iod, aed, aed_dlib: means over the frames with a face found and a finite
            value; NaN when there is none.
        mkr: missing keypoint rate, share in [0, 1] of frames without a face found on the
            reconstruction.
        eval_mode: the generator's networks ran in eval mode (``generators.<name>.eval_mode``).
    """

    method: str
    identity: str
    split: str
    n_frames: int
    l1: float
    ssim: float
    akd: float
    akd_iod: float
    aed: float
    aed_dlib: float
    mkr: float
    eval_mode: bool | None


# -- builders -------------------------------------------------------------------------------
def rows_table(rows: Sequence[Any], columns: Sequence[str]) -> pd.DataFrame:
    """A table of ``rows`` (row dataclasses, or objects with a ``record()`` method giving
    the row as a dict) with ``columns`` in that order (fields not named are dropped; an
    empty ``rows`` gives an empty table with ``columns``)."""
    records = [r.record() if hasattr(r, "record") else dataclasses.asdict(r) for r in rows]
    return pd.DataFrame(records, columns=list(columns))


def eval_mode_of(settings_json: str | None) -> bool | None:
    """``eval_mode`` of the generator settings that made a fake (fakes manifest
    ``settings``, a JSON object); None when absent (a fake set made outside forgebench).

    Raises:
        json.JSONDecodeError: ``settings_json`` is not JSON.
    """
    value = json.loads(settings_json or "{}").get("eval_mode")
    return None if value is None else bool(value)


def expected_identity(fake: Mapping[str, Any]) -> str:
    """The identity a fake (a fakes manifest row) should show: a swap's ``source``, else
    (reenactment) its ``target``."""
    return fake["source"] or fake["target"]


def _mean(frames: pd.DataFrame, col: str) -> float:
    """Mean of a frame column, NaN values left out; NaN when no value is finite."""
    vals = frames[col].to_numpy(dtype=np.float64) if len(frames) else np.zeros(0)
    return float(np.nanmean(vals)) if len(vals) and not np.isnan(vals).all() else np.nan


def _retrieval(frames: pd.DataFrame, nearest: str, expected: str) -> float:
    """Share of ``frames`` whose ``nearest`` identity is ``expected``; NaN without frames or
    when one has no nearest identity (``""``)."""
    found = frames[nearest].to_numpy() if len(frames) else np.zeros(0)
    return float(np.mean(found == expected)) if len(found) and (found != "").all() else np.nan


def video_quality(fake: Mapping[str, Any], frames: pd.DataFrame, extra: Sequence[str], reference: str) -> VideoQuality:
    """The ``quality.parquet`` row of a fake from its scored frames.

    Args:
        fake: the fakes manifest row (``method``, ``video_id``, ``video_name``, ``target``,
            ``source``, ``driving``, ``split``, ``settings``).
        frames: the video unit's frame rows with ``id_nearest`` and ``id_nearest_dlib``
            filled in (columns of :class:`QualityFrameRow` and ``extra``), possibly empty.
        extra: the ``metrics.extra`` metric names (columns of ``frames``).
        reference: what the generator's fakes are compared with (the generator's note).

    Returns:
        The :class:`VideoQuality` (frame means, retrieval shares, ``n_frames``).
    """
    means = {col: _mean(frames, col) for col in VIDEO_MEANS}
    expected = expected_identity(fake)
    row = QualityRow(
        method=fake["method"],
        video_id=fake["video_id"],
        video_name=fake["video_name"],
        target=fake["target"],
        source=fake["source"],
        driving=fake["driving"],
        split=fake["split"],
        n_frames=len(frames),
        id_retrieval=_retrieval(frames, "id_nearest", expected),
        id_retrieval_dlib=_retrieval(frames, "id_nearest_dlib", expected),
        landmark_model=str(frames["landmark_model"].iloc[0]) if len(frames) else "",
        reference=reference,
        eval_mode=eval_mode_of(fake.get("settings")),
        **means,
    )
    return VideoQuality(row, {col: _mean(frames, col) for col in extra})


def retrieval_rows(
    method: str,
    frames: pd.DataFrame,
    fakes: Sequence[Mapping[str, Any]],
    n_real: int,
    arcface: WeightsStatus,
    dlib: WeightsRef,
) -> list[SetRow]:
    """Set rows ``id_retrieval`` (ArcFace) and ``id_retrieval_dlib``: the share of all the
    generator's scored fake frames whose nearest real frame shows the identity the fake
    should show (:func:`expected_identity`), with the identity model's weights and status.

    Args:
        method: the generator.
        frames: its scored frames (``video_id``, ``id_nearest``, ``id_nearest_dlib``), possibly empty.
        fakes: its fakes manifest rows (``video_id``, ``source``, ``target``).
        n_real: real face frames searched (``n_real`` of the rows).
        arcface: the ArcFace weights' status; dlib: the dlib descriptor model's file.

    Returns:
        The two rows, ArcFace first.
    """
    expected = {f["video_id"]: expected_identity(f) for f in fakes}
    want = frames["video_id"].map(expected).to_numpy() if len(frames) else np.zeros(0)
    out = []
    for metric, col, status, weights in (
        ("id_retrieval", "id_nearest", arcface.status, arcface.weights),
        ("id_retrieval_dlib", "id_nearest_dlib", "ok", dlib),
    ):
        found = frames[col].to_numpy() if len(frames) else np.zeros(0)
        if status == "ok" and not len(found):
            status = "unavailable: no fake frame was scored (no face found on the fakes)"
        value = float(np.mean(found == want)) if status == "ok" else np.nan
        out.append(SetRow.measured(method, metric, value, status, n_real, len(found), weights))
    return out


def reconstruction_set_rows(method: str, frame_rows: pd.DataFrame, arcface_status: str = "ok") -> list[SetRow]:
    """``quality_sets.parquet`` rows ``recon_<metric>`` (l1, ssim, akd, akd_iod, aed,
    aed_dlib, mkr) of the reconstruction protocol, averaged over all held-out frames of a
    generator that has the protocol.

    Args:
        method: the generator.
        frame_rows: its reconstruction frame rows (columns of :class:`ReconstructionFrameRow`),
            possibly empty (every row is then unavailable).
        arcface_status: the ArcFace weights' status, carried by ``recon_aed`` when it is
            not ``"ok"``.

    Returns:
        One row per metric of :data:`forgebench.metrics.reconstruction.SET_METRICS`, in
        that order, with ``n_real`` = ``n_fake`` = frames and no weights file.
    """
    frames = frame_rows.to_dict("records")
    summary = summarize(frames)
    status = "ok" if frames else "unavailable: no held-out frame to reconstruct (generator holdout / splits)"
    n = summary["n_frames"]
    rows = []
    for m in SET_METRICS:
        s = status
        if m == "aed" and status == "ok" and arcface_status != "ok":
            s = arcface_status
        elif status == "ok" and not np.isfinite(summary[m]):
            s = "unavailable: no face found on any reconstruction"
        rows.append(SetRow.measured(method, f"recon_{m}", summary[m], s, n, n, WeightsRef()))
    return rows


def reconstruction_row(method: str, identity: str, frames: pd.DataFrame, eval_mode: bool | None) -> ReconstructionRow:
    """The ``reconstruction.parquet`` row of one identity from its reconstruction frame rows
    (non-empty; columns of :class:`ReconstructionFrameRow`; ``split`` from the first)."""
    return ReconstructionRow(
        method=method,
        identity=identity,
        split=frames["split"].iloc[0],
        **summarize(frames.to_dict("records")),
        eval_mode=eval_mode,
    )
