"""``GET /openapi.json``: the OpenAPI 3 description of every route.

:data:`OPERATIONS` is the one table of what each route takes and answers; the
app factory registers the same paths (a test proves every registered route is
here and every parameter here is accepted).
"""

from __future__ import annotations

from typing import Any

import falcon

from quince.params import DEFAULT_LIMIT, STATE_NAMES, TRAIT_TYPES

__all__ = ["TRAIT_SYNTAX", "OpenApi", "describe"]

TRAIT_SYNTAX = (
    "Filters 'name:value', several separated by ';' (all must match). Values are "
    "typed: 'memory_mb:512' matches the int 512, the float 512.0 and the text "
    "'512'; a datetime value (2026-12-01T00:00:00Z) matches a datetime trait. "
    "'name:type:value' forces the type, one of "
    f"{', '.join(TRAIT_TYPES)} (memory_mb:int:512)."
)

_OBJECT: dict[str, Any] = {"type": "object"}


def _list(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


def _obj(required: dict[str, Any], **optional: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **optional},
    }


_WHEN: dict[str, Any] = _obj(
    {
        "__type__": {"type": "string", "enum": ["datetime"]},
        "datetime": {"type": "string"},
    }
)
_MAYBE_WHEN: dict[str, Any] = {**_WHEN, "nullable": True}
_EVENT = _obj(
    {
        "message_id": {"type": "string"},
        "event_type": {"type": "string"},
        "timestamp": _WHEN,
    },
    _mark={"type": "string", "pattern": "^[+]?[0-9a-f]+$"},
)
_STREAM = _obj(
    {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "state": {"type": "string", "enum": [*STATE_NAMES]},
        "first_event": _WHEN,
        "last_event": _WHEN,
        "fire_timestamp": _MAYBE_WHEN,
        "expire_timestamp": _MAYBE_WHEN,
        "distinguishing_traits": {"type": "object"},
        "_mark": {"type": "string", "pattern": "^[+]?[0-9a-f]+$"},
    },
    events={"type": "array", "items": _EVENT},
    last_error={"type": "string"},
)
_RAW = _obj(
    {
        "message_id": {"type": "string"},
        "archive": {"type": "string"},
        "metadata": {"type": "object"},
        "notification": {},
    }
)
_EVENT_TYPE = _obj(
    {
        "name": {"type": "string"},
        "count": {"type": "integer", "minimum": 0},
        "first_seen": _MAYBE_WHEN,
        "last_seen": _MAYBE_WHEN,
    }
)
_TRAIT = _obj(
    {"name": {"type": "string"}, "type": {"type": "string", "enum": [*TRAIT_TYPES]}}
)
_TRIGGER = _obj(
    {
        "name": {"type": "string"},
        "distinguished_by": {},
        "expiration": {},
        "fire_pipeline": {},
        "expire_pipeline": {},
        "fire_criteria": {},
        "match_criteria": {},
        "counters": {"type": "object", "additionalProperties": {"type": "integer"}},
    }
)
_ARCHIVE = _obj(
    {
        "name": {"type": "string"},
        "path": {"type": "string"},
        "size": {"type": "integer", "minimum": 0},
        "first": _MAYBE_WHEN,
        "last": _MAYBE_WHEN,
        "records": {"type": "integer", "minimum": 0},
    }
)
_HEALTH = _obj(
    {
        "status": {"type": "string", "enum": ["ok", "fail"]},
        "database": {"type": "string"},
        "broker": {"type": "string"},
    }
)
_COUNT: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["count"],
        "properties": {"count": {"type": "integer", "minimum": 0}},
    },
    "minItems": 1,
    "maxItems": 1,
}
_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["title"],
    "properties": {"title": {"type": "string"}, "description": {"type": "string"}},
}


