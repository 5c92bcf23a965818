#!/usr/bin/env python3
"""Ingest throughput: notigen notifications through distil + trigger manager.

Feeds N notigen notifications (the sandbox's event_definitions.yaml and
triggers.yaml, the event-time clock, as a replay would) in batches through
``winchester-db ingest``'s loop (``winchester.ingest_file.ingest_lines``: each
batch distilled while the one before it is stored, with
``TriggerManager.start_notifications``) into a fresh database, timed from the
first line read to the last batch committed, then measures on the
same database a plain bulk insert of one row per notification (message_id,
event_type, timestamp, raw JSON) - the floor of any durable ingest.

    .venv/bin/python bench/ingest.py --db sqlite|mysql|postgresql|URL
        [--notifications 20000] [--batch 500] [--statements]
        [--indexed-traits instance_id,tenant_id,...]

A URL without a database name (``mysql+pymysql://root@127.0.0.1``) gets a fresh
database, dropped afterwards. The notifications are read from notigen's file one
batch at a time (the process holds one batch, whatever ``--notifications``), so
``peak_rss_mb`` (the ingest phase's peak resident memory) stays flat in the
input size; ``per_tenth`` is the rate over each tenth of the run, to show the
cost per notification does not grow with the events stored. Prints a summary,
then a final JSON line::

    {"bench": "ingest", "db": ..., "notifications": N, "per_s": X,
     "statements_per_notification": S, "raw_insert_per_s": R, "ratio": X/R,
     "per_tenth": [...], "peak_rss_mb": M, "indexed_traits": [...]}

``--indexed-traits`` stores trait index rows only for the traits it names
(winchester.yaml's ``indexed_traits``; ``bench/unindexed.py`` measures what a
filter on one of the others then costs).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from distiller import Distiller  # noqa: E402
from winchester.clock import EventClock  # noqa: E402
from winchester.config.triggers import load_triggers  # noqa: E402
from winchester.ingest import TriggerManager  # noqa: E402
from winchester.ingest_file import ingest_lines  # noqa: E402
from winchester.storage import events as event_store  # noqa: E402
from winchester.storage.engine import DatabaseUnavailable, connect  # noqa: E402
from winchester.storage.migrate import upgrade  # noqa: E402

SHARED = Path(os.environ.get("STACKTACH_SHARED", ROOT.parent / "shared"))
CONFIG = SHARED / "corpus" / "config"
SHORTCUTS = {
    "mysql": "mysql+pymysql://root@127.0.0.1:3306",
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432",
}


#: What a server that is down or refuses us raises (kombu's own errors are added
#: by the scripts that use a broker).
UNANSWERED: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    sa.exc.OperationalError,
    DatabaseUnavailable,
)


def run_main(
    main: Callable[[], None],
    name: str,
    advice: str,
    errors: tuple[type[BaseException], ...] = UNANSWERED,
) -> None:
    """``main()``, with a server that does not answer (``errors``) said in one
    line that ends with ``advice`` (what to start, which option to change)."""
    try:
        main()
    except errors as exc:
        text = str(exc).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        sys.exit(f"{name}: {reason}; {advice}")


def database(spec: str, scratch: Path) -> tuple[str, object]:
    """(URL of a fresh database, cleanup function)."""
    if spec == "sqlite":
        return f"sqlite:///{scratch / 'bench.db'}", lambda: None
    url = sa.make_url(SHORTCUTS.get(spec, spec))
    if url.database:
        return str(url), lambda: None
    name = f"stt_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


def notigen_lines(scratch: Path, count: int, *, seed: int) -> list[bytes]:
    """``count`` notigen notifications (200 instances, ``seed``) as JSON lines."""
    traffic = notigen_file(scratch, count, seed=seed)
    return [line for line in traffic.read_bytes().splitlines() if line.strip()]


def batches(path: Path, size: int) -> Iterator[list[bytes]]:
    """The non-blank lines of ``path``, ``size`` at a time (read as they go)."""
    batch: list[bytes] = []
    with path.open("rb") as stream:
        for raw in stream:
            line = raw.rstrip(b"\r\n")
            if line.strip():
                batch.append(line)
                if len(batch) >= size:
                    yield batch
                    batch = []
    if batch:
        yield batch


def numbered(path: Path) -> Iterator[tuple[str, int, bytes]]:
    """``(file, line number, line)`` for the non-blank lines of ``path``."""
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, 1):
            line = raw.rstrip(b"\r\n")
            if line.strip():
                yield path.name, number, line


def notigen_file(scratch: Path, count: int, *, seed: int) -> Path:
    """A file of ``count`` notigen notifications (200 instances, ``seed``)."""
    traffic = scratch / f"traffic-{seed}.jsonl"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "notigen.cli",
            "--seed",
            str(seed),
            "--instances",
            "200",
            "--count",
            str(count),
            "--out",
            str(traffic),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return traffic


def sample_manager(
    engine: sa.Engine, indexed_traits: list[str] | None = None
) -> TriggerManager:
    """A migrated database's trigger manager on the sample definitions and
    triggers, with the event-time clock (as a replay would run), indexing the
    traits ``indexed_traits`` names (default: every trait)."""
    upgrade(engine)
    return TriggerManager(
        engine,
        load_triggers(CONFIG / "triggers.yaml"),
        EventClock(engine),
        distiller=Distiller.from_file(CONFIG / "event_definitions.yaml"),
        indexed_traits=indexed_traits or ["*"],
    )


def raw_insert(engine: sa.Engine, path: Path, batch: int) -> float:
    """Seconds to bulk insert one row per notification, batch per transaction.

    Only the inserts are timed (decoding each batch's lines is not).
    """
    metadata = sa.MetaData()
    raw = sa.Table(
        "bench_raw",
        metadata,
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
        ),
        sa.Column("message_id", sa.String(128), nullable=False, unique=True),
        sa.Column("event_type", sa.String(255), nullable=False),
        sa.Column("generated", sa.String(32), nullable=False),
        sa.Column(
            "raw", sa.Text().with_variant(sa.dialects.mysql.MEDIUMTEXT(), "mysql")
        ),
    )
    metadata.create_all(engine)
    seconds = 0.0
    for lines in batches(path, batch):
        rows = []
        for line in lines:
            body = json.loads(line)
            rows.append(
                {
                    "message_id": str(body.get("message_id")),
                    "event_type": str(body.get("event_type")),
                    "generated": str(body.get("timestamp")),
                    "raw": line.decode(),
                }
            )
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(raw.insert(), rows)
        seconds += time.perf_counter() - started
    return seconds


def per_tenth(marks: list[tuple[int, float]]) -> list[int]:
    """Notifications per second over each tenth of the run (by notifications)."""
    if not marks:
        return []
    total = marks[-1][0]
    rates = []
    done, at = 0, 0.0
    for tenth in range(1, 11):
        goal = total * tenth / 10
        mark = next(m for m in marks if m[0] >= goal)
        if mark[0] > done and mark[1] > at:
            rates.append(round((mark[0] - done) / (mark[1] - at)))
            done, at = mark
    return rates


class StatementTimes:
    """Seconds per kind of statement (its first words), from the driver's calls.

    The time between sending a statement and its result: the database's work
    plus the driver's, not the commits.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = {}

    def watch(self, engine: sa.Engine) -> None:
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)
        # PostgreSQL's trait index goes by COPY, which SQLAlchemy does not see.
        copy = event_store.copy_trait_index_pieces

        def timed_copy(conn: sa.Connection, groups: Any) -> int:
            started = time.perf_counter()
            try:
                return copy(conn, groups)
            finally:
                entry = self.seconds.setdefault("COPY trait_index", [0, 0.0])
                entry[0] += 1
                entry[1] += time.perf_counter() - started

        event_store.copy_trait_index_pieces = timed_copy  # type: ignore[assignment]

    def _before(self, conn: sa.Connection, *args: object) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def _after(
        self, conn: sa.Connection, cursor: object, statement: str, *args: object
    ) -> None:
        started = conn.info.pop("bench_started", None)
        if started is None:
            return
        kind = " ".join(statement.split()[:3])[:60]
        entry = self.seconds.setdefault(kind, [0, 0.0])
        entry[0] += 1
        entry[1] += time.perf_counter() - started

    def report(self) -> None:
        ranked = sorted(self.seconds.items(), key=lambda item: -item[1][1])
        for kind, (count, seconds) in ranked[:8]:
            print(f"  {seconds:7.2f} s  {int(count):6d}x  {kind}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db", default="sqlite", help="sqlite, mysql, postgresql or a URL"
    )
    parser.add_argument("--notifications", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument(
        "--statements",
        action="store_true",
        help="also print the time spent in each kind of statement (ingest and "
        "floor), to see what the database itself costs",
    )
    parser.add_argument(
        "--indexed-traits",
        metavar="GLOBS",
        help="comma-separated trait names or globs to index (winchester.yaml's "
        "indexed_traits; default: every trait)",
    )
    args = parser.parse_args()
    indexed = args.indexed_traits.split(",") if args.indexed_traits else None
    timings = StatementTimes() if args.statements else None

    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        traffic = notigen_file(scratch, args.notifications, seed=1)
        url, cleanup = database(args.db, scratch)
        try:
            engine = connect(url)
            if timings is not None:
                timings.watch(engine)
            manager = sample_manager(engine, indexed)
            marks: list[tuple[int, float]] = []  # (notifications done, seconds)
            started = time.perf_counter()
            summary = ingest_lines(
                manager,
                numbered(traffic),
                batch_size=args.batch,
                on_reject=lambda name, number, reason: None,
                on_batch=lambda done: marks.append(
                    (done.lines, time.perf_counter() - started)
                ),
            )
            seconds = time.perf_counter() - started
            statements, saved, n = summary.statements, summary.saved, summary.lines
            peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            raw_seconds = raw_insert(engine, traffic, args.batch)
            engine.dispose()
        finally:
            cleanup()  # type: ignore[operator]
    result_line = {
        "bench": "ingest",
        "db": sa.make_url(url).get_backend_name(),
        "notifications": n,
        "events": saved,
        "per_s": round(n / seconds),
        "statements_per_notification": round(statements / n, 4),
        "raw_insert_per_s": round(n / raw_seconds),
        "ratio": round((n / seconds) / (n / raw_seconds), 3),
        "batch": args.batch,
        "per_tenth": per_tenth(marks),
        "peak_rss_mb": round(peak_rss_mb, 1),
        "indexed_traits": indexed or ["*"],
    }
    print(
        f"{result_line['db']}: {n} notifications ingested at "
        f"{result_line['per_s']:,}/s "
        f"({result_line['statements_per_notification']} statements each); plain bulk "
        f"insert {result_line['raw_insert_per_s']:,}/s; ratio {result_line['ratio']}",
        flush=True,
    )
    if timings is not None:
        timings.report()
    print(json.dumps(result_line), flush=True)


if __name__ == "__main__":
    run_main(main, "ingest", "start the database, or point --db at a running one")
