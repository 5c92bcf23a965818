"""An index for pages of one event type: ``event(event_type_id, id)``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

``/v1/events?event_name=...`` (with no time range, or with ``to_datetime``
alone) pages by id within the type. ``event(event_type_id, generated, id)``
gives the type's rows in time order, so the page sorted all of them first: 16 ms
for ``compute.instance.exists`` at a million events on MariaDB, 13-21 ms for a
``to_datetime`` page, and growing with the table. This index walks the type
backwards by id and stops at the page's end (2-4 ms). A time range still uses
the other one.

MariaDB builds it online; PostgreSQL holds writes to ``event`` while it builds
(2.5 s at a million events): on a large table, build it first with
``CREATE INDEX CONCURRENTLY ix_event_event_type_id_id ON event (event_type_id,
id)`` and this upgrade finds it there.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_event_event_type_id_id",
        "event",
        ["event_type_id", "id"],
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index("ix_event_event_type_id_id", table_name="event")
