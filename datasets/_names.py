"""Identity rules by file name, shared by the importers of the datasets whose names carry
the people (FaceForensics++ and the datasets built on its videos, Celeb-DF and the ones
built on its videos, DeepFakeDetection).

Each rule takes a video name (a file stem or a frame-folder name) and returns the people
in it, or ``None`` when the name does not follow the rule.
"""

from __future__ import annotations

import re

__all__ = ["ff_pair", "ff_id", "celebdf_real", "celebdf_fake", "youtube_real", "dfd_real", "dfd_fake"]

_FF_ID = re.compile(r"^(\d{3})$")
_FF_PAIR = re.compile(r"^(\d{3})_([^_]+)$")
_CDF_REAL = re.compile(r"^(id\d+)_(\d+)$")
_CDF_FAKE = re.compile(r"^(id\d+)_(id\d+)_(\d+)$")
_YT = re.compile(r"^(\d+)$")
_DFD_REAL = re.compile(r"^(\d{2})__(.+)$")
_DFD_FAKE = re.compile(r"^(\d{2})_(\d{2})__(.+)$")


def ff_id(name: str) -> str | None:
    """A FaceForensics++ sequence id (``"071"``): the identity of an original sequence
    (FaceForensics++ numbers its 1000 YouTube sequences and labels no people)."""
    m = _FF_ID.match(name)
    return m.group(1) if m else None


def ff_pair(name: str) -> tuple[str, str] | None:
    """``(target, other)`` of a FaceForensics++-style fake ``<target>_<other>``: the target
    sequence id (three digits: the video whose frames the fake uses) and the other id
    (the source of a swap, the driving video of a reenactment; DeeperForensics-1.0 puts its
    actor id there, ``000_M101``)."""
    m = _FF_PAIR.match(name)
    return (m.group(1), m.group(2)) if m else None


def celebdf_real(name: str) -> str | None:
    """The person ``idN`` of a Celeb-DF ``Celeb-real`` video ``idN_<k>`` (``id0_0003`` -> ``id0``)."""
    m = _CDF_REAL.match(name)
    return m.group(1) if m else None


def celebdf_fake(name: str) -> tuple[str, str, str] | None:
    """``(target, source, target video)`` of a Celeb-DF ``Celeb-synthesis`` video
    ``idT_idS_<k>``: made from the real video ``idT_<k>`` (the target, whose frames it
    uses) with ``idS``'s face (``id0_id16_0003`` -> ``("id0", "id16", "id0_0003")``)."""
    m = _CDF_FAKE.match(name)
    return (m.group(1), m.group(2), f"{m.group(1)}_{m.group(3)}") if m else None


def youtube_real(name: str) -> str | None:
    """The identity of a Celeb-DF ``YouTube-real`` video ``<k>`` (``00170`` -> ``yt00170``):
    one person per video, as the authors describe that set (one subject per video)."""
    m = _YT.match(name)
    return f"yt{m.group(1)}" if m else None


def dfd_real(name: str) -> str | None:
    """The actor ``NN`` of a DeepFakeDetection original ``NN__<scene>`` (``01__kitchen_pan``
    -> ``dfd01``)."""
    m = _DFD_REAL.match(name)
    return f"dfd{m.group(1)}" if m else None


def dfd_fake(name: str) -> tuple[str, str] | None:
    """``(target, source)`` actors of a DeepFakeDetection fake ``TT_SS__<scene>__<code>``
    (``01_02__kitchen_pan__YVGY8LOK`` -> ``("dfd01", "dfd02")``)."""
    m = _DFD_FAKE.match(name)
    return (f"dfd{m.group(1)}", f"dfd{m.group(2)}") if m else None
