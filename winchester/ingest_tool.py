"""A test tool: feed a JSON-lines file through distil + ingest, with options.

Run as ``python -m winchester.ingest_file`` (or ``-m winchester.ingest_tool``)
by the multi-process tests and benchmarks; operators use ``winchester-db
ingest`` (:mod:`winchester.ingest_file`). It takes ``--db URL --definitions FILE
--triggers FILE [--batch 500] [--now ISO | --clock event|wall] [--share K/N]
[--shuffle SEED] [--loop] FILE`` instead of a ``winchester.yaml`` (they become
the settings the trigger manager is built from, by
:func:`winchester.build.build_trigger_manager`) and prints JSON progress and a
JSON summary on stdout. ``--share K/N`` takes only the lines whose number modulo
N is K or K+1 (two overlapping shares per line across N processes);
``--shuffle`` and ``--share`` read the whole file first (a test tool's
liberty); ``--loop`` ingests the file again and again (crash tests kill it).
Exit status 0, or 1 when the database stayed unavailable.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from stacktach.timeutils import parse_timestamp
from winchester.build import build_trigger_manager
from winchester.clock import FixedClock
from winchester.config.settings import WinchesterSettings
from winchester.storage.engine import DatabaseUnavailable

__all__ = ["main"]


def _tool_settings(args: argparse.Namespace) -> WinchesterSettings:
    """The test tool's options as the settings of a ``winchester.yaml``."""
    data = {
        "database": {"url": args.db},
        "distiller_config": str(Path(args.definitions).absolute()),
        "trigger_definitions": str(Path(args.triggers).absolute()),
        "clock": args.clock,
    }
    return WinchesterSettings.from_mapping(data, source=Path("<command line>"))


def main(argv: list[str] | None = None) -> int:
    """Run the test tool; returns the exit status."""
    parser = argparse.ArgumentParser(description="Feed a JSON-lines file to ingest.")
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

    settings = _tool_settings(args)
    clock = FixedClock(parse_timestamp(args.now)) if args.now else None
    manager = build_trigger_manager(settings, clock=clock)
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
    manager.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
