"""The generator interface: what a fake-video method must implement.

A generator is one class per method (``@register_generator(name)``,
:mod:`forgebench.generators._registry`), in the style of faceswap's train/convert plugins
and timm's model registry, of one of two kinds:

- :class:`SwapGenerator` (``role = "source"``): the *source* identity's face is pasted
  into the *target* video (autoencoder face swap, FaceSwap, FaceShifter);
- :class:`ReenactmentGenerator` (``role = "driving"``): the *target* identity keeps its
  face and follows the motion of a *driving* video of another identity (pix2pix
  reenactment, Face2Face, NeuralTextures, FOMM animation); it gets that video as a
  :class:`~forgebench.generators.DrivingInput` of its own.

The generate stage (:mod:`forgebench.stages.generate`) uses exactly this interface::

    gen = get_generator(name)(settings, analyzer, device, seed)
    gen.set_splits(split_of)
    key = gen.model_key(target, other)                # which model a fake needs
    gen.fit(crops_of(gen.model_identities(key)), landmarks=...); gen.save(path)   # or gen.load(path)
    records = gen.generate(target_input, source, output)            # swaps
    records = gen.generate(target_input, driving_input, output)     # reenactment

A generator never detects faces itself: it gets them from the
:class:`~forgebench.faces.FaceAnalyzer` it is given, and it never sees a run directory:
its inputs are crops, videos and settings, its outputs the files it is told to write.
Checkpoint files: :mod:`forgebench.generators._checkpoint`; the per-frame conversion loop:
:mod:`forgebench.generators._conversion`.

Each generator keeps its metadata beside it, as timm keeps a model's pretrained cfg next
to the model: its ``Settings`` (with the method's defaults) and the class attributes
``citation``, ``code_url`` and ``notes`` (what differs from the paper), gathered with the
registered name and the kind (``swap`` / ``reenactment``) into one
:class:`GeneratorInfo` by :meth:`Generator.info`
(:func:`forgebench.generators.get_generator_info` by name).
"""

from __future__ import annotations

import abc
import json
import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import BaseModel, ValidationError

from forgebench.config import Strict
from forgebench.errors import ConfigError
from forgebench.faces import FaceAnalyzer
from forgebench.generators._checkpoint import (
    check_settings_match,
    checkpoint_payload,
    read_generator_checkpoint,
    save_generator_checkpoint,
)
from forgebench.generators._conversion import ConvertedBatch, FrameRecord, VideoInput, VideoOutput, convert_frames
from forgebench.generators._driving import DrivingInput
from forgebench.hardware import cpu_native_bf16

__all__ = ["GeneratorSettings", "GeneratorInfo", "Generator", "SwapGenerator", "ReenactmentGenerator"]


class GeneratorSettings(Strict):
    """Settings every generator has (subclasses add their own; unknown keys are errors).

    The codec of the written fakes is not a generator setting: it is the run's
    ``data.crf`` (in the :class:`~forgebench.generators.VideoOutput`), the same
    for real and fake videos.

    Attributes:
        eval_mode: run the networks in eval mode when converting (dropout off, batch-norm
            running statistics); recorded because it changes the output.
        low_precision: convert channels-last under bfloat16 autocast (outputs within the
            generator's ``LOW_PRECISION_TOLERANCE`` grey levels of float32) on CUDA and on
            CPUs with hardware bfloat16 (:func:`forgebench.hardware.cpu_native_bf16`);
            other CPUs convert in float32. ``provenance.json`` records which ran
            (``precision``).
    """

    eval_mode: bool = True
    low_precision: bool = True


