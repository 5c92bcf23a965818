from pathlib import Path

import pytest

from distiller.settings import DistillerSettings
from stacktach.exceptions import ConfigError
from stacktach.yamlutil import load_yaml


def test_sandbox_winchester_yaml_keys(corpus_config: Path) -> None:
    data = load_yaml(corpus_config / "winchester.yaml")
    settings = DistillerSettings.from_mapping(
        data, source="winchester.yaml", base_dir=corpus_config
    )
    assert settings.definitions == corpus_config / "event_definitions.yaml"
    assert settings.catchall is False and settings.ceilometer is False
    distiller = settings.build()
    assert distiller.definitions


def test_ceilometer_switch_and_plugins(tmp_path: Path, corpus_config: Path) -> None:
    config = tmp_path / "winchester.yaml"
    config.write_text(
        f"distiller_config: {corpus_config / 'ceilometer_event_definitions.yaml'}\n"
        "distiller_ceilometer: true\n"
        "catch_all_notifications: true\n"
        "distiller_trait_plugins: {part: 'distiller.plugins.split:SplitPlugin'}\n"
    )
    settings = DistillerSettings.from_mapping(load_yaml(config), source=str(config))
    distiller = settings.build()
    assert distiller.ceilometer and distiller.catchall
    assert settings.plugins == {"part": "distiller.plugins.split:SplitPlugin"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("other: 1\n", "distiller_config: required"),
        (
            "distiller_config: x.yaml\ndistiller_ceilometer: 'yes'\n",
            "distiller_ceilometer",
        ),
        ("distiller_config: x.yaml\ncatch_all_notifications: 1\n", "true or false"),
        ("distiller_config: x.yaml\ndistiller_trait_plugins: [a]\n", "name -> "),
    ],
)
def test_bad_values_name_file_line_and_key(
    tmp_path: Path, text: str, fragment: str
) -> None:
    config = tmp_path / "winchester.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError) as info:
        DistillerSettings.from_mapping(load_yaml(config), source=str(config))
    assert str(info.value).startswith(str(config))
    assert fragment in str(info.value)
