"""PyAV decode/encode on the real clips."""

import numpy as np
import pytest

from forgebench.errors import MediaError
from forgebench.media import (
    VideoWriter,
    iter_frames,
    list_videos,
    probe,
    read_png_text,
    read_tags,
    reencode,
    sample_indices,
    synthetic_tag,
    write_png,
)


def test_probe_matches_sources_md(clips_dir):
    info = probe(clips_dir / "d0.mp4")
    assert (info.n_frames, round(info.fps), info.width, info.height) == (78, 25, 512, 512)
    assert probe(clips_dir / "d9.mp4").height == 480


def test_sample_indices_even_and_inside():
    idx = sample_indices(78, 8)
    assert len(idx) == 8 and idx == sorted(idx) and 0 < idx[0] and idx[-1] < 77
    assert sample_indices(5, 32) == [0, 1, 2, 3, 4]
    assert sample_indices(0, 4) == []


def test_iter_frames_selects_indices(clips_dir):
    frames = dict(iter_frames(clips_dir / "d0.mp4", indices=[3, 10]))
    assert sorted(frames) == [3, 10]
    assert frames[3].shape == (512, 512, 3) and frames[3].dtype == np.uint8
    assert not np.array_equal(frames[3], frames[10])


def test_reencode_caps_frames_and_tags(clips_dir, tmp_path):
    out = reencode(clips_dir / "d18.mp4", tmp_path / "d18.mp4", crf=23, max_frames=12, metadata=synthetic_tag("x"))
    info = probe(out.path)
    assert info.n_frames == 12 and round(info.fps) == 30 and (info.width, info.height) == (480, 480)
    assert "synthetic" in read_tags(out.path)["comment"]
    assert not list(tmp_path.glob("*.partial*"))


def test_crf40_smaller_than_crf23(clips_dir, tmp_path):
    a = reencode(clips_dir / "d19.mp4", tmp_path / "c23.mp4", crf=23, max_frames=20).path.stat().st_size
    b = reencode(clips_dir / "d19.mp4", tmp_path / "c40.mp4", crf=40, max_frames=20).path.stat().st_size
    assert b < a


def test_writer_aborts_on_error(tmp_path):
    with pytest.raises(ValueError):
        with VideoWriter(tmp_path / "x.mp4", fps=25) as w:
            w.write(np.zeros((16, 16, 3), np.uint8))
            w.write(np.zeros((8, 8, 3), np.uint8))
    assert not list(tmp_path.iterdir())


def test_png_text_chunk(tmp_path):
    write_png(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8), text=synthetic_tag("autoencoder_swap"))
    assert "autoencoder_swap" in read_png_text(tmp_path / "a.png")["description"]


def test_bad_files_name_the_file(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video")
    with pytest.raises(MediaError, match="notes.mp4"):
        probe(bad)
    with pytest.raises(MediaError, match="no such file"):
        probe(tmp_path / "missing.mp4")
    with pytest.raises(MediaError, match="no video files"):
        list_videos(_empty(tmp_path))


def _empty(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    return d


def test_mask_video_is_lossless(tmp_path):
    from forgebench.media import MaskWriter, iter_frames, iter_masks

    rng = np.random.default_rng(0)
    masks = [rng.random((101, 131)).astype(np.float32) for _ in range(3)]
    masks[0][:] = 0.0
    masks[1][:] = 1.0
    with MaskWriter(tmp_path / "m.mp4", fps=25) as writer:
        for m in masks:
            writer.write(m)
    back = [m for _, m in iter_masks(tmp_path / "m.mp4")]
    assert len(back) == 3 and back[0].shape == (102, 132)  # odd sides padded, as the fake's
    assert all(np.array_equal(b[:101, :131], np.round(m * 255) / np.float32(255)) for b, m in zip(back, masks))
    (_, rgb), *_ = iter_frames(tmp_path / "m.mp4")  # an RGB reader sees the grey in every channel
    assert rgb.min() == 0 and (rgb[..., 0] == rgb[..., 2]).all()
    with pytest.raises(ValueError, match="mask size 50x50 differs"):
        with MaskWriter(tmp_path / "n.mp4", fps=25) as writer:
            writer.write(masks[0])
            writer.write(np.zeros((50, 50)))
    assert not (tmp_path / "n.mp4").exists()
