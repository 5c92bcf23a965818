#!/usr/bin/env python3
"""End-to-end ingest: RabbitMQ -> W yagi-event processes (archiving on) -> MariaDB.

Publishes N notigen notifications to a fresh exchange and queue on the local
RabbitMQ, starts W ``yagi-event`` processes (chain: shoebox archive, winchester)
into a fresh MariaDB database, and measures from the first event stored to the
last (polling the database every 50 ms), then stops them with SIGTERM.

    .venv/bin/python bench/e2e_ingest.py [--workers 1] [--notifications 20000]
        [--broker amqp://guest:guest@127.0.0.1:5672//] [--db mysql]

Prints a summary, then a final JSON line::

    {"bench": "e2e_ingest", "workers": W, "notifications": N, "per_s": X,
     "cpu_s": {"yagi-event": ..., "database": ..., "rabbitmq": ...},
     "cores": C, "busy_cores": B, "cpu_us_per_notification": U,
     "speedup_ceiling": S}

``cpu_s`` is the processor time each side used in the timed window (from
``/proc``; the database and broker are every process of that name on the
machine), and ``cores`` the machine's: when their sum nears ``cores`` times the
window, the machine, not yagi-event, is the limit, and more workers cannot add
throughput. ``busy_cores`` is that sum over the window, and
``speedup_ceiling`` is ``cores / busy_cores``: the most any number of workers
can gain over this run on this machine while each notification costs the same
processor time, ``cpu_us_per_notification`` (a run of one worker that keeps 1.6
of 2 cores busy allows at most 1.25x; more workers can beat that only by
spending less per notification).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402
from ingest import UNANSWERED, database, notigen_lines, run_main  # noqa: E402
from kombu.exceptions import KombuError  # noqa: E402

import notabene  # noqa: E402
from distiller import Distiller, NotificationRejected  # noqa: E402
from winchester.storage import schema  # noqa: E402
from winchester.storage.engine import connect  # noqa: E402
from winchester.storage.migrate import upgrade  # noqa: E402

SHARED = Path(os.environ.get("STACKTACH_SHARED", ROOT.parent / "shared"))
CONFIG = SHARED / "corpus" / "config"


def count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(schema.event)
            ).scalar_one()
        )


#: Process names of each side whose processor time is reported (Linux /proc).
SERVERS = {"database": ("mariadbd", "mysqld", "postgres"), "rabbitmq": ("beam.smp",)}


def cpu_seconds(pids: list[int]) -> dict[str, float]:
    """Processor seconds (user + system) used so far by ``pids`` (the workers)
    and by every process of each :data:`SERVERS` name; {} without /proc."""
    tick = os.sysconf("SC_CLK_TCK")

    def used(pid: int) -> tuple[str, float]:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read()
        name = text[text.index(b"(") + 1 : text.rindex(b")")].decode()
        fields = text[text.rindex(b")") + 2 :].split()
        return name, (int(fields[11]) + int(fields[12])) / tick

    totals = dict.fromkeys(["yagi-event", *SERVERS], 0.0)
    try:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                name, seconds = used(int(entry))
            except (OSError, ValueError):
                continue  # gone meanwhile
            if int(entry) in pids:
                totals["yagi-event"] += seconds
            for side, names in SERVERS.items():
                if name in names:
                    totals[side] += seconds
    except OSError:
        return {}
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--notifications", type=int, default=20_000)
    parser.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672//")
    parser.add_argument("--db", default="mysql")
    parser.add_argument("--batch", type=int, default=500, help="max_messages per batch")
    args = parser.parse_args()

    name = f"stt_bench_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        lines = notigen_lines(scratch, args.notifications, seed=2)
        distiller = Distiller.from_file(CONFIG / "event_definitions.yaml")
        expected = set()
        for line in lines:
            try:
                event = distiller.distill_json(line)
            except NotificationRejected:
                continue
            if event is not None:
                expected.add(event.message_id)
        url, cleanup = database(args.db, scratch)
        spec = notabene.QueueSpec(name=name, exchange=name, routing_key=name)
        try:
            engine = connect(url)
            upgrade(engine)
            with notabene.Publisher(args.broker, exchange=name, queues=[spec]) as pub:
                for start in range(0, len(lines), 1000):
                    pub.publish_batch(lines[start : start + 1000], routing_key=name)
            (scratch / "winchester.yaml").write_text(
                f"database: {{url: '{url}'}}\n"
                f"distiller_config: {CONFIG / 'event_definitions.yaml'}\n"
                f"trigger_definitions: {CONFIG / 'triggers.yaml'}\n"
                "clock: event\n"
            )
            config = scratch / "yagi.conf"
            config.write_text(
                f"[rabbit_broker]\nurl = {args.broker}\n[consumers]\nqueues = {name}\n"
                f"[consumer:{name}]\napps = winchester, shoebox\nexchange = {name}\n"
                f"routing_key = {name}\nmax_messages = {args.batch}\nmax_wait = 0.2\n"
                f"[winchester]\nconfig_file = {scratch / 'winchester.yaml'}\n"
                f"[shoebox]\ndestination_folder = {scratch / 'archive'}\n"
                f"working_directory = {scratch / 'work-<pid>'}\n"
                "[logging]\ndefault_level = WARNING\n"
            )
            workers = [
                subprocess.Popen(
                    [sys.executable, "-m", "yagi.cli", "-c", str(config)], cwd=ROOT
                )
                for _ in range(args.workers)
            ]
            pids = [process.pid for process in workers]
            first = None
            cpu_first: dict[str, float] = {}
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                stored = count(engine)
                if stored and first is None:
                    first = time.perf_counter()
                    cpu_first = cpu_seconds(pids)
                if stored >= len(expected):
                    break
                time.sleep(0.05)
            last = time.perf_counter()
            cpu_last = cpu_seconds(pids)
            for process in workers:
                process.send_signal(signal.SIGTERM)
            for process in workers:
                process.wait(timeout=60)
            stored = count(engine)
            engine.dispose()
        finally:
            try:
                with notabene.connect(args.broker) as conn:
                    channel = conn.channel()
                    for queue in (name, f"{name}.failed"):
                        channel.queue_delete(queue)
                    channel.exchange_delete(name)
            finally:
                cleanup()  # type: ignore[operator]
    if first is None or stored < len(expected):
        sys.exit(f"only {stored} of {len(expected)} events stored")
    seconds = last - first
    result = {
        "bench": "e2e_ingest",
        "workers": args.workers,
        "notifications": len(lines),
        "events": stored,
        "per_s": round(len(lines) / seconds),
        "seconds": round(seconds, 2),
        "archive": True,
        "db": "mysql" if args.db == "mysql" else args.db,
        "cpu_s": {
            side: round(cpu_last[side] - cpu_first.get(side, 0.0), 2)
            for side in cpu_last
        },
        "cores": os.cpu_count(),
    }
    cores = os.cpu_count() or 1
    if result["cpu_s"]:
        spent = sum(result["cpu_s"].values())
        busy = spent / seconds
        result["busy_cores"] = round(busy, 2)
        result["cpu_us_per_notification"] = round(spent / len(lines) * 1e6)
        # the same processor time per notification spread over every core
        result["speedup_ceiling"] = round(cores / busy, 2)
    print(
        f"{args.workers} yagi-event process(es): {len(lines)} notifications consumed, "
        f"archived and stored at {result['per_s']:,}/s",
        flush=True,
    )
    if result["cpu_s"]:
        used = ", ".join(f"{side} {cpu:.2f} s" for side, cpu in result["cpu_s"].items())
        print(
            f"processor time in the {seconds:.2f} s window: {used} "
            f"({result['busy_cores']} of the machine's {cores} cores busy; "
            f"{result['cpu_us_per_notification']} µs per notification: at that "
            f"cost, no number of workers can go more than "
            f"{result['speedup_ceiling']}x this fast here)",
            flush=True,
        )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    run_main(
        main,
        "e2e_ingest",
        "start MariaDB and RabbitMQ, or point --db and --broker at running ones",
        (*UNANSWERED, KombuError),
    )
