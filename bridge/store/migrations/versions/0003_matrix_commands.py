"""Matrix commands: management rooms and per-user command state (acting account, numbered
lists, the guided dialogue of ``new``).
"""

from __future__ import annotations

import sqlalchemy as sa

from bridge.store.migrations.columns import create_table, drop_table, json, moment, string

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    create_table(
        "matrix_command_state",
        string("matrix_user", 255),
        string("spico_id", 32),
        string("acting_as", 32, nullable=True),
        string("acting_name", 200, nullable=True),
        json("lists"),
        json("context"),
        json("dialogue", nullable=True),
        moment("updated_at"),
        sa.PrimaryKeyConstraint("matrix_user"),
    )
    create_table(
        "matrix_management_rooms",
        string("room_id", 255),
        string("matrix_user", 255),
        moment("created_at"),
        sa.PrimaryKeyConstraint("room_id"),
        indexed=("matrix_user",),
    )


def downgrade() -> None:
    drop_table("matrix_management_rooms", indexed=("matrix_user",))
    drop_table("matrix_command_state")
