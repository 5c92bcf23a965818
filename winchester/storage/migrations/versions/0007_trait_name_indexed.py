"""Which traits have ``trait_index`` rows: ``trait_name.indexed``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

``indexed_traits`` (winchester.yaml) lets an operator index only the traits the
API is asked to filter on; the rest are found by reading the events' own JSON.
The choice is recorded with the name when it is first stored, so every ingest
and API process, whatever its own configuration, writes and reads the index
the same way. Every name stored before this revision keeps its index rows
(``indexed`` true), as it was.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN (with its constant default) on every backend, SQLite
    # included, so ``winchester-db upgrade --sql`` can print it
    op.add_column(
        "trait_name",
        sa.Column("indexed", sa.Boolean, nullable=False, server_default=sa.true()),
    )


def downgrade() -> None:
    with op.batch_alter_table("trait_name") as batch:
        batch.drop_column("indexed")
