"""``database:``: where the journal, outbox and cursors live (SQLite by default, PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import model_validator

from bridge.config.base import Checks, Section
from bridge.config.secrets import SecretEnv, SecretFile, one_secret

DATABASE_FILE_NAME = "spico-bridge.db"


class DatabaseConfig(Section):
    """Where the journal, outbox and cursors live. SQLite by default; PostgreSQL for HA."""

    url: str | None = None
    url_file: SecretFile | None = None
    url_env: SecretEnv | None = None

    @model_validator(mode="after")
    def _check(self) -> DatabaseConfig:
        checks = Checks("database")
        secret = one_secret(self, checks, ["url"], required=False)
        if self.url is not None:
            if secret is not None:
                checks.add("url", "give url, url_file or url_env, not several")
            problem = _database_url_problem(self.url)
            if problem:
                checks.add("url", problem)
            elif urlsplit(self.url).password:
                checks.add(
                    "url",
                    "this URL contains a password: secrets are given as url_file or url_env",
                )
        elif secret is not None:
            problem = _database_url_problem(secret.get())
            if problem:  # never echo the URL itself: it holds a password
                key = "url_file" if self.url_file is not None else "url_env"
                checks.add(key, f"the URL read from {secret.source} is not valid: {problem}")
        checks.done()
        return self

    def resolved_url(self, state_dir: Path) -> str:
        """The SQLAlchemy URL: explicit, from a secret, or SQLite under ``state_dir``."""
        if self.url is not None:
            return self.url
        secret = self.url_file or self.url_env
        if secret is not None:
            return secret.get()
        return f"sqlite:///{state_dir / DATABASE_FILE_NAME}"


_DB_SCHEMES = ("sqlite", "sqlite+aiosqlite", "postgresql", "postgresql+psycopg")


def _database_url_problem(url: str) -> str | None:
    scheme = url.partition("://")[0] if "://" in url else ""
    if scheme not in _DB_SCHEMES:
        return "the scheme must be one of " + ", ".join(f"{s}://" for s in _DB_SCHEMES)
    if scheme.startswith("sqlite"):
        if not url.startswith(f"{scheme}:///") or len(url) <= len(f"{scheme}:///"):
            return "a SQLite URL is sqlite:///relative/path or sqlite:////absolute/path"
    elif not urlsplit(url).hostname and "host=" not in url:
        return "a PostgreSQL URL needs a host"
    return None
