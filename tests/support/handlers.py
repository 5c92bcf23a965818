"""Pipeline handlers for tests, importable by worker subprocesses.

``SideEffectHandler`` records each commit as a row in its own table
(``side_effect``), so a test can count how many times a stream's pipeline really
committed - across processes - without trusting the worker's bookkeeping. In
the same transaction it records the effect itself in ``side_effect_once``, keyed
on the run (stream id and firing/expiring), as a handler with an external effect
must: ``commit`` is at-least-once (a worker that dies, or whose database node
dies, between its commit and the stream's completion leaves the stream to run
again), so the effect is made idempotent on that key, and happens exactly once.
"""

from __future__ import annotations

import os
import time
from typing import Any

import sqlalchemy as sa

from winchester.handlers.base import EventDict, PipelineHandler
from winchester.storage.dialect import insert_ignore

side_effects = sa.Table(
    "side_effect",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("stream_id", sa.BigInteger, nullable=False),
    sa.Column("events", sa.Integer, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
)


effects_once = sa.Table(
    "side_effect_once",
    side_effects.metadata,
    sa.Column("stream_id", sa.BigInteger, primary_key=True),
    sa.Column("run", sa.String(16), primary_key=True),
    sa.Column("events", sa.Integer, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
)


def create_table(engine: sa.Engine) -> None:
    """Create the tables unless they exist (workers start at once: one wins)."""
    for table in (side_effects, effects_once):
        try:
            table.create(engine, checkfirst=True)
        except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
            if "already exists" not in str(exc):
                raise


class SideEffectHandler(PipelineHandler):
    """Commit inserts one row per stream run; ``sleep`` slows handle_events,
    ``commit_sleep`` the commit (before its insert, like a slow POST)."""

    def __init__(
        self,
        url: str,
        sleep: float = 0.0,
        fail_commit: bool = False,
        commit_sleep: float = 0.0,
    ) -> None:
        self.engine = sa.create_engine(url)
        create_table(self.engine)
        self.sleep = sleep
        self.commit_sleep = commit_sleep
        self.fail_commit = fail_commit
        self._pending: tuple[int, str, int] | None = None

    def handle_events(
        self, events: list[EventDict], env: dict[str, Any]
    ) -> list[EventDict]:
        self._pending = (int(env["stream_id"]), str(env["stream_state"]), len(events))
        if self.sleep:
            time.sleep(self.sleep)
        return events

    def commit(self) -> None:
        if self.fail_commit:
            raise RuntimeError("the side effect failed")
        assert self._pending is not None
        stream_id, run, count = self._pending
        if self.commit_sleep:
            time.sleep(self.commit_sleep)
        row = {"stream_id": stream_id, "events": count, "pid": os.getpid()}
        with self.engine.begin() as conn:
            conn.execute(side_effects.insert().values(**row))
            conn.execute(
                insert_ignore(conn, effects_once, ["stream_id", "run"]),
                {**row, "run": run},
            )

    def rollback(self) -> None:
        self._pending = None


def runs(url: str) -> dict[int, int]:
    """stream id -> number of committed runs."""
    return _per_stream(url, side_effects)


def _per_stream(url: str, table: sa.Table) -> dict[int, int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.stream_id, sa.func.count()).group_by(table.c.stream_id)
        ).all()
    engine.dispose()
    return {stream_id: count for stream_id, count in rows}
