"""Name -> object registries: everything a user can name in a config is found here.

Follows timm's ``@register_model`` style: a module registers its entries at import time,
and lookups of an unknown name raise a ``KeyError`` that lists the known names.

Built-in entries: every module of the registry's package (``forgebench.generators``,
``forgebench.detectors``, ``forgebench.metrics``) is imported the first time the registry
is asked for a name, so adding a generator or a detector to this repository is adding one
file to its folder, with nothing to list elsewhere.

Third-party packages add entries without touching this repository, through a Python entry
point group (``forgebench.generators``, ``forgebench.detectors``, ``forgebench.metrics``,
``forgebench.perturbations``) declared in their ``pyproject.toml``::

    [project.entry-points."forgebench.detectors"]
    my_detector = "my_package.detector:my_detector"

The entry points of a group are loaded the first time the registry is asked for a name
(so installing a package is enough). Loading the object runs its module, whose
``@register_...`` decorator registers it; an object that is not registered by then is
registered under the entry point's name with the registry's ``adopt`` hook (e.g. a plain
factory function). A plugin that fails to load is an error naming the entry point and
the package, never a silent skip.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any, Generic, TypeVar

from forgebench.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named table of objects (classes, factory functions or records).

    Args:
        kind: what the registry holds, used in error messages ("generator", "detector").
        group: entry point group of third-party plugins (``None`` = none).
        adopt: ``adopt(registry, name, obj)`` registers an entry-point object that did not
            register itself under the entry point's ``name`` (``None`` = such an object is
            an error).
        package: dotted name of the package whose modules hold the built-in entries; all
            of its modules and those of its sub-packages (names starting with ``_``
            excepted) are imported before the entry points are loaded (``None`` = none).

    Example:
        >>> GENERATORS = Registry("generator", group="forgebench.generators")
        >>> @GENERATORS.register("autoencoder_swap")
        ... class AutoencoderSwap: ...
    """

    def __init__(
        self,
        kind: str,
        group: str | None = None,
        adopt: Callable[[Registry[T], str, Any], None] | None = None,
        package: str | None = None,
    ) -> None:
        self.kind = kind
        self.group = group
        self.package = package
        self._adopt = adopt
        self._items: dict[str, T] = {}
        self._origin: dict[str, str] = {}
        self._plugins_loaded = group is None and package is None

    def register(self, name: str, origin: str = "") -> Callable[[T], T]:
        """Decorator adding ``obj`` under ``name``; ``origin`` says where it comes from
        (an entry point) for messages.

        Raises:
            ValueError: ``name`` is already registered (two plugins may not share a name).
        """

        def deco(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                where = f" (by {self._origin[name]})" if self._origin.get(name) else ""
                raise ValueError(f"{self.kind} {name!r} is already registered{where}")
            self._items[name] = obj
            if origin:
                self._origin[name] = origin
            return obj

        return deco

    def load_builtins(self) -> None:
        """Import every module of :attr:`package` and of its sub-packages (their decorators
        register the built-in entries; a family of plugins may live in a sub-package such as
        ``forgebench.detectors.deepfakebench``); names starting with ``_`` are shared
        machinery and skipped; modules already imported are not run again.

        Raises:
            ConfigError: a module cannot be imported; the message names its file.
        """
        if self.package is not None:
            self._import_modules(self.package)

    def _import_modules(self, package: str) -> None:
        """Import the modules of ``package``, then recurse into its sub-packages."""
        pkg = importlib.import_module(package)
        for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
            if info.name.startswith("_"):
                continue
            where = Path(info.module_finder.path) / (f"{info.name}/__init__.py" if info.ispkg else f"{info.name}.py")  # type: ignore[union-attr]
            try:
                importlib.import_module(f"{package}.{info.name}")
            except ConfigError:
                raise
            except Exception as exc:  # noqa: BLE001 - a broken module may raise anything on import
                raise ConfigError(
                    f"{where}: the {self.kind} module cannot be imported ({type(exc).__name__}: {exc})"
                ) from exc
            if info.ispkg:  # a plugin subpackage (generators/fomm/) or a folder of plugins (detectors/deepfakebench/)
                self._import_modules(f"{package}.{info.name}")

    def load_plugins(self) -> None:
        """Import the built-in modules of :attr:`package`, then load the entry points of
        :attr:`group`, once (see the module docstring).

        Raises:
            ConfigError: a built-in module cannot be imported; an entry point cannot be
                loaded, or loads an object that neither registered itself nor can be
                adopted; the message names the file, or the entry point and its package.
        """
        if self._plugins_loaded:
            return
        self._plugins_loaded = True  # first: a module being imported may look names up
        try:
            self._load()
        except BaseException:
            self._plugins_loaded = False  # asked again, it says the same error again
            raise

    def _load(self) -> None:
        self.load_builtins()
        if self.group is None:
            return
        for ep in sorted(metadata.entry_points(group=self.group), key=lambda e: e.name):
            where = f"entry point {ep.name!r} = {ep.value!r} of group {self.group!r}"
            dist = getattr(ep, "dist", None)
            if dist is not None:
                where += f" (package {dist.metadata['Name']})"
            try:
                obj = ep.load()
            except Exception as exc:  # noqa: BLE001 - a broken plugin may raise anything on import
                raise ConfigError(f"{where}: cannot be loaded ({type(exc).__name__}: {exc})") from exc
            if ep.name in self._items:
                self._origin.setdefault(ep.name, where)
                continue
            if self._adopt is None:
                raise ConfigError(f"{where}: loaded, but registered no {self.kind} named {ep.name!r}")
            try:
                self._adopt(self, ep.name, obj)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{where}: {exc}") from None
            self._origin[ep.name] = where

    def get(self, name: str) -> T:
        """Return the object registered as ``name``.

        Raises:
            KeyError: unknown name; the message lists the registered names.
        """
        self.load_plugins()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self.names()) or "(none)"
            raise KeyError(f"unknown {self.kind} {name!r}; registered: {known}") from None

    def origin(self, name: str) -> str:
        """Where ``name`` came from: ``"forgebench"`` or its entry point."""
        self.load_plugins()
        return self._origin.get(name, "forgebench")

    def names(self) -> list[str]:
        """Sorted registered names (entry points included)."""
        self.load_plugins()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self.load_plugins()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def subclass_adopter(base: type, kind: str) -> Callable[[Registry, str, Any], None]:
    """The ``adopt`` hook of a registry of ``base`` subclasses: an entry point naming such a
    class registers it under the entry point's name (and sets its ``name``).

    The hook raises ``TypeError`` for anything else (the registry reports it as a
    ``ConfigError`` naming the entry point)."""

    def adopt(registry: Registry, name: str, obj: Any) -> None:
        if not (isinstance(obj, type) and issubclass(obj, base)):
            raise TypeError(f"a {kind} entry point must name a forgebench {base.__name__} subclass, got {obj!r}")
        obj.name = name
        registry.register(name)(obj)

    return adopt


def register_subclass(registry: Registry, base: type, kind: str, name: str) -> Callable[[type], type]:
    """Class decorator registering a ``base`` subclass in ``registry`` under ``name`` and
    setting its ``name`` (``@register_generator``, ``@register_dataset``).

    Raises:
        ValueError: ``name`` is already registered.
        TypeError: the class is not a ``base`` subclass.
    """

    def deco(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise TypeError(f"@register_{kind}({name!r}) needs a {base.__name__} subclass, got {cls!r}")
        cls.name = name
        return registry.register(name)(cls)

    return deco
