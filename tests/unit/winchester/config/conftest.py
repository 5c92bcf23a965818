"""Fixtures of the config tests: config files written to tmp_path, warnings."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from winchester.config import ConfigWarning


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write dedented YAML text to tmp_path/name and return the path."""

    def write_file(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write_file


@pytest.fixture
def warnings() -> list[ConfigWarning]:
    """A list to pass as ``warn=warnings.append``."""
    return []
