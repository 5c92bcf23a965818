"""Message ids and names compare exactly on MySQL/MariaDB (binary, NO PAD collation).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

MariaDB's default collation held ``abc``, ``ABC`` and ``abc `` equal, so two
notifications whose ids differ only so were stored as one (the second counted
as a duplicate), and two event type or trait names differing only so got one
id. Nothing changes on SQLite and PostgreSQL, which compare text exactly.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from winchester.storage.schema import exact_collation

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("event", "message_id", 128),
    ("event_type", "name", 255),
    ("trait_name", "name", 255),
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "mysql":
        return
    collation = exact_collation(bind.dialect)
    for table, column, length in _COLUMNS:
        op.alter_column(
            table,
            column,
            existing_type=sa.String(length),
            type_=mysql.VARCHAR(length, collation=collation),
            existing_nullable=False,
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "mysql":
        return
    for table, column, length in _COLUMNS:
        op.alter_column(
            table,
            column,
            existing_type=mysql.VARCHAR(length),
            type_=mysql.VARCHAR(length, collation="utf8mb4_general_ci"),
            existing_nullable=False,
        )
