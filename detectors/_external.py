"""Detectors from outside the repository: a user's ``torch.nn.Module`` under the protocol.

A researcher's detector enters forgebench without a file in this repository, by a factory
named on the command line as ``package.module:factory`` (``forgebench train runs/quickstart
--detector mypkg.models:build``) or registered in the ``forgebench.detectors`` entry-point
group of the user's package. The factory is called as ``factory(pretrained=..., **kwargs)``
when it accepts ``pretrained``, else ``factory(**kwargs)``, and returns a module mapping
normalised crops ``(N, 3, H, W)`` to fake logits ``(N,)`` or ``(N, 1)``.

It declares its input like timm's pretrained cfg, as a ``default_cfg`` or
``pretrained_cfg`` attribute of the factory or of the module it returns: a
:class:`~forgebench.detectors.DetectorCfg`, or a dict with ``input_size``
(``H`` or ``(3, H, W)``, square), ``mean`` and ``std`` (per RGB channel, for inputs in
[0, 1]). forgebench feeds RGB crops resized to that size and normalises them with that mean
and std (:class:`ExternalDetector`), so the model sees what it was trained on.

Pretrained weights: the factory gets ``pretrained`` as configured (``true`` by default)
unless its declaration says it has none (a dict with ``pretrained_weights: False``, or a
:class:`~forgebench.detectors.DetectorCfg`, whose ``pretrained_weights`` is
``False`` unless set; then always ``False``). forgebench
cannot see what a user's factory loads, so a detector trained with ``pretrained: true``
has ``weights_origin`` ``unknown`` unless its module names its origin in a
``weights_origin`` attribute (``"imagenet:<sha256>"``, ``"none"``, ...); a factory that
starts from random weights is trained with ``pretrained: false`` (origin ``none``). A missing
or contradictory declaration, or an output that is not one logit per crop, is a clear
:class:`~forgebench.errors.DataError` naming the factory.

:func:`use_external` registers the factory in the detector registry under a name, so the
zoo's training loop, checkpoints (``meta["factory"]`` records the spec, rebuilt by
:func:`forgebench.detectors.load_detector` in any process) and evaluation apply
unchanged.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from forgebench.detectors._registry import (
    ENTRY_POINT_ADOPTERS,
    Detector,
    DetectorCfg,
    list_detectors,
    register_detector,
)
from forgebench.errors import DataError
from forgebench.weights import NO_ORIGIN, UNKNOWN_ORIGIN

__all__ = ["ExternalDetector", "is_spec", "load_factory", "declared_cfg", "use_external", "adopt_factory"]

_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
#: name -> spec of the external factories registered in this process.
_REGISTERED: dict[str, str] = {}


def is_spec(text: str) -> bool:
    """Whether ``text`` is a ``package.module:factory`` spec (not a registered name)."""
    return bool(_SPEC.match(str(text)))


def load_factory(spec: str) -> Callable[..., nn.Module]:
    """Import the factory of ``package.module:factory`` (importable from ``sys.path``, the
    working directory included).

    Raises:
        DataError: not such a spec, the module cannot be imported, or it has no callable
            of that name.
    """
    if not is_spec(spec):
        raise DataError(
            f"detector {spec!r}: expected 'package.module:factory' (a callable returning a torch.nn.Module)"
        )
    module_name, attr = spec.split(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        # the console script's sys.path lacks the working directory, where a user's
        # package usually is (as for `python -m`); worker processes inherit sys.path
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # an ImportError or the user's module failing at import
        raise DataError(f"detector {spec}: cannot import {module_name} ({type(exc).__name__}: {exc})") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise DataError(f"detector {spec}: {module_name} has no callable {attr!r}")
    return factory


def _side(value: Any, where: str) -> int:
    if isinstance(value, int):
        return value
    dims = tuple(int(v) for v in value)
    if len(dims) == 3 and dims[0] == 3 and dims[1] == dims[2]:
        return dims[1]
    if len(dims) == 2 and dims[0] == dims[1]:
        return dims[0]
    raise DataError(f"{where}: input_size must be H or (3, H, H) (square RGB crops), got {value!r}")


def declared_cfg(obj: Any, name: str, where: str) -> DetectorCfg | None:
    """The input declaration of a factory or module (``default_cfg`` / ``pretrained_cfg``),
    as a :class:`DetectorCfg` named ``name``; None when it declares nothing.

    Raises:
        DataError: a declaration without ``input_size``, ``mean`` or ``std``, or with
            values of the wrong shape.
    """
    cfg = getattr(obj, "default_cfg", None) or getattr(obj, "pretrained_cfg", None)
    if cfg is None or (isinstance(cfg, Mapping) and not cfg):
        return None
    if isinstance(cfg, DetectorCfg):
        return DetectorCfg(**{**cfg.to_dict(), "name": name, "mean": tuple(cfg.mean), "std": tuple(cfg.std)})
    if not isinstance(cfg, Mapping):
        raise DataError(f"{where}: default_cfg must be a DetectorCfg or a dict, got {type(cfg).__name__}")
    missing = [k for k in ("input_size", "mean", "std") if k not in cfg]
    if missing:
        raise DataError(
            f"{where}: default_cfg lacks {missing}; declare input_size, mean and std (as timm's pretrained_cfg)"
        )
    mean, std = tuple(float(v) for v in cfg["mean"]), tuple(float(v) for v in cfg["std"])
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise DataError(
            f"{where}: mean and std must be 3 values (RGB, std > 0), got {cfg['mean']!r} and {cfg['std']!r}"
        )
    side = _side(cfg["input_size"], where)
    has_weights = cfg.get("pretrained_weights")
    if has_weights is not None and not isinstance(has_weights, bool):
        raise DataError(f"{where}: default_cfg pretrained_weights must be true, false or absent, got {has_weights!r}")
    return DetectorCfg(
        name=name,
        input_size=side,
        mean=mean,
        std=std,
        min_input_size=int(cfg.get("min_input_size", 32)),
        lr=float(cfg.get("lr", 2e-4)),
        paper=str(cfg.get("paper", "")),
        pretrained_source=str(cfg.get("url", "")),
        pretrained_weights=has_weights,
    )


class ExternalDetector(Detector):
    """A user's module behind the detector contract: RGB crops ``(N, 3, H, W)`` in [0, 1]
    are normalised with the declared mean / std, the module gives logits ``(N,)`` or
    ``(N, 1)``.

    Args:
        module: the user's ``torch.nn.Module`` (its parameters are this module's
            ``net.*``, so its own state dict loads with :meth:`load_user_state`).
        cfg: its declared input (:func:`declared_cfg`).
    """

    def __init__(self, module: nn.Module, cfg: DetectorCfg) -> None:
        super().__init__(cfg.mean, cfg.std, cfg.min_input_size)
        self.net = module

    def forward_features_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The user's module on normalised input; ``(N,)`` or ``(N, 1)`` logits."""
        out = self.net(x)
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.ndim != 1 or out.shape[0] != x.shape[0]:
            raise DataError(
                f"{self.detector_name}: the module returned {tuple(out.shape)} for {x.shape[0]} crops; "
                "a detector returns one fake logit per crop, (N,) or (N, 1)"
            )
        return out

    def load_user_state(self, state: Mapping[str, torch.Tensor], where: str) -> None:
        """Load the user's own state dict (keys of their module, optionally under
        ``state_dict`` / ``model`` and prefixed ``module.``) strictly.

        Raises:
            DataError: the keys or shapes do not fit the module (names ``where``).
        """
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), Mapping):
                state = state[key]
        state = {k[len("module.") :] if k.startswith("module.") else k: v for k, v in state.items()}
        if state and all(k.startswith("net.") for k in state):
            state = {k[len("net.") :]: v for k, v in state.items()}
        try:
            self.net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise DataError(
                f"{where}: weights do not fit detector {self.detector_name} ({str(exc).splitlines()[0]} ...)"
            ) from None


