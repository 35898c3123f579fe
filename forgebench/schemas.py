"""Table schemas of the run directory, the one video-id function and the names of the
special train-set folders.

Every table a stage writes or reads (Parquet/CSV under ``runs/<name>/``) has a
:class:`Schema` here; docs/architecture.md gives the meaning and type of each column.
This module holds no paths: :mod:`forgebench.rundir` decides where each table lives.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from forgebench.errors import DataError

if TYPE_CHECKING:  # annotations only: worker processes import this module for make_video_id, without pandas
    import pandas as pd


# -- one video id -------------------------------------------------------------------------
def make_video_id(dataset: str, method: str, compression: str, video_name: str) -> str:
    """The unique video id ``"<dataset>/<method>/<compression>/<video_name>"`` (e.g.
    ``samples/real/c23/d0``, ``FaceForensics++/Deepfakes/c23/000_003``): frame scores are
    aggregated into video scores by this id, never by a folder name, so two methods'
    videos of the same name never merge.

    Raises:
        ValueError: a part is empty or holds a ``/``.
    """
    parts = (dataset, method, compression, video_name)
    bad = [p for p in parts if not isinstance(p, str) or not p or "/" in p]
    if bad:
        raise ValueError(f"video id parts must be non-empty strings without '/', got {parts}")
    return "/".join(parts)


# -- table schemas ----------------------------------------------------------------------
@dataclass(frozen=True)
class Schema:
    """Columns of one table of the run directory.

    Attributes:
        name: what the table is (for messages).
        columns: column names in order; the meaning and type of each is in
            docs/architecture.md.
        extra: whether other columns may follow (quality tables of third-party metrics).
    """

    name: str
    columns: tuple[str, ...]
    extra: bool = False

    def check(self, df: pd.DataFrame, where: str | os.PathLike) -> pd.DataFrame:
        """``df`` with the schema's columns first, in order.

        Raises:
            DataError: a column is missing, or unknown columns when ``extra`` is False.
        """
        missing = [c for c in self.columns if c not in df.columns]
        if missing:
            raise DataError(f"{where}: {self.name} lacks column(s) {missing}")
        others = [c for c in df.columns if c not in self.columns]
        if others and not self.extra:
            raise DataError(f"{where}: {self.name} has unknown column(s) {others}")
        return df[list(self.columns) + others]

    def empty(self) -> pd.DataFrame:
        """An empty table with these columns."""
        import pandas as pd  # here, not at the top: see the TYPE_CHECKING import

        return pd.DataFrame(columns=list(self.columns))


VIDEOS = Schema(
    "videos table", ("video_name", "identity", "split", "input_path", "real_path", "fps", "n_frames", "width", "height")
)
FACES = Schema(
    "face manifest",
    (
        "video_id",
        "dataset",
        "method",
        "compression",
        "video_name",
        "label",
        "identity",
        "source",
        "driving",
        "frame_index",
        "bbox",
        "landmarks",
        "landmarks_crop",
        "matrix",
        "crop_size",
        "margin",
        "crop_path",
        "mask_path",
    ),
)
#: The combined face manifest adds the split of each row's target identity.
FACES_ALL = Schema("combined face manifest", FACES.columns + ("split",))
FAKES = Schema(
    "fakes manifest",
    (
        "method",
        "video_name",
        "video_id",
        "target",
        "source",
        "driving",
        "split",
        "path",
        "mask_path",
        "mask_sha256",
        "target_path",
        "n_frames",
        "n_frames_with_face",
        "fps",
        "checkpoint",
        "checkpoint_sha256",
        "settings",
    ),
)
FRAMES = Schema("frames table", ("frame_index", "has_face", "landmarks", "matrix", "driving_landmarks"))
QUALITY = Schema(
    "quality table",
    (
        "method",
        "video_id",
        "video_name",
        "target",
        "source",
        "driving",
        "split",
        "n_frames",
        "ssim",
        "psnr",
        "lpips",
        "id_sim_source",
        "id_sim_driving",
        "id_sim_target",
        "id_retrieval",
        "id_sim_source_dlib",
        "id_sim_driving_dlib",
        "id_sim_target_dlib",
        "id_retrieval_dlib",
        "landmark_distance",
        "akd",
        "akd_iod",
        "landmark_model",
        "boundary",
        "warp_error",
        "warp_error_real",
        "reference",
        "eval_mode",
    ),
    extra=True,
)
QUALITY_FRAMES = Schema(
    "quality frames table",
    (
        "method",
        "video_id",
        "video_name",
        "frame_index",
        "ssim",
        "psnr",
        "lpips",
        "id_sim_source",
        "id_sim_driving",
        "id_sim_target",
        "id_sim_source_dlib",
        "id_sim_driving_dlib",
        "id_sim_target_dlib",
        "id_nearest",
        "id_nearest_dlib",
        "landmark_distance",
        "akd",
        "akd_iod",
        "landmark_model",
        "boundary",
        "warp_error",
        "warp_error_real",
    ),
    extra=True,
)
QUALITY_SETS = Schema(
    "set-level quality table",
    (
        "method",
        "metric",
        "value",
        "status",
        "n_real",
        "n_fake",
        "weights",
        "weights_sha256",
        "eval_mode",
    ),
)
RECONSTRUCTION = Schema(
    "reconstruction table",
    (
        "method",
        "identity",
        "split",
        "n_frames",
        "l1",
        "ssim",
        "akd",
        "akd_iod",
        "aed",
        "aed_dlib",
        "mkr",
        "eval_mode",
    ),
)
RECONSTRUCTION_FRAMES = Schema(
    "reconstruction frames table",
    (
        "method",
        "identity",
        "split",
        "frame_index",
        "l1",
        "ssim",
        "detected",
        "akd",
        "akd_iod",
        "aed",
        "aed_dlib",
    ),
)
PREDICTIONS = Schema(
    "predictions table",
    (
        "video_id",
        "frame_index",
        "label",
        "split",
        "method",
        "identity",
        "cluster",
        "score",
        "detector",
        "train_set",
        "test_set",
    ),
)
#: The train-set folder name of prediction submissions (``detectors/<name>/submission/``).
SUBMISSION_SET = "submission"
#: The train-set folder name of an external detector evaluated with its own weights
#: (``forgebench evaluate``: trained elsewhere, on nothing of this run).
PRETRAINED_SET = "pretrained"
#: Separates a train set from the run it was trained in, in the train-set folder of a
#: cross-dataset evaluation (``forgebench evaluate RUN_B --detector RUN_A/detectors/NAME``):
#: ``detectors/<detector>/<train_set>@<run A folder name>/``.
CROSS_DATASET_SEP = "@"


def cross_dataset_set(train_set: str, run_name: str) -> str:
    """The train-set name of a detector trained in another run: ``"all@ffpp_c23"``.

    Raises:
        DataError: a part is empty or holds ``/`` or ``@``.
    """
    for part in (train_set, run_name):
        if not part or "/" in part or CROSS_DATASET_SEP in part:
            raise DataError(
                f"cross-dataset train set parts must be non-empty without '/' or '@', got {train_set!r}, {run_name!r}"
            )
    return f"{train_set}{CROSS_DATASET_SEP}{run_name}"


ROBUSTNESS = Schema(
    "robustness scores",
    (
        "video_id",
        "frame_index",
        "label",
        "method",
        "identity",
        "cluster",
        "perturbation",
        "strength",
        "score",
        "detector",
        "train_set",
    ),
)
ROBUSTNESS_METRICS = Schema(
    "robustness metrics",
    (
        "detector",
        "train_set",
        "perturbation",
        "strength",
        "video_auc",
        "video_auc_ci_low",
        "video_auc_ci_high",
        "frame_auc",
        "frame_auc_ci_low",
        "frame_auc_ci_high",
        "n_identities",
        "n_identities_real",
        "n_identities_fake",
        "n_videos",
        "n_frames",
    ),
)
HISTORY = Schema("training history", ("epoch", "train_loss", "val_loss", "val_auc", "lr"))
#: ``submissions/sealed_ids.parquet``: one row per exported face (``frame_id``, the
#: anonymous ``video_id``, ``split``, ``frame_index`` and the run's ``original_video_id``);
#: the secret of the ids is in the file's schema metadata (:data:`SECRET_KEY`).
SEALED_IDS = Schema("sealed ids table", ("frame_id", "video_id", "split", "frame_index", "original_video_id"))
#: Parquet schema-metadata key of the id secret in the sealed ids file.
SECRET_KEY = b"forgebench_id_secret"

#: ``faces/dataset_index.parquet``: every video a dataset import (or the extract stage) listed,
#: one row each, with its unique ``video_id``, the importer's columns
#: (:data:`forgebench.datasets.VIDEO_COLUMNS`), ``identity`` after ``splits.identity``
#: merging (``identity_label`` as the dataset gave it), the resolved ``split`` and ``status``
#: (``kept`` or ``left out: <reason>``).
DATASET_INDEX = Schema(
    "dataset index",
    (
        "video_id",
        "path",
        "kind",
        "dataset",
        "method",
        "compression",
        "video_name",
        "label",
        "identity",
        "identity_label",
        "source",
        "driving",
        "split",
        "status",
        "label_from",
        "identity_from",
        "pair_from",
        "split_from",
        "frames",
        "landmarks",
        "masks",
    ),
)
#: ``faces/identity_embeddings.parquet``: the identity check's embeddings, one row per face.
IDENTITY_EMBEDDINGS = Schema("identity embeddings", ("video_id", "identity", "frame_index", "model", "embedding"))

#: Every table schema by name.
SCHEMAS: dict[str, Schema] = {
    "videos": VIDEOS,
    "faces": FACES,
    "faces_all": FACES_ALL,
    "fakes": FAKES,
    "frames": FRAMES,
    "quality": QUALITY,
    "quality_frames": QUALITY_FRAMES,
    "quality_sets": QUALITY_SETS,
    "reconstruction": RECONSTRUCTION,
    "reconstruction_frames": RECONSTRUCTION_FRAMES,
    "predictions": PREDICTIONS,
    "robustness": ROBUSTNESS,
    "robustness_metrics": ROBUSTNESS_METRICS,
    "history": HISTORY,
    "sealed_ids": SEALED_IDS,
    "dataset_index": DATASET_INDEX,
    "identity_embeddings": IDENTITY_EMBEDDINGS,
}
