"""Schema management on both backends: URLs, upgrades, and migrations matching the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from bridge.store import db
from bridge.store.models import Base


def test_async_and_sync_urls_pick_the_drivers() -> None:
    assert str(db.async_url("sqlite:////var/lib/b.db")) == "sqlite+aiosqlite:////var/lib/b.db"
    assert db.async_url("postgresql://u@h/d").drivername == "postgresql+psycopg"
    assert db.sync_url("postgresql+asyncpg://u@h/d").drivername == "postgresql+psycopg"
    assert db.sync_url("sqlite+aiosqlite:///x.db").drivername == "sqlite"


def test_unsupported_backend_is_refused_with_a_clear_message() -> None:
    with pytest.raises(db.UnsupportedDatabase, match="sqlite:///PATH or postgresql://"):
        db.async_url("mysql://root@localhost/x")


def test_upgrade_reaches_head_and_is_idempotent(database_url: str) -> None:
    heads = ScriptDirectory.from_config(db.alembic_config(database_url)).get_heads()
    assert len(heads) == 1, "migration branches must be merged before a release"
    head = heads[0]
    assert db.current_revision(database_url) == head
    db.upgrade(database_url)
    assert db.current_revision(database_url) == head


def test_migrations_match_the_models(database_url: str) -> None:
    """A model change without its migration fails here (autogenerate finds a difference)."""
    engine = db.make_sync_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'state' / 'bridge.db'}"
    db.upgrade(url)
    engine = db.make_sync_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        engine.dispose()