def _call(factory: Callable[..., nn.Module], pretrained: Any, kwargs: dict[str, Any]) -> nn.Module:
    params = inspect.signature(factory).parameters
    takes_pretrained = "pretrained" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
    return factory(pretrained=pretrained, **kwargs) if takes_pretrained else factory(**kwargs)


def use_external(spec: str, name: str | None = None) -> str:
    """Register the factory ``package.module:factory`` as detector ``name`` (default: the
    factory's name) and return the name; registering the same spec again is a no-op, so
    every worker process can call it (checkpoints record the spec as ``meta["factory"]``).

    Raises:
        DataError: bad spec or import, no or bad input declaration, wrong output shape,
            or ``name`` is already a different detector (a zoo name or another spec).
    """
    factory = load_factory(spec)
    name = name or spec.split(":")[1]
    if not re.match(r"^[A-Za-z0-9][\w.-]*$", name):
        raise DataError(f"detector name {name!r}: letters, digits, '.', '_' and '-' only (it names a folder)")
    if _REGISTERED.get(name) == spec:
        return name
    if name in _REGISTERED or name in list_detectors():
        raise DataError(
            f"detector name {name!r} is taken (by {_REGISTERED.get(name, 'the detector zoo')}); pass --name"
        )
    adopt_factory(factory, name, f"detector {spec}")
    _REGISTERED[name] = spec
    return name


