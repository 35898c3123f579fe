"""The run directory's owner (forgebench.rundir): atomic writes, the one checkpoint reader,
schemas, format versions and when a run directory becomes bound to its config; and the
structural rules it enables (plugins never see a run directory, no import cycles)."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from forgebench.cli import main
from forgebench.errors import ConfigError, DataError
from forgebench.fileio import atomic_path, load_checkpoint, save_checkpoint, sha256_file, write_json, write_parquet
from forgebench.media import iter_frames, x264_asm
from forgebench.rundir import RunDir
from forgebench.schemas import FACES, make_video_id

REPO = Path(__file__).resolve().parents[1]


def test_atomic_writer_leaves_old_file_or_new_file(tmp_path):
    path = tmp_path / "a" / "table.parquet"
    write_parquet(path, pd.DataFrame({"x": [1, 2]}))
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"half a file")
            raise RuntimeError("interrupted")
    assert pd.read_parquet(path)["x"].tolist() == [1, 2] and sorted(p.name for p in path.parent.iterdir()) == [
        "table.parquet"
    ]
    write_json(tmp_path / "doc.json", {"nan": float("nan"), "a": np.float32(1.5), "t": (1, 2)})
    assert json.loads((tmp_path / "doc.json").read_text()) == {"a": 1.5, "nan": None, "t": [1, 2]}


def test_checkpoint_reader_names_the_file_and_the_problem(tmp_path):
    good = save_checkpoint(tmp_path / "good.pt", {"state_dict": {"w": torch.ones(3)}, "meta": {"epoch": 1}})
    assert torch.equal(load_checkpoint(good)["state_dict"]["w"], torch.ones(3))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DataError, match=r"truncated\.pt: checkpoint is truncated or corrupt \(\d+ bytes"):
        load_checkpoint(truncated)
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(DataError, match="empty.pt: checkpoint is an empty file"):
        load_checkpoint(tmp_path / "empty.pt")
    code = tmp_path / "code.pt"
    torch.save({"state_dict": {}, "meta": {"when": pd.Timestamp("2020-01-01")}}, code)
    with pytest.raises(DataError, match="code.pt: refused for safety.*never unpickles code") as err:
        load_checkpoint(code)
    assert "weights_only=False" not in str(err.value)  # torch's hint to unpickle is not passed on
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(DataError, match="text.pt: checkpoint is truncated, corrupt or not a torch file"):
        load_checkpoint(tmp_path / "text.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(DataError, match="list.pt: checkpoint must hold a dict"):
        load_checkpoint(tmp_path / "list.pt")
    with pytest.raises(DataError, match="missing.pt: checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_sha256_and_video_id(tmp_path):
    f = tmp_path / "f.bin"
    f.write_bytes(b"abc")
    assert sha256_file(f) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    f.write_bytes(b"abcd")  # a changed file is hashed again
    assert sha256_file(f).startswith("88d4266f")
    assert make_video_id("samples", "fomm", "c23", "d0_d3") == "samples/fomm/c23/d0_d3"
    with pytest.raises(ValueError, match="without '/'"):
        make_video_id("samples", "a/b", "c23", "x")


def test_schemas_and_readers_name_the_missing_stage(tmp_path):
    run = RunDir(tmp_path / "run")
    with pytest.raises(DataError, match=r"videos\.parquet: missing; run 'forgebench extract"):
        run.faces.read_videos()
    with pytest.raises(DataError, match=r"manifest\.parquet: missing; run 'forgebench extract"):
        run.faces.read_manifest()
    with pytest.raises(DataError, match="no fakes manifest; run 'forgebench generate"):
        run.fakes.read()
    with pytest.raises(DataError, match=r"face manifest lacks column\(s\) \['driving'\]"):
        run.faces.write_video_manifest("real", "d0", pd.DataFrame(columns=[c for c in FACES.columns if c != "driving"]))
    assert run.faces.collect().empty and list(run.faces.collect().columns)[-1] == "split"
    assert (
        run.relative(run.root / "faces" / "x.png") == "faces/x.png"
        and run.resolve("faces/x.png") == run.root / "faces" / "x.png"
    )
    assert run.resolve("/abs/video.mp4") == Path("/abs/video.mp4")


def test_old_format_run_is_refused_with_its_version(tmp_path, capsys):
    old = tmp_path / "old"
    (old / "faces").mkdir(parents=True)
    (old / "config.yaml").write_text("name: old\n")
    (old / "provenance.json").write_text(json.dumps({"stages": {"extract": {}}, "config_hash": "x"}))
    with pytest.raises(DataError, match="format version 1 .*forgebench 0.1.*reads format 2"):
        RunDir(old).require()
    assert main(["report", str(old)]) == 2
    assert "format version 1" in capsys.readouterr().err
    assert main(["export", "deepfakebench", str(tmp_path / "nowhere")]) == 2
    assert "run 'forgebench extract" in capsys.readouterr().err


def test_failed_start_does_not_bind_the_run_directory(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"name": "bind", "device": "cpu", "faces": {"frames_per_video": 2}}))
    out = tmp_path / "run"
    assert (
        main(["--no-progress", "run", str(config), "--videos", str(tmp_path / "no_such_folder"), "--out", str(out)])
        == 2
    )
    assert "no_such_folder" in capsys.readouterr().err
    run = RunDir(out)
    assert run.config_file.is_file() and not run.has_finished_work()
    # the corrected config (another hash) is accepted: nothing was finished with the first
    config.write_text(yaml.safe_dump({"name": "bind", "device": "cpu", "faces": {"frames_per_video": 3}}))
    run.bind("name: bind2\n", "hash-2")
    assert run.config_file.read_text() == "name: bind2\n"
    run.write_provenance({"config_hash": "hash-2"}, "extract", 1.0)
    with pytest.raises(ConfigError, match="different config"):
        run.bind("name: bind3\n", "hash-3")
    run.bind("name: bind2\n", "hash-2")  # the same config resumes


def test_plugins_never_see_a_run_directory():
    offenders = [
        f"{p.relative_to(REPO)}:{n}"
        for folder in ("generators", "detectors", "metrics", "leaderboard")
        for p in sorted((REPO / folder).glob("*.py"))
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if re.search(r"\brun_dir\b|\bRunDir\b", line)
    ]
    assert offenders == []


def test_no_import_cycles():
    tool = REPO.parent / "shared" / "tools" / "import_cycles.py"
    if not tool.is_file():
        pytest.skip(f"{tool} not found")
    proc = subprocess.run([sys.executable, str(tool)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "cycles: 0," in proc.stdout, proc.stdout[-2000:]


ENCODE = """
import hashlib, pickle, sys
import numpy as np
from forgebench.media import VideoWriter
frames = pickle.load(open(sys.argv[1], "rb"))
rng = np.random.default_rng(int(sys.argv[3]))
with VideoWriter(sys.argv[2], fps=30, crf=23) as w:
    for f in frames:
        junk = [rng.integers(0, 255, size=int(rng.integers(1000, 400000)), dtype=np.uint8) for _ in range(20)]
        del junk  # leaves the heap dirty, as a busy conversion does
        w.write(f)
