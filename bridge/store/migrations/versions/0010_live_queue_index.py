"""The live deliveries of each queue, in order, without its history: a partial index on
(queue, id) for the pending and sending deliveries, so a queue's head costs the same after ten
thousand messages as after one. It replaces the index of every delivery on (queue, id), which
no query reads any more (each reads a queue's live deliveries only)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

#: As ``bridge.store.models.LIVE_QUEUE_PREDICATE`` was when this revision was written.
LIVE_QUEUE_PREDICATE = "state IN ('pending', 'sending')"

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_live_queue",
        "deliveries",
        ["queue", "id"],
        sqlite_where=sa.text(LIVE_QUEUE_PREDICATE),
        postgresql_where=sa.text(LIVE_QUEUE_PREDICATE),
    )
    op.drop_index("ix_deliveries_queue", table_name="deliveries")


def downgrade() -> None:
    op.create_index("ix_deliveries_queue", "deliveries", ["queue", "id"])
    op.drop_index("ix_deliveries_live_queue", table_name="deliveries")
