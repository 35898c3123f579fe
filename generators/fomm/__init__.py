"""``fomm``: the First Order Motion Model (Siarohin et al., NeurIPS 2019) as a generator.

A single image of the target (the first frame of the target video with a face; the
paper calls it the "source image") is animated with the motion of a driving video of
another identity, with no training on the target: the fake ``<target>_<driving>.mp4``
shows the target person making the driving person's head motion and expressions, one
frame per driving frame, at the driving frame rate. Both the target image and the
driving frames are aligned face crops from
:mod:`forgebench.faces` (the official demo's biggest complaint is uncropped inputs),
resized to ``image_size``; the animated face is pasted back into the target frame with
the shared blending (:mod:`forgebench.blending`: L*a*b* colour transfer, feathered mask)
inside the convex hull of the animated face's landmarks, like the swaps, so the fake has
no square seam that is not part of the method.

Two ways to get a model:

* ``checkpoint: <path>``: the authors' ``vox-cpk.pth.tar`` (or any file of that layout)
  loaded strictly by :func:`forgebench.generators.fomm.model.load_checkpoint` with the
  ``model_params`` of this generator's settings (default vox-256); nothing is trained.
* otherwise one model is trained on the *train split* identities' face crops by frame
  reconstruction within each video (a still frame animated by another frame of the same clip):
  multi-scale perceptual loss on VGG-19 features when the ``vgg19`` weights are in the
  weights registry, else a multi-scale L1 pyramid (recorded in the training log and in
  provenance.json), plus the equivariance losses on keypoints and Jacobians under random
  thin-plate-spline transforms, and optionally GAN + feature matching (``generator_gan`` > 0).

Networks and motion transfer: :mod:`.model`, :mod:`.motion`.
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field, field_validator

from forgebench.blending import BlendSettings, paste_face
from forgebench.config import Strict
from forgebench.errors import DataError
from forgebench.faces import FaceAnalyzer
from forgebench.faces.align import invert_matrix, transform_points
from forgebench.fileio import sha256_file
from forgebench.generators._base import GeneratorSettings, ReenactmentGenerator
from forgebench.generators._checkpoint import checkpoint_payload, read_generator_checkpoint, save_generator_checkpoint
from forgebench.generators._conversion import FrameRecord, VideoInput, VideoOutput
from forgebench.generators._driving import DrivingInput, track_driving
from forgebench.generators._registry import register_generator
from forgebench.generators._sketch import retarget_landmarks
from forgebench.generators.fomm.model import VOX256_MODEL_PARAMS, build_fomm, load_checkpoint  # noqa: F401  (public here)
from forgebench.generators.fomm.motion import DEFAULT_LOSS_WEIGHTS, VOX256_TRANSFORM_PARAMS, animate, best_frame
from forgebench.generators.fomm.train import train_fomm
from forgebench.imaging import SYNTHESIS, images_to_tensor, resize_square, tensor_to_images
from forgebench.media import iter_frames

__all__ = ["Fomm", "FommSettings", "load_checkpoint", "build_fomm"]


class TransformParams(Strict):
    """Random transform of the equivariance losses (authors' ``train_params.transform_params``):
    affine noise ``sigma_affine``, thin-plate-spline noise ``sigma_tps`` on a
    ``points_tps`` x ``points_tps`` control grid (vox-256: 0.05, 0.005, 5)."""

    sigma_affine: float = Field(default=0.05, ge=0.0)
    sigma_tps: float = Field(default=0.005, ge=0.0)
    points_tps: int = Field(default=5, ge=2)


class FommSettings(GeneratorSettings):
    """Settings of ``fomm``; defaults are the authors' vox-256 (model and training).

    Attributes:
        checkpoint: path of an official checkpoint (``vox-cpk.pth.tar``); when set, it is
            used as is and nothing is trained.
        model_params: the authors' ``model_params`` (keys identical to ``vox-256.yaml``:
            ``common_params``, ``kp_detector_params``, ``generator_params`` with
            ``dense_motion_params``, ``discriminator_params``); each section maps 1:1 to a
            constructor.
        image_size: side of the model's input/output in pixels (vox-256: 256).
        iterations, batch_size: training steps and (still, driving) frame pairs per step.
        lr_generator, lr_kp_detector, lr_discriminator: Adam learning rates (betas 0.5, 0.999).
        milestones: shares of ``iterations`` where the learning rates drop tenfold
            (vox-256: epochs 60 and 90 of 100).
        loss_weights: as the authors' ``train_params.loss_weights`` (plus ``pyramid_l1``,
            the weight of the L1 pyramid used when VGG-19 weights are unavailable).
        transform_params: random TPS transform of the equivariance losses.
        relative: relative motion transfer (``use_relative_movement`` and
            ``use_relative_jacobian``); False = absolute keypoints.
        adapt_movement_scale: scale the motion by the keypoint convex-hull areas.
        find_best_frame: start the relative motion from the driving frame whose
            normalised landmarks are closest to the target frame's, not from the first.
        crop_margin: crop margin of the target and driving crops (None = the run's
            ``faces.margin``; vox-style crops with hair and neck want about 1.8).
        eval_mode: run the networks in eval mode when animating (the authors do).
        blend: how the animated face is pasted back into the target frame (inside the hull
            of its landmarks; the swaps' defaults: colour transfer, eroded and feathered mask).
    """

    checkpoint: str | None = None
    model_params: dict[str, Any] = Field(default_factory=lambda: copy.deepcopy(VOX256_MODEL_PARAMS))
    image_size: int = Field(default=256, ge=32, le=1024)
    iterations: int = Field(default=100000, ge=1)
    batch_size: int = Field(default=40, ge=1)
    lr_generator: float = Field(default=2e-4, gt=0.0)
    lr_kp_detector: float = Field(default=2e-4, gt=0.0)
    lr_discriminator: float = Field(default=2e-4, gt=0.0)
    milestones: tuple[float, ...] = (0.6, 0.9)
    loss_weights: dict[str, Any] = Field(
        default_factory=lambda: {**copy.deepcopy(DEFAULT_LOSS_WEIGHTS), "discriminator_gan": 1.0}
    )
    transform_params: TransformParams = TransformParams(**VOX256_TRANSFORM_PARAMS)
    relative: bool = True
    adapt_movement_scale: bool = True
    find_best_frame: bool = False
    crop_margin: float | None = Field(default=None, ge=1.0, le=3.0)
    eval_mode: bool = True
    blend: BlendSettings = BlendSettings()

    @field_validator("model_params")
    @classmethod
    def _buildable(cls, v: dict[str, Any]) -> dict[str, Any]:
        build_fomm(v)  # raises ConfigError naming the bad key
        return v

    @field_validator("loss_weights")
    @classmethod
    def _known_losses(cls, v: dict[str, Any]) -> dict[str, Any]:
        known = {**DEFAULT_LOSS_WEIGHTS, "discriminator_gan": 1.0}
        unknown = sorted(set(v) - set(known))
        if unknown:
            raise ValueError(f"unknown loss weights {unknown}; known: {sorted(known)}")
        return {**known, **v}


@register_generator("fomm")
class Fomm(ReenactmentGenerator):
    """First Order Motion Model animation (see the module docstring).

    After :meth:`fit` or :meth:`load`: ``modules`` (``generator``, ``kp_detector`` and,
    when trained with a GAN, ``discriminator``), ``train_identities`` and ``train_log``.
    """

    Settings = FommSettings
    citation = 'Siarohin et al., "First Order Motion Model for Image Animation", NeurIPS 2019'
    code_url = "https://github.com/AliaksandrSiarohin/first-order-model"
    notes = (
        "the authors' networks, parameter names and vox-256 `model_params` (their checkpoint loads with "
        "strict=True and reproduces the official outputs: grid_sample with align_corners=True, the behaviour of "
        "the torch 1.0 they trained with); it animates the aligned crops of forgebench.faces, not VoxCeleb crops "
        "(`crop_margin` about 1.8 for vox-style crops), and the animated crop is pasted back into the target "
        "frame with the swaps' blending instead of being output as a crop; trained without the `vgg19` weights, "
        "a multi-scale L1 pyramid replaces the perceptual loss (provenance.json says so); conversion under "
        "bfloat16 autocast where the hardware supports it (`low_precision`)"
    )
    #: frame t animates the target's first face frame, so it is not compared pixel by pixel
    #: with target frame t (another moment of the video).
    replaces_target_frames = False
    quality_reference = (
        "no pixel comparison (frame t animates the target's first frame, not target frame t); boundary: "
        "not applicable (it animates one still frame, no target frame t is replaced); identity: the target, "
        "the animated face (ID retrieval: target); landmarks (AKD, landmark dist.): the driving landmarks "
        "retargeted onto the target (the motion)"
    )
    CHECKPOINT_KEYS = (
        "checkpoint",
        "model_params",
        "image_size",
        "iterations",
        "batch_size",
        "lr_generator",
        "lr_kp_detector",
        "lr_discriminator",
        "milestones",
        "loss_weights",
        "transform_params",
    )
    KEY = "fomm"
    #: driving frames animated per forward pass on CUDA.
    BATCH = 16
    #: driving frames per forward pass on CPU: measured with benchmarks/fomm_speed.py on
    #: 2 cores (bfloat16 channels-last), batch 1 and 4 run at 2.75 frames/s and batch 16 at
    #: 2.23 (the larger activations leave the CPU caches), so CPU conversion uses 4.
    CPU_BATCH = 4

    def __init__(self, settings=None, analyzer=None, device=None, seed: int = 0) -> None:
        super().__init__(settings, analyzer, device, seed)
        margin = self.settings.crop_margin
        faces = self.analyzer.settings
        self.crop_analyzer = (
            self.analyzer
            if margin in (None, faces.margin)
            else FaceAnalyzer(faces.model_copy(update={"margin": margin}))
        )
        self.modules: dict[str, Any] | None = None
        self.train_identities: list[str] = []
        self.train_log: dict[str, Any] = {}

    # -- which model ----------------------------------------------------------------------
    def model_key(self, target: str, driving: str) -> str:
        """``"fomm"``: one model animates every (target image, driving video) pair."""
        return self.KEY

    def model_identities(self, key: str) -> list[str]:
        """The train split's identities (:meth:`set_splits`); none with an official checkpoint."""
        if self.settings.checkpoint:
            return []
        return sorted(i for i, s in self.split_of.items() if s == "train")

    def evaluation_positions(self, identity: str, n_frames: int) -> list[int]:
        """Every frame of identities whose videos were not used for training (all of them
        with an official checkpoint): the paper's reconstruction of held-out videos."""
        trained = self.train_identities or self.model_identities(self.KEY)
        return [] if identity in trained else list(range(n_frames))

    # -- training -------------------------------------------------------------------------
    def build(self) -> dict[str, Any]:
        """Fresh modules from ``model_params``, seeded, on the device."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.model_seed([self.KEY]))
            modules = build_fomm(self.settings.model_params)
        if not self.settings.loss_weights.get("generator_gan"):
            modules.pop("discriminator", None)
        self.modules = {k: m.to(self.device) for k, m in modules.items()}
        return self.modules

    def _load_official(self) -> dict[str, Any]:
        path = Path(self.settings.checkpoint).expanduser()
        modules = load_checkpoint(path, self.settings.model_params)
        self.modules = {k: m.to(self.device) for k, m in modules.items() if k != "discriminator"}
        return self.modules

    def fit(self, crops: dict[str, list[np.ndarray]], progress: bool = True, landmarks=None) -> dict[str, Any]:
        """Train on face crops of the train identities (reconstruction within each video),
        or load the official ``checkpoint`` when one is set (``crops`` then unused).

        Args:
            crops: ``{identity: [(S, S, 3) uint8 aligned crops of one video]}``; each
                identity needs at least 2 crops (the still and the driving frame differ).
            progress: tqdm bar.
            landmarks: unused.

        Returns:
            training log: ``identities``, ``iterations``, ``seconds``, ``loss_first``,
            ``loss_final``, ``reconstruction_loss`` (``perceptual (vgg19 <sha256>)`` or
            ``pyramid_l1 (vgg19 unavailable: <reason>)``), ``device``; with a checkpoint:
            ``official_checkpoint`` and its ``sha256``.

        Raises:
            DataError: no identity with 2+ crops, bad crops, or an unreadable checkpoint.
        """
        if self.settings.checkpoint:
            self._load_official()
            path = Path(self.settings.checkpoint).expanduser()
            self.train_log = {"official_checkpoint": str(path), "sha256": sha256_file(path), "device": str(self.device)}
            return dict(self.train_log)
        usable = {i: c for i, c in crops.items() if len(c) >= 2}
        if not usable:
            raise DataError(
                f"fomm: training needs at least one identity with 2+ face crops, got {[(i, len(c)) for i, c in crops.items()]}"
            )
        modules = self.build()
        start = time.time()
        log = train_fomm(modules, usable, self.settings, self.device, self.model_seed([self.KEY, "train"]), progress)
        self.train_identities = sorted(usable)
        self.train_log = {
            "identities": self.train_identities,
            **log,
            "seconds": round(time.time() - start, 3),
            "device": str(self.device),
        }
        return dict(self.train_log)

    # -- checkpoints ----------------------------------------------------------------------
    def _require_modules(self) -> dict[str, Any]:
        if self.modules is None:
            raise RuntimeError("fomm: no model; call fit() or load() first")
        return self.modules

    def save(self, path: str | os.PathLike) -> Path:
        """Write the trained modules (state_dict keys ``<module>.<param>``), or, for an
        official checkpoint, only its path and SHA-256 (it is re-read from there).

        Raises:
            RuntimeError: nothing trained or loaded yet.
        """
        modules = self._require_modules()
        state = (
            {}
            if self.settings.checkpoint
            else {f"{n}.{k}": v for n, m in modules.items() for k, v in m.state_dict().items()}
        )
        payload = checkpoint_payload(
            self.name, self.train_identities, self.settings.model_dump(mode="json"), state, self.train_log
        )
        return save_generator_checkpoint(path, payload)

    def load(self, path: str | os.PathLike) -> None:
        """Load a checkpoint written by :meth:`save` (``torch.load(weights_only=True)``).

        Raises:
            DataError: unreadable file, other settings, an official checkpoint whose SHA-256
                changed since, or weights that do not fit ``model_params``.
        """
        path = Path(path)
        ckpt = read_generator_checkpoint(path, self.name)
        self.check_settings_match(path, ckpt["settings"])
        log = dict(ckpt.get("train_log") or {})
        if self.settings.checkpoint:
            official = Path(self.settings.checkpoint).expanduser()
            if official.is_file() and log.get("sha256") != sha256_file(official):
                raise DataError(
                    f"{path}: made with {official} of SHA-256 {log.get('sha256')}, which has changed; delete it to redo the fakes"
                )
            self._load_official()
        else:
            modules = self.build()
            for name, module in modules.items():
                prefix = f"{name}."
                try:
                    module.load_state_dict(
                        {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)},
                        strict=True,
                    )
                except RuntimeError as exc:
                    raise DataError(
                        f"{path}: weights do not fit the fomm model_params ({str(exc).splitlines()[0]})"
                    ) from None
        self.train_identities, self.train_log = list(ckpt["identities"]), log

    def provenance(self) -> dict[str, Any]:
        """Facts for ``provenance.json``: eval mode, which reconstruction loss trained the
        model, and the official checkpoint with its SHA-256 when one is used."""
        keys = ("reconstruction_loss", "official_checkpoint", "sha256")
        return {**super().provenance(), **{k: self.train_log[k] for k in keys if k in self.train_log}}

    # -- animation --------------------------------------------------------------------------
    def _tensor(self, crops: list[np.ndarray]) -> torch.Tensor:
        """``[(S, S, 3) uint8]`` -> ``(N, 3, image_size, image_size)`` float in [0, 1] (CPU)."""
        return images_to_tensor(np.stack([resize_square(c, self.settings.image_size, SYNTHESIS) for c in crops]))

    def _animate(
        self, target: np.ndarray, driving: list[np.ndarray], relative: bool, reference: int, crop_size: int
    ) -> list[np.ndarray]:
        """Animate one ``(S, S, 3)`` uint8 crop of the target's frame (the FOMM paper's
        "source image") with driving crops, :attr:`BATCH` (CUDA) or
        :attr:`CPU_BATCH` driving frames per forward pass (bfloat16 autocast where
        :attr:`use_low_precision`); returns uint8
        crops of side ``crop_size``."""
        modules = self._require_modules()
        for m in modules.values():
            m.train(not self.settings.eval_mode)
        with self.precision():
            out = animate(
                self._tensor([target]),
                self._tensor(driving),
                modules,
                relative=relative,
                adapt_movement_scale=self.settings.adapt_movement_scale,
                reference_frame=reference,
                batch_size=self.BATCH if self.device.type == "cuda" else self.CPU_BATCH,
            )
        return [resize_square(im, crop_size, SYNTHESIS) for im in tensor_to_images(out.float())]

    def reconstruct(self, identity: str, crops: list[np.ndarray], landmarks: list[np.ndarray]) -> list[np.ndarray]:
        """The paper's reconstruction: the first crop is the still frame animated, every crop (the first
        included) drives it with absolute keypoints (official ``reconstruction.py``); see
        :meth:`Generator.reconstruct`."""
        return self._animate(crops[0], crops, relative=False, reference=0, crop_size=crops[0].shape[0])

    def _target_face(self, video: Path, max_frames: int | None):
        """First frame of ``video`` with a face, and that face (crop analyzer)."""
        for _, frame in iter_frames(video, max_frames=max_frames):
            face = self.crop_analyzer.detect(frame)
            if face is not None:
                return frame, face
        raise DataError(f"{video}: no face found in the target video to animate (the FOMM paper's source image)")

    def generate(
        self, target: VideoInput, driving: DrivingInput, output: VideoOutput, progress: bool = True
    ) -> list[FrameRecord]:
        """Animate the first frame with a face of the target video (the FOMM paper's
        "source image", showing the target identity) with the driving video; see
        :meth:`ReenactmentGenerator.generate`. The fake has one frame per driving frame, at
        the driving frame rate and the target frame's size: that frame with the animated
        face pasted inside the hull of its landmarks (:meth:`_animated_landmarks`, colour
        transfer and feathering of ``blend``), whose blending mask goes to ``output.mask_path``
        when set (a mask against the still target frame, which every fake frame replaces). ``target.max_frames`` bounds the frames searched
        for the target face. The records give the target face (``landmarks``, ``matrix``)
        and, as ``driving_landmarks``, where relative motion transfer moves the target's
        landmarks (target + driving frame - reference frame, in the aligned frame).

        Raises:
            DataError: no face in the target or driving video. MediaError: a video cannot
            be decoded.
        """
        self._require_modules()
        frame, face = self._target_face(Path(target.path), target.max_frames)
        track = track_driving(driving.path, self.crop_analyzer, keep_crops=True, progress=progress)
        target_points = face.landmarks_crop
        reference = best_frame(target_points, track.landmarks_crop) if self.settings.find_best_frame else 0
        size = face.crop_size
        animated = self._animate(face.crop(frame), track.crops, self.settings.relative, reference, size)
        moved = retarget_landmarks(track.landmarks_crop, track.landmarks_crop[reference], target_points)
        inverse = invert_matrix(face.matrix)
        records = []
        with output.open(track.fps) as (writer, mask_writer):
            for t, crop in enumerate(animated):
                hull = transform_points(self._animated_landmarks(crop, moved[t]), inverse)
                fake, mask = paste_face(frame, crop, face.matrix, hull, self.settings.blend, return_mask=True)
                writer.write(fake)
                if mask_writer is not None:
                    mask_writer.write(mask)
                records.append(FrameRecord.of(t, face, transform_points(moved[t], inverse)))
        return records

    def _animated_landmarks(self, crop: np.ndarray, expected: np.ndarray) -> np.ndarray:
        """The 68 landmarks ``(68, 2)`` (crop pixels) of the animated face in ``crop``: the
        landmark model run on the box of ``expected`` (where relative motion transfer moves
        the target's landmarks), so no detector pass is needed; ``expected`` itself when
        that box leaves the crop. Their hull is the paste mask, as for the swaps."""
        lo, hi = expected.min(axis=0), expected.max(axis=0)
        size = crop.shape[0]
        if lo.min() < 0 or hi.max() > size - 1 or (hi - lo).min() < 8:
            return expected
        return self.crop_analyzer.landmarks(crop, np.concatenate([lo, hi]))
