"""``python -m sandbox``: the commands behind ``./build.sh``.

``start`` writes ``var/etc``, prepares the database and the broker, and starts
the processes (see :mod:`sandbox.processes`); ``stop`` stops them; ``status``
lists them; ``package`` builds the deployable tarball (:mod:`sandbox.package`).
Errors are one line naming the option or file, exit status 1 (2 for a bad
command line).
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from sqlalchemy.engine import make_url

import notabene
from sandbox import layout as layout_mod
from sandbox import package as package_mod
from sandbox import processes, provision
from sandbox.layout import Layout, Options
from sandbox.processes import Proc
from stacktach.cli import Group
from stacktach.exceptions import ConfigError

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]

TRY = (
    ("klugman streams --state completed", "the instance-days the audit finished"),
    (
        "klugman events --event-type compute.instance.exists.verified",
        "usage the audit verified",
    ),
    (
        "klugman events --event-type compute.instance.exists.failed",
        "usage it rejected, with the U-codes",
    ),
)


def _session() -> str:
    return os.environ.get("STACKTACH_SANDBOX_SESSION") or processes.SESSION


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _api_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(_url(port) + "/healthcheck", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # it answers (503: database or broker not reachable yet)
    except OSError:
        return False


def _wait_api(port: int, layout: Layout, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _api_up(port):
            return
        if (layout.run / "quince.pid").is_file() and "quince" not in (
            processes.running(layout)
        ):
            break  # it started and ended: its log says why
        time.sleep(0.3)
    raise click.ClickException(
        f"the API did not answer on {_url(port)} within {timeout:g} s; see "
        f"{layout.log / 'quince.log'} (./build.sh --stop stops the rest)"
    )


def _procs(layout: Layout, options: Options, sim: Mapping[str, float]) -> list[Proc]:
    bin_dir = processes.python_bin()
    winchester = str(layout.winchester_yaml)
    worker = str(bin_dir / "pipeline-worker")
    yagi = str(layout.yagi_conf)
    now = datetime.now(UTC)
    days = int(sim["days"])
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    # Start a few simulated minutes before a midnight some days back, so that
    # the first midnight (and its .exists) comes within seconds, and the event
    # clock never runs ahead of the wall clock.
    start = midnight - timedelta(days=days, minutes=10)
    env = {"PYTHONUNBUFFERED": "1", "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    url = _url(options.port)
    rcfile = layout.run / "shell.rc"
    rcfile.write_text(
        "# The klugman shell window of the StackTach sandbox.\n"
        f"[ -f ~/.bashrc ] && . ~/.bashrc\n"
        f"export PATH={bin_dir}:$PATH STACKTACH_URL={url}\n"
        "PS1='(stacktach) \\w\\$ '\n"
        f"echo 'StackTach sandbox: the API is {url}; try:'\n"
        + "".join(f"echo '  {cmd}'\n" for cmd, _ in TRY)
    )
    notigen = [
        str(bin_dir / "notigen"),
        "--to", options.effective_broker_url,
        "--exchange", options.exchange,
        "--routing-key", options.queue,
        "--realtime",
        "--speed", str(sim["speed"]),
        "--start", start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "--duration", f"{days}d",
        "--instances", str(sim["instances"]),
        "--ops-per-hour", str(sim["ops_per_hour"]),
        "--anomalies", str(sim["anomalies"]),
        "--seed", str(sim["seed"]),
    ]  # fmt: skip
    return [
        Proc("quince", [str(bin_dir / "quince-api"), "-c", winchester], env=env),
        Proc("shell", ["/bin/bash", "--rcfile", str(rcfile), "-i"], True, env=env),
        Proc("yagi1", [str(bin_dir / "yagi-event"), "-c", yagi], env=env),
        Proc("yagi2", [str(bin_dir / "yagi-event"), "-c", yagi], env=env),
        *(
            Proc(
                f"pipeline{n}",
                [worker, "-c", winchester, "-n", f"pipeline{n}"],
                env=env,
            )
            for n in (1, 2)
        ),
        Proc("notigen", notigen, finite=True, env=env),
    ]


def _banner(options: Options, layout: Layout, screen: bool) -> None:
    url = _url(options.port)
    engines = (
        f"{processes_label(options)}"
        if options.production
        else "embedded default: SQLite var/winchester.db, broker var/broker/"
    )
    lines = [
        "",
        f"StackTach sandbox is running ({engines}).",
        f"  API:      {url}  (e.g. {url}/healthcheck)",
        f"  config:   {layout.etc}/   logs: {layout.log}/",
    ]
    if screen:
        lines.append(
            f"  screen:   screen -r {_session()}   (a window per process; "
            'Ctrl-a " lists them, Ctrl-a d detaches)'
        )
    lines.append(
        "  Try, in the screen's shell window or after "
        f"'. {processes.python_bin()}/activate; export STACKTACH_URL={url}':"
    )
    width = max(len(cmd) for cmd, _ in TRY)
    lines += [f"    {cmd:<{width}}  # {why}" for cmd, why in TRY]
    lines += [
        "  A simulated midnight comes within seconds and then one every "
        "few minutes: its .exists streams fire and get audited.",
        "  Stop it all: ./build.sh --stop",
        "",
    ]
    click.echo("\n".join(lines))


def processes_label(options: Options) -> str:
    """The engines of a --production sandbox, passwords hidden."""
    db = make_url(options.db_url).render_as_string(hide_password=True)
    return f"production engines: {db}, {notabene.redact_url(options.broker_url)}"


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Run the StackTach sandbox (./build.sh calls these commands)."""


