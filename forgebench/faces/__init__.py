"""Faces: detection, 68-point landmarks, alignment, crops, and the extraction stage."""

from forgebench.faces.analyzer import Face, FaceAnalyzer, descriptor_from_landmarks

__all__ = ["Face", "FaceAnalyzer", "descriptor_from_landmarks"]
