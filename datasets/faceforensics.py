"""FaceForensics++ (Rössler et al., ICCV 2019), with DeepFakeDetection (DFD) and FaceShifter,
as the official download script (``faceforensics_download_v4.py``) leaves it.

Layout (``ROOT`` = the folder the download script wrote; ``<c>`` = ``raw``, ``c23`` or ``c40``)::

    ROOT/original_sequences/youtube/<c>/videos/<id>.mp4              1000 real sequences, 000..999
    ROOT/manipulated_sequences/<Method>/<c>/videos/<target>_<other>.mp4
        Deepfakes, FaceSwap, FaceShifter (swaps: <other> = source), Face2Face, NeuralTextures
        (reenactments: <other> = driving)
    ROOT/original_sequences/actors/<c>/videos/<actor>__<scene>.mp4   DeepFakeDetection originals
    ROOT/manipulated_sequences/DeepFakeDetection/<c>/videos/<target>_<source>__<scene>__<code>.mp4
    ROOT/manipulated_sequences/<Method>/masks/videos/<name>.mp4     the fakes' manipulation masks
        (download type ``masks``; one per fake, any compression), kept as the fake's mask video
    ROOT/splits/{train,val,test}.json  (or ROOT/{train,val,test}.json, or --splits DIR)

The split files are the official ones (``dataset/splits/`` of ondyari/FaceForensics; the
download script does not fetch them): lists of id pairs ``[["071", "054"], ...]``; both ids
of a pair and the fakes ``071_054`` and ``054_071`` are in that pair's split (as
DeepfakeBench's ``preprocessing/rearrange.py`` reads them). DeepFakeDetection has no
official split: its videos are a test set (the cross-dataset protocol tests on it), video
ids ``DeepFakeDetection/...``.

Identity: FaceForensics++ labels no people, so a sequence id is an identity (a fake's
identity is its target id); the 1000 sequences come from 977 YouTube videos, so a few
people have two ids (043 and 343; 179, 183 and 826): the identity check
(``forgebench identities``) reports them. DFD names its 28 actors: ``01__...`` is actor
``dfd01``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pydantic import Field

from forgebench.datasets._base import (
    CommaList,
    DatasetImporter,
    ImporterOptions,
    check_table,
    video_files,
    video_row,
)
from forgebench.datasets._names import dfd_fake, dfd_real, ff_id, ff_pair
from forgebench.datasets._official import find_split_files, read_ff_splits
from forgebench.datasets._registry import register_dataset
from forgebench.errors import DataError

__all__ = ["FF_METHODS", "REENACTMENT_METHODS", "FaceForensics"]

TITLE = "FaceForensics++"
DFD = "DeepFakeDetection"
FF_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")
#: Methods whose second id drives the target's expressions (reenactment); the others paste
#: the second id's face in (face swaps).
REENACTMENT_METHODS = ("Face2Face", "NeuralTextures")


class FaceForensicsOptions(ImporterOptions):
    """Options of the FaceForensics++ importer."""

    compression: str = Field("c23", description="raw, c23 or c40: the folder under each method (default c23)")
    methods: CommaList = Field(
        list(FF_METHODS),
        description="manipulation folders, comma-separated (default: the five "
        "FaceForensics++ methods; add DeepFakeDetection for DFD)",
    )
    splits: Path | None = Field(None, description="folder of train/val/test.json (default ROOT/splits, then ROOT)")


@register_dataset("faceforensics")
class FaceForensics(DatasetImporter):
    """FaceForensics++ with DeepFakeDetection and FaceShifter (module docstring)."""

    title = TITLE
    citation = (
        "Rössler, Cozzolino, Verdoliva, Riess, Thies, Nießner. FaceForensics++: Learning to Detect Manipulated "
        "Facial Images. ICCV 2019"
    )
    homepage = "https://github.com/ondyari/FaceForensics"
    layout = (
        "original_sequences/youtube/<c>/videos/<id>.mp4; manipulated_sequences/<Method>/<c>/videos/<target>_<other>.mp4; "
        "original_sequences/actors and manipulated_sequences/DeepFakeDetection for DFD; splits/{train,val,test}.json"
    )
    split_rule = (
        "the official split files (pairs of ids; both ids and both fakes of a pair in its split); ids in no split "
        "file are left out; DeepFakeDetection has no split: test set"
    )
    identity_rule = (
        "the sequence id (FaceForensics++ labels no people; 977 YouTube videos behind 1000 ids); a fake's "
        "identity is its target id, its second id the source (swaps) or driving video (Face2Face, "
        "NeuralTextures); DFD: the actor number"
    )
    Options = FaceForensicsOptions

    def read(self, root: Path) -> pd.DataFrame:
        """The videos of ``root`` (module docstring).

        Raises:
            DataError: no real videos at the compression, missing or malformed split files.
        """
        o = self.options
        c = o.compression
        rows = []
        ff_methods = [m for m in o.methods if m != DFD]
        if ff_methods:
            rows += self._ff(root, c, ff_methods)
        if DFD in o.methods:
            rows += self._dfd(root, c)
        return check_table(rows, f"{root} (FaceForensics++ at {c})")

    def _ff(self, root: Path, c: str, methods: list[str]) -> list[dict]:
        real_dir = root / "original_sequences" / "youtube" / c / "videos"
        reals = {p.stem: p for p in video_files(real_dir) if ff_id(p.stem)}
        if not reals:
            raise DataError(f"{real_dir}: no .mp4 videos; is {root} a FaceForensics++ folder at compression {c}?")
        split_of, _ = read_ff_splits(root, self.options.splits)
        self.sources += list(find_split_files(root, self.options.splits).values())
        split_from = "the official split files (dataset/splits of the FaceForensics repository)"
        rows = []
        for vid, path in reals.items():
            if vid not in split_of:
                self.leave_out("real sequence id in no split file")
                continue
            rows.append(
                video_row(
                    path,
                    dataset=TITLE,
                    method="real",
                    compression=c,
                    video_name=vid,
                    label=0,
                    identity=vid,
                    label_from="folder original_sequences",
                    identity_from="sequence id (file name)",
                    split=split_of[vid],
                    split_from=split_from,
                )
            )
        for method in methods:
            folder = root / "manipulated_sequences" / method / c / "videos"
            if not folder.is_dir():
                self.leave_out(f"method folder missing: {method}")
                continue
            role = "driving" if method in REENACTMENT_METHODS else "source"
            for path in video_files(folder):
                pair = ff_pair(path.stem)
                if pair is None:
                    self.leave_out("fake name is not <target>_<other>")
                    continue
                target, other = pair
                if target not in split_of or other not in split_of:
                    self.leave_out("fake of an id in no split file")
                    continue
                split = split_of[target] if split_of[target] == split_of[other] else ""
                rows.append(
                    video_row(
                        path,
                        dataset=TITLE,
                        method=method,
                        compression=c,
                        video_name=path.stem,
                        label=1,
                        identity=target,
                        label_from="folder manipulated_sequences",
                        identity_from="target id (file name <target>_<other>)",
                        split=split,
                        split_from=split_from if split else "target and other id in different splits",
                        pair_from=f"second id of the file name ({role})",
                        masks=_mask_video(root, method, path.stem),
                        **{role: other},
                    )
                )
        return rows

    def _dfd(self, root: Path, c: str) -> list[dict]:
        rows = []
        split_from = "DeepFakeDetection has no official split: a test set"
        real_dir = root / "original_sequences" / "actors" / c / "videos"
        fake_dir = root / "manipulated_sequences" / DFD / c / "videos"
        if not real_dir.is_dir() and not fake_dir.is_dir():
            self.leave_out(f"method folder missing: {DFD}")
            return rows
        for path in video_files(real_dir):
            actor = dfd_real(path.stem)
            if actor is None:
                self.leave_out("DFD original name is not <actor>__<scene>")
                continue
            rows.append(
                video_row(
                    path,
                    dataset=DFD,
                    method="real",
                    compression=c,
                    video_name=path.stem,
                    label=0,
                    identity=actor,
                    label_from="folder original_sequences/actors",
                    identity_from="actor number (file name)",
                    split="test",
                    split_from=split_from,
                )
            )
        for path in video_files(fake_dir):
            pair = dfd_fake(path.stem)
            if pair is None:
                self.leave_out("DFD fake name is not <target>_<source>__<scene>__<code>")
                continue
            rows.append(
                video_row(
                    path,
                    dataset=DFD,
                    method=DFD,
                    compression=c,
                    video_name=path.stem,
                    label=1,
                    identity=pair[0],
                    source=pair[1],
                    label_from="folder manipulated_sequences/DeepFakeDetection",
                    identity_from="target actor number (file name)",
                    pair_from="source actor number (file name)",
                    split="test",
                    split_from=split_from,
                    masks=_mask_video(root, DFD, path.stem),
                )
            )
        return rows


def _mask_video(root: Path, method: str, name: str) -> list[str]:
    """``[ROOT/manipulated_sequences/<method>/masks/videos/<name>.mp4]`` where the download holds
    that mask video (``faceforensics_download_v4.py -t masks``), else ``[]``."""
    path = root / "manipulated_sequences" / method / "masks" / "videos" / f"{name}.mp4"
    return [str(path)] if path.is_file() else []
