"""World tables: Matrix portals, spaces and event links; mail threads, messages, addresses,
notifications.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 19:59:10.397345
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_addresses",
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("failing", sa.Boolean(), nullable=False),
        sa.Column("last_bounce_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_refusal_reply_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("address"),
    )
    op.create_table(
        "mail_messages",
        sa.Column("message_id", sa.String(length=400), nullable=False),
        sa.Column("conversation_id", sa.String(length=64), nullable=True),
        sa.Column("member_id", sa.String(length=32), nullable=True),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("verdict", sa.String(length=32), nullable=True),
        sa.Column("spico_message_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id"),
    )
    with op.batch_alter_table("mail_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mail_messages_conversation_id"), ["conversation_id"], unique=False
        )

    op.create_table(
        "mail_notifications",
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=False),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pending", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", "member_id"),
    )
    op.create_table(
        "mail_threads",
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("root_message_id", sa.String(length=400), nullable=False),
        sa.Column("last_message_id", sa.String(length=400), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", "member_id"),
    )
    op.create_table(
        "matrix_event_links",
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("room_id", sa.String(length=255), nullable=False),
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("spico_message_id", sa.String(length=64), nullable=True),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    with op.batch_alter_table("matrix_event_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_matrix_event_links_conversation_id"), ["conversation_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_matrix_event_links_spico_message_id"), ["spico_message_id"], unique=False
        )

    op.create_table(
        "matrix_patient_spaces",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("room_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("patient_id"),
        sa.UniqueConstraint("room_id"),
    )
    op.create_table(
        "matrix_portals",
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("room_id", sa.String(length=255), nullable=False),
        sa.Column("state_digest", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id"),
        sa.UniqueConstraint("room_id"),
    )


def downgrade() -> None:
    op.drop_table("matrix_portals")
    op.drop_table("matrix_patient_spaces")
    with op.batch_alter_table("matrix_event_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_matrix_event_links_spico_message_id"))
        batch_op.drop_index(batch_op.f("ix_matrix_event_links_conversation_id"))

    op.drop_table("matrix_event_links")
    op.drop_table("mail_threads")
    op.drop_table("mail_notifications")
    with op.batch_alter_table("mail_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_messages_conversation_id"))

    op.drop_table("mail_messages")
    op.drop_table("mail_addresses")