@main.command()
@click.option(
    "--production/--embedded",
    envvar="STACKTACH_PRODUCTION",
    default=False,
    help="MariaDB/MySQL and RabbitMQ instead of SQLite and the filesystem broker "
    "($STACKTACH_PRODUCTION=1).",
)
@click.option(
    "--db-url",
    envvar="STACKTACH_DB_URL",
    default=layout_mod.DEFAULT_DB_URL,
    show_default=True,
    help="With --production: the database (created if missing).",
)
@click.option(
    "--broker-url",
    envvar="STACKTACH_BROKER_URL",
    default=layout_mod.DEFAULT_BROKER_URL,
    show_default=True,
    help="With --production: the RabbitMQ.",
)
@click.option(
    "--exchange",
    default=layout_mod.DEFAULT_EXCHANGE,
    show_default=True,
    help="Exchange notigen publishes to and yagi-event reads from (the usage "
    "output goes to EXCHANGE.usage when it is not the default).",
)
@click.option(
    "--queue",
    default=layout_mod.DEFAULT_QUEUE,
    show_default=True,
    help="Queue (and routing key) yagi-event consumes, with QUEUE.failed for "
    "dead letters (the usage output goes to QUEUE.usage when not the default).",
)
@click.option(
    "--port",
    envvar="STACKTACH_SANDBOX_PORT",
    type=click.IntRange(1, 65535),
    default=8000,
    show_default=True,
    help="The API's port on 127.0.0.1.",
)
@click.option(
    "--detach",
    envvar="STACKTACH_NONINTERACTIVE",
    is_flag=True,
    help="Start in the background and return once the API answers "
    "($STACKTACH_NONINTERACTIVE=1).",
)
@click.option(
    "--screen/--no-screen",
    "use_screen",
    envvar="STACKTACH_SANDBOX_SCREEN",
    default=None,
    help="Run in a screen session (the default when screen is installed) or "
    "in the foreground with each line prefixed by its process's name.",
)
@click.option(
    "--speed",
    envvar="STACKTACH_SANDBOX_SPEED",
    type=click.FloatRange(min=1.0),
    default=300.0,
    show_default=True,
    help="Simulated seconds per real second (300: a simulated day in ~5 minutes).",
)
@click.option(
    "--days",
    envvar="STACKTACH_SANDBOX_DAYS",
    type=click.IntRange(1, 30),
    default=7,
    show_default=True,
    help="Simulated days notigen runs, ending at today's midnight.",
)
@click.option(
    "--instances",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Servers of the simulated cloud.",
)
@click.option(
    "--ops-per-hour",
    envvar="STACKTACH_SANDBOX_OPS",
    type=click.FloatRange(min=0.0),
    default=60.0,
    show_default=True,
    help="Simulated operations (create, delete, resize, ...) per simulated hour.",
)
@click.option(
    "--anomalies",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=0.05,
    show_default=True,
    help="Share of .exists made wrong, for the audit to report as .failed.",
)
def start(
    production: bool,
    db_url: str,
    broker_url: str,
    exchange: str,
    queue: str,
    port: int,
    detach: bool,
    use_screen: bool | None,
    speed: float,
    days: int,
    instances: int,
    ops_per_hour: float,
    anomalies: float,
) -> None:
    """Write var/etc, prepare the database and broker, start every process."""
    layout = Layout(ROOT)
    live = processes.running(layout)
    if live:
        click.echo(
            f"The sandbox is already running ({', '.join(sorted(live))}); "
            "./build.sh --stop stops it."
        )
        url_file = layout.run / "url"
        if url_file.is_file():
            click.echo(f"  API: {url_file.read_text().strip()}")
        return
    for stale in layout.run.glob("*.pid"):
        stale.unlink()  # left by a sandbox that did not stop cleanly
    if not _port_free(port):
        raise click.BadParameter(
            f"127.0.0.1:{port} is in use by another program; choose another port",
            param_hint="--port",
        )
    screen = processes.screen_available() if use_screen is None else use_screen
    if screen and not processes.screen_available():
        raise click.BadParameter(
            "screen is not installed (apt-get install screen)", param_hint="--screen"
        )
    options = Options(production, db_url, broker_url, exchange, queue, port)
    try:
        layout_mod.render(layout, options)
        if production:
            name = provision.create_database(db_url)
            click.echo(f"==> database {name}: ready", err=True)
        click.echo("==> winchester-db upgrade", err=True)
        provision.migrate(processes.python_bin(), layout.winchester_yaml, ROOT)
        queues = provision.declare_topology(layout.yagi_conf)
        click.echo(f"==> broker: declared {', '.join(queues)} (+ .failed)", err=True)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    sim = {
        "speed": speed,
        "days": days,
        "instances": instances,
        "ops_per_hour": ops_per_hour,
        "anomalies": anomalies,
        "seed": random.SystemRandom().randrange(1, 2**31),
    }
    procs = _procs(layout, options, sim)
    (layout.run / "url").write_text(_url(port) + "\n")
    if screen:
        try:
            processes.start_screen(layout, procs, _session())
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
        _wait_api(port, layout, 90)
        _banner(options, layout, screen=True)
        if not detach and sys.stdin.isatty() and sys.stdout.isatty():
            os.execvp("screen", ["screen", "-r", _session()])
        return
    if detach:
        log = (layout.log / "sandbox.log").open("ab")
        subprocess.Popen(
            [sys.executable, "-m", "sandbox", "foreground"],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "SANDBOX_PROCS": _encode(procs)},
        )
        _wait_api(port, layout, 90)
        _banner(options, layout, screen=False)
        click.echo(f"  Output of every process: {layout.log / 'sandbox.log'}")
        return
    _banner(options, layout, screen=False)
    click.echo("  Ctrl-C stops every process.\n")
    sys.exit(processes.Foreground(layout, procs, sys.stdout).run())


