"""Missed messages: which Matrix members have an unread message in a portal, since when."""

from __future__ import annotations

import sqlalchemy as sa

from bridge.store.migrations.columns import create_table, drop_table, moment, string

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    create_table(
        "matrix_unread",
        string("conversation_id", 64),
        string("member_id", 32),
        moment("since"),
        sa.PrimaryKeyConstraint("conversation_id", "member_id"),
        indexed=("since",),
    )


def downgrade() -> None:
    drop_table("matrix_unread", indexed=("since",))
