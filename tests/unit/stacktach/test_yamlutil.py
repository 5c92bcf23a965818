from pathlib import Path

import pytest

from stacktach.exceptions import ConfigError
from stacktach.yamlutil import LineDict, key_line, load_yaml


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conf.yaml"
    path.write_text(text)
    return path


def test_lines_of_mappings_and_keys(tmp_path: Path) -> None:
    data = load_yaml(write(tmp_path, "# comment\n- name: a\n  value: 1\n- name: b\n"))
    assert isinstance(data[0], LineDict)
    assert key_line(data[0]) == 2
    assert key_line(data[0], "value") == 3
    assert key_line(data[1], "name") == 4
    assert key_line({"plain": "dict"}, "plain") is None


def test_merge_keys_work_and_keep_the_anchor_lines(tmp_path: Path) -> None:
    text = "base: &b\n  x: 1\n  y: 2\nchild:\n  <<: *b\n  y: 3\n"
    data = load_yaml(write(tmp_path, text))
    assert data["child"] == {"x": 1, "y": 3}
    assert key_line(data["child"], "x") == 2  # where x is written
    assert key_line(data["child"], "y") == 6


def test_duplicate_keys_are_an_error_naming_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\nb: 2\na: 3\n")
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    assert str(info.value) == (
        f"{path}:3: key 'a' appears twice in one mapping (first on line 1)"
    )


def test_syntax_errors_name_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    assert str(info.value).startswith(f"{path}:")
    assert "invalid YAML" in str(info.value)
    assert info.value.line is not None


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_yaml(tmp_path / "nope.yaml")


def test_unsafe_tags_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "a: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_yaml(path)
