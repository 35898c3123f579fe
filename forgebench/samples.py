"""The six real sample clips (talking heads, one identity each), found or downloaded with pooch.

Source: the public repository KwaiVGI/LivePortrait (MIT License), pinned commit, folder
``assets/examples/driving/``. A folder given by ``$FORGEBENCH_DATA_DIR`` or the config key
``data.sample_dir`` is used before any download; every file, found or downloaded, must
match its SHA-256 or it is refused (:class:`~forgebench.errors.DataError`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pooch

from forgebench.errors import DataError

COMMIT = "1986663be3b6902605d32200c01f4bfd36cda83d"
BASE_URL = f"https://raw.githubusercontent.com/KwaiVGI/LivePortrait/{COMMIT}/assets/examples/driving/"
ENV_DATA_DIR = "FORGEBENCH_DATA_DIR"

#: file name -> SHA-256 (from SOURCES.md of the sample data).
REGISTRY = {
    "d0.mp4": "63f6f9962e1fdf6e6722172e7a18155204858d5d5ce3b1e0646c150360c33bed",
    "d3.mp4": "ef5c86e49b1b43dcb1449b499eb5a7f0cbae2f78aec08b5598193be1e4257099",
    "d9.mp4": "9a414aa1d547be35306d692065a2157434bf40a6025ba8e30ce12e5bb322cc33",
    "d12.mp4": "2895169e5aa2a882d39dfc80a17a3eab1cf6ec23b9b6f6be76bae48deda15219",
    "d18.mp4": "1dc94c1fec7ef7dc831c8a49f0e1788ae568812cb68e62f6875d9070f573d02a",
    "d19.mp4": "3047ba66296d96b8a4584e412e61493d7bc0fa5149c77b130e7feea375e698bd",
}


def _fetcher() -> pooch.Pooch:
    return pooch.create(
        path=pooch.os_cache("forgebench") / "clips",
        base_url=BASE_URL,
        registry={name: f"sha256:{digest}" for name, digest in REGISTRY.items()},
        env="FORGEBENCH_CACHE_DIR",
    )


def sample_dir_setting(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The local folder to look in first: ``data_dir`` if given, else ``$FORGEBENCH_DATA_DIR``."""
    value = data_dir if data_dir is not None else os.environ.get(ENV_DATA_DIR)
    return Path(value).expanduser() if value else None


def fetch_clip(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Path of one sample clip, verified against its SHA-256.

    Args:
        name: file name, e.g. ``"d0.mp4"``.
        data_dir: folder to use before any download (default ``$FORGEBENCH_DATA_DIR``).

    Raises:
        KeyError: ``name`` is not a sample clip.
        DataError: the local file's hash does not match, or the download failed.
    """
    if name not in REGISTRY:
        raise KeyError(f"unknown sample clip {name!r}; known: {sorted(REGISTRY)}")
    folder = sample_dir_setting(data_dir)
    if folder is not None and (folder / name).is_file():
        path = folder / name
        digest = pooch.file_hash(str(path), alg="sha256")
        if digest != REGISTRY[name]:
            raise DataError(
                f"{path}: SHA-256 {digest} does not match the expected {REGISTRY[name]}; refusing to use it"
            )
        return path
    try:
        return Path(_fetcher().fetch(name, progressbar=False))
    except ValueError as exc:  # pooch raises ValueError on a hash mismatch
        raise DataError(f"sample clip {name}: {exc}") from exc
    except Exception as exc:  # network errors come in many types (requests, OSError)
        where = f"{folder} (no {name} there) or " if folder is not None else ""
        raise DataError(
            f"sample clip {name}: not found in {where}the cache, and the download from {BASE_URL}{name} "
            f"failed ({type(exc).__name__}: {exc}). Set {ENV_DATA_DIR} to a folder holding the clips."
        ) from exc


def fetch_clips(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Paths of all six sample clips (sorted by name), verified; see :func:`fetch_clip`."""
    return [fetch_clip(name, data_dir) for name in sorted(REGISTRY, key=lambda n: int(n[1:-4]))]
