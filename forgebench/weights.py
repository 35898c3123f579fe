"""The one registry of pretrained weights files used by metrics and models.

Every metric or model that needs pretrained weights names an entry here (name, file
name, URL, SHA-256, description) and gets the file from :func:`resolve_weights`. Nothing
is downloaded: the development and CI machines have no internet. The URL is kept for
provenance and for the message that tells a user where to get the file.

Resolution order for entry ``name``:

1. a local-path override, the environment variable ``FORGEBENCH_WEIGHTS_<NAME>``
   (``NAME`` upper-cased, non-alphanumerics as ``_``) holding the file's path;
2. the standard torch hub cache, ``torch.hub.get_dir()/checkpoints/<file>``
   (``$TORCH_HOME/hub/checkpoints``, where ``torch.hub.load_state_dict_from_url`` puts
   downloads, so a machine that ran pytorch-fid or lpips once already has the files).

A file whose SHA-256 does not match the entry is never used: it is reported unavailable
with the reason. Each resolved file (path, SHA-256, source) is remembered for
``provenance.json`` (:func:`used_weights`). Hash check in the style of
``torch.hub.load_state_dict_from_url(check_hash=True)``.

A detector's ``metrics.json`` names where its weights started from, ``weights_origin``
(:func:`weights_origin`: ``imagenet:<sha256>``, ``deepfakebench:<sha256>``,
``checkpoint:<sha256>`` or ``none`` for random initialisation), a column of every
detection table (:func:`origin_of_document` derives it for older documents).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forgebench.errors import ForgebenchError
from forgebench.fileio import sha256_file


@dataclass(frozen=True)
class WeightsEntry:
    """One registered weights file.

    Attributes:
        name: registry name (``pt_inception``, ``alexnet``, ...).
        file: file name in the torch hub cache (the name the upstream code downloads to).
        url: where the upstream code downloads it from (provenance only; never fetched).
        sha256: expected SHA-256 hex digest, lower case. Either the full 64 hex digits or
            a prefix (the hash prefix torch hub puts in file names, which
            ``torch.hub`` checks the same way: the file's digest must start with it).
        description: what the weights are and which code uses them.
    """

    name: str
    file: str
    url: str
    sha256: str
    description: str

    def hash_matches(self, digest: str) -> bool:
        """Whether a file's full SHA-256 hex ``digest`` matches this entry (full hash
        equality, or prefix match when only the torch hub prefix is known)."""
        return bool(self.sha256) and digest.lower().startswith(self.sha256.lower())


@dataclass(frozen=True)
class WeightsFile:
    """A resolved weights file.

    Attributes:
        name: registry name.
        path: the file on disk.
        sha256: its full SHA-256 hex digest (recorded in ``provenance.json``).
        source: ``override`` (``FORGEBENCH_WEIGHTS_<NAME>``) or ``cache`` (torch hub cache).
    """

    name: str
    path: Path
    sha256: str
    source: str


class WeightsUnavailable(ForgebenchError):
    """Pretrained weights cannot be had (missing file, hash mismatch, unreadable file).

    Attributes:
        name: registry name of the weights.
        reason: where it looked and how to provide the file.
    """

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"weights {name!r} unavailable: {reason}")

    def __reduce__(self):
        """Picklable with both arguments (the error may come back from a worker process)."""
        return (type(self), (self.name, self.reason))


REGISTRY: dict[str, WeightsEntry] = {}
_USED: dict[str, dict[str, str]] = {}


def register_weights(entry: WeightsEntry) -> WeightsEntry:
    """Add ``entry`` to the registry and return it.

    Raises:
        ValueError: the name is already registered with different facts.
    """
    old = REGISTRY.get(entry.name)
    if old is not None and old != entry:
        raise ValueError(f"weights {entry.name!r} are already registered as {old}")
    REGISTRY[entry.name] = entry
    return entry


# Full SHA-256 digests of these files are not reproduced here from memory; the entries
# keep the hash prefix that torch hub puts in the file name (and checks the same way:
# the file's SHA-256 must start with it). Replace by the full digest when verified.
register_weights(
    WeightsEntry(
        name="pt_inception",
        file="pt_inception-2015-12-05-6726825d.pth",
        url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
        sha256="6726825d",  # torch hub prefix, see comment above
        description="pytorch-fid's FID Inception-v3 (TensorFlow FID weights of Heusel et al. 2017, ported)",
    )
)
register_weights(
    WeightsEntry(
        name="alexnet",
        file="alexnet-owt-7be5be79.pth",
        url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        sha256="7be5be79",  # torch hub prefix, see comment above
        description="torchvision AlexNet (ImageNet) backbone of LPIPS net='alex' (Zhang et al. 2018)",
    )
)
register_weights(
    WeightsEntry(
        name="vgg16",
        file="vgg16-397923af.pth",
        url="https://download.pytorch.org/models/vgg16-397923af.pth",
        sha256="397923af",  # torch hub prefix, see comment above
        description="torchvision VGG-16 (ImageNet) backbone of LPIPS net='vgg' (Zhang et al. 2018)",
    )
)
register_weights(
    WeightsEntry(
        name="vgg19",
        file="vgg19-dcbb9e9d.pth",
        url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
        sha256="dcbb9e9d",  # torch hub prefix, see comment above
        description="torchvision VGG-19 (ImageNet), features of the FOMM perceptual loss (Siarohin et al. 2019)",
    )
)
register_weights(
    WeightsEntry(
        name="fan2d",
        file="2DFAN4-11f355bf06.pth.tar",
        url="https://www.adrianbulat.com/downloads/python-fan/2DFAN4-11f355bf06.pth.tar",
        sha256="11f355bf06",  # hash prefix in the file name, see comment above
        description="face-alignment's 2D-FAN-4 68-point landmark network, a plain FAN(4) state_dict "
        "(Bulat & Tzimiropoulos 2017); used by faces.landmarks: fan",
    )
)
#: Registry name of the ArcFace weights (identity embeddings: the identity check, the
#: identity metrics), here so callers can ask for their status without importing torch.
ARCFACE_WEIGHTS = "arcface_r100_glint360k"
register_weights(
    WeightsEntry(
        name=ARCFACE_WEIGHTS,
        file="glint360k_cosface_r100_fp16_0.1.pth",
        url="https://github.com/deepinsight/insightface/tree/master/recognition/arcface_torch",
        sha256="5f631718e783448b41631e15073bdc622eaeef56509bbad4e5085f23bd32db83",  # full digest (not re-hashed here: offline)
        description="insightface arcface_torch model zoo's glint360k_cosface_r100_fp16_0.1/backbone.pth, renamed: "
        "an IResNet-100 state dict trained on Glint360K with the CosFace margin loss and Partial FC, sample "
        "rate 0.1 (An et al. 2021; Deng et al. 2019); used by metrics.arcface (identity embeddings)",
    )
)


def get_entry(name: str) -> WeightsEntry:
    """The registry entry ``name``.

    Raises:
        KeyError: unknown name; the message lists the registered names.
    """
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown weights {name!r}; registered: {', '.join(sorted(REGISTRY))}") from None


def list_weights() -> list[str]:
    """Sorted names of the registered weights."""
    return sorted(REGISTRY)


def override_variable(name: str) -> str:
    """Environment variable of the local-path override of ``name``:
    ``FORGEBENCH_WEIGHTS_<NAME>`` (upper case, non-alphanumerics as ``_``)."""
    return "FORGEBENCH_WEIGHTS_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def cache_dir() -> Path:
    """The torch hub checkpoint cache, ``torch.hub.get_dir()/checkpoints``
    (``$TORCH_HOME/hub/checkpoints``, by default ``$XDG_CACHE_HOME/torch`` or ``~/.cache/torch``;
    read at each call so a changed ``TORCH_HOME`` counts).

    When torch is already imported, ``torch.hub.get_dir()`` answers (it also honours
    ``torch.hub.set_dir``). Otherwise the same rule is applied here without importing torch:
    the extract stage asks for the ArcFace weights' status and would pay 2 s of torch import
    for a path.
    """
    if "torch" in sys.modules:
        import torch.hub  # already loaded: free

        return Path(torch.hub.get_dir()) / "checkpoints"
    cache_home = os.environ.get("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    torch_home = os.environ.get("TORCH_HOME", os.path.join(cache_home, "torch"))
    return Path(os.path.expanduser(torch_home)) / "hub" / "checkpoints"


def _how_to_provide(entry: WeightsEntry, var: str, cache: Path) -> str:
    return (
        f"no download is attempted (offline); fetch {entry.url} on a machine with internet and copy it to "
        f"{cache / entry.file}, or set {var}=/path/to/{entry.file}"
    )


def resolve_weights(name: str) -> WeightsFile:
    """Find the weights file of registry entry ``name`` without downloading.

    Looks at the override ``FORGEBENCH_WEIGHTS_<NAME>`` first (if set, only there), then
    at ``$TORCH_HOME/hub/checkpoints/<file>``. The file's SHA-256 must match the entry.
    A resolved file is remembered for :func:`used_weights`.

    Returns:
        :class:`WeightsFile` with the path, the full SHA-256 and the source.

    Raises:
        KeyError: ``name`` is not registered.
        WeightsUnavailable: the file is missing, unreadable or has the wrong hash; the
            reason names the file, where it looked and how to provide it.
    """
    entry = get_entry(name)
    var = override_variable(name)
    cache = cache_dir()
    override = os.environ.get(var)
    if override:
        path, source = Path(override).expanduser(), "override"
        if not path.is_file():
            raise WeightsUnavailable(name, f"{var}={override} is not a file; {_how_to_provide(entry, var, cache)}")
    else:
        path, source = cache / entry.file, "cache"
        if not path.is_file():
            raise WeightsUnavailable(
                name, f"{entry.file} not found in the torch hub cache {cache}; {_how_to_provide(entry, var, cache)}"
            )
    try:
        digest = sha256_file(path)
    except OSError as exc:
        raise WeightsUnavailable(name, f"{path}: cannot read ({exc})") from None
    if not entry.hash_matches(digest):
        raise WeightsUnavailable(
            name,
            f"{path}: SHA-256 {digest} does not match the expected {entry.sha256} of {entry.file} "
            f"(corrupt, truncated or different weights; not used); {_how_to_provide(entry, var, cache)}",
        )
    _USED[name] = {
        "name": name,
        "file": entry.file,
        "path": str(path),
        "sha256": digest,
        "source": source,
        "url": entry.url,
    }
    return WeightsFile(name=name, path=path, sha256=digest, source=source)


def weights_status(name: str) -> str:
    """``"ok"`` if :func:`resolve_weights` finds a valid file for ``name``, else
    ``"unavailable: <reason>"``. Raises ``KeyError`` for an unregistered name."""
    try:
        resolve_weights(name)
    except WeightsUnavailable as exc:
        return f"unavailable: {exc.reason}"
    return "ok"


def record_file(name: str, path: str | os.PathLike, source: str = "package") -> str:
    """Remember a weights file that does not come through the registry (e.g. LPIPS'
    linear-layer weights shipped inside the ``lpips`` package) for :func:`used_weights`;
    returns its full SHA-256."""
    path = Path(path)
    digest = sha256_file(path)
    _USED[name] = {"name": name, "file": path.name, "path": str(path), "sha256": digest, "source": source, "url": ""}
    return digest


def used_weights() -> list[dict[str, str]]:
    """Weights files resolved in this process, for ``provenance.json``: one dict per name
    with ``name, file, path, sha256`` (full digest), ``source`` and ``url``, sorted by name."""
    return [dict(_USED[k]) for k in sorted(_USED)]


# -- where a detector's weights come from -----------------------------------------------------------
#: ``weights_origin`` of a detector whose weights started from random initialisation.
NO_ORIGIN = "none"
#: ``weights_origin`` when nothing recorded it (a prediction submission, a ``metrics.json``
#: written before the origin was recorded, a plugin factory that loaded weights it did not name).
UNKNOWN_ORIGIN = "unknown"


def weights_origin(kind: str, sha256: str | None) -> str:
    """The ``weights_origin`` fact of a detector: ``"<kind>:<sha256>"`` for weights read from a
    file (``imagenet`` for a timm backbone's ImageNet weights, ``deepfakebench`` for
    DeepfakeBench's published checkpoint, ``checkpoint`` for a user's checkpoint scored with
    ``forgebench evaluate``, ``file`` for a plugin that loaded a file it did not name;
    ``sha256`` the file's full hex digest), :data:`NO_ORIGIN`
    (``"none"``) when there is no file (random initialisation)."""
    return f"{kind}:{sha256}" if sha256 else NO_ORIGIN


def origin_of_document(doc: Mapping[str, Any]) -> str:
    """The ``weights_origin`` of a detector's ``metrics.json``: the stored value, else (a
    document written before forgebench recorded it) derived from what it does record:
    DeepfakeBench's published checkpoint (``published.checkpoint_sha256``) ->
    ``deepfakebench:<sha256>``; a detector scored with ``forgebench evaluate`` on its own
    checkpoint -> ``checkpoint:<sha256>``; a trained detector with ``pretrained_sha256`` ->
    ``imagenet:<sha256>`` (the only pretrained weights forgebench loaded then), with
    ``pretrained`` false -> ``none``; anything else (a prediction submission, a
    cross-dataset evaluation) -> :data:`UNKNOWN_ORIGIN`."""
    stored = doc.get("weights_origin")
    if stored:
        return str(stored)
    published = doc.get("published")
    if isinstance(published, Mapping) and published.get("checkpoint_sha256"):
        return weights_origin("deepfakebench", str(published["checkpoint_sha256"]))
    if (
        doc.get("evaluated")
        and "cross_dataset" not in doc
        and doc.get("checkpoint_sha256")
        and not doc.get("submission")
    ):
        return weights_origin("checkpoint", str(doc["checkpoint_sha256"]))
    if doc.get("pretrained_sha256"):
        return weights_origin("imagenet", str(doc["pretrained_sha256"]))
    if "pretrained" in doc and not doc.get("pretrained"):
        return NO_ORIGIN
    return UNKNOWN_ORIGIN
