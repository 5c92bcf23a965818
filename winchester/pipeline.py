"""The pipeline worker: claim ready streams, run their pipelines, finish them.

One :meth:`PipelineWorker.run_once` pass:

1. takes back streams whose lease lapsed (their worker died) - to ``retry_*``
   after a backoff, or to ``error``/``expire_error`` after ``max_attempts``;
2. claims up to ``batch_size`` streams ready to fire (then to expire) with a
   lease (:mod:`winchester.storage.lifecycle`), loads their events in one query,
   and for each runs its trigger's ``fire_pipeline``/``expire_pipeline``:
   ``handle_events`` on every handler, then ``commit`` on every handler (side
   effects), or ``rollback`` if a ``handle_events`` failed;
3. **finishes each stream as soon as its pipeline is done**, in small groups
   (up to ``complete_group`` streams, 1000 by default, and never later than
   ``complete_after`` seconds after the first of the group finished): one
   transaction completes the group and stores (and matches against the
   triggers) the new events their handlers emitted; failures are recorded
   the same way (retry with backoff, or error with the reason);
4. trims old events when ``trim_events`` is on
   (:class:`winchester.storage.retention.EventTrimmer`).

While a batch is worked on, a :class:`~winchester.lease_renewer.LeaseRenewer`
renews the leases of the streams not finished yet every third of the lease, so
a handler slower than the lease keeps its streams. A stream whose lease another
worker took over is skipped, and its side effects are not committed (ownership
is checked just before ``commit``); both count as ``lost leases``.

Handlers are built **once** per worker, when it starts (a bad handler or
parameter is a configuration error then, not a failure on the first stream).
A stream whose trigger is no longer defined (removed from ``triggers.yaml``
while its streams were open) goes to error with the reason, nothing runs, and
one WARNING per trigger says so (with the count; later streams of it are only
counted); ``pipeline-worker --reset-errors`` brings them back once the trigger
is defined again. A stream whose pipeline is unknown goes to error likewise.
A new event a handler emits without what an event needs (``event_type``,
``message_id``, ``timestamp``) fails the run before any ``commit``. A failing
``commit`` is an error of the stream (retried, then ``error``), never
swallowed. Side effects happen before the stream is marked done, so a worker
that dies in between leaves the stream to be run again: that is why ``commit``
must be idempotent.

Statistics: :meth:`PipelineWorker.report` logs one line every
``statistics_period`` with the counters of the period ("last N s") and the
totals since the worker started; each count is also recorded in the worker's
Prometheus metrics (:mod:`winchester.metrics`), when served.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection, Engine

from distiller import Event
from distiller.convert import to_text
from stacktach.exceptions import ConfigError
from stacktach.timeutils import parse_timestamp
from winchester.clock import Clock
from winchester.handlers.base import PipelineHandler, worst_case_seconds
from winchester.ingest import IngestResult, Prepared, TriggerManager
from winchester.lease_renewer import LeaseRenewer
from winchester.metrics import WorkerMetrics
from winchester.storage import lifecycle
from winchester.storage.engine import run_transaction
from winchester.storage.lifecycle import Backoff, Claimed
from winchester.storage.retention import EventTrimmer

__all__ = ["PipelineWorker", "TrimSettings", "build_pipelines"]

LOG = logging.getLogger(__name__)

_ENVELOPE = ("event_type", "message_id", "timestamp")

#: The statistics a report shows, in order: counter key -> label.
STATISTICS = {
    "loaded": "loaded",
    "fired": "fired",
    "expired": "expired",
    "retries": "retries",
    "errors": "errors",
    "undefined_trigger": "undefined-trigger errors",
    "lease_takeovers": "lease takeovers",
    "lost_leases": "lost leases",
    "commits_skipped": "commits skipped",
    "new_events": "new events",
    "trimmed": "trimmed",
}


@dataclass(frozen=True, slots=True)
class _Failure:
    """Why a stream's run failed; a permanent failure is not retried."""

    reason: str
    permanent: bool = False


class _Lost:
    """The stream's lease is no longer ours: nothing was committed."""


_LOST = _Lost()


@dataclass(frozen=True, slots=True)
class TrimSettings:
    """``trim_events*``: delete events older than ``age(timestamp=now)``."""

    age: Callable[..., Any]  # a compiled timex expression
    batch_size: int = 100


@dataclass(slots=True)
class _Group:
    """Streams whose pipeline is done, waiting for their finishing transaction."""

    done: list[tuple[Claimed, list[Event]]] = field(default_factory=list)
    failed: list[tuple[Claimed, _Failure]] = field(default_factory=list)
    since: float | None = None

    def __len__(self) -> int:
        return len(self.done) + len(self.failed)

    def add(self) -> None:
        if self.since is None:
            self.since = time.monotonic()


class _Regroup(Exception):
    """Some streams of a group were lost: finish again with only ``held``."""

    def __init__(self, held: list[int]) -> None:
        super().__init__(held)
        self.held = held


