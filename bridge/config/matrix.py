"""``matrix:``: the homeserver, the relay bot (or appservice), rooms and encryption."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import field_validator, model_validator

from bridge.config.base import Checks, Section, fail
from bridge.config.secrets import Secret, SecretEnv, SecretFile, one_secret
from bridge.config.values import (
    BridgeExisting,
    HostName,
    HttpUrl,
    Language,
    LocalPath,
    MatrixUserId,
    Port,
    PositiveInt,
    ReadableFile,
    ServerName,
    is_plain_http_to_remote,
)

_APPSERVICE_LOCALPART_RE = re.compile(r"^[a-z0-9._=/-]+$")


class MatrixAppserviceConfig(Section):
    """Application-service mode: tokens shared with the homeserver and the listener."""

    as_token_file: SecretFile | None = None
    as_token_env: SecretEnv | None = None
    hs_token_file: SecretFile | None = None
    hs_token_env: SecretEnv | None = None
    listen_host: HostName = "127.0.0.1"
    listen_port: Port = 29328
    user_prefix: str = "spico_"

    @field_validator("user_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if not _APPSERVICE_LOCALPART_RE.match(value):
            raise fail("a Matrix localpart prefix uses only a-z, 0-9 and . _ = - /")
        return value

    @model_validator(mode="after")
    def _check(self) -> MatrixAppserviceConfig:
        checks = Checks("appservice")
        one_secret(self, checks, ["as_token"], required=True)
        one_secret(self, checks, ["hs_token"], required=True)
        checks.done()
        return self

    @property
    def as_token(self) -> Secret:
        secret = self.as_token_file or self.as_token_env
        assert secret is not None
        return secret

    @property
    def hs_token(self) -> Secret:
        secret = self.hs_token_file or self.hs_token_env
        assert secret is not None
        return secret


class SelfServiceConfig(Section):
    """``lier``: professionals link their own Matrix account by proving their MSSanté mailbox
    (a one-time code mailed to the address the SPICO directory holds)."""

    enabled: bool = False
    #: Homeservers whose users may link (empty: the bridge's own ``server_name`` only).
    allowed_servers: tuple[ServerName, ...] = ()


class MatrixConfig(Section):
    """The Matrix side. ``homeserver``, ``server_name`` and ``bot_user_id`` are set when enabled."""

    enabled: bool = True
    homeserver: HttpUrl | None = None
    #: The CA that signs the homeserver's certificate, when not a public one.
    ca_file: ReadableFile | None = None
    server_name: ServerName | None = None
    mode: Literal["relay", "appservice"] = "relay"
    bot_user_id: MatrixUserId | None = None
    password_file: SecretFile | None = None
    password_env: SecretEnv | None = None
    access_token_file: SecretFile | None = None
    access_token_env: SecretEnv | None = None
    federate: bool = False
    encryption: bool = False
    #: End-to-end encryption: where the bot's Olm/Megolm keys live (default
    #: ``<state_dir>/matrix-crypto``) and the key that encrypts them at rest (optional: a random
    #: key is generated next to the store when none is given).
    crypto_store: LocalPath | None = None
    crypto_pickle_key_file: SecretFile | None = None
    crypto_pickle_key_env: SecretEnv | None = None
    patient_spaces: bool = False
    bridge_existing: BridgeExisting = "new"
    command_prefix: str = "!spico"
    language: Language = "fr"
    #: The largest file relayed either way (Matrix → SPICO downloads, SPICO → Matrix uploads);
    #: SPICO's own limit is 10 MB.
    max_file_bytes: PositiveInt = 10 * 1024 * 1024
    appservice: MatrixAppserviceConfig | None = None
    self_service: SelfServiceConfig = SelfServiceConfig()

    @field_validator("command_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if not value or any(c.isspace() for c in value):
            raise fail("a command prefix is one non-empty word, like !spico")
        return value

    @model_validator(mode="after")
    def _check(self) -> MatrixConfig:
        checks = Checks("matrix")
        if self.enabled:
            for key in ("homeserver", "server_name", "bot_user_id"):
                if getattr(self, key) is None:
                    checks.add(key, "is required when matrix.enabled is true")
            if self.mode == "relay":
                one_secret(
                    self,
                    checks,
                    ["password", "access_token"],
                    required=True,
                    why=" (the relay bot's credentials)",
                )
            elif self.appservice is None:
                checks.add("appservice", "is required when matrix.mode is appservice")
        one_secret(self, checks, ["crypto_pickle_key"], required=False)
        if self.homeserver and is_plain_http_to_remote(self.homeserver):
            checks.add(
                "homeserver",
                f"plain http:// is only allowed to a loopback host, not "
                f"{urlsplit(self.homeserver).hostname}: use https:// (and ca_file for a private "
                "CA)",
            )
        if self.bot_user_id and self.server_name:
            bot_server = self.bot_user_id.split(":", 1)[1]
            if bot_server != self.server_name:
                checks.add(
                    "bot_user_id",
                    f"the bot is on server {bot_server} but matrix.server_name is "
                    f"{self.server_name}",
                )
        checks.done()
        return self

    @property
    def bot_credential(self) -> Secret | None:
        """Relay mode: the bot's password or access token (see ``uses_access_token``)."""
        return (
            self.access_token_file
            or self.access_token_env
            or self.password_file
            or self.password_env
        )

    @property
    def uses_access_token(self) -> bool:
        return self.access_token_file is not None or self.access_token_env is not None

    @property
    def crypto_pickle_key(self) -> Secret | None:
        """The passphrase encrypting the Olm/Megolm store, when the admin gives one."""
        return self.crypto_pickle_key_file or self.crypto_pickle_key_env

    def crypto_store_dir(self, state_dir: Path) -> Path:
        """Where the bot's end-to-end keys are kept (only used when ``encryption`` is true)."""
        return self.crypto_store or state_dir / "matrix-crypto"
