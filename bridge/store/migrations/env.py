"""Alembic environment: runs migrations on the synchronous driver for the configured URL."""

from __future__ import annotations

from alembic import context

from bridge.store.db import make_sync_engine, sync_url
from bridge.store.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> object:
    """The URL given in code by bridge.store.db, or with `-x url=…` on the alembic command line."""
    if "sync_url" in config.attributes:
        return config.attributes["sync_url"]
    return sync_url(context.get_x_argument(as_dictionary=True)["url"])


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_sync_engine(_url())
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection, target_metadata=target_metadata, render_as_batch=True
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
