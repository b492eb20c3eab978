"""Initial schema: cursors, journal, conversations, professionals, outbox, inbound links, audit."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bridge.store.migrations.columns import (
    create_table,
    drop_table,
    flag,
    json,
    moment,
    serial,
    string,
    text,
)

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_table(
        "audit",
        serial(),
        moment("at"),
        string("actor_id", 32, nullable=True),
        string("conversation_id", 64, nullable=True),
        string("world", 16),
        string("destination", 320, nullable=True),
        string("action", 40),
        string("outcome", 16),
        text("detail", nullable=True),
        sa.PrimaryKeyConstraint("id"),
        indexed=("at",),
    )
    create_table(
        "conversations",
        string("id", 64),
        text("subject"),
        string("created_by", 32, nullable=True),
        json("members"),
        json("patient", nullable=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        moment("updated_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    create_table(
        "cursors",
        string("source", 200),
        text("value"),
        moment("updated_at"),
        sa.PrimaryKeyConstraint("source"),
    )
    create_table(
        "inbound_links",
        string("idempotency_key", 200),
        string("world", 16),
        string("origin", 320),
        string("conversation_id", 64),
        string("author_id", 32),
        string("spico_message_id", 64, nullable=True),
        string("state", 16),
        moment("created_at"),
        moment("posted_at", nullable=True),
        sa.PrimaryKeyConstraint("idempotency_key"),
        indexed=("conversation_id", "spico_message_id"),
    )
    create_table(
        "journal",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        string("type", 64),
        string("conversation_id", 64, nullable=True),
        string("actor_id", 32, nullable=True),
        string("occurred_at", 40),
        json("payload"),
        moment("recorded_at"),
        sa.PrimaryKeyConstraint("seq"),
        indexed=("conversation_id",),
    )
    create_table(
        "professionals",
        string("id", 32),
        string("civility", 16, nullable=True),
        string("first_name", 100),
        string("last_name", 100),
        string("profession", 100, nullable=True),
        string("mssante_address", 320, nullable=True),
        string("status", 16, nullable=True),
        flag("has_account"),
        moment("updated_at"),
        sa.PrimaryKeyConstraint("id"),
        indexed=("mssante_address",),
    )
    create_table(
        "deliveries",
        serial(),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        string("conversation_id", 64),
        string("world", 16),
        string("destination", 320),
        string("kind", 40),
        string("queue", 400),
        string("state", 16),
        sa.Column("attempts", sa.Integer(), nullable=False),
        moment("next_attempt_at"),
        text("last_error", nullable=True),
        string("claimed_by", 100, nullable=True),
        moment("lease_until", nullable=True),
        moment("created_at"),
        moment("finished_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["event_seq"],
            ["journal.seq"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "event_seq", "destination", "kind", name="uq_delivery_event_destination"
        ),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_queue", ["queue", "id"], unique=False)
        batch_op.create_index("ix_deliveries_state_due", ["state", "next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_state_due")
        batch_op.drop_index("ix_deliveries_queue")

    drop_table("deliveries")
    drop_table("professionals", indexed=("mssante_address",))
    drop_table("journal", indexed=("conversation_id",))
    drop_table("inbound_links", indexed=("conversation_id", "spico_message_id"))
    drop_table("cursors")
    drop_table("conversations")
    drop_table("audit", indexed=("at",))
