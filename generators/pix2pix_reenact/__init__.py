"""``pix2pix_reenact``: landmark-driven face reenactment with pix2pix (Isola et al. 2017).

One model per *target* identity learns to translate a landmark sketch
(:func:`~forgebench.generators._sketch.render_sketch`) of the target's aligned face crop
into that crop. To reenact, the driving video's landmarks are retargeted onto the
target's face geometry (:func:`~forgebench.generators._sketch.retarget_landmarks`: mean
shape offset in the aligned frame), drawn as sketches, translated into target faces and
pasted into the target's frames with the shared blending of :mod:`forgebench.blending`
(the one ``autoencoder_swap`` uses). The fake ``<target>_<driving>.mp4`` has the
target's frames, frame rate and head placement, with the driving person's expressions.

Networks (:mod:`.model`): the authors' ``unet_256`` / ``unet_128`` U-Net with
dropout and the 70x70 PatchGAN on ``concat(sketch, image)``; parameter names follow their
implementation, so their ``*_net_G.pth`` files load (:func:`load_pix2pix_file`).

Training (the paper's recipe): loss GAN (``vanilla`` or ``lsgan``) + ``lambda_l1`` (100)
times L1, Adam lr 2e-4, betas (0.5, 0.999), weights N(0, 0.02), the learning rate
constant for the first half of the epochs and decaying linearly to 0 over the second
half, batch size 1, random jitter (resize by 286/256, random crop) and horizontal flip.
The last ``holdout`` share of the target's frames (in time) is held out of training for
the self-reenactment score (:meth:`Pix2PixReenact.reconstruct`).

Test-time mode: the paper keeps dropout and batch statistics on at test time
(``eval_mode: false``, the default here); ``eval_mode: true`` uses running statistics
and no dropout. It is recorded in the fakes manifest's settings and the quality tables.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import torch
from pydantic import Field
from tqdm.auto import tqdm

from forgebench.blending import BlendSettings, paste_face
from forgebench.errors import DataError
from forgebench.faces.align import invert_matrix, transform_points
from forgebench.generators._base import GeneratorSettings, ReenactmentGenerator
from forgebench.generators._checkpoint import checkpoint_payload, read_generator_checkpoint, save_generator_checkpoint
from forgebench.generators._conversion import ConvertedBatch, FrameRecord, VideoInput, VideoOutput, convert_frames
from forgebench.generators._driving import DrivingInput, track_driving
from forgebench.generators._registry import register_generator
from forgebench.generators._sketch import render_sketch, retarget_landmarks
from forgebench.generators.pix2pix_reenact.model import (  # noqa: F401  (UnetGenerator: public name of this module)
    GANLoss,
    NLayerDiscriminator,
    UnetGenerator,
    init_weights,
    load_pix2pix_file,
    load_pix2pix_state_dict,
    unet_for_size,
)
from forgebench.imaging import SYNTHESIS, images_to_tensor, resize_square, tensor_to_images
from forgebench.media import probe


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    return resize_square(image, size, SYNTHESIS)


def _to_tensor(images: np.ndarray, device) -> torch.Tensor:
    return images_to_tensor(images, device, "signed")


__all__ = ["Pix2PixReenact", "Pix2PixReenactSettings", "UnetGenerator", "NLayerDiscriminator", "load_pix2pix_file"]


class Pix2PixReenactSettings(GeneratorSettings):
    """Settings of ``pix2pix_reenact``; defaults are the paper's (``unet_256``, 200 epochs
    = 100 + 100 of linear decay, batch 1).

    Attributes:
        image_size: side of sketches and generated faces in pixels (power of two; 256 =
            ``unet_256``, 128 = ``unet_128``). Crops are resized from ``faces.crop_size``.
        ngf, ndf: filters of the first generator / discriminator layer (64 in the paper).
        use_dropout: dropout 0.5 in the U-Net's inner blocks.
        epochs: passes over the target's training frames; the learning rate decays
            linearly to 0 over the second half.
        batch_size: frames per step (1 in the paper).
        lr, beta1: Adam learning rate and beta1 (beta2 = 0.999).
        gan_mode: ``vanilla`` (cross-entropy, the paper) or ``lsgan`` (least squares).
        lambda_l1: weight of the L1 term.
        init_gain: standard deviation of the normal weight initialisation.
        jitter: random resize to ``image_size * 286 / 256`` and random crop back.
        flip: random horizontal flip of sketch and face together.
        holdout: share of the target's frames (the last ones in time) kept out of
            training for the self-reenactment score; 0 = train on all, no score.
        eval_mode: False = the paper's test-time behaviour (dropout and batch statistics
            on); True = eval mode.
        blend: how generated faces are pasted back (as ``autoencoder_swap``).
    """

    image_size: int = Field(default=256, ge=32, le=512)
    ngf: int = Field(default=64, ge=1)
    ndf: int = Field(default=64, ge=1)
    use_dropout: bool = True
    epochs: int = Field(default=200, ge=1)
    batch_size: int = Field(default=1, ge=1)
    lr: float = Field(default=2e-4, gt=0.0)
    beta1: float = Field(default=0.5, ge=0.0, lt=1.0)
    gan_mode: Literal["vanilla", "lsgan"] = "vanilla"
    lambda_l1: float = Field(default=100.0, ge=0.0)
    init_gain: float = Field(default=0.02, gt=0.0)
    jitter: bool = True
    flip: bool = True
    holdout: float = Field(default=0.2, ge=0.0, lt=1.0)
    eval_mode: bool = False
    blend: BlendSettings = BlendSettings()


@register_generator("pix2pix_reenact")
class Pix2PixReenact(ReenactmentGenerator):
    """Landmark-to-face reenactment with one pix2pix model per target (module docstring).

    After :meth:`fit` or :meth:`load`: ``net`` (the :class:`UnetGenerator`), ``identity``
    (the target it renders), ``mean_shape`` (``(68, 2)`` mean aligned landmarks of the
    target's training frames, crop pixels at ``crop_size``) and ``train_log``.
    """

    Settings = Pix2PixReenactSettings
    citation = (
        'Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks" (pix2pix), '
        "used as landmark-driven reenactment"
    )
    code_url = "https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix"
    notes = (
        "pix2pix is a general image-to-image method: here its networks (the authors' U-Net and 70x70 PatchGAN, "
        "their parameter names), losses and schedule translate landmark sketches of the aligned crops of "
        "forgebench.faces into one target's face; the driving landmarks are retargeted by the mean-shape offset "
        "in the aligned frame; the face is pasted back with the shared blending of forgebench.blending inside the "
        "hull of the target's and the drawn landmarks; the paper's test-time dropout and batch statistics are "
        "kept by default (`eval_mode: false`); the last `holdout` share of each target's frames is kept out of "
        "training for the self-reenactment score; conversion under bfloat16 autocast where the hardware "
        "supports it (`low_precision`)"
    )
    #: frames rendered per forward pass in eval mode (train mode: one, for its batch statistics).
    BATCH = 16
    CHECKPOINT_KEYS = (
        "image_size",
        "ngf",
        "ndf",
        "use_dropout",
        "epochs",
        "batch_size",
        "lr",
        "beta1",
        "gan_mode",
        "lambda_l1",
        "init_gain",
        "jitter",
        "flip",
        "holdout",
    )

    def __init__(self, settings=None, analyzer=None, device=None, seed: int = 0) -> None:
        super().__init__(settings, analyzer, device, seed)
        self.net: UnetGenerator | None = None
        self.identity: str | None = None
        self.mean_shape: np.ndarray | None = None
        self.crop_size: int = self.analyzer.settings.crop_size
        self.train_log: dict[str, Any] = {}

    # -- which model ----------------------------------------------------------------------
    def model_key(self, target: str, driving: str) -> str:
        """The target identity: one model per target serves every driving video."""
        return str(target)

    def model_identities(self, key: str) -> list[str]:
        """``[key]``: a model is trained on its target's frames only."""
        return [key]

    def evaluation_positions(self, identity: str, n_frames: int) -> list[int]:
        """The held-out frames: the last ``round(holdout * n_frames)`` positions."""
        n_hold = self.n_holdout(n_frames)
        return list(range(n_frames - n_hold, n_frames))

    def n_holdout(self, n_frames: int) -> int:
        """Frames held out of training among ``n_frames`` (0 when ``holdout`` is 0 or
        fewer than 2 frames)."""
        if self.settings.holdout <= 0 or n_frames < 2:
            return 0
        return min(n_frames - 1, max(1, int(round(self.settings.holdout * n_frames))))

    # -- networks -------------------------------------------------------------------------
    def build(self, identity: str):
        """Fresh seeded generator and discriminator (weights N(0, init_gain)) on the device;
        sets ``net`` and returns ``(net, discriminator)``."""
        s = self.settings
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.model_seed([identity]))
            net = init_weights(unet_for_size(s.image_size, s.ngf, s.use_dropout), s.init_gain)
            disc = init_weights(NLayerDiscriminator(6, s.ndf, 3), s.init_gain)
        self.net, self.identity = net.to(self.device), identity
        return self.net, disc.to(self.device)

    def sketches(self, landmarks_crop: list[np.ndarray] | np.ndarray) -> np.ndarray:
        """Sketches at ``image_size`` of ``(68, 2)`` crop-pixel landmarks (crop side
        ``crop_size``): ``(N, image_size, image_size, 3)`` uint8."""
        scale = self.settings.image_size / float(self.crop_size)
        return np.stack([render_sketch(np.asarray(p) * scale, self.settings.image_size) for p in landmarks_crop])

    def _training_pairs(self, crops: list[np.ndarray], landmarks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        n_train = len(crops) - self.n_holdout(len(crops))
        self.crop_size = int(crops[0].shape[0])
        faces = np.stack([_resize(c, self.settings.image_size) for c in crops[:n_train]])
        return self.sketches(landmarks[:n_train]), faces

    def _augment(self, sketch: np.ndarray, face: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        s = self.settings
        if s.jitter:
            big = int(round(s.image_size * 286 / 256))
            x, y = (int(v) for v in rng.integers(0, big - s.image_size + 1, size=2))
            sketch = cv2.resize(sketch, (big, big), interpolation=cv2.INTER_LINEAR)[
                y : y + s.image_size, x : x + s.image_size
            ]
            face = cv2.resize(face, (big, big), interpolation=cv2.INTER_CUBIC)[
                y : y + s.image_size, x : x + s.image_size
            ]
        if s.flip and rng.random() < 0.5:
            sketch, face = sketch[:, ::-1], face[:, ::-1]
        return sketch, face

    # -- training ---------------------------------------------------------------------------
    def fit(
        self,
        crops: dict[str, list[np.ndarray]],
        progress: bool = True,
        landmarks: dict[str, list[np.ndarray]] | None = None,
    ) -> dict[str, Any]:
        """Train a fresh model on one target's frames (pix2pix recipe, module docstring).

        Args:
            crops: ``{target: [(S, S, 3) uint8 aligned crops in frame order]}``, one identity.
            progress: tqdm bar (only on a terminal).
            landmarks: ``{target: [(68, 2) crop-pixel landmarks]}``, same order (required).

        Returns:
            training log: ``identity``, ``n_train``, ``n_holdout``, ``epochs``, ``steps``,
            ``seconds``, ``l1_first`` / ``l1_final`` (mean L1 in [0, 2] pixel units of the
            first / last epoch), ``loss_d_final``, ``device``.

        Raises:
            DataError: not exactly one identity, fewer than 2 crops, missing or misshaped
                landmarks, or crops that are not ``(S, S, 3)`` uint8.
        """
        if len(crops) != 1:
            raise DataError(f"pix2pix_reenact: a model is trained on one target identity, got {sorted(crops)}")
        identity, items = next(iter(crops.items()))
        points = (landmarks or {}).get(identity)
        self._check_inputs(identity, items, points)
        s = self.settings
        sketches, faces = self._training_pairs(items, points)
        self.mean_shape = np.mean(np.stack(points[: len(faces)]), axis=0)
        net, disc = self.build(identity)
        net.train()
        disc.train()
        opt_g = torch.optim.Adam(net.parameters(), lr=s.lr, betas=(s.beta1, 0.999))
        opt_d = torch.optim.Adam(disc.parameters(), lr=s.lr, betas=(s.beta1, 0.999))
        # Constant for the first half of the epochs, then linear decay to 0 (the authors' 'linear' policy).
        half = s.epochs // 2
        decay = lambda epoch: 1.0 - max(0, epoch - half) / float(s.epochs - half + 1)  # noqa: E731
        schedulers = [torch.optim.lr_scheduler.LambdaLR(o, decay) for o in (opt_g, opt_d)]
        gan, rng = GANLoss(s.gan_mode).to(self.device), np.random.default_rng(self.model_seed([identity]))
        epoch_l1, loss_d = [], float("nan")
        start = time.time()
        bar = tqdm(
            range(s.epochs), desc=f"pix2pix_reenact {identity}", unit="epoch", disable=None if progress else True
        )
        for _ in bar:
            order, l1s = rng.permutation(len(faces)), []
            for b in range(0, len(order), s.batch_size):
                pairs = [self._augment(sketches[k], faces[k], rng) for k in order[b : b + s.batch_size]]
                a = _to_tensor(np.stack([p[0] for p in pairs]), self.device)
                real = _to_tensor(np.stack([p[1] for p in pairs]), self.device)
                fake = net(a)
                disc.requires_grad_(True)
                opt_d.zero_grad(set_to_none=True)
                d_loss = 0.5 * (
                    gan(disc(torch.cat([a, fake.detach()], 1)), False) + gan(disc(torch.cat([a, real], 1)), True)
                )
                d_loss.backward()
                opt_d.step()
                disc.requires_grad_(False)
                opt_g.zero_grad(set_to_none=True)
                l1 = (fake - real).abs().mean()
                (gan(disc(torch.cat([a, fake], 1)), True) + s.lambda_l1 * l1).backward()
                opt_g.step()
                l1s.append(float(l1.detach()))
                loss_d = float(d_loss.detach())
            for sch in schedulers:
                sch.step()
            epoch_l1.append(float(np.mean(l1s)))
            bar.set_postfix(l1=f"{epoch_l1[-1]:.4f}", refresh=False)
        seconds = time.time() - start
        self.train_log = {
            "identity": identity,
            "n_train": int(len(faces)),
            "n_holdout": int(len(items) - len(faces)),
            "epochs": s.epochs,
            "steps": int(s.epochs * -(-len(faces) // s.batch_size)),
            "seconds": round(seconds, 3),
            "l1_first": epoch_l1[0],
            "l1_final": epoch_l1[-1],
            "loss_d_final": loss_d,
            "device": str(self.device),
        }
        return dict(self.train_log)

    def _check_inputs(self, identity: str, crops: list[np.ndarray], points: list[np.ndarray] | None) -> None:
        if not crops or len(crops) < 2:
            raise DataError(
                f"pix2pix_reenact: identity {identity!r} needs at least 2 face crops, got {len(crops or [])}"
            )
        if points is None or len(points) != len(crops):
            raise DataError(
                f"pix2pix_reenact: identity {identity!r} needs (68, 2) landmarks for each of its {len(crops)} crops"
            )
        size = crops[0].shape[0] if isinstance(crops[0], np.ndarray) else None
        for k, (crop, pts) in enumerate(zip(crops, points)):
            if not isinstance(crop, np.ndarray) or crop.dtype != np.uint8 or crop.shape != (size, size, 3):
                raise DataError(
                    f"pix2pix_reenact: crop {k} of {identity!r} must be (S, S, 3) uint8 like the first, got {getattr(crop, 'shape', type(crop))}"
                )
            if np.asarray(pts).shape != (68, 2):
                raise DataError(
                    f"pix2pix_reenact: landmarks {k} of {identity!r} must be (68, 2), got {np.asarray(pts).shape}"
                )

    # -- checkpoints ----------------------------------------------------------------------
    def _require_net(self) -> UnetGenerator:
        if self.net is None or self.mean_shape is None:
            raise RuntimeError("pix2pix_reenact: no model; call fit() or load() first")
        return self.net

    def save(self, path: str | os.PathLike) -> Path:
        """Write the generator weights, the target's mean shape and crop size, settings
        and training log (:meth:`Generator.checkpoint_payload`), atomically.

        Raises:
            RuntimeError: nothing trained or loaded yet.
        """
        net = self._require_net()
        extra = {"mean_shape": self.mean_shape.tolist(), "crop_size": int(self.crop_size)}
        payload = checkpoint_payload(
            self.name, [self.identity], self.settings.model_dump(mode="json"), net.state_dict(), self.train_log, **extra
        )
        return save_generator_checkpoint(path, payload)

    def load(self, path: str | os.PathLike) -> None:
        """Load a checkpoint written by :meth:`save` (``torch.load(weights_only=True)``).

        Raises:
            DataError: unreadable file, another generator's, settings that change the
                model differ, a missing mean shape, or weights that do not fit.
        """
        path = Path(path)
        ckpt = read_generator_checkpoint(path, self.name)
        self.check_settings_match(path, ckpt["settings"])
        mean = np.asarray(ckpt.get("mean_shape", []), dtype=np.float64)
        if len(ckpt["identities"]) != 1 or mean.shape != (68, 2) or not isinstance(ckpt.get("crop_size"), int):
            raise DataError(
                f"{path}: pix2pix_reenact checkpoint needs one identity, a (68, 2) mean_shape and crop_size"
            )
        net, _ = self.build(ckpt["identities"][0])
        load_pix2pix_state_dict(net, ckpt["state_dict"], path)
        self.mean_shape, self.crop_size = mean, int(ckpt["crop_size"])
        self.train_log = dict(ckpt.get("train_log") or {})

    # -- rendering ----------------------------------------------------------------------------
    def render(self, landmarks_crop: list[np.ndarray] | np.ndarray) -> np.ndarray:
        """Generate target faces for ``(68, 2)`` crop-pixel landmarks (already in the
        target's geometry): ``(N, crop_size, crop_size, 3)`` uint8 aligned crops.

        With ``eval_mode: false`` (the paper's test time) one frame per forward pass: batch
        statistics are the frame's own, as at the authors' test time with batch size 1;
        with ``eval_mode: true`` :attr:`BATCH` frames per pass (running statistics, the
        same result). Channels-last under bfloat16 autocast where :attr:`use_low_precision`
        (CUDA, CPUs with hardware bfloat16).
        """
        net = self._require_net()
        net.train(not self.settings.eval_mode)
        if self.use_low_precision:
            net.to(memory_format=torch.channels_last)
        sketches = self.sketches(landmarks_crop) if len(landmarks_crop) else np.zeros((0, 1, 1, 3), np.uint8)
        step = self.BATCH if self.settings.eval_mode else 1
        out = []
        with torch.no_grad(), self.precision():
            for start in range(0, len(sketches), step):
                pred = net(self.as_input(_to_tensor(sketches[start : start + step], self.device)))
                out += [_resize(im, self.crop_size) for im in tensor_to_images(pred.float(), "signed")]
        return np.stack(out) if out else np.zeros((0, self.crop_size, self.crop_size, 3), np.uint8)

    def reconstruct(self, identity: str, crops: list[np.ndarray], landmarks: list[np.ndarray]) -> list[np.ndarray]:
        """Self-reenactment: render the target's own frames from their own landmarks (the
        retargeting is the identity for the target itself). See :meth:`Generator.reconstruct`.

        Raises:
            DataError: the loaded model is not ``identity``'s.
        """
        self._require_net()
        if identity != self.identity:
            raise DataError(f"pix2pix_reenact: the loaded model renders {self.identity!r}, not {identity!r}")
        return [_resize(f, c.shape[0]) for f, c in zip(self.render(landmarks), crops)]

    # -- reenactment ----------------------------------------------------------------------------
    def check_ready(self, target: str, driving: str) -> None:
        """Raise before writing if the loaded model is not ``target``'s.

        Raises:
            RuntimeError: no model; DataError: the model renders another identity.
        """
        self._require_net()
        if target != self.identity:
            raise DataError(f"pix2pix_reenact: the loaded model renders {self.identity!r}, not target {target!r}")

    def generate(
        self, target: VideoInput, driving: DrivingInput, output: VideoOutput, progress: bool = True
    ) -> list[FrameRecord]:
        """Reenact the target video with the motion of the driving video; see
        :meth:`ReenactmentGenerator.generate` (the records' ``driving_landmarks`` are the
        retargeted driving landmarks each face was drawn to, in frame pixels).

        The frame loop is :func:`~forgebench.generators._conversion.convert_frames` (faces
        followed by :class:`~forgebench.faces.FaceTracker`). Per target frame with a face:
        the driving frame at the same time (:meth:`DrivingTrack.index_at`), its aligned
        landmarks retargeted onto the target's mean shape, the sketch, the generated crop
        (:meth:`render`, :attr:`BATCH` frames at a time), pasted with the target frame's
        alignment; the paste mask is the hull of the target's and the drawn landmarks, so
        no part of the original mouth or jaw outline stays visible; that blending mask goes to
        ``output.mask_path`` when set. Frames without a target face are written unchanged. Dropout noise is seeded per video.

        Raises:
            DataError: no face in the driving video, or the model is not the target's.
            MediaError: a video cannot be decoded.
        """
        self.check_ready(target.identity, driving.identity)
        track = track_driving(driving.path, self.analyzer, progress=progress)
        drv_mean = track.mean_shape()
        scale = self.crop_size / float(self.analyzer.settings.crop_size)
        fps = probe(target.path).fps

        def convert(frames: list[np.ndarray], faces: list, indices: list[int]) -> ConvertedBatch:
            drawn = [
                retarget_landmarks(track.landmarks_crop[track.index_at(i / fps)], drv_mean, self.mean_shape / scale)
                for i in indices
            ]
            crops = self.render([d * scale for d in drawn])
            out, masks, drawn_frames = [], [], []
            for frame, face, d, crop in zip(frames, faces, drawn, crops):
                drawn_frame = transform_points(d, invert_matrix(face.matrix))
                hull = np.concatenate([face.landmarks, drawn_frame])
                fake, mask = paste_face(
                    frame, _resize(crop, face.crop_size), face.matrix, hull, self.settings.blend, return_mask=True
                )
                out.append(fake)
                masks.append(mask)
                drawn_frames.append(drawn_frame)
            return ConvertedBatch(out, masks, drawn_frames)

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.model_seed([target.identity, driving.identity]))
            return convert_frames(
                target,
                output,
                self.analyzer,
                convert,
                batch_size=self.BATCH,
                desc=f"{self.name} {target.identity}<-{driving.identity}",
                progress=progress,
            )
