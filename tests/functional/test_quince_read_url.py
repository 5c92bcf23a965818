"""``database.read_url``: quince reads from it; writes (reset, delete) go to ``url``.

Two SQLite files stand in for a primary and a replica that has not caught up:
what quince shows comes from the replica, what it deletes is deleted on the
primary.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import falcon.testing
import pytest
import sqlalchemy as sa

from distiller import Event
from quince.app import create_app
from stacktach.exceptions import ConfigError
from tests.support.settings import write_settings
from winchester.clock import FixedClock
from winchester.config.settings import WinchesterSettings
from winchester.config.triggers import build_triggers
from winchester.ingest import TriggerManager
from winchester.storage import schema
from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade

T0 = datetime(2024, 3, 10, 12, tzinfo=UTC)
TRIGGER = {
    "name": "per_instance",
    "distinguished_by": ["instance_id"],
    "expiration": "$last + 1h",
    "fire_pipeline": "fire",
    "match_criteria": [{"event_type": "compute.instance.*"}],
    "fire_criteria": [{"event_type": "compute.instance.exists"}],
}


def _fill(url: str, message_id: str) -> None:
    engine = connect(url)
    upgrade(engine)
    manager = TriggerManager(engine, build_triggers([TRIGGER]), FixedClock(T0))
    manager.add_events(
        [Event("compute.instance.update", message_id, T0, {"instance_id": "i-1"})]
    )
    engine.dispose()


def _stream_ids(url: str) -> list[int]:
    engine = connect(url)
    with engine.connect() as conn:
        ids = conn.execute(sa.select(schema.stream.c.id)).scalars().all()
    engine.dispose()
    return [int(i) for i in ids]


def test_reads_go_to_read_url_and_writes_to_url(tmp_path: Path) -> None:
    primary = f"sqlite:///{tmp_path / 'primary.db'}"
    replica = f"sqlite:///{tmp_path / 'replica.db'}"
    _fill(primary, "on-the-primary")
    _fill(replica, "on-the-replica")
    config = write_settings(tmp_path, primary)
    text = config.read_text().replace(
        f'"url": "{primary}"', f'"url": "{primary}", "read_url": "{replica}"'
    )
    config.write_text(text)
    settings = WinchesterSettings.load(config)
    assert settings.database.read_url == replica
    client = falcon.testing.TestClient(create_app(config))

    events = client.simulate_get("/v1/events").json
    assert [e["message_id"] for e in events] == ["on-the-replica"]

    [stream_id] = _stream_ids(primary)
    assert client.simulate_delete(f"/v1/streams/{stream_id}").status_code == 204
    assert _stream_ids(primary) == []  # deleted where writes go
    assert _stream_ids(replica) == [stream_id]  # the replica is only read


def test_a_bad_read_url_names_the_key(tmp_path: Path) -> None:
    config = write_settings(tmp_path, f"sqlite:///{tmp_path / 'w.db'}")
    config.write_text(
        config.read_text().replace('"url": ', '"read_url": "not a url", "url": ', 1)
    )
    with pytest.raises(ConfigError, match=r"database\.read_url"):
        WinchesterSettings.load(config)
