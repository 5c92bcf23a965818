"""Handler names: built-in aliases, the original class paths, import strings."""

from __future__ import annotations

import pytest

from distiller.plugins.split import SplitPlugin
from stacktach.exceptions import PluginError
from winchester.config import BUILTIN_HANDLERS, check_handler, resolve_handler
from winchester.config.handlers import LEGACY_HANDLERS


def test_the_builtin_aliases() -> None:
    assert set(BUILTIN_HANDLERS) == {"logger", "usage", "notabene", "atompub"}
    assert all(v.startswith("winchester.handlers.") for v in BUILTIN_HANDLERS.values())
    assert set(LEGACY_HANDLERS.values()) == set(BUILTIN_HANDLERS)


@pytest.mark.parametrize(
    "spec", ["logger", "usage", "winchester.pipeline_handler:NotabeneHandler"]
)
def test_builtins_not_shipped_yet_are_pending(spec: str) -> None:
    try:
        status = check_handler(spec)
    except PluginError as exc:  # pragma: no cover - only once they are shipped
        pytest.fail(str(exc))
    assert status in ("pending", "ok")


def test_an_importable_class_is_ok() -> None:
    assert check_handler("distiller.plugins.split:SplitPlugin") == "ok"
    assert resolve_handler("distiller.plugins.split:SplitPlugin") is SplitPlugin


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("no.such.module:Handler", "cannot import 'no.such.module'"),
        ("distiller.plugins.split:SplitPlugn", "did you mean 'SplitPlugin'?"),
        ("loger", "did you mean 'logger'?"),
        ("distiller.plugins.split:__name__", "not a class"),
    ],
)
def test_other_failures_are_errors(spec: str, fragment: str) -> None:
    with pytest.raises(PluginError, match=fragment):
        check_handler(spec)
