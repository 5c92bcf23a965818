"""``pipeline-worker --reset-errors``: bring errored streams back once they can run.

A stream goes to ``error``/``expire_error`` after ``max_attempts`` failures, or
at once when its trigger is no longer defined in ``triggers.yaml`` (removed
while its streams were open). Once the cause is fixed - the trigger defined
again - :func:`reset_errors` moves the errored streams of the given triggers
(default: every trigger ``triggers.yaml`` defines) back: ``error`` ->
``retry_fire``, ``expire_error`` -> ``retry_expire``, attempts from zero
(:func:`winchester.storage.lifecycle.reset_errors`). Streams of triggers still
undefined stay in error and are reported; naming one with ``--trigger`` is a
configuration error (exit 2), since its streams would only fail again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import click
from sqlalchemy.engine import Connection

from stacktach.exceptions import ConfigError
from winchester.build import build_engine
from winchester.config.diagnostics import did_you_mean
from winchester.config.settings import WinchesterSettings
from winchester.config.triggers import load_triggers
from winchester.states import StreamState
from winchester.storage import lifecycle
from winchester.storage.engine import run_transaction
from winchester.storage.startup import require_schema

__all__ = ["ResetReport", "reset_errors", "reset_errors_command"]


@dataclass(slots=True)
class ResetReport:
    """What a reset did: streams moved per trigger and state, and those left."""

    moved: dict[str, dict[StreamState, int]] = field(default_factory=dict)
    undefined: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(sum(states.values()) for states in self.moved.values())

    def lines(self) -> list[str]:
        """The report for people, one line per fact."""
        lines = [f"reset {self.total} errored streams"]
        for trigger, states in sorted(self.moved.items()):
            parts = ", ".join(
                f"{count} to {state.name.lower()}" for state, count in states.items()
            )
            lines.append(f"  trigger {trigger}: {parts}")
        for trigger, count in sorted(self.undefined.items()):
            lines.append(
                f"  trigger {trigger}: {count} streams stay in error (not defined "
                "in triggers.yaml)"
            )
        return lines


def reset_errors(
    settings: WinchesterSettings, only: Sequence[str] = (), *, config: str = ""
) -> ResetReport:
    """Reset the errored streams of the triggers ``only`` (default: all defined).

    Raises :class:`ConfigError` when a trigger of ``only`` is not defined or the
    schema is not the code's (``config`` names the file in that message), and
    :class:`~winchester.storage.engine.DatabaseUnavailable` when the database
    cannot be reached.
    """
    path = settings.locate("trigger_definitions")
    if path is None:
        raise ConfigError(
            "--reset-errors needs trigger_definitions", source=str(settings.source)
        )
    defined = {trigger.name for trigger in load_triggers(path)}
    for name in only:
        if name not in defined:
            raise ConfigError(
                f"trigger {name!r} is not defined in {path}; define it again "
                f"before resetting its streams{did_you_mean(name, defined)}",
                key="--trigger",
            )
    engine = build_engine(settings)
    try:
        require_schema(engine, config or str(settings.source))

        def work(conn: Connection) -> ResetReport:
            errored = lifecycle.errored_triggers(conn)
            names = sorted(set(only) if only else defined & errored.keys())
            return ResetReport(
                moved=lifecycle.reset_errors(conn, names),
                undefined={
                    name: count
                    for name, count in errored.items()
                    if name not in defined and not only
                },
            )

        return run_transaction(engine, work, what="reset errors")
    finally:
        engine.dispose()


def reset_errors_command(config: str, triggers: Sequence[str], *, flag: bool) -> None:
    """``pipeline-worker --reset-errors [--trigger NAME]``: print the report.

    ``--trigger`` without ``--reset-errors`` is a usage error (exit 2); other
    errors propagate to the command's one-line error handling
    (:mod:`stacktach.cli`: 2 for configuration, 1 for an unreachable database).
    """
    if not flag:
        raise click.UsageError("--trigger needs --reset-errors")
    report = reset_errors(WinchesterSettings.load(config), triggers, config=config)
    for line in report.lines():
        click.echo(line)
