"""Paths of the dlib models shipped by the ``face-recognition-models`` package, and lazy
loading of the dlib objects.

That package's ``__init__`` imports ``pkg_resources`` (gone from new setuptools), so its
files are found with :func:`importlib.util.find_spec` instead of importing it.

dlib's built-in HOG frontal face detector is rebuilt from a compressed string at each
``get_frontal_face_detector()`` (0.4 to 0.6 s on the 2-core test machine, paid by every
worker process of the faces stage); :func:`hog_detector` keeps it serialised in the user
cache (``$FORGEBENCH_CACHE_DIR/dlib`` or the platform's cache folder, e.g.
``~/.cache/forgebench/dlib``), from where it loads in milliseconds with identical detections.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import tempfile
from pathlib import Path

import dlib
import platformdirs

from forgebench.errors import DataError

MODEL_FILES = {
    "landmarks68": "shape_predictor_68_face_landmarks.dat",
    "cnn_detector": "mmod_human_face_detector.dat",
    "descriptor": "dlib_face_recognition_resnet_model_v1.dat",
}


def model_path(name: str) -> Path:
    """Path of a dlib model file: ``landmarks68``, ``cnn_detector`` or ``descriptor``.

    Raises:
        DataError: the ``face-recognition-models`` package or the file is missing.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("package face-recognition-models is not installed (pip install face-recognition-models)")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / MODEL_FILES[name]
    if not path.is_file():
        raise DataError(f"{path}: dlib model file missing; reinstall face-recognition-models")
    return path


def cache_folder() -> Path:
    """Folder of forgebench's derived dlib files: ``$FORGEBENCH_CACHE_DIR/dlib`` if the
    variable is set, else ``<platform user cache>/forgebench/dlib`` (platformdirs)."""
    root = os.environ.get("FORGEBENCH_CACHE_DIR") or platformdirs.user_cache_dir("forgebench")
    return Path(root).expanduser() / "dlib"


def load_hog_detector(folder: Path | None = None):
    """dlib's built-in HOG frontal face detector, read from its serialised copy in
    ``folder`` (default :func:`cache_folder`), written there first when missing.

    The file is named by the dlib version (``frontal_face_detector-<version>.svm``), written
    through a unique temporary file and renamed, so concurrent workers never read half a
    file. A copy dlib cannot read is replaced; a folder that cannot be written is skipped
    (the detector is then built from dlib's string, as ``get_frontal_face_detector`` does).
    Both give the same detector: same detections, scores and sub-detector indices.
    """
    folder = cache_folder() if folder is None else Path(folder)
    path = folder / f"frontal_face_detector-{dlib.__version__}.svm"
    if path.is_file():
        try:
            return dlib.fhog_object_detector(str(path))
        except RuntimeError:  # unreadable copy: rebuilt and rewritten below
            pass
    detector = dlib.get_frontal_face_detector()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.stem, suffix=".partial", dir=folder)
        os.close(fd)
        try:
            detector.save(tmp)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError:  # a read-only cache costs speed only
        pass
    return detector


@functools.cache
def hog_detector():
    """dlib's HOG + linear SVM frontal face detector (Dalal & Triggs features), one per
    process, loaded by :func:`load_hog_detector`."""
    return load_hog_detector()


@functools.cache
def cnn_detector():
    """dlib's max-margin object detection CNN face detector (mmod_human_face_detector)."""
    return dlib.cnn_face_detection_model_v1(str(model_path("cnn_detector")))


@functools.cache
def shape_predictor():
    """dlib's 68-point (iBUG 300-W) landmark regressor (Kazemi & Sullivan 2014)."""
    return dlib.shape_predictor(str(model_path("landmarks68")))


@functools.cache
def descriptor_model():
    """dlib's ResNet face descriptor model (128-d, 99.38% on LFW)."""
    return dlib.face_recognition_model_v1(str(model_path("descriptor")))
