"""Sample clip registry (pooch) and identity-disjoint splits."""

import shutil

import pytest

from forgebench import samples
from forgebench.errors import DataError
from forgebench.splits import assign_splits, make_pairs, split_sizes


def test_fetch_clips_from_data_dir_verifies_hash(clips_dir):
    paths = samples.fetch_clips(clips_dir)
    assert [p.name for p in paths] == ["d0.mp4", "d3.mp4", "d9.mp4", "d12.mp4", "d18.mp4", "d19.mp4"]


def test_wrong_hash_is_refused(clips_dir, tmp_path):
    shutil.copy(clips_dir / "d18.mp4", tmp_path / "d0.mp4")
    with pytest.raises(DataError, match="does not match"):
        samples.fetch_clip("d0.mp4", tmp_path)


def test_missing_clip_without_network_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("FORGEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(samples, "BASE_URL", "http://127.0.0.1:9/")
    with pytest.raises(DataError, match="FORGEBENCH_DATA_DIR"):
        samples.fetch_clip("d3.mp4", tmp_path)


def test_splits_disjoint_deterministic():
    ids = ["d0", "d3", "d9", "d12", "d18", "d19"]
    a = assign_splits(ids, (1, 1, 1), seed=0)
    assert a == assign_splits(list(reversed(ids)), (1, 1, 1), seed=0)
    assert sorted(a.values()).count("test") == 2 and set(a) == set(ids)
    assert split_sizes(6, (4, 1, 1), 2) == (2, 2, 2)
    assert split_sizes(100, (0.7, 0.15, 0.15), 2) == (70, 15, 15)
    with pytest.raises(DataError, match="identities"):
        split_sizes(5, (1, 1, 1), 2)


def test_pairs_stay_inside_splits():
    split_of = assign_splits([f"p{i}" for i in range(11)], (0.6, 0.2, 0.2), seed=3)
    pairs = make_pairs(split_of)
    assert all(split_of[t] == split_of[s] and t != s for t, s in pairs)
    assert sorted(t for t, _ in pairs) == sorted(split_of)
