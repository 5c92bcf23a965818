"""Feed a JSON-lines file of notifications through distil + ingest.

A small tool for replays, benchmarks and the multi-process tests::

    python -m winchester.ingest_file --db URL --definitions event_definitions.yaml \\
        --triggers triggers.yaml [--batch 500] [--now ISO | --clock event|wall] \\
        [--share K/N] [--shuffle SEED] [--loop] FILE

``--share K/N`` takes only the lines whose number modulo N is K, K+1 (mod N)
(two overlapping shares per line across N processes). ``--loop`` ingests the
file again and again (crash tests kill it). A JSON summary goes to stdout.
Exit status 0, or 1 when the database stayed unavailable.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time

from distiller import Distiller
from stacktach.timeutils import parse_timestamp
from winchester.clock import Clock, EventClock, FixedClock, WallClock
from winchester.config.triggers import load_triggers
from winchester.ingest import TriggerManager
from winchester.storage.engine import DatabaseUnavailable, connect


def main(argv: list[str] | None = None) -> int:
    """Run the tool; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="SQLAlchemy database URL")
    parser.add_argument("--definitions", required=True, help="event_definitions.yaml")
    parser.add_argument("--triggers", required=True, help="triggers.yaml")
    parser.add_argument(
        "--batch", type=int, default=500, help="notifications per batch"
    )
    parser.add_argument("--now", help="fixed clock at this ISO time")
    parser.add_argument("--clock", choices=["wall", "event"], default="event")
    parser.add_argument("--share", help="K/N: this process's overlapping share")
    parser.add_argument("--shuffle", type=int, help="shuffle the lines with this seed")
    parser.add_argument("--loop", action="store_true", help="repeat until killed")
    parser.add_argument("file", help="JSON-lines notifications")
    args = parser.parse_args(argv)

    with open(args.file, "rb") as stream:
        lines = [line for line in stream if line.strip()]
    if args.share:
        k, n = (int(part) for part in args.share.split("/"))
        lines = [line for i, line in enumerate(lines) if i % n in (k, (k + 1) % n)]
    if args.shuffle is not None:
        random.Random(args.shuffle).shuffle(lines)

    engine = connect(args.db)
    clock: Clock
    if args.now:
        clock = FixedClock(parse_timestamp(args.now))
    elif args.clock == "event":
        clock = EventClock(engine)
    else:
        clock = WallClock()
    manager = TriggerManager(
        engine,
        load_triggers(args.triggers),
        clock,
        distiller=Distiller.from_file(args.definitions),
    )
    totals = {
        "notifications": 0,
        "saved": 0,
        "duplicates": 0,
        "rejected": 0,
        "statements": 0,
    }
    started = time.perf_counter()
    try:
        while True:
            for start in range(0, len(lines), args.batch):
                result = manager.add_notifications(lines[start : start + args.batch])
                totals["notifications"] += result.received
                totals["saved"] += result.saved
                totals["duplicates"] += result.duplicates
                totals["rejected"] += len(result.rejected)
                totals["statements"] += result.statements
                print(json.dumps({"batch_done": totals["notifications"]}), flush=True)
            if not args.loop:
                break
    except DatabaseUnavailable as exc:
        print(json.dumps({"error": str(exc), **totals}), flush=True)
        return 1
    seconds = time.perf_counter() - started
    print(
        json.dumps({"done": True, "seconds": round(seconds, 3), **totals}), flush=True
    )
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
