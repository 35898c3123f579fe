"""Video and image input/output on PyAV (decode, H.264 encode, metadata tags) and PNG files.

Frames are always ``(H, W, 3)`` ``uint8`` RGB arrays. Every file forgebench writes that
contains generated content carries a metadata tag saying it is synthetic (container
metadata for MP4, a text chunk for PNG), see :func:`synthetic_tag`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.bitstream
import numpy as np
from PIL import Image, PngImagePlugin

from forgebench.errors import MediaError
from forgebench.fileio import atomic_path
from forgebench.hardware import cpu_flags

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
TOOL_NAME = "forgebench"


@dataclass(frozen=True)
class VideoInfo:
    """Basic facts about a video file.

    Attributes:
        path: the file.
        n_frames: number of decodable frames (counted by decoding when the container
            does not say).
        fps: average frame rate, frames per second.
        width, height: frame size in pixels.
    """

    path: Path
    n_frames: int
    fps: float
    width: int
    height: int


def _open(path: Path) -> av.container.InputContainer:
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise MediaError(f"{path}: cannot open as a video ({exc})") from exc
    if not container.streams.video:
        container.close()
        raise MediaError(f"{path}: has no video stream")
    return container


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read frame count, frame rate and size of a video.

    Raises:
        MediaError: the file is missing, not a video, or has no decodable frame.
    """
    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        width, height = stream.codec_context.width, stream.codec_context.height
        n = 0
        try:
            for packet in container.demux(stream):
                # Count packets carrying a frame: cheaper than decoding, exact for H.264/MP4.
                if packet.size > 0:
                    n += 1
        except av.error.FFmpegError as exc:
            raise MediaError(f"{path}: corrupt video stream ({exc})") from exc
    finally:
        container.close()
    if n == 0 or width == 0:
        raise MediaError(f"{path}: no decodable video frame")
    return VideoInfo(path=path, n_frames=n, fps=fps, width=width, height=height)


