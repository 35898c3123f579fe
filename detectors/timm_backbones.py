"""ImageNet backbones from timm as binary forgery detectors (one logit, ``num_classes=1``).

Registered here (detector name -> timm ``architecture.tag``, input size, normalisation):

- ``efficientnet_b0`` -> ``efficientnet_b0.ra_in1k``, 224 px, ImageNet mean/std.
- ``efficientnet_b4`` -> ``tf_efficientnet_b4.aa_in1k``, 380 px (the EfficientNet paper's
  B4 resolution, and this tag's own), ImageNet mean/std: timm's port of the original
  TensorFlow B4 (AutoAugment) checkpoint with TF "same" padding, the checkpoint the
  ``efficientnet_pytorch`` B4 weights used by forgery baselines were also ported from.
- ``resnet50`` -> ``resnet50.tv_in1k``, 224 px, ImageNet mean/std: the torchvision
  weights, which torchvision-based forgery baselines start from; random init as
  torchvision's (``zero_init_last=False``).
- ``xception`` -> ``legacy_xception.tf_in1k`` (``xception41.tf_in1k`` in a timm without
  ``legacy_xception``), 299 px, mean = std = 0.5 (inputs mapped to [-1, 1]): the
  Keras-ported Xception of the FaceForensics++ baseline (Rössler et al., ICCV 2019).

Adding a backbone is one line at the bottom of this file::

    register_timm_backbone("convnext_tiny", "convnext_tiny.fb_in1k", paper="Liu et al., CVPR 2022")

``pretrained=True`` (the config's default) starts from the tag's ImageNet weights and
``pretrained=False`` from random initialisation; there is no fallback between the two: when
the weights file is not in the caches, or fails its hash check, building the detector
raises :class:`~forgebench.weights.WeightsUnavailable` with a one-line message naming the
files and the caches searched and the two fixes (put the file there, or set
``pretrained: false`` to train from scratch). The detector records where its weights came
from: ``weights_origin`` ``imagenet:<sha256 of the file>``, or ``none``.

Pretrained weights are never downloaded. They are looked up in the standard caches, where
``timm.create_model(..., pretrained=True)`` would put them: the Hugging Face hub cache
(``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``; files
``model.safetensors`` or ``pytorch_model.bin`` of the tag's ``hf_hub_id``) and the torch hub
cache (``$TORCH_HOME/hub/checkpoints/<file name of the tag's url>``). A file found there
is checked (a torch-hub file name's hash prefix must match its SHA-256, as
``torch.hub``'s ``check_hash``), recorded for ``provenance.json`` through
:func:`forgebench.weights.record_file`, and loaded by timm's own loader
(``pretrained_cfg_overlay={"file": ...}``, which reads ``.bin``/``.pth`` files with
``torch.load(weights_only=True)``), which also drops the 1000-class ImageNet head in
favour of the new one-logit head.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from forgebench.detectors._registry import Detector, DetectorCfg, register_detector, register_weights_check
from forgebench.errors import DataError
from forgebench.fileio import sha256_file
from forgebench.weights import WeightsUnavailable, record_file, weights_origin

__all__ = ["TimmDetector", "register_timm_backbone", "find_cached_weights", "hf_cache_dir", "pretrained_weights_file"]

HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class TimmDetector(Detector):
    """A timm classification backbone with a one-logit head.

    Input ``(N, 3, H, W)`` float RGB in [0, 1], normalised inside with the mean/std of
    the timm pretrained config (ImageNet for efficientnet_b0/b4 and resnet50, 0.5/0.5 for
    xception). Output logits ``(N,)``.

    Args:
        model: a timm model built with ``num_classes=1``.
        mean, std: normalisation of its pretrained config.
        min_input_size: smallest accepted input side (pixels).
    """

    def __init__(
        self, model: nn.Module, mean: tuple[float, ...], std: tuple[float, ...], min_input_size: int = 32
    ) -> None:
        super().__init__(mean=mean, std=std, min_input_size=min_input_size)
        self.model = model

    def forward_features_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised ``(N, 3, H, W)`` -> ``(N, 1)`` logits."""
        return self.model(x)


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache folder, read from the environment at call time."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "huggingface" / "hub"


