"""Test-time perturbations of face crops for robustness curves (JPEG, blur, noise,
downscale, H.264 re-encoding), found by name through a registry.

A robustness curve scores a trained detector on the test crops once clean and then once
per strength of each perturbation. The clean point has strength ``None`` (the crops as
stored, i.e. the ordinary test score), never a "mild" strength such as JPEG quality 100,
which still changes pixels. Protocol as the degradation studies of FaceForensics++
(Rossler et al. 2019, c23/c40 H.264), DeeperForensics-1.0 (Jiang et al. 2020: JPEG,
Gaussian blur, Gaussian noise, compression at graded levels) and DeepfakeBench
robustness tests.

Two levels of perturbation:

- ``crop``: applied to the stored ``(S, S, 3)`` uint8 RGB crop at its stored size, before
  the detector's resize (:func:`perturb_crop`). ``jpeg``, ``blur``, ``noise``, ``downscale``.
- ``video``: the whole video file is re-encoded and the faces are cropped again at the
  same frame indices with the alignment matrix stored in the face manifest (``h264``).
  Face positions are reused from the clean video on purpose: the face detector is not
  the thing under test, and reusing them makes the perturbed crops differ from the clean
  ones only by the compression. Note that the run's videos are themselves already
  compressed (``data.crf``, c23 by default), so ``h264`` at CRF k is a second generation
  of compression on top of it, unlike FaceForensics++ c23/c40 which compress the raw video.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field, field_validator

from forgebench.config import Strict
from forgebench.media import read_tags, reencode
from forgebench.registry import Registry

__all__ = [
    "Perturbation",
    "PERTURBATIONS",
    "register_perturbation",
    "list_perturbations",
    "get_perturbation",
    "check_strength",
    "perturb_crop",
    "perturb_video",
    "curve_strengths",
    "DEFAULT_STRENGTHS",
    "CLEAN",
    "RobustnessSettings",
]

CLEAN = None  #: Strength of the clean end point of every curve: the unperturbed crops.
#: Perturbations with a config key of their own (``protocol.robustness.<name>``).
BUILTIN = ("jpeg", "blur", "noise", "downscale", "h264")

#: Strengths scored by default, per perturbation (units: see :func:`get_perturbation`).
DEFAULT_STRENGTHS: dict[str, list[float]] = {
    "jpeg": [90, 70, 50, 30],
    "blur": [1, 2, 3],
    "noise": [0.02, 0.05, 0.1],
    "downscale": [2, 4],
    "h264": [23, 40],
}


@dataclass(frozen=True)
class Perturbation:
    """One registered perturbation.

    Attributes:
        name: registered name.
        level: ``"crop"`` (acts on one stored crop) or ``"video"`` (re-encodes the video).
        param: name of the strength parameter (``quality``, ``sigma``, ``factor``, ``crf``).
        units: what the strength is measured in.
        low, high: allowed strength range, inclusive.
        integer: the strength must be a whole number.
        stronger: ``"higher"`` or ``"lower"``: which direction degrades more.
        identity: strength that leaves the crop unchanged, ``None`` if there is none.
        fn: crop level: ``fn(image, strength, seed, key) -> image``; video level:
            ``fn(src, dst, strength) -> None`` writing the perturbed video to ``dst``.
        reference: where the perturbation and its levels come from.
    """

    name: str
    level: Literal["crop", "video"]
    param: str
    units: str
    low: float
    high: float
    integer: bool
    stronger: Literal["higher", "lower"]
    identity: float | None
    fn: Callable
    reference: str = ""

    def describe(self) -> str:
        """One line: name, parameter, units, range and direction, for messages and reports."""
        return (
            f"{self.name}: {self.param} in [{self.low:g}, {self.high:g}] ({self.units}; "
            f"{self.stronger} = stronger; {self.level} level)"
        )


def _adopt(registry: Registry, name: str, obj: Any) -> None:
    if not isinstance(obj, Perturbation):
        raise TypeError(
            "a perturbation entry point must name a module that calls @register_perturbation, "
            f"or a forgebench Perturbation record, got {obj!r}"
        )
    registry.register(name)(obj)


PERTURBATIONS: Registry[Perturbation] = Registry("perturbation", group="forgebench.perturbations", adopt=_adopt)


def register_perturbation(
    name: str,
    *,
    level: Literal["crop", "video"],
    param: str,
    units: str,
    low: float,
    high: float,
    stronger: Literal["higher", "lower"],
    integer: bool = False,
    identity: float | None = None,
    reference: str = "",
) -> Callable[[Callable], Callable]:
    """Decorator registering a perturbation function under ``name`` (arguments and the two
    function signatures: :class:`Perturbation`); returns the function unchanged.
    ``ValueError`` if ``name`` is already registered."""

    def deco(fn: Callable) -> Callable:
        PERTURBATIONS.register(name)(
            Perturbation(name, level, param, units, low, high, integer, stronger, identity, fn, reference)
        )
        return fn

    return deco


def list_perturbations() -> list[str]:
    """Sorted names of the registered perturbations."""
    return PERTURBATIONS.names()


def get_perturbation(name: str) -> Perturbation:
    """The :class:`Perturbation` registered as ``name`` (``KeyError`` listing the registered
    names if unknown)."""
    return PERTURBATIONS.get(name)


def check_strength(name: str, strength: float) -> float:
    """Validate ``strength`` for perturbation ``name``; returns it (an ``int`` for integer
    parameters). Raises ``KeyError`` (unknown name) or ``ValueError`` (out of range, not
    finite, or not whole for an integer parameter; names the allowed range and units)."""
    p = get_perturbation(name)
    try:
        value = float(strength)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: strength must be a number, got {strength!r}; {p.describe()}") from None
    if not math.isfinite(value) or not p.low <= value <= p.high or (p.integer and value != int(value)):
        kind = "a whole number" if p.integer else "a number"
        raise ValueError(
            f"{name}: strength {strength!r} out of range; {p.param} must be {kind} in "
            f"[{p.low:g}, {p.high:g}] ({p.units})"
        )
    return int(value) if p.integer else value


# -- crop-level perturbations ---------------------------------------------------------


@register_perturbation(
    "jpeg",
    level="crop",
    param="quality",
    units="JPEG quality factor, libjpeg scale via OpenCV",
    low=1,
    high=100,
    integer=True,
    stronger="lower",
    reference="JPEG compression levels as DeeperForensics-1.0 / DeepfakeBench robustness tests",
)
def jpeg(image: np.ndarray, quality: float, seed: int = 0, key: str = "") -> np.ndarray:
    """JPEG encode + decode with OpenCV (``cv2.IMWRITE_JPEG_QUALITY``, OpenCV's default 4:2:0
    chroma subsampling). ``(H, W, 3)`` uint8 RGB -> same. Deterministic."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"jpeg: OpenCV could not encode a {image.shape} image")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@register_perturbation(
    "blur",
    level="crop",
    param="sigma",
    units="Gaussian sigma, pixels of the stored crop",
    low=0,
    high=25,
    stronger="higher",
    identity=0,
    reference="Gaussian blur as DeeperForensics-1.0 'GB' and Wang et al. CVPR 2020",
)
def blur(image: np.ndarray, sigma: float, seed: int = 0, key: str = "") -> np.ndarray:
    """Gaussian blur, kernel side ``2 * ceil(3 sigma) + 1``, reflected borders
    (``cv2.BORDER_REFLECT_101``). ``sigma == 0`` returns an unchanged copy."""
    if sigma == 0:
        return image.copy()
    k = 2 * math.ceil(3 * sigma) + 1
    return cv2.GaussianBlur(image, (k, k), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)


