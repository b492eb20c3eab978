"""Self-service links: Matrix accounts linked by their professional (``lier``), and the
one-time codes mailed to prove the MSSanté mailbox.
"""

from __future__ import annotations

import sqlalchemy as sa

from bridge.store.migrations.columns import create_table, drop_table, moment, serial, string

revision = "0006"
down_revision = "0005"

CODE_INDEXES = ("matrix_user", "spico_id", "mail_code", "created_at")


def upgrade() -> None:
    create_table(
        "matrix_links",
        string("spico_id", 32),
        string("matrix_user", 255),
        moment("linked_at"),
        sa.PrimaryKeyConstraint("spico_id"),
        sa.UniqueConstraint("matrix_user"),
    )
    create_table(
        "matrix_link_codes",
        serial(),
        string("matrix_user", 255),
        string("spico_id", 32),
        string("address", 320),
        string("digest", 64),
        string("salt", 32),
        string("language", 8),
        string("mail_code", 16, nullable=True),
        moment("created_at"),
        moment("expires_at"),
        sa.Column("tries", sa.Integer(), nullable=False),
        string("state", 16),
        sa.PrimaryKeyConstraint("id"),
        indexed=CODE_INDEXES,
    )


def downgrade() -> None:
    drop_table("matrix_link_codes", indexed=CODE_INDEXES)
    drop_table("matrix_links")
