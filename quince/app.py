"""The falcon app: ``quince.app:create_app(config_path=None)``.

``gunicorn 'quince.app:create_app()'`` serves it (the config path then comes
from ``STACKTACH_CONFIG``); ``quince-api`` does the same with its options.
:data:`ROUTES` below is every route, in one place.

Errors are falcon's JSON bodies ``{"title", "description"}``: 400 for a bad
parameter (naming it), 401, 404, 409, and 503 when the database is unavailable.
Anything else is logged with its traceback and answered with a JSON 500 - the
last resort, which no request should reach.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import falcon
import falcon.media
from sqlalchemy.exc import InterfaceError, OperationalError

from quince.archives import ArchiveList
from quince.auth import TokenAuth
from quince.console import Console, RawNotification, add_console
from quince.context import QuinceContext
from quince.events import EventCount, EventItem, EventList
from quince.health import Health
from quince.info import EventTypeList, EventTypeTraits, TriggerList
from quince.live import LiveStream
from quince.metrics import Metrics
from quince.openapi import OpenApi
from quince.shapes import dumps
from quince.slots import RequestSlots
from quince.streams import StreamCount, StreamItem, StreamList
from stacktach import jsonutil
from stacktach.exceptions import ConfigError
from winchester.config.settings import WinchesterSettings
from winchester.storage.engine import DatabaseUnavailable, connect

__all__ = ["CONFIG_ENV", "ROUTES", "create_app"]

LOG = logging.getLogger(__name__)

#: Where the config path comes from when none is given.
CONFIG_ENV = "STACKTACH_CONFIG"

_STREAM_ID = "{stream_id:int(min=0, max=9223372036854775807)}"

#: (falcon route template, OpenAPI path, resource class): every route.
ROUTES: tuple[tuple[str, str, Any], ...] = (
    ("/v1/streams", "/v1/streams", StreamList),
    ("/v1/streams/count", "/v1/streams/count", StreamCount),
    (f"/v1/streams/{_STREAM_ID}", "/v1/streams/{stream_id}", StreamItem),
    ("/v1/events", "/v1/events", EventList),
    ("/v1/events/count", "/v1/events/count", EventCount),
    ("/v1/events/{message_id}", "/v1/events/{message_id}", EventItem),
    ("/v1/events/{message_id}/raw", "/v1/events/{message_id}/raw", RawNotification),
    ("/v1/event_types", "/v1/event_types", EventTypeList),
    ("/v1/event_types/{name}/traits", "/v1/event_types/{name}/traits", EventTypeTraits),
    ("/v1/triggers", "/v1/triggers", TriggerList),
    ("/v1/stream", "/v1/stream", LiveStream),
    ("/v2/archives", "/v2/archives", ArchiveList),
    ("/healthcheck", "/healthcheck", Health),
    ("/metrics", "/metrics", Metrics),
    ("/ui", "/ui", Console),
)


def _unavailable(
    req: falcon.Request, resp: falcon.Response, exc: Exception, params: Any
) -> None:
    LOG.warning("%s %s: %s", req.method, req.path, exc)
    raise falcon.HTTPServiceUnavailable(
        title="Database unavailable", description=str(exc)[:300]
    )


def _last_resort(
    req: falcon.Request, resp: falcon.Response, exc: Exception, params: Any
) -> None:
    if isinstance(exc, falcon.HTTPError):
        raise exc
    LOG.error("%s %s failed", req.method, req.path, exc_info=exc)
    raise falcon.HTTPInternalServerError(
        title="Internal error", description=f"{type(exc).__name__} (see the log)"
    )


def _json_handler() -> falcon.media.JSONHandler:
    return falcon.media.JSONHandler(dumps=dumps, loads=jsonutil.loads)


def create_app(
    config_path: str | os.PathLike[str] | None = None,
    *,
    settings: WinchesterSettings | None = None,
) -> falcon.App[falcon.Request, falcon.Response]:
    """The quince app for ``config_path`` (or ``$STACKTACH_CONFIG``), or for
    already-loaded ``settings``. ``ConfigError`` when neither is usable."""
    if settings is None:
        path = config_path or os.environ.get(CONFIG_ENV)
        if not path:
            raise ConfigError(f"no configuration: pass config_path or set {CONFIG_ENV}")
        settings = WinchesterSettings.load(Path(path))
    db = settings.database
    engine = connect(db.url, echo=db.echo_sql, timeouts=db.timeouts)
    reader = connect(  # database.read_url: a replica or another node, if given
        db.read_url or db.url,
        echo=db.echo_sql,
        timeouts=db.timeouts,
        reads_only=True,
    )
    ctx = QuinceContext(
        settings, engine, settings.locate("trigger_definitions"), reader=reader
    )

    app: falcon.App[falcon.Request, falcon.Response] = falcon.App(
        middleware=[TokenAuth(ctx), RequestSlots(settings.api.request_slots)]
    )
    app.req_options.strip_url_path_trailing_slash = True
    app.req_options.keep_blank_qs_values = False
    handler = _json_handler()
    app.req_options.media_handlers[falcon.MEDIA_JSON] = handler
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = handler
    for template, _documented, resource in ROUTES:
        app.add_route(template, resource(ctx))
    app.add_route("/openapi.json", OpenApi(ctx.max_limit))
    add_console(app)
    app.add_error_handler(Exception, _last_resort)
    app.add_error_handler(DatabaseUnavailable, _unavailable)
    for lost in (OperationalError, InterfaceError):  # the database went away
        app.add_error_handler(lost, _unavailable)
    return app
