"""``/v1/event_types``, ``/v1/event_types/{name}/traits`` and ``/v1/triggers``.

Event types: name, count, first and last seen. Traits of a type: the names and
types (text, int, float, datetime) seen in its latest events. Triggers: the
definitions of triggers.yaml (validated by winchester's loader when the app is
built, shown as written) with their counters from the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import falcon

from quince.context import QuinceContext
from stacktach.yamlutil import load_yaml
from winchester.config.triggers import load_triggers
from winchester.storage import counters, queries

__all__ = ["EventTypeList", "EventTypeTraits", "TriggerList"]

TRIGGER_KEYS = (
    "name",
    "distinguished_by",
    "expiration",
    "fire_pipeline",
    "expire_pipeline",
    "fire_criteria",
    "match_criteria",
)


class EventTypeList:
    """``GET /v1/event_types``."""

    def __init__(self, ctx: QuinceContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        found = self.ctx.read(queries.event_type_summaries)
        resp.media = [
            {
                "name": t.name,
                "count": t.count,
                "first_seen": t.first_seen,
                "last_seen": t.last_seen,
            }
            for t in found
        ]


class EventTypeTraits:
    """``GET /v1/event_types/{name}/traits``."""

    def __init__(self, ctx: QuinceContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        found = None
        if "\x00" not in name and len(name) <= 255:
            found = self.ctx.read(lambda conn: queries.event_type_traits(conn, name))
        if found is None:
            raise falcon.HTTPNotFound(
                title="Event type not found",
                description=f"There is no event of type {name[:255]!r}.",
            )
        resp.media = [{"name": trait, "type": kind} for trait, kind in found]


def _definitions(ctx: QuinceContext) -> list[dict[str, Any]]:
    if ctx.triggers_path is None:
        return []
    load_triggers(ctx.triggers_path)  # validated as the trigger manager does
    raw = load_yaml(ctx.triggers_path) or []
    out = []
    for item in raw:
        if isinstance(item, Mapping):
            out.append({key: item.get(key) for key in TRIGGER_KEYS})
    return out


class TriggerList:
    """``GET /v1/triggers``."""

    def __init__(self, ctx: QuinceContext) -> None:
        self.ctx = ctx
        # Read once, when the app is built: a bad triggers.yaml stops quince-api
        # at start (ConfigError), as it stops the other daemons.
        self.definitions = _definitions(ctx)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        definitions = [dict(item) for item in self.definitions]
        values = self.ctx.read(counters.read_trigger_counters)
        for item in definitions:
            item["counters"] = {
                counter: value
                for (trigger, counter), value in sorted(values.items())
                if trigger == item["name"]
            }
        resp.media = definitions
