"""The live view's stream change log (``GET /v1/stream``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

``stream_change``: one row per stream state change (created, ready, firing,
fired, expired, retry, error, reset, ...), appended in the transaction of the
change; trimmed by age with the events.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from winchester.storage.schema import BigId, UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stream_change",
        sa.Column("id", BigId, autoincrement=True),
        sa.Column("stream_id", sa.BigInteger, nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("state", sa.SmallInteger, nullable=False),
        sa.Column("trigger_name", sa.String(255), nullable=False),
        sa.Column("distinguishing_traits", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stream_change"),
    )
    op.create_index("ix_stream_change_at", "stream_change", ["at"])


def downgrade() -> None:
    op.drop_table("stream_change")
