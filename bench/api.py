#!/usr/bin/env python3
"""API latency: quince-api (gunicorn, 2 workers) under 8 concurrent clients.

Fills a fresh database with N notigen notifications through the trigger manager
(the sandbox's event_definitions.yaml and triggers.yaml, the event-time clock,
as a replay would), runs ``pipeline-worker --once`` (a ``logger`` pipeline,
completed streams kept) so there are completed streams, analyzes the tables
(PostgreSQL ``VACUUM ANALYZE``, MariaDB ``ANALYZE TABLE``, as autovacuum and
InnoDB's statistics would after a while), then starts
``quince-api`` on a free port and drives it for ``--duration`` seconds with
``--clients`` threads, each on its own keep-alive ``http.client`` connection,
over a mix of five routes with ids drawn from the data (read through the API):

* ``events_by_trait``: ``/v1/events?traits=instance_id:<id>``
* ``exists_since``: ``/v1/events?event_name=compute.instance.exists``
  ``&from_datetime=<t>&limit=100``
* ``completed_streams``: ``/v1/streams?state=completed&trigger_name=test_trigger``
* ``events_count``: ``/v1/events/count?event_name=<name>``
* ``stream_details``: ``/v1/streams/<id>?details=true``

    .venv/bin/python bench/api.py --db URL|mysql|postgresql|sqlite
        [--events 1000000] [--duration 30] [--clients 8] [--workers 2] [--rate R]

By default each client sends its next request as soon as it has the answer
(a closed loop: the two cores are saturated and the latency is mostly the
queue); ``--rate R`` sends R requests a second in all on a fixed schedule and
counts each latency from its scheduled time.

A URL without a database name gets a fresh database, dropped afterwards
(``--keep`` keeps it and prints its URL; ``--fill-only`` only fills and keeps
it; ``--reuse URL`` benchmarks a kept one without filling;
``--deployed-mariadb DIR`` runs the database on a private MariaDB with the
ansible db role's settings, ``bench/deployed_mariadb.py``). Progress goes to
stderr. At the end the SQL of the slowest
route (and of the count route) is captured in this process by running the same
request through ``quince.app:create_app`` with a SQLAlchemy cursor listener,
and its plan printed (PostgreSQL ``EXPLAIN ANALYZE``, MariaDB ``ANALYZE``,
SQLite ``EXPLAIN QUERY PLAN``). The final line is JSON::

    {"bench": "api", "db": ..., "events": N, "p50_ms": ..., "p99_ms": ...,
     "rps": ..., "by_route": {route: {"n", "p50_ms", "p99_ms", "max_ms", "errors"}}}
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import http.client
import json
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402
from deployed_mariadb import deployed_mariadb  # noqa: E402
from ingest import CONFIG, database, run_main, sample_manager  # noqa: E402

from winchester.storage.engine import connect  # noqa: E402

TRIGGER = "test_trigger"  # the sandbox's only trigger
BATCH = 1000


# ---------------------------------------------------------------- filling


def notigen_file(scratch: Path, count: int) -> Path:
    out = scratch / "traffic.jsonl"
    instances = max(200, count // 500)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "notigen.cli",
            "--seed",
            "7",
            "--count",
            str(count),
            "--instances",
            str(instances),
            "--ops-per-hour",
            str(max(120, instances // 2)),
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return out


def fill(url: str, traffic: Path, count: int) -> int:
    """Ingest ``traffic`` in batches; returns the events saved."""
    engine = connect(url)
    manager = sample_manager(engine)
    saved = read = 0
    started = time.perf_counter()
    batch: list[bytes] = []

    def flush() -> None:
        nonlocal saved
        saved += manager.add_notifications(batch).saved
        batch.clear()
        rate = read / (time.perf_counter() - started)
        print(
            f"\rfilled {read:,}/{count:,} notifications, {saved:,} events "
            f"({rate:,.0f}/s)",
            end="",
            file=sys.stderr,
            flush=True,
        )

    with traffic.open("rb") as lines:
        for line in lines:
            if line.strip():
                batch.append(line)
                read += 1
                if len(batch) >= BATCH:
                    flush()
    if batch:
        flush()
    print(file=sys.stderr)
    engine.dispose()
    return saved


def analyze(url: str) -> None:
    """Statistics (and PostgreSQL's visibility map) as autovacuum would keep them."""
    engine = connect(url)
    backend = engine.dialect.name
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if backend == "postgresql":
            conn.exec_driver_sql("VACUUM ANALYZE")
        elif backend == "mysql":
            tables = sa.inspect(engine).get_table_names()
            conn.exec_driver_sql("ANALYZE TABLE " + ", ".join(tables)).all()
        else:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def stored_events(url: str) -> int:
    """How many events the database holds (what the figures are measured on)."""
    engine = connect(url)
    with engine.connect() as conn:
        count = int(conn.execute(sa.text("SELECT COUNT(*) FROM event")).scalar_one())
    engine.dispose()
    return count


def write_config(scratch: Path, url: str) -> Path:
    (scratch / "pipelines.yaml").write_text(
        "test_fire_pipeline: [logger]\ntest_expire_pipeline: [logger]\n"
    )
    config = scratch / "winchester.yaml"
    config.write_text(
        json.dumps(
            {
                "database": {"url": url},
                "distiller_config": str(CONFIG / "event_definitions.yaml"),
                "trigger_definitions": str(CONFIG / "triggers.yaml"),
                "pipeline_config": str(scratch / "pipelines.yaml"),
                "purge_completed_streams": False,
                "clock": "wall",  # every stream of the past is due
                "log_level": "WARNING",
            }
        )
    )
    return config


def fire(config: Path) -> None:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "winchester.worker_cli", "-c", str(config), "--once"],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    print(
        f"pipeline-worker --once: {time.perf_counter() - started:.0f}s",
        file=sys.stderr,
    )


