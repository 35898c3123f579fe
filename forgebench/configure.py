"""Load a run config and validate every section with the registry that owns it.

:mod:`forgebench.config` knows the core sections (data, faces, splits, report) and imports
no plugin; here each plugin section is handed to its own registry:

- ``generators.<name>``: the generator's ``Settings``
  (:func:`forgebench.generators.validate_generator_section`);
- ``detectors.<name>``: training schedule and ``model_kwargs``
  (:func:`forgebench.detectors.validate_detector_section`);
- ``metrics``: :class:`forgebench.metrics.quality.QualitySettings` (with the frame-pair
  metric registry);
- ``protocol``: :class:`forgebench.protocol.ProtocolSettings` (with the perturbation
  registry).

The resolved config has every default written out (as saved in ``config.yaml``) and
carries the typed settings (:meth:`forgebench.config.Config.generator_settings`, ...).
An unknown key, a wrong type or an unknown plugin name is a
:class:`~forgebench.errors.ConfigError` naming the file and the key.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from forgebench.config import Config, format_errors, parse_config, read_config_file
from forgebench.errors import ConfigError

# The registries that validate the plugin sections import their plugins (torch, timm,
# OpenCV: seconds), so they are imported inside the functions that validate a section:
# a stage command validates only the sections its stage reads (load_run_config).

__all__ = ["resolve_config", "config_from_dict", "load_config", "load_run_config"]


def _section(model, data: Any, source: str, prefix: str):
    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, source, prefix)) from None


def resolve_config(cfg: Config, source: str = "<config>") -> Config:
    """Validate the plugin sections of ``cfg`` with their registries, write their defaults
    out, and attach the typed settings.

    Raises:
        ConfigError: unknown plugin name, unknown key or wrong value (names ``source``).
    """
    from forgebench.detectors import validate_detector_section  # heavy: see the note at the top
    from forgebench.generators import validate_generator_section
    from forgebench.metrics.quality import QualitySettings
    from forgebench.protocol_settings import ProtocolSettings

    gens, dets, typed = {}, {}, {}
    for name, section in cfg.generators.items():
        typed[f"generators.{name}"], gens[name] = validate_generator_section(name, section, source)
    for name, section in cfg.detectors.items():
        typed[f"detectors.{name}"], dets[name] = validate_detector_section(name, section, source)
    typed["metrics"] = _section(QualitySettings, cfg.metrics, source, "metrics.")
    typed["protocol"] = _section(ProtocolSettings, cfg.protocol, source, "protocol.")
    out = cfg.model_copy(
        update={
            "generators": gens,
            "detectors": dets,
            "metrics": json.loads(typed["metrics"].model_dump_json()),
            "protocol": json.loads(typed["protocol"].model_dump_json()),
        }
    )
    for key, value in typed.items():
        out.set_typed(key, value)
    return out


def config_from_dict(data: Any, source: str = "<config>") -> Config:
    """Validate a config mapping (as read from YAML) into a resolved :class:`Config`.

    Raises:
        ConfigError: the top level is not a mapping, an unknown key, a wrong type or an
            unknown plugin; the message names ``source`` and the key.
    """
    return resolve_config(parse_config(data, source), source)


def load_config(path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> Config:
    """Read, validate and resolve a YAML config file.

    Args:
        path: the YAML file.
        overrides: dotted keys to set after reading, e.g. ``{"data.videos": "/x"}``
            (applied only once the file is known to be a mapping of sections).

    Raises:
        ConfigError: missing or unreadable file, invalid YAML, a top level that is not a
            mapping (a list, a scalar), an override into a section that is not a mapping,
            unknown key, wrong type; the message names the file.
    """
    path = Path(path)
    data = read_config_file(path)
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a mapping of keys to values, got {type(data).__name__}")
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for depth, part in enumerate(parents):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                key = ".".join(parents[: depth + 1])
                raise ConfigError(
                    f"{path}: key '{key}' must be a mapping of keys to values, got {type(child).__name__}"
                )
            node = child
        node[leaf] = value
    return config_from_dict(data, str(path))


def _validate_section(cfg: Config, key: str, source: str) -> Any:
    """The typed settings of one plugin section of a resolved config (``generators.<name>``,
    ``detectors.<name>``, ``metrics``, ``protocol``), validated by its registry.

    Raises:
        ConfigError: no such section, an unknown key or a wrong value (names ``source``).
    """
    kind, _, name = key.partition(".")
    if kind == "generators" and name in cfg.generators:
        from forgebench.generators import validate_generator_section  # heavy: see the note at the top

        return validate_generator_section(name, cfg.generators[name], source)[0]
    if kind == "detectors" and name in cfg.detectors:
        from forgebench.detectors import validate_detector_section  # heavy: see the note at the top

        return validate_detector_section(name, cfg.detectors[name], source)[0]
    if key == "metrics":
        from forgebench.metrics.quality import QualitySettings  # heavy: see the note at the top

        return _section(QualitySettings, cfg.metrics, source, "metrics.")
    if key == "protocol":
        from forgebench.protocol_settings import ProtocolSettings  # no torch: pydantic, OpenCV

        return _section(ProtocolSettings, cfg.protocol, source, "protocol.")
    raise ConfigError(f"{source}: the config has no section {key!r}")


def load_run_config(path: str | os.PathLike) -> Config:
    """A run directory's ``config.yaml``, for a stage command: the file was resolved and
    fully validated when the run was bound (``forgebench run`` / ``import``), so only the
    core sections are checked here and each plugin section is validated by its registry the
    first time the stage asks for it. A stage thus imports only the plugins it uses, and
    :meth:`~forgebench.config.Config.config_hash` equals the bound config's.

    Raises:
        ConfigError: missing, unreadable or invalid file (names it); a plugin section's
            error is raised when the section is first used.
    """
    path = Path(path)
    data = read_config_file(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a mapping of keys to values, got {type(data).__name__}")
    cfg = parse_config(data, str(path))
    cfg.set_resolver(functools.partial(_validate_section, source=str(path)))  # a partial pickles, for worker processes
    return cfg