print(hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest())
"""


def test_same_frames_give_the_same_bytes_in_any_process(clips_dir, tmp_path):
    """480-px frames (d18), where x264's AVX-512 code gave different packets from process
    to process; the frames are encoded in separate processes with dirty heaps."""
    frames = [f for _, f in iter_frames(clips_dir / "d18.mp4", max_frames=30)]
    data = tmp_path / "frames.pkl"
    data.write_bytes(pickle.dumps(frames))
    script = tmp_path / "encode.py"
    script.write_text(ENCODE)
    digests = set()
    for k in range(4):
        proc = subprocess.run(
            [sys.executable, str(script), str(data), str(tmp_path / f"{k}.mp4"), str(k)],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        digests.add(proc.stdout.strip())
    assert len(digests) == 1
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    if "avx512f" in flags:
        assert x264_asm() in ("avx2", "avx", "sse4.2", "ssse3")


def test_too_few_identities_names_the_folder(clips_dir, tmp_path, capsys):
    videos = tmp_path / "three_people"
    videos.mkdir()
    for name in ("d0", "d3", "d12"):
        os.symlink(clips_dir / f"{name}.mp4", videos / f"{name}.mp4")
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "few",
                "device": "cpu",
                "data": {"max_seconds": 0.5},
                "faces": {"frames_per_video": 2, "crop_size": 64},
                "execution": {"workers": 1},
            }
        )
    )
    assert main(["--no-progress", "run", str(config), "--videos", str(videos), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert str(videos) in err and "3 identities cannot fill train/val/test" in err and "need 6" in err
