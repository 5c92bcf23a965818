#!/usr/bin/env python3
"""What a trait filter costs without trait index rows (``indexed_traits``).

Fills two fresh databases with the same notigen notifications (the sample
definitions and triggers, as ``bench/ingest.py``): one indexing every trait,
one indexing only ``--indexed-traits``. Then times the API's query layer
(``winchester.storage.queries``, as quince calls it) on both, for filters on a
trait the second database does not index - alone, with an event type and an
hour's range, and counted - and on an indexed one for comparison. Each query
runs ``--repeat`` times; the median and worst are printed in milliseconds,
with how many events the filter matches.

    .venv/bin/python bench/unindexed.py --db sqlite|mysql|postgresql|URL
        [--notifications 20000] [--indexed-traits instance_id,tenant_id,...]
        [--repeat 15]

Prints a table, then a final JSON line::

    {"bench": "unindexed", "db": ..., "events": N, "indexed_traits": [...],
     "queries": {name: {"matches": M, "indexed_ms": [median, worst],
                        "unindexed_ms": [median, worst]}, ...}}
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402
from ingest import database, notigen_file, numbered, run_main, sample_manager  # noqa: E402

from winchester.ingest_file import ingest_lines  # noqa: E402
from winchester.storage import queries  # noqa: E402
from winchester.storage.engine import connect  # noqa: E402
from winchester.storage.names import indexed_by  # noqa: E402

DEFAULT_INDEXED = "instance_id,tenant_id,request_id,user_id"
#: The unindexed trait filtered on: one value per compute host, a few per cell.
TRAIT = "host"


def fill(url: str, traffic: Path, indexed: list[str]) -> tuple[sa.Engine, int, float]:
    """(engine, events stored, ingest rate per second) of ``traffic`` in ``url``."""
    engine = connect(url)
    manager = sample_manager(engine, indexed)
    started = time.perf_counter()
    summary = ingest_lines(
        manager,
        numbered(traffic),
        batch_size=500,
        on_reject=lambda name, number, reason: None,
    )
    rate = summary.lines / (time.perf_counter() - started)
    return engine, summary.saved, rate


def cases(engine: sa.Engine) -> dict[str, Callable[[Any], int]]:
    """The queries, with values drawn from the stored events."""
    with engine.connect() as conn:
        sample = queries.list_events(
            conn,
            queries.EventFilter(event_name="compute.instance.exists"),
            limit=1000,
        )
    with_host = [e for e in sample if TRAIT in e.traits and "instance_id" in e.traits]
    if not with_host:
        sys.exit(f"no compute.instance.exists event with {TRAIT!r} to draw from")
    hosts = Counter(e.traits[TRAIT] for e in with_host)
    host = min(hosts, key=hosts.__getitem__)  # the rarest host of the sample
    picked = next(e for e in with_host if e.traits[TRAIT] == host)
    by_host = queries.TraitFilter(TRAIT, (host,))
    by_instance = queries.TraitFilter("instance_id", (picked.traits["instance_id"],))
    hour = queries.EventFilter(
        event_name="compute.instance.exists",
        after=picked.generated - timedelta(minutes=30),
        until=picked.generated + timedelta(minutes=30),
        traits=(by_host,),
    )

    def page(flt: queries.EventFilter) -> Callable[[Any], int]:
        return lambda conn: len(queries.list_events_json(conn, flt, limit=100))

    def count(flt: queries.EventFilter) -> Callable[[Any], int]:
        return lambda conn: queries.count_events(conn, flt)

    return {
        f"{TRAIT} (page of 100)": page(queries.EventFilter(traits=(by_host,))),
        f"{TRAIT} + type + 1 h": page(hour),
        f"{TRAIT} + instance_id": page(
            queries.EventFilter(traits=(by_host, by_instance))
        ),
        f"count {TRAIT}": count(queries.EventFilter(traits=(by_host,))),
        "instance_id (indexed in both)": page(
            queries.EventFilter(traits=(by_instance,))
        ),
    }


def timed(
    engine: sa.Engine, query: Callable[[Any], int], repeat: int
) -> tuple[int, list[float]]:
    """(result size, milliseconds per run) of ``query``, after one warm-up run."""
    times: list[float] = []
    with engine.connect() as conn:
        found = query(conn)
        for _ in range(repeat):
            started = time.perf_counter()
            query(conn)
            times.append((time.perf_counter() - started) * 1000)
    return found, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db", default="sqlite", help="sqlite, mysql, postgresql or a URL"
    )
    parser.add_argument("--notifications", type=int, default=20_000)
    parser.add_argument(
        "--indexed-traits",
        default=DEFAULT_INDEXED,
        metavar="GLOBS",
        help=f"the narrow database's indexed_traits (default {DEFAULT_INDEXED})",
    )
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    indexed = args.indexed_traits.split(",")
    if indexed_by(indexed)(TRAIT):
        sys.exit(f"--indexed-traits must leave out {TRAIT!r}, the trait filtered on")

    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        traffic = notigen_file(scratch, args.notifications, seed=1)
        (scratch / "all").mkdir()
        (scratch / "narrow").mkdir()
        url_all, drop_all = database(args.db, scratch / "all")
        url_narrow, drop_narrow = database(args.db, scratch / "narrow")
        try:
            print(
                f"filling two databases with {args.notifications:,} notifications",
                file=sys.stderr,
                flush=True,
            )
            every, events, rate_all = fill(url_all, traffic, ["*"])
            narrow, _, rate_narrow = fill(url_narrow, traffic, indexed)
            print(
                f"ingest: every trait indexed {rate_all:,.0f}/s, "
                f"{','.join(indexed)} only {rate_narrow:,.0f}/s",
                flush=True,
            )
            plan = cases(every)
            for name, query in plan.items():
                matches, fast = timed(every, query, args.repeat)
                again, slow = timed(narrow, query, args.repeat)
                if again != matches:
                    sys.exit(f"{name}: {matches} matches indexed, {again} without")
                results[name] = {
                    "matches": matches,
                    "indexed_ms": [
                        round(statistics.median(fast), 2),
                        round(max(fast), 2),
                    ],
                    "unindexed_ms": [
                        round(statistics.median(slow), 2),
                        round(max(slow), 2),
                    ],
                }
            every.dispose()
            narrow.dispose()
        finally:
            drop_all()  # type: ignore[operator]
            drop_narrow()  # type: ignore[operator]
    print(f"{events:,} events; ms median / worst of {args.repeat}")
    print(
        f"{'query':34} {'matches':>8} {'every trait indexed':>22} {'not indexed':>18}"
    )
    for name, row in results.items():
        fast, slow = row["indexed_ms"], row["unindexed_ms"]
        print(
            f"{name:34} {row['matches']:>8} {fast[0]:>12.1f} / {fast[1]:<8.1f}"
            f"{slow[0]:>9.1f} / {slow[1]:<8.1f}"
        )
    print(
        json.dumps(
            {
                "bench": "unindexed",
                "db": sa.make_url(url_all).get_backend_name(),
                "events": events,
                "indexed_traits": indexed,
                "ingest_per_s": {
                    "every": round(rate_all),
                    "narrow": round(rate_narrow),
                },
                "queries": results,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    run_main(main, "unindexed", "start the database, or point --db at a running one")
