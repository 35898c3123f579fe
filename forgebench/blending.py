"""Pasting a generated face back into its frame: masks, colour transfer, blending.

Shared by every generator that works on aligned crops (``autoencoder_swap``,
``pix2pix_reenact``, ...). The steps of :func:`paste_face` are those of the classic
face-swap "convert" stage (faceswap's converter; FaceForensics++'s Deepfakes videos):

1. a mask from the convex hull of the 68 landmarks, in crop pixels, optionally limited
   to the crop region the generator actually produced;
2. erosion and Gaussian feathering of the mask, both sized as a fraction of the face;
3. warp of the generated crop and the mask back into the frame (inverse of the
   frame -> crop affine);
4. colour correction: mean/std transfer in CIE L*a*b* inside the mask (Reinhard et al.
   2001, "Color transfer between images", with OpenCV's L*a*b* instead of l-alpha-beta);
5. optionally Poisson blending (``cv2.seamlessClone``, Perez et al. 2003);
6. alpha blending with the feathered mask, so pixels outside the mask are unchanged.

Images are ``(H, W, 3)`` ``uint8`` RGB; masks are ``(H, W)`` ``float32`` in ``[0, 1]``;
points are ``(N, 2)`` ``(x, y)`` pixel coordinates.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from pydantic import Field

from forgebench.config import Strict
from forgebench.faces.align import invert_matrix, transform_points

# Fixed-point bits used when rasterising polygons (sub-pixel accurate hull edges).
_SHIFT = 4


class BlendSettings(Strict):
    """How a generated face is pasted back into the frame (embedded by generator settings
    as their ``blend`` section).

    Attributes:
        mask_erode: the hull mask is eroded by this fraction of the face size (the longer
            side of the landmark bounding box), so the feathered edge stays inside the
            face (erosion >= half the blur width keeps the feathered mask inside the
            hull). ``[0, 0.5)``.
        mask_blur: width of the feathered mask edge (0 -> 1 ramp) as a fraction of the
            face size; 0 gives a hard edge. ``[0, 0.5]``.
        color_transfer: match the generated face's L*a*b* mean/std to the target face's
            inside the mask (Reinhard et al. 2001).
        seamless_clone: Poisson-blend the face into the frame with ``cv2.seamlessClone``
            before alpha blending (slower; changes colours near the mask edge).
    """

    mask_erode: float = Field(default=0.05, ge=0.0, lt=0.5)
    mask_blur: float = Field(default=0.08, ge=0.0, le=0.5)
    color_transfer: bool = True
    seamless_clone: bool = False


def _check_image(image: np.ndarray, name: str) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.shape} {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"{name} must be an (H, W, 3) uint8 RGB image, got {got}")


def _check_points(points: np.ndarray, name: str) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) < 3 or not np.all(np.isfinite(points)):
        raise ValueError(f"{name} must be finite (N, 2) points with N >= 3, got shape {points.shape}")
    return points


def face_size(landmarks: np.ndarray) -> float:
    """Face size in the landmarks' units: the longer side of the bounding box of
    ``(N, 2)`` points (the same normalisation as the canonical face template).

    Raises:
        ValueError: not ``(N, 2)`` finite points with ``N >= 3``.
    """
    points = _check_points(landmarks, "landmarks")
    return float(np.max(points.max(axis=0) - points.min(axis=0)))


def hull_mask(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Mask of the convex hull of the landmarks.

    Args:
        landmarks: ``(N, 2)`` points in pixels of the image the mask is for (68 iBUG
            points in practice: jaw line and brows bound the hull, as in FaceForensics++).
        shape: ``(H, W)`` of the mask.

    Returns:
        ``(H, W)`` ``float32`` mask, 1 inside the hull, 0 outside (edges rasterised with
        sub-pixel vertex precision).

    Raises:
        ValueError: bad points (see :func:`face_size`).
    """
    points = _check_points(landmarks, "landmarks")
    h, w = int(shape[0]), int(shape[1])
    hull = cv2.convexHull(np.round(points * (1 << _SHIFT)).astype(np.int32))
    mask = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(mask, hull, 1, lineType=cv2.LINE_8, shift=_SHIFT)
    return mask.astype(np.float32)


