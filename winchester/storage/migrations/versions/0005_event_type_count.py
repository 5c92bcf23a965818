"""Event counts per type, hour and minute, for the API's counts.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

``event_type_count`` (see :mod:`winchester.storage.event_counts`): filled here
from the events already stored, in one grouped statement per bucket size, then
kept by ingest and retention in their own transactions. Stop every
``yagi-event`` and ``winchester`` ingester before upgrading: an event stored
between this fill and the new code's start would not be counted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from winchester.storage.schema import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The bucket of ``generated``, in each dialect's own spelling of a DATETIME.
_FLOOR = {
    "mysql": {
        60: "DATE_FORMAT(generated, '%Y-%m-%d %H:00:00')",
        1: "DATE_FORMAT(generated, '%Y-%m-%d %H:%i:00')",
    },
    "postgresql": {
        60: "date_trunc('hour', generated)",
        1: "date_trunc('minute', generated)",
    },
    # SQLAlchemy keeps SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' text.
    "sqlite": {
        60: "strftime('%Y-%m-%d %H:00:00.000000', generated)",
        1: "strftime('%Y-%m-%d %H:%M:00.000000', generated)",
    },
}


def upgrade() -> None:
    op.create_table(
        "event_type_count",
        sa.Column("event_type_id", sa.Integer, nullable=False),
        sa.Column("span", sa.SmallInteger, nullable=False),
        sa.Column("bucket", UTCDateTime(), nullable=False),
        sa.Column("slot", sa.SmallInteger, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "event_type_id", "span", "bucket", "slot", name="pk_event_type_count"
        ),
    )
    floors = _FLOOR[op.get_bind().dialect.name]
    for span, floor in floors.items():
        # text(): SQLAlchemy doubles the percent signs for drivers that need it.
        op.execute(
            "INSERT INTO event_type_count (event_type_id, span, bucket, slot, n) "
            f"SELECT event_type_id, {span}, {floor}, 0, COUNT(*) FROM event "
            f"GROUP BY event_type_id, {floor}"
        )


def downgrade() -> None:
    op.drop_table("event_type_count")
