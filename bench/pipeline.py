#!/usr/bin/env python3
"""Pipeline throughput: ready streams fired per second by W pipeline-worker processes.

Prepares N streams of 10 events each, all ready to fire, in a fresh database,
then starts W ``pipeline-worker --once`` processes running the ``logger``
pipeline and times them from start to the last one's exit (all streams fired,
completed and purged).

    .venv/bin/python bench/pipeline.py --db mysql|sqlite|postgresql|URL \\
        [--streams 5000] [--workers 1] [--batch 1000]

Prints a summary, then a final JSON line::

    {"bench": "pipeline", "db": ..., "workers": W, "streams": N, "per_s": X}
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402
from ingest import database, run_main  # noqa: E402

from distiller import Event  # noqa: E402
from winchester.clock import FixedClock  # noqa: E402
from winchester.config.triggers import build_triggers  # noqa: E402
from winchester.ingest import TriggerManager  # noqa: E402
from winchester.storage import schema  # noqa: E402
from winchester.storage.engine import connect  # noqa: E402
from winchester.storage.migrate import upgrade  # noqa: E402

T0 = datetime(2024, 1, 1, tzinfo=UTC)
TRIGGER = {
    "name": "bench",
    "distinguished_by": ["instance_id"],
    "expiration": "$last + 1000d",
    "fire_pipeline": "logged",
    "match_criteria": [{"event_type": "compute.*"}],
    "fire_criteria": [{"event_type": "compute.instance.exists"}],
}


def prepare(url: str, streams: int) -> None:
    engine = connect(url)
    upgrade(engine)
    manager = TriggerManager(engine, build_triggers([TRIGGER]), FixedClock(T0))
    batch: list[Event] = []
    for n in range(streams):
        for k in range(10):
            kind = "compute.instance.exists" if k == 9 else "compute.instance.update"
            batch.append(
                Event(
                    kind,
                    f"m-{n}-{k}",
                    T0 + timedelta(seconds=k),
                    {"instance_id": f"i-{n}", "memory_mb": 512, "state": "active"},
                )
            )
        if len(batch) >= 5000:
            manager.add_events(batch)
            batch = []
    manager.add_events(batch)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db", default="mysql", help="sqlite, mysql, postgresql or a URL"
    )
    parser.add_argument("--streams", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--batch", type=int, default=1000, help="streams claimed per pass"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        url, cleanup = database(args.db, scratch)
        try:
            prepare(url, args.streams)
            (scratch / "triggers.yaml").write_text(json.dumps([TRIGGER]))
            (scratch / "pipelines.yaml").write_text("logged: [logger]\n")
            config = scratch / "winchester.yaml"
            config.write_text(
                json.dumps(
                    {
                        "database": {"url": url},
                        "trigger_definitions": "triggers.yaml",
                        "pipeline_config": "pipelines.yaml",
                        "pipeline_worker_batch_size": args.batch,
                        "log_level": "WARNING",
                    }
                )
            )
            started = time.perf_counter()
            workers = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "winchester.worker_cli",
                        "-c",
                        str(config),
                        "--name",
                        f"bench-{k}",
                        "--once",
                    ],
                    cwd=ROOT,
                )
                for k in range(args.workers)
            ]
            for process in workers:
                if process.wait() != 0:
                    sys.exit(f"a worker failed with exit status {process.returncode}")
            seconds = time.perf_counter() - started
            engine = connect(url)
            with engine.connect() as conn:
                left = conn.execute(
                    sa.select(sa.func.count()).select_from(schema.stream)
                ).scalar_one()
            engine.dispose()
            if left:
                sys.exit(f"{left} streams were not fired")
        finally:
            cleanup()  # type: ignore[operator]
    result = {
        "bench": "pipeline",
        "db": sa.make_url(url).get_backend_name(),
        "workers": args.workers,
        "streams": args.streams,
        "per_s": round(args.streams / seconds),
        "seconds": round(seconds, 2),
        "events_per_stream": 10,
        "pipeline": "logger",
    }
    print(
        f"{result['db']}: {args.workers} worker(s) fired {args.streams} streams in "
        f"{result['seconds']} s: {result['per_s']:,} streams/s (incl. start-up)",
        flush=True,
    )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    run_main(main, "pipeline", "start the database, or point --db at a running one")