@dataclass(frozen=True)
class GeneratorInfo:
    """What a registered generator is (its metadata, available without building it), as
    :meth:`Generator.info` gathers it from the class.

    Attributes:
        name: registered name (configs, fake-set folders, video ids).
        kind: ``swap`` (:class:`SwapGenerator`: the source identity's face pasted into the
            target video) or ``reenactment`` (:class:`ReenactmentGenerator`: the target
            follows a driving video); ``""`` for a class deriving from neither.
        citation: the paper (or, for a method without one, the project) it follows.
        code_url: the official code it follows.
        settings_cls: its :class:`GeneratorSettings` subclass; the defaults are the method's own.
        notes: what differs from the paper and the official code.
    """

    name: str
    kind: Literal["swap", "reenactment", ""]
    citation: str
    code_url: str
    settings_cls: type[GeneratorSettings]
    notes: str

    def defaults(self) -> dict[str, Any]:
        """The settings with every default written out (JSON types), as a run's
        ``config.yaml`` stores them."""
        return json.loads(self.settings_cls().model_dump_json())

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form for tables and JSON: the fields, ``settings_cls`` as its dotted
        name, plus ``defaults``."""
        return {
            "name": self.name,
            "kind": self.kind,
            "citation": self.citation,
            "code_url": self.code_url,
            "settings_cls": f"{self.settings_cls.__module__}.{self.settings_cls.__qualname__}",
            "notes": self.notes,
            "defaults": self.defaults(),
        }


class Generator(abc.ABC):  # noqa: B024 - a plugin overrides convert_face or generate, either one: no single abstract method
    """Base class of fake-video generators (use :class:`SwapGenerator` or
    :class:`ReenactmentGenerator`).

    Subclasses set ``Settings`` (a :class:`GeneratorSettings` subclass whose defaults are
    the method's own) and implement their kind's conversion (:meth:`SwapGenerator.convert_face`
    or :meth:`ReenactmentGenerator.generate`). A generator that trains a model also
    implements :meth:`model_key`, :meth:`model_identities`, :meth:`fit`, :meth:`save` and
    :meth:`load`; the defaults are those of a generator with nothing to train. Its
    metadata, :attr:`citation`, :attr:`code_url` and :attr:`notes` (:meth:`info`), sits
    next to ``Settings`` in its class.

    Args:
        settings: a ``Settings`` instance or a mapping validated into one (``None`` =
            defaults).
        analyzer: the face analyzer giving detections, landmarks and aligned crops (crop
            size and margin of the run's ``faces`` settings); ``None`` = defaults.
        device: torch device for the networks (``None`` = CPU).
        seed: seed of weight initialisation and training randomness.

    Raises:
        ConfigError: ``settings`` has an unknown key or a wrong value.
    """

    name: ClassVar[str] = ""
    #: ``swap`` or ``reenactment``: set by :class:`SwapGenerator` / :class:`ReenactmentGenerator`.
    kind: ClassVar[Literal["swap", "reenactment", ""]] = ""
    #: the paper (or project) the method follows; see :class:`GeneratorInfo`.
    citation: ClassVar[str] = ""
    #: URL of the official code the method follows.
    code_url: ClassVar[str] = ""
    #: what differs from the paper and the official code.
    notes: ClassVar[str] = ""
    #: the second identity of a fake: ``source`` (pasted in) or ``driving`` (the motion).
    role: ClassVar[Literal["source", "driving"]] = "source"
    #: fake frame t replaces target frame t (same place, same moment), so pixel metrics
    #: (SSIM, PSNR, LPIPS) against that frame measure the forgery; False for an animation
    #: of one still frame, whose frame t shows another moment than target frame t.
    replaces_target_frames: ClassVar[bool] = True
    #: what the score stage compares this generator's fakes with (the report's quality note);
    #: a per-video metric that does not apply is stated as "<metric>: not applicable (<why>)".
    quality_reference: ClassVar[str] = ""
    Settings: ClassVar[type[GeneratorSettings]] = GeneratorSettings
    #: settings keys that must equal the checkpoint's when loading (architecture and
    #: training schedule); the others (blending, ...) only affect conversion.
    CHECKPOINT_KEYS: ClassVar[tuple[str, ...]] = ()
    #: largest difference (grey levels, 0..255) between a crop generated under bfloat16
    #: autocast and in float32 that ``low_precision`` is allowed to make
    #: (``tests/test_low_precision.py`` checks it on the CPU).
    LOW_PRECISION_TOLERANCE: ClassVar[int] = 4

    def __init__(
        self,
        settings: BaseModel | Mapping[str, Any] | None = None,
        analyzer: FaceAnalyzer | None = None,
        device: torch.device | str | None = None,
        seed: int = 0,
    ) -> None:
        self.settings = self._validate_settings(settings)
        self.analyzer = analyzer if analyzer is not None else FaceAnalyzer()
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.seed = int(seed)
        self.split_of: dict[str, str] = {}

    @classmethod
    def info(cls) -> GeneratorInfo:
        """The generator's metadata (:class:`GeneratorInfo`), from its class attributes."""
        return GeneratorInfo(
            name=cls.name,
            kind=cls.kind,
            citation=cls.citation,
            code_url=cls.code_url,
            settings_cls=cls.Settings,
            notes=cls.notes,
        )

    @classmethod
    def _validate_settings(cls, settings: BaseModel | Mapping[str, Any] | None) -> GeneratorSettings:
        if isinstance(settings, cls.Settings):
            return settings
        data = settings.model_dump() if isinstance(settings, BaseModel) else dict(settings or {})
        try:
            return cls.Settings.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"generators.{cls.name}: invalid settings:\n{exc}") from None

    # -- what to train --------------------------------------------------------------------
    # The defaults are those of a generator with nothing to train (a pretrained network
    # loaded in ``__init__``, or a method without a model): one model key for every pair,
    # no training identities, ``fit`` a no-op, and a checkpoint holding only the settings.
    # A generator that trains overrides all five.
    def model_key(self, target: str, other: str) -> str:
        """Name of the model the fake of ``target`` with ``other`` (its source or driving
        identity, see :attr:`role`) needs; the stage stores it as ``<key>.pt``.

        Default: the generator's name (one model, or none, for every pair)."""
        return self.name or type(self).__name__.lower()

    def model_identities(self, key: str) -> list[str]:
        """Identities whose crops :meth:`fit` needs for model ``key``. Default: none."""
        return []

    def set_splits(self, split_of: Mapping[str, str]) -> None:
        """Tell the generator the run's ``{identity: split}`` before :meth:`model_key` is
        called (a generator trained across identities, like ``fomm``, trains on the train
        split only). Default: remembered as ``self.split_of``."""
        self.split_of = dict(split_of)

    def fit(
        self,
        crops: dict[str, list[np.ndarray]],
        progress: bool = True,
        landmarks: dict[str, list[np.ndarray]] | None = None,
    ) -> dict[str, Any]:
        """Train on aligned face crops ``{identity: [(S, S, 3) uint8 RGB, ...]}`` (in frame
        order) and, for generators that need them, their ``(68, 2)`` landmarks in crop
        pixels (``landmarks``, same order); returns a training log (plain numbers and
        strings).

        Default: nothing to train; the log says so (``{"trained": False}``)."""
        return {"trained": False}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the trained model to ``path``
        (:func:`forgebench.generators._checkpoint.save_generator_checkpoint`).

        Default: a checkpoint with the settings and no tensors, so a resumed run knows
        which settings the fakes were made with."""
        payload = checkpoint_payload(self.name, [], self.settings.model_dump(mode="json"), {}, {"trained": False})
        return save_generator_checkpoint(path, payload)

    def load(self, path: str | os.PathLike) -> None:
        """Read a model written by :meth:`save`
        (:func:`forgebench.generators._checkpoint.read_generator_checkpoint`).

        Default: check the file is this generator's and that its :attr:`CHECKPOINT_KEYS`
        settings equal the current ones.

        Raises:
            DataError: missing, unreadable or foreign checkpoint, or other settings.
        """
        ckpt = read_generator_checkpoint(path, self.name)
        self.check_settings_match(Path(path), ckpt["settings"])

    @property
    def use_low_precision(self) -> bool:
        """bfloat16 autocast and channels-last in conversion: ``low_precision`` on CUDA or on
        a CPU with hardware bfloat16 (tests set ``force_low_precision`` to check the
        tolerance on any CPU)."""
        if not self.settings.low_precision:
            return False
        native = self.device.type == "cuda" or (self.device.type == "cpu" and cpu_native_bf16())
        return native or bool(getattr(self, "force_low_precision", False))

    def precision(self):
        """The autocast context of conversion: bfloat16 when :attr:`use_low_precision`, else
        a no-op (float32)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_low_precision)

    def as_input(self, x: torch.Tensor) -> torch.Tensor:
        """A network input in the conversion's memory format (channels-last with
        :attr:`use_low_precision`, as it is)."""
        return x.contiguous(memory_format=torch.channels_last) if self.use_low_precision else x

    def model_seed(self, identities: list[str]) -> int:
        """Seed for one model (or one video), derived from the run seed and the identities
        it concerns, never from the order in which models are made."""
        return int(np.random.SeedSequence([self.seed, zlib.crc32("\0".join(identities).encode())]).generate_state(1)[0])

    def provenance(self) -> dict[str, Any]:
        """Facts about this generator for ``provenance.json`` (``eval_mode``, ``precision``
        of conversion: ``bfloat16`` or ``float32``; subclasses add what else changes their
        output, e.g. weights files)."""
        return {
            "eval_mode": bool(self.settings.eval_mode),
            "precision": "bfloat16" if self.use_low_precision else "float32",
        }

    # -- self-reenactment / reconstruction protocol -----------------------------------
    def evaluation_positions(self, identity: str, n_frames: int) -> list[int]:
        """Positions (into an identity's frame-ordered face crops) of the frames that the
        generator's reconstruction protocol scores (held out of its training), or ``[]``
        when this identity is not evaluated. Default: none."""
        return []

    def reconstruct(self, identity: str, crops: list[np.ndarray], landmarks: list[np.ndarray]) -> list[np.ndarray]:
        """Re-render an identity's own held-out frames from their driving signal (the
        reconstruction / self-reenactment protocol of reenactment papers).

        Args:
            identity: whose model renders (the model of ``model_key(identity, identity)``
                must be loaded).
            crops: ``(S, S, 3)`` uint8 aligned crops of the frames, in frame order.
            landmarks: their ``(68, 2)`` landmarks in crop pixels.

        Returns:
            one ``(S, S, 3)`` uint8 generated crop per input crop.

        Raises:
            NotImplementedError: the generator has no reconstruction protocol.
        """
        raise NotImplementedError(f"{type(self).__name__} has no reconstruction protocol")

    @classmethod
    def has_reconstruction(cls) -> bool:
        """Whether this generator implements :meth:`reconstruct` (a face swap does not)."""
        return cls.reconstruct is not Generator.reconstruct

    # -- conversion -----------------------------------------------------------------------
    def check_ready(self, target: str, other: str) -> None:  # noqa: B027 - an optional hook, empty by default
        """Raise before any output is written if the fake of ``target`` with ``other``
        cannot be made (e.g. no trained model, or no decoder for the source). Default:
        nothing."""

    def check_settings_match(self, path: Path, saved: Mapping[str, Any]) -> None:
        """Compare :attr:`CHECKPOINT_KEYS` of the current settings with a checkpoint's.

        Raises:
            DataError: a key differs; the message names the file, the key and both values.
        """
        check_settings_match(path, saved, self.settings.model_dump(mode="json"), self.CHECKPOINT_KEYS)