def iter_frames(
    path: str | os.PathLike, indices: Iterable[int] | None = None, max_frames: int | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Decode a video in order, yielding ``(frame_index, rgb)``.

    Args:
        path: the video.
        indices: if given, only these 0-based frame indices are yielded (others are
            decoded and dropped, which keeps the result exact for any codec).
        max_frames: stop after this many frames of the video (duration cap).

    Yields:
        ``(index, frame)`` with ``frame`` of shape ``(H, W, 3)``, ``uint8`` RGB.

    Raises:
        MediaError: the file cannot be opened or decoding fails.
    """
    path = Path(path)
    wanted = None if indices is None else set(int(i) for i in indices)
    last = None if wanted is None else (max(wanted) if wanted else -1)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for i, frame in enumerate(container.decode(stream)):
                if max_frames is not None and i >= max_frames:
                    break
                if last is not None and i > last:
                    break
                if wanted is None or i in wanted:
                    yield i, frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise MediaError(f"{path}: decoding failed ({exc})") from exc
    finally:
        container.close()


def read_frames(path: str | os.PathLike, indices: Sequence[int]) -> dict[int, np.ndarray]:
    """Decode the given frame indices; returns ``{index: (H, W, 3) uint8 RGB}``.

    Indices past the end of the video are missing from the result.
    """
    return dict(iter_frames(path, indices=indices))


def sample_indices(n_total: int, n: int) -> list[int]:
    """``n`` frame indices spread evenly over ``[0, n_total)`` (all of them if fewer).

    Each index is the centre of one of ``n`` equal segments, so the first and last
    frames (often fades or cuts) are avoided. Deterministic.
    """
    if n_total <= 0 or n <= 0:
        return []
    if n >= n_total:
        return list(range(n_total))
    return sorted({int((k + 0.5) * n_total / n) for k in range(n)})


def synthetic_tag(generator: str, **extra: str) -> dict[str, str]:
    """Metadata saying a file is synthetic and which generator made it.

    Returns a flat ``{key: str}`` dict written into MP4 container metadata
    (``comment`` and ``description``) and PNG text chunks.
    """
    payload = {"tool": TOOL_NAME, "generator": generator, "synthetic": "true", **extra}
    text = json.dumps(payload, sort_keys=True)
    return {
        "comment": f"synthetic face forgery made by {TOOL_NAME} ({generator})",
        "description": text,
    }


def read_tags(path: str | os.PathLike) -> dict[str, str]:
    """Container-level metadata of a video (e.g. the :func:`synthetic_tag` written by
    :class:`VideoWriter`). Raises :class:`MediaError` if the file cannot be opened."""
    container = _open(Path(path))
    try:
        return dict(container.metadata)
    finally:
        container.close()


#: x264 instruction-set levels below AVX-512, best first: (name for x264's ``asm`` option,
#: the ``/proc/cpuinfo`` flags it needs).
_X264_LEVELS = (("avx2", ("avx2", "fma", "bmi2")), ("avx", ("avx",)), ("sse4.2", ("sse4_2",)), ("ssse3", ("ssse3",)))


@functools.lru_cache(maxsize=1)
def x264_asm() -> str | None:
    """The instruction set libx264 is told to use (its ``asm`` option), or ``None`` for its
    own choice.

    x264's AVX-512 code reads memory it has not written for some frame widths (seen with
    480-px frames, not with 512-px ones): the same RGB frames then gave different H.264
    packets from one process to the next (1 fake in 8 conversions differed, by up to 52
    grey levels once decoded), and every crop, score and detector built on that fake
    followed. x264's other code paths give identical bitstreams whatever the CPU, so on an
    x86 CPU with AVX-512 the best level below it is chosen (from ``/proc/cpuinfo``);
    elsewhere (no AVX-512, ARM, or no ``/proc/cpuinfo``) x264 chooses.
    """
    flags = cpu_flags()
    if "avx512f" not in flags:
        return None
    return next((name for name, need in _X264_LEVELS if set(need) <= flags), None)


class VideoWriter:
    """Write RGB frames to an H.264 MP4 through PyAV, atomically.

    Frames go to the temporary file of the one atomic writer,
    :func:`forgebench.fileio.atomic_path` (``<stem>.partial.mp4``), held open from the
    constructor to :meth:`close` (renamed to ``path``) or :meth:`abort` (deleted), so an
    interrupted run never leaves a truncated video under its final name.

    Args:
        path: output ``.mp4``.
        fps: frame rate (frames per second); a float like 29.97 is kept exactly as a
            fraction where possible.
        crf: x264 constant rate factor (23 = FaceForensics++ c23, 40 = c40).
        metadata: container metadata (see :func:`synthetic_tag`).
        preset: x264 preset.

    Frame size must be even for yuv420p: odd sizes are padded by one pixel (edge copy).
    The same frames give the same bytes in any process (:func:`x264_asm`; x264's own
    threads do not change its output).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float,
        crf: int = 23,
        metadata: dict[str, str] | None = None,
        preset: str = "medium",
    ) -> None:
        self.path = Path(path)
        self._atomic = contextlib.ExitStack()
        self._tmp = self._atomic.enter_context(atomic_path(self.path))
        try:
            self._container = av.open(str(self._tmp), mode="w")
        except BaseException:
            self._atomic.__exit__(*sys.exc_info())
            raise
        for key, value in (metadata or {}).items():
            self._container.metadata[key] = value
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.pix_fmt = "yuv420p"
        options = {"crf": str(int(crf)), "preset": preset}
        if x264_asm():
            options["x264-params"] = f"asm={x264_asm()}"
        self._stream.options = options
        self._size: tuple[int, int] | None = None
        self.n_frames = 0

    def write(self, frame: np.ndarray) -> None:
        """Append one ``(H, W, 3)`` ``uint8`` RGB frame (all frames the same size)."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"{self.path}: frame must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
        frame = self._even(frame, "frame")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        for packet in self._stream.encode(vf):
            self._container.mux(packet)
        self.n_frames += 1

    def _even(self, image: np.ndarray, what: str) -> np.ndarray:
        """``image`` (``(H, W)`` or ``(H, W, C)``) padded by one pixel (edge copy) on an odd
        side; the first one fixes the stream's size. Raises ValueError on another size."""
        h, w = image.shape[:2]
        if self._size is None:
            self._size = (h + h % 2, w + w % 2)
            self._stream.height, self._stream.width = self._size
        if (h + h % 2, w + w % 2) != self._size:
            raise ValueError(f"{self.path}: {what} size {w}x{h} differs from the first {what}")
        if h % 2 or w % 2:
            image = np.pad(image, ((0, h % 2), (0, w % 2)) + ((0, 0),) * (image.ndim - 2), mode="edge")
        return image

    def close(self) -> Path:
        """Flush, close and move the file to its final name; returns the path."""
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._atomic.close()  # renames the temporary file to self.path
        return self.path

    def abort(self) -> None:
        """Close and delete the partial file (after an error)."""
        try:
            self._container.close()
        finally:
            aborted = MediaError(f"{self.path}: writing aborted")
            self._atomic.__exit__(MediaError, aborted, None)  # an exit with an error deletes the temporary file

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class MaskWriter(VideoWriter):
    """Write ``(H, W)`` float masks in ``[0, 1]`` as a lossless H.264 MP4, atomically: a
    fake's manipulation mask video (FaceForensics++ keeps its methods' masks as videos in
    ``manipulated_sequences/<Method>/masks/videos``).

    Each mask is stored as 8-bit grey (``round(mask * 255)``) in the luma of full-range
    4:4:4 frames (neutral chroma) encoded with x264 at ``qp 0``, so every value, 0 and 1
    included, decodes exactly: :func:`iter_masks` gives back ``round(mask * 255) / 255``,
    and an RGB decoder (OpenCV, PyAV ``rgb24``) sees the grey value in all three channels.
    Odd sizes are padded by one pixel (edge copy), as :class:`VideoWriter` pads the fake.

    Args:
        path: output ``.mp4``. fps: frames per second (the fake's).
        metadata: container metadata (:func:`synthetic_tag` of the fake).
    """

    def __init__(self, path: str | os.PathLike, fps: float, metadata: dict[str, str] | None = None) -> None:
        super().__init__(path, fps, crf=0, metadata=metadata, preset="ultrafast")
        self._stream.pix_fmt = "yuv444p"
        self._stream.codec_context.color_range = 2  # full range (JPEG): grey 0..255 kept as it is
        options = {"qp": "0", "preset": "ultrafast"}
        if x264_asm():
            options["x264-params"] = f"asm={x264_asm()}"
        self._stream.options = options

    def write(self, mask: np.ndarray) -> None:  # type: ignore[override]
        """Append one ``(H, W)`` float mask; values are clipped to ``[0, 1]``.

        Raises:
            ValueError: not 2-D, not finite, or another size than the first mask.
        """
        mask = np.asarray(mask)
        if mask.ndim != 2 or not np.all(np.isfinite(mask)):
            raise ValueError(f"{self.path}: a mask must be a finite (H, W) array, got shape {mask.shape}")
        grey = self._even(np.round(np.clip(mask, 0.0, 1.0) * 255.0).astype(np.uint8), "mask")
        planes = np.stack([grey, np.full_like(grey, 128), np.full_like(grey, 128)])
        vf = av.VideoFrame.from_ndarray(planes, format="yuv444p")
        vf.color_range = 2
        for packet in self._stream.encode(vf):
            self._container.mux(packet)
        self.n_frames += 1