def adopt_factory(factory: Callable[..., nn.Module], name: str, where: str) -> DetectorCfg:
    """Register ``factory`` (of a plain ``torch.nn.Module`` or of a :class:`Detector`) as
    detector ``name``, its modules wrapped in :class:`ExternalDetector`.

    The built module is checked once: it must declare its input (``default_cfg`` /
    ``pretrained_cfg`` on the factory or the module) and return one logit per crop for a
    batch of 2 crops of the declared size.

    Returns:
        the declared :class:`DetectorCfg`.

    Raises:
        DataError: no or bad input declaration, a factory that fails or returns no
            module, or a wrong output shape (the message names ``where``).
    """
    cfg = declared_cfg(factory, name, where)

    def build(pretrained: Any = False, **kwargs: Any) -> Detector:
        module = _call(factory, pretrained, kwargs)
        if not isinstance(module, nn.Module):
            raise DataError(f"{where}: the factory returned {type(module).__name__}, not a torch.nn.Module")
        if isinstance(module, Detector):
            return module
        own = cfg or declared_cfg(module, name, where)
        if own is None:
            raise DataError(
                f"{where}: declare the input as factory.default_cfg or module.default_cfg = "
                "{'input_size': (3, H, W), 'mean': (r, g, b), 'std': (r, g, b)}, like timm's pretrained_cfg"
            )
        det = ExternalDetector(module, own)
        det.pretrained_note = f"external detector ({where})"
        origin = getattr(module, "weights_origin", None)  # the module may say where its weights come from
        det.weights_origin = (
            origin if isinstance(origin, str) and origin else UNKNOWN_ORIGIN if pretrained is True else NO_ORIGIN
        )
        return det

    try:
        probe = build(False)
    except DataError:
        raise
    except Exception as exc:  # the user's factory may raise anything
        raise DataError(f"{where}: the factory fails ({type(exc).__name__}: {exc})") from None
    probe_cfg = cfg or declared_cfg(probe.net if isinstance(probe, ExternalDetector) else probe, name, where)
    probe_cfg = probe_cfg or DetectorCfg(name=name, input_size=224)
    probe.eval()
    with torch.no_grad():
        try:
            probe(torch.zeros(2, 3, probe_cfg.input_size, probe_cfg.input_size))
        except DataError:
            raise
        except Exception as exc:
            raise DataError(
                f"{where}: the module fails on 2 crops of its declared input {probe_cfg.input_size} px "
                f"({type(exc).__name__}: {exc})"
            ) from None
    register_detector(build, name=name, default_cfg=probe_cfg)
    return probe_cfg


def _adopt_entry_point(name: str, obj: Any, where: str) -> None:
    """The registry's adopter of ``forgebench.detectors`` entry points naming a plain
    ``torch.nn.Module`` factory (:data:`forgebench.detectors._registry.ENTRY_POINT_ADOPTERS`)."""
    try:
        adopt_factory(obj, name, where)
    except DataError as exc:
        raise ValueError(str(exc)) from None


ENTRY_POINT_ADOPTERS.append(_adopt_entry_point)
