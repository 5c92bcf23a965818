"""The pipeline worker: claim ready streams, run their pipelines, finish them.

One :meth:`PipelineWorker.run_once` pass:

1. takes back streams whose lease lapsed (their worker died) - to ``retry_*``
   after a backoff, or to ``error``/``expire_error`` after ``max_attempts``;
2. claims up to ``batch_size`` streams ready to fire (then to expire) with a
   lease (:mod:`winchester.storage.lifecycle`), loads their events in one query,
   and for each runs its trigger's ``fire_pipeline``/``expire_pipeline``:
   ``handle_events`` on every handler, then ``commit`` on every handler (side
   effects), or ``rollback`` if a ``handle_events`` failed;
3. finishes the streams that succeeded in **one transaction** that also stores
   (and matches against the triggers) the new events their handlers emitted;
   records failures (retry with backoff, or error with the reason);
4. trims old events when ``trim_events`` is on.

Handlers are built **once** per worker, when it starts (a bad handler or
parameter is a configuration error then, not a failure on the first stream).
A stream whose trigger or pipeline is unknown goes to error with the reason and
nothing runs. A failing ``commit`` is an error of the stream (retried, then
``error``), never swallowed. Side effects happen before the stream is marked
done, so a worker that dies in between leaves the stream to be run again: that
is why ``commit`` must be idempotent.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from distiller import Event
from distiller.convert import to_text
from stacktach.exceptions import ConfigError
from stacktach.timeutils import parse_timestamp
from winchester.clock import Clock
from winchester.handlers.base import PipelineHandler
from winchester.ingest import TriggerManager
from winchester.storage import lifecycle, schema
from winchester.storage.engine import run_transaction
from winchester.storage.lifecycle import Backoff, Claimed
from winchester.storage.names import NameCache
from winchester.storage.values import decode_traits, value_hash

__all__ = ["PipelineWorker", "TrimSettings", "build_pipelines"]

LOG = logging.getLogger(__name__)

_ENVELOPE = ("event_type", "message_id", "timestamp")


@dataclass(frozen=True, slots=True)
class _Failure:
    """Why a stream's run failed; a permanent failure is not retried."""

    reason: str
    permanent: bool = False


@dataclass(frozen=True, slots=True)
class TrimSettings:
    """``trim_events*``: delete events older than ``age(timestamp=now)``."""

    age: Callable[..., Any]  # a compiled timex expression
    batch_size: int = 100


def build_pipelines(
    pipelines: Mapping[str, Sequence[Any]], resolve: Callable[[str], Any]
) -> dict[str, list[PipelineHandler]]:
    """Instantiate every pipeline's handlers once (``ConfigError`` if one fails).

    ``pipelines`` maps a name to handler specs with ``.name`` and ``.params``;
    ``resolve`` turns a handler name into its class.
    """
    built: dict[str, list[PipelineHandler]] = {}
    for pipeline, specs in pipelines.items():
        handlers = []
        for spec in specs:
            factory = resolve(spec.name)
            try:
                handler = factory(**(spec.params or {}))
            except (TypeError, ValueError) as exc:
                raise ConfigError(
                    f"handler {spec.name!r}: {exc}", key=f"{pipeline}.{spec.name}"
                ) from None
            handlers.append(handler)
        built[pipeline] = handlers
    return built


