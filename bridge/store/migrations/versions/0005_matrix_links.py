"""Self-service links: Matrix accounts linked by their professional (``lier``), and the
one-time codes mailed to prove the MSSanté mailbox.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "matrix_links",
        sa.Column("spico_id", sa.String(length=32), nullable=False),
        sa.Column("matrix_user", sa.String(length=255), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("spico_id"),
        sa.UniqueConstraint("matrix_user"),
    )
    op.create_table(
        "matrix_link_codes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("matrix_user", sa.String(length=255), nullable=False),
        sa.Column("spico_id", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("salt", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("mail_code", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("matrix_link_codes", schema=None) as batch_op:
        for column in ("matrix_user", "spico_id", "mail_code", "created_at"):
            batch_op.create_index(
                batch_op.f(f"ix_matrix_link_codes_{column}"), [column], unique=False
            )


def downgrade() -> None:
    with op.batch_alter_table("matrix_link_codes", schema=None) as batch_op:
        for column in ("matrix_user", "spico_id", "mail_code", "created_at"):
            batch_op.drop_index(batch_op.f(f"ix_matrix_link_codes_{column}"))
    op.drop_table("matrix_link_codes")
    op.drop_table("matrix_links")
