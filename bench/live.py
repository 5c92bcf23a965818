#!/usr/bin/env python3
"""The live stream under load: 200 SSE watchers while 1,000 notifications/s arrive.

Starts ``quince-api`` (gunicorn, 4 gthread workers, 80 threads each) over a
fresh database (MariaDB by default), opens ``--watchers`` connections to
``GET /v1/stream`` (from 4 processes), ingests notigen traffic through the
trigger manager at ``--rate`` notifications/s from another process (batches
every 100 ms, the commit time of each event noted), and meanwhile drives
ordinary requests (``/v1/events``, ``/v1/streams``, ``/v1/events/count``) from
4 clients. Lag is from an event's commit to its arrival at a watcher, over
every (event, watcher) pair.

    .venv/bin/python bench/live.py [--db URL|mysql|postgresql|sqlite]
        [--watchers 200] [--rate 1000] [--duration 30]

Prints a summary on stderr and a final JSON line::

    {"bench": "live", "watchers": 200, "lag_p50_ms": ..., "lag_p99_ms": ...,
     "api_p99_ms": ...}
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402
from ingest import CONFIG, database, notigen_lines, run_main, sample_manager  # noqa: E402

from winchester.storage import schema  # noqa: E402
from winchester.storage.engine import connect  # noqa: E402

WATCHER_PROCESSES = 4
API_CLIENTS = 4
#: What precedes an event's message id in a ``data:`` line (the API writes
#: compact JSON, and each event has one).
MARK = b'"message_id":"'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


# ------------------------------------------------------------------ roles


def watchers_role(port: int, count: int, out: Path) -> None:
    """``count`` SSE connections until a line arrives on stdin; writes
    ``[[message_id, arrival], ...]`` for each."""
    arrivals: list[list[tuple[str, float]]] = [[] for _ in range(count)]
    ready = threading.Barrier(count + 1)
    failed: list[str] = []
    conns: list[http.client.HTTPConnection] = []

    def watch(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        conns.append(conn)
        conn.request("GET", "/v1/stream", headers={"Accept": "text/event-stream"})
        response = conn.getresponse()
        if response.status != 200:
            failed.append(f"HTTP {response.status}")
        ready.wait()
        mine = arrivals[k]
        pending = b""
        # Whole reads of what has arrived (read1), scanned for complete
        # messages: a line-by-line client costs more CPU than the server it
        # measures, on the same cores.
        while response.status == 200:
            try:
                chunk = response.read1(65536)
            except (OSError, ValueError, AttributeError, http.client.HTTPException):
                break
            if not chunk:
                break
            at = time.time()
            pending += chunk
            cut = pending.rfind(b"\n\n")
            if cut < 0:
                continue
            complete, pending = pending[:cut], pending[cut + 2 :]
            start = complete.find(MARK)
            while start >= 0:
                start += len(MARK)
                end = complete.index(b'"', start)
                mine.append((complete[start:end].decode(), at))
                start = complete.find(MARK, end)

    threads = [threading.Thread(target=watch, args=(k,)) for k in range(count)]
    for thread in threads:
        thread.start()
    ready.wait()
    print("ready", flush=True)
    sys.stdin.readline()
    time.sleep(2.0)  # the last events in flight
    for conn in conns:
        if conn.sock is not None:
            conn.sock.shutdown(socket.SHUT_RDWR)
    for thread in threads:
        thread.join()
    out.write_text(json.dumps({"arrivals": arrivals, "failed": failed}))


def ingest_role(url: str, traffic: Path, rate: int, seconds: float, out: Path) -> None:
    """Ingest at ``rate`` notifications/s; writes ``{message_id: commit time}``."""
    engine = connect(url)
    manager = sample_manager(engine)
    lines = [line for line in traffic.read_bytes().splitlines() if line.strip()]
    step = max(rate // 10, 1)
    committed: dict[str, float] = {}
    started = time.monotonic()
    sent = 0
    for start in range(0, len(lines), step):
        due = started + sent / rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        if time.monotonic() - started > seconds:
            break
        batch = lines[start : start + step]
        manager.add_notifications(batch)
        at = time.time()
        for line in batch:
            message_id = json.loads(line).get("message_id")
            if isinstance(message_id, str):
                committed[message_id] = at
        sent += len(batch)
    elapsed = time.monotonic() - started
    out.write_text(json.dumps({"committed": committed, "sent": sent, "s": elapsed}))
    engine.dispose()


# ------------------------------------------------------------------ main


def api_clients(port: int, stop: threading.Event, timings: list[float]) -> None:
    paths = [
        "/v1/events?limit=20",
        "/v1/events?event_name=compute.instance.update&limit=20",
        "/v1/streams?limit=20",
        "/v1/events/count?event_name=compute.instance.exists",
    ]

    def client(k: int) -> None:
        rng = random.Random(k)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while not stop.is_set():
            path = rng.choice(paths)
            started = time.perf_counter()
            try:
                conn.request("GET", path)
                conn.getresponse().read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            timings.append(time.perf_counter() - started)
            time.sleep(0.05)
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(API_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def write_config(scratch: Path, url: str) -> Path:
    config = scratch / "winchester.yaml"
    config.write_text(
        json.dumps(
            {
                "database": {"url": url},
                "distiller_config": str(CONFIG / "event_definitions.yaml"),
                "trigger_definitions": str(CONFIG / "triggers.yaml"),
                "log_level": "WARNING",
            }
        )
    )
    return config


def start_api(config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "quince-api"),
            "-c", str(config), "--bind", f"127.0.0.1:{port}",
            "--workers", "4", "--threads", "80",
        ],
        cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"quince-api exited: {log.read_text()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthcheck")
            if conn.getresponse().status == 200:
                return process
        except OSError:
            pass
        time.sleep(0.3)
    process.kill()
    sys.exit("quince-api did not answer /healthcheck within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="mysql", help="URL, or mysql/postgresql/sqlite")
    parser.add_argument("--watchers", type=int, default=200)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "watchers":
        port, count, out = args.args
        watchers_role(int(port), int(count), Path(out))
        return
    if args.role == "ingest":
        url, traffic, rate, seconds, out = args.args
        ingest_role(url, Path(traffic), int(rate), float(seconds), Path(out))
        return

    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        count = int(args.rate * args.duration)
        print(f"generating {count} notifications", file=sys.stderr)
        lines = notigen_lines(scratch, count, seed=3)
        traffic = scratch / "traffic.jsonl"
        traffic.write_bytes(b"\n".join(lines) + b"\n")
        url, cleanup = database(args.db, scratch)
        server = None
        try:
            sample_manager(connect(url))  # migrate
            port = free_port()
            server = start_api(write_config(scratch, url), port, scratch / "api.log")
            groups = []
            per = [args.watchers // WATCHER_PROCESSES] * WATCHER_PROCESSES
            per[0] += args.watchers - sum(per)
            for k, n in enumerate(per):
                out = scratch / f"watchers-{k}.json"
                process = subprocess.Popen(
                    [sys.executable, __file__, "--role", "watchers", "--args",
                     str(port), str(n), str(out)],
                    stdout=subprocess.PIPE, stdin=subprocess.PIPE, cwd=ROOT,
                )  # fmt: skip
                groups.append((process, out))
            for process, _out in groups:
                assert process.stdout is not None
                process.stdout.readline()  # "ready": every connection is open
            print(f"{args.watchers} watchers connected", file=sys.stderr)
            stop = threading.Event()
            timings: list[float] = []
            driver = threading.Thread(target=api_clients, args=(port, stop, timings))
            driver.start()
            ingested = scratch / "ingest.json"
            subprocess.run(
                [sys.executable, __file__, "--role", "ingest", "--args", url,
                 str(traffic), str(args.rate), str(args.duration), str(ingested)],
                check=True, cwd=ROOT,
            )  # fmt: skip
            stop.set()
            driver.join()
            for process, _out in groups:
                assert process.stdin is not None
                process.stdin.write(b"stop\n")
                process.stdin.flush()
            for process, _out in groups:
                process.wait()
            missing = report(args, url, ingested, [out for _p, out in groups], timings)
            if missing:  # what the API said meanwhile (a worker restarted?)
                said = [
                    line
                    for line in (scratch / "api.log").read_text().splitlines()
                    if any(word in line for word in ("WARNING", "ERROR", "CRITICAL"))
                ]
                print("\n".join(["quince-api warnings:", *said[-20:]]), file=sys.stderr)
        finally:
            if server is not None:
                server.terminate()
                server.wait(60)
            cleanup()  # type: ignore[operator]


def stored_ids(url: str) -> set[str]:
    engine = connect(url)
    with engine.connect() as conn:
        found = set(conn.execute(sa.select(schema.event.c.message_id)).scalars())
    engine.dispose()
    return found


def report(
    args: argparse.Namespace,
    url: str,
    ingested: Path,
    outs: list[Path],
    timings: list[float],
) -> int:
    """Print the summary and the JSON line; the arrivals missing."""
    done = json.loads(ingested.read_text())
    stored = stored_ids(url)
    committed: dict[str, float] = {
        k: v for k, v in done["committed"].items() if k in stored
    }
    lags: list[float] = []
    missing = 0
    short = 0  # watchers that missed some
    failed: list[str] = []
    for out in outs:
        data: dict[str, Any] = json.loads(out.read_text())
        failed.extend(data["failed"])
        for arrivals in data["arrivals"]:
            seen = {mid: at for mid, at in arrivals if mid in committed}
            missing += len(committed) - len(seen)
            short += len(seen) < len(committed)
            lags.extend(at - committed[mid] for mid, at in seen.items())
    rate = done["sent"] / done["s"] if done["s"] else 0.0
    print(
        f"ingested {done['sent']} notifications ({len(committed)} events) in "
        f"{done['s']:.1f} s = {rate:.0f}/s; {len(lags)} arrivals, {missing} "
        f"missing (of {short} watchers); {len(failed)} watchers refused; "
        f"{len(timings)} API requests",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "bench": "live",
                "watchers": args.watchers,
                "lag_p50_ms": round(percentile(lags, 50) * 1000, 1),
                "lag_p99_ms": round(percentile(lags, 99) * 1000, 1),
                "api_p99_ms": round(percentile(timings, 99) * 1000, 1),
                "ingest_per_s": round(rate),
                "missing": missing,
            }
        )
    )
    return missing


if __name__ == "__main__":
    run_main(main, "live", "start the database, or point --db at a running one")
