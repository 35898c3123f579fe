"""Registries find their built-in entries by importing every module of their folder, so a
new generator or detector in this repository is one new file, listed nowhere else."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from forgebench.errors import ConfigError

REGISTRY = """
from forgebench.registry import Registry
THINGS = Registry("thing", package=__name__)
"""

MODULE = """
from {pkg} import THINGS

@THINGS.register("{name}")
def {name}():
    return "{name}"
"""


def _package(tmp_path, pkg: str, modules: dict[str, str]) -> None:
    (tmp_path / pkg).mkdir()
    (tmp_path / pkg / "__init__.py").write_text(textwrap.dedent(REGISTRY))
    for name, code in modules.items():
        (tmp_path / pkg / f"{name}.py").write_text(textwrap.dedent(code))


def test_a_file_dropped_into_the_folder_is_registered(tmp_path, monkeypatch):
    _package(
        tmp_path,
        "pkg_found",
        {
            "alpha": MODULE.format(pkg="pkg_found", name="alpha"),
            "beta": MODULE.format(pkg="pkg_found", name="beta"),
            "helpers": "VALUE = 1\n",  # a module that registers nothing is fine
            "_private": "raise RuntimeError('never imported')\n",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import pkg_found

    assert "pkg_found.alpha" not in sys.modules  # nothing imported them
    assert pkg_found.THINGS.names() == ["alpha", "beta"] and pkg_found.THINGS.get("beta")() == "beta"
    assert "pkg_found._private" not in sys.modules


def test_a_broken_module_is_an_error_naming_its_file(tmp_path, monkeypatch):
    _package(tmp_path, "pkg_broken", {"gamma": "import not_a_module_anywhere\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    import pkg_broken

    for _ in range(2):  # asked again, it says the same again (never a silent empty registry)
        with pytest.raises(
            ConfigError, match=r"pkg_broken[/\\]gamma\.py: the thing module cannot be imported \(ModuleNotFoundError"
        ):
            pkg_broken.THINGS.names()


def test_a_broken_plugin_subpackage_is_an_error_naming_its_init(tmp_path, monkeypatch):
    """A plugin may be a subpackage (generators/fomm/): its __init__ failing to import is the
    same one-line ConfigError as a broken module, and a working one is registered."""
    _package(tmp_path, "pkg_sub", {})
    (tmp_path / "pkg_sub" / "delta").mkdir()
    (tmp_path / "pkg_sub" / "delta" / "__init__.py").write_text(
        textwrap.dedent(MODULE.format(pkg="pkg_sub", name="delta"))
    )
    (tmp_path / "pkg_sub" / "epsilon").mkdir()
    (tmp_path / "pkg_sub" / "epsilon" / "__init__.py").write_text("raise RuntimeError('half-written plugin')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import pkg_sub

    with pytest.raises(
        ConfigError, match=r"pkg_sub[/\\]epsilon[/\\]__init__\.py: the thing module cannot be imported \(RuntimeError"
    ):
        pkg_sub.THINGS.names()
    (tmp_path / "pkg_sub" / "epsilon" / "__init__.py").write_text("")
    sys.modules.pop("pkg_sub.epsilon", None)
    assert pkg_sub.THINGS.names() == ["delta"]


def test_built_in_generators_detectors_and_metrics_need_no_import_lines():
    """A fresh interpreter: the packages' __init__ files import no generator, detector or
    metric module, and the registries still list every built-in."""
    code = (
        "import sys; import forgebench.generators, forgebench.detectors, forgebench.metrics;"
        "print(sorted(m for m in ('forgebench.generators.fomm', 'forgebench.detectors.meso', 'forgebench.detectors.deepfakebench.xception',"
        " 'forgebench.metrics.quality') if m in sys.modules));"
        "from forgebench.generators import list_generators; from forgebench.detectors import list_detectors;"
        "from forgebench.metrics import list_metrics; print(list_generators(), list_detectors(), list_metrics())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    ).stdout.splitlines()
    assert out[0] == "[]"
    dfb = ", ".join(
        f"'dfb_{n}'"
        for n in (
            "capsule_net",
            "core",
            "efficientnetb4",
            "f3net",
            "facexray",
            "ffd",
            "fwa",
            "meso4",
            "meso4inception",
            "recce",
            "resnet34",
            "sbi",
            "spsl",
            "srm",
            "ucf",
            "xception",
        )
    )
    assert out[1] == (
        f"['autoencoder_swap', 'faceswap_graphics', 'fomm', 'pix2pix_reenact'] [{dfb}, 'efficientnet_b0', 'efficientnet_b4', 'meso4', "
        "'mesoinception4', 'resnet50', 'srm_cnn', 'xception'] ['psnr', 'ssim']"
    )