def find_cached_weights(timm_name: str) -> tuple[Path | None, list[str]]:
    """Look for the pretrained weights of a timm model tag in the local caches, offline.

    Args:
        timm_name: ``architecture.tag``, e.g. ``"efficientnet_b0.ra_in1k"``.

    Returns:
        ``(path or None, places searched)``: the first weights file found (Hugging Face
        cache first, as timm prefers the hub, then ``$TORCH_HOME/hub/checkpoints``).

    Raises:
        DataError: timm has no pretrained config for ``timm_name``.
    """
    import timm  # heavy (about a second): imported on first use of a timm detector
    from huggingface_hub import try_to_load_from_cache  # comes with timm

    cfg = timm.models.get_pretrained_cfg(timm_name)
    if cfg is None:
        raise DataError(f"timm has no pretrained config {timm_name!r}")
    searched: list[str] = []
    if cfg.hf_hub_id:
        cache = hf_cache_dir()
        names = [cfg.hf_hub_filename] if getattr(cfg, "hf_hub_filename", None) else list(HF_WEIGHT_FILES)
        for fname in names:
            searched.append(f"{cache}/models--{cfg.hf_hub_id.replace('/', '--')}/snapshots/*/{fname}")
            found = try_to_load_from_cache(cfg.hf_hub_id, fname, cache_dir=cache)
            if isinstance(found, str) and Path(found).is_file():
                return Path(found), searched
    if cfg.url:
        path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(cfg.url).path)
        searched.append(str(path))
        if path.is_file():
            return path, searched
    return None, searched


def _hash_prefix_ok(path: Path, digest: str) -> bool:
    """torch hub's file-name convention ``<name>-<sha256 prefix>.<ext>``: when the name
    carries a hex prefix, the file's SHA-256 must start with it (as ``check_hash=True``)."""
    match = re.search(r"-([a-f0-9]{6,})\.", path.name)
    return match is None or digest.startswith(match.group(1))


def _caches() -> str:
    """The caches searched, for messages: the Hugging Face hub cache and the torch hub one."""
    return f"Hugging Face hub cache {hf_cache_dir()} (HF_HUB_CACHE / HF_HOME), torch hub cache {Path(torch.hub.get_dir()) / 'checkpoints'} (TORCH_HOME)"


def pretrained_weights_file(timm_name: str) -> tuple[Path, str]:
    """The verified ImageNet weights file of timm tag ``timm_name`` in the local caches.

    Returns:
        ``(path, sha256)``: the first file found (:func:`find_cached_weights`) and its full
        SHA-256 hex digest; a torch-hub file name's hash prefix must match it.

    Raises:
        WeightsUnavailable: no file in the caches, or one whose SHA-256 does not match its
            file name's hash prefix. One line naming the files looked for, the caches, and
            the fixes: put the file there, or set ``pretrained: false`` to train from scratch.
        DataError: timm has no pretrained config for ``timm_name``.
    """
    path, searched = find_cached_weights(timm_name)
    fix = (
        f"forgebench never downloads: put the file there (e.g. run timm.create_model('{timm_name}', pretrained=True) "
        "once on a machine with internet and copy the cache), or set pretrained: false in the detector's config "
        "section to train from scratch (random init, weights_origin none)"
    )
    if path is None:
        raise WeightsUnavailable(
            f"timm/{timm_name}",
            f"no pretrained weights file found: looked for {' and '.join(searched)} (caches: {_caches()}); {fix}",
        )
    digest = sha256_file(path)
    if not _hash_prefix_ok(path, digest):
        raise WeightsUnavailable(
            f"timm/{timm_name}",
            f"{path}: SHA-256 {digest[:12]}... does not match the hash prefix in its "
            f"file name (corrupt, truncated or other weights; not used); {fix}",
        )
    return path, digest


def _build(timm_name: str, pretrained: bool, min_input_size: int, **kwargs: Any) -> TimmDetector:
    """The detector of tag ``timm_name``: ImageNet weights from the cache (``pretrained=True``;
    :func:`pretrained_weights_file` raises when missing) or random init (``False``)."""
    import timm  # heavy (about a second): imported when a timm detector is first built

    if pretrained is not True and pretrained is not False:
        raise ValueError(f"{timm_name}: pretrained must be True or False, got {pretrained!r}")
    path, digest = pretrained_weights_file(timm_name) if pretrained else (None, None)
    if path is not None:
        record_file(f"timm/{timm_name}", path, source="cache")
        try:
            model = timm.create_model(
                timm_name, pretrained=True, num_classes=1, pretrained_cfg_overlay={"file": str(path)}, **kwargs
            )
        except Exception as exc:  # noqa: BLE001 - timm raises many types for a bad file
            raise DataError(
                f"{path}: cannot load pretrained weights for {timm_name} ({type(exc).__name__}: {exc})"
            ) from exc
        note = f"pretrained weights loaded from {path}"
    else:
        model = timm.create_model(timm_name, pretrained=False, num_classes=1, **kwargs)
        note = "random init (pretrained: false)"
    pcfg = model.pretrained_cfg
    det = TimmDetector(model, tuple(pcfg["mean"]), tuple(pcfg["std"]), min_input_size)
    det.pretrained_loaded = path is not None
    det.pretrained_note = note
    det.pretrained_file = str(path) if path is not None else None
    det.pretrained_sha256 = digest
    det.weights_origin = weights_origin("imagenet", digest)
    return det


