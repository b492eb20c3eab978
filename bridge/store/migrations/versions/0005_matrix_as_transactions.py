"""Matrix appservice mode: the transactions the homeserver pushes, journaled before they are
acknowledged (``matrix_as_transactions``), their ids kept to handle a replay once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bridge.store.migrations.columns import create_table, json, moment, serial, string

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    create_table(
        "matrix_as_transactions",
        serial("seq"),
        string("txn_id", 255),
        json("events"),
        moment("received_at"),
        moment("handled_at", nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("txn_id"),
        indexed=["handled_at"],
    )


def downgrade() -> None:
    op.drop_table("matrix_as_transactions")
