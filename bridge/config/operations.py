"""How the daemon runs: ``delivery:`` (outbox workers, retries), ``logging:``, ``audit:``,
``http:`` (metrics, health) and ``testing:`` (the project's own tests only)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from bridge.config.base import Checks, Section
from bridge.config.values import HostName, LocalPath, Port, PositiveFloat, PositiveInt


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


class DeliveryConfig(Section):
    """Outbox workers and retry policy (exponential backoff with jitter)."""

    workers: PositiveInt = 4
    max_attempts: PositiveInt = 10
    backoff_initial_seconds: PositiveFloat = 1
    backoff_max_seconds: PositiveFloat = 300

    @model_validator(mode="after")
    def _check(self) -> DeliveryConfig:
        checks = Checks("delivery")
        if self.backoff_max_seconds < self.backoff_initial_seconds:
            checks.add("backoff_max_seconds", "must be at least backoff_initial_seconds")
        checks.done()
        return self


class LoggingConfig(Section):
    level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)] = "INFO"
    format: Literal["text", "json"] = "text"


class AuditConfig(Section):
    """The audit trail: one row per relay and per refusal (no bodies, no patient identities)."""

    retention_days: PositiveInt = 180


class HttpConfig(Section):
    """Metrics and health/readiness endpoint."""

    listen_host: HostName = "127.0.0.1"
    listen_port: Port = 9464


class TestingConfig(Section):
    """For the project's own tests and benchmarks only: never set this in production.

    ``recording_sink`` replaces the Matrix and mail adapters by a sink that records what it
    receives in an SQLite file (an idempotent destination, like a Matrix room with transaction
    ids); ``failure_rate`` makes it fail at random so retries are exercised, and
    ``fail_permanently`` makes it refuse some destinations for good.
    """

    recording_sink: LocalPath | None = None
    failure_rate: float = Field(default=0.0, ge=0.0, lt=1.0)
    #: Destinations ("world:destination") the recording sink refuses for good.
    fail_permanently: tuple[str, ...] = ()
    worlds: tuple[Literal["matrix", "mail"], ...] = ("matrix", "mail")
    #: Matrix appservice mode: while this file exists, a transaction pushed by the homeserver
    #: waits before being journaled (to kill the bridge between receiving and journaling).
    appservice_hold_file: LocalPath | None = None
