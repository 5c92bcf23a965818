"""max_notification_size and clock_max_skew reach the manager from winchester.yaml."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.support.settings import write_settings
from winchester.build import build_trigger_manager
from winchester.config.settings import WinchesterSettings
from winchester.ingest import (
    DEFAULT_CLOCK_MAX_SKEW,
    DEFAULT_MAX_NOTIFICATION_SIZE,
)
from winchester.storage.migrate import upgrade


def test_defaults_and_settings_reach_the_manager(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    default = build_trigger_manager(
        WinchesterSettings.load(write_settings(tmp_path / "a", url))
    )
    assert default.max_notification_size == DEFAULT_MAX_NOTIFICATION_SIZE
    assert default.clock_max_skew == DEFAULT_CLOCK_MAX_SKEW
    default.engine.dispose()
    path = write_settings(
        tmp_path / "b", url, max_notification_size=2048, clock_max_skew=60
    )
    manager = build_trigger_manager(WinchesterSettings.load(path))
    upgrade(manager.engine)
    assert manager.clock_max_skew == timedelta(seconds=60)
    result = manager.add_notifications([b"x" * 4096])
    assert result.rejected == [
        (0, "notification is 4096 bytes; max_notification_size is 2048")
    ]
    manager.engine.dispose()


def test_sizes_given_by_the_caller_decide_the_size_check(tmp_path: Path) -> None:
    """yagi-event passes the bytes it received: the dicts are not measured again."""
    import pytest

    url = f"sqlite:///{tmp_path / 'w.db'}"
    path = write_settings(tmp_path / "c", url, max_notification_size=2048)
    manager = build_trigger_manager(WinchesterSettings.load(path))
    upgrade(manager.engine)
    small = {"event_type": "compute.instance.update"}  # tiny as a dict
    result = manager.add_notifications([small, small], sizes=[2049, 10])
    assert (0, "notification is 2049 bytes; max_notification_size is 2048") in (
        result.rejected
    )
    assert all(
        index != 1 or "max_notification_size" not in reason
        for index, reason in result.rejected
    )
    with pytest.raises(ValueError, match="1 sizes for 2 notifications"):
        manager.add_notifications([small, small], sizes=[1])
    manager.engine.dispose()


def test_indexed_traits_reach_the_manager(tmp_path: Path) -> None:
    """Only the traits winchester.yaml's indexed_traits names get index rows."""
    import sqlalchemy as sa

    from tests.support.settings import notification
    from winchester.storage import schema

    url = f"sqlite:///{tmp_path / 'w.db'}"
    path = write_settings(tmp_path / "d", url, indexed_traits=["instance_*"])
    manager = build_trigger_manager(WinchesterSettings.load(path))
    upgrade(manager.engine)
    assert manager.add_notifications([notification(1)]).saved == 1
    names, index = schema.trait_name, schema.trait_index
    with manager.engine.connect() as conn:
        indexed = {
            n for n, i in conn.execute(sa.select(names.c.name, names.c.indexed)) if i
        }
        rows = conn.execute(sa.select(sa.func.count()).select_from(index)).scalar()
    assert indexed == {"instance_id"} and rows == 1
    manager.engine.dispose()
