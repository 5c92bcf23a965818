#!/usr/bin/env python3
"""Distiller throughput on the shared corpus.

Repeats every notification of ../shared/corpus/*.jsonl until there are at least
``--notifications`` of them, then times, in one process on one core:

* ``json.loads`` of every line (the standard library's decoder),
* ``orjson.loads`` of every line (the decoder the distiller uses: the floor any
  distiller pays), and
* ``Distiller.distill_json`` of every line (JSON decoding included).

The three are timed back to back in each of ``--runs`` rounds; the rates are
each one's best round, and ``ratio`` is the median over the rounds of
distilling's rate over ``orjson.loads``'s in the same round (rounds side by
side compare like with like on a noisy machine).

Prints a human summary, then a final JSON line::

    {"bench": "distill", "notifications": N, "per_s": X, "json_loads_per_s": Y,
     "orjson_loads_per_s": Z, "ratio": X/Z, ...}

Run: ``.venv/bin/python bench/distill.py [--notifications 20000] [--definitions FILE]``
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from distiller import Distiller, NotificationRejected  # noqa: E402

SHARED = Path(os.environ.get("STACKTACH_SHARED", ROOT.parent / "shared"))
CORPUS = SHARED / "corpus"


def corpus_lines(minimum: int) -> list[bytes]:
    lines: list[bytes] = []
    for path in sorted(CORPUS.glob("*.jsonl")):
        if path.name.endswith(".sources.jsonl"):
            continue
        lines.extend(line for line in path.read_bytes().splitlines() if line.strip())
    if not lines:
        sys.exit(f"no notifications found under {CORPUS}")
    repeats = -(-minimum // len(lines))
    return (lines * repeats)[: max(minimum, len(lines))]


def timed(func: Callable[[], None]) -> float:
    """Seconds of one ``func()`` call, after a full collection."""
    gc.collect()
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=20_000)
    parser.add_argument(
        "--definitions", default=str(CORPUS / "config" / "event_definitions.yaml")
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=7,
        help="timed rounds (rates: the best; ratio: their median)",
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, got {args.runs}")

    lines = corpus_lines(args.notifications)
    distiller = Distiller.from_file(args.definitions)

    def decode_all() -> None:
        loads = json.loads
        for line in lines:
            loads(line)

    def orjson_all() -> None:
        loads = orjson.loads
        for line in lines:
            loads(line)

    counts = {"events": 0, "unmatched": 0, "rejected": 0}

    def distill_all() -> None:
        distill = distiller.distill_json
        events = unmatched = rejected = 0
        for line in lines:
            try:
                event = distill(line)
            except NotificationRejected:
                rejected += 1
                continue
            if event is None:
                unmatched += 1
            else:
                events += 1
        counts.update(events=events, unmatched=unmatched, rejected=rejected)

    # Interleaved rounds: each round times all three back to back, so a ratio
    # compares runs under the same machine conditions (sequential best-of
    # runs paired a lucky orjson window with an unlucky distiller one).
    rounds = [
        (timed(decode_all), timed(orjson_all), timed(distill_all))
        for _ in range(args.runs)
    ]
    json_seconds = min(r[0] for r in rounds)
    orjson_seconds = min(r[1] for r in rounds)
    distill_seconds = min(r[2] for r in rounds)
    ratio = statistics.median(r[1] / r[2] for r in rounds)
    n = len(lines)
    result = {
        "bench": "distill",
        "notifications": n,
        "per_s": round(n / distill_seconds),
        "json_loads_per_s": round(n / json_seconds),
        "orjson_loads_per_s": round(n / orjson_seconds),
        "ratio": round(ratio, 3),
        "events": counts["events"],
        "unmatched": counts["unmatched"],
        "rejected": counts["rejected"],
        "definitions": Path(args.definitions).name,
        "runs": args.runs,
    }
    print(
        f"distilled {n} notifications: {result['per_s']:,}/s "
        f"(json.loads alone: {result['json_loads_per_s']:,}/s, orjson.loads alone: "
        f"{result['orjson_loads_per_s']:,}/s, ratio {result['ratio']}); "
        f"{counts['events']} events, {counts['unmatched']} unmatched, "
        f"{counts['rejected']} rejected; best of {args.runs} rounds, "
        "ratio their median",
        flush=True,
    )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
