"""DF40 (Yan et al., NeurIPS 2024 Datasets and Benchmarks): 40 forgery methods in the
FaceForensics++ (FF) and Celeb-DF (CDF) domains, as its processed downloads unpack.

Layout (``ROOT`` = the unpacked ``DF40`` test download or ``DF40_train``)::

    ROOT/<method>/<domain>/frames/<video>/<frame>.png     domain: ff (or ffpp), cdf (or cdfv2)
    ROOT/<method>/<domain>/frames/<image>.png              image methods (entire face synthesis,
                                                           face editing): one image = one video

DF40 ships frames (face crops from DeepfakeBench's preprocessing), not videos, and only
fakes: each method folder is a ``method`` of its own; its real class lives in
FaceForensics++ (FF domain) and Celeb-DF (CDF domain). ``--real-root DIR`` (given once per
domain) names those downloads: a FaceForensics++ folder (``original_sequences/``) or a
Celeb-DF folder (``Celeb-real/``, ``List_of_testing_videos.txt``). Without it the run
holds fakes only. forgebench's faces stage crops DF40's frames like video frames, so the
reals (from videos) and the fakes share one crop procedure.

Split: FF domain: the FaceForensics++ split of the fake's target id (``--splits`` or the
FaceForensics++ root's ``splits/``, as that importer reads them), a test set when no split
files are at hand or the name holds no person (images of entire-face synthesis and face
editing); CDF domain: a test set (DF40 trains in the FF domain only), with the reals of
Celeb-DF's test list. Reals of the FF domain: the FaceForensics++ videos of the
splits the fakes fall in.

Identity: FF domain ``<target>_<other>`` (the second id is the source of face-swapping
methods, the driving video of face-reenactment methods); CDF domain ``idT_idS_k``; other
names (entire face synthesis, face editing) are their own identity.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pydantic import Field, field_validator

from forgebench.datasets._base import (
    NO_COMPRESSION,
    CommaList,
    DatasetImporter,
    ImporterOptions,
    check_table,
    frame_files,
    video_files,
    video_row,
)
from forgebench.datasets._names import celebdf_fake, celebdf_real, ff_id, ff_pair, youtube_real
from forgebench.datasets._official import find_split_files, read_ff_splits, read_test_list
from forgebench.datasets._registry import register_dataset
from forgebench.errors import DataError

__all__ = ["DF40", "FAMILIES"]

TITLE = "DF40"
#: Domain folder names as DF40 ships them -> the domain.
DOMAINS = {"ff": "ff", "ffpp": "ff", "cdf": "cdf", "cdfv2": "cdf"}
#: DF40's method folders (lower case) by forgery family (its Table 1): FS face swapping,
#: FR face reenactment, EFS entire face synthesis, FE face editing.
FAMILIES = {
    **dict.fromkeys(
        (
            "fsgan",
            "faceswap",
            "simswap",
            "inswap",
            "inswapper",
            "blendface",
            "uniface",
            "mobileswap",
            "e4s",
            "facedancer",
            "deepfacelab",
        ),
        "FS",
    ),
    **dict.fromkeys(
        (
            "fomm",
            "facevid2vid",
            "fs_vid2vid",
            "wav2lip",
            "mraa",
            "one_shot_free",
            "oneshot",
            "pirender",
            "tpsm",
            "tpsmm",
            "lia",
            "danet",
            "sadtalker",
            "mcnet",
            "hyperreenact",
            "heygen",
        ),
        "FR",
    ),
    **dict.fromkeys(
        (
            "vqgan",
            "stylegan2",
            "stylegan3",
            "styleganxl",
            "sd2.1",
            "ddim",
            "ddpm",
            "rddm",
            "pixart",
            "dit",
            "sit",
            "mj",
            "midjourney",
            "whichisreal",
        ),
        "EFS",
    ),
    **dict.fromkeys(("collabdiff", "e4e", "stargan", "starganv2", "styleclip"), "FE"),
}


class DF40Options(ImporterOptions):
    """Options of the DF40 importer."""

    methods: CommaList = Field([], description="method folders, comma-separated (default: every one found)")
    domains: CommaList = Field(["ff", "cdf"], description="ff and/or cdf, comma-separated (default both)")
    real_root: list[Path] = Field(
        [], description="the FaceForensics++ and/or Celeb-DF download of the real class (give the flag once per domain)"
    )
    splits: Path | None = Field(None, description="folder of FaceForensics++ train/val/test.json for the FF domain")
    real_compression: str = Field("c23", description="compression folder of the FaceForensics++ reals (default c23)")

    @field_validator("real_root", mode="before")
    @classmethod
    def _one_or_more(cls, v):
        return [v] if isinstance(v, (str, Path)) else v


@register_dataset("df40")
class DF40(DatasetImporter):
    """DF40 (module docstring)."""

    title = TITLE
    citation = (
        "Yan, Yao, Chen, Zhang, Wu, Li, Lyu, Wu. DF40: Toward Next-Generation Deepfake Detection. NeurIPS 2024 "
        "Datasets and Benchmarks"
    )
    homepage = "https://github.com/YZY-stack/DF40"
    layout = "<method>/<ff|cdf>/frames/<video>/<frame>.png (frame folders, fakes only); real class: --real-root"
    split_rule = (
        "FF domain: FaceForensics++ split of the target id (test set without split files); CDF domain: test set"
    )
    identity_rule = "FF domain <target>_<other>; CDF domain idT_idS_k; other names their own identity"
    Options = DF40Options

    def read(self, root: Path) -> pd.DataFrame:
        """The frame folders of ``root`` and the reals of ``--real-root`` (module docstring).

        Raises:
            DataError: no method folder with a domain, a ``--real-root`` that is neither
                FaceForensics++ nor Celeb-DF, malformed split files or test list.
        """
        o = self.options
        wanted = {d.lower() for d in o.domains}
        bad = sorted(wanted - {"ff", "cdf"})
        if bad:
            raise DataError(f"forgebench import df40: unknown domain(s) {bad} (ff, cdf)")
        ff_roots, cdf_roots = self._real_roots()
        split_of, split_from = self._ff_splits(root, ff_roots)
        rows, ff_splits, ff_targets = [], set(), set()
        methods = o.methods or sorted(p.name for p in root.iterdir() if p.is_dir())
        found = False
        for method in methods:
            for folder in sorted((root / method).glob("*")):
                domain = DOMAINS.get(folder.name.lower())
                if domain is None or domain not in wanted or not folder.is_dir():
                    continue
                found = True
                frames_dir = folder / "frames" if (folder / "frames").is_dir() else folder
                for row in self._fakes(frames_dir, method, domain, split_of, split_from):
                    rows.append(row)
                    if domain == "ff":
                        ff_splits.add(row["split"])
                        ff_targets.add(row["identity"])
        if not found:
            raise DataError(
                f"{root}: no <method>/<ff|cdf>/frames folders (domains {sorted(wanted)}); is it a DF40 download?"
            )
        for real_root in ff_roots:
            rows += self._ff_reals(real_root, split_of, ff_splits, ff_targets)
        for real_root in cdf_roots:
            rows += self._cdf_reals(real_root)
        return check_table(rows, f"{root} (DF40)")

    def _real_roots(self) -> tuple[list[Path], list[Path]]:
        ff, cdf = [], []
        for path in map(Path, self.options.real_root):
            if (path / "original_sequences").is_dir():
                ff.append(path)
            elif (path / "Celeb-real").is_dir() or (path / "List_of_testing_videos.txt").is_file():
                cdf.append(path)
            else:
                raise DataError(
                    f"{path}: --real-root is neither a FaceForensics++ download (original_sequences/) nor a "
                    "Celeb-DF download (Celeb-real/, List_of_testing_videos.txt)"
                )
        return ff, cdf

    def _ff_splits(self, root: Path, ff_roots: list[Path]) -> tuple[dict[str, str], str]:
        places = [self.options.splits] if self.options.splits else [*(r / "splits" for r in ff_roots), root / "splits"]
        for place in places:
            if place is not None and all((Path(place) / f"{s}.json").is_file() for s in ("train", "val", "test")):
                self.sources += list(find_split_files(root, place).values())
                return read_ff_splits(root, place)[0], "FaceForensics++ split files (of the target id)"
        if self.options.splits:
            find_split_files(root, self.options.splits)  # raises, naming where it looked
        return {}, ""

    def _fakes(
        self, frames_dir: Path, method: str, domain: str, split_of: dict[str, str], split_from: str
    ) -> list[dict]:
        family = FAMILIES.get(method.lower(), "")
        role = "driving" if family == "FR" else "source"
        common = dict(
            dataset=TITLE,
            method=method,
            compression=NO_COMPRESSION,
            label=1,
            kind="frames",
            label_from=f"DF40 method folder {method} (fakes only)",
        )
        rows = []
        items = [(d.name, d, frame_files(d)) for d in sorted(frames_dir.iterdir()) if d.is_dir()]
        items += [(f.stem, f, [f]) for f in frame_files(frames_dir)]
        for name, path, frames in items:
            if not frames:
                self.leave_out(f"{method}: empty frame folder")
                continue
            people, identity_from, pair_from = self._people(name, domain, role)
            if domain == "cdf":
                split, where = "test", "DF40 tests in the CDF domain"
            elif not split_of:
                split, where = "test", "no FaceForensics++ split files: a test set"
            elif not pair_from:
                split, where = "test", "no person in the name (an image method): a test set"
            elif people["identity"] in split_of:
                split, where = split_of[people["identity"]], split_from
            else:
                self.leave_out(f"{method}: FF-domain target id in no split file")
                continue
            rows.append(
                video_row(
                    path,
                    video_name=f"{domain}-{name}",
                    frames=frames,
                    split=split,
                    split_from=where,
                    identity_from=identity_from,
                    pair_from=pair_from,
                    **people,
                    **common,
                )
            )
        return rows

    @staticmethod
    def _people(name: str, domain: str, role: str) -> tuple[dict[str, str], str, str]:
        if domain == "ff" and (pair := ff_pair(name)):
            return (
                {"identity": pair[0], role: pair[1]},
                "FaceForensics++ target id of <target>_<other>",
                f"second id ({role})",
            )
        if domain == "cdf" and (ids := celebdf_fake(name)):
            return {"identity": ids[0], role: ids[1]}, "target idT of idT_idS_k", f"idS of idT_idS_k ({role})"
        return {"identity": f"{domain}-{name}"}, "the folder name (no person in it)", ""

    def _ff_reals(self, real_root: Path, split_of: dict[str, str], splits: set[str], targets: set[str]) -> list[dict]:
        c = self.options.real_compression
        folder = real_root / "original_sequences" / "youtube" / c / "videos"
        rows = []
        for path in video_files(folder):
            vid = ff_id(path.stem)
            if vid is None:
                continue
            if split_of:
                if split_of.get(vid) not in splits:
                    continue
                split, where = split_of[vid], "FaceForensics++ split files"
            elif vid in targets:
                split, where = "test", "no FaceForensics++ split files: a test set"
            else:
                continue
            rows.append(
                video_row(
                    path,
                    dataset="FaceForensics++",
                    method="real",
                    compression=c,
                    video_name=vid,
                    label=0,
                    identity=vid,
                    label_from="FaceForensics++ original sequence (--real-root)",
                    identity_from="FaceForensics++ sequence id",
                    split=split,
                    split_from=where,
                )
            )
        if not rows:
            raise DataError(f"{folder}: no real FaceForensics++ videos of the DF40 FF-domain fakes' splits or targets")
        return rows

    def _cdf_reals(self, real_root: Path) -> list[dict]:
        test_file = real_root / "List_of_testing_videos.txt"
        self.sources.append(test_file)
        rows = []
        for rel, (label, number) in read_test_list(test_file).items():
            if label != 0:
                continue
            path = real_root / rel
            if not path.is_file():
                path = path.parent / "videos" / path.name
            if not path.is_file():
                raise DataError(
                    f"{test_file}: entry 'line {number}: {rel}': the listed video {real_root / rel} is missing"
                )
            name = path.stem
            person = celebdf_real(name) or youtube_real(name) or name
            rows.append(
                video_row(
                    path,
                    dataset="Celeb-DF-v2",
                    method="real",
                    compression=NO_COMPRESSION,
                    video_name=name,
                    label=0,
                    identity=person,
                    label_from=f"Celeb-DF folder {rel.split('/', 1)[0]} (--real-root)",
                    identity_from="Celeb-DF file name (idN_k, or one subject per YouTube-real video)",
                    split="test",
                    split_from="Celeb-DF test list (DF40 tests in the CDF domain)",
                )
            )
        return rows