def register_timm_backbone(
    name: str,
    timm_name: str | Callable[[], str],
    *,
    input_size: int | None = None,
    lr: float = 2e-4,
    paper: str = "",
    min_input_size: int = 32,
    model_kwargs: dict[str, Any] | None = None,
) -> None:
    """Register timm model ``timm_name`` (``architecture.tag``) as detector ``name``.

    The detector's :class:`DetectorCfg` (input size, mean/std) comes from timm's
    pretrained config of the tag, resolved on first use (``input_size`` overrides the
    size), with ``pretrained_weights=True``. The factory accepts ``pretrained`` (True:
    the ImageNet weights from the local cache, :class:`WeightsUnavailable` when missing;
    False: random init; see module doc) and timm keyword arguments (``drop_rate``,
    ``drop_path_rate``, ...).

    Args:
        name: detector name.
        timm_name: the timm tag, or a zero-argument callable returning it (called on
            first use, for a choice that depends on the installed timm).
        input_size: default square input side in pixels (else the tag's ``input_size``).
        lr: default learning rate.
        paper: the reference the architecture follows.
        min_input_size: smallest accepted input side in pixels.
        model_kwargs: default ``timm.create_model`` keyword arguments of this detector
            (keyword arguments given to the factory override them).

    Raises:
        ValueError: ``name`` already registered.
    """

    def tag() -> str:
        return timm_name() if callable(timm_name) else timm_name

    def cfg() -> DetectorCfg:
        import timm  # heavy: imported on first use of a timm detector

        pcfg = timm.models.get_pretrained_cfg(tag())
        if pcfg is None:
            raise DataError(f"detector {name}: timm has no pretrained config {tag()!r}")
        return DetectorCfg(
            name=name,
            input_size=int(input_size or pcfg.input_size[-1]),
            mean=tuple(pcfg.mean),
            std=tuple(pcfg.std),
            min_input_size=min_input_size,
            lr=lr,
            paper=paper,
            pretrained_source=f"timm:{tag()}",
            pretrained_weights=True,
        )

    def factory(pretrained: bool = False, **kwargs: Any) -> TimmDetector:
        return _build(tag(), pretrained, min_input_size, **{**(model_kwargs or {}), **kwargs})

    factory.__name__ = name
    shown = "the tag chosen at first use" if callable(timm_name) else timm_name
    factory.__doc__ = f"timm {shown} with a one-logit head (see :func:`register_timm_backbone`)."
    register_detector(factory, name=name, default_cfg=cfg)
    register_weights_check(name, lambda: pretrained_weights_file(tag()))


register_timm_backbone(
    "efficientnet_b0",
    "efficientnet_b0.ra_in1k",
    paper="Tan & Le, EfficientNet, ICML 2019; forgery baseline of DeepfakeBench (Yan et al. 2023)",
)


def _xception_tag() -> str:
    """timm tag of the FaceForensics++ Xception: ``legacy_xception.tf_in1k`` (the Keras
    ImageNet Xception ported to PyTorch in Cadene's pretrainedmodels, the network the
    FaceForensics++ code of Rössler et al. 2019 builds on) when the installed
    timm has ``legacy_xception``, else ``xception41.tf_in1k`` (timm's aligned Xception-41
    of the DeepLab-v3+ paper; the closest architecture with the same 299 px, 0.5/0.5
    normalisation). Imports timm: called on first use, not at import."""
    import timm  # heavy: imported on first use of a timm detector

    return "legacy_xception.tf_in1k" if timm.list_models("legacy_xception") else "xception41.tf_in1k"


register_timm_backbone(
    "efficientnet_b4",
    "tf_efficientnet_b4.aa_in1k",
    input_size=380,
    paper="Tan & Le, EfficientNet, ICML 2019; forgery baseline of DeepfakeBench (Yan et al. 2023)",
)
register_timm_backbone(
    "resnet50",
    "resnet50.tv_in1k",
    input_size=224,
    paper="He et al., Deep Residual Learning for Image Recognition, CVPR 2016",
    # torchvision's init (zero_init_residual=False): timm's default zeroes the last BN
    # scale of every block, so a randomly initialised block's residual branch gets no
    # gradient on the first step (its BN biases stay 0 under AdamW).
    model_kwargs={"zero_init_last": False},
)
register_timm_backbone(
    "xception",
    _xception_tag,
    input_size=299,
    paper="Chollet, Xception, CVPR 2017; FaceForensics++ baseline (Rössler et al., ICCV 2019)",
)
