"""What the revisions write alike: the column kinds of this schema, and a table with its indexes.

Each revision stays a plain list of tables; these helpers only spell once what every table
repeats (a timezone-aware moment, a bounded string, an index named ``ix_<table>_<column>``),
so a revision reads as what it adds and its downgrade as its mirror.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


def string(name: str, length: int, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(length=length), nullable=nullable)


def moment(name: str, *, nullable: bool = False) -> sa.Column:
    """A timezone-aware timestamp (``created_at``, ``updated_at``…)."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def text(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=nullable)


def json(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.JSON(), nullable=nullable)


def flag(name: str) -> sa.Column:
    return sa.Column(name, sa.Boolean(), nullable=False)


def serial(name: str = "id") -> sa.Column:
    """An auto-incremented key: BIGINT, but INTEGER on SQLite (only it auto-increments there)."""
    return sa.Column(
        name,
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def create_table(name: str, *parts: sa.SchemaItem, indexed: Sequence[str] = ()) -> None:
    """The table, then one plain index per column of ``indexed`` (``ix_<table>_<column>``)."""
    op.create_table(name, *parts)
    if indexed:
        with op.batch_alter_table(name, schema=None) as batch_op:
            for column in indexed:
                batch_op.create_index(batch_op.f(f"ix_{name}_{column}"), [column], unique=False)


def drop_table(name: str, *, indexed: Sequence[str] = ()) -> None:
    """The mirror of ``create_table``: its indexes (last first), then the table."""
    if indexed:
        with op.batch_alter_table(name, schema=None) as batch_op:
            for column in reversed(indexed):
                batch_op.drop_index(batch_op.f(f"ix_{name}_{column}"))
    op.drop_table(name)
