"""The API's query layer (quince): lookups, filtered pages, counts, summaries.

Each function takes a ``Connection`` (any transaction, or none: they only read,
but :func:`delete_stream`) and returns small frozen dataclasses with decoded
values (aware UTC datetimes, typed traits), or None when nothing matches.

Rules

* **Pages are keyed on the id.** Lists are newest first (id descending); a
  :class:`Mark` continues strictly below its id, or strictly above it, ascending.
  New rows get higher ids, so paging down never repeats nor skips a row while
  events arrive.
* **Trait filters are index lookups.** A :class:`TraitFilter` carries the typed
  values the query string may stand for (:func:`winchester.storage.values.readings`);
  their hashes are looked up in ``trait_index`` (``stream_dist_trait`` for
  streams), and each row found is then checked against the real typed value in
  its JSON, so a hash collision never returns a wrong row (counts trust the
  64-bit hash: they never read the JSON). A trait that ``indexed_traits`` left
  out of the index (``trait_name.indexed`` false) is only checked in the JSON:
  its filter reads every event the rest of the query selects, pages and counts
  alike.
* **Event type globs** are matched in Python against the (small) ``event_type``
  table, then the query uses the ids (``event(event_type_id, generated, id)``).
* No N+1: a page of events is one query (traits are one JSON column); a stream's
  events are one query.
"""

from __future__ import annotations

import fnmatch
import functools
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from stacktach import jsonutil
from winchester.states import StreamState
from winchester.storage import event_counts, schema
from winchester.storage.retention import purge_streams
from winchester.storage.values import decode_some_traits, decode_traits, value_hash

__all__ = [
    "EventFilter",
    "EventText",
    "EventTypeSummary",
    "Mark",
    "MetricsSnapshot",
    "StoredEvent",
    "StoredStream",
    "StreamFilter",
    "TraitFilter",
    "count_events",
    "count_streams",
    "delete_stream",
    "event_by_id",
    "event_by_message_id",
    "event_type_summaries",
    "event_type_traits",
    "list_events",
    "list_events_json",
    "list_streams",
    "list_streams_json",
    "metrics_snapshot",
    "ping",
    "stream_by_id",
    "stream_events",
    "stream_events_json",
]

