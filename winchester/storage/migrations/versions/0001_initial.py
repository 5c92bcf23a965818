"""The initial schema: events, trait index, streams and bookkeeping.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Written out in full (not created from the live metadata) so that it keeps
creating exactly this schema when later revisions change the models; a test
checks that upgrading to head gives the schema ``winchester.storage.schema``
declares.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from winchester.storage.schema import BigId, LongText, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_type",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_event_type"),
        sa.UniqueConstraint("name", name="uq_event_type_name"),
    )
    op.create_table(
        "trait_name",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trait_name"),
        sa.UniqueConstraint("name", name="uq_trait_name_name"),
    )
    op.create_table(
        "event",
        sa.Column("id", BigId, autoincrement=True),
        sa.Column("message_id", sa.String(128), nullable=False),
        sa.Column("event_type_id", sa.Integer, nullable=False),
        sa.Column("generated", UTCDateTime(), nullable=False),
        sa.Column("traits", LongText, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_event"),
        sa.UniqueConstraint("message_id", name="uq_event_message_id"),
        sa.ForeignKeyConstraint(
            ["event_type_id"],
            ["event_type.id"],
            name="fk_event_event_type_id_event_type",
        ),
    )
    op.create_index("ix_event_generated", "event", ["generated"])
    op.create_index(
        "ix_event_event_type_id_generated", "event", ["event_type_id", "generated"]
    )
    op.create_table(
        "trait_index",
        sa.Column("name_id", sa.Integer, nullable=False),
        sa.Column("value_hash", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "name_id", "value_hash", "event_id", name="pk_trait_index"
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "stream",
        sa.Column("id", BigId, autoincrement=True),
        sa.Column("trigger_name", sa.String(255), nullable=False),
        sa.Column("state", sa.SmallInteger, nullable=False),
        sa.Column("state_serial_no", sa.Integer, nullable=False, server_default="0"),
        sa.Column("dist_key", sa.String(64), nullable=False),
        sa.Column("open_key", sa.String(64), nullable=True),
        sa.Column("distinguishing_traits", sa.Text, nullable=False),
        sa.Column("first_event", UTCDateTime(), nullable=False),
        sa.Column("last_event", UTCDateTime(), nullable=False),
        sa.Column("expire_timestamp", UTCDateTime(), nullable=True),
        sa.Column("fire_timestamp", UTCDateTime(), nullable=True),
        sa.Column("event_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("fire_counts", sa.String(255), nullable=False, server_default=""),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("lease_owner", sa.String(255), nullable=True),
        sa.Column("lease_expires", UTCDateTime(), nullable=True),
        sa.Column("retry_after", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stream"),
        sa.UniqueConstraint("open_key", name="uq_stream_open_key"),
    )
    op.create_index("ix_stream_dist_key", "stream", ["dist_key"])
    op.create_index(
        "ix_stream_state_fire_timestamp", "stream", ["state", "fire_timestamp"]
    )
    op.create_index(
        "ix_stream_state_expire_timestamp", "stream", ["state", "expire_timestamp"]
    )
    op.create_index("ix_stream_trigger_name_state", "stream", ["trigger_name", "state"])
    op.create_table(
        "stream_dist_trait",
        sa.Column("stream_id", sa.BigInteger, nullable=False),
        sa.Column("name_id", sa.Integer, nullable=False),
        sa.Column("value_hash", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("stream_id", "name_id", name="pk_stream_dist_trait"),
    )
    op.create_index(
        "ix_stream_dist_trait_name_id_value_hash",
        "stream_dist_trait",
        ["name_id", "value_hash"],
    )
    op.create_table(
        "stream_event",
        sa.Column("stream_id", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("stream_id", "event_id", name="pk_stream_event"),
    )
    op.create_index("ix_stream_event_event_id", "stream_event", ["event_id"])
    op.create_table(
        "clock",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_clock"),
    )
    op.create_table(
        "trigger_counter",
        sa.Column("trigger_name", sa.String(255), nullable=False),
        sa.Column("counter", sa.String(191), nullable=False),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("trigger_name", "counter", name="pk_trigger_counter"),
    )


def downgrade() -> None:
    for table in (
        "trigger_counter",
        "clock",
        "stream_event",
        "stream_dist_trait",
        "stream",
        "trait_index",
        "event",
        "trait_name",
        "event_type",
    ):
        op.drop_table(table)