def erode_blur_mask(mask: np.ndarray, erode_px: float, blur_px: float) -> np.ndarray:
    """Shrink a mask and feather its edge.

    Args:
        mask: ``(H, W)`` float mask in ``[0, 1]`` (values > 0.5 count as inside).
        erode_px: erosion radius in pixels (elliptical structuring element); 0 = none.
        blur_px: width of the feathered edge in pixels: a Gaussian blur with standard
            deviation ``blur_px / 4``, so the mask ramps from about 0.02 to 0.98 over
            ``blur_px`` pixels centred on the (eroded) edge; 0 = hard edge.

    Returns:
        ``(H, W)`` ``float32`` in ``[0, 1]``.

    Raises:
        ValueError: ``mask`` is not 2-D or a size is negative.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {mask.shape}")
    if erode_px < 0 or blur_px < 0:
        raise ValueError(f"erode_px and blur_px must be >= 0, got {erode_px}, {blur_px}")
    out = (mask > 0.5).astype(np.uint8)
    r = int(round(erode_px))
    if r > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        out = cv2.erode(out, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    out = out.astype(np.float32)
    if blur_px > 0:
        sigma = blur_px / 4.0
        k = 2 * int(math.ceil(3 * sigma)) + 1
        out = cv2.GaussianBlur(out, (k, k), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_CONSTANT)
    return np.clip(out, 0.0, 1.0)


def color_transfer_lab(src: np.ndarray, ref: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Give ``src`` the colour statistics of ``ref``: per-channel mean/std transfer in CIE
    L*a*b* (Reinhard et al. 2001; OpenCV's float L*a*b*, D65).

    Statistics of both images are taken inside ``mask`` (> 0.5); the transfer is applied
    to every pixel of ``src``.

    Args:
        src: ``(H, W, 3)`` uint8 RGB image to recolour (e.g. the generated face).
        ref: ``(H, W, 3)`` uint8 RGB reference (e.g. the target frame), same size.
        mask: ``(H, W)`` mask of the region whose statistics count; ``None`` = all pixels.

    Returns:
        ``(H, W, 3)`` uint8 RGB. ``src`` unchanged (a copy) when the mask holds fewer
        than 16 pixels.

    Raises:
        ValueError: wrong shapes or dtypes.
    """
    _check_image(src, "src")
    _check_image(ref, "ref")
    if src.shape != ref.shape:
        raise ValueError(f"src {src.shape} and ref {ref.shape} must have the same shape")
    inside = np.ones(src.shape[:2], bool) if mask is None else np.asarray(mask) > 0.5
    if inside.shape != src.shape[:2]:
        raise ValueError(f"mask shape {inside.shape} differs from image shape {src.shape[:2]}")
    if inside.sum() < 16:
        return src.copy()
    lab_src = cv2.cvtColor(src.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    lab_ref = cv2.cvtColor(ref.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    s, r = lab_src[inside], lab_ref[inside]
    mu_s, sd_s = s.mean(axis=0), s.std(axis=0)
    mu_r, sd_r = r.mean(axis=0), r.std(axis=0)
    out = (lab_src - mu_s) * (sd_r / np.maximum(sd_s, 1e-3)) + mu_r
    out[..., 0] = np.clip(out[..., 0], 0.0, 100.0)
    rgb = cv2.cvtColor(out.astype(np.float32), cv2.COLOR_LAB2RGB)
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


def crop_mask(
    landmarks_crop: np.ndarray,
    crop_size: int,
    settings: BlendSettings,
    region: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Feathered paste mask in crop pixels: hull of ``landmarks_crop`` ``(68, 2)``
    (crop pixels), limited to ``region`` ``(x0, y0, x1, y1)`` (crop pixels, end
    exclusive) when given, eroded and blurred by ``settings`` (fractions of the face
    size). Returns ``(crop_size, crop_size)`` float32 in ``[0, 1]``."""
    size = face_size(landmarks_crop)
    mask = hull_mask(landmarks_crop, (crop_size, crop_size))
    if region is not None:
        x0, y0, x1, y1 = (int(v) for v in region)
        box = np.zeros_like(mask)
        box[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = 1.0
        mask *= box
    return erode_blur_mask(mask, settings.mask_erode * size, settings.mask_blur * size)


def _seamless(generated: np.ndarray, frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``cv2.seamlessClone`` (normal clone) of ``generated`` into ``frame`` inside ``mask``;
    frames are padded so a mask touching the border is handled."""
    binary = (mask > 0.5).astype(np.uint8) * 255
    if binary.sum() == 0:
        return generated
    pad = 8
    gen_p = cv2.copyMakeBorder(generated, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    frame_p = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    mask_p = cv2.copyMakeBorder(binary, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    # Keep the mask one pixel away from the (padded) border, as seamlessClone requires.
    mask_p[: pad + 1], mask_p[-pad - 1 :], mask_p[:, : pad + 1], mask_p[:, -pad - 1 :] = 0, 0, 0, 0
    ys, xs = np.nonzero(mask_p)
    if len(xs) == 0:
        return generated
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    # seamlessClone puts the mask's bounding box centre at `center`: same place as in src.
    center = (int((x0 + x1 + 1) // 2), int((y0 + y1 + 1) // 2))
    out = cv2.seamlessClone(gen_p, frame_p, mask_p, center, cv2.NORMAL_CLONE)
    return out[pad:-pad, pad:-pad]


def paste_face(
    frame: np.ndarray,
    generated_crop: np.ndarray,
    matrix: np.ndarray,
    landmarks: np.ndarray,
    settings: BlendSettings | None = None,
    region: tuple[int, int, int, int] | None = None,
    return_mask: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Blend a generated aligned face crop back into its frame.

    Args:
        frame: ``(H, W, 3)`` uint8 RGB target frame (not modified).
        generated_crop: ``(S, S, 3)`` uint8 RGB generated face in the aligned crop that
            ``matrix`` defines.
        matrix: ``(2, 3)`` affine frame pixels -> crop pixels (``Face.matrix``).
        landmarks: ``(68, 2)`` target landmarks in frame pixels (``Face.landmarks``);
            their convex hull is the paste mask.
        settings: mask, colour and blending options (defaults if ``None``).
        region: ``(x0, y0, x1, y1)`` crop pixels (end exclusive) that the generator
            produced; the mask is limited to it (``None`` = the whole crop).
        return_mask: also return the ``(H, W)`` float32 blend mask in frame pixels.

    Returns:
        ``(H, W, 3)`` uint8 RGB frame; pixels where the mask is 0 are exactly those of
        ``frame``. With ``return_mask``, ``(frame, mask)``.

    Raises:
        ValueError: wrong shapes/dtypes, a non-square crop, or bad landmarks.
    """
    settings = settings or BlendSettings()
    _check_image(frame, "frame")
    _check_image(generated_crop, "generated_crop")
    size = generated_crop.shape[0]
    if generated_crop.shape[1] != size:
        raise ValueError(f"generated_crop must be square, got {generated_crop.shape}")
    matrix = np.asarray(matrix, dtype=np.float64).reshape(2, 3)
    landmarks = _check_points(landmarks, "landmarks")
    h, w = frame.shape[:2]

    mask_crop = crop_mask(transform_points(landmarks, matrix), size, settings, region)
    inverse = invert_matrix(matrix)
    generated = cv2.warpAffine(generated_crop, inverse, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mask = cv2.warpAffine(
        mask_crop, inverse, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    mask = np.clip(mask, 0.0, 1.0)
    # Gaussian tails below 1/512 cannot change a uint8 pixel: make them exactly 0.
    mask[mask < 1.0 / 512.0] = 0.0
    out = frame.copy()
    # Colour transfer, Poisson blending and alpha blending touch only the mask's bounding box
    # (with a margin, so a mask never touches the box's edge inside the frame): the same pixels
    # as on the whole frame, several times faster for a face that fills a fraction of it.
    x, y, bw, bh = cv2.boundingRect((mask > 0).astype(np.uint8))
    if bw == 0 or bh == 0:
        return (out, mask) if return_mask else out
    pad = 16
    box = (slice(max(y - pad, 0), min(y + bh + pad, h)), slice(max(x - pad, 0), min(x + bw + pad, w)))
    frame_box, mask_box, generated = frame[box], mask[box], generated[box]
    if settings.color_transfer:
        generated = color_transfer_lab(generated, frame_box, mask_box)
    if settings.seamless_clone:
        generated = _seamless(generated, frame_box, mask_box)
    alpha = mask_box[..., None]
    blended = frame_box.astype(np.float32) * (1.0 - alpha) + generated.astype(np.float32) * alpha
    blended = np.clip(np.round(blended), 0, 255).astype(np.uint8)
    blended[mask_box <= 0] = frame_box[mask_box <= 0]
    out[box] = blended
    return (out, mask) if return_mask else out
