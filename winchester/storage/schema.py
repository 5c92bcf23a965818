"""The database schema (SQLAlchemy Core), the single source of the table layout.

Events
    ``event`` holds one row per stored notification: its ``message_id`` (unique:
    this is what makes ingest idempotent), type, time, and **all its traits in one
    typed-JSON column**. Storing traits as one value per event, instead of the
    original's one row per trait, is what makes ingest fast: an event costs one row,
    whatever its number of traits, and reading an event back (the API, a pipeline)
    is one row with no join.

    ``trait_index`` serves the API's trait filters (``?traits=memory_mb:512``). It
    has one narrow row per indexed trait (every trait unless ``indexed_traits``
    says otherwise; ``trait_name.indexed`` records the choice per name),
    ``(name_id, value_hash, event_id)``, where
    ``value_hash`` is a 64-bit hash of the trait's type and value
    (:func:`winchester.storage.values.value_hash`). A filter looks up the hash of
    each typed reading of the query string (text ``"512"``, int ``512``, float
    ``512.0``...) through the ``(name_id, value_hash)`` index and checks the real
    value in the JSON, so a hash collision can never return a wrong event. The
    primary key *is* that lookup key, so the table is a single B-tree (clustered in
    InnoDB, ``WITHOUT ROWID`` in SQLite): one structure to maintain per insert.
    Deleting an event's rows recomputes their keys from its stored traits.

Streams
    ``stream`` has one row per stream: the trigger it belongs to, its state, the
    time span of its events, when it fires or expires, how many events matched
    each fire criterion so far (so firing is decided without reloading the stream),
    and the lease fields pipeline workers use. ``dist_key`` is a SHA-256 of the
    trigger name and the typed distinguishing values. ``open_key`` equals
    ``dist_key`` while the stream is open (``active`` and accepting events) and is
    NULL afterwards; its UNIQUE index is what guarantees that two writers never open
    two streams for one key. ``stream_dist_trait`` indexes the distinguishing
    values (same hashing as ``trait_index``) for the API's
    ``distinguishing_traits`` filter; ``stream_event`` links streams and events
    (an event may belong to streams of several triggers).

Bookkeeping
    ``event_type`` and ``trait_name`` intern names to small integers;
    ``clock`` keeps the event-time high-water mark; ``trigger_counter`` the
    per-trigger counters every process adds to.

``message_id`` and the interned names compare exactly (case, accents and
trailing spaces count) on every backend: :class:`ExactText`.

All times are UTC, stored without zone, with microseconds (``DATETIME(6)`` on
MySQL/MariaDB), and come back as aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect

__all__ = ["metadata"]


def naive_utc(value: datetime) -> datetime:
    """What :class:`UTCDateTime` stores for ``value``: the naive UTC time (a
    naive ``value`` is taken as UTC already)."""
    zone = value.tzinfo
    if zone is None:
        return value
    if zone is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out; naive UTC in the database."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        return None if value is None else naive_utc(value)

    def process_result_value(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        if value is None:
            return None
        return (
            value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        )


class ExactText(sa.types.TypeDecorator[str]):
    """A VARCHAR compared exactly: case, accents and trailing spaces count.

    MariaDB's default collation (``utf8mb4_general_ci``, PAD SPACE) holds ``abc``,
    ``ABC`` and ``abc `` equal, so a unique key would take two message ids or
    names for one (a duplicate that is not one, a name with no id of its own).
    On MariaDB the column is ``utf8mb4_nopad_bin``, on MySQL ``utf8mb4_0900_bin``;
    elsewhere text compares exactly already.
    """

    impl = sa.String
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "mysql":
            return dialect.type_descriptor(
                mysql.VARCHAR(self.length, collation=exact_collation(dialect))
            )
        return dialect.type_descriptor(sa.String(self.length))


def exact_collation(dialect: Dialect) -> str:
    """The binary, NO PAD collation of utf8mb4 on this MySQL or MariaDB."""
    return (
        "utf8mb4_nopad_bin"
        if getattr(dialect, "is_mariadb", False)
        else ("utf8mb4_0900_bin")
    )


#: 64-bit auto-increment keys (SQLite only auto-increments INTEGER PRIMARY KEY).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
#: Large text: TEXT is 64 KiB on MySQL, so use MEDIUMTEXT (16 MiB) there.
LongText = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql")

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

event_type = sa.Table(
    "event_type",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", ExactText(255), nullable=False, unique=True),
)

trait_name = sa.Table(
    "trait_name",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", ExactText(255), nullable=False, unique=True),
    # whether this trait has trait_index rows: fixed when the name is first
    # stored (``indexed_traits``), so every process agrees on it (0007)
    sa.Column("indexed", sa.Boolean, nullable=False, server_default=sa.true()),
)

event = sa.Table(
    "event",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("message_id", ExactText(128), nullable=False, unique=True),
    sa.Column(
        "event_type_id", sa.Integer, sa.ForeignKey("event_type.id"), nullable=False
    ),
    sa.Column("generated", UTCDateTime(), nullable=False),
    sa.Column("traits", LongText, nullable=False),
    sa.Index(None, "generated"),
    sa.Index(None, "event_type_id", "generated", "id"),
    sa.Index(None, "event_type_id", "id"),  # a type's pages, by id (0006)
)

trait_index = sa.Table(
    "trait_index",
    metadata,
    sa.Column("name_id", sa.Integer, primary_key=True),
    sa.Column("value_hash", sa.BigInteger, primary_key=True),
    sa.Column("event_id", sa.BigInteger, primary_key=True),
    sqlite_with_rowid=False,
)

stream = sa.Table(
    "stream",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("trigger_name", sa.String(255), nullable=False),
    sa.Column("state", sa.SmallInteger, nullable=False),
    sa.Column("state_serial_no", sa.Integer, nullable=False, server_default="0"),
    sa.Column("dist_key", sa.String(64), nullable=False),
    sa.Column("open_key", sa.String(64), nullable=True, unique=True),
    sa.Column("distinguishing_traits", sa.Text, nullable=False),
    sa.Column("first_event", UTCDateTime(), nullable=False),
    sa.Column("last_event", UTCDateTime(), nullable=False),
    sa.Column("expire_timestamp", UTCDateTime(), nullable=True),
    sa.Column("fire_timestamp", UTCDateTime(), nullable=True),
    sa.Column("event_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("fire_counts", sa.String(255), nullable=False, server_default=""),
    # pipeline-worker lifecycle
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("lease_owner", sa.String(255), nullable=True),
    sa.Column("lease_expires", UTCDateTime(), nullable=True),
    sa.Column("retry_after", UTCDateTime(), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index(None, "dist_key"),
    sa.Index(None, "state", "fire_timestamp"),
    sa.Index(None, "state", "expire_timestamp"),
    sa.Index(None, "trigger_name", "state"),
    sa.Index(None, "state", "trigger_name", "id"),
)

# One row per distinguishing trait of a stream (a few per stream, not per event):
# keyed by stream so completing a stream deletes its rows without scanning, with
# a second index for the API's lookups.
stream_dist_trait = sa.Table(
    "stream_dist_trait",
    metadata,
    sa.Column("stream_id", sa.BigInteger, primary_key=True),
    sa.Column("name_id", sa.Integer, primary_key=True),
    sa.Column("value_hash", sa.BigInteger, nullable=False),
    sa.Index(None, "name_id", "value_hash"),
)

stream_event = sa.Table(
    "stream_event",
    metadata,
    sa.Column("stream_id", sa.BigInteger, primary_key=True),
    sa.Column("event_id", sa.BigInteger, primary_key=True),
    sa.Index(None, "event_id"),
)

# Events per type per hour and per minute (:mod:`winchester.storage.event_counts`),
# spread over a few slots per bucket so concurrent writers seldom share a row;
# counts of a type over any range read a few hundred of these, not the events.
event_type_count = sa.Table(
    "event_type_count",
    metadata,
    sa.Column("event_type_id", sa.Integer, primary_key=True),
    sa.Column("span", sa.SmallInteger, primary_key=True),
    sa.Column("bucket", UTCDateTime(), primary_key=True),
    sa.Column("slot", sa.SmallInteger, primary_key=True),
    sa.Column("n", sa.BigInteger, nullable=False),
)

clock = sa.Table(
    "clock",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", UTCDateTime(), nullable=False),
)

trigger_counter = sa.Table(
    "trigger_counter",
    metadata,
    sa.Column("trigger_name", sa.String(255), primary_key=True),
    sa.Column("counter", sa.String(191), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

# The live view's change log (:mod:`winchester.storage.changes`): one row per
# stream state change, appended in the transaction that makes the change, so
# every API process and host sees every change, whoever made it. The trigger
# and distinguishing traits are copied: a purged stream's changes still say
# what it was. Trimmed by age (``at``).
stream_change = sa.Table(
    "stream_change",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("stream_id", sa.BigInteger, nullable=False),
    sa.Column("change", sa.String(16), nullable=False),
    sa.Column("state", sa.SmallInteger, nullable=False),
    sa.Column("trigger_name", sa.String(255), nullable=False),
    sa.Column("distinguishing_traits", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Index(None, "at"),
)