# ---------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_api(
    config: Path, port: int, workers: int, log: Path
) -> subprocess.Popen[bytes]:
    quince_api = Path(sys.executable).parent / "quince-api"
    command = (
        [str(quince_api)]
        if quince_api.exists()
        else [sys.executable, "-m", "quince.cli"]
    )
    process = subprocess.Popen(
        [
            *command,
            "-c",
            str(config),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
        ],
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(
                f"quince-api exited with {process.returncode}: "
                f"{log.read_text()[-2000:]}"
            )
        try:
            status, _ = get(
                http.client.HTTPConnection("127.0.0.1", port, timeout=5), "/healthcheck"
            )
            if status == 200:
                return process
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    sys.exit("quince-api did not answer /healthcheck within 60s")


def fetch(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    """One request: its status and body, read whole but not parsed (the load
    generator shares the server's two cores: parsing 100 KiB pages in eight
    client threads would be measured as the server's latency)."""
    conn.request("GET", path, headers={"Accept": "application/json"})
    response = conn.getresponse()
    body = response.read()
    if response.will_close:
        conn.close()  # reopened by the next request
    return response.status, body


def get(conn: http.client.HTTPConnection, path: str) -> tuple[int, Any]:
    status, body = fetch(conn, path)
    return status, json.loads(body) if body else None


# ---------------------------------------------------------------- the mix


def _text(value: Any) -> str:
    if isinstance(value, dict) and "datetime" in value:
        return str(value["datetime"])
    return str(value)


class Mix:
    """The five routes, with values drawn from the data (through the API)."""

    def __init__(self, port: int, seed: int = 1) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        _, exists = get(
            conn, "/v1/events?event_name=compute.instance.exists&limit=1000"
        )
        _, others = get(
            conn, "/v1/events?event_name=compute.instance.update&limit=1000"
        )
        _, streams = get(
            conn, f"/v1/streams?state=completed&trigger_name={TRIGGER}&limit=1000"
        )
        _, types = get(conn, "/v1/event_types")
        conn.close()
        events = exists + others
        self.instances = sorted(
            {str(e["instance_id"]) for e in events if "instance_id" in e}
        )
        self.times = sorted({_text(e["timestamp"]) for e in exists})
        self.streams = [s["id"] for s in streams]
        self.names = [t["name"] for t in types]
        if not (self.instances and self.times and self.streams and self.names):
            sys.exit(
                f"not enough data to draw from: {len(self.instances)} instances, "
                f"{len(self.times)} times, {len(self.streams)} completed streams, "
                f"{len(self.names)} event types"
            )
        self.random = random.Random(seed)

    def paths(self) -> dict[str, Callable[[random.Random], str]]:
        q = urllib.parse.quote
        return {
            "events_by_trait": lambda r: (
                "/v1/events?traits=" + q(f"instance_id:{r.choice(self.instances)}")
            ),
            "exists_since": lambda r: (
                "/v1/events?event_name=compute.instance.exists"
                f"&from_datetime={q(r.choice(self.times))}&limit=100"
            ),
            "completed_streams": lambda r: (
                f"/v1/streams?state=completed&trigger_name={TRIGGER}"
            ),
            "events_count": lambda r: (
                f"/v1/events/count?event_name={q(r.choice(self.names))}"
            ),
            "stream_details": lambda r: (
                f"/v1/streams/{r.choice(self.streams)}?details=true"
            ),
        }


def drive(
    port: int,
    mix: Mix,
    clients: int,
    duration: float,
    rate: float = 0.0,
    warmup: float = 0.0,
) -> tuple[dict[str, list[float]], dict[str, int], float]:
    """Each client sends its next request as soon as the last one is answered
    (``rate`` 0: a closed loop, the server saturated), or on a fixed schedule
    of ``rate / clients`` requests a second (an open loop: the latency is
    counted from the scheduled time, so a slow answer delays the next and is
    counted for them too - no coordinated omission). The first ``warmup``
    seconds are not counted (each worker's first requests connect to the
    database and compile their statements)."""
    routes = mix.paths()
    names = list(routes)
    latencies: dict[str, list[float]] = {n: [] for n in names}
    errors: dict[str, int] = dict.fromkeys(names, 0)
    lock = threading.Lock()
    start_at = time.perf_counter() + 0.5
    counted_from = start_at + warmup
    deadline = counted_from + duration

    def client(k: int) -> None:
        rng = random.Random(k)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: dict[str, list[float]] = {n: [] for n in names}
        bad: dict[str, int] = dict.fromkeys(names, 0)
        turn = k
        every = clients / rate if rate > 0 else 0.0
        due = start_at + (k / clients) * every
        while time.perf_counter() < start_at:
            time.sleep(0.01)
        while time.perf_counter() < deadline:
            name = names[turn % len(names)]
            turn += 1
            path = routes[name](rng)
            if every:
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                began = due
                due += every
            else:
                began = time.perf_counter()
            try:
                status, _ = fetch(conn, path)
            except (OSError, http.client.HTTPException):
                conn.close()
                status = 0
            if began < counted_from:
                continue
            mine[name].append(time.perf_counter() - began)
            if status != 200:
                bad[name] += 1
        conn.close()
        with lock:
            for n in names:
                latencies[n].extend(mine[n])
                errors[n] += bad[n]

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors, duration


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


# ---------------------------------------------------------------- EXPLAIN


def explain(config: Path, url: str, path: str) -> str:
    """The plans of the statements ``path`` runs (slowest first), in this process."""
    import falcon.testing

    from quince.app import create_app

    captured: list[tuple[float, str, Any]] = []
    began: dict[int, float] = {}

    def before(_conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        began[id(cursor)] = time.perf_counter()

    def after(_conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        captured.append(
            (time.perf_counter() - began.pop(id(cursor), 0.0), statement, params)
        )

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", before)
    sa.event.listen(sa.engine.Engine, "after_cursor_execute", after)
    try:
        client = falcon.testing.TestClient(create_app(str(config)))
        target, _, query = path.partition("?")
        client.simulate_get(target, query_string=query)  # warm caches, type ids
        captured.clear()
        result = client.simulate_get(target, query_string=query)
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", before)
        sa.event.remove(sa.engine.Engine, "after_cursor_execute", after)
        for obj in gc.get_objects():  # the app's engine: let the database be dropped
            if isinstance(obj, sa.engine.Engine):
                obj.dispose()
    backend = sa.make_url(url).get_backend_name()
    prefix = {
        "postgresql": "EXPLAIN ANALYZE ",
        "mysql": "ANALYZE ",
        "sqlite": "EXPLAIN QUERY PLAN ",
    }[backend]
    out = [f"GET {path} -> {result.status}, {len(captured)} statements"]
    engine = connect(url)
    with engine.connect() as conn:
        for seconds, statement, params in sorted(captured, key=lambda c: -c[0])[:3]:
            if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            out.append(
                f"-- {ms(seconds)} ms:\n{statement.strip()}\n-- params: {params!r}"
            )
            try:
                rows = conn.exec_driver_sql(prefix + statement, params).all()
            except sa.exc.DBAPIError as exc:
                out.append(f"(cannot explain: {exc.orig})")
                conn.rollback()
                continue
            out.extend("   " + " | ".join(str(v) for v in row) for row in rows)
    engine.dispose()
    return "\n".join(out)


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db", default="mysql", help="mysql, postgresql, sqlite or a URL"
    )
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="notifications to fill"
    )
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--warmup",
        type=float,
        default=3.0,
        help="seconds of traffic before the measured --duration (not counted)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="requests/s in all, on a fixed schedule (default: as fast as answered)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument(
        "--reuse", metavar="URL", help="a database filled before (--keep)"
    )
    parser.add_argument(
        "--fill-only", action="store_true", help="fill, keep the database, say its URL"
    )
    parser.add_argument(
        "--deployed-mariadb",
        metavar="DIR",
        type=Path,
        help="run a private MariaDB on data folder DIR with the ansible db role's "
        "settings (kept for a later run) instead of --db's server; a --reuse "
        "URL's host and port are replaced by its own",
    )
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        if args.deployed_mariadb:
            admin = sa.make_url(
                stack.enter_context(deployed_mariadb(args.deployed_mariadb))
            )
            if args.reuse:
                args.reuse = (
                    sa.make_url(args.reuse)
                    .set(host=admin.host, port=admin.port)
                    .render_as_string(hide_password=False)
                )
            else:
                args.db = admin.render_as_string(hide_password=False)
        run(args)


def run(args: argparse.Namespace) -> None:
    """Fill and/or drive, as ``args`` say; the final JSON line."""
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        if args.reuse:
            url, cleanup = args.reuse, (lambda: None)
        else:
            url, cleanup = database(args.db, scratch)
            if args.keep or args.fill_only:
                cleanup = lambda: print(f"kept: {url}", file=sys.stderr)  # noqa: E731
        try:
            config = write_config(scratch, url)
            if not args.reuse:
                started = time.perf_counter()
                traffic = notigen_file(scratch, args.events)
                print(f"notigen: {time.perf_counter() - started:.0f}s", file=sys.stderr)
                started = time.perf_counter()
                saved = fill(url, traffic, args.events)
                traffic.unlink()
                print(
                    f"fill: {saved:,} events in {time.perf_counter() - started:.0f}s",
                    file=sys.stderr,
                )
                fire(config)
                analyze(url)
            if args.fill_only:
                return
            stored = stored_events(url)
            port = free_port()
            api = start_api(config, port, args.workers, scratch / "quince-api.log")
            try:
                mix = Mix(port)
                latencies, errors, seconds = drive(
                    port, mix, args.clients, args.duration, args.rate, args.warmup
                )
            finally:
                api.terminate()
                api.wait(timeout=60)
            every = [v for values in latencies.values() for v in values]
            by_route = {
                name: {
                    "n": len(values),
                    "p50_ms": ms(percentile(values, 50)),
                    "p99_ms": ms(percentile(values, 99)),
                    "max_ms": ms(max(values, default=0.0)),
                    "errors": errors[name],
                }
                for name, values in latencies.items()
            }
            slowest = max(by_route, key=lambda n: by_route[n]["p99_ms"])
            rng = random.Random(3)
            paths = mix.paths()
            print(f"slowest route by p99: {slowest}")
            print(explain(config, url, paths[slowest](rng)))
            if slowest != "events_count":
                print(explain(config, url, paths["events_count"](rng)))
        finally:
            cleanup()  # type: ignore[no-untyped-call]
    result = {
        "bench": "api",
        "db": sa.make_url(url).get_backend_name(),
        "events": stored,
        "clients": args.clients,
        "workers": args.workers,
        "duration_s": args.duration,
        "rate": args.rate or "closed loop",
        "warmup_s": args.warmup,
        "p50_ms": ms(percentile(every, 50)),
        "p99_ms": ms(percentile(every, 99)),
        "rps": round(len(every) / seconds, 1),
        "by_route": by_route,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    run_main(main, "api", "start the database, or point --db at a running one")
