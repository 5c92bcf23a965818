#!/usr/bin/env python3
"""Sizing figures for clusters: database growth per event, and the 2-cluster run.

``growth``: ingests N notigen notifications (the sample definitions and
triggers, as bench/ingest.py does) into a fresh MariaDB/MySQL database, runs
``ANALYZE TABLE`` and prints, per table, the bytes InnoDB holds
(``data_length + index_length`` from information_schema) per stored event and
per million notifications::

    .venv/bin/python bench/cluster.py growth [--db mysql|URL] [--notifications 50000]

``run``: the both-clusters test (3 RabbitMQ + 3 Galera nodes, 2 yagi-event,
3 pipeline-worker) with N notifications; its figures line starts with
``CLUSTER-FIGURES``::

    .venv/bin/python bench/cluster.py run [--notifications 50000]

The last line printed is JSON in both cases.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402
from ingest import database, notigen_lines, run_main, sample_manager  # noqa: E402

from winchester.storage.engine import connect  # noqa: E402


def growth(db: str, count: int, batch: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as scratch:
        url, drop = database(db, Path(scratch))
        try:
            engine = connect(url)
            if engine.dialect.name != "mysql":
                raise SystemExit("growth: needs a MariaDB/MySQL database (--db mysql)")
            manager = sample_manager(engine)
            lines = notigen_lines(Path(scratch), count, seed=5)
            started = time.perf_counter()
            for start in range(0, len(lines), batch):
                manager.add_notifications(lines[start : start + batch])
            seconds = time.perf_counter() - started
            name = engine.url.database
            with engine.connect() as conn:
                tables = [
                    r[0]
                    for r in conn.execute(
                        sa.text(
                            "SELECT table_name FROM information_schema.tables "
                            "WHERE table_schema = :s"
                        ),
                        {"s": name},
                    )
                ]
                for table in tables:
                    conn.exec_driver_sql(f"ANALYZE TABLE `{table}`")
                rows = conn.execute(
                    sa.text(
                        "SELECT table_name, table_rows, data_length, index_length "
                        "FROM information_schema.tables WHERE table_schema = :s"
                    ),
                    {"s": name},
                ).all()
                events = conn.exec_driver_sql("SELECT COUNT(*) FROM event").scalar_one()
            engine.dispose()
        finally:
            drop()  # type: ignore[operator]
    per_table = {
        str(t): {
            "rows": int(r or 0),
            "bytes": int(d or 0) + int(i or 0),
            "bytes_per_event": round((int(d or 0) + int(i or 0)) / max(events, 1), 1),
        }
        for t, r, d, i in rows
    }
    total = sum(int(v["bytes"]) for v in per_table.values())
    return {
        "bench": "cluster-growth",
        "notifications": len(lines),
        "events": int(events),
        "ingest_per_s": round(len(lines) / seconds, 1),
        "bytes_per_event": round(total / max(events, 1), 1),
        "gb_per_million_notifications": round(total / len(lines) * 1e6 / 1e9, 3),
        "tables": per_table,
    }


def run(count: int) -> int:
    env = {**os.environ, "STACKTACH_CLUSTER_NOTIFICATIONS": str(count)}
    return subprocess.call(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-s",
            "-p",
            "no:cacheprovider",
            "tests/cluster/test_both_clusters.py",
        ],
        cwd=ROOT,
        env=env,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    grow = sub.add_parser("growth", help="bytes per event in each table (MariaDB)")
    grow.add_argument("--db", default="mysql", help="mysql or a MariaDB/MySQL URL")
    grow.add_argument("--notifications", type=int, default=50_000)
    grow.add_argument("--batch", type=int, default=500)
    both = sub.add_parser("run", help="the both-clusters test with N notifications")
    both.add_argument("--notifications", type=int, default=50_000)
    args = parser.parse_args()
    if args.command == "growth":
        print(json.dumps(growth(args.db, args.notifications, args.batch)))
    else:
        sys.exit(run(args.notifications))


if __name__ == "__main__":
    run_main(main, "cluster", "start MariaDB, or point growth's --db at a running one")
