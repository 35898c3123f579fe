"""ArcFace-family identity embeddings (insightface ``arcface_torch`` IResNet-100) for the
identity metrics of face-swap papers.

FaceShifter (Li et al. 2020) and SimSwap (Chen et al. 2020) measure how well a swap keeps
the source identity by the cosine similarity of ArcFace embeddings (Deng et al. 2019,
"ArcFace: Additive Angular Margin Loss for Deep Face Recognition") of the fake and the
source face, and by ID retrieval; :mod:`forgebench.metrics.identity` computes those
numbers from the ``(N, 512)`` embeddings made here.

- Network: :class:`IResNet` / :func:`iresnet100`, written here to the layout of
  insightface's ``recognition/arcface_torch/backbones/iresnet.py`` (Duta et al. 2020
  "Improved Residual Networks" blocks, as adapted by insightface): the state-dict keys
  and shapes equal insightface's exactly (925 entries for IResNet-100, counting the
  BatchNorm ``num_batches_tracked`` counters), so the model zoo's ``backbone.pth`` files
  load with ``load_state_dict(strict=True)``.
- Weights: registry entry ``arcface_r100_glint360k`` of :mod:`forgebench.weights`
  (IResNet-100 trained on Glint360K with the CosFace loss and Partial FC, An et al.
  2021), never a download and never random weights; a file that is not exactly that
  state dict is reported unavailable with the reason.
- Input: the standard ArcFace 112x112 crop (:func:`arcface_align`: similarity transform
  of 5 points onto insightface's template, as ``insightface.utils.face_align.norm_crop``
  does), RGB scaled to [-1, 1] as ``(x / 255 - 0.5) / 0.5`` (arcface_torch ``inference.py``).

Embeddings of these weights are not comparable with dlib's 128-d descriptors or with
other ArcFace weights: record the weights hash (``provenance.json``) with every number.

CLI: ``python -m forgebench.metrics.arcface A.png B.png`` (cosine similarity of the
largest face of each image).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from forgebench.errors import DataError, ForgebenchError
from forgebench.faces import FaceAnalyzer
from forgebench.faces.align import LEFT_EYE, RIGHT_EYE
from forgebench.faces.align_util import similarity_matrix, transform_points
from forgebench.fileio import load_checkpoint
from forgebench.media import read_image
from forgebench.metrics.identity import cosine_similarity
from forgebench.weights import ARCFACE_WEIGHTS, WeightsFile, WeightsUnavailable, resolve_weights

INPUT_SIZE = 112  # side of the aligned crop, pixels
EMBEDDING_DIM = 512
BN_EPS = 1e-05  # every BatchNorm of insightface's IResNet
IRESNET100_LAYERS = (3, 13, 30, 3)
# insightface's 112x112 ArcFace template (insightface.utils.face_align.arcface_dst), crop
# pixels: image-left eye, image-right eye, nose tip, image-left and image-right mouth corner.
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)
_NOSE_TIP, _MOUTH_LEFT, _MOUTH_RIGHT = 30, 48, 54  # iBUG 68 indices (image-left / -right corners)
_MODELS: dict[tuple, nn.Module] = {}
_HOW_NAMED = "the file is the arcface_torch model zoo's glint360k_cosface_r100_fp16_0.1/backbone.pth, renamed"


class IBasicBlock(nn.Module):
    """Pre-activation-style residual block of insightface's IResNet (``IBasicBlock``).

    ``bn1 -> conv1 (3x3, stride 1) -> bn2 -> prelu -> conv2 (3x3, stride) -> bn3``, plus
    the shortcut (``downsample``: 1x1 conv with ``stride`` and BatchNorm, or identity); no
    activation after the sum. Convolutions have no bias; BatchNorm eps is 1e-05.

    Args:
        in_channels: channels of the input.
        channels: channels of the output.
        stride: stride of ``conv2`` (2 in the first block of each stage, else 1).
        downsample: the shortcut module, or ``None`` for the identity shortcut.

    Input ``(N, in_channels, H, W)`` float -> output ``(N, channels, H / stride, W / stride)``.
    """

    def __init__(self, in_channels: int, channels: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels, eps=BN_EPS)
        self.conv1 = nn.Conv2d(in_channels, channels, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels, eps=BN_EPS)
        self.prelu = nn.PReLU(channels)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(channels, eps=BN_EPS)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual sum of the block branch and the shortcut (see the class docstring)."""
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.prelu(self.bn2(self.conv1(self.bn1(x))))
        return self.bn3(self.conv2(out)) + shortcut


