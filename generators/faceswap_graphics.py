"""``faceswap_graphics``: a graphics-based face swap that needs no training, after the
FaceSwap method of FaceForensics++ (Rössler et al., ICCV 2019; code
https://github.com/MarekKowalski/FaceSwap).

FaceForensics++'s FaceSwap fits a 3D blendshape model to the sparse landmarks of the source
and the target faces, renders the source's textured model in the target's pose, and blends
it in with colour correction. This generator keeps the method's steps and its absence of any
learned component, with a 2D warp in place of the 3D model fit:

1. per target frame, the 68 landmarks of the faces stage's tracker
   (:class:`~forgebench.faces.FaceTracker`) and the frame's aligned crop;
2. a source face chosen from the source identity's face crops (the faces stage's aligned
   crops and their landmarks, kept as this generator's "model": a face bank, no weights) by
   the nearest landmark configuration in the aligned crop (head pose and expression), kept
   from frame to frame unless another face is clearly nearer (``switch_margin``), so the
   pasted face does not flicker;
3. a piecewise-affine warp of that source face onto the target's landmarks over a Delaunay
   triangulation of the 68 points (one affine per triangle, applied by ``cv2.remap``);
4. colour correction (``color``): mean/std transfer in CIE L*a*b* (Reinhard et al. 2001) or
   histogram matching (scikit-image ``match_histograms``) inside the face, or none;
5. blending (``blend``): a feathered mask only (the default, as Kowalski's FaceSwap blends) or
   Poisson seamless cloning first (``cv2.seamlessClone``, Pérez et al. 2003); both end with the
   feathered landmark-hull mask of
   :func:`forgebench.blending.paste_face`, which is returned as the fake's mask.

What differs from FaceForensics++'s FaceSwap: a 2D piecewise-affine warp instead of a 3D model
fit (no out-of-plane rotation of the source face: its pose comes from choosing the nearest
source frame), source faces from the run's sampled face crops instead of every source frame,
and the faces stage's dlib landmarks instead of its own.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import torch
from pydantic import Field

from forgebench.blending import BlendSettings, crop_mask, paste_face
from forgebench.errors import DataError
from forgebench.generators._base import GeneratorSettings, SwapGenerator
from forgebench.generators._checkpoint import checkpoint_payload, read_generator_checkpoint, save_generator_checkpoint
from forgebench.generators._registry import register_generator


class FaceswapGraphicsSettings(GeneratorSettings):
    """Settings of ``faceswap_graphics`` (none changes a "model": the face bank is the
    source's crops).

    Attributes:
        color: colour correction of the warped source face to the target's skin:
            ``lab`` (mean/std in CIE L*a*b*, Reinhard et al. 2001), ``histogram`` (per-channel
            histogram matching inside the face, scikit-image) or ``none``.
        blend: ``feather`` (alpha blending with the feathered mask, as the FaceSwap code that
            FaceForensics++ used blends) or ``poisson`` (``cv2.seamlessClone`` first, Pérez et
            al. 2003; about 35 ms more per frame on one core).
        mask_erode, mask_blur: erosion and feathered-edge width of the landmark-hull mask,
            as fractions of the face size (:class:`forgebench.blending.BlendSettings`).
        switch_margin: the source face of the previous frame is kept unless another one's
            landmark distance is smaller by more than this fraction (0 = always the nearest,
            which flickers).
        eval_mode, low_precision: inherited; nothing here runs a network.
    """

    color: Literal["lab", "histogram", "none"] = "lab"
    blend: Literal["poisson", "feather"] = "feather"
    mask_erode: float = Field(default=0.05, ge=0.0, lt=0.5)
    mask_blur: float = Field(default=0.08, ge=0.0, le=0.5)
    switch_margin: float = Field(default=0.15, ge=0.0, lt=1.0)


@functools.cache
def _triangles() -> np.ndarray:
    """``(T, 3)`` int indices into the 68 iBUG points: the Delaunay triangulation
    (scipy) of the canonical face template, used for the source and the target alike so
    their triangles correspond."""
    # scipy.spatial is loaded already with scikit-image's transforms (the face alignment's); local to this use
    from scipy.spatial import Delaunay

    from forgebench.faces.template import TEMPLATE_68

    return np.asarray(Delaunay(TEMPLATE_68).simplices, dtype=np.int64)


def piecewise_affine_warp(
    image: np.ndarray, src_points: np.ndarray, dst_points: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``image`` so that ``src_points`` land on ``dst_points``, one affine map per
    triangle of the template's Delaunay triangulation of the 68 landmarks.

    Args:
        image: ``(H, W, 3)`` uint8 RGB (the source face crop).
        src_points: ``(68, 2)`` float landmarks in ``image`` pixels.
        dst_points: ``(68, 2)`` float landmarks in output pixels.
        size: side of the square output in pixels.

    Returns:
        ``(warped, covered)``: ``(size, size, 3)`` uint8 (bilinear, border replicated) and the
        ``(size, size)`` bool mask of the pixels inside some triangle (the others are 0).

    Raises:
        ValueError: points are not ``(68, 2)``.
    """
    src = np.asarray(src_points, np.float64)
    dst = np.asarray(dst_points, np.float64)
    if src.shape != (68, 2) or dst.shape != (68, 2):
        raise ValueError(f"piecewise_affine_warp: points must be (68, 2), got {src.shape} and {dst.shape}")
    tris = _triangles()
    # Label every output pixel with the triangle that covers it (-1: none), then look its
    # affine map up: one raster pass and one remap instead of a warp per triangle.
    label = np.full((size, size), -1, np.int32)
    for t, tri in enumerate(tris):
        cv2.fillConvexPoly(label, np.round(dst[tri] * 16).astype(np.int32), int(t), lineType=cv2.LINE_8, shift=4)
    # One affine map per triangle, dst (x, y, 1) -> src (x, y), solved for all triangles at once;
    # a degenerate (flat) triangle covers no pixel, its map is NaN.
    a = np.concatenate([dst[tris], np.ones((len(tris), 3, 1))], axis=2)
    flat = np.abs(np.linalg.det(a)) < 1e-9
    a[flat] = np.eye(3)
    maps = np.linalg.solve(a, src[tris]).transpose(0, 2, 1)
    maps[flat] = np.nan
    ys, xs = np.nonzero(label >= 0)
    m = maps[label[ys, xs]]
    map_x = np.zeros((size, size), np.float32)
    map_y = np.zeros((size, size), np.float32)
    map_x[ys, xs] = m[:, 0, 0] * xs + m[:, 0, 1] * ys + m[:, 0, 2]
    map_y[ys, xs] = m[:, 1, 0] * xs + m[:, 1, 1] * ys + m[:, 1, 2]
    covered = label >= 0
    covered[ys, xs] &= np.isfinite(map_x[ys, xs]) & np.isfinite(map_y[ys, xs])
    map_x[~covered] = -1.0
    map_y[~covered] = -1.0
    warped = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    warped[~covered] = 0
    return warped, covered


def match_histograms_inside(src: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-channel histogram matching of ``src``'s pixels inside ``mask`` to ``ref``'s
    pixels inside it (scikit-image ``exposure.match_histograms``); pixels outside are
    returned unchanged.

    Args:
        src, ref: ``(H, W, 3)`` uint8 RGB, same shape. mask: ``(H, W)`` bool.

    Returns:
        ``(H, W, 3)`` uint8; ``src`` (a copy) when the mask holds fewer than 16 pixels.
    """
    from skimage.exposure import match_histograms  # scikit-image is loaded by the face alignment already

    out = src.copy()
    if int(mask.sum()) < 16:
        return out
    matched = match_histograms(src[mask][None], ref[mask][None], channel_axis=-1)
    out[mask] = np.clip(np.round(matched[0]), 0, 255).astype(np.uint8)
    return out


@register_generator("faceswap_graphics")
class FaceswapGraphics(SwapGenerator):
    """Graphics-based face swap with no training (module docstring).

    Args: as :class:`~forgebench.generators.Generator`; ``settings`` is a
    :class:`FaceswapGraphicsSettings` (or mapping).

    Its "model" (:meth:`fit`, :meth:`save`, :meth:`load`) is the source identity's face bank:
    ``bank_crops`` ``(K, S, S, 3)`` uint8 aligned crops and ``bank_landmarks`` ``(K, 68, 2)``
    float32 crop pixels, one model per source identity.
    """

    Settings = FaceswapGraphicsSettings
    citation = (
        "FaceSwap method of FaceForensics++ (Rössler, Cozzolino, Verdoliva, Riess, Thies, Nießner. "
        "FaceForensics++: Learning to Detect Manipulated Facial Images. ICCV 2019), after Kowalski's FaceSwap"
    )
    code_url = "https://github.com/MarekKowalski/FaceSwap"
    notes = (
        "no training; a 2D piecewise-affine warp over a Delaunay triangulation of the 68 landmarks instead of a 3D "
        "blendshape model fit, so the source face's pose comes from choosing the source frame with the nearest "
        "landmark configuration (kept between frames unless another is `switch_margin` nearer); source faces are "
        "the faces stage's sampled crops of the source identity; colour correction L*a*b* mean/std (or histogram "
        "matching), feathered blending (or Poisson seamless cloning) with the shared landmark-hull mask"
    )
    BATCH = 8

    def __init__(self, settings=None, analyzer=None, device=None, seed: int = 0) -> None:
        super().__init__(settings, analyzer, device, seed)
        self.source: str | None = None
        self.bank_crops: np.ndarray | None = None
        self.bank_landmarks: np.ndarray | None = None
        self._previous: int | None = None

    # -- the face bank ----------------------------------------------------------------------
    def model_key(self, target: str, source: str) -> str:
        """The source identity: one face bank per source serves every target."""
        if target == source:
            raise ValueError(f"faceswap_graphics: target and source are the same identity {target!r}")
        return str(source)

    def model_identities(self, key: str) -> list[str]:
        """``[key]``: the bank holds the source identity's faces."""
        return [key]

    def fit(self, crops: dict[str, list[np.ndarray]], progress: bool = True, landmarks=None) -> dict[str, Any]:
        """Keep one identity's aligned crops and their landmarks as the face bank (nothing is
        trained).

        Args:
            crops: ``{source: [(S, S, 3) uint8 RGB aligned crop, ...]}``, exactly one identity.
            landmarks: ``{source: [(68, 2) crop-pixel landmarks, ...]}``, same order.

        Returns:
            ``{"trained": False, "identity", "n_faces", "crop_size"}``.

        Raises:
            DataError: not one identity, no crops, landmarks missing or of another count,
                or crops that are not square ``(S, S, 3)`` uint8 of one size.
        """
        if len(crops) != 1:
            raise DataError(f"faceswap_graphics: a face bank holds one identity, got {sorted(crops)}")
        ((identity, items),) = crops.items()
        points = (landmarks or {}).get(identity)
        if not items:
            raise DataError(f"faceswap_graphics: no face crops for identity {identity!r}")
        if points is None or len(points) != len(items):
            raise DataError(f"faceswap_graphics: identity {identity!r} needs one (68, 2) landmark set per crop")
        size = items[0].shape[0] if isinstance(items[0], np.ndarray) else 0
        for k, crop in enumerate(items):
            if not isinstance(crop, np.ndarray) or crop.shape != (size, size, 3) or crop.dtype != np.uint8:
                got = f"{crop.shape} {crop.dtype}" if isinstance(crop, np.ndarray) else type(crop).__name__
                raise DataError(
                    f"faceswap_graphics: crop {k} of {identity!r} must be ({size}, {size}, 3) uint8, got {got}"
                )
        self.source = identity
        self.bank_crops = np.stack(items)
        self.bank_landmarks = np.stack([np.asarray(p, np.float32).reshape(68, 2) for p in points])
        return {"trained": False, "identity": identity, "n_faces": len(items), "crop_size": int(size)}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the face bank (``state_dict``: ``crops`` uint8, ``landmarks`` float32) with the
        settings, atomically. Raises ``RuntimeError`` before :meth:`fit` or :meth:`load`."""
        if self.bank_crops is None or self.bank_landmarks is None or self.source is None:
            raise RuntimeError("faceswap_graphics: no face bank; call fit() or load() first")
        state = {"crops": torch.from_numpy(self.bank_crops), "landmarks": torch.from_numpy(self.bank_landmarks)}
        log = {"trained": False, "identity": self.source, "n_faces": int(len(self.bank_crops))}
        payload = checkpoint_payload(self.name, [self.source], self.settings.model_dump(mode="json"), state, log)
        return save_generator_checkpoint(path, payload)

    def load(self, path: str | os.PathLike) -> None:
        """Read a face bank written by :meth:`save` (``torch.load(weights_only=True)``).

        Raises:
            DataError: unreadable file, another generator's checkpoint, or a bank whose
                tensors are not ``(K, S, S, 3)`` uint8 and ``(K, 68, 2)``; names the file.
        """
        path = Path(path)
        ckpt = read_generator_checkpoint(path, self.name)
        state = ckpt["state_dict"]
        crops, points = state.get("crops"), state.get("landmarks")
        if (
            crops is None
            or points is None
            or crops.dtype != torch.uint8
            or crops.ndim != 4
            or crops.shape[-1] != 3
            or tuple(points.shape) != (crops.shape[0], 68, 2)
            or len(ckpt["identities"]) != 1
        ):
            raise DataError(
                f"{path}: not a faceswap_graphics face bank (crops (K, S, S, 3) uint8, landmarks (K, 68, 2))"
            )
        self.source = ckpt["identities"][0]
        self.bank_crops = crops.numpy()
        self.bank_landmarks = points.float().numpy()

    def check_ready(self, target: str, other: str) -> None:
        """Raise before anything is written if no bank is loaded or it is another source's.

        Raises:
            RuntimeError: no bank; DataError: the bank is not ``other``'s faces.
        """
        if self.bank_crops is None:
            raise RuntimeError("faceswap_graphics: no face bank; call fit() or load() first")
        if other != self.source:
            raise DataError(f"faceswap_graphics: the loaded face bank is {self.source!r}'s, not source {other!r}")

    def generate(self, target, source, output, progress: bool = True):
        """As :meth:`SwapGenerator.generate`; the choice of source face starts afresh for
        each video."""
        self._previous = None
        return super().generate(target, source, output, progress=progress)

    # -- conversion -----------------------------------------------------------------------
    def choose_source(self, landmarks_crop: np.ndarray, crop_size: int) -> int:
        """Index into the bank of the face whose aligned landmarks are nearest to the
        target's ``(68, 2)`` crop-pixel landmarks ``landmarks_crop`` (mean point distance,
        the bank's landmarks scaled to ``crop_size``), keeping the previous frame's face
        unless the nearest is ``switch_margin`` nearer."""
        scale = crop_size / float(self.bank_crops.shape[1])
        dist = np.linalg.norm(self.bank_landmarks * scale - landmarks_crop[None], axis=2).mean(axis=1)
        best = int(np.argmin(dist))
        keep = self._previous
        if keep is not None and dist[keep] <= dist[best] * (1.0 + self.settings.switch_margin):
            best = keep
        self._previous = best
        return best

    def swap_crop(self, crop: np.ndarray, landmarks_crop: np.ndarray) -> np.ndarray:
        """The target's aligned ``crop`` ``(S, S, 3)`` uint8 with the chosen source face
        warped onto its landmarks ``landmarks_crop`` ``(68, 2)`` (crop pixels) and, for
        ``color: histogram``, matched to its colours; pixels outside the triangles stay the
        target's."""
        size = crop.shape[0]
        k = self.choose_source(landmarks_crop, size)
        src = self.bank_crops[k]
        scale = size / float(src.shape[0])
        if src.shape[0] != size:
            src = cv2.resize(src, (size, size), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        warped, covered = piecewise_affine_warp(src, self.bank_landmarks[k] * scale, landmarks_crop, size)
        out = crop.copy()
        out[covered] = warped[covered]
        if self.settings.color == "histogram":
            inside = crop_mask(landmarks_crop, size, self._blend()) > 0.5
            out = match_histograms_inside(out, crop, inside & covered)
        return out

    def _blend(self) -> BlendSettings:
        s = self.settings
        return BlendSettings(
            mask_erode=s.mask_erode,
            mask_blur=s.mask_blur,
            color_transfer=s.color == "lab",
            seamless_clone=s.blend == "poisson",
        )

    def convert_face(self, frame: np.ndarray, face, source: str) -> tuple[np.ndarray, np.ndarray]:
        """Swap ``source``'s face into ``frame`` ``(H, W, 3)`` uint8 at ``face``
        (:meth:`swap_crop` in the aligned crop, then :func:`~forgebench.blending.paste_face`
        with colour correction and blending). Returns the new frame and its ``(H, W)``
        float32 blending mask in ``[0, 1]``."""
        self.check_ready("", source)
        swapped = self.swap_crop(face.crop(frame), np.asarray(face.landmarks_crop, np.float64))
        return paste_face(frame, swapped, face.matrix, face.landmarks, self._blend(), return_mask=True)
