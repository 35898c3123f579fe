"""``autoencoder_swap``: the classic shared-encoder / two-decoder face swap ("Deepfakes",
faceswap's ``original`` model; the Deepfakes method of FaceForensics++).

One model per unordered identity pair ``{A, B}``: a shared encoder and one decoder per
identity are trained to reconstruct each identity's faces from randomly warped copies
(:mod:`forgebench.generators._augment`). To swap, a target face is encoded and decoded
with the *source* identity's decoder, then pasted back into the frame
(:func:`forgebench.blending.paste_face`). Networks: :mod:`.model`.

The model sees the centred ``coverage`` share of the aligned crop (see
:class:`AutoencoderSwapSettings`), resized to ``image_size``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field, field_validator
from tqdm.auto import tqdm

from forgebench.blending import BlendSettings, paste_face
from forgebench.errors import DataError
from forgebench.generators._augment import AugmentSettings, coverage_box, prepare_faces, training_batch
from forgebench.generators._base import GeneratorSettings, SwapGenerator
from forgebench.generators._checkpoint import checkpoint_payload, read_generator_checkpoint, save_generator_checkpoint
from forgebench.generators._conversion import ConvertedBatch
from forgebench.generators._registry import register_generator
from forgebench.generators.autoencoder_swap.model import SwapAutoencoder, ssim
from forgebench.imaging import SYNTHESIS, images_to_tensor, resize_square, tensor_to_images


class AutoencoderSwapSettings(GeneratorSettings):
    """Settings of ``autoencoder_swap``; the defaults are the full schedule of the original
    (faceswap ``original`` model: 64-px faces, 1024-d bottleneck, Adam 5e-5, batch 64).

    Attributes:
        image_size: side of the model's input/output in pixels, a multiple of 16.
        encoder_dim: width of the dense bottleneck.
        width: channel multiplier of every convolution (1.0 = the original 128..1024
            channels; the CPU quickstart uses 0.25 so a pair trains in minutes).
        iterations: optimizer steps; each step sees ``batch_size`` faces of every identity.
        batch_size: faces per identity per step.
        lr, betas: Adam learning rate and betas.
        ssim_weight: weight of an added ``1 - SSIM`` term (0 = mean absolute error only).
        coverage: share of the aligned crop's side that the model sees, centred, in
            ``(0.3, 1]``. With the FaceForensics++ crop margin 1.3 the 68-landmark box fills
            1 / 1.3 = 0.77 of the crop side, so 0.8 covers the whole landmark hull (the
            paste mask) plus a thin border and little background.
        augment: random affine / warp augmentation of the training faces.
        blend: how converted faces are pasted back (mask, colour transfer, Poisson).
        eval_mode: see :class:`~forgebench.generators.GeneratorSettings`.
    """

    image_size: int = Field(default=64, ge=32, le=256, multiple_of=16)
    encoder_dim: int = Field(default=1024, ge=1)
    width: float = Field(default=1.0, gt=0.0, le=4.0)
    iterations: int = Field(default=10000, ge=1)
    batch_size: int = Field(default=64, ge=1)
    lr: float = Field(default=5e-5, gt=0.0)
    betas: tuple[float, float] = (0.5, 0.999)
    ssim_weight: float = Field(default=0.0, ge=0.0)
    coverage: float = Field(default=0.8, gt=0.3, le=1.0)
    augment: AugmentSettings = AugmentSettings()
    blend: BlendSettings = BlendSettings()

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= b < 1.0 for b in v):
            raise ValueError("Adam betas must be in [0, 1)")
        return v


def _check_crops(crops: dict[str, list[np.ndarray]], needed: list[str] | None = None) -> None:
    if needed is not None:
        missing = [i for i in needed if not crops.get(i)]
        if missing:
            raise DataError(f"autoencoder_swap: no face crops for identities {missing}")
    for identity, items in crops.items():
        if not items:
            raise DataError(f"autoencoder_swap: no face crops for identity {identity!r}")
        for k, crop in enumerate(items):
            if (
                not isinstance(crop, np.ndarray)
                or crop.ndim != 3
                or crop.shape[2] != 3
                or crop.dtype != np.uint8
                or crop.shape[0] != crop.shape[1]
            ):
                got = f"{crop.shape} {crop.dtype}" if isinstance(crop, np.ndarray) else type(crop).__name__
                raise DataError(
                    f"autoencoder_swap: crop {k} of identity {identity!r} must be (S, S, 3) uint8, got {got}"
                )


@register_generator("autoencoder_swap")
class AutoencoderSwap(SwapGenerator):
    """Shared-encoder / per-identity-decoder face swap (see the module docstring).

    Args: as :class:`~forgebench.generators.Generator`; ``settings`` is an
    :class:`AutoencoderSwapSettings` (or mapping).

    After :meth:`fit` or :meth:`load`, ``net`` is the :class:`SwapAutoencoder`,
    ``identities`` its decoders' identities and ``train_log`` the training log.
    """

    Settings = AutoencoderSwapSettings
    citation = (
        "Deepfakes: the faceswap project's 'original' model (plugins/train/model/original.py); the Deepfakes "
        "method of FaceForensics++ (Rössler, Cozzolino, Verdoliva, Riess, Thies, Nießner. FaceForensics++: "
        "Learning to Detect Manipulated Facial Images. ICCV 2019)"
    )
    code_url = "https://github.com/deepfakes/faceswap"
    notes = (
        "re-written in PyTorch; trained on the aligned crops of forgebench.faces (the centred `coverage` share, "
        "0.8), not on faces it detects itself; pasted back with the shared blending of forgebench.blending (L*a*b* "
        "colour transfer, eroded and feathered landmark-hull mask, optional cv2.seamlessClone); an optional "
        "1 - SSIM loss term (`ssim_weight`, 0 by default); conversion under bfloat16 autocast where the hardware "
        "supports it (`low_precision`), within a tested tolerance of float32"
    )
    CHECKPOINT_KEYS = (
        "image_size",
        "encoder_dim",
        "width",
        "iterations",
        "batch_size",
        "lr",
        "betas",
        "ssim_weight",
        "coverage",
        "augment",
    )

    def __init__(self, settings=None, analyzer=None, device=None, seed: int = 0) -> None:
        super().__init__(settings, analyzer, device, seed)
        self.net: SwapAutoencoder | None = None
        self.identities: list[str] = []
        self.train_log: dict[str, Any] = {}
        self._key_identities: dict[str, list[str]] = {}

    # -- which model ----------------------------------------------------------------------
    def model_key(self, target: str, source: str) -> str:
        """``"<A>_<B>"`` with ``A < B`` the sorted identities: one model per unordered pair
        serves both directions. Raises ``ValueError`` if ``target == source``."""
        if target == source:
            raise ValueError(f"autoencoder_swap: target and source are the same identity {target!r}")
        pair = sorted([str(target), str(source)])
        key = "_".join(pair)
        self._key_identities[key] = pair
        return key

    def model_identities(self, key: str) -> list[str]:
        """The two identities of a :meth:`model_key` key (sorted).

        Raises:
            ValueError: ``key`` was not made by :meth:`model_key` on this object and cannot
                be split unambiguously at a single ``_``.
        """
        if key in self._key_identities:
            return list(self._key_identities[key])
        parts = key.split("_")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"autoencoder_swap: cannot tell the two identities of model key {key!r}")
        return sorted(parts)

    # -- training ---------------------------------------------------------------------------
    def build(self, identities: list[str]) -> SwapAutoencoder:
        """Create fresh, seeded networks with one decoder per identity (sorted) on the
        device; the same seed and identities give the same initial weights on any device."""
        identities = sorted(identities)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.model_seed(identities))
            net = SwapAutoencoder(identities, self.settings.image_size, self.settings.encoder_dim, self.settings.width)
        self.net = net.to(self.device)
        self.identities = identities
        return self.net

    def _faces(self, crops: list[np.ndarray]) -> np.ndarray:
        return prepare_faces(crops, self.settings.image_size, self.settings.coverage)

    def fit(self, crops: dict[str, list[np.ndarray]], progress: bool = True, landmarks=None) -> dict[str, Any]:
        """Train a fresh model on aligned crops of two (or more) identities (``landmarks``
        are not used: the swap learns from pixels only).

        Each step draws ``batch_size`` augmented faces per identity (random affine + warp
        inputs, unwarped targets), reconstructs them through the shared encoder and that
        identity's decoder, and sums the identities' losses (mean absolute error, plus
        ``ssim_weight * (1 - SSIM)``); one Adam optimizer updates all networks.

        Args:
            crops: ``{identity: [(S, S, 3) uint8 RGB aligned crop, ...]}`` (faces-stage
                crops; every identity needs at least one).
            progress: show a tqdm bar (only on a terminal).

        Returns:
            training log: ``identities``, ``n_crops``, ``iterations``, ``batch_size``,
            ``seconds``, ``seconds_per_iteration``, ``loss_first`` and ``loss_final``
            (per identity; final = mean of the last 10% of steps), ``device``.

        Raises:
            DataError: fewer than two identities, an identity without crops, or a crop that
                is not ``(S, S, 3)`` uint8.
        """
        if len(crops) < 2:
            raise DataError(f"autoencoder_swap: needs crops of at least two identities, got {sorted(crops)}")
        _check_crops(crops)
        s = self.settings
        identities = sorted(crops)
        faces = {i: self._faces(crops[i]) for i in identities}
        net = self.build(identities)
        net.train()
        optimizer = torch.optim.Adam(net.parameters(), lr=s.lr, betas=tuple(s.betas))
        rng = np.random.default_rng(self.model_seed(identities))
        history: dict[str, list[float]] = {i: [] for i in identities}
        start = time.time()
        bar = tqdm(
            range(s.iterations),
            desc=f"autoencoder_swap {'_'.join(identities)}",
            unit="it",
            disable=None if progress else True,
        )
        for _ in bar:
            optimizer.zero_grad(set_to_none=True)
            total = 0.0
            for identity in identities:
                warped, target = training_batch(faces[identity], s.batch_size, s.image_size, s.augment, rng)
                x, y = images_to_tensor(warped, self.device), images_to_tensor(target, self.device)
                pred = net(x, identity)
                loss = (pred - y).abs().mean()
                if s.ssim_weight > 0:
                    loss = loss + s.ssim_weight * (1.0 - ssim(pred, y))
                loss.backward()
                history[identity].append(float(loss.detach()))
                total += history[identity][-1]
            optimizer.step()
            bar.set_postfix(loss=f"{total:.4f}", refresh=False)
        seconds = time.time() - start
        tail = max(1, s.iterations // 10)
        self.train_log = {
            "identities": identities,
            "n_crops": {i: len(crops[i]) for i in identities},
            "iterations": s.iterations,
            "batch_size": s.batch_size,
            "seconds": round(seconds, 3),
            "seconds_per_iteration": round(seconds / s.iterations, 4),
            "loss_first": {i: history[i][0] for i in identities},
            "loss_final": {i: float(np.mean(history[i][-tail:])) for i in identities},
            "device": str(self.device),
        }
        return dict(self.train_log)

    def reconstruction_loss(self, crops: dict[str, list[np.ndarray]]) -> dict[str, float]:
        """Mean absolute error (pixel values in [0, 1]) of reconstructing each identity's
        un-augmented crops (centred coverage region at ``image_size``) through its own
        decoder, in eval mode: ``{identity: float}``.

        Raises:
            RuntimeError: no model yet; DataError: bad crops or an identity without decoder.
        """
        net = self._require_net()
        _check_crops(crops)
        unknown = [i for i in crops if i not in self.identities]
        if unknown:
            raise DataError(f"autoencoder_swap: no decoder for identities {unknown}; the model has {self.identities}")
        s = self.settings
        off = (int(round(s.image_size / s.coverage)) - s.image_size) // 2
        was_training = net.training
        net.eval()
        out = {}
        with torch.inference_mode():
            for identity, items in crops.items():
                faces = self._faces(items)[:, off : off + s.image_size, off : off + s.image_size]
                x = images_to_tensor(faces, self.device)
                out[identity] = float((net(x, identity) - x).abs().mean())
        net.train(was_training)
        return out

    # -- checkpoints ----------------------------------------------------------------------
    def _require_net(self) -> SwapAutoencoder:
        if self.net is None:
            raise RuntimeError("autoencoder_swap: no model; call fit() or load() first")
        return self.net

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model to ``path``: a dict with ``format``, ``generator``,
        ``identities``, ``settings`` (JSON-able), ``state_dict`` (CPU tensors) and
        ``train_log``, via ``torch.save``, atomically. Returns the path.

        Raises:
            RuntimeError: nothing trained or loaded yet.
        """
        net = self._require_net()
        payload = checkpoint_payload(
            self.name, self.identities, self.settings.model_dump(mode="json"), net.state_dict(), self.train_log
        )
        return save_generator_checkpoint(path, payload)

    def load(self, path: str | os.PathLike) -> None:
        """Load a checkpoint written by :meth:`save` (``torch.load(weights_only=True)``).

        Raises:
            DataError: unreadable file, another generator's checkpoint, settings that
                change the model differ from the current ones (:attr:`CHECKPOINT_KEYS`), or
                weights that do not fit the networks; the message names the file.
        """
        path = Path(path)
        ckpt = read_generator_checkpoint(path, self.name)
        self.check_settings_match(path, ckpt["settings"])
        if len(ckpt["identities"]) < 2:
            raise DataError(f"{path}: checkpoint must hold at least two identities, has {ckpt['identities']}")
        net = self.build(ckpt["identities"])
        try:
            net.load_state_dict(ckpt["state_dict"], strict=True)
        except RuntimeError as exc:
            self.net, self.identities = None, []
            raise DataError(
                f"{path}: weights do not fit the autoencoder_swap networks ({str(exc).splitlines()[0]})"
            ) from None
        self.train_log = dict(ckpt.get("train_log") or {})

    # -- conversion -------------------------------------------------------------------------
    def check_ready(self, target: str, source: str) -> None:
        """Raise ``RuntimeError`` without a model and :class:`DataError` if ``source`` has no
        decoder; sets train/eval mode from ``settings.eval_mode``."""
        net = self._require_net()
        if source not in self.identities:
            raise DataError(
                f"autoencoder_swap: no decoder for source identity {source!r}; the model has {self.identities}"
            )
        net.train(not self.settings.eval_mode)
        if self.use_low_precision:
            net.to(memory_format=torch.channels_last)

    def swap_crops(self, crops: list[np.ndarray], source: str) -> list[np.ndarray]:
        """Swap the faces of aligned crops, one network batch.

        Args:
            crops: ``(S, S, 3)`` uint8 RGB aligned crops of target faces (one size).
            source: identity whose decoder renders the faces.

        Returns:
            one ``(S, S, 3)`` uint8 per crop: the crop with its centred coverage region
            replaced by the decoded face (resized back from ``image_size``). Where
            :attr:`use_low_precision` (CUDA, CPUs with hardware bfloat16) the batch runs
            channels-last under bfloat16 autocast (within
            :data:`~forgebench.generators.Generator.LOW_PRECISION_TOLERANCE` grey
            levels of float32).
        """
        net = self._require_net()
        if not crops:
            return []
        s = self.settings
        x0, y0, x1, y1 = coverage_box(crops[0].shape[0], s.coverage)
        side = x1 - x0
        smalls = np.stack([resize_square(c[y0:y1, x0:x1], s.image_size, SYNTHESIS) for c in crops])
        with torch.inference_mode(), self.precision():
            pred = net(self.as_input(images_to_tensor(smalls, self.device)), source)
        faces = tensor_to_images(pred.float())
        out = []
        for crop, face in zip(crops, faces):
            crop = crop.copy()
            crop[y0:y1, x0:x1] = resize_square(face, side, SYNTHESIS)
            out.append(crop)
        return out

    def swap_crop(self, crop: np.ndarray, source: str) -> np.ndarray:
        """:meth:`swap_crops` of one ``(S, S, 3)`` uint8 crop."""
        return self.swap_crops([crop], source)[0]

    def convert_faces(self, frames: list[np.ndarray], faces: list, source: str) -> ConvertedBatch:
        """Swap the faces of several frames with ``source``'s decoder in one batch: aligned
        crops -> :meth:`swap_crops` -> :func:`~forgebench.blending.paste_face` per frame
        (hull mask limited to the coverage region, eroded and feathered, L*a*b* colour
        transfer, optional seamless clone). Frames ``(H, W, 3)`` uint8 in and out, with
        their ``(H, W)`` float32 blending masks."""
        crops = [face.crop(frame) for frame, face in zip(frames, faces)]
        swapped = self.swap_crops(crops, source)
        out, masks = [], []
        for frame, face, crop in zip(frames, faces, swapped):
            region = coverage_box(crop.shape[0], self.settings.coverage)
            fake, mask = paste_face(
                frame, crop, face.matrix, face.landmarks, self.settings.blend, region=region, return_mask=True
            )
            out.append(fake)
            masks.append(mask)
        return ConvertedBatch(out, masks)

    def convert_face(self, frame: np.ndarray, face, source: str) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`convert_faces` of one frame and its face. Returns the new ``(H, W, 3)``
        uint8 frame and its ``(H, W)`` float32 blending mask."""
        batch = self.convert_faces([frame], [face], source)
        return batch.frames[0], batch.masks[0]