class IResNet(nn.Module):
    """insightface's ``arcface_torch`` IResNet face-recognition backbone, state-dict
    compatible with its ``backbones/iresnet.py``.

    Layout (the keys of ``state_dict()``): stem ``conv1`` (3x3, 3 -> 64, stride 1, no bias),
    ``bn1``, ``prelu``; stages ``layer1`` .. ``layer4`` of :class:`IBasicBlock` with 64, 128,
    256, 512 channels, each starting with a stride-2 block whose shortcut is
    ``downsample`` = ``Sequential(conv 1x1 stride 2, BatchNorm2d)`` (112 -> 56 -> 28 -> 14
    -> 7 px); then ``bn2`` (BatchNorm2d 512), dropout (no parameters; inactive in eval
    mode), flatten (channel-major, as ``torch.flatten``), ``fc`` (Linear 512*7*7 -> 512,
    with bias) and ``features`` (BatchNorm1d 512, weight fixed at 1 and not trained). Every
    BatchNorm has eps 1e-05. Parameters start at PyTorch's default initialisation; the
    real weights always come from a file (:func:`load_arcface`).

    Args:
        layers: blocks per stage, e.g. ``(3, 13, 30, 3)`` for IResNet-100.
        num_features: embedding size (512).
        dropout: dropout probability before ``fc`` during training (insightface's default 0).

    Input ``(N, 3, 112, 112)`` float RGB normalised as ``(x / 255 - 0.5) / 0.5`` (in
    [-1, 1]); output ``(N, num_features)`` float, not normalised (L2-normalise before
    cosine similarity; :func:`arcface_embeddings` does).

    Raises:
        ValueError: ``layers`` is not 4 positive block counts (at construction), or the
            input is not ``(N, 3, 112, 112)`` (at the forward pass).
    """

    fc_scale = 7 * 7  # spatial positions of the last stage at 112 px input

    def __init__(self, layers: Sequence[int], num_features: int = EMBEDDING_DIM, dropout: float = 0.0) -> None:
        super().__init__()
        layers = tuple(int(n) for n in layers)
        if len(layers) != 4 or min(layers) < 1:
            raise ValueError(f"IResNet needs 4 positive block counts, got {layers}")
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=BN_EPS)
        self.prelu = nn.PReLU(64)
        in_channels = 64
        for stage, (channels, blocks) in enumerate(zip((64, 128, 256, 512), layers), start=1):
            setattr(self, f"layer{stage}", self._stage(in_channels, channels, blocks))
            in_channels = channels
        self.bn2 = nn.BatchNorm2d(512, eps=BN_EPS)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(512 * self.fc_scale, num_features)
        self.features = nn.BatchNorm1d(num_features, eps=BN_EPS)
        nn.init.constant_(self.features.weight, 1.0)
        self.features.weight.requires_grad = False

    @staticmethod
    def _stage(in_channels: int, channels: int, blocks: int) -> nn.Sequential:
        """One stage: a stride-2 block with a 1x1-conv shortcut, then ``blocks - 1`` blocks."""
        downsample = nn.Sequential(
            nn.Conv2d(in_channels, channels, kernel_size=1, stride=2, bias=False),
            nn.BatchNorm2d(channels, eps=BN_EPS),
        )
        body = [IBasicBlock(in_channels, channels, stride=2, downsample=downsample)]
        body += [IBasicBlock(channels, channels) for _ in range(blocks - 1)]
        return nn.Sequential(*body)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, 112, 112)`` normalised RGB -> ``(N, num_features)`` embeddings."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"IResNet input must be (N, 3, {INPUT_SIZE}, {INPUT_SIZE}), got {tuple(x.shape)}")
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(torch.flatten(self.bn2(x), 1))
        return self.features(self.fc(x))


