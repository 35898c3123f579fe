"""Interoperability with the field's benchmarks.

- :func:`export_to_deepfakebench` writes a run's face crops where DeepfakeBench's own
  ``train.py`` / ``test.py`` load them unchanged (``forgebench export deepfakebench RUN_DIR
  --deepfakebench-root DIR``); :func:`export_deepfakebench` writes an index of the crops in
  place (``forgebench export deepfakebench RUN_DIR``); :func:`read_deepfakebench` reads
  such an index (forgebench's or DeepfakeBench's own) back into a frame table.

Datasets come in through the importers of :mod:`forgebench.datasets` (``forgebench import
NAME ROOT --out RUN_DIR``, :mod:`forgebench.importing`).
"""

from forgebench.interop import deepfakebench
from forgebench.interop.deepfakebench import (
    dfb_label_name,
    export_deepfakebench,
    export_to_deepfakebench,
    read_deepfakebench,
)

__all__ = ["deepfakebench", "dfb_label_name", "export_deepfakebench", "export_to_deepfakebench", "read_deepfakebench"]
