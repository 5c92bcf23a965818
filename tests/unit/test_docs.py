"""docs/: the generated references are current and cover every declaration.

``docs/generate.py`` writes configuration.rst and commands.rst; when a key, a
handler or plugin parameter, a command or an option is added, these tests fail
until it is described there (if its declaration has no help text) and the
generator is rerun: ``.venv/bin/python docs/generate.py``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from types import ModuleType

import click
import pytest

from distiller.plugins import BUILTIN_PLUGINS
from stacktach import plugins
from winchester.config import schema
from winchester.config.api import API_KEYS
from winchester.config.criteria import CRITERION_KEYS
from winchester.config.handlers import BUILTIN_HANDLERS
from winchester.config.triggers import TRIGGER_KEYS
from winchester.storage.engine import Timeouts
from yagi.config import KNOWN

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = (
    "index",
    "architecture",
    "commands",
    "configuration",
    "streams",
    "usage-audit",
    "troubleshooting",
    "ha",
)


@pytest.fixture(scope="module")
def generate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["configuration.rst", "commands.rst"])
def test_generated_file_is_current(generate: ModuleType, name: str) -> None:
    text = generate.GENERATED[name]()
    assert (DOCS / name).read_text(encoding="utf-8") == text, (
        f"docs/{name} is stale: run `.venv/bin/python docs/generate.py`"
    )


def _configuration() -> str:
    return (DOCS / "configuration.rst").read_text(encoding="utf-8")


def test_every_winchester_key_is_documented() -> None:
    text = _configuration()
    for setting in schema.SETTINGS:
        assert f"``{setting.name}``" in text, setting.name
        assert setting.help.split(";")[0] in text, setting.name
    for key in (
        "url",
        "echo_sql",
        *(f"{f.name}_timeout" for f in dataclasses.fields(Timeouts)),
    ):
        assert f"``database.{key}``" in text, key
    for key in API_KEYS:
        assert f"``api.{key}``" in text, key


def test_every_yagi_key_is_documented() -> None:
    text = _configuration()
    for section, keys in KNOWN.items():
        name = f"[{section}:<queue>]" if section == "consumer" else f"[{section}]"
        for key in keys:
            assert re.search(
                rf"\* - ``{re.escape(name)}``\n     - ``{re.escape(key)}``", text
            ), f"yagi.conf {name} {key}"


def test_every_trigger_and_definition_key_is_documented() -> None:
    text = _configuration()
    for key in (*TRIGGER_KEYS, *CRITERION_KEYS):
        assert f"``{key}``" in text, key


def test_every_handler_and_plugin_parameter_is_documented(generate: ModuleType) -> None:
    text = _configuration()
    for name, spec in BUILTIN_HANDLERS.items():
        for param in generate._params(plugins.load(spec)):
            assert re.search(rf"\* - ``{name}``\n     - ``{param.name}``", text), (
                f"{name} handler param {param.name}"
            )
    for name, cls in BUILTIN_PLUGINS.items():
        for param in inspect.signature(cls.__init__).parameters.values():
            if param.kind is param.POSITIONAL_OR_KEYWORD and param.name != "self":
                assert re.search(rf"\* - ``{name}``\n     - ``{param.name}``", text)


def test_an_undocumented_key_fails_the_generator(
    generate: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(KNOWN, "global", KNOWN["global"] | {"brand_new_key"})
    with pytest.raises(generate.Undocumented, match="brand_new_key"):
        generate.configuration()


def test_every_console_script_and_option_is_documented(generate: ModuleType) -> None:
    text = (DOCS / "commands.rst").read_text(encoding="utf-8")
    scripts = generate.console_scripts()
    assert len(scripts) >= 10
    for name, target in scripts.items():
        module, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module), attr)
        assert f"\n{name}\n{'-' * len(name)}\n" in text, f"{name} is not documented"
        _check_options(command, [name], text)


def _check_options(command: click.Command, path: list[str], text: str) -> None:
    title = " ".join(path)
    assert f"\n{title}\n" in text, title
    for param in command.params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("-"):
                assert opt in text, f"{title}: {opt}"
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            if not sub.hidden:
                _check_options(sub, [*path, name], text)


@pytest.mark.parametrize("page", PAGES)
def test_page_exists_and_is_in_the_index(page: str) -> None:
    path = DOCS / f"{page}.rst"
    assert path.exists(), f"docs/{page}.rst is missing"
    if page != "index":
        assert f"{page}.rst" in (DOCS / "index.rst").read_text(encoding="utf-8")


def test_readme_links_the_docs() -> None:
    readme = (ROOT / "README.rst").read_text(encoding="utf-8")
    assert "docs/index.rst" in readme
    assert "ansible-playbook" in readme


def test_usage_audit_page_covers_every_code() -> None:
    text = (DOCS / "usage-audit.rst").read_text(encoding="utf-8")
    for n in range(9):
        assert re.search(rf"^U{n}\b", text, re.M), f"U{n}"
