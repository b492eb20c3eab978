"""Matrix commands: management rooms and per-user command state (acting account, numbered
lists, the guided dialogue of ``new``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "matrix_command_state",
        sa.Column("matrix_user", sa.String(length=255), nullable=False),
        sa.Column("spico_id", sa.String(length=32), nullable=False),
        sa.Column("acting_as", sa.String(length=32), nullable=True),
        sa.Column("acting_name", sa.String(length=200), nullable=True),
        sa.Column("lists", sa.JSON(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("dialogue", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("matrix_user"),
    )
    op.create_table(
        "matrix_management_rooms",
        sa.Column("room_id", sa.String(length=255), nullable=False),
        sa.Column("matrix_user", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("room_id"),
    )
    with op.batch_alter_table("matrix_management_rooms", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_matrix_management_rooms_matrix_user"), ["matrix_user"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("matrix_management_rooms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_matrix_management_rooms_matrix_user"))
    op.drop_table("matrix_management_rooms")
    op.drop_table("matrix_command_state")
