"""Build the trigger manager from ``winchester.yaml``: one way, used everywhere.

Every program that stores events - ``yagi-event``'s winchester handler, archive
replay, ``winchester-db ingest`` and the pipeline worker (for the events its
handlers emit) - builds its :class:`~winchester.ingest.TriggerManager` with
:func:`build_trigger_manager`, so each of them honours the same settings:

* the distiller from ``distiller_config`` with ``distiller_trait_plugins``,
  ``catch_all_notifications`` and ``distiller_ceilometer``
  (:meth:`~distiller.settings.DistillerSettings.build`);
* the triggers of ``trigger_definitions`` (none when the key is unset, unless the
  caller needs them);
* the database of ``database`` (:func:`~winchester.storage.engine.connect`);
* the clock named by ``clock`` (:func:`~winchester.clock.make_clock`).

A caller may pass its own ``engine`` or ``clock`` (a test's frozen clock), or
name the clock's kind (replay always runs on the event-time clock). Nothing is
opened before the settings are known to be complete: a missing key raises
:class:`~stacktach.exceptions.ConfigError` naming the file, the key and what
needs it.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from distiller import Distiller
from stacktach.exceptions import ConfigError
from winchester.clock import Clock, make_clock
from winchester.config.settings import WinchesterSettings
from winchester.config.triggers import load_triggers
from winchester.ingest import TriggerManager
from winchester.storage.engine import connect

__all__ = ["build_distiller", "build_engine", "build_trigger_manager"]


def build_engine(settings: WinchesterSettings) -> Engine:
    """The database engine ``settings.database`` describes."""
    return connect(
        settings.database.url,
        echo=settings.database.echo_sql,
        timeouts=settings.database.timeouts,
    )


def build_distiller(settings: WinchesterSettings, *, purpose: str) -> Distiller:
    """The distiller of ``distiller_config`` and the other distiller keys.

    ``purpose`` ("ingest", "replay", ...) goes into the error when the key is unset.
    """
    distiller_settings = settings.distiller_settings()
    if distiller_settings is None:
        raise ConfigError(
            f"required to {purpose}: name the event_definitions.yaml file",
            source=str(settings.source),
            key="distiller_config",
        )
    return distiller_settings.build()


def build_trigger_manager(
    settings: WinchesterSettings,
    *,
    engine: Engine | None = None,
    clock: Clock | str | None = None,
    with_distiller: bool = True,
    need_triggers: bool = False,
    purpose: str = "ingest",
) -> TriggerManager:
    """The trigger manager ``settings`` describe; ``ConfigError`` if incomplete.

    ``with_distiller=False`` builds one for events that are already distilled
    (the pipeline worker's emitted events); otherwise ``distiller_config`` is
    required. ``need_triggers`` makes ``trigger_definitions`` required too.
    ``engine`` and ``clock`` default to those of the settings (``clock`` may
    also name a kind, ``"event"`` or ``"wall"``, overriding the setting); an
    engine built here is the caller's to dispose (``manager.engine.dispose()``).
    """
    distiller = build_distiller(settings, purpose=purpose) if with_distiller else None
    triggers_path = settings.locate("trigger_definitions")
    if triggers_path is None and need_triggers:
        raise ConfigError(
            f"required to {purpose}: name the triggers.yaml file",
            source=str(settings.source),
            key="trigger_definitions",
        )
    triggers = load_triggers(triggers_path) if triggers_path is not None else []
    if engine is None:
        engine = build_engine(settings)
    if clock is None or isinstance(clock, str):
        clock = make_clock(clock or settings.clock, engine)
    return TriggerManager(
        engine, triggers, clock, distiller=distiller, **TriggerManager.options(settings)
    )
