"""Paths of the dlib models shipped by the ``face-recognition-models`` package, and lazy
loading of the dlib objects.

That package's ``__init__`` imports ``pkg_resources`` (gone from new setuptools), so its
files are found with :func:`importlib.util.find_spec` instead of importing it.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import dlib

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


@functools.cache
def hog_detector():
    """dlib's HOG + linear SVM frontal face detector (Dalal & Triggs features)."""
    return dlib.get_frontal_face_detector()


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