def iresnet100(**kwargs) -> IResNet:
    """IResNet-100 (blocks ``(3, 13, 30, 3)``), the backbone of the ``arcface_r100_*``
    weights; ``kwargs`` go to :class:`IResNet` (``num_features``, ``dropout``)."""
    return IResNet(IRESNET100_LAYERS, **kwargs)


def _landmarks68(landmarks: np.ndarray) -> np.ndarray:
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (68, 2):
        raise ValueError(f"landmarks must be (68, 2) iBUG points in frame pixels, got shape {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise ValueError("landmarks contain NaN or infinite values")
    return pts


def arcface_points(landmarks: np.ndarray) -> np.ndarray:
    """The 5 ArcFace alignment points from 68 iBUG landmarks.

    Args:
        landmarks: ``(68, 2)`` iBUG points, frame pixels ``(x, y)``.

    Returns:
        ``(5, 2)`` float64 in the order of :data:`ARCFACE_TEMPLATE`: image-left eye centre
        (mean of points 36-41, the subject's right eye), image-right eye centre (mean of
        42-47), nose tip (30), image-left mouth corner (48), image-right mouth corner (54).

    Raises:
        ValueError: not ``(68, 2)`` or not finite.
    """
    pts = _landmarks68(landmarks)
    return np.stack(
        [
            pts[RIGHT_EYE].mean(axis=0),
            pts[LEFT_EYE].mean(axis=0),
            pts[_NOSE_TIP],
            pts[_MOUTH_LEFT],
            pts[_MOUTH_RIGHT],
        ]
    )


def arcface_matrix(landmarks: np.ndarray) -> np.ndarray:
    """Frame -> ArcFace-crop affine of a face.

    Least-squares similarity transform (Umeyama 1991, via scikit-image's
    ``SimilarityTransform``, which is what insightface's ``face_align.estimate_norm``
    uses; no LMEDS/RANSAC outlier rejection) of :func:`arcface_points` onto
    :data:`ARCFACE_TEMPLATE`.

    Args:
        landmarks: ``(68, 2)`` iBUG points, frame pixels.

    Returns:
        ``(2, 3)`` float64 affine for :func:`cv2.warpAffine` (frame pixels -> 112 px crop).

    Raises:
        ValueError: bad landmark shape, non-finite values, or a degenerate estimate.
    """
    return similarity_matrix(arcface_points(landmarks), ARCFACE_TEMPLATE)


def arcface_align(frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The standard ArcFace 5-point aligned crop of a face (insightface ``norm_crop``).

    Args:
        frame: ``(H, W, 3)`` uint8 RGB image.
        landmarks: ``(68, 2)`` iBUG points of the face, frame pixels.

    Returns:
        ``(112, 112, 3)`` uint8 RGB crop: :func:`arcface_matrix` applied with
        ``cv2.warpAffine`` (bilinear, constant border 0, i.e. black outside the frame).

    Raises:
        ValueError: ``frame`` not ``(H, W, 3)`` uint8, ``landmarks`` not ``(68, 2)``
            finite, or a degenerate transform.
    """
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8 or min(frame.shape[:2]) < 1:
        raise ValueError(f"frame must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}")
    matrix = arcface_matrix(landmarks)
    return cv2.warpAffine(
        np.ascontiguousarray(frame),
        matrix,
        (INPUT_SIZE, INPUT_SIZE),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def arcface_template_error(landmarks: np.ndarray) -> np.ndarray:
    """Distance, in 112-px crop pixels, between each of the 5 alignment points of a face
    after :func:`arcface_matrix` and its template point: ``(5,)`` float64 (a check of the
    alignment; a few pixels for a frontal face)."""
    points = arcface_points(landmarks)
    mapped = transform_points(points, similarity_matrix(points, ARCFACE_TEMPLATE))
    return np.linalg.norm(mapped - ARCFACE_TEMPLATE, axis=1)


def _unwrap_state(obj: Mapping, path: Path) -> dict[str, torch.Tensor]:
    """The plain state dict in a loaded file: ``obj`` itself or ``obj["state_dict"]``,
    with a ``module.`` prefix (DataParallel / DDP) removed from all keys."""
    if isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    keys = list(obj)
    if keys and all(isinstance(k, str) and k.startswith("module.") for k in keys):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    bad = [str(k) for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise WeightsUnavailable(
            ARCFACE_WEIGHTS, f"{path}: not a state dict of tensors (entries {', '.join(bad[:5])} are not tensors)"
        )
    return dict(obj)


def _check_layout(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], path: Path) -> None:
    """Raise :class:`WeightsUnavailable` naming the first missing / unexpected / misshaped
    keys unless ``state`` has exactly the keys and shapes of ``expected``."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} instead of {tuple(expected[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys ({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''})")
    if unexpected:
        problems.append(
            f"{len(unexpected)} unexpected keys ({', '.join(unexpected[:5])}{', ...' if len(unexpected) > 5 else ''})"
        )
    if shapes:
        problems.append(f"{len(shapes)} shape mismatches ({'; '.join(shapes[:3])}{'; ...' if len(shapes) > 3 else ''})")
    if problems:
        raise WeightsUnavailable(
            ARCFACE_WEIGHTS,
            f"{path}: not an insightface IResNet-100 backbone state dict ({len(expected)} entries expected): "
            + "; ".join(problems),
        )


def load_arcface(device=None) -> tuple[IResNet, WeightsFile]:
    """IResNet-100 with the registry's ArcFace weights (``arcface_r100_glint360k``), eval mode.

    The file is found by :func:`forgebench.weights.resolve_weights` (hash-checked, never
    downloaded), read with ``torch.load(map_location="cpu", weights_only=True)`` (via
    :func:`forgebench.fileio.load_checkpoint`), and must be a plain state dict (or one
    under ``"state_dict"``, keys optionally prefixed ``module.``) with exactly the keys and
    shapes of :func:`iresnet100`, loaded with ``strict=True``; the network is never used
    with random weights. One network is kept in memory, per (file, hash, device).

    Args:
        device: ``torch.device`` or name (default CPU).

    Returns:
        ``(model, WeightsFile)``; the model maps ``(N, 3, 112, 112)`` float in [-1, 1]
        (see :class:`IResNet`) to ``(N, 512)`` unnormalised embeddings.

    Raises:
        WeightsUnavailable: the file is missing or has the wrong hash (the reason says
            where to put it), is unreadable, truncated or not a torch file, or is not
            the IResNet-100 state dict (the reason names the file and the first missing,
            unexpected or misshaped keys).
    """
    device = torch.device(device or "cpu")
    try:
        wf = resolve_weights(ARCFACE_WEIGHTS)
    except WeightsUnavailable as exc:
        raise WeightsUnavailable(ARCFACE_WEIGHTS, f"{exc.reason} ({_HOW_NAMED})") from None
    key = (str(wf.path), wf.sha256, str(device))
    if key in _MODELS:
        return _MODELS[key], wf
    try:
        obj = load_checkpoint(wf.path, "ArcFace IResNet-100 weights file")
    except DataError as exc:
        raise WeightsUnavailable(ARCFACE_WEIGHTS, str(exc)) from None
    state = _unwrap_state(obj, wf.path)
    model = iresnet100()
    _check_layout(state, model.state_dict(), wf.path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # layout was checked; e.g. a dtype that cannot be copied
        raise WeightsUnavailable(ARCFACE_WEIGHTS, f"{wf.path}: cannot be loaded into IResNet-100 ({exc})") from None
    model = model.eval().to(device)
    _MODELS.clear()  # keep one network in memory
    _MODELS[key] = model
    return model, wf


def _same_device(a: torch.device, b: torch.device) -> bool:
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)


def arcface_embeddings(model: nn.Module, crops: np.ndarray, batch_size: int = 32, device=None) -> np.ndarray:
    """L2-normalised ArcFace embeddings of aligned face crops.

    Args:
        model: an :class:`IResNet` in eval mode (from :func:`load_arcface`).
        crops: ``(N, 112, 112, 3)`` uint8 RGB crops from :func:`arcface_align`, N >= 0.
        batch_size: crops per forward pass, >= 1.
        device: where the crops are sent; default (``None``) the model's device, and when
            given it must be the model's device (load the model there instead).

    Returns:
        ``(N, 512)`` float64 rows of unit L2 norm (cosine similarity = dot product, in
        [-1, 1], unit-free); ``(0, 512)`` for N = 0.

    Raises:
        ValueError: ``crops`` not ``(N, 112, 112, 3)`` uint8, ``batch_size`` < 1, the model
            in training mode or on another device, or an embedding that is not finite or
            has zero norm (broken weights).
    """
    crops = np.asarray(crops)
    if crops.ndim != 4 or crops.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3) or crops.dtype != np.uint8:
        raise ValueError(
            f"ArcFace crops must be (N, {INPUT_SIZE}, {INPUT_SIZE}, 3) uint8 RGB, got {crops.shape} {crops.dtype}"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if model.training:
        raise ValueError(
            "the ArcFace model must be in eval mode (BatchNorm statistics of training mode change the embeddings)"
        )
    model_device = next(model.parameters()).device
    dev = torch.device(device) if device is not None else model_device
    if not _same_device(dev, model_device):
        raise ValueError(
            f"device {dev} differs from the model's device {model_device}; load the model with load_arcface({str(dev)!r})"
        )
    if len(crops) == 0:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float64)
    out = []
    with torch.inference_mode():
        for i in range(0, len(crops), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(crops[i : i + batch_size])).to(model_device)
            batch = (batch.permute(0, 3, 1, 2).float() / 255.0 - 0.5) / 0.5
            out.append(model(batch).double().cpu().numpy())
    emb = np.concatenate(out)
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    bad = np.flatnonzero(~np.isfinite(norms[:, 0]) | (norms[:, 0] == 0))
    if len(bad):
        raise ValueError(f"ArcFace embeddings of crops {bad[:5].tolist()} are not finite or zero (broken weights?)")
    return emb / norms


def main(argv: list[str] | None = None) -> int:
    """``python -m forgebench.metrics.arcface A B``: print the ArcFace cosine similarity of
    the largest face of two images (dlib detection and landmarks, :func:`arcface_align`);
    exit status 2 with the reason when a face or the weights are missing."""
    parser = argparse.ArgumentParser(description="ArcFace (IResNet-100, Glint360K) identity similarity of two faces.")
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    args = parser.parse_args(argv)
    try:
        analyzer = FaceAnalyzer()
        crops = []
        for path in (args.a, args.b):
            image = read_image(path)
            face = analyzer.detect(image)
            if face is None:
                raise ValueError(f"{path}: no face found")
            crops.append(arcface_align(image, face.landmarks))
        model, wf = load_arcface()
        emb = arcface_embeddings(model, np.stack(crops))
    except (ForgebenchError, ValueError) as exc:
        print(f"arcface: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"ArcFace cosine similarity: {cosine_similarity(emb[0], emb[1]):.4f}  (weights {wf.path.name}, sha256 {wf.sha256[:12]})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
