import json
import sys
from pathlib import Path

import pytest

from stacktach.exceptions import ConfigError, PluginError
from stacktach.plugins import load, resolve_import_string

ALIASES = {"split": "json:JSONDecoder", "bitfield": dict, "logger": "logging:getLogger"}


def test_alias_to_object_and_to_import_string() -> None:
    assert load("bitfield", ALIASES) is dict
    assert load("split", ALIASES) is json.JSONDecoder


def test_module_colon_class_and_nested_attribute() -> None:
    assert load("json:JSONDecoder") is json.JSONDecoder
    assert load("os.path:join") is __import__("os").path.join
    assert load("json:JSONDecoder.decode") is json.JSONDecoder.decode


def test_unknown_alias_suggests_close_names() -> None:
    with pytest.raises(PluginError) as info:
        load("spilt", ALIASES, kind="trait plugin")
    message = str(info.value)
    assert "unknown trait plugin 'spilt'" in message
    assert "did you mean 'split'" in message
    assert isinstance(info.value, ConfigError)


def test_unknown_alias_without_close_match_lists_known_names() -> None:
    with pytest.raises(PluginError, match="known names: bitfield, logger, split"):
        load("zzzzzz", ALIASES)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("json", "unknown plugin 'json'"),
        (":JSONDecoder", "no module before ':'"),
        ("json:", "nothing after ':'"),
        ("no_such_module_xyz:Thing", "cannot import 'no_such_module_xyz'"),
        ("json:JSONDecodr", "did you mean 'JSONDecoder'"),
        ("|json:JSONDecoder", "nothing before '|'"),
        ("/no/such/dir|json:JSONDecoder", "directory '/no/such/dir' not found"),
    ],
)
def test_bad_strings_say_what_is_wrong(spec: str, fragment: str) -> None:
    with pytest.raises(PluginError) as info:
        load(spec)
    assert fragment in str(info.value)


def test_directory_form_puts_the_directory_on_the_path(tmp_path: Path) -> None:
    (tmp_path / "stt_dir_plugin.py").write_text("class Thing:\n    answer = 42\n")
    try:
        thing = resolve_import_string(f"{tmp_path}|stt_dir_plugin:Thing")
        assert thing.answer == 42
        assert str(tmp_path) in sys.path
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("stt_dir_plugin", None)


@pytest.mark.parametrize("name", ["", "   ", None])
def test_empty_names_rejected(name: object) -> None:
    with pytest.raises(PluginError, match="non-empty string"):
        load(name)  # type: ignore[arg-type]
