"""``matrix:``: the homeserver, the relay bot (or appservice), rooms and encryption."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import field_validator, model_validator

from bridge.config.base import Checks, Section, fail
from bridge.config.secrets import (
    UNSET_PLACEHOLDER,
    Secret,
    SecretEnv,
    SecretFile,
    one_secret,
)
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
#: Listening on every interface: the homeserver's address for the bridge must then be given.
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
#: Why appservice mode does not encrypt (check-config says it, the README too).
APPSERVICE_ENCRYPTION_REFUSAL = (
    "is not supported with mode: appservice: the ghosts have no devices of their own, so "
    "their messages could not be encrypted and a bot-only device would make members see every "
    "professional's message as sent from an unverified device. Use mode: relay for encrypted "
    "portals, or encryption: false in appservice mode (the homeserver then holds the messages "
    "like any unencrypted room: keep it on HDS hosting)"
)


class MatrixAppserviceConfig(Section):
    """Application-service mode: tokens shared with the homeserver and the listener."""

    as_token_file: SecretFile | None = None
    as_token_env: SecretEnv | None = None
    hs_token_file: SecretFile | None = None
    hs_token_env: SecretEnv | None = None
    listen_host: HostName = "127.0.0.1"
    listen_port: Port = 29328
    #: The address the homeserver reaches the listener at (registration ``url``); default
    #: ``http://<listen_host>:<listen_port>``.
    url: HttpUrl | None = None
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
        tokens = {s.get() for s in (self.as_token_file, self.as_token_env) if s is not None} & {
            s.get() for s in (self.hs_token_file, self.hs_token_env) if s is not None
        }
        if tokens - {UNSET_PLACEHOLDER}:
            checks.add(
                "hs_token_file" if self.hs_token_file else "hs_token_env",
                "must differ from as_token: the homeserver proves itself with hs_token and the "
                "bridge with as_token, one must not open the other's door",
            )
        if self.url is None and self.listen_host in WILDCARD_HOSTS:
            checks.add(
                "url",
                f"is required when listen_host is {self.listen_host}: the address the homeserver "
                "reaches the bridge at (it goes into the registration file)",
            )
        elif is_plain_http_to_remote(self.homeserver_url):
            checks.add(
                "url" if self.url else "listen_host",
                "the homeserver would send hs_token and every event over plain http:// to "
                "another host: listen on loopback, or put a TLS proxy in front and give its "
                "https:// url",
            )
        checks.done()
        return self

    @property
    def homeserver_url(self) -> str:
        """Where the homeserver pushes transactions (the registration's ``url``)."""
        if self.url:
            return self.url
        host = f"[{self.listen_host}]" if ":" in self.listen_host else self.listen_host
        return f"http://{host}:{self.listen_port}"

    def ghost_user_id(self, id_nat: str, server_name: str) -> str:
        """A professional's ghost: ``@<prefix><idNat>:server`` (localparts are lower case)."""
        return f"@{self.user_prefix}{id_nat.lower()}:{server_name}"

    def ghost_regex(self, server_name: str) -> str:
        """The users namespace the bridge holds exclusively (every ``@<prefix>…`` user)."""
        return f"@{re.escape(self.user_prefix)}.+:{re.escape(server_name)}"

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
            if self.mode == "appservice" and self.encryption:
                checks.add("encryption", APPSERVICE_ENCRYPTION_REFUSAL)
            if self.mode == "appservice" and self.appservice and self.bot_user_id:
                bot = self.bot_user_id[1:].split(":", 1)[0]
                if bot.startswith(self.appservice.user_prefix):
                    checks.add(
                        "bot_user_id",
                        f"the bot's localpart starts with the ghosts' prefix "
                        f"{self.appservice.user_prefix!r}: it would be taken for a professional",
                    )
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
