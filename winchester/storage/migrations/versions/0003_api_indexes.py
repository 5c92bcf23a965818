"""Indexes for the API's filters and paging (quince).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

* ``event(event_type_id, generated, id)`` replaces ``event(event_type_id,
  generated)``: ``/v1/events?event_name=...&from_datetime=...`` and its count are
  a range of this index, and the id (the page key) is in it on every backend.
* ``stream(state, trigger_name, id)``: ``/v1/streams?state=...&trigger_name=...``
  and its count, pages keyed on the id.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The new index first: MariaDB's foreign key on event_type_id needs one.
    op.create_index(
        "ix_event_event_type_id_generated_id",
        "event",
        ["event_type_id", "generated", "id"],
    )
    op.drop_index("ix_event_event_type_id_generated", table_name="event")
    op.create_index(
        "ix_stream_state_trigger_name_id", "stream", ["state", "trigger_name", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_stream_state_trigger_name_id", table_name="stream")
    op.create_index(
        "ix_event_event_type_id_generated", "event", ["event_type_id", "generated"]
    )
    op.drop_index("ix_event_event_type_id_generated_id", table_name="event")