#: Ids above this are not ids (64-bit signed keys).
MAX_ID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One stored event: its traits as stored (``traits_json``, typed JSON text
    already in the API's encoding, so a page can be served without decoding
    it), decoded on demand by :attr:`traits`."""

    id: int
    message_id: str
    event_type: str
    generated: datetime
    traits_json: str

    @property
    def traits(self) -> dict[str, Any]:
        """The typed trait mapping (decoded on each access)."""
        return decode_traits(self.traits_json)


@dataclass(frozen=True, slots=True)
class EventText:
    """One event as the API's JSON, in two pieces of text: its stored traits
    (``traits_json``, as :class:`StoredEvent`'s) and what the API adds to them,
    made by the database (``added_json``:
    ``,"message_id":...,"event_type":...,"timestamp":...,"_mark":"..."}``), so
    a page converts no column to a Python value."""

    id: int
    traits_json: str
    added_json: str


@dataclass(frozen=True, slots=True)
class StoredStream:
    """One stream row; its distinguishing traits as stored
    (``distinguishing_json``, typed JSON text), decoded on demand by
    :attr:`distinguishing_traits`."""

    id: int
    trigger_name: str
    state: StreamState
    distinguishing_json: str
    first_event: datetime
    last_event: datetime
    expire_timestamp: datetime | None
    fire_timestamp: datetime | None
    event_count: int
    attempts: int
    last_error: str | None
    created_at: datetime

    @property
    def distinguishing_traits(self) -> dict[str, Any]:
        """The typed distinguishing traits (decoded on each access)."""
        decoded: dict[str, Any] = jsonutil.loads(self.distinguishing_json)
        return decoded


@functools.cache
def _event_query() -> sa.Select[Any]:
    # The type's name comes from a scalar subquery, not a join: with a join,
    # MariaDB may read event_type first and sort every event by id to serve an
    # unfiltered page (31 s at 1M events); with ``event`` alone in FROM, a page
    # is a backward walk of the primary key (or of the filter's index).
    event, types = schema.event, schema.event_type
    name = (
        sa.select(types.c.name)
        .where(types.c.id == event.c.event_type_id)
        .scalar_subquery()
    )
    return sa.select(
        event.c.id,
        event.c.message_id,
        name,
        event.c.generated,
        event.c.traits,
    )


def _event(row: Any) -> StoredEvent | None:
    if row is None:
        return None
    id_, message_id, event_type, generated, traits = row
    return StoredEvent(id_, message_id, event_type, generated, traits)


@functools.cache  # built once per dialect and direction
def _event_text_query(dialect: str, ascending: bool) -> sa.Select[Any]:
    """The columns of an :class:`EventText`: id, the stored traits, and the
    keys the API adds, as JSON text made by the database (``_event_query``'s
    subquery for the type's name, for the same reason)."""
    event = schema.event
    name = _event_query().selected_columns[2]

    added = sa.type_coerce(
        _lit(',"message_id":')
        + _json_text(dialect, event.c.message_id)
        + _lit(',"event_type":')
        + _json_text(dialect, name)
        + _lit(',"timestamp":')
        + _json_datetime(dialect, event.c.generated)
        + _lit(',"_mark":"' + ("+" if ascending else ""))
        + _json_hex(dialect, event.c.id)
        + _lit('"}'),
        sa.Text,
    )
    return sa.select(event.c.id, event.c.traits, added)


def _event_text(row: Any) -> EventText:
    id_, traits, added = row
    return EventText(id_, traits, added)


def event_by_message_id(conn: Connection, message_id: str) -> StoredEvent | None:
    """The event stored under ``message_id``."""
    query = _event_query().where(schema.event.c.message_id == message_id)
    return _event(conn.execute(query).first())


def event_by_id(conn: Connection, event_id: int) -> StoredEvent | None:
    """The event with id ``event_id``."""
    return _event(
        conn.execute(_event_query().where(schema.event.c.id == event_id)).first()
    )


#: The columns a :class:`StoredStream` is made of, in its fields' order (not
#: the whole row: the lease and key columns would double what a page reads).
_STREAM_COLUMNS = (
    "id",
    "trigger_name",
    "state",
    "distinguishing_traits",
    "first_event",
    "last_event",
    "expire_timestamp",
    "fire_timestamp",
    "event_count",
    "attempts",
    "last_error",
    "created_at",
)


def _stream_query() -> sa.Select[Any]:
    return sa.select(*(schema.stream.c[name] for name in _STREAM_COLUMNS))


def _stream(row: Any) -> StoredStream:
    id_, trigger_name, state, dist, *rest = row
    return StoredStream(id_, trigger_name, StreamState(state), dist, *rest)


def stream_by_id(conn: Connection, stream_id: int) -> StoredStream | None:
    """The stream with id ``stream_id``."""
    if not 0 <= stream_id <= MAX_ID:
        return None
    stream = schema.stream
    row = conn.execute(_stream_query().where(stream.c.id == stream_id)).first()
    return None if row is None else _stream(row)


# -- filters and pages ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mark:
    """Where a page starts: strictly below ``id`` (descending), or above it
    (``ascending``)."""

    id: int
    ascending: bool = False


@dataclass(frozen=True, slots=True)
class TraitFilter:
    """One ``name:value`` filter: the trait ``name`` equals one of ``values``
    (typed: the int 512 and the text "512" are different values)."""

    name: str
    values: tuple[Any, ...]

    def matches(self, traits: dict[str, Any]) -> bool:
        """True when the typed trait value is one of the filter's values."""
        if self.name not in traits:
            return False
        found = traits[self.name]
        return any(
            found.__class__ is value.__class__ and found == value
            for value in self.values
        )


@dataclass(frozen=True, slots=True)
class EventFilter:
    """``/v1/events`` filters: ``generated > after``, ``generated <= until``,
    event type glob, traits (AND)."""

    after: datetime | None = None
    until: datetime | None = None
    event_name: str | None = None
    traits: tuple[TraitFilter, ...] = ()


@dataclass(frozen=True, slots=True)
class StreamFilter:
    """``/v1/streams`` filters: ``first_event < older_than``,
    ``last_event > younger_than``, state, trigger, distinguishing traits (AND)."""

    older_than: datetime | None = None
    younger_than: datetime | None = None
    state: StreamState | None = None
    trigger_name: str | None = None
    traits: tuple[TraitFilter, ...] = field(default=())


#: Ids of event type and trait names already looked up, per engine, with
#: whether the name is indexed (``trait_name.indexed``; always true for event
#: types). A name's row is never deleted nor renumbered, and its flag is fixed
#: with its id (see :mod:`winchester.storage.names`), so a found entry stays
#: right; a name not found is not remembered (it may be stored the next
#: moment). Bounded: past ``_NAME_CACHE_SIZE`` names an engine's cache starts
#: again.
_NAME_IDS: weakref.WeakKeyDictionary[
    Engine, dict[tuple[str, str], tuple[int, bool]]
] = weakref.WeakKeyDictionary()
_NAME_CACHE_SIZE = 10_000


def _lookup(
    conn: Connection, table: sa.Table, names: Sequence[str]
) -> dict[str, tuple[int, bool]]:
    """``name: (id, indexed)`` of the stored ``names`` in ``table``
    (``event_type`` or ``trait_name``)."""
    cache = _NAME_IDS.setdefault(conn.engine, {})
    found: dict[str, tuple[int, bool]] = {}
    missing: list[str] = []
    for name in names:
        entry = cache.get((table.name, name))
        if entry is None:
            missing.append(name)
        else:
            found[name] = entry
    if missing:
        flag = table.c.indexed if "indexed" in table.c else sa.true()
        rows = conn.execute(
            sa.select(table.c.name, table.c.id, flag).where(
                table.c.name.in_(sorted(set(missing)))
            )
        )
        if len(cache) > _NAME_CACHE_SIZE:
            cache.clear()
        for name, id_, indexed in rows:
            found[name] = cache[(table.name, name)] = (id_, bool(indexed))
    return found


def _lookup_ids(
    conn: Connection, table: sa.Table, names: Sequence[str]
) -> dict[str, int]:
    """The ids of the stored ``names`` in ``table``."""
    return {name: id_ for name, (id_, _) in _lookup(conn, table, names).items()}


def _type_ids(conn: Connection, pattern: str) -> list[int]:
    """Ids of the event types ``pattern`` (an fnmatch glob, case-sensitive) names."""
    types = schema.event_type
    if not any(ch in pattern for ch in "*?["):
        id_ = _lookup_ids(conn, types, [pattern]).get(pattern)
        return [] if id_ is None else [id_]
    return [
        id_
        for id_, name in conn.execute(sa.select(types.c.id, types.c.name))
        if fnmatch.fnmatchcase(name, pattern)
    ]


def _name_ids(conn: Connection, names: Sequence[str]) -> dict[str, int]:
    return _lookup_ids(conn, schema.trait_name, names)


def _indexed_traits(
    conn: Connection, traits: Sequence[TraitFilter]
) -> tuple[dict[str, int], list[TraitFilter]] | None:
    """The name ids of the filters' traits, and the filters whose trait has
    ``trait_index`` rows; None when a trait was never stored (nothing matches)."""
    found = _lookup(conn, schema.trait_name, [t.name for t in traits])
    if any(t.name not in found for t in traits):
        return None
    name_ids = {name: id_ for name, (id_, _) in found.items()}
    return name_ids, [t for t in traits if found[t.name][1]]


def _hashes(trait: TraitFilter) -> list[int]:
    return sorted({value_hash(value) for value in trait.values})


@dataclass(frozen=True, slots=True)
class _Driver:
    """The first trait filter, as a ``trait_index`` range: name id and hashes."""

    name_id: int
    hashes: list[int]

    def ids(self, mark: Mark | None, limit: int) -> sa.Select[Any]:
        index = schema.trait_index
        query = sa.select(index.c.event_id).where(
            index.c.name_id == self.name_id, index.c.value_hash.in_(self.hashes)
        )
        return _page(query, index.c.event_id, mark, limit)


@dataclass(frozen=True, slots=True)
class _Where:
    """An event filter in SQL: its clauses, the ``trait_index`` range of its
    first indexed trait filter (the other indexed ones are clauses), and
    whether some trait filter has no index rows (``indexed_traits``) and is
    only checked against each event's JSON."""

    clauses: list[Any]
    driver: _Driver | None
    unindexed: bool


def _event_where(conn: Connection, flt: EventFilter) -> _Where | None:
    """An event filter in SQL (:class:`_Where`); None when nothing can match."""
    event, index = schema.event, schema.trait_index
    where: list[Any] = []
    if flt.after is not None:
        where.append(event.c.generated > flt.after)
    if flt.until is not None:
        where.append(event.c.generated <= flt.until)
    if flt.event_name is not None:
        ids = _type_ids(conn, flt.event_name)
        if not ids:
            return None
        where.append(
            event.c.event_type_id == ids[0]
            if len(ids) == 1
            else event.c.event_type_id.in_(ids)
        )
    if not flt.traits:
        return _Where(where, None, False)
    found = _indexed_traits(conn, flt.traits)
    if found is None:
        return None
    name_ids, indexed = found
    if not indexed:  # every trait filtered on is read from the events' JSON
        return _Where(where, None, True)
    first, *others = indexed
    driver = _Driver(name_ids[first.name], _hashes(first))
    for trait in others:
        where.append(
            event.c.id.in_(
                sa.select(index.c.event_id).where(
                    index.c.name_id == name_ids[trait.name],
                    index.c.value_hash.in_(_hashes(trait)),
                )
            )
        )
    return _Where(where, driver, len(indexed) < len(flt.traits))


def _page(
    query: sa.Select[Any], id_column: Any, mark: Mark | None, limit: int
) -> sa.Select[Any]:
    if mark is not None:
        query = query.where(
            id_column > mark.id if mark.ascending else id_column < mark.id
        )
    ascending = mark is not None and mark.ascending
    return query.order_by(id_column.asc() if ascending else id_column.desc()).limit(
        limit
    )


def _fill(
    fetch: Any,
    check: Any,
    mark: Mark | None,
    limit: int,
    id_of: Any,
    *,
    step: int = 0,
) -> list[Any]:
    """Pages of ``fetch(mark, n)`` until ``limit`` rows pass ``check`` (a row
    failing it is a hash collision: rare, so this is nearly always one query).

    ``step`` is the fewest rows to fetch at a time, for a check that many rows
    fail (a filter on an unindexed trait): ``limit - found`` would then shrink
    to a query per row.
    """
    found: list[Any] = []
    while len(found) < limit:
        wanted = max(limit - len(found), step)
        rows = fetch(mark, wanted)
        found.extend(row for row in rows if check(row))
        if len(rows) < wanted:
            break
        mark = Mark(id_of(rows[-1]), mark.ascending if mark else False)
    return found[:limit]


#: Event ids read from ``trait_index`` per step of a trait-filtered page.
TRAIT_CHUNK = 500


def list_events(
    conn: Connection, flt: EventFilter, *, mark: Mark | None = None, limit: int = 200
) -> list[StoredEvent]:
    """A page of events matching ``flt``, newest first (ascending after a ``+``
    mark).

    Without a trait filter, one statement: the page's ids (a derived table),
    then their rows by primary key. With one, the page is driven from
    ``trait_index``: ids of the first filter's range in page order,
    ``TRAIT_CHUNK`` at a time, then their events by primary key with the other
    filters - two index-driven queries whatever the optimiser's statistics say.
    """
    return _event_page(conn, flt, mark, limit, _event_query(), _event)


def list_events_json(
    conn: Connection, flt: EventFilter, *, mark: Mark | None = None, limit: int = 200
) -> list[EventText]:
    """The page :func:`list_events` returns, each event as :class:`EventText`
    (the API's ``/v1/events``)."""
    ascending = mark is not None and mark.ascending
    columns = _event_text_query(conn.dialect.name, ascending)
    return _event_page(conn, flt, mark, limit, columns, _event_text)


def _event_page(
    conn: Connection,
    flt: EventFilter,
    mark: Mark | None,
    limit: int,
    columns: sa.Select[Any],
    make: Callable[[Any], Any],
) -> list[Any]:
    """A page of ``columns`` rows (``event`` alone in FROM) as ``make`` makes
    them, each with ``id`` and ``traits_json``."""
    found = _event_where(conn, flt)
    if found is None or limit <= 0:
        return []
    where, driver = found.clauses, found.driver
    ascending = mark is not None and mark.ascending
    event = schema.event
    order = event.c.id.asc() if ascending else event.c.id.desc()

    names = [t.name for t in flt.traits]

    def check(item: Any) -> bool:
        if not names:
            return True
        traits = decode_some_traits(item.traits_json, names)
        return all(t.matches(traits) for t in flt.traits)

    if driver is None:

        def fetch(at: Mark | None, count: int) -> list[Any]:
            # The page's ids first (from the filter's index alone, where one
            # covers it), then only their rows: a range of 500 rows sorted
            # for 100 no longer reads 500 rows' traits.
            page = _page(sa.select(event.c.id).where(*where), event.c.id, at, count)
            ids = page.subquery("page")
            query = columns.join(ids, ids.c.id == event.c.id).order_by(order)
            return [e for e in map(make, conn.execute(query)) if e is not None]

        step = TRAIT_CHUNK if found.unindexed else 0
        return _fill(fetch, check, mark, limit, lambda e: e.id, step=step)

    page: list[Any] = []
    cursor = mark
    while len(page) < limit:
        ids = list(conn.execute(driver.ids(cursor, TRAIT_CHUNK)).scalars())
        if not ids:
            break
        query = columns.where(event.c.id.in_(ids), *where).order_by(order)
        page.extend(
            e for e in map(make, conn.execute(query)) if e is not None and check(e)
        )
        if len(ids) < TRAIT_CHUNK:
            break
        cursor = Mark(ids[-1], ascending)
    return page[:limit]


def count_events(conn: Connection, flt: EventFilter) -> int:
    """How many events match ``flt``.

    Without a trait filter, from the per-type hour and minute counts
    (:mod:`winchester.storage.event_counts`); with one, from ``trait_index``,
    never the JSON - unless a filtered trait is not indexed (``indexed_traits``):
    then the events the rest of ``flt`` selects are read and checked.
    """
    if not flt.traits:
        type_ids = None
        if flt.event_name is not None:
            type_ids = _type_ids(conn, flt.event_name)
            if not type_ids:
                return 0
        return event_counts.count_by_type(conn, type_ids, flt.after, flt.until)
    found = _event_where(conn, flt)
    if found is None:
        return 0
    if found.unindexed:
        return _count_checked(conn, flt)
    where, driver = found.clauses, found.driver
    assert driver is not None  # the first trait filter drives
    index = schema.trait_index
    query = (
        sa.select(sa.func.count())
        .select_from(index)
        .where(
            index.c.name_id == driver.name_id,
            index.c.value_hash.in_(driver.hashes),
        )
    )
    if where:
        query = query.join(schema.event, schema.event.c.id == index.c.event_id).where(
            *where
        )
    return int(conn.execute(query).scalar_one())


def _count_checked(conn: Connection, flt: EventFilter) -> int:
    """Count events by reading them: a filter on an unindexed trait is only
    known from each event's JSON, so every event the rest of ``flt`` selects
    is read, ``COUNT_CHUNK`` at a time."""
    event = schema.event
    columns = sa.select(event.c.id, event.c.traits.label("traits_json"))
    total = 0
    mark: Mark | None = None
    while True:
        page = _event_page(conn, flt, mark, COUNT_CHUNK, columns, lambda row: row)
        total += len(page)
        if len(page) < COUNT_CHUNK:
            return total
        mark = Mark(page[-1].id)


#: Matching events read per step when a count needs the events' JSON.
COUNT_CHUNK = 1000


def _stream_where(conn: Connection, flt: StreamFilter) -> list[Any] | None:
    stream, dist = schema.stream, schema.stream_dist_trait
    where: list[Any] = []
    if flt.older_than is not None:
        where.append(stream.c.first_event < flt.older_than)
    if flt.younger_than is not None:
        where.append(stream.c.last_event > flt.younger_than)
    if flt.state is not None:
        where.append(stream.c.state == int(flt.state))
    if flt.trigger_name is not None:
        where.append(stream.c.trigger_name == flt.trigger_name)
    if flt.traits:
        name_ids = _name_ids(conn, [t.name for t in flt.traits])
        for trait in flt.traits:
            if trait.name not in name_ids:
                return None
            where.append(
                stream.c.id.in_(
                    sa.select(dist.c.stream_id).where(
                        dist.c.name_id == name_ids[trait.name],
                        dist.c.value_hash.in_(_hashes(trait)),
                    )
                )
            )
    return where


def _stream_page(
    conn: Connection,
    flt: StreamFilter,
    select: sa.Select[Any],
    mark: Mark | None,
    limit: int,
) -> list[Any]:
    """Rows of ``select`` (stream columns, ``id`` first and the stored
    ``distinguishing_traits`` second) for a page of streams matching ``flt``."""
    where = _stream_where(conn, flt)
    if where is None or limit <= 0:
        return []
    stream = schema.stream
    if flt.state is not None and flt.trigger_name is not None:
        # MariaDB prefers walking the primary key backwards past every other
        # trigger's streams; this index gives the page in id order directly.
        select = select.with_hint(
            stream, "FORCE INDEX (ix_stream_state_trigger_name_id)", "mysql"
        )

    def fetch(at: Mark | None, count: int) -> list[Any]:
        return list(conn.execute(_page(select.where(*where), stream.c.id, at, count)))

    def check(row: Any) -> bool:
        if not flt.traits:
            return True
        traits = jsonutil.loads(row[1])
        return all(t.matches(traits) for t in flt.traits)

    return _fill(fetch, check, mark, limit, lambda row: row[0])


def list_streams(
    conn: Connection, flt: StreamFilter, *, mark: Mark | None = None, limit: int = 200
) -> list[StoredStream]:
    """A page of streams matching ``flt``, newest first (ascending after a ``+``
    mark)."""
    stream = schema.stream
    # id and distinguishing_traits first, as _stream_page reads them
    select = sa.select(
        stream.c.id,
        stream.c.distinguishing_traits,
        *(stream.c[name] for name in _STREAM_COLUMNS),
    )
    return [_stream(row[2:]) for row in _stream_page(conn, flt, select, mark, limit)]


def _lit(text: str) -> Any:
    """SQL: a text literal (a piece of the JSON the database builds)."""
    return sa.literal(text, sa.Text)


def _json_text(dialect: str, column: Any) -> Any:
    """SQL: ``column`` (text) as a JSON string literal."""
    if dialect == "postgresql":
        return sa.cast(sa.func.to_json(column), sa.Text)
    return sa.func.json_quote(column)  # MariaDB and SQLite


def _json_datetime(dialect: str, column: Any) -> Any:
    """SQL: a UTC DATETIME column in the API's typed encoding (``null`` when
    NULL), as :func:`stacktach.timeutils.format_timestamp` writes it."""
    if dialect == "mysql":
        text = sa.func.date_format(column, "%Y-%m-%dT%H:%i:%s.%f")
    elif dialect == "postgresql":
        text = sa.func.to_char(column, 'YYYY-MM-DD"T"HH24:MI:SS.US')
    else:  # SQLAlchemy stores 'YYYY-MM-DD HH:MM:SS.ffffff'
        text = sa.func.replace(sa.cast(column, sa.Text), " ", "T")
    typed = _lit('{"__type__":"datetime","datetime":"') + text
    return sa.func.coalesce(typed + _lit('+00:00"}'), "null")


def _json_hex(dialect: str, column: Any) -> Any:
    if dialect == "mysql":
        return sa.func.lower(sa.func.hex(column))
    if dialect == "postgresql":
        return sa.func.to_hex(column)
    return sa.func.printf("%x", column)


@functools.cache  # built once: the expression is large
def _stream_json_column(dialect: str, ascending: bool) -> Any:
    """SQL: a stream row as the API's JSON object (quince's ``stream_json``),
    built by the database, so a page of 200 streams costs the API one text
    column a row instead of twelve typed ones."""
    stream = schema.stream
    state = sa.case(
        *((stream.c.state == int(s), s.name.lower()) for s in StreamState),
        else_="unknown",
    )

    return sa.type_coerce(
        _lit('{"id":')
        + sa.cast(stream.c.id, sa.Text)
        + _lit(',"name":')
        + _json_text(dialect, stream.c.trigger_name)
        + _lit(',"state":"')
        + state
        + _lit('","first_event":')
        + _json_datetime(dialect, stream.c.first_event)
        + _lit(',"last_event":')
        + _json_datetime(dialect, stream.c.last_event)
        + _lit(',"fire_timestamp":')
        + _json_datetime(dialect, stream.c.fire_timestamp)
        + _lit(',"expire_timestamp":')
        + _json_datetime(dialect, stream.c.expire_timestamp)
        + _lit(',"distinguishing_traits":')
        + stream.c.distinguishing_traits
        + _lit(',"_mark":"' + ("+" if ascending else ""))
        + _json_hex(dialect, stream.c.id)
        + _lit('"')
        + sa.case(
            (stream.c.last_error.is_(None), _lit("")),
            else_=_lit(',"last_error":') + _json_text(dialect, stream.c.last_error),
        )
        + _lit("}"),
        sa.Text,
    )


def list_streams_json(
    conn: Connection, flt: StreamFilter, *, mark: Mark | None = None, limit: int = 200
) -> list[str]:
    """The page :func:`list_streams` returns, each stream as the API's JSON
    text (``/v1/streams``), made by the database."""
    stream = schema.stream
    ascending = mark is not None and mark.ascending
    select = sa.select(
        stream.c.id,
        stream.c.distinguishing_traits,
        _stream_json_column(conn.dialect.name, ascending),
    )
    return [row[2] for row in _stream_page(conn, flt, select, mark, limit)]


def count_streams(conn: Connection, flt: StreamFilter) -> int:
    """How many streams match ``flt`` (through the indexes)."""
    where = _stream_where(conn, flt)
    if where is None:
        return 0
    query = sa.select(sa.func.count()).select_from(schema.stream).where(*where)
    return int(conn.execute(query).scalar_one())


def stream_events(conn: Connection, stream_id: int) -> list[StoredEvent]:
    """The events of a stream, oldest first (one query)."""
    return _stream_events(conn, stream_id, _event_query(), _event)


def stream_events_json(conn: Connection, stream_id: int) -> list[EventText]:
    """The events of a stream, oldest first, as :class:`EventText`."""
    columns = _event_text_query(conn.dialect.name, False)
    return _stream_events(conn, stream_id, columns, _event_text)


def _stream_events(
    conn: Connection,
    stream_id: int,
    columns: sa.Select[Any],
    make: Callable[[Any], Any],
) -> list[Any]:
    link = schema.stream_event
    query = (
        columns.join(link, link.c.event_id == schema.event.c.id)
        .where(link.c.stream_id == stream_id)
        .order_by(schema.event.c.generated, schema.event.c.id)
    )
    return [e for e in map(make, conn.execute(query)) if e is not None]


def delete_stream(conn: Connection, stream_id: int) -> bool:
    """Purge a stream (its links and distinguishing rows; its events are kept),
    with :func:`winchester.storage.retention.purge_streams`, logging a
    ``deleted`` change (with the state it had) for the live stream.

    The one write of this module (an operator's DELETE); False when there is no
    such stream.
    """
    from winchester.storage import changes  # noqa: PLC0415 - it imports this module

    if not 0 <= stream_id <= MAX_ID:
        return False
    changes.record(conn, changes.DELETED, [stream_id])  # as it was, for watchers
    return purge_streams(conn, [stream_id]) > 0


# The summaries (event types, their traits, metrics, ping) live in
# :mod:`winchester.storage.summaries`; re-exported so quince imports one module.
from winchester.storage.summaries import (  # noqa: E402
    EventTypeSummary,
    MetricsSnapshot,
    event_type_summaries,
    event_type_traits,
    metrics_snapshot,
    ping,
)
