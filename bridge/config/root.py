"""The whole configuration, :class:`BridgeConfig`: one field per section."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, ValidationError, model_validator
from pydantic_core import InitErrorDetails

from bridge.config.base import Section, fail
from bridge.config.database import DatabaseConfig
from bridge.config.mail import MailConfig
from bridge.config.matrix import MatrixConfig
from bridge.config.operations import (
    AuditConfig,
    DeliveryConfig,
    HttpConfig,
    LoggingConfig,
    TestingConfig,
)
from bridge.config.participants import ParticipantConfig
from bridge.config.policy import NotificationsConfig, PolicyConfig
from bridge.config.problems import ConfigProblem
from bridge.config.spico import SpicoConfig
from bridge.config.values import LocalPath

DEFAULT_STATE_DIR = Path("/var/lib/spico-bridge")


def _disabled_matrix() -> MatrixConfig:
    return MatrixConfig(enabled=False)


def _disabled_mail() -> MailConfig:
    return MailConfig(enabled=False)


class BridgeConfig(Section):
    """The whole configuration. Build it with :func:`load_config` (which adds warnings)."""

    state_dir: LocalPath = DEFAULT_STATE_DIR
    database: DatabaseConfig = DatabaseConfig()
    spico: SpicoConfig
    matrix: MatrixConfig = Field(default_factory=_disabled_matrix)
    mail: MailConfig = Field(default_factory=_disabled_mail)
    notifications: NotificationsConfig = NotificationsConfig()
    policy: PolicyConfig = PolicyConfig()
    participants: tuple[ParticipantConfig, ...] = ()
    delivery: DeliveryConfig = DeliveryConfig()
    logging: LoggingConfig = LoggingConfig()
    http: HttpConfig = HttpConfig()
    audit: AuditConfig = AuditConfig()
    testing: TestingConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        """A section whose keys are all commented out (``matrix:`` alone) counts as absent."""
        if isinstance(data, dict):
            data = {key: value for key, value in data.items() if value is not None}
        return data

    @model_validator(mode="after")
    def _real_users_outside_the_ghosts(self) -> BridgeConfig:
        """In appservice mode every ``@<prefix>…`` user is a ghost the bridge owns: a real
        account mapped there would be one the homeserver refuses to let anyone else hold."""
        matrix = self.matrix
        if not (matrix.enabled and matrix.mode == "appservice" and matrix.appservice):
            return self
        namespace = re.compile(matrix.appservice.ghost_regex(matrix.server_name or ""))
        errors = [
            InitErrorDetails(
                type=fail(
                    "is in the ghosts' namespace (matrix.appservice.user_prefix "
                    f"{matrix.appservice.user_prefix!r}): map the professional's own account"
                ),
                loc=("participants", index, "matrix_user"),
                input=None,
            )
            for index, participant in enumerate(self.participants)
            if participant.matrix_user and namespace.fullmatch(participant.matrix_user)
        ]
        if errors:
            raise ValidationError.from_exception_data("bridge", errors)
        return self

    _warnings: tuple[ConfigProblem, ...] = PrivateAttr(default=())
    _source: str | None = PrivateAttr(default=None)

    @property
    def database_url(self) -> str:
        """The resolved SQLAlchemy URL (may hold a password: do not log it)."""
        return self.database.resolved_url(self.state_dir)

    @property
    def warnings(self) -> tuple[str, ...]:
        """Non-fatal findings as ``FILE:LINE: key.path: warning: …`` lines, ready to log."""
        return tuple(str(w) for w in self._warnings)

    @property
    def warning_problems(self) -> tuple[ConfigProblem, ...]:
        return self._warnings

    @property
    def source(self) -> str | None:
        """The file this configuration was loaded from (for reloads on SIGHUP)."""
        return self._source