def build_pipelines(
    pipelines: Mapping[str, Sequence[Any]],
    resolve: Callable[[str], Any],
    *,
    lease_seconds: float | None = None,
) -> dict[str, list[PipelineHandler]]:
    """Instantiate every pipeline's handlers once (``ConfigError`` if one fails).

    ``pipelines`` maps a name to handler specs with ``.name`` and ``.params``;
    ``resolve`` turns a handler name into its class. With ``lease_seconds``, a
    handler whose worst case is longer is logged at WARNING (as check-config).
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
            if lease_seconds is not None:
                _warn_lease(pipeline, spec, factory, lease_seconds)
        built[pipeline] = handlers
    return built


def _warn_lease(pipeline: str, spec: Any, factory: Any, lease_seconds: float) -> None:
    seconds = worst_case_seconds(factory, spec.params or {})
    if seconds > lease_seconds:
        LOG.warning(
            "pipeline %s: handler %s can take up to %g s per run, longer than "
            "lease_seconds (%g s); leases are renewed meanwhile, but raise "
            "lease_seconds to at least %g",
            pipeline,
            spec.name,
            seconds,
            lease_seconds,
            seconds,
        )


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
        renew_every: float | None = None,
        max_attempts: int = 5,
        backoff: Backoff | None = None,
        purge_completed: bool = True,
        trim: TrimSettings | None = None,
        complete_group: int = 1000,
        complete_after: float = 1.0,
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
        self.renew_every = renew_every
        self.max_attempts = max_attempts
        self.backoff = backoff or Backoff()
        self.purge_completed = purge_completed
        self.trim = trim
        self.complete_group = max(1, complete_group)
        self.complete_after = complete_after
        self.wall = wall
        #: Counters of the current statistics period (reset by :meth:`report`).
        self.stats: Counter[str] = Counter()
        #: Counters since the worker started.
        self.totals: Counter[str] = Counter()
        #: Streams put in error because their trigger is not defined, per trigger.
        self.undefined_triggers: Counter[str] = Counter()
        self._trimmer = (
            EventTrimmer(engine, batch_size=trim.batch_size) if trim else None
        )
        self._period_start = time.monotonic()
        self._claimed_until = datetime.min.replace(tzinfo=UTC)
        #: The Prometheus metrics, when served (``--metrics-port``).
        self.metrics: WorkerMetrics | None = None

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
        self._count("lease_takeovers", taken)
        done = 0
        for kind in (lifecycle.FIRE, lifecycle.EXPIRE):
            claimed = self._claim(kind)
            if claimed:
                self._process(claimed)
                done += len(claimed)
        if self.trim is not None:
            self._count("trimmed", self.trim_events())
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
        """Log the period's counters and the totals, then start a new period."""
        seconds = time.monotonic() - self._period_start
        period = ", ".join(
            f"{label} {self.stats[k]}" for k, label in STATISTICS.items()
        )
        totals = ", ".join(
            f"{label} {self.totals[k]}" for k, label in STATISTICS.items()
        )
        LOG.info(
            "%s: in the last %.0f s: %s; totals since start: %s",
            self.name,
            seconds,
            period,
            totals,
        )
        self.stats.clear()
        self._period_start = time.monotonic()

    def _count(self, key: str, n: int = 1) -> None:
        if n:
            self.stats[key] += n
            self.totals[key] += n
            if self.metrics is not None:
                self.metrics.count(key, n)

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
        self._count("loaded", len(claimed))
        self._claimed_until = wall + self.lease
        return claimed

    def _process(self, claimed: list[Claimed]) -> None:
        known = [s for s in claimed if s.trigger_name in self.triggers]
        undefined = [s for s in claimed if s.trigger_name not in self.triggers]
        if undefined:
            self._fail_undefined(undefined)
        if not known:
            return
        renewer = LeaseRenewer(
            self.engine,
            owner=self.name,
            lease=self.lease,
            wall=self.wall,
            every=self.renew_every,
        )
        renewer.hold([s.id for s in known], self._claimed_until)
        with renewer:
            with self.engine.connect() as conn:
                events = lifecycle.load_events(conn, [c.id for c in known])
            group = _Group()
            try:
                for stream in known:
                    if renewer.is_lost(stream.id):
                        continue  # another worker runs it now
                    started = time.monotonic()
                    outcome = self._run_stream(
                        stream, events.pop(stream.id, []), renewer
                    )
                    if self.metrics is not None:
                        self.metrics.duration(
                            "fire" if stream.kind == lifecycle.FIRE else "expire",
                            time.monotonic() - started,
                        )
                    if isinstance(outcome, _Lost):
                        self._count("commits_skipped")
                        continue
                    if isinstance(outcome, _Failure):
                        group.failed.append((stream, outcome))
                    else:
                        group.done.append((stream, outcome))
                    group.add()
                    if len(group) >= self.complete_group or (
                        time.monotonic() - (group.since or 0.0) >= self.complete_after
                    ):
                        self._flush(group, renewer)
                        group = _Group()
                self._flush(group, renewer)
            finally:
                self._count("lost_leases", renewer.take_lost_count())

    def _flush(self, group: _Group, renewer: LeaseRenewer) -> None:
        """Finish a group: complete the streams done, record the failures.

        Streams a renewal found lost since are left to the worker holding them.
        """
        renewer.release(s.id for s, _ in group.done)
        renewer.release(s.id for s, _ in group.failed)
        done = [item for item in group.done if not renewer.is_lost(item[0].id)]
        failed = [item for item in group.failed if not renewer.is_lost(item[0].id)]
        if done:
            self._finish(done)
        if failed:
            self._fail(failed)

    def _run_stream(
        self, stream: Claimed, events: list[dict[str, Any]], renewer: LeaseRenewer
    ) -> list[Event] | _Failure | _Lost:
        """Run one stream's pipeline: its new events, or why it failed."""
        trigger = self.triggers[stream.trigger_name]
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
            # Emitted events are checked before any side effect happens.
            emitted = [
                _to_event(event)
                for event in current
                if event.get("message_id") not in known
            ]
        except Exception as exc:
            LOG.warning(
                "stream %d (%s): pipeline %s failed: %s",
                stream.id,
                stream.trigger_name,
                pipeline_name,
                exc,
            )
            self._rollback(stream, handlers)
            return _Failure(f"{type(exc).__name__} in handle_events: {exc}")
        if not renewer.still_held(stream.id):
            LOG.warning(
                "stream %d (%s): its lease was taken over by another worker; "
                "pipeline %s is not committed here",
                stream.id,
                stream.trigger_name,
                pipeline_name,
            )
            self._rollback(stream, handlers)
            return _LOST
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
        return emitted

    @staticmethod
    def _rollback(stream: Claimed, handlers: list[PipelineHandler]) -> None:
        for handler in handlers:
            try:
                handler.rollback()
            except Exception:
                LOG.exception(
                    "stream %d: rollback of %s failed",
                    stream.id,
                    type(handler).__name__,
                )

    def _finish(self, done: list[tuple[Claimed, list[Event]]]) -> None:
        by_id = {stream.id: stream for stream, _ in done}
        emitted = {stream.id: new for stream, new in done}
        wanted = list(by_id)
        while True:
            new_events = [e for stream_id in wanted for e in emitted[stream_id]]
            prepared = self.manager.prepare(new_events) if new_events else None
            try:
                held, stored = run_transaction(
                    self.engine,
                    functools.partial(self._complete, ids=wanted, prepared=prepared),
                    what="finish streams",
                )
                break
            except _Regroup as regroup:  # rolled back: store only the held ones' events
                wanted = regroup.held
        if stored is not None:
            self.manager.record(stored)  # committed: the manager's totals, clock
            for index, reason in stored.rejected:
                LOG.warning(
                    "%s: an event a pipeline emitted was not stored (%s): %s",
                    self.name,
                    new_events[index].message_id,
                    reason,
                )
        self._count("new_events", stored.saved if stored is not None else 0)
        self._count("lost_leases", len(by_id) - len(held))
        for stream_id in held:
            self._count(
                "fired" if by_id[stream_id].kind == lifecycle.FIRE else "expired"
            )

    def _complete(
        self, conn: Connection, ids: list[int], prepared: Prepared | None
    ) -> tuple[list[int], IngestResult | None]:
        held = lifecycle.complete(
            conn, ids, owner=self.name, purge=self.purge_completed
        )
        if prepared is None or not held:
            return held, None
        if len(held) != len(ids):
            raise _Regroup(held)
        return held, self.manager.store(conn, prepared)

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
            self._count("errors" if state.name.endswith("ERROR") else "retries")

    def _fail_undefined(self, streams: list[Claimed]) -> None:
        """Error the streams of triggers no longer defined; one WARNING per trigger."""
        failures = [
            (
                s,
                _Failure(
                    f"unknown trigger {s.trigger_name!r}: no such trigger is "
                    "defined in triggers.yaml",
                    permanent=True,
                ),
            )
            for s in streams
        ]
        self._fail(failures)
        counts = Counter(s.trigger_name for s in streams)
        for trigger, count in sorted(counts.items()):
            first = trigger not in self.undefined_triggers
            self.undefined_triggers[trigger] += count
            self._count("undefined_trigger", count)
            LOG.log(
                logging.WARNING if first else logging.DEBUG,
                "%s: trigger %r is not defined in triggers.yaml: %d of its streams "
                "put in error (%d so far); define it again, then run "
                "pipeline-worker --reset-errors --trigger %s",
                self.name,
                trigger,
                count,
                self.undefined_triggers[trigger],
                trigger,
            )

    # ------------------------------------------------------------------ retention

    def trim_events(self) -> int:
        """Delete one batch of events older than ``trim_events_age`` that belong
        to no stream still open or in progress. Returns how many were deleted."""
        assert self.trim is not None
        if self._trimmer is None or self._trimmer.batch_size != self.trim.batch_size:
            self._trimmer = EventTrimmer(self.engine, batch_size=self.trim.batch_size)
        cutoff = self.trim.age(timestamp=self.clock.now())
        cutoff = getattr(cutoff, "timestamp", cutoff)
        return self._trimmer.trim(cutoff)


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
