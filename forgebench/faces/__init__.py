"""Faces: detection, 68-point landmarks, alignment and crops, frame by frame
(:class:`FaceAnalyzer`), and the faces of one video (:func:`sample_faces`, :func:`crops_at`)."""

from forgebench.faces.analyzer import Face, FaceAnalyzer, FaceTracker, descriptor_from_landmarks
from forgebench.faces.extract import FaceSample, crops_at, frame_number, sample_faces, sample_image_faces

__all__ = [
    "Face",
    "FaceAnalyzer",
    "FaceSample",
    "FaceTracker",
    "crops_at",
    "descriptor_from_landmarks",
    "frame_number",
    "sample_faces",
    "sample_image_faces",
]
