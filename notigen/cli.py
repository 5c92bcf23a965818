"""The ``notigen`` command: simulated nova notification traffic.

Builds the engine, renderer, faults and sink from the options and runs the
pipeline. Bad option values, and an ``--out`` or ``--fault-log`` that cannot be
written, exit with status 2 and a one-line message naming the option; a broker
that cannot be reached exits with status 1 (see :mod:`stacktach.cli`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import IO, Any

import click

from notigen.clock import SECOND, parse_duration, parse_start
from notigen.engine import Engine, SimConfig
from notigen.faults import FaultConfig, FaultInjector, FaultLog
from notigen.pipeline import generate_lines, without_gc
from notigen.render import Renderer
from notigen.sinks import BrokerSink, FileSink, Pacer, Sink, SinkError
from notigen.summary import Progress, Summary
from stacktach.cli import Command
from stacktach.exceptions import ConfigError

__all__ = ["main"]

DEFAULT_START = "2024-01-01T00:00:00Z"


def _duration(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> int | None:
    """``--duration``: microseconds; a bad value exits 2 naming the option."""
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _start(ctx: click.Context, param: click.Parameter, value: str) -> int:
    """``--start``: microseconds since the epoch; ``now`` reads the wall clock."""
    text = value.strip()
    if text.lower() == "now":
        return int(time.time()) * SECOND
    try:
        return parse_start(text)
    except ValueError as exc:
        raise click.BadParameter(
            f"{text!r} is not a start time: {exc}", ctx, param
        ) from None


SHARE = click.FloatRange(0.0, 1.0, max_open=True)


@click.command(
    name="notigen",
    cls=Command,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of every random choice: the same seed and options give the same bytes.",
)
@click.option(
    "--start",
    "start",
    metavar="ISO|now",
    callback=_start,
    default=DEFAULT_START,
    show_default=True,
    help="Simulated start time, UTC unless an offset is given "
    "(e.g. 2024-01-15T10:00:00). 'now' takes the wall clock, and the "
    "output is then not reproducible.",
)
@click.option(
    "--duration",
    metavar="DURATION",
    callback=_duration,
    default=None,
    help="Simulated window in which operations start and midnights are "
    "audited, e.g. 90m, 12h, 1d, 3d12h. Operations under way at its "
    "end run to completion. Default: 1d, or no limit with --count.",
)
@click.option(
    "--ops-per-hour",
    type=click.FloatRange(min=0.0),
    default=120.0,
    show_default=True,
    help="Average number of operations (create, delete, resize, ...) started "
    "per simulated hour, at random (Poisson) times.",
)
@click.option(
    "--instances",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Servers running at --start, launched in the past, so their "
    "compute.instance.exists appear from the first midnight. Creates "
    "and deletes then keep the fleet near this size (at least 10).",
)
@click.option(
    "--tenants",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Projects owning the servers (each with one to three users).",
)
@click.option(
    "--hosts",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Compute hosts; their notifications come from compute.<host>.",
)
@click.option(
    "--cells",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Cells the hosts are spread over (two schedulers each).",
)
@click.option(
    "--realtime/--fast",
    default=False,
    help="--realtime sends each notification when its simulated time comes "
    "(scaled by --speed); --fast (the default) sends as fast as "
    "possible, with a progress line when stderr is a terminal.",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0.0, min_open=True),
    default=1.0,
    show_default=True,
    help="With --realtime: simulated seconds per wall-clock second.",
)
@click.option(
    "--count",
    type=click.IntRange(min=0),
    default=None,
    help="Stop after this many output lines (injected faults included).",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    show_default=True,
    help="JSON-lines file to write ('-': stdout).",
)
@click.option(
    "--to",
    "to",
    metavar="BROKER_URL",
    default=None,
    help="Publish to this broker instead of writing JSON lines, e.g. "
    "amqp://guest:guest@localhost:5672// (needs notabene).",
)
@click.option(
    "--exchange",
    default="nova",
    show_default=True,
    help="With --to: the topic exchange to publish to.",
)
@click.option(
    "--routing-key",
    default="monitor.info",
    show_default=True,
    help="With --to: the routing key of every message.",
)
@click.option(
    "--declare-queue",
    metavar="QUEUE",
    default=None,
    help="With --to: declare this queue, bound to the exchange with the routing "
    "key, before publishing, so nothing is lost before a consumer starts.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    help="Messages per write or publish batch.",
)
@click.option(
    "--envelope",
    is_flag=True,
    help="Wrap each message in the oslo.messaging v2 envelope "
    '{"oslo.version": "2.0", "oslo.message": "<json>"}.',
)
@click.option(
    "--versioned",
    is_flag=True,
    help="Send nova's versioned notifications (instance.create.start, ... "
    "with nova_object payloads) instead of the legacy ones.",
)
@click.option(
    "--duplicates",
    type=SHARE,
    default=0.0,
    show_default=True,
    help="Share of output lines that redeliver a recent message (same "
    "message_id), e.g. 0.01.",
)
@click.option(
    "--malformed",
    type=SHARE,
    default=0.0,
    show_default=True,
    help="Share of output lines that are broken: not JSON, or JSON "
    "without event_type. Real messages are all still sent.",
)
@click.option(
    "--anomalies",
    type=SHARE,
    default=0.0,
    show_default=True,
    help="Share of compute.instance.exists made wrong for the usage audit: "
    "a launched_at that disagrees with the launch, or a delete's "
    ".exists left out.",
)
@click.option(
    "--fault-log",
    type=click.Path(dir_okay=False, allow_dash=False),
    default=None,
    help="Write every injected fault as a JSON line (line number, kind, "
    "message_id) to this file.",
)
@click.option(
    "--quiet", "-q", is_flag=True, help="No progress line and no summary on stderr."
)
@click.pass_context
def main(ctx: click.Context, /, **options: Any) -> None:
    """Simulate a nova deployment's legacy notification traffic.

    Operations (create with its scheduler events, delete, resize with confirm or
    revert, rebuild, reboot, rescue/unrescue, power off/on, snapshot, and their
    failures) interleave on a simulated clock. At each UTC midnight every launched,
    undeleted server gets a compute.instance.exists for the day that ended; a
    deleted server gets its last one, for the part of the day it lived, right
    after compute.instance.delete.end.

    Writes JSON lines to stdout unless --out or --to says otherwise, and a
    summary to stderr.
    """
    if (
        options["to"]
        and ctx.get_parameter_source("out") != click.core.ParameterSource.DEFAULT
    ):
        raise click.UsageError("--out and --to are mutually exclusive", ctx)
    for name in ("exchange", "routing_key", "declare_queue"):
        source = ctx.get_parameter_source(name)
        if not options["to"] and source != click.core.ParameterSource.DEFAULT:
            flag = "--" + name.replace("_", "-")
            raise click.UsageError(f"{flag} only applies with --to", ctx)
    if not options["realtime"] and (
        ctx.get_parameter_source("speed") != click.core.ParameterSource.DEFAULT
    ):
        raise click.UsageError("--speed only applies with --realtime", ctx)
    if options["duplicates"] + options["malformed"] >= 1.0:
        raise click.BadOptionUsage(
            "duplicates", "--duplicates plus --malformed must stay below 1", ctx
        )
    duration = options["duration"]
    if duration is None and options["count"] is None:
        duration = 24 * 3600 * SECOND
    config = SimConfig(
        seed=options["seed"],
        start=options["start"],
        duration=duration,
        ops_per_hour=options["ops_per_hour"],
        instances=options["instances"],
        tenants=options["tenants"],
        hosts=options["hosts"],
        cells=options["cells"],
    )
    _run(config, options)


def _run(config: SimConfig, options: dict[str, Any]) -> None:
    engine = Engine(config)
    renderer = Renderer(envelope=options["envelope"], versioned=options["versioned"])
    fault_config = FaultConfig(
        duplicates=options["duplicates"],
        malformed=options["malformed"],
        anomalies=options["anomalies"],
    )
    fault_stream: IO[bytes] | None = None
    injector: FaultInjector | None = None
    if options["fault_log"]:
        fault_stream = _open_output(options["fault_log"], "--fault-log")
    if fault_config.any or fault_stream is not None:
        injector = FaultInjector(fault_config, config.seed, FaultLog(fault_stream))
    summary = Summary()
    sink = _sink(options)
    quiet = options["quiet"]
    progress = (
        Progress()
        if not quiet and not options["realtime"] and sys.stderr.isatty()
        else None
    )
    pacer = Pacer(config.start, options["speed"]) if options["realtime"] else None
    interrupted = False
    failure: SinkError | None = None
    lines = generate_lines(
        engine, renderer, faults=injector, count=options["count"], summary=summary
    )
    try:
        with without_gc():
            for number, line in enumerate(lines):
                if pacer is not None:
                    pacer.wait(line, sink)
                sink.write(line)
                if progress is not None and not number & 0xFFF:
                    progress.update(summary)
        sink.close()
    except KeyboardInterrupt:
        interrupted = True
        _close_quietly(sink)
    except SinkError as exc:
        failure = exc
        _close_quietly(sink)
    except BrokenPipeError:
        # The reader went away (`notigen | head`): stop quietly. Point stdout at
        # /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        summary.finish()
        if fault_stream is not None:
            fault_stream.close()
        if progress is not None:
            progress.close()
    if injector is not None:
        summary.faults.update(injector.log.counts)
    if not quiet:
        click.echo(summary.format(), err=True)
    if failure is not None:
        raise _sink_error(failure) from None
    if interrupted:
        sys.exit(130)


def _sink(options: dict[str, Any]) -> Sink:
    if options["to"]:
        try:
            return BrokerSink(
                options["to"],
                exchange=options["exchange"],
                routing_key=options["routing_key"],
                batch=options["batch_size"],
                queue=options["declare_queue"],
            )
        except SinkError as exc:
            raise _sink_error(exc) from None
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
    out = options["out"]
    if out == "-":
        return FileSink(sys.stdout.buffer, batch=options["batch_size"])
    return FileSink(_open_output(out, "--out"), batch=options["batch_size"], owned=True)


def _sink_error(exc: SinkError) -> Exception:
    """A broker refusing our credentials or vhost is a ConfigError (exit 2)."""
    if isinstance(exc.__cause__, ConfigError):
        return ConfigError(str(exc), key="--to")
    return exc


def _open_output(path: str, option: str) -> IO[bytes]:
    """``path`` opened for writing; a ConfigError (exit 2) naming ``option``."""
    try:
        return open(path, "wb")
    except OSError as exc:
        raise ConfigError(
            f"cannot write {path!r}: {exc.strerror} (choose a writable path)",
            key=option,
        ) from None


def _close_quietly(sink: Sink) -> None:
    # Interrupted anyway: a failing flush must not hide the summary.
    with contextlib.suppress(Exception):
        sink.close()


if __name__ == "__main__":  # pragma: no cover
    main()
