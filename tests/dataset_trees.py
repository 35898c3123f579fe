"""Small trees in the official layouts of the field's datasets, built from the real sample
clips (a few seconds each), for the importer tests and ``benchmarks/import_speed.py``.

Every tree uses two short segments of each sample clip (``<clip>a``: its first frames,
``<clip>b``: frames from its middle, 256 px), so that one person can appear under two
identity labels (``d3a`` and ``d3b`` are the same woman) and under two files of one label.
Fakes are other people's segments: the importers and the protocol only need videos with a
face and the right names.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from forgebench.media import MaskWriter, VideoWriter, iter_frames, probe, write_png

CLIPS = ("d0", "d3", "d9", "d12", "d18", "d19")
FRAMES = 20
SIDE = 256


def _frames(src: Path, start: int, n: int) -> list[np.ndarray]:
    return [
        cv2.resize(f, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
        for _, f in iter_frames(src, indices=list(range(start, start + n)))
    ]


def segments(clips_dir: Path, out: Path) -> dict[str, Path]:
    """``{"d0a": path, "d0b": path, ...}``: the first :data:`FRAMES` frames of every clip and
    as many from its middle, 256 x 256, H.264 at 25 fps."""
    out.mkdir(parents=True, exist_ok=True)
    made = {}
    for clip in CLIPS:
        src = clips_dir / f"{clip}.mp4"
        n = probe(src).n_frames
        for part, start in (("a", 0), ("b", n // 2)):
            path = out / f"{clip}{part}.mp4"
            with VideoWriter(path, fps=25) as w:
                for frame in _frames(src, start, FRAMES):
                    w.write(frame)
            made[f"{clip}{part}"] = path
    return made


def _copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


def ff_tree(root: Path, seg: dict[str, Path], compression: str = "c23") -> Path:
    """FaceForensics++: originals 000..005 (d0a .. d19a) and 006 (= d3b, the person of 001 under
    another id, in the test split), Deepfakes and Face2Face fakes of every pair, split files."""
    real = root / "original_sequences" / "youtube" / compression / "videos"
    ids = {f"{i:03d}": seg[f"{c}a"] for i, c in enumerate(CLIPS)}
    ids["006"] = seg["d3b"]
    for vid, src in ids.items():
        _copy(src, real / f"{vid}.mp4")
    splits = {"train": [["000", "001"]], "val": [["002", "003"]], "test": [["004", "005"], ["006", "007"]]}
    for method in ("Deepfakes", "Face2Face"):
        folder = root / "manipulated_sequences" / method / compression / "videos"
        for pairs in splits.values():
            for a, b in pairs:
                if a in ids and b in ids:
                    _copy(ids[b], folder / f"{a}_{b}.mp4")
                    _copy(ids[a], folder / f"{b}_{a}.mp4")
                    if method == "Deepfakes":  # masks of one method only (the download's "-t masks")
                        for name in (f"{a}_{b}", f"{b}_{a}"):
                            _mask_video(root / "manipulated_sequences" / method / "masks" / "videos" / f"{name}.mp4")
    (root / "splits").mkdir(parents=True, exist_ok=True)
    for split, pairs in splits.items():
        (root / "splits" / f"{split}.json").write_text(json.dumps(pairs))
    return root


def _mask_video(path: Path) -> Path:
    """A FaceForensics++-style mask video of :data:`FRAMES` frames: the centre half of the
    frame white, the rest black."""
    mask = np.zeros((SIDE, SIDE), np.float32)
    mask[SIDE // 4 : 3 * SIDE // 4, SIDE // 4 : 3 * SIDE // 4] = 1.0
    path.parent.mkdir(parents=True, exist_ok=True)
    with MaskWriter(path, fps=25) as w:
        for _ in range(FRAMES):
            w.write(mask)
    return path


def celebdf_tree(root: Path, seg: dict[str, Path]) -> Path:
    """Celeb-DF-v2: ``id0_0000``/``id0_0001`` (d0a, d0b: one person, two files of one
    identity), ``id1_0000`` (d3a), ``id2..id5``; ``YouTube-real/00000`` = d3b (the person of
    ``id1`` under another identity, in the test list); fakes ``idT_idS_0000``."""
    reals = {
        "Celeb-real/id0_0000": "d0a",
        "Celeb-real/id0_0001": "d0b",
        "Celeb-real/id1_0000": "d3a",
        "Celeb-real/id2_0000": "d9a",
        "Celeb-real/id3_0000": "d12a",
        "Celeb-real/id4_0000": "d18a",
        "Celeb-real/id5_0000": "d19a",
        "YouTube-real/00000": "d3b",
    }
    fakes = {
        "Celeb-synthesis/id0_id1_0000": "d3a",
        "Celeb-synthesis/id2_id3_0000": "d12a",
        "Celeb-synthesis/id4_id5_0000": "d19b",
        "Celeb-synthesis/id5_id4_0000": "d18b",
    }
    for rel, s in {**reals, **fakes}.items():
        _copy(seg[s], root / f"{rel}.mp4")
    tests = [
        "1 Celeb-real/id4_0000.mp4",
        "1 Celeb-real/id5_0000.mp4",
        "1 YouTube-real/00000.mp4",
        "0 Celeb-synthesis/id4_id5_0000.mp4",
        "0 Celeb-synthesis/id5_id4_0000.mp4",
    ]
    (root / "List_of_testing_videos.txt").write_text("\n".join(tests) + "\n")
    return root


def dfdc_tree(root: Path, seg: dict[str, Path]) -> Path:
    """DFDC: one training part (four reals, one that does not decode, two fakes naming their
    original) and the test set."""
    part = root / "dfdc_train_part_0"
    meta = {}
    for name, s in (("aaaa", "d0a"), ("bbbb", "d3a"), ("cccc", "d9a"), ("dddd", "d12a")):
        _copy(seg[s], part / f"{name}.mp4")
        meta[f"{name}.mp4"] = {"label": "REAL", "split": "train", "original": None}
    for name, s, original in (("eeee", "d9b", "aaaa"), ("ffff", "d12b", "bbbb")):
        _copy(seg[s], part / f"{name}.mp4")
        meta[f"{name}.mp4"] = {"label": "FAKE", "split": "train", "original": f"{original}.mp4"}
    (part / "iiii.mp4").write_bytes(b"\x00not a video" * 50)  # listed, present, does not decode
    meta["iiii.mp4"] = {"label": "REAL", "split": "train", "original": None}
    (part / "metadata.json").write_text(json.dumps(meta))
    _copy(seg["d18a"], root / "test" / "gggg.mp4")
    _copy(seg["d19a"], root / "test" / "hhhh.mp4")
    (root / "test" / "labels.csv").write_text("filename,label\ngggg.mp4,0\nhhhh.mp4,1\n")
    return root


def dfdcp_tree(root: Path, seg: dict[str, Path]) -> Path:
    """DFDC Preview: ``dataset.json`` over original_videos/, method_A/, method_B/."""
    entries = {
        "original_videos/100/100_A/100_A_001.mp4": ("d0a", "real", "train", "100", None),
        "original_videos/101/101_A/101_A_001.mp4": ("d3a", "real", "train", "101", None),
        "original_videos/102/102_A/102_A_001.mp4": ("d9a", "real", "train", "102", None),
        "original_videos/103/103_A/103_A_001.mp4": ("d12a", "real", "test", "103", None),
        "method_A/100/100_101_A/100_101_A_001.mp4": ("d3b", "fake", "train", "100", "101"),
        "method_B/103/103_104_B/103_104_B_001.mp4": ("d18b", "fake", "test", "103", "104"),
    }
    doc = {}
    for key, (s, label, split, target, swapped) in entries.items():
        _copy(seg[s], root / key)
        doc[key] = {"label": label, "set": split, "target_id": target, "swapped_id": swapped}
    (root / "dataset.json").write_text(json.dumps(doc))
    return root


def deeperforensics_tree(root: Path, seg: dict[str, Path]) -> Path:
    """DeeperForensics-1.0: end_to_end fakes of FaceForensics++ targets 000..005 and the splits."""
    lists = {
        "train": ["000_M001.mp4", "001_W002.mp4"],
        "val": ["002_M003.mp4", "003_W004.mp4"],
        "test": ["004_M005.mp4", "005_W006.mp4"],
    }
    for split, names in lists.items():
        for name in names:
            _copy(seg[f"{CLIPS[(int(name[:3]) + 1) % 6]}b"], root / "manipulated_videos" / "end_to_end" / name)
        (root / "lists" / "splits").mkdir(parents=True, exist_ok=True)
        (root / "lists" / "splits" / f"{split}.txt").write_text("\n".join(names) + "\n")
    (root / "source_videos" / "M001").mkdir(parents=True, exist_ok=True)
    return root


def df40_tree(root: Path, seg: dict[str, Path], n_frames: int = 6) -> Path:
    """DF40: ``simswap`` (face swapping) and ``fomm`` (reenactment) frame folders in the FF
    domain (targets 000..005) and ``simswap`` in the CDF domain, and one image method."""

    def frames(folder: Path, s: str) -> None:
        for k, frame in enumerate(_frames(seg[s], 0, n_frames)):
            write_png(folder / f"{k:03d}.png", frame)

    for method in ("simswap", "fomm"):
        for t, o, s in (
            ("000", "001", "d3b"),
            ("001", "000", "d0b"),
            ("002", "003", "d12b"),
            ("003", "002", "d9b"),
            ("004", "005", "d19b"),
            ("005", "004", "d18b"),
        ):
            frames(root / method / "ff" / "frames" / f"{t}_{o}", s)
    for name, s in (("id4_id5_0000", "d19b"), ("id5_id4_0000", "d18b")):
        frames(root / "simswap" / "cdf" / "frames" / name, s)
    for k, s in enumerate(("d0b", "d9b")):
        write_png(root / "stylegan3" / "ff" / "frames" / f"{k:05d}.png", _frames(seg[s], 0, 1)[0])
    return root


def folder_tree(root: Path, seg: dict[str, Path]) -> Path:
    """A folder with ``identities.csv``: alice in two files, bob and carol one person under two
    labels (d3a, d3b), fakes with a method and a source, and official splits."""
    rows = [
        ("real/alice_1.mp4", "d0a", "real", "alice", "", "", "train"),
        ("real/alice_2.mp4", "d0b", "real", "alice", "", "", "train"),
        ("real/bob.mp4", "d3a", "real", "bob", "", "", "train"),
        ("real/dave.mp4", "d9a", "real", "dave", "", "", "val"),
        ("real/erin.mp4", "d12a", "real", "erin", "", "", "val"),
        ("real/carol.mp4", "d3b", "real", "carol", "", "", "test"),
        ("real/fred.mp4", "d18a", "real", "fred", "", "", "test"),
        ("fake/alice_bob.mp4", "d3b", "fake", "alice", "swap", "bob", "train"),
        ("fake/dave_erin.mp4", "d12b", "fake", "dave", "swap", "erin", "val"),
        ("fake/fred_carol.mp4", "d19b", "fake", "fred", "swap", "carol", "test"),
    ]
    lines = ["path,label,identity,method,source,split"]
    for rel, s, label, identity, method, source, split in rows:
        _copy(seg[s], root / rel)
        lines.append(f"{rel},{label},{identity},{method},{source},{split}")
    (root / "identities.csv").write_text("\n".join(lines) + "\n")
    return root
