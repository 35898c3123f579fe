"""Generator plugin base: the registry, the ``Generator`` interface, checkpoint files and
the per-frame conversion loop shared by face-swap style generators.

A generator is one class per method, registered by name (``@register_generator``), in
the style of faceswap's train/convert plugins and timm's model registry. The pipeline
(``forgebench.pipeline.stage_generate``) uses exactly this interface:

    gen = get_generator(name)(settings, analyzer, device, seed)
    key = gen.model_key(target, source)           # which checkpoint a fake needs
    gen.fit({i: crops for i in gen.model_identities(key)}); gen.save(path)   # or gen.load(path)
    frames = gen.generate(target_video, target, source, out_mp4, max_frames, metadata, crf=...)

A generator never detects faces itself: it gets them from the
:class:`~forgebench.faces.FaceAnalyzer` it is given.
"""

from __future__ import annotations

import abc
import os
import zlib
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping

import numpy as np
import pandas as pd
from pydantic import BaseModel, ValidationError

from forgebench.config import Strict
from forgebench.errors import ConfigError, DataError
from forgebench.registry import Registry

CHECKPOINT_FORMAT = "forgebench.generator/1"

GENERATORS: Registry[type["Generator"]] = Registry("generator")


def register_generator(name: str) -> Callable[[type["Generator"]], type["Generator"]]:
    """Class decorator registering a :class:`Generator` subclass under ``name`` (the name
    used in configs, fake-set folders and video ids); sets the class's ``name``.

    Raises:
        ValueError: ``name`` is already registered.
    """

    def deco(cls: type[Generator]) -> type[Generator]:
        cls.name = name
        return GENERATORS.register(name)(cls)

    return deco


def get_generator(name: str) -> type["Generator"]:
    """The generator class registered as ``name``.

    Raises:
        KeyError: unknown name; the message lists the registered generators.
    """
    return GENERATORS.get(name)


def list_generators() -> list[str]:
    """Sorted names of the registered generators."""
    return GENERATORS.names()


