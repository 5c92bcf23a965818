"""What the cluster tests share: configs, processes, traffic and what got stored.

A :class:`World` is one test's exchange/queue name, folder and database URL per
node; it writes a ``winchester.yaml`` per database node, starts ``yagi-event``,
``pipeline-worker`` and ``notigen`` as real processes, and reads back what they
stored (events, streams, the test handler's ``side_effect`` rows).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

import shoebox
from distiller import Distiller, Event, NotificationRejected
from tests.support.handlers import create_table, effects_once, side_effects
from winchester.clock import FixedClock
from winchester.config.triggers import build_triggers
from winchester.ingest import TriggerManager
from winchester.states import StreamState
from winchester.storage import schema
from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2023, 6, 1, tzinfo=UTC)  # ready streams; notigen's traffic is 2024

#: One stream per instance, fired by its compute.instance.exists.
TRIGGER = {
    "name": "per_instance",
    "distinguished_by": ["instance_id"],
    "expiration": "$last + 30d",
    "fire_pipeline": "effects",
    "match_criteria": [{"event_type": "compute.instance.*"}],
    "fire_criteria": [{"event_type": "compute.instance.exists"}],
}
TRIGGERS_YAML = (
    "- name: per_instance\n"
    "  distinguished_by: [instance_id]\n"
    "  expiration: $last + 30d\n"
    "  fire_pipeline: effects\n"
    "  match_criteria: [{event_type: 'compute.instance.*'}]\n"
    "  fire_criteria: [{event_type: compute.instance.exists}]\n"
)


#: Run a daemon so that it gets SIGKILL when pytest dies (util-linux's
#: ``setpriv``, Linux's PR_SET_PDEATHSIG): a killed test run leaves no
#: ``yagi-event`` or ``pipeline-worker`` behind.
DIE_WITH_PARENT = ["setpriv", "--pdeathsig", "KILL", "--"]


class World:
    """One test's names, folder, configs and processes."""

    def __init__(
        self,
        tmp: Path,
        corpus_config: Path,
        db_urls: Sequence[str],
        broker_urls: Sequence[str],
    ) -> None:
        self.tmp = tmp
        self.corpus_config = corpus_config
        self.db_urls = list(db_urls)  # one per database node (or just one)
        self.broker_urls = list(broker_urls)  # failover lists, one per process
        self.name = f"stt_cl_{uuid.uuid4().hex[:8]}"
        self.seed = 7  # notigen's
        self.archive = tmp / "archive"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.daemons: list[subprocess.Popen[bytes]] = []
        self.winchester = [self._winchester(k, url) for k, url in enumerate(db_urls)]

    # ----------------------------------------------------------------- configs

    def _winchester(self, k: int, url: str) -> Path:
        folder = self.tmp / f"db{k}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "triggers.yaml").write_text(TRIGGERS_YAML)
        (folder / "pipelines.yaml").write_text(
            f"effects:\n  - name: effects\n    params: {{url: '{url}'}}\n"
        )
        path = folder / "winchester.yaml"
        path.write_text(
            f"database: {{url: '{url}', lock_timeout: 10}}\n"
            f"distiller_config: {self.corpus_config / 'event_definitions.yaml'}\n"
            "trigger_definitions: triggers.yaml\n"
            "pipeline_config: pipelines.yaml\n"
            "pipeline_handlers: {effects: 'tests.support.handlers:SideEffectHandler'}\n"
            "pipeline_worker_batch_size: 20\n"
            "pipeline_worker_delay: 0.2\n"
            "lease_seconds: 15\n"
            "max_attempts: 20\n"
            "log_level: WARNING\n"
        )
        return path

    def yagi_config(self, broker: str, db: int) -> Path:
        path = self.tmp / f"yagi-{uuid.uuid4().hex[:6]}.conf"
        path.write_text(
            "[global]\nupdate_timer = 5\ndeployment = cell-a\n"
            f"[rabbit_broker]\nurl = {broker}\n"
            f"[consumers]\nqueues = {self.name}\n"
            f"[consumer:{self.name}]\napps = winchester, shoebox\n"
            f"exchange = {self.name}\nrouting_key = {self.name}\n"
            "queue_type = quorum\n"
            "max_messages = 200\nmax_wait = 0.2\n"
            f"[winchester]\nconfig_file = {self.winchester[db]}\n"
            f"[shoebox]\ndestination_folder = {self.archive}\n"
            f"working_directory = {self.tmp / 'work-<pid>'}\n"
            "roll_minutes = 10\nroll_size_mb = 50\n"
            "[logging]\ndefault_level = WARNING\n"
        )
        return path

    # ---------------------------------------------------------------- processes

    def _start(self, argv: list[str], log: str) -> subprocess.Popen[bytes]:
        out = (self.tmp / log).open("wb")
        process = subprocess.Popen(
            [*DIE_WITH_PARENT, sys.executable, "-m", *argv],
            cwd=ROOT,
            stdout=out,
            stderr=out,
        )
        self.processes.append(process)
        return process

    def yagi(self, broker: str, db: int = 0) -> subprocess.Popen[bytes]:
        """A ``yagi-event`` on failover list ``broker``, database node ``db``."""
        tag = f"yagi-{len(self.processes)}.log"
        process = self._start(
            ["yagi.cli", "-c", str(self.yagi_config(broker, db))], tag
        )
        self.daemons.append(process)
        return process

    def worker(self, db: int) -> subprocess.Popen[bytes]:
        """A ``pipeline-worker`` on database node ``db``."""
        name = f"w{len(self.processes)}-db{db}"
        process = self._start(
            ["winchester.worker_cli", "-c", str(self.winchester[db]), "--name", name],
            f"{name}.log",
        )
        self.daemons.append(process)
        return process

    def wait(self, predicate: Callable[[], object], timeout: float, what: str) -> None:
        """:func:`wait_until`, failing at once if a daemon has died."""

        def check() -> object:
            for process in self.daemons:
                if process.poll() is not None:
                    raise DaemonDied(self.log_tail(process))
            return predicate()

        wait_until(check, timeout, what)

    def notigen(self, count: int, broker: str | None = None) -> subprocess.Popen[bytes]:
        """notigen writing (``broker`` None) or publishing ``count`` notifications."""
        argv = ["notigen.cli", "--seed", str(self.seed), "--count", str(count)]
        argv += ["--instances", "200", "-q"]
        if broker is None:
            argv += ["--out", str(self.tmp / f"traffic-{self.seed}.jsonl")]
        else:
            argv += [
                "--to",
                broker,
                "--exchange",
                self.name,
                "--routing-key",
                self.name,
            ]
        return self._start(argv, f"notigen-{len(self.processes)}.log")

    def lines(self, count: int) -> list[bytes]:
        """The notifications notigen publishes for ``count`` (same seed: same bytes)."""
        process = self.notigen(count)
        assert process.wait(timeout=300) == 0, self.log_tail(process)
        data = (self.tmp / f"traffic-{self.seed}.jsonl").read_bytes()
        return [line for line in data.splitlines() if line.strip()]

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
        """SIGTERM ``process``; it must exit 0."""
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=timeout)
        assert process.returncode == 0, self.log_tail(process)

    def log_tail(self, process: subprocess.Popen[bytes]) -> str:
        args = " ".join(str(a) for a in process.args)  # type: ignore[union-attr]
        logs = "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}"
            for p in sorted(self.tmp.glob("*.log"))
        )
        return f"{args} exited {process.returncode}\n{logs}"

    def kill_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)

    # --------------------------------------------------------------- expectations

    def expected(self, lines: Sequence[bytes]) -> set[str]:
        """message ids of the notifications that distil into events."""
        distiller = Distiller.from_file(self.corpus_config / "event_definitions.yaml")
        ids = set()
        for line in lines:
            try:
                event = distiller.distill_json(line)
            except NotificationRejected:
                continue
            if event is not None:
                ids.add(event.message_id)
        return ids

    def _rows(
        self, query: sa.Select[tuple[object, ...]], db: int = 0
    ) -> list[sa.Row[tuple[object, ...]]]:
        engine = connect(self.db_urls[db])
        try:
            with engine.connect() as conn:
                return list(conn.execute(query).all())
        finally:
            engine.dispose()

    def event_count(self, db: int = 0) -> int:
        rows = self._rows(sa.select(sa.func.count()).select_from(schema.event), db)
        return int(rows[0][0])  # type: ignore[call-overload]

    def stored_ids(self, db: int = 0) -> list[str]:
        return [str(r[0]) for r in self._rows(sa.select(schema.event.c.message_id), db)]

    def stream_states(self, db: int = 0) -> dict[int, int]:
        s = schema.stream
        return {
            int(r[0]): int(r[1]) for r in self._rows(sa.select(s.c.id, s.c.state), db)
        }  # type: ignore[call-overload]

    def unfinished(self, db: int = 0) -> dict[int, int]:
        """Streams still firing, or ready to fire and not fired (id -> state)."""
        s = schema.stream
        rows = self._rows(
            sa.select(s.c.id, s.c.state).where(
                sa.or_(
                    s.c.state.in_(
                        [
                            int(StreamState.FIRING),
                            int(StreamState.RETRY_FIRE),
                            int(StreamState.ERROR),
                            int(StreamState.EXPIRING),
                        ]
                    ),
                    s.c.fire_timestamp.is_not(None),
                )
            ),
            db,
        )
        return {int(r[0]): int(r[1]) for r in rows}  # type: ignore[call-overload]

    def runs(self, db: int = 0) -> list[tuple[int, int]]:
        """(stream id, pid) of every committed side effect."""
        rows = self._rows(sa.select(side_effects.c.stream_id, side_effects.c.pid), db)
        return [(int(r[0]), int(r[1])) for r in rows]  # type: ignore[call-overload]

    def effects(self, db: int = 0) -> list[int]:
        """Stream id of every effect in the handler's idempotent table (one
        per stream and run, however often its commit ran)."""
        rows = self._rows(sa.select(effects_once.c.stream_id), db)
        return [int(r[0]) for r in rows]  # type: ignore[call-overload]

    def archived(self) -> set[bytes]:
        """Bodies of every record in the finished archive files."""
        bodies: set[bytes] = set()
        for path in sorted(self.archive.glob("*")):
            if path.is_file():
                bodies.update(record.body for record in shoebox.read(path))
        return bodies

    # ----------------------------------------------------------------- database

    def migrate(self, db: int = 0) -> None:
        """Create the schema and the test handler's table."""
        engine = connect(self.db_urls[db])
        upgrade(engine)
        create_table(engine)
        engine.dispose()

    def prepare_streams(self, streams: int, db: int = 0, phase: int = 0) -> list[int]:
        """Migrate, create ``side_effect`` and ``streams`` streams ready to fire.

        Each ``phase`` has its own instance ids and event times (a month per
        phase, before notigen's traffic), by which the new streams are found.
        """
        engine = connect(self.db_urls[db])
        upgrade(engine)
        create_table(engine)
        start = T0 + timedelta(days=31 * phase)
        manager = TriggerManager(engine, build_triggers([TRIGGER]), FixedClock(start))
        batch: list[Event] = []
        for n in range(streams):
            for k, kind in enumerate(("update", "update", "exists")):
                batch.append(
                    Event(
                        f"compute.instance.{kind}",
                        f"{self.name}-ready{phase}-{n}-{k}",
                        start + timedelta(seconds=k),
                        {"instance_id": f"ready{phase}-{n}"},
                    )
                )
            if len(batch) >= 1500:
                manager.add_events(batch)
                batch = []
        manager.add_events(batch)
        s = schema.stream
        with engine.connect() as conn:
            ids = (
                conn.execute(
                    sa.select(s.c.id).where(
                        s.c.first_event >= start,
                        s.c.first_event < start + timedelta(days=1),
                    )
                )
                .scalars()
                .all()
            )
        engine.dispose()
        return [int(i) for i in ids]


class DaemonDied(AssertionError):
    """A yagi-event or pipeline-worker exited while the test waited."""


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``predicate`` (errors count as "not yet": a node may be down)."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except DaemonDied:
            raise
        except Exception as exc:  # a node restarting
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what} ({last})")


def figures(**values: float) -> None:
    """Print benchmark figures as one JSON line (``pytest -s`` shows them)."""
    print("\nCLUSTER-FIGURES " + json.dumps(values, sort_keys=True), flush=True)
