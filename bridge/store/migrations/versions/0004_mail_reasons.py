"""Mail: why each inbound mail ended as it did (``mail_messages.reason``), by Message-ID; the
answers' rate limits count the audit's ``mail.answer`` rows, so the one-per-day marker of each
address (``mail_addresses.last_refusal_reply_at``) goes.
"""

from __future__ import annotations

from alembic import op

from bridge.store.migrations.columns import moment, string

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("mail_messages", schema=None) as batch_op:
        batch_op.add_column(string("reason", 40, nullable=True))
    with op.batch_alter_table("mail_addresses", schema=None) as batch_op:
        batch_op.drop_column("last_refusal_reply_at")


def downgrade() -> None:
    with op.batch_alter_table("mail_addresses", schema=None) as batch_op:
        batch_op.add_column(moment("last_refusal_reply_at", nullable=True))
    with op.batch_alter_table("mail_messages", schema=None) as batch_op:
        batch_op.drop_column("reason")
