"""Config validation: typed settings, unknown keys and wrong types name the key and the file."""

from pathlib import Path

import pytest
import yaml

from forgebench.configure import load_config
from forgebench.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["quickstart.yaml", "default.yaml"])
def test_shipped_configs_validate(name):
    cfg = load_config(REPO / "configs" / name)
    assert "autoencoder_swap" in cfg.generators and cfg.detectors
    # every default is written out in the resolved config
    resolved = yaml.safe_load(cfg.to_yaml())
    assert resolved["faces"]["margin"] == pytest.approx(1.3)
    assert "iterations" in resolved["generators"]["autoencoder_swap"]
    assert "epochs" in resolved["detectors"][next(iter(cfg.detectors))]
    assert load_config(REPO / "configs" / name).config_hash() == cfg.config_hash()
    # pretrained: true is the default (an error when weights are not cached); the quickstart,
    # meant to run anywhere, trains its timm backbone from scratch and says so
    pretrained = {det: resolved["detectors"][det]["pretrained"] for det in cfg.detectors}
    if name == "quickstart.yaml":
        assert pretrained["efficientnet_b0"] is False
    else:
        assert all(pretrained.values())


def test_pretrained_auto_is_refused_with_the_two_choices(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, {"detectors": {"efficientnet_b0": {"pretrained": "auto"}}}))
    message = str(err.value)
    assert "bad.yaml" in message and "detectors.efficientnet_b0.pretrained" in message
    assert "use true" in message and "false" in message


def _write(tmp_path, data) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    "data, key",
    [
        ({"faces": {"crop_sise": 64}}, "faces.crop_sise"),
        ({"generators": {"autoencoder_swap": {"iteratons": 5}}}, "generators.autoencoder_swap.iteratons"),
        ({"detectors": {"meso4": {"epoch": 1}}}, "detectors.meso4.epoch"),
        ({"detectors": {"mesonet9": {}}}, "detectors.mesonet9"),
        ({"generators": {"deepfacelab": {}}}, "generators.deepfacelab"),
        ({"metrics": {"fidd": False}}, "metrics.fidd"),
        ({"colour": 1}, "colour"),
    ],
)
def test_unknown_key_names_key_and_file(tmp_path, data, key):
    with pytest.raises(ConfigError, match="unknown key") as err:
        load_config(_write(tmp_path, data))
    assert key in str(err.value) and "bad.yaml" in str(err.value)


def test_wrong_type_names_key_and_file(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, {"faces": {"frames_per_video": "many"}}))
    assert "faces.frames_per_video" in str(err.value) and "bad.yaml" in str(err.value)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "broken.yaml"
    bad.write_text("faces: [unclosed")
    with pytest.raises(ConfigError, match="broken.yaml.*YAML"):
        load_config(bad)


def test_overrides_and_defaults(tmp_path):
    cfg = load_config(_write(tmp_path, {"name": "x"}), {"data.videos": str(tmp_path)})
    assert cfg.data.videos == str(tmp_path) and cfg.faces.frames_per_video == 32 and cfg.faces.crop_size == 256


@pytest.mark.parametrize("text, kind", [("- a\n- b\n", "list"), ("42\n", "int"), ("just text\n", "str")])
def test_top_level_not_a_mapping_is_a_config_error(tmp_path, text, kind):
    path = tmp_path / "weird.yaml"
    path.write_text(text)
    for overrides in (None, {"data.videos": str(tmp_path)}):  # --videos used to crash on a list
        with pytest.raises(ConfigError, match=f"weird.yaml: the config must be a mapping.*{kind}"):
            load_config(path, overrides)


def test_override_into_empty_or_scalar_section(tmp_path):
    path = tmp_path / "empty_data.yaml"
    path.write_text("name: x\ndata:\n")
    assert load_config(path, {"data.videos": str(tmp_path)}).data.videos == str(tmp_path)
    path.write_text("name: x\ndata: 3\n")
    with pytest.raises(ConfigError, match="empty_data.yaml: key 'data' must be a mapping"):
        load_config(path, {"data.videos": str(tmp_path)})


def test_detector_model_kwargs_reach_the_factory_and_unknown_ones_are_refused(tmp_path):
    cfg = load_config(_write(tmp_path, {"detectors": {"meso4": {"model_kwargs": {"dropout": 0.25}}}}))
    assert cfg.detector_settings("meso4").model_kwargs == {"dropout": 0.25}
    assert yaml.safe_load(cfg.to_yaml())["detectors"]["meso4"]["model_kwargs"] == {"dropout": 0.25}
    with pytest.raises(ConfigError, match=r"detectors\.meso4\.model_kwargs\.dropuot.*takes \['dropout'\]"):
        load_config(_write(tmp_path, {"detectors": {"meso4": {"model_kwargs": {"dropuot": 0.25}}}}))


def test_config_module_imports_no_plugin():
    import ast

    tree = ast.parse((REPO / "forgebench" / "config.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    assert not {m for m in imported if m and m.startswith("forgebench.") and m != "forgebench.errors"}
