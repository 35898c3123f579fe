"""DeeperForensics-1.0 (Jiang et al., CVPR 2020), as its ``unzip.sh`` leaves it.

Layout (``ROOT`` = ``DeeperForensics-1.0``)::

    ROOT/lists/splits/{train,val,test}.txt          one manipulated video name per line (000_M101.mp4)
    ROOT/manipulated_videos/<variant>/<target>_<source>.mp4
        variants: end_to_end (the 1,000 raw DF-VAE fakes), reenact_postprocess,
        end_to_end_level_<1-5>, end_to_end_random_level, end_to_end_mix_<2-4>_distortions
    ROOT/source_videos/<actor>/...                   the actors' recordings (the faces swapped in,
                                                     not the real class: not imported)

The real class is not part of the download: it is the FaceForensics++ target videos at c23
(the dataset's README, "Target videos"). ``--real-root`` names a FaceForensics++ download
(``original_sequences/youtube/c23/videos/<target>.mp4``); without it the run holds fakes
only. ``<target>`` is the three-digit FaceForensics++ id (the identity shown), ``<source>``
the actor whose face is swapped in (``M004``, ``W101``). Split: ``lists/splits`` (703 :
96 : 201 videos, source actors disjoint); a real video takes the split of its fakes.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pydantic import Field, field_validator

from forgebench.datasets._base import (
    CommaList,
    DatasetImporter,
    ImporterOptions,
    check_table,
    read_text_lines,
    require_file,
    video_files,
    video_row,
)
from forgebench.datasets._names import ff_pair
from forgebench.datasets._registry import register_dataset
from forgebench.errors import DataError

__all__ = ["DeeperForensics"]

TITLE = "DeeperForensics-1.0"


class DeeperForensicsOptions(ImporterOptions):
    """Options of the DeeperForensics-1.0 importer."""

    variants: CommaList = Field(
        ["end_to_end"], description="manipulated_videos subfolders, comma-separated (default end_to_end)"
    )
    real_root: Path | None = Field(None, description="a FaceForensics++ download holding the real target videos")
    real_compression: str = Field("c23", description="compression folder of the FaceForensics++ targets (default c23)")

    @field_validator("real_root", mode="before")
    @classmethod
    def _one_root(cls, v):
        if isinstance(v, list):
            if len(v) != 1:
                raise ValueError("give one FaceForensics++ download (the target videos)")
            return v[0]
        return v


@register_dataset("deeperforensics")
class DeeperForensics(DatasetImporter):
    """DeeperForensics-1.0 (module docstring)."""

    title = TITLE
    citation = (
        "Jiang, Li, Wu, Qian, Loy. DeeperForensics-1.0: A Large-Scale Dataset for Real-World Face Forgery "
        "Detection. CVPR 2020"
    )
    homepage = "https://github.com/EndlessSora/DeeperForensics-1.0"
    layout = (
        "lists/splits/{train,val,test}.txt; manipulated_videos/<variant>/<target>_<source>.mp4; real class: --real-root"
    )
    split_rule = "lists/splits (fakes); a real FaceForensics++ target takes the split of its fakes"
    identity_rule = "target = the FaceForensics++ id of <target>_<source>, source = the actor id"
    Options = DeeperForensicsOptions

    def read(self, root: Path) -> pd.DataFrame:
        """The videos of ``root`` (module docstring).

        Raises:
            DataError: missing or malformed split lists, a listed video missing from a
                variant folder, no such variant, a ``--real-root`` without the targets.
        """
        split_of = self._splits(root)
        o = self.options
        rows = []
        targets: set[str] = set()
        for variant in o.variants:
            folder = root / "manipulated_videos" / variant
            if not folder.is_dir():
                raise DataError(
                    f"{folder}: no such variant folder (variants: {sorted(p.name for p in (root / 'manipulated_videos').glob('*'))})"
                )
            present = {p.name: p for p in video_files(folder)}
            for name, (split, where) in sorted(split_of.items()):
                if name not in present:
                    require_file(folder / name, where, name)
                path = present[name]
                target, source = ff_pair(path.stem) or (None, None)
                if target is None:
                    raise DataError(f"{where}: entry {name!r} is not <target>_<source>.mp4")
                targets.add(target)
                rows.append(
                    video_row(
                        path,
                        dataset=TITLE,
                        method=variant,
                        compression="c23",
                        video_name=path.stem,
                        label=1,
                        identity=target,
                        source=source,
                        label_from=f"folder manipulated_videos/{variant}",
                        identity_from="FaceForensics++ target id of <target>_<source>",
                        pair_from="actor id of <target>_<source> (source)",
                        split=split,
                        split_from=f"lists/splits/{Path(where).name}",
                    )
                )
            extra = sorted(set(present) - set(split_of))
            if extra:
                self.leave_out(f"{variant} video in no split list", len(extra))
        if o.real_root is not None:
            rows += self._reals(Path(o.real_root), targets)
        return check_table(rows, f"{root} (DeeperForensics-1.0)")

    def _splits(self, root: Path) -> dict[str, tuple[str, Path]]:
        split_of: dict[str, tuple[str, Path]] = {}
        for split in ("train", "val", "test"):
            path = root / "lists" / "splits" / f"{split}.txt"
            self.sources.append(path)
            for number, line in read_text_lines(path, "DeeperForensics-1.0 split list"):
                name = Path(line.replace("\\", "/")).name
                if not name.endswith(".mp4"):
                    name += ".mp4"
                if name in split_of:
                    raise DataError(f"{path}: line {number}: {name} is also in {split_of[name][1]}")
                split_of[name] = (split, path)
        return split_of

    def _reals(self, real_root: Path, targets: set[str]) -> list[dict]:
        c = self.options.real_compression
        folder = real_root / "original_sequences" / "youtube" / c / "videos"
        if not folder.is_dir():
            raise DataError(
                f"{folder}: not found; --real-root must be a FaceForensics++ download holding the target videos at {c}"
            )
        rows = []
        for target in sorted(targets):
            path = folder / f"{target}.mp4"
            if not path.is_file():
                self.leave_out("real target video missing from --real-root")
                continue
            rows.append(
                video_row(
                    path,
                    dataset="FaceForensics++",
                    method="real",
                    compression=c,
                    video_name=target,
                    label=0,
                    identity=target,
                    label_from="FaceForensics++ original sequence (--real-root)",
                    identity_from="FaceForensics++ sequence id",
                    split="",
                    split_from="the split of its DeeperForensics-1.0 fakes",
                )
            )
        return rows
