"""Same seed and options, same bytes; another seed, other bytes."""

from __future__ import annotations

import hashlib

from notigen import (
    Engine,
    FaultConfig,
    FaultInjector,
    FaultLog,
    Renderer,
    SimConfig,
    generate_lines,
)
from notigen.clock import HOUR

CONFIG = SimConfig(seed=5, duration=6 * HOUR, instances=15, ops_per_hour=200)


def _digest(
    config: SimConfig, *, faults: FaultConfig | None = None, **shape: bool
) -> str:
    injector = (
        None if faults is None else FaultInjector(faults, config.seed, FaultLog())
    )
    lines = generate_lines(Engine(config), Renderer(**shape), faults=injector)
    digest = hashlib.sha256()
    count = 0
    for line in lines:
        digest.update(line.data + b"\n")
        count += 1
    assert count > 1000
    return digest.hexdigest()


def test_same_seed_same_bytes() -> None:
    assert _digest(CONFIG) == _digest(CONFIG)


def test_same_seed_same_bytes_in_every_shape_and_with_faults() -> None:
    faults = FaultConfig(duplicates=0.02, malformed=0.02, anomalies=0.1)
    for shape in ({"envelope": True}, {"versioned": True}):
        assert _digest(CONFIG, **shape) == _digest(CONFIG, **shape)
    assert _digest(CONFIG, faults=faults) == _digest(CONFIG, faults=faults)


def test_another_seed_other_bytes() -> None:
    other = SimConfig(seed=6, duration=CONFIG.duration, instances=15, ops_per_hour=200)
    assert _digest(CONFIG) != _digest(other)


def test_ids_are_uuid4_shaped_and_unique() -> None:
    import uuid

    seen = set()
    for message, _ in Engine(CONFIG):
        parsed = uuid.UUID(message["message_id"])
        assert parsed.version == 4 and str(parsed) == message["message_id"]
        assert message["_context_request_id"].startswith("req-")
        uuid.UUID(message["_context_request_id"][4:])
        assert len(message["_unique_id"]) == 32
        seen.add(message["message_id"])
    assert len(seen) > 1000  # no repeats (set size == count checked below)


def test_message_ids_never_repeat() -> None:
    ids = [m["message_id"] for m, _ in Engine(CONFIG)]
    assert len(ids) == len(set(ids))