def _q(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


_TEXT: dict[str, Any] = {"type": "string"}
_DATETIME: dict[str, Any] = {"type": "string", "format": "date-time"}


def _limit(maximum: int) -> dict[str, Any]:
    return _q(
        "limit",
        {"type": "integer", "minimum": 0, "maximum": maximum},
        f"Rows per page (default {DEFAULT_LIMIT}, at most {maximum}).",
    )


_MARK = _q(
    "mark",
    {"type": "string", "pattern": "^[+-]?[0-9a-fA-F]{1,15}$"},
    "The '_mark' of the last row of the previous page: the rows after it. "
    "'+<hex>' pages in ascending order.",
)
STREAM_FILTERS = [
    _q("older_than", _DATETIME, "Streams whose first event is before this."),
    _q("younger_than", _DATETIME, "Streams whose last event is after this."),
    _q("state", {"type": "string", "enum": list(STATE_NAMES)}, "Stream state."),
    _q("trigger_name", _TEXT, "Trigger (stream name)."),
    _q("distinguishing_traits", _TEXT, "Distinguishing traits. " + TRAIT_SYNTAX),
]
EVENT_FILTERS = [
    _q("from_datetime", _DATETIME, "Events generated after this."),
    _q("to_datetime", _DATETIME, "Events generated at or before this."),
    _q("event_name", _TEXT, "Event type; a glob is allowed (compute.instance.*)."),
    _q("traits", _TEXT, TRAIT_SYNTAX),
]
_STREAM_ID = {
    "name": "stream_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
}


LIVE_PARAMETERS = [
    _q(
        "kind",
        {"type": "string", "enum": ["events", "streams", "all"]},
        "What to send: events (default), stream changes, or all.",
    ),
    _q("event_name", _TEXT, "Event type; a glob (compute.instance.*) is allowed."),
    _q(
        "traits",
        _TEXT,
        "Events' traits, and stream changes' distinguishing traits. " + TRAIT_SYNTAX,
    ),
    _q(
        "deployment",
        _TEXT,
        "Events whose 'deployment' trait (set by yagi-event) is this.",
    ),
    _q("since", _TEXT, "A cursor (an id: line) to start from; Last-Event-ID wins."),
    _q("token", _TEXT, "The API token, for clients that cannot send headers."),
]


def _responses(ok: str, schema: dict[str, Any] | None, *errors: int) -> Any:
    out: dict[str, Any] = {}
    if schema is None:
        out[ok] = {"description": "Done."}
    else:
        out[ok] = {
            "description": "OK.",
            "content": {"application/json": {"schema": schema}},
        }
    for code in errors:
        out[str(code)] = {
            "description": falcon.code_to_http_status(code),
            "content": {"application/json": {"schema": _ERROR}},
        }
    return out


def describe(max_limit: int) -> dict[str, Any]:
    """The OpenAPI document (``max_limit``: the configured ``api.max_limit``)."""
    limit = _limit(max_limit)
    common = (401, 503)
    paths: dict[str, Any] = {
        "/v1/streams": {
            "get": {
                "summary": "Streams, newest first.",
                "parameters": [*STREAM_FILTERS, _MARK, limit],
                "responses": _responses("200", _list(_STREAM), 400, *common),
            }
        },
        "/v1/streams/count": {
            "get": {
                "summary": "How many streams match.",
                "parameters": STREAM_FILTERS,
                "responses": _responses("200", _COUNT, 400, *common),
            }
        },
        "/v1/streams/{stream_id}": {
            "parameters": [_STREAM_ID],
            "get": {
                "summary": "One stream (a list of one); details=true adds events.",
                "parameters": [
                    _q("details", {"type": "boolean"}, "Include the events.")
                ],
                "responses": _responses(
                    "200",
                    {**_list(_STREAM), "minItems": 1, "maxItems": 1},
                    400,
                    404,
                    *common,
                ),
            },
            "put": {
                "summary": "Reset: error -> retry_fire, expire_error -> retry_expire.",
                "responses": _responses("200", _list(_STREAM), 404, 409, *common),
            },
            "delete": {
                "summary": "Purge the stream (its events are kept).",
                "responses": _responses("204", None, 404, *common),
            },
        },
        "/v1/events": {
            "get": {
                "summary": "Events, newest first.",
                "parameters": [*EVENT_FILTERS, _MARK, limit],
                "responses": _responses("200", _list(_EVENT), 400, *common),
            }
        },
        "/v1/events/count": {
            "get": {
                "summary": "How many events match.",
                "parameters": EVENT_FILTERS,
                "responses": _responses("200", _COUNT, 400, *common),
            }
        },
        "/v1/events/{message_id}": {
            "parameters": [
                {"name": "message_id", "in": "path", "required": True, "schema": _TEXT}
            ],
            "get": {
                "summary": "One event by its message id.",
                "responses": _responses("200", _EVENT, 404, *common),
            },
        },
        "/v1/events/{message_id}/raw": {
            "parameters": [
                {"name": "message_id", "in": "path", "required": True, "schema": _TEXT}
            ],
            "get": {
                "summary": "The event's raw notification from the shoebox archive.",
                "responses": _responses("200", _RAW, 404, *common),
            },
        },
        "/v1/event_types": {
            "get": {
                "summary": "Event types: name, count, first and last seen.",
                "responses": _responses("200", _list(_EVENT_TYPE), *common),
            }
        },
        "/v1/event_types/{name}/traits": {
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": _TEXT}
            ],
            "get": {
                "summary": "Trait names and types (text|int|float|datetime) seen.",
                "responses": _responses("200", _list(_TRAIT), 404, *common),
            },
        },
        "/v1/triggers": {
            "get": {
                "summary": "Trigger definitions with their counters.",
                "responses": _responses("200", _list(_TRIGGER), *common),
            }
        },
        "/v2/archives": {
            "get": {
                "summary": "Shoebox archive files: size, records, time span.",
                "responses": _responses("200", _list(_ARCHIVE), 404, 401),
            }
        },
        "/v1/stream": {
            "get": {
                "summary": "New events and stream changes, as server-sent events "
                "(id: a cursor; Last-Event-ID or since resumes; ': heartbeat' "
                "comments; event: event data is one item of /v1/events, event: "
                "stream data is {id, change, state, name, trigger_name, "
                "distinguishing_traits, at, reason}).",
                "parameters": LIVE_PARAMETERS,
                "responses": {
                    "200": {
                        "description": "An endless text/event-stream.",
                        "content": {"text/event-stream": {"schema": _TEXT}},
                    },
                    **_responses("400", _ERROR, *common),
                },
            }
        },
        "/healthcheck": {
            "get": {
                "summary": "Database (and broker) reachable: 200, else 503.",
                "responses": {
                    "200": {
                        "description": "All up.",
                        "content": {"application/json": {"schema": _HEALTH}},
                    },
                    "503": {
                        "description": "Something is down.",
                        "content": {"application/json": {"schema": _HEALTH}},
                    },
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics of the database.",
                "responses": {
                    "200": {
                        "description": "Prometheus text format.",
                        "content": {"text/plain": {"schema": _TEXT}},
                    },
                    **_responses("401", _ERROR, 503),
                },
            }
        },
        "/ui": {
            "get": {
                "summary": "The web console (HTML; its files are under /ui/static/).",
                "responses": {
                    "200": {
                        "description": "The console's page.",
                        "content": {"text/html": {"schema": _TEXT}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This description.",
                "responses": _responses("200", _OBJECT, 401),
            }
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "StackTach quince",
            "version": "1",
            "description": "Events and streams of StackTach. " + TRAIT_SYNTAX,
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
        },
        "paths": paths,
    }


class OpenApi:
    """``GET /openapi.json``."""

    def __init__(self, max_limit: int) -> None:
        self.document = describe(max_limit)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.document
