"""Fixtures for the notigen tests: the shared corpus and a few simulated days."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from notigen import Engine, SimConfig
from notigen.clock import DAY
from notigen.operations import Emitted
from tests.conftest import CORPUS, require

#: The simulation most tests look at: three days, a fleet that starts at 30.
THREE_DAYS = SimConfig(seed=11, duration=3 * DAY, instances=30, ops_per_hour=90)


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared corpus directory (skips, or fails under CI, when missing)."""
    require(CORPUS.is_dir(), f"shared corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture(scope="session")
def real_legacy(corpus: Path) -> list[dict[str, Any]]:
    """The rendered notigen templates: real legacy nova notifications."""
    with open(corpus / "notigen-nova.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture(scope="session")
def real_versioned(corpus: Path) -> list[dict[str, Any]]:
    """Nova's versioned notification samples."""
    with open(corpus / "nova-versioned.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture(scope="session")
def three_days() -> list[Emitted]:
    """Every (message, hints) of :data:`THREE_DAYS`, in order."""
    return list(Engine(THREE_DAYS))


@pytest.fixture(scope="session")
def three_days_messages(three_days: list[Emitted]) -> list[dict[str, Any]]:
    """Just the legacy messages of :data:`THREE_DAYS`."""
    return [message for message, _ in three_days]