def iter_masks(
    path: str | os.PathLike, indices: Iterable[int] | None = None, max_frames: int | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Decode a mask video (:class:`MaskWriter`'s, or a dataset's such as FaceForensics++'s
    ``masks/videos``), yielding ``(frame_index, mask)`` with ``mask`` ``(H, W)`` float32 in
    ``[0, 1]`` (the first colour channel / 255; exact for :class:`MaskWriter`'s files).

    Args and errors: as :func:`iter_frames`.
    """
    for index, frame in iter_frames(path, indices=indices, max_frames=max_frames):
        yield index, frame[..., 0].astype(np.float32) / np.float32(255.0)


def reencode(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    crf: int = 23,
    max_frames: int | None = None,
    metadata: dict[str, str] | None = None,
) -> VideoInfo:
    """Re-encode a video with H.264 at ``crf`` (as FaceForensics++ makes c23/c40), keeping
    its frame rate and size, optionally only its first ``max_frames`` frames.

    Returns the :class:`VideoInfo` of the written file.

    Raises:
        MediaError: the source cannot be decoded.
    """
    info = probe(src)
    with VideoWriter(dst, fps=info.fps, crf=crf, metadata=metadata) as writer:
        for _, frame in iter_frames(src, max_frames=max_frames):
            writer.write(frame)
    return VideoInfo(Path(dst), writer.n_frames, info.fps, info.width + info.width % 2, info.height + info.height % 2)


def write_png(path: str | os.PathLike, image: np.ndarray, text: dict[str, str] | None = None) -> None:
    """Write an ``(H, W, 3)`` ``uint8`` RGB image (or an ``(H, W)`` ``uint8`` grey one, such as
    a mask crop) as PNG with optional text chunks, atomically (:func:`forgebench.fileio.atomic_path`).

    zlib level 1: a 256-px face crop takes 4 ms instead of 15 ms at PIL's default level 6,
    for files about 16% larger (lossless either way)."""
    info = None
    if text:
        info = PngImagePlugin.PngInfo()
        for key, value in text.items():
            info.add_text(key, value)
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG", pnginfo=info, compress_level=1)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` ``uint8`` RGB.

    Raises:
        MediaError: missing or unreadable file.
    """
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise MediaError(f"{path}: cannot read image ({exc})") from exc


def read_png_text(path: str | os.PathLike) -> dict[str, str]:
    """Text chunks of a PNG file (e.g. the synthetic tag)."""
    with Image.open(path) as im:
        return dict(getattr(im, "text", {}) or {})


def list_videos(folder: str | os.PathLike) -> list[Path]:
    """Video files (by extension) directly inside ``folder``, sorted by name.

    Raises:
        MediaError: the folder does not exist or holds no video file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MediaError(f"{folder}: not a folder")
    videos = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
    if not videos:
        raise MediaError(f"{folder}: no video files ({', '.join(VIDEO_EXTENSIONS)})")
    return videos


#: H.264 NAL unit type of SEI messages (x264 writes its version and options there).
_H264_SEI = 6


def remux_without_metadata(src: str | Path, dst: str | Path) -> Path:
    """Copy the video stream of ``src`` into the MP4 ``dst`` without re-encoding and without
    any metadata: no container or stream tags (the synthetic tag of
    :func:`forgebench.media.synthetic_tag`), no audio or other streams, and for H.264 no SEI
    messages (the encoder's name and options). The decoded frames are those of ``src``.
    Written through :func:`forgebench.fileio.atomic_path`.

    Returns:
        ``dst``.

    Raises:
        MediaError: ``src`` cannot be opened, has no video stream, or cannot be remuxed.
    """
    src, dst = Path(src), Path(dst)
    try:
        with atomic_path(dst) as tmp, av.open(str(src)) as inp:
            if not inp.streams.video:
                raise MediaError(f"{src}: has no video stream")
            ist = inp.streams.video[0]
            with av.open(str(tmp), mode="w") as out:
                ost = out.add_stream_from_template(ist)
                bsf = (
                    av.bitstream.BitStreamFilterContext(f"filter_units=remove_types={_H264_SEI}", ist, ost)
                    if ist.codec_context.name == "h264"
                    else None
                )
                for packet in inp.demux(ist):
                    if packet.dts is None:  # the demuxer's empty flush packet
                        continue
                    for p in bsf.filter(packet) if bsf else [packet]:
                        p.stream = ost
                        out.mux(p)
                for p in bsf.filter(None) if bsf else []:
                    p.stream = ost
                    out.mux(p)
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(f"{src}: cannot remux into {dst} ({exc})") from None
    return dst