class SwapGenerator(Generator):
    """A face swap: the ``source`` identity's face replaces the target's in every frame.

    Subclasses implement :meth:`convert_face` (one face of one frame), and may override
    :meth:`convert_faces` to run their network on a batch of frames; the shared
    :meth:`generate` runs the per-frame loop of :func:`forgebench.generators._conversion.convert_frames`.
    """

    role: ClassVar[Literal["source", "driving"]] = "source"
    kind: ClassVar[Literal["swap", "reenactment", ""]] = "swap"
    quality_reference: ClassVar[str] = (
        "pixels: the target frame it replaced; identity: the source pasted in (ID "
        "retrieval: source) and the target; landmarks (AKD, landmark dist.): the target's "
        "(a swap keeps the target's expression)"
    )
    #: frames converted together (one network batch) by :meth:`generate`.
    BATCH: ClassVar[int] = 16

    @abc.abstractmethod
    def convert_face(self, frame: np.ndarray, face: Any, source: str) -> tuple[np.ndarray, np.ndarray]:
        """Replace the face ``face`` (a :class:`~forgebench.faces.Face` of ``frame``) of the
        ``(H, W, 3)`` uint8 RGB ``frame`` with ``source``'s; returns the new frame (same
        shape and dtype) and the ``(H, W)`` float32 blending mask in ``[0, 1]`` it was
        pasted with (:func:`forgebench.blending.paste_face` with ``return_mask=True``)."""

    def convert_faces(self, frames: list[np.ndarray], faces: list[Any], source: str) -> ConvertedBatch:
        """:meth:`convert_face` of several frames (default: one by one), as a
        :class:`~forgebench.generators.ConvertedBatch` of frames and masks; a generator with
        a network overrides it to run one batch.

        Raises:
            TypeError: ``convert_face`` returned something else than ``(frame, mask)`` (a
                plugin written for the interface before masks returned the frame alone)."""
        pairs = [self.convert_face(frame, face, source) for frame, face in zip(frames, faces)]
        if not all(isinstance(p, tuple) and len(p) == 2 for p in pairs):
            raise TypeError(
                f"generator {self.name or type(self).__name__}: convert_face must return (frame, mask), "
                "the new frame and the (H, W) blending mask it pasted with (forgebench.blending.paste_face "
                "with return_mask=True)"
            )
        return ConvertedBatch([f for f, _ in pairs], [m for _, m in pairs])

    def generate(
        self, target: VideoInput, source: str, output: VideoOutput, progress: bool = True
    ) -> list[FrameRecord]:
        """Write the fake of ``source`` on every frame of the target video.

        Every frame (up to ``target.max_frames``) is decoded, its face followed
        (:class:`~forgebench.faces.FaceTracker`) and converted with :meth:`convert_faces`,
        :attr:`BATCH` frames at a time; frames without a face are written unchanged, at the
        target's frame rate and size, and the blending masks to ``output.mask_path`` when
        set (see :func:`~forgebench.generators._conversion.convert_frames`).

        Returns:
            one :class:`~forgebench.generators.FrameRecord` per written frame.

        Raises:
            MediaError: the target video cannot be decoded.
            RuntimeError / DataError: from :meth:`check_ready` (no model, unknown source).
        """
        self.check_ready(target.identity, source)
        return convert_frames(
            target,
            output,
            self.analyzer,
            lambda frames, faces, _indices: self.convert_faces(frames, faces, source),
            batch_size=self.BATCH,
            desc=f"{self.name} {target.identity}<-{source}",
            progress=progress,
        )


class ReenactmentGenerator(Generator):
    """Reenactment or animation: the target keeps its identity and follows the motion of
    a driving video of another identity.

    Subclasses implement :meth:`generate` with the target's video and the
    :class:`~forgebench.generators.DrivingInput`.
    """

    role: ClassVar[Literal["source", "driving"]] = "driving"
    kind: ClassVar[Literal["swap", "reenactment", ""]] = "reenactment"
    quality_reference: ClassVar[str] = (
        "pixels: the target frame it replaced; identity: the target (ID retrieval: target; "
        "driving = identity leaking from the motion); landmarks (AKD, landmark dist.): the "
        "driving landmarks it was drawn to"
    )

    @abc.abstractmethod
    def generate(
        self, target: VideoInput, driving: DrivingInput, output: VideoOutput, progress: bool = True
    ) -> list[FrameRecord]:
        """Write the fake of ``target`` driven by ``driving``.

        Returns:
            one :class:`~forgebench.generators.FrameRecord` per written frame,
            whose ``driving_landmarks`` say where the face was drawn to.

        Raises:
            MediaError: a video cannot be decoded. DataError: no face in a video, or no
            model for the target.
        """
