"""World tables: Matrix portals, spaces and event links; mail threads, messages, addresses,
notifications.
"""

from __future__ import annotations

import sqlalchemy as sa

from bridge.store.migrations.columns import create_table, drop_table, flag, json, moment, string

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    create_table(
        "mail_addresses",
        string("address", 320),
        flag("failing"),
        moment("last_bounce_at", nullable=True),
        moment("last_refusal_reply_at", nullable=True),
        moment("updated_at"),
        sa.PrimaryKeyConstraint("address"),
    )
    create_table(
        "mail_messages",
        string("message_id", 400),
        string("conversation_id", 64, nullable=True),
        string("member_id", 32, nullable=True),
        string("direction", 8),
        string("verdict", 32, nullable=True),
        string("spico_message_id", 64, nullable=True),
        moment("created_at"),
        sa.PrimaryKeyConstraint("message_id"),
        indexed=("conversation_id",),
    )
    create_table(
        "mail_notifications",
        string("conversation_id", 64),
        string("member_id", 32),
        moment("last_sent_at", nullable=True),
        json("pending"),
        moment("updated_at"),
        sa.PrimaryKeyConstraint("conversation_id", "member_id"),
    )
    create_table(
        "mail_threads",
        string("conversation_id", 64),
        string("member_id", 32),
        string("address", 320),
        string("root_message_id", 400),
        string("last_message_id", 400),
        moment("created_at"),
        moment("updated_at"),
        sa.PrimaryKeyConstraint("conversation_id", "member_id"),
    )
    create_table(
        "matrix_event_links",
        string("event_id", 255),
        string("room_id", 255),
        string("conversation_id", 64),
        string("spico_message_id", 64, nullable=True),
        string("direction", 8),
        moment("created_at"),
        sa.PrimaryKeyConstraint("event_id"),
        indexed=("conversation_id", "spico_message_id"),
    )
    create_table(
        "matrix_patient_spaces",
        string("patient_id", 64),
        string("room_id", 255),
        moment("created_at"),
        sa.PrimaryKeyConstraint("patient_id"),
        sa.UniqueConstraint("room_id"),
    )
    create_table(
        "matrix_portals",
        string("conversation_id", 64),
        string("room_id", 255),
        string("state_digest", 64, nullable=True),
        moment("created_at"),
        moment("updated_at"),
        sa.PrimaryKeyConstraint("conversation_id"),
        sa.UniqueConstraint("room_id"),
    )


def downgrade() -> None:
    drop_table("matrix_portals")
    drop_table("matrix_patient_spaces")
    drop_table("matrix_event_links", indexed=("conversation_id", "spico_message_id"))
    drop_table("mail_threads")
    drop_table("mail_notifications")
    drop_table("mail_messages", indexed=("conversation_id",))
    drop_table("mail_addresses")
