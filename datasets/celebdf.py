"""Celeb-DF v1 and v2 (Li et al., CVPR 2020) and Celeb-DF++ (Li et al. 2025), as their
downloads unpack.

Layout (``ROOT`` = ``Celeb-DF-v1``, ``Celeb-DF-v2`` or ``Celeb-DF++``; the videos may also sit
in a ``videos/`` subfolder of each folder)::

    ROOT/Celeb-real/id<N>_<k>.mp4          celebrities (v2: 590 videos of 59 people)
    ROOT/YouTube-real/<k>.mp4              further real videos, one subject each
    ROOT/Celeb-synthesis/id<T>_id<S>_<k>.mp4          v1, v2: the fakes
    ROOT/Celeb-synthesis/<Family>/<Method>/<name>.mp4 Celeb-DF++: FaceSwap/, FaceReenact/,
                                                       TalkingFace/ with 22 method folders
    ROOT/List_of_testing_videos.txt        "<1 real | 0 fake> <folder>/<name>.mp4" per line

Split: the videos of ``List_of_testing_videos.txt`` are the test split (its label is
checked against the folder); every other video is train (Celeb-DF has no validation
split: the import carves one from train by person). DeepfakeBench's ``rearrange.py``
lists every video, test ones included, under train as well; here a test video is in test
only. Celeb-DF's test list is not person-disjoint from the rest (people of ``Celeb-real``
have videos on both sides): the import keeps the test list as published and leaves the
other videos of a person in the test split out of train and validation, counted.

Identity: ``Celeb-real/id0_0003`` shows ``id0``; ``Celeb-synthesis/id0_id16_0003`` is made
from the real video ``id0_0003`` (target ``id0``) with ``id16``'s face (source, or driving
for the Celeb-DF++ FaceReenact and TalkingFace families); ``YouTube-real/00170`` is person
``yt00170`` (one subject per video); a Celeb-DF++ name without ``idT_idS_k`` is its own
identity (the file stem).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import Field

from forgebench.datasets._base import (
    NO_COMPRESSION,
    DatasetImporter,
    ImporterOptions,
    check_table,
    inside_root,
    require_file,
    video_files,
    video_row,
)
from forgebench.datasets._names import celebdf_fake, celebdf_real, youtube_real
from forgebench.datasets._official import read_test_list
from forgebench.datasets._registry import register_dataset
from forgebench.errors import DataError

__all__ = ["CelebDF", "TITLES"]

#: Dataset names as the authors (and DeepfakeBench) write them, by ``--version``.
TITLES = {"v1": "Celeb-DF-v1", "v2": "Celeb-DF-v2", "++": "Celeb-DF++"}
REAL_FOLDERS = ("Celeb-real", "YouTube-real")
FAKE_FOLDER = "Celeb-synthesis"
TEST_LIST = "List_of_testing_videos.txt"
#: Celeb-DF++ scenario folders: whose second id is the source (swap) or the driving person.
FAMILIES = {"FaceSwap": "source", "FaceReenact": "driving", "TalkingFace": "driving"}


class CelebDFOptions(ImporterOptions):
    """Options of the Celeb-DF importer."""

    version: Literal["auto", "v1", "v2", "++"] = Field(
        "auto", description="v1, v2 or ++ (default: from the root's name, Celeb-DF-v1 / Celeb-DF-v2 / Celeb-DF++)"
    )


@register_dataset("celebdf")
class CelebDF(DatasetImporter):
    """Celeb-DF v1, v2 and Celeb-DF++ (module docstring)."""

    title = "Celeb-DF"
    citation = (
        "Li, Yang, Sun, Qi, Lyu. Celeb-DF: A Large-scale Challenging Dataset for DeepFake Forensics. CVPR 2020; "
        "Li, Zhu, Cui, Lyu. Celeb-DF++: A Large-scale Challenging Video DeepFake Benchmark for Generalizable "
        "Forensics. 2025"
    )
    homepage = "https://github.com/yuezunli/celeb-deepfakeforensics, https://github.com/OUC-VAS/Celeb-DF-PP"
    layout = (
        "Celeb-real/, YouTube-real/, Celeb-synthesis/ (Celeb-DF++: Celeb-synthesis/<FaceSwap|FaceReenact|TalkingFace>/"
        "<Method>/), List_of_testing_videos.txt"
    )
    split_rule = (
        "List_of_testing_videos.txt is the test split, every other video train; validation carved from train by "
        "person; other videos of a test person left out of train"
    )
    identity_rule = (
        "idN of Celeb-real/idN_k; target idT and source idS of Celeb-synthesis idT_idS_k; YouTube-real/k is ytk"
    )
    Options = CelebDFOptions

    def version(self, root: Path) -> str:
        """``v1``, ``v2`` or ``++``: the option, else from the root's folder name.

        Raises:
            DataError: ``auto`` and the name tells neither (says to pass ``--version``).
        """
        if self.options.version != "auto":
            return self.options.version
        name = root.name.lower()
        if "++" in name or name.endswith("pp") or "plus" in name:
            return "++"
        for v in ("v1", "v2"):
            if v in name:
                return v
        raise DataError(f"{root}: cannot tell Celeb-DF v1, v2 or ++ from the folder name; pass --version v1, v2 or ++")

    def read(self, root: Path) -> pd.DataFrame:
        """The videos of ``root`` (module docstring).

        Raises:
            DataError: no ``Celeb-real`` videos, a missing or malformed test list, a listed
                video that is missing or whose label contradicts its folder.
        """
        version = self.version(root)
        title = TITLES[version]
        test_file = root / TEST_LIST
        tests = read_test_list(test_file)
        self.sources.append(test_file)
        found: dict[str, tuple[Path, str]] = {}  # "<folder>/<name>.mp4" -> (path, folder)
        for folder in (*REAL_FOLDERS, FAKE_FOLDER):
            for path in self._videos(root, folder, version):
                found[path.relative_to(root).as_posix().replace("/videos/", "/")] = (path, folder)
        if not any(f == "Celeb-real" for _, f in found.values()):
            raise DataError(f"{root / 'Celeb-real'}: no videos; is {root} a Celeb-DF folder?")
        for rel, (label, number) in tests.items():
            entry = f"line {number}: {rel}"
            path = inside_root(root, rel, test_file, entry)
            if rel not in found:
                alt = path.parent / "videos" / path.name
                require_file(path if path.is_file() else alt, test_file, entry)
                found[rel] = (path if path.is_file() else alt, rel.split("/", 1)[0])
            folder_label = 0 if found[rel][1] in REAL_FOLDERS else 1
            if folder_label != label:
                raise DataError(
                    f"{test_file}: {entry}: labelled {'real' if label == 0 else 'fake'} but its folder "
                    f"{found[rel][1]} holds {'real' if folder_label == 0 else 'fake'} videos"
                )
        rows = [
            r
            for rel, (path, folder) in sorted(found.items())
            if (r := self._row(rel, path, folder, title, rel in tests))
        ]
        return check_table(rows, f"{root} ({title})")

    @staticmethod
    def _videos(root: Path, folder: str, version: str) -> list[Path]:
        base = root / folder
        if version == "++" and folder == FAKE_FOLDER:
            return [
                p
                for family in FAMILIES
                for m in sorted((base / family).glob("*"))
                if m.is_dir()
                for p in video_files(m) + video_files(m / "videos")
            ]
        return video_files(base) + video_files(base / "videos")

    def _row(self, rel: str, path: Path, folder: str, title: str, in_test: bool) -> dict | None:
        name = path.stem
        split = ("test", f"{TEST_LIST} (line lists it)") if in_test else ("train", f"not in {TEST_LIST}")
        common = dict(
            dataset=title,
            compression=NO_COMPRESSION,
            video_name=name,
            split=split[0],
            split_from=split[1],
            label_from=f"folder {folder}",
        )
        if folder == "Celeb-real":
            person = celebdf_real(name)
            if person is None:
                self.leave_out("Celeb-real name is not idN_k")
                return None
            return video_row(
                path, method="real", label=0, identity=person, identity_from="idN of the file name idN_k", **common
            )
        if folder == "YouTube-real":
            person = youtube_real(name) or f"yt{name}"
            return video_row(
                path,
                method="real",
                label=0,
                identity=person,
                identity_from="one subject per YouTube-real video (file name)",
                **common,
            )
        parts = Path(rel).parts
        family = parts[1] if len(parts) > 3 else ""
        method = parts[2] if len(parts) > 3 else FAKE_FOLDER
        if len(parts) > 3:  # Celeb-DF++: the method is the video name's namespace
            common.update(label_from=f"folder {FAKE_FOLDER}/{family}/{method}")
        role = FAMILIES.get(family, "source")
        ids = celebdf_fake(name)
        if ids is None:
            return video_row(
                path,
                method=_clean(method),
                label=1,
                identity=name,
                identity_from="file stem (the name holds no idT_idS_k)",
                **common,
            )
        return video_row(
            path,
            method=_clean(method),
            label=1,
            identity=ids[0],
            identity_from="target idT of idT_idS_k",
            pair_from=f"idS of idT_idS_k ({role})",
            **{role: ids[1]},
            **common,
        )


def _clean(method: str) -> str:
    """A method folder name usable in video ids (no ``/``)."""
    return re.sub(r"[/\\]", "-", method)
