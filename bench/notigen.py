#!/usr/bin/env python3
"""Benchmark notigen: notifications generated per second, to a file or a broker.

    python bench/notigen.py                      # 100 000 to a temporary file
    python bench/notigen.py --count 500000 --versioned
    python bench/notigen.py --to amqp://guest:guest@127.0.0.1:5672//

Measures the whole pipeline on one core: simulation, payloads, shaping, JSON
encoding and the write (or the publish, batched, with publisher confirms when
the broker offers them). The last line printed is JSON, e.g.
``{"bench": "notigen", "to": "file", "notifications": 100000, "per_s": 61234.5}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from notigen import Engine, Renderer, SimConfig, generate_lines
from notigen.pipeline import without_gc
from notigen.sinks import BrokerSink, FileSink, Sink


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--count",
        type=int,
        default=100_000,
        help="notifications to generate (default 100000)",
    )
    parser.add_argument("--seed", type=int, default=0, help="simulation seed")
    parser.add_argument(
        "--instances", type=int, default=200, help="fleet size (default 200)"
    )
    parser.add_argument(
        "--ops-per-hour",
        type=float,
        default=600.0,
        help="operations per simulated hour (default 600)",
    )
    parser.add_argument(
        "--envelope", action="store_true", help="wrap in the oslo.messaging v2 envelope"
    )
    parser.add_argument(
        "--versioned", action="store_true", help="nova versioned notifications"
    )
    parser.add_argument(
        "--to",
        default=None,
        metavar="BROKER_URL",
        help="publish to this broker instead of a file",
    )
    parser.add_argument("--exchange", default="nova")
    parser.add_argument("--routing-key", default="monitor.info")
    parser.add_argument(
        "--declare-queue",
        default=None,
        metavar="QUEUE",
        help="declare and bind this queue first (messages are kept)",
    )
    parser.add_argument("--batch-size", type=int, default=500)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print its JSON line and return it."""
    args = _arguments(argv)
    config = SimConfig(
        seed=args.seed,
        duration=None,
        instances=args.instances,
        ops_per_hour=args.ops_per_hour,
    )
    renderer = Renderer(envelope=args.envelope, versioned=args.versioned)
    path = None
    sink: Sink
    if args.to:
        sink = BrokerSink(
            args.to,
            exchange=args.exchange,
            routing_key=args.routing_key,
            batch=args.batch_size,
            queue=args.declare_queue,
        )
    else:
        handle, name = tempfile.mkstemp(prefix="notigen-bench-", suffix=".jsonl")
        path = Path(name)
        sink = FileSink(os.fdopen(handle, "wb"), batch=args.batch_size, owned=True)
    try:
        started = time.perf_counter()
        engine = Engine(config)
        sent = 0
        with without_gc():
            for line in generate_lines(engine, renderer, count=args.count):
                sink.write(line)
                sent += 1
        sink.close()
        seconds = time.perf_counter() - started
        result: dict[str, Any] = {
            "bench": "notigen",
            "to": args.to.split(":", 1)[0] if args.to else "file",
            "shape": renderer.name,
            "notifications": sent,
            "seconds": round(seconds, 3),
            "per_s": round(sent / seconds, 1),
        }
        if isinstance(sink, BrokerSink):
            result["confirms"] = sink.confirms
            result["batch"] = args.batch_size
        elif path is not None:
            result["bytes"] = path.stat().st_size
    finally:
        if path is not None:
            path.unlink(missing_ok=True)
    print(
        f"notigen: {result['notifications']:,} {result['shape']} notifications to "
        f"{result['to']} in {result['seconds']:.2f} s: {result['per_s']:,.0f}/s",
        file=sys.stderr,
    )
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