def _encode(procs: list[Proc]) -> str:
    return json.dumps([[p.name, p.argv, p.shell, p.finite, p.env] for p in procs])


@main.command(hidden=True)
def foreground() -> None:
    """Run the processes of $SANDBOX_PROCS in the foreground (--detach uses it)."""
    procs = [
        Proc(name, argv, shell, finite, env)
        for name, argv, shell, finite, env in json.loads(os.environ["SANDBOX_PROCS"])
    ]
    sys.exit(processes.Foreground(Layout(ROOT), procs, sys.stdout).run())


@main.command()
def stop() -> None:
    """Stop every process of the sandbox (nothing is left running)."""
    stopped = processes.stop(Layout(ROOT), _session())
    if stopped:
        click.echo(f"Stopped the sandbox: {', '.join(stopped)}.")
    else:
        click.echo("The sandbox is not running.")


@main.command()
def status() -> None:
    """List the sandbox's running processes (exit 1 when none runs)."""
    live = processes.running(Layout(ROOT))
    for name, pid in sorted(live.items()):
        click.echo(f"{name}\t{pid}")
    if not live:
        click.echo("The sandbox is not running.")
        sys.exit(1)


@main.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=ROOT / "dist",
    show_default=True,
    help="Folder the tarball is written to.",
)
def package(output: Path) -> None:
    """Build the deployable tarball: wheels of StackTach and its dependencies,
    the sample configs and an offline install script (default target /opt/stv3)."""
    try:
        path = package_mod.build(ROOT, output)
    except package_mod.PackageError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(str(path))
