"""Interoperability with the field's datasets and benchmarks.

- :func:`import_faceforensics` turns a FaceForensics++ download (videos and the official
  split JSONs) into a forgebench run directory that ``forgebench train`` and
  ``forgebench report`` use like any other run (``forgebench import faceforensics``).
- :func:`export_deepfakebench` writes a run's face crops as a DeepfakeBench dataset JSON
  index (``forgebench export deepfakebench``); :func:`read_deepfakebench` reads such an
  index (forgebench's or DeepfakeBench's own) back into a frame table.
"""

from forgebench.interop.deepfakebench import dfb_label_name, export_deepfakebench, read_deepfakebench
from forgebench.interop.faceforensics import FF_METHODS, import_faceforensics, read_ff_splits

__all__ = [
    "FF_METHODS",
    "dfb_label_name",
    "export_deepfakebench",
    "import_faceforensics",
    "read_deepfakebench",
    "read_ff_splits",
]