def _noise_seed(seed: int, key: str) -> int:
    digest = hashlib.sha256(f"forgebench-noise:{int(seed)}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


@register_perturbation(
    "noise",
    level="crop",
    param="sigma",
    units="Gaussian noise std, intensity in [0, 1]",
    low=0,
    high=1,
    stronger="higher",
    identity=0,
    reference="additive white Gaussian noise as DeeperForensics-1.0 'GNC' (per-pixel, per-channel)",
)
def noise(image: np.ndarray, sigma: float, seed: int = 0, key: str = "") -> np.ndarray:
    """Add i.i.d. Gaussian noise of std ``sigma * 255`` to every pixel and channel, round and
    clip to [0, 255]. The noise comes from a NumPy generator seeded by SHA-256 of
    ``(seed, key)``: the same crop key gets the same noise whatever the order or the batch."""
    if sigma == 0:
        return image.copy()
    rng = np.random.default_rng(_noise_seed(seed, key))
    noisy = image.astype(np.float32) + rng.normal(0.0, sigma * 255.0, size=image.shape).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


@register_perturbation(
    "downscale",
    level="crop",
    param="factor",
    units="shrink factor (side / reduced side)",
    low=1,
    high=32,
    stronger="higher",
    identity=1,
    reference="resolution loss as DeeperForensics-1.0 / DF40 low-resolution tests",
)
def downscale(image: np.ndarray, factor: float, seed: int = 0, key: str = "") -> np.ndarray:
    """Shrink each side by ``factor`` (``cv2.INTER_AREA``, at least 1 pixel) and enlarge back
    to the original size (``cv2.INTER_LINEAR``). ``factor == 1`` returns an unchanged copy."""
    if factor == 1:
        return image.copy()
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, round(w / factor)), max(1, round(h / factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


# -- video-level perturbations --------------------------------------------------------


@register_perturbation(
    "h264",
    level="video",
    param="crf",
    units="x264 constant rate factor (23 = FF++ c23, 40 = c40)",
    low=0,
    high=51,
    integer=True,
    stronger="higher",
    reference="H.264 re-encoding as FaceForensics++ c23/c40 (Rossler et al. 2019)",
)
def h264(src: Path, dst: Path, crf: float) -> None:
    """Re-encode video ``src`` to ``dst`` with libx264 at ``crf`` through
    :func:`forgebench.media.reencode` (same frames, rate and size), keeping the source's
    ``comment``/``description`` tags (the synthetic tag of fakes)."""
    tags = {k: v for k, v in read_tags(src).items() if k in ("comment", "description")}
    reencode(src, dst, crf=int(crf), metadata=tags)


def perturb_crop(image: np.ndarray, name: str, strength: float, seed: int = 0, key: str = "") -> np.ndarray:
    """Apply crop-level perturbation ``name`` at ``strength`` to one face crop.

    Args:
        image: ``(H, W, 3)`` uint8 RGB crop (not modified).
        name: a crop-level perturbation (``jpeg``, ``blur``, ``noise``, ``downscale``).
        strength: in the perturbation's units and range (see :func:`get_perturbation`).
        seed, key: make random perturbations (``noise``) reproducible per crop: the same
            ``(seed, key)`` always gives the same result; use a unique key per crop.

    Returns:
        ``(H, W, 3)`` uint8 RGB, a new array.

    Raises:
        KeyError: unknown name.
        ValueError: ``name`` is video-level, ``strength`` out of range (the message names
            the allowed range), or ``image`` is not ``(H, W, 3)`` uint8.
    """
    p = get_perturbation(name)
    if p.level != "crop":
        raise ValueError(f"{name} is a video-level perturbation; use perturb_video(...) for it")
    value = check_strength(name, strength)
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"{name}: crop must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
    out = p.fn(np.ascontiguousarray(image), value, seed, key)
    return np.ascontiguousarray(out, dtype=np.uint8)


def perturb_video(src: Path, dst: Path, name: str, strength: float) -> Path:
    """Apply video-level perturbation ``name`` at ``strength``: write the perturbed copy of
    video ``src`` to ``dst`` (same frames, rate and size; atomically). Returns ``dst``.

    Raises:
        KeyError: unknown name. ValueError: ``name`` is crop-level or ``strength`` out of
            range. forgebench.errors.MediaError: ``src`` cannot be decoded.
    """
    p = get_perturbation(name)
    if p.level != "video":
        raise ValueError(f"{name} is a crop-level perturbation; use perturb_crop(...) for it")
    p.fn(Path(src), Path(dst), check_strength(name, strength))
    return Path(dst)


def curve_strengths(name: str, strengths: list[float]) -> list[float | None]:
    """The points of one robustness curve: :data:`CLEAN` (``None``, the unperturbed score)
    first, then ``strengths`` validated (as :func:`check_strength`), deduplicated and sorted
    from mildest to strongest."""
    p = get_perturbation(name)
    values = sorted({check_strength(name, s) for s in strengths}, reverse=p.stronger == "lower")
    return [CLEAN, *values]


class RobustnessSettings(Strict):
    """The ``robustness`` config section: which perturbations, at which strengths, attack
    which trained model.

    One list of strengths per registered perturbation (units of :func:`get_perturbation`;
    defaults :data:`DEFAULT_STRENGTHS`; an empty list skips that perturbation). The clean
    score (strength ``None``) always starts each curve and is not listed here. An unknown
    key is a validation error naming it.

    Attributes:
        enabled: run the robustness stage at all.
        train_set: which trained model is attacked (the detector's ``train_set``, ``all`` =
            trained on every generator).
        max_frames_per_video: at most this many test frames per video, picked
            deterministically by the robustness stage (``None`` = all): bounds the cost.
        extra: strengths of further registered perturbations (e.g. from an installed
            package declaring the ``forgebench.perturbations`` entry point), by name.
    """

    enabled: bool = True
    train_set: str = "all"
    max_frames_per_video: int | None = Field(default=None, ge=1)
    jpeg: list[int] = Field(default_factory=lambda: list(DEFAULT_STRENGTHS["jpeg"]))
    blur: list[float] = Field(default_factory=lambda: list(DEFAULT_STRENGTHS["blur"]))
    noise: list[float] = Field(default_factory=lambda: list(DEFAULT_STRENGTHS["noise"]))
    downscale: list[float] = Field(default_factory=lambda: list(DEFAULT_STRENGTHS["downscale"]))
    h264: list[int] = Field(default_factory=lambda: list(DEFAULT_STRENGTHS["h264"]))
    extra: dict[str, list[float]] = Field(default_factory=dict)

    @field_validator("jpeg", "blur", "noise", "downscale", "h264")
    @classmethod
    def _in_range(cls, v: list[float], info) -> list[float]:
        for s in v:
            check_strength(info.field_name, s)
        return v

    @field_validator("extra")
    @classmethod
    def _registered(cls, v: dict[str, list[float]]) -> dict[str, list[float]]:
        for name, strengths in v.items():
            if name in BUILTIN or name not in PERTURBATIONS:
                known = [n for n in list_perturbations() if n not in BUILTIN]
                raise ValueError(
                    f"{name!r} is {'a built-in key of its own' if name in BUILTIN else 'not a registered perturbation'}; "
                    f"further registered perturbations: {known}"
                )
            v[name] = [check_strength(name, s) for s in strengths]
        return v

    def strengths(self) -> dict[str, list[float]]:
        """``{name: strengths as configured}``: the built-ins in the order jpeg, blur, noise,
        downscale, h264, then the ``extra`` ones by name; empty lists left out."""
        out = {n: list(getattr(self, n)) for n in BUILTIN}
        out.update({n: list(self.extra[n]) for n in sorted(self.extra)})
        return {n: v for n, v in out.items() if v}

    def jobs(self) -> list[tuple[str, float | None]]:
        """What the robustness protocol scores, in order: ``("none", None)`` (the clean
        crops) then ``(name, strength)`` for every configured strength; ``[]`` when
        ``enabled`` is false."""
        if not self.enabled:
            return []
        return [("none", CLEAN)] + [(n, float(v)) for n, values in self.strengths().items() for v in values]

    def curves(self) -> dict[str, list[float | None]]:
        """``{name: [None, mildest, ..., strongest]}`` for every non-empty perturbation
        (see :func:`curve_strengths`); empty when ``enabled`` is false."""
        if not self.enabled:
            return {}
        return {n: curve_strengths(n, v) for n, v in self.strengths().items()}
