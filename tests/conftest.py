"""Fixtures shared by every test: where the shared corpus is, and the CI policy.

The corpus lives beside the repository in ``../shared/corpus`` (override with
``STACKTACH_SHARED``). Under ``CI=true`` a missing corpus or service fails the run
instead of skipping tests.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("STACKTACH_SHARED", ROOT.parent / "shared"))
CORPUS = SHARED / "corpus"
IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip the test when ``condition`` is false - or fail it under CI."""
    if not condition:
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: required)")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared notification corpus directory."""
    require(CORPUS.is_dir(), f"shared corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture(scope="session")
def corpus_config(corpus: Path) -> Path:
    """The original sample configuration files."""
    return corpus / "config"


def corpus_files(corpus: Path) -> list[Path]:
    """Every notification file of the corpus (not the ``.sources`` sidecars)."""
    return sorted(
        p for p in corpus.glob("*.jsonl") if not p.name.endswith(".sources.jsonl")
    )


def read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """``(line number, decoded object)`` for each non-blank line of ``path``."""
    with path.open(encoding="utf-8") as stream:
        for number, line in enumerate(stream, 1):
            if line.strip():
                yield number, json.loads(line)
