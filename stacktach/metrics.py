"""Serving a process's own Prometheus metrics (``--metrics-port``).

Rules:

* One target per process (the Prometheus convention): each daemon builds its own
  :class:`prometheus_client.CollectorRegistry` and serves it with
  :func:`serve` on ``--metrics-host`` (default ``127.0.0.1``) and
  ``--metrics-port``; no multiprocess mode (that is only for gunicorn's workers).
* Metrics are recorded where the process already counts for its statistics
  line, never by separate counting logic.
* A port that cannot be bound is a :class:`~stacktach.exceptions.StackTachError`
  of one line (exit status 1), before anything is consumed.
"""

from __future__ import annotations

import click
from prometheus_client import CollectorRegistry, start_http_server

from stacktach.exceptions import StackTachError

__all__ = ["DEFAULT_HOST", "metrics_options", "serve"]

DEFAULT_HOST = "127.0.0.1"


def serve(registry: CollectorRegistry, host: str, port: int) -> None:
    """Serve ``registry`` at ``http://host:port/metrics`` from a daemon thread."""
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise StackTachError(
            f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}"
        ) from None


def metrics_options(func: click.decorators.FC) -> click.decorators.FC:
    """The ``--metrics-port`` and ``--metrics-host`` options of a daemon."""
    func = click.option(
        "--metrics-host",
        default=DEFAULT_HOST,
        show_default=True,
        help="Address the --metrics-port server listens on.",
    )(func)
    return click.option(
        "--metrics-port",
        type=click.IntRange(min=1, max=65535),
        default=None,
        help="Serve this process's Prometheus metrics on this port (/metrics); "
        "off by default.",
    )(func)
