"""Missed messages: the oldest unread message's seq, so that the one mail lists them all."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    with op.batch_alter_table("matrix_unread", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_seq", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("matrix_unread", schema=None) as batch_op:
        batch_op.drop_column("first_seq")
