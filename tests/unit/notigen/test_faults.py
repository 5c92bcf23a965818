"""Injected faults: the shares asked for, a log that says exactly what was done."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest

from notigen import (
    Engine,
    FaultConfig,
    FaultInjector,
    FaultLog,
    Renderer,
    SimConfig,
    generate_lines,
)
from notigen.clock import DAY

CONFIG = SimConfig(seed=21, duration=2 * DAY, instances=60, ops_per_hour=60)
SHARES = FaultConfig(duplicates=0.02, malformed=0.03, anomalies=0.15)


def _run(faults: FaultConfig | None) -> tuple[list[bytes], list[dict[str, Any]]]:
    stream = io.BytesIO()
    injector = (
        None if faults is None else FaultInjector(faults, CONFIG.seed, FaultLog(stream))
    )
    lines = [
        line.data
        for line in generate_lines(Engine(CONFIG), Renderer(), faults=injector)
    ]
    log = [orjson.loads(row) for row in stream.getvalue().splitlines()]
    return lines, log


@pytest.fixture(scope="module")
def clean() -> list[bytes]:
    return _run(None)[0]


@pytest.fixture(scope="module")
def faulty() -> tuple[list[bytes], list[dict[str, Any]]]:
    return _run(SHARES)


def test_shares_are_as_requested(
    clean: list[bytes], faulty: tuple[list[bytes], list[dict[str, Any]]]
) -> None:
    lines, log = faulty
    total = len(lines)
    assert total > 20_000
    duplicates = sum(1 for e in log if e["fault"] == "duplicate")
    malformed = sum(1 for e in log if e["fault"] == "malformed")
    anomalies = sum(1 for e in log if e["fault"] == "anomaly")
    exists = sum(1 for data in clean if b'"compute.instance.exists"' in data)
    assert duplicates / total == pytest.approx(0.02, abs=0.004)
    assert malformed / total == pytest.approx(0.03, abs=0.005)
    assert anomalies / exists == pytest.approx(0.15, abs=0.04)
    kinds = {(e["fault"], e["kind"]) for e in log}
    assert kinds == {
        ("duplicate", "redelivery"),
        ("malformed", "not_json"),
        ("malformed", "no_event_type"),
        ("anomaly", "launched_at_mismatch"),
        ("anomaly", "delete_without_exists"),
    }


def test_the_log_describes_every_faulty_line(
    clean: list[bytes], faulty: tuple[list[bytes], list[dict[str, Any]]]
) -> None:
    lines, log = faulty
    clean_by_id = {orjson.loads(d)["message_id"]: orjson.loads(d) for d in clean}
    faulty_lines = set()
    for entry in log:
        number = entry["line"]
        if number is not None:
            faulty_lines.add(number)
            data = lines[number - 1]
        if entry["fault"] == "duplicate":
            assert data == lines[entry["original_line"] - 1]
            assert entry["original_line"] < number
            assert orjson.loads(data)["message_id"] == entry["message_id"]
        elif entry["kind"] == "not_json":
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(data)
        elif entry["kind"] == "no_event_type":
            body = orjson.loads(data)
            assert "event_type" not in body
            assert body["message_id"] == entry["message_id"]
            assert entry["message_id"] not in clean_by_id
        elif entry["kind"] == "launched_at_mismatch":
            body = orjson.loads(data)
            assert body["event_type"] == "compute.instance.exists"
            assert body["message_id"] == entry["message_id"]
            assert body["payload"]["launched_at"] == entry["launched_at"]
            truth = clean_by_id[entry["message_id"]]["payload"]["launched_at"]
            assert entry["expected"] == truth != entry["launched_at"]
        elif entry["kind"] == "delete_without_exists":
            assert number is None
            dropped = clean_by_id[entry["message_id"]]
            assert dropped["event_type"] == "compute.instance.exists"
            assert dropped["payload"]["state"] == "deleted"
            assert entry["instance_id"] == dropped["payload"]["instance_id"]
    # Every line the log does not name as malformed is a whole notification.
    malformed = {e["line"] for e in log if e["fault"] == "malformed"}
    for number, data in enumerate(lines, 1):
        if number not in malformed:
            assert "event_type" in orjson.loads(data)


def test_faults_leave_the_rest_untouched(
    clean: list[bytes], faulty: tuple[list[bytes], list[dict[str, Any]]]
) -> None:
    lines, log = faulty
    injected = {e["line"] for e in log if e["fault"] in ("duplicate", "malformed")}
    spoiled = {e["line"] for e in log if e["kind"] == "launched_at_mismatch"}
    dropped = {e["message_id"] for e in log if e["kind"] == "delete_without_exists"}
    kept = [d for d in clean if orjson.loads(d)["message_id"] not in dropped]
    real = [d for n, d in enumerate(lines, 1) if n not in injected]
    assert len(real) == len(kept)
    differing = [(a, b) for a, b in zip(real, kept, strict=True) if a != b]
    assert len(differing) == len(spoiled) > 0
    for ours, theirs in differing:
        spoilt, truth = orjson.loads(ours), orjson.loads(theirs)
        assert spoilt["payload"]["launched_at"] != truth["payload"]["launched_at"]
        spoilt["payload"]["launched_at"] = truth["payload"]["launched_at"]
        assert spoilt == truth  # launched_at is the only difference


def test_count_includes_faults() -> None:
    injector = FaultInjector(FaultConfig(malformed=0.5), 1, FaultLog())
    lines = list(generate_lines(Engine(CONFIG), Renderer(), faults=injector, count=500))
    assert len(lines) == 500
    counts = injector.log.counts
    assert 150 < counts["malformed:not_json"] + counts["malformed:no_event_type"] < 350


@pytest.mark.parametrize(
    "shares",
    [
        {"duplicates": -0.1},
        {"malformed": 1.0},
        {"anomalies": 2},
        {"duplicates": 0.6, "malformed": 0.5},
    ],
)
def test_impossible_shares_are_refused(shares: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        FaultConfig(**shares)
