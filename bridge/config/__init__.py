"""YAML configuration → validated, typed, immutable :class:`BridgeConfig`.

Why this package is more than ``yaml.safe_load`` + pydantic: admins edit the file by hand and run
``spico-bridge check-config``; every problem must come back at once, as ``FILE:LINE: key.path:
message``. So the YAML node tree is walked to map each key path to its line (and to refuse
duplicate keys, which PyYAML silently overwrites), pydantic error locations are mapped onto those
paths, and cross-entry checks (duplicate participants) run on the raw data so they are reported
even when other sections are broken.

Rules worth knowing:

* Unknown keys are errors (typos must not be silently ignored).
* Secrets are never written in the YAML: each is ``<name>_file`` (a file whose stripped content
  is the secret) or ``<name>_env`` (an environment variable name). They are read at load time, so
  a missing file or variable is a configuration error, and held as :class:`pydantic.SecretStr`.
* Relative paths are resolved against the current working directory at load time (not against
  the config file's directory), then kept absolute.
* A section ``matrix:`` or ``mail:`` that is absent disables that world; once present, its
  ``enabled`` defaults to true and its required keys apply.

Layout: ``loading`` (``load_config``) reads with ``yaml_reader`` (lines of key paths), reports
through ``problems`` (``ConfigProblem``, ``ConfigError``, pydantic errors → lines), validates
``root.BridgeConfig`` (one schema module per section: ``database``, ``spico``, ``matrix``,
``mail``, ``policy``, ``participants``, ``operations``; shared ``base``, ``values``,
``secrets``), then adds ``cross_checks`` and ``semantic_warnings``; ``command`` is
``check-config``. Import from ``bridge.config`` itself: the modules are its inside.
"""

from __future__ import annotations

from bridge.config.command import check_config_command
from bridge.config.database import DatabaseConfig
from bridge.config.loading import load_config
from bridge.config.mail import ImapConfig, MailConfig, SmtpConfig, matches_trusted_domains
from bridge.config.matrix import MatrixAppserviceConfig, MatrixConfig
from bridge.config.operations import (
    AuditConfig,
    DeliveryConfig,
    HttpConfig,
    LoggingConfig,
    TestingConfig,
)
from bridge.config.participants import ParticipantConfig
from bridge.config.policy import NotificationsConfig, PolicyConfig
from bridge.config.problems import ConfigError, ConfigProblem
from bridge.config.root import BridgeConfig
from bridge.config.secrets import Secret
from bridge.config.spico import SpicoConfig
from bridge.config.values import (
    BridgeExisting,
    Language,
    PatientTag,
    ascii_domain,
    is_loopback_host,
)

__all__ = [
    "AuditConfig",
    "BridgeConfig",
    "BridgeExisting",
    "ConfigError",
    "ConfigProblem",
    "DatabaseConfig",
    "DeliveryConfig",
    "HttpConfig",
    "ImapConfig",
    "Language",
    "LoggingConfig",
    "MailConfig",
    "MatrixAppserviceConfig",
    "MatrixConfig",
    "NotificationsConfig",
    "ParticipantConfig",
    "PatientTag",
    "PolicyConfig",
    "Secret",
    "SmtpConfig",
    "SpicoConfig",
    "TestingConfig",
    "ascii_domain",
    "check_config_command",
    "is_loopback_host",
    "load_config",
    "matches_trusted_domains",
]
