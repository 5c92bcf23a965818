"""Property-based fuzzing of quince from its own /openapi.json (schemathesis).

In process (``schemathesis.openapi.from_wsgi``) over a small database (SQLite,
MariaDB and PostgreSQL) filled from a notigen day, with a token configured and
sent (so writes really reset and delete). Checks: no 5xx, documented status
codes, content types and response schemas. Bounded: 25 examples per operation,
derandomized (some 15 s for the three backends).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from quince.app import create_app
from tests.conftest import make_database
from tests.support.quince import ingest, notigen_day, write_config
from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade


@pytest.fixture(scope="module", params=["sqlite", "mysql", "postgresql"])
def app(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    corpus_config: Path,
) -> object:
    folder = tmp_path_factory.mktemp("fuzz")
    url = make_database(request.param, request, folder)
    upgrade(connect(url))
    config = write_config(folder / "cfg", corpus_config, url, token="fuzz-token")
    ingest(url, folder / "cfg", notigen_day(folder / "day.jsonl", 5, count=200))
    return create_app(config)


# /v1/stream never ends (server-sent events; tests/functional/test_live.py
# covers it). The filter goes on the lazy schema: one set on the fixture's
# schema is not applied when the lazy schema parametrizes the test.
schema = schemathesis.pytest.from_fixture("fuzz_schema").exclude(path="/v1/stream")


@pytest.fixture(scope="module")
def fuzz_schema(app: object) -> object:
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_error_and_responses_conform(case: object) -> None:
    case.call_and_validate(  # type: ignore[attr-defined]
        headers={"Authorization": "Bearer fuzz-token"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
