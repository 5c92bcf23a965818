#!/usr/bin/env python3
"""Cost of compiling and of evaluating the time expressions the configs use.

Prints one line per expression, then a final JSON line::

    {"bench": "timex", "expressions": {"$last + 1h": {"eval_us": X, "compile_us": Y}}}

Run: ``.venv/bin/python bench/timex.py [--number 100000] [--runs 5]``
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from winchester import timex  # noqa: E402

EXPRESSIONS = [
    "$last + 1h",  # expiration
    "$last + 2d",
    "day",  # distinguished_by {timestamp: day}
    "$audit_period_beginning + 1d",  # datetime trait criterion
    "$timestamp - 14d",  # trim_events_age
    "day($start) + 6h",  # a pinned range that wraps
    "$a - 30m to $b + 1h",
    "$timestamp @ 12mo 31d 12h 0m 0s",
    "month + 1mo",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5, help="timed runs; best counts")
    args = parser.parse_args()

    instant = datetime(2014, 8, 1, 2, 10, 23, 550, tzinfo=UTC)
    names = ("last", "timestamp", "audit_period_beginning", "start", "a", "b")
    variables = dict.fromkeys(names, instant)
    results: dict[str, dict[str, float]] = {}
    for text in EXPRESSIONS:
        expression = timex.compile(text)
        evaluate = expression.evaluate
        eval_s = min(
            timeit.repeat(
                partial(evaluate, variables), number=args.number, repeat=args.runs
            )
        )
        compile_number = max(1, args.number // 10)
        compile_s = min(
            timeit.repeat(
                partial(timex.compile, text), number=compile_number, repeat=args.runs
            )
        )
        results[text] = {
            "eval_us": round(eval_s / args.number * 1e6, 2),
            "compile_us": round(compile_s / compile_number * 1e6, 1),
        }
        print(
            f"{text:36s} evaluate {results[text]['eval_us']:6.2f} us   "
            f"compile {results[text]['compile_us']:6.1f} us",
            flush=True,
        )
    print(json.dumps({"bench": "timex", "expressions": results}), flush=True)


if __name__ == "__main__":
    main()