class PipelineWorker:
    """Runs pipelines on ready streams. One per process; not thread-safe."""

    def __init__(
        self,
        engine: Engine,
        *,
        triggers: Mapping[str, Any],
        pipelines: Mapping[str, list[PipelineHandler]],
        clock: Clock,
        manager: TriggerManager,
        name: str = "pipeline-worker",
        batch_size: int = 1000,
        lease: timedelta = timedelta(seconds=300),
        max_attempts: int = 5,
        backoff: Backoff | None = None,
        purge_completed: bool = True,
        trim: TrimSettings | None = None,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.triggers = dict(triggers)
        self.pipelines = dict(pipelines)
        self.clock = clock
        self.manager = manager
        self.name = name
        self.batch_size = batch_size
        self.lease = lease
        self.max_attempts = max_attempts
        self.backoff = backoff or Backoff()
        self.purge_completed = purge_completed
        self.trim = trim
        self.wall = wall
        self.stats: Counter[str] = Counter()
        self._trait_names = NameCache(schema.trait_name)

    # ------------------------------------------------------------------ loop

    def run_once(self) -> int:
        """One pass (take back, fire, expire, trim); returns streams processed."""
        taken = run_transaction(
            self.engine,
            lambda conn: lifecycle.take_back_lapsed(
                conn,
                wall=self.wall(),
                max_attempts=self.max_attempts,
                backoff=self.backoff,
            ),
            what="lease takeover",
        )
        self.stats["lease_takeovers"] += taken
        done = 0
        for kind in (lifecycle.FIRE, lifecycle.EXPIRE):
            claimed = self._claim(kind)
            if claimed:
                self._process(claimed)
                done += len(claimed)
        if self.trim is not None:
            self.stats["trimmed"] += self.trim_events()
        return done

    def run(
        self,
        *,
        stop: Callable[[], bool],
        delay: float = 10.0,
        statistics_period: float = 10.0,
        once: bool = False,
    ) -> None:
        """Loop until ``stop()`` (checked between passes); with ``once``, until
        a pass finds nothing to do. Sleeps ``delay`` when idle."""
        last_report = time.monotonic()
        while not stop():
            done = self.run_once()
            if time.monotonic() - last_report >= statistics_period:
                self.report()
                last_report = time.monotonic()
            if once and not done:
                break
            if not done:
                deadline = time.monotonic() + delay
                while not stop() and time.monotonic() < deadline:
                    time.sleep(min(0.2, delay))
        self.report()

    def report(self) -> None:
        """Log the statistics since the last report, then reset them."""
        LOG.info(
            "%s: loaded %d, fired %d, expired %d, retries %d, errors %d, lease "
            "takeovers %d, lost leases %d, new events %d, trimmed %d",
            self.name,
            self.stats["loaded"],
            self.stats["fired"],
            self.stats["expired"],
            self.stats["retries"],
            self.stats["errors"],
            self.stats["lease_takeovers"],
            self.stats["lost_leases"],
            self.stats["new_events"],
            self.stats["trimmed"],
        )
        self.stats.clear()

    # ------------------------------------------------------------------ one batch

    def _claim(self, kind: str) -> list[Claimed]:
        now, wall = self.clock.now(), self.wall()
        claimed = run_transaction(
            self.engine,
            lambda conn: lifecycle.claim(
                conn,
                kind,
                now=now,
                wall=wall,
                owner=self.name,
                lease=self.lease,
                limit=self.batch_size,
            ),
            what="claim",
        )
        self.stats["loaded"] += len(claimed)
        return claimed

    def _process(self, claimed: list[Claimed]) -> None:
        with self.engine.connect() as conn:
            events = lifecycle.load_events(conn, [c.id for c in claimed])
        succeeded: list[Claimed] = []
        new_events: list[dict[str, Any]] = []
        failures: list[tuple[Claimed, _Failure]] = []
        for stream in claimed:
            outcome = self._run_stream(stream, events.get(stream.id, []))
            if isinstance(outcome, _Failure):
                failures.append((stream, outcome))
            else:
                succeeded.append(stream)
                new_events.extend(outcome)
        if succeeded:
            self._finish(succeeded, new_events)
        if failures:
            self._fail(failures)

    def _run_stream(
        self, stream: Claimed, events: list[dict[str, Any]]
    ) -> list[dict[str, Any]] | _Failure:
        """Run one stream's pipeline: its new events, or why it failed."""
        trigger = self.triggers.get(stream.trigger_name)
        if trigger is None:
            return _Failure(
                f"unknown trigger {stream.trigger_name!r}: no such trigger is loaded",
                permanent=True,
            )
        pipeline_name = (
            trigger.fire_pipeline
            if stream.kind == lifecycle.FIRE
            else trigger.expire_pipeline
        )
        if pipeline_name is None:
            return []  # nothing to run: done (as the original)
        handlers = self.pipelines.get(pipeline_name)
        if handlers is None:
            return _Failure(
                f"unknown pipeline {pipeline_name!r} (trigger {stream.trigger_name!r})",
                permanent=True,
            )
        env: dict[str, Any] = {
            "stream_id": stream.id,
            "stream_name": stream.trigger_name,
            "stream_state": "firing" if stream.kind == lifecycle.FIRE else "expiring",
            "distinguishing_traits": stream.distinguishing_traits,
        }
        known = {event["message_id"] for event in events}
        current = events
        try:
            for handler in handlers:
                current = handler.handle_events(current, env)
        except Exception as exc:
            LOG.warning(
                "stream %d (%s): pipeline %s failed: %s",
                stream.id,
                stream.trigger_name,
                pipeline_name,
                exc,
            )
            for handler in handlers:
                try:
                    handler.rollback()
                except Exception:
                    LOG.exception(
                        "stream %d: rollback of %s failed",
                        stream.id,
                        type(handler).__name__,
                    )
            return _Failure(f"{type(exc).__name__} in handle_events: {exc}")
        for handler in handlers:
            try:
                handler.commit()
            except Exception as exc:
                LOG.warning(
                    "stream %d (%s): commit of %s failed: %s",
                    stream.id,
                    stream.trigger_name,
                    type(handler).__name__,
                    exc,
                )
                kind = type(handler).__name__
                return _Failure(f"commit of {kind} failed: {type(exc).__name__}: {exc}")
        return [event for event in current if event.get("message_id") not in known]

    def _finish(self, streams: list[Claimed], new_events: list[dict[str, Any]]) -> None:
        by_id = {s.id: s for s in streams}
        prepared = (
            self.manager.prepare([_to_event(e) for e in new_events])
            if new_events
            else None
        )

        def work(conn: Connection) -> tuple[list[int], int]:
            held = lifecycle.complete(
                conn, list(by_id), owner=self.name, purge=self.purge_completed
            )
            saved = 0
            if prepared is not None and held:
                saved = self.manager.store(conn, prepared).saved
            return held, saved

        held, saved = run_transaction(self.engine, work, what="finish streams")
        self.stats["new_events"] += saved
        self.stats["lost_leases"] += len(by_id) - len(held)
        for stream_id in held:
            self.stats[
                "fired" if by_id[stream_id].kind == lifecycle.FIRE else "expired"
            ] += 1

    def _fail(self, failures: list[tuple[Claimed, _Failure]]) -> None:
        wall = self.wall()

        def work(conn: Connection) -> dict[int, Any]:
            outcome: dict[int, Any] = {}
            for stream, failure in failures:
                outcome.update(
                    lifecycle.fail(
                        conn,
                        [stream],
                        failure.reason,
                        owner=self.name,
                        wall=wall,
                        # a permanent failure uses up the attempts: straight to error
                        max_attempts=stream.attempts
                        if failure.permanent
                        else self.max_attempts,
                        backoff=self.backoff,
                    )
                )
            return outcome

        outcome = run_transaction(self.engine, work, what="record failures")
        for state in outcome.values():
            self.stats["errors" if state.name.endswith("ERROR") else "retries"] += 1

    # ------------------------------------------------------------------ retention

    def trim_events(self) -> int:
        """Delete one batch of events older than ``trim_events_age`` that belong
        to no stream still open or in progress. Returns how many were deleted."""
        assert self.trim is not None
        cutoff = self.trim.age(timestamp=self.clock.now())
        cutoff = getattr(cutoff, "timestamp", cutoff)
        event, link, stream = schema.event, schema.stream_event, schema.stream
        busy = (
            sa.select(link.c.event_id)
            .join(stream, stream.c.id == link.c.stream_id)
            .where(link.c.event_id == event.c.id, stream.c.state != 6)  # 6: completed
        )
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(event.c.id, event.c.traits)
                .where(event.c.generated < cutoff, ~sa.exists(busy))
                .order_by(event.c.generated)
                .limit(self.trim.batch_size)
            ).all()
            if not rows:
                return 0
            traits = {row.id: decode_traits(row.traits) for row in rows}
            names = self._trait_names.lookup(
                conn, {n for t in traits.values() for n in t}
            )
        keys = [
            (names[name], value_hash(value), event_id)
            for event_id, values in traits.items()
            for name, value in values.items()
            if name in names
        ]
        ids = list(traits)

        def work(conn: Connection) -> int:
            index = schema.trait_index
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                conn.execute(
                    index.delete().where(
                        sa.tuple_(
                            index.c.name_id, index.c.value_hash, index.c.event_id
                        ).in_(chunk)
                    )
                )
            conn.execute(link.delete().where(link.c.event_id.in_(ids)))
            return int(conn.execute(event.delete().where(event.c.id.in_(ids))).rowcount)

        return run_transaction(self.engine, work, what="trim events")


def _to_event(item: dict[str, Any]) -> Event:
    """A handler's new event dict as a distiller Event (for ingest).

    Trait values keep their type when it is one a trait can have (text, int,
    float, datetime); booleans become ints and anything else text (JSON).
    """
    traits: dict[str, Any] = {}
    for name, raw in item.items():
        if name in _ENVELOPE or raw is None:
            continue
        if isinstance(raw, bool):
            traits[name] = int(raw)
        elif isinstance(raw, (str, int, float, datetime)):
            traits[name] = raw
        else:
            traits[name] = to_text(raw)
    timestamp = item["timestamp"]
    if isinstance(timestamp, str):
        timestamp = parse_timestamp(timestamp)
    return Event(str(item["event_type"]), str(item["message_id"]), timestamp, traits)
