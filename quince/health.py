"""``GET /healthcheck``: 200 when the database (and the broker, when
``api.broker_url`` is set) answers; 503 naming what is down.

Never needs a token (a load balancer asks it). The broker URL's password is
never shown: errors name the component and the exception's class and text.
"""

from __future__ import annotations

import falcon

from notabene.connection import connect as broker_connect
from notabene.connection import discard
from quince.context import QuinceContext
from winchester.storage import queries

__all__ = ["Health"]

#: Seconds the broker has to answer.
BROKER_TIMEOUT = 2.0


def _error(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


class Health:
    """``GET /healthcheck``."""

    def __init__(self, ctx: QuinceContext) -> None:
        self.ctx = ctx

    def _database(self) -> str:
        try:
            self.ctx.read(queries.ping)
        except Exception as exc:
            return _error(exc)
        return "ok"

    def _broker(self) -> str:
        url = self.ctx.settings.api.broker_url
        if url is None:
            return "not configured"
        conn = None
        try:
            conn = broker_connect(url, connect_timeout=BROKER_TIMEOUT)
            conn.ensure_connection(  # type: ignore[no-untyped-call]
                max_retries=0, reraise_as_library_errors=False
            )
        except Exception as exc:
            return _error(exc)
        finally:
            discard(conn)
        return "ok"

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        database, broker = self._database(), self._broker()
        ok = database == "ok" and broker in ("ok", "not configured")
        resp.status = falcon.HTTP_200 if ok else falcon.HTTP_503
        resp.media = {
            "status": "ok" if ok else "fail",
            "database": database,
            "broker": broker,
        }
