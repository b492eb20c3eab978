"""Mail preferences: a member's own choice for every conversation (``mail_preferences``) and
for one (``mail_conversation_choices``: stop or follow).
"""

from __future__ import annotations

import sqlalchemy as sa

from bridge.store.migrations.columns import create_table, drop_table, moment, string

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    create_table(
        "mail_preferences",
        string("member_id", 32),
        string("choice", 16),
        moment("updated_at"),
        sa.PrimaryKeyConstraint("member_id"),
    )
    create_table(
        "mail_conversation_choices",
        string("conversation_id", 64),
        string("member_id", 32),
        string("choice", 16),
        moment("updated_at"),
        sa.PrimaryKeyConstraint("conversation_id", "member_id"),
    )


def downgrade() -> None:
    drop_table("mail_conversation_choices")
    drop_table("mail_preferences")
