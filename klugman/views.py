"""What each API answer looks like as a table (the shapes of ``API_CONTRACT.md``).

One function per kind of answer, each returning text for :func:`click.echo`:

* lists (streams, events, event types, traits, triggers, archives) are tables
  with one row per item - :mod:`klugman.tables` fits them to the terminal;
* one stream, one event and the health report are Property/Value tables;
* a stream's distinguishing traits and an event's other traits are shown as
  ``name=value`` pairs, sorted by name, in one column (lists) or one row each
  (``trait.<name>`` for a stream, the trait's own name for an event).

Times are UTC, ``2026-12-01 00:00:00`` (with microseconds in the one-item views).
Keys an answer does not have show as ``-``; keys the contract does not name are
still shown in the one-item views, so a newer server loses nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from klugman.tables import cell, properties, table

__all__ = [
    "archive_table",
    "event_detail",
    "event_table",
    "event_type_table",
    "health_detail",
    "size_text",
    "stream_detail",
    "stream_table",
    "trait_table",
    "trigger_table",
]

Row = Mapping[str, Any]

_STREAM_FIELDS = (
    "id",
    "name",
    "state",
    "first_event",
    "last_event",
    "fire_timestamp",
    "expire_timestamp",
)
_STREAM_COLUMNS = _STREAM_FIELDS[:5]
_EVENT_FIELDS = ("message_id", "event_type", "timestamp")


def _pairs(values: Any, sep: str = " ") -> str:
    if not isinstance(values, Mapping):
        return cell(values)
    return sep.join(f"{k}={cell(values[k])}" for k in sorted(values))


def _due(stream: Row) -> str:
    if stream.get("fire_timestamp") is not None:
        return f"fire {cell(stream['fire_timestamp'])}"
    if stream.get("expire_timestamp") is not None:
        return f"expire {cell(stream['expire_timestamp'])}"
    return "-"


def stream_table(streams: Sequence[Row], width: int | None) -> str:
    """One row per stream: id, trigger, state, times, distinguishing traits (TRAITS).

    DUE is when it fires (``fire ...``, its fire criteria met) or else expires.
    """
    headers = [
        "ID", "TRIGGER", "STATE", "FIRST EVENT", "LAST EVENT", "DUE",
        "TRAITS",
    ]  # fmt: skip
    rows = [
        [cell(s.get(k)) for k in _STREAM_COLUMNS]
        + [_due(s), _pairs(s.get("distinguishing_traits"))]
        for s in streams
    ]
    return table(headers, rows, width, flexible=[6, 1])


def stream_detail(stream: Row, width: int | None) -> str:
    """A stream as Property/Value rows; its events as a table below (``--details``)."""
    pairs: list[tuple[str, Any]] = [(k, stream.get(k)) for k in _STREAM_FIELDS]
    traits = stream.get("distinguishing_traits")
    if isinstance(traits, Mapping):
        pairs += [(f"trait.{k}", traits[k]) for k in sorted(traits)]
    known = {*_STREAM_FIELDS, "distinguishing_traits", "events", "_mark"}
    pairs += [(k, v) for k, v in sorted(stream.items()) if k not in known]
    text = properties(pairs, width)
    events = stream.get("events")
    if isinstance(events, list):
        text += f"\n\nEvents ({len(events)}):\n"
        text += event_table(events, width) if events else "(none)"
    return text


def _event_traits(event: Row) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in (*_EVENT_FIELDS, "_mark")}


def event_table(events: Sequence[Row], width: int | None) -> str:
    """One row per event: time, type, message id, then its other traits."""
    headers = ["TIMESTAMP", "EVENT TYPE", "MESSAGE ID", "TRAITS"]
    rows = [
        [
            cell(e.get("timestamp")),
            cell(e.get("event_type")),
            cell(e.get("message_id")),
            _pairs(_event_traits(e)),
        ]
        for e in events
    ]
    return table(headers, rows, width, flexible=[3, 1, 2])


def event_detail(event: Row, width: int | None) -> str:
    """An event as Property/Value rows: id, type and time first, then its traits."""
    traits = _event_traits(event)
    pairs = [(k, event.get(k)) for k in _EVENT_FIELDS]
    pairs += [(k, traits[k]) for k in sorted(traits)]
    return properties(pairs, width)


def event_type_table(types: Sequence[Row], width: int | None) -> str:
    """Name, count, first and last seen of each event type."""
    rows = [
        [cell(t.get(k)) for k in ("name", "count", "first_seen", "last_seen")]
        for t in types
    ]
    headers = ["EVENT TYPE", "COUNT", "FIRST SEEN", "LAST SEEN"]
    return table(headers, rows, width, flexible=[0])


def trait_table(traits: Sequence[Row], width: int | None) -> str:
    """Name and type of each trait seen for an event type."""
    rows = [[cell(t.get("name")), cell(t.get("type"))] for t in traits]
    return table(["TRAIT", "TYPE"], rows, width, flexible=[0])


def _criteria(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(
            _pairs(v) if isinstance(v, Mapping) else cell(v) for v in value
        )
    return cell(value)


def trigger_table(triggers: Sequence[Row], width: int | None) -> str:
    """Each trigger: what distinguishes its streams, pipelines and counters."""
    headers = [
        "TRIGGER", "DISTINGUISHED BY", "EXPIRATION", "FIRE PIPELINE",
        "EXPIRE PIPELINE", "COUNTERS",
    ]  # fmt: skip
    rows = [
        [
            cell(t.get("name")),
            _criteria(t.get("distinguished_by")),
            cell(t.get("expiration")),
            cell(t.get("fire_pipeline")),
            cell(t.get("expire_pipeline")),
            _pairs(t.get("counters"), ", "),  # counter names hold spaces
        ]
        for t in triggers
    ]
    return table(headers, rows, width, flexible=[5, 1, 2, 0])


def size_text(size: Any) -> str:
    """Bytes for people: ``512 B``, ``1.5 KiB``, ``12.0 MiB``."""
    if not isinstance(size, int) or isinstance(size, bool):
        return cell(size)
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def archive_table(archives: Sequence[Row], width: int | None) -> str:
    """Each archive file: name, size, records, time span and path."""
    rows = [
        [
            cell(a.get("name")),
            size_text(a.get("size")),
            cell(a.get("records")),
            cell(a.get("first")),
            cell(a.get("last")),
            cell(a.get("path")),
        ]
        for a in archives
    ]
    headers = ["ARCHIVE", "SIZE", "RECORDS", "FIRST", "LAST", "PATH"]
    return table(headers, rows, width, flexible=[5, 0])


def health_detail(report: Row, width: int | None) -> str:
    """The health report: overall status first, then each component."""
    pairs = [("status", report.get("status"))]
    pairs += [(k, v) for k, v in report.items() if k != "status"]
    return properties(pairs, width)