class GeneratorSettings(Strict):
    """Settings every generator has (subclasses add their own; unknown keys are errors).

    The codec of the written fakes is not a generator setting: it is the run's
    ``data.crf`` (passed to :meth:`Generator.generate`), the same for real and fake videos.

    Attributes:
        eval_mode: run the networks in eval mode when converting (dropout off, batch-norm
            running statistics); recorded because it changes the output.
    """

    eval_mode: bool = True


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write a checkpoint dict (tensors + plain metadata) with ``torch.save``, atomically
    (``<path>.partial`` then rename), creating the parent folder. Returns the path."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | os.PathLike, generator: str) -> dict[str, Any]:
    """Read a generator checkpoint with ``torch.load(weights_only=True)`` (no pickled code)
    onto the CPU and check its format and generator name.

    Returns:
        the checkpoint dict: ``format``, ``generator``, ``identities`` (list[str]),
        ``settings`` (dict), ``state_dict`` (dict[str, Tensor]), ``train_log`` (dict).

    Raises:
        DataError: missing or unreadable file, not a forgebench generator checkpoint, or
            one made by another generator; the message names the file.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: generator checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt / foreign files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DataError(f"{path}: cannot read generator checkpoint ({type(exc).__name__}: {first[:300]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise DataError(f"{path}: not a forgebench generator checkpoint (format {CHECKPOINT_FORMAT!r} expected)")
    if ckpt.get("generator") != generator:
        raise DataError(f"{path}: checkpoint of generator {ckpt.get('generator')!r}, not {generator!r}")
    for key, kind in (("identities", list), ("settings", dict), ("state_dict", dict)):
        if not isinstance(ckpt.get(key), kind):
            raise DataError(f"{path}: checkpoint has no valid {key!r} entry")
    if not all(isinstance(i, str) for i in ckpt["identities"]):
        raise DataError(f"{path}: checkpoint identities must be strings")
    if not all(isinstance(v, torch.Tensor) for v in ckpt["state_dict"].values()):
        raise DataError(f"{path}: checkpoint state_dict must hold only tensors")
    return ckpt


def _floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, np.float64).reshape(-1)]


def frame_row(frame_index: int, face: Any | None, driving_landmarks: np.ndarray | None = None) -> dict[str, Any]:
    """One row of ``fakes/<generator>/frames/<video>.parquet`` (docs/architecture.md):
    ``frame_index``, ``has_face``, ``landmarks`` (136 floats, frame pixels, x0 y0 x1 y1 ...;
    empty if no face), ``matrix`` (6 floats, frame -> crop affine row major; empty if
    no face) and ``driving_landmarks`` (136 floats, frame pixels: the landmarks a
    reenactment generator drew the face to, i.e. the retargeted driving landmarks; empty
    for face swaps, whose expression is the target's own)."""
    if face is None:
        return {"frame_index": int(frame_index), "has_face": False, "landmarks": [], "matrix": [], "driving_landmarks": []}
    return {
        "frame_index": int(frame_index),
        "has_face": True,
        "landmarks": _floats(face.landmarks),
        "matrix": _floats(face.matrix),
        "driving_landmarks": [] if driving_landmarks is None else _floats(driving_landmarks),
    }


FRAME_COLUMNS = ["frame_index", "has_face", "landmarks", "matrix", "driving_landmarks"]


def frames_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """DataFrame of :func:`frame_row` rows with the contract's dtypes (``frame_index``
    int64, ``has_face`` bool, ``landmarks``/``matrix``/``driving_landmarks`` lists of float)."""
    table = pd.DataFrame(rows, columns=FRAME_COLUMNS)
    return table.astype({"frame_index": "int64", "has_face": "bool"})


class Generator(abc.ABC):
    """Base class of fake-video generators.

    Subclasses set ``Settings`` (a :class:`GeneratorSettings` subclass whose defaults are
    the method's own) and implement :meth:`model_key`, :meth:`model_identities`,
    :meth:`fit`, :meth:`save` and :meth:`load`, and either :meth:`convert_face` (one face
    of one frame) or :meth:`generate`; the shared :meth:`generate` (decode every frame,
    detect, convert, encode) may be overridden.

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
    Settings: ClassVar[type[GeneratorSettings]] = GeneratorSettings
    #: settings keys that must equal the checkpoint's when loading (architecture and
    #: training schedule); the others (blending, ...) only affect conversion.
    CHECKPOINT_KEYS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, settings: BaseModel | Mapping[str, Any] | None = None, analyzer=None, device=None, seed: int = 0) -> None:
        import torch

        from forgebench.faces import FaceAnalyzer

        self.settings = self._validate_settings(settings)
        self.analyzer = analyzer if analyzer is not None else FaceAnalyzer()
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.seed = int(seed)
        self.split_of: dict[str, str] = {}

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
    @abc.abstractmethod
    def model_key(self, target: str, source: str) -> str:
        """Name of the checkpoint the fake of ``source`` on ``target`` needs (the file
        ``fakes/<generator>/models/<key>.pt``)."""

    @abc.abstractmethod
    def model_identities(self, key: str) -> list[str]:
        """Identities whose crops :meth:`fit` needs for checkpoint ``key``."""

    def set_splits(self, split_of: Mapping[str, str]) -> None:
        """Tell the generator the run's ``{identity: split}`` before :meth:`model_key` is
        called (a generator trained across identities, like ``fomm``, trains on the train
        split only). Default: remembered as ``self.split_of``."""
        self.split_of = dict(split_of)

    @abc.abstractmethod
    def fit(
        self,
        crops: dict[str, list[np.ndarray]],
        progress: bool = True,
        landmarks: dict[str, list[np.ndarray]] | None = None,
    ) -> dict[str, Any]:
        """Train on aligned face crops ``{identity: [(S, S, 3) uint8 RGB, ...]}`` (in frame
        order) and, for generators that need them, their ``(68, 2)`` landmarks in crop
        pixels (``landmarks``, same order); returns a training log (plain numbers and
        strings)."""

    @abc.abstractmethod
    def save(self, path: str | os.PathLike) -> Path:
        """Write the trained model to ``path`` (see :func:`save_checkpoint`)."""

    @abc.abstractmethod
    def load(self, path: str | os.PathLike) -> None:
        """Read a model written by :meth:`save` (see :func:`load_checkpoint`)."""

    def model_seed(self, identities: list[str]) -> int:
        """Seed for one model, derived from the run seed and the identities it is trained on
        (models train independently, so each has its own stream)."""
        return int(np.random.SeedSequence([self.seed, zlib.crc32("\0".join(identities).encode())]).generate_state(1)[0])

    def checkpoint_payload(self, identities: list[str], state_dict: Mapping[str, Any], train_log: dict, **extra: Any) -> dict[str, Any]:
        """The dict :meth:`save` writes (:func:`save_checkpoint`): ``format``,
        ``generator``, ``identities``, ``settings`` (JSON-able), ``state_dict`` (detached
        CPU copies), ``train_log`` and any ``extra`` plain entries."""
        return {
            "format": CHECKPOINT_FORMAT,
            "generator": self.name,
            "identities": list(identities),
            "settings": self.settings.model_dump(mode="json"),
            "state_dict": {k: v.detach().cpu().clone() for k, v in state_dict.items()},
            "train_log": dict(train_log),
            **extra,
        }

    def provenance(self) -> dict[str, Any]:
        """Facts about this generator for ``provenance.json`` (``eval_mode``; subclasses add
        what else changes their output, e.g. weights files)."""
        return {"eval_mode": bool(self.settings.eval_mode)}

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

    # -- conversion -----------------------------------------------------------------------
    def check_ready(self, target: str, source: str) -> None:
        """Raise before any output is written if ``(target, source)`` cannot be converted
        (e.g. no trained model, or no decoder for ``source``). Default: nothing."""

    def convert_face(self, frame: np.ndarray, face: Any, target: str, source: str) -> np.ndarray:
        """Replace the face ``face`` (a :class:`~forgebench.faces.Face` of ``frame``) of the
        ``(H, W, 3)`` uint8 RGB ``frame``; returns the new frame, same shape and dtype.
        Used by the shared :meth:`generate`; a generator that overrides :meth:`generate`
        (e.g. one driven by another video) need not implement it.

        Raises:
            NotImplementedError: the subclass implements neither this nor ``generate``.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement convert_face() or override generate()")

    def check_settings_match(self, path: Path, saved: Mapping[str, Any]) -> None:
        """Compare :attr:`CHECKPOINT_KEYS` of the current settings with a checkpoint's.

        Raises:
            DataError: a key differs; the message names the file, the key and both values.
        """
        current = self.settings.model_dump(mode="json")
        diffs = [
            f"{k}: checkpoint {saved.get(k)!r}, settings {current[k]!r}"
            for k in self.CHECKPOINT_KEYS
            if saved.get(k) != current[k]
        ]
        if diffs:
            raise DataError(
                f"{path}: checkpoint was trained with other settings ({'; '.join(diffs)}); "
                "delete it to retrain, or use the settings it was made with"
            )

    def generate(
        self,
        target_video: str | os.PathLike,
        target: str,
        source: str,
        out_path: str | os.PathLike,
        max_frames: int | None = None,
        metadata: dict[str, str] | None = None,
        progress: bool = True,
        crf: int = 23,
        driving_video: str | os.PathLike | None = None,
    ) -> pd.DataFrame:
        """Write the fake of ``source`` on every frame of ``target_video``.

        Every frame (up to ``max_frames``) is decoded, its largest face detected and
        converted with :meth:`convert_face`; frames without a face are written unchanged.
        The fake is H.264 (:class:`forgebench.media.VideoWriter`, written atomically) at
        the target's frame rate and size, with ``metadata`` as container metadata (pass
        :func:`forgebench.media.synthetic_tag`).

        Args:
            target_video: the real video whose faces are replaced.
            target, source: identity ids (source = identity pasted in / driving).
            out_path: the ``.mp4`` to write.
            max_frames: convert at most this many frames from the start (``None`` = all).
            metadata: container metadata.
            progress: show a tqdm bar (only on a terminal).
            crf: x264 CRF (23 = FaceForensics++ c23); the pipeline passes ``data.crf``.
            driving_video: the ``source`` identity's (re-encoded, duration-capped) real
                video, for generators driven by another video's motion; face swaps
                ignore it.

        Returns:
            the per-frame table of docs/architecture.md (``frame_index``, ``has_face``,
            ``landmarks``, ``matrix``), one row per written frame.

        Raises:
            MediaError: the target video cannot be decoded.
            RuntimeError / DataError: from :meth:`check_ready` (no model, unknown source).
        """
        from tqdm.auto import tqdm

        from forgebench.media import VideoWriter, iter_frames, probe

        target_video = Path(target_video)
        self.check_ready(target, source)
        info = probe(target_video)
        total = info.n_frames if max_frames is None else min(info.n_frames, int(max_frames))
        rows = []
        crf = int(crf)
        with VideoWriter(out_path, fps=info.fps, crf=crf, metadata=metadata) as writer:
            frames = iter_frames(target_video, max_frames=max_frames)
            bar = tqdm(frames, total=total, desc=f"{self.name} {target}<-{source}", unit="frame", disable=None if progress else True)
            for index, frame in bar:
                face = self.analyzer.detect(frame)
                out = frame if face is None else self.convert_face(frame, face, target, source)
                writer.write(out)
                rows.append(frame_row(index, face))
        return frames_table(rows)
