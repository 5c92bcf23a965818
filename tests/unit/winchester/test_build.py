"""winchester.build: the trigger manager built from winchester.yaml (SQLite)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from stacktach.exceptions import ConfigError
from tests.support.settings import notification, write_settings
from winchester.build import build_trigger_manager
from winchester.clock import EventClock, FixedClock, WallClock
from winchester.config.settings import WinchesterSettings
from winchester.ingest import TriggerManager
from winchester.storage import schema
from winchester.storage.migrate import upgrade
from winchester.storage.values import decode_traits


def build(tmp_path: Path, **settings: Any) -> TriggerManager:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    path = write_settings(tmp_path / "etc", url, **settings)
    manager = build_trigger_manager(WinchesterSettings.load(path))
    upgrade(manager.engine)
    return manager


def stored(manager: TriggerManager) -> dict[str, dict[str, Any]]:
    """message_id -> traits of every stored event."""
    with manager.engine.connect() as conn:
        rows = conn.execute(sa.select(schema.event.c.message_id, schema.event.c.traits))
        return {message_id: decode_traits(traits) for message_id, traits in rows}


def test_trait_plugins_triggers_and_clock_come_from_the_settings(
    tmp_path: Path,
) -> None:
    manager = build(tmp_path)
    try:
        result = manager.add_notifications([notification(1)])
        assert result.saved == 1
        traits = stored(manager)["msg-000001"]
        assert traits["host_part"] == "host-1"  # the alias plugin ``part``
        assert [t.name for t in manager.triggers] == ["per_instance"]
        assert result.streams_created == 1
        assert isinstance(manager.clock, WallClock)  # clock: wall, the default
    finally:
        manager.engine.dispose()


def test_ceilometer_mode_from_the_settings_takes_effect(tmp_path: Path) -> None:
    plain = build(tmp_path / "plain")
    ceilometer = build(tmp_path / "ceilometer", distiller_ceilometer=True)
    try:
        for manager in (plain, ceilometer):
            manager.add_notifications([notification(1)])
        plain_traits = stored(plain)["msg-000001"]
        ceilometer_traits = stored(ceilometer)["msg-000001"]
        # ctxt.user_id is a Ceilometer path: read only in Ceilometer mode.
        assert "ctx_user" not in plain_traits
        assert ceilometer_traits["ctx_user"] == "user-ctx"
        # Ceilometer's default traits: project_id and user_id besides tenant_id.
        assert "project_id" not in plain_traits
        assert ceilometer_traits["project_id"] == "tenant-ctx"
        assert ceilometer_traits["user_id"] == "user-payload"
    finally:
        plain.engine.dispose()
        ceilometer.engine.dispose()


@pytest.mark.parametrize("catch_all", [False, True])
def test_catch_all_from_the_settings_takes_effect(
    tmp_path: Path, catch_all: bool
) -> None:
    manager = build(tmp_path, catch_all_notifications=catch_all)
    try:
        result = manager.add_notifications([notification(1, "image.upload")])
        assert result.saved == int(catch_all)
        assert result.unmatched == int(not catch_all)
        if catch_all:
            assert stored(manager)["msg-000001"]["service"] == "compute.host-1"
    finally:
        manager.engine.dispose()


def test_the_clock_setting_and_an_override(tmp_path: Path) -> None:
    manager = build(tmp_path / "a", clock="event")
    assert isinstance(manager.clock, EventClock)
    manager.engine.dispose()
    settings = WinchesterSettings.load(tmp_path / "a" / "etc" / "winchester.yaml")
    frozen = FixedClock(EventClock(manager.engine).now())
    for clock, kind in ((frozen, FixedClock), ("wall", WallClock)):
        other = build_trigger_manager(settings, clock=clock)
        assert isinstance(other.clock, kind)
        other.engine.dispose()


def test_without_a_distiller_for_already_distilled_events(tmp_path: Path) -> None:
    path = write_settings(tmp_path, "sqlite://", distiller_config=None)
    settings = WinchesterSettings.load(path)
    manager = build_trigger_manager(settings, with_distiller=False)
    assert manager.distiller is None
    manager.engine.dispose()
    with pytest.raises(ConfigError, match=r"distiller_config: required to ingest"):
        build_trigger_manager(settings)


def test_missing_triggers_are_an_error_only_when_needed(tmp_path: Path) -> None:
    path = write_settings(tmp_path, "sqlite://", trigger_definitions=None)
    settings = WinchesterSettings.load(path)
    manager = build_trigger_manager(settings)
    assert manager.triggers == []
    manager.engine.dispose()
    with pytest.raises(ConfigError, match=r"winchester.yaml: trigger_definitions: req"):
        build_trigger_manager(settings, need_triggers=True, purpose="replay")
