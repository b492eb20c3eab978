"""``mail:``: the bridge's MSSanté mailbox (SMTP submission, IMAP) and the trust space."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from bridge.config.base import Checks, Section
from bridge.config.secrets import Secret, SecretEnv, SecretFile, one_secret
from bridge.config.values import (
    DomainPattern,
    EmailAddress,
    HeaderText,
    HostName,
    Port,
    PositiveFloat,
    PositiveInt,
    ReadableDir,
    ReadableFile,
    Security,
    ascii_domain,
    is_loopback_host,
)

MIN_TOKEN_KEY_BYTES = 32


class _MailTransport(Section):
    """What SMTP submission and IMAP share: host, TLS mode, authentication."""

    host: HostName
    port: Port
    security: Security = "starttls"
    username: str | None = None
    password_file: SecretFile | None = None
    password_env: SecretEnv | None = None
    ca_file: ReadableFile | None = None
    client_cert_file: ReadableFile | None = None
    client_key_file: ReadableFile | None = None
    timeout_seconds: PositiveFloat = 30

    _default_ports: ClassVar[dict[str, int]] = {}

    @model_validator(mode="before")
    @classmethod
    def _default_port(cls, data: Any) -> Any:
        if isinstance(data, dict) and "port" not in data:
            security = data.get("security", "starttls")
            port = cls._default_ports.get(security) if isinstance(security, str) else None
            if port is not None:
                data = {**data, "port": port}
        return data

    def _check_transport(self, checks: Checks) -> None:
        if self.security == "none" and not is_loopback_host(self.host):
            checks.add(
                "security",
                f"plaintext ('none') is only allowed on a loopback host, not {self.host}: "
                "use starttls or tls",
            )
        password = one_secret(self, checks, ["password"], required=False)
        if password is not None and not self.username:
            checks.add("username", "is required when a password is given")
        if self.client_key_file is not None and self.client_cert_file is None:
            checks.add("client_cert_file", "is required when client_key_file is given")
        if self.security == "none" and self.client_cert_file is not None:
            checks.add("client_cert_file", "a client certificate needs security starttls or tls")

    @property
    def password(self) -> Secret | None:
        return self.password_file or self.password_env


class SmtpConfig(_MailTransport):
    """SMTP submission (MSSanté: STARTTLS on 587, or implicit TLS on 465)."""

    _default_ports: ClassVar[dict[str, int]] = {"starttls": 587, "tls": 465, "none": 25}

    @model_validator(mode="after")
    def _check(self) -> SmtpConfig:
        checks = Checks("smtp")
        self._check_transport(checks)
        checks.done()
        return self


class ImapConfig(_MailTransport):
    """IMAP reading of the bridge's mailbox (IDLE, polling as fallback)."""

    _default_ports: ClassVar[dict[str, int]] = {"starttls": 143, "tls": 993, "none": 143}

    mailbox: str = Field(default="INBOX", min_length=1)
    processed: Literal["flag", "move"] = "flag"
    processed_folder: str | None = None
    idle: bool = True
    poll_interval_seconds: PositiveInt = 60

    @model_validator(mode="after")
    def _check(self) -> ImapConfig:
        checks = Checks("imap")
        self._check_transport(checks)
        if self.processed == "move" and not self.processed_folder:
            checks.add("processed_folder", "is required when processed is move")
        if self.processed_folder and self.processed_folder == self.mailbox:
            checks.add("processed_folder", "must differ from mailbox")
        checks.done()
        return self


class MailAuthenticationConfig(Section):
    """Who vouches for a sender: the ``Authentication-Results`` (RFC 8601) the operator's own
    receiving server writes, found by its authserv-id (``bridge/mail/authentication.py``).

    ``require``: ``dmarc`` (DMARC passed for the ``From`` domain), ``aligned`` (that, or an
    aligned DKIM or SPF pass), ``none`` (nothing checked: a local test server only).
    """

    require: Literal["dmarc", "aligned", "none"] = "dmarc"
    authserv_id: HostName | None = None


class MailLimitsConfig(Section):
    """How much work one inbound mail may cost (``bridge/mail/limits.py``): each cap is checked
    before the work it bounds; a mail over one is refused, never cut silently."""

    max_mail_bytes: PositiveInt = 40 * 1024 * 1024
    max_parts: PositiveInt = 100
    max_text_part_bytes: PositiveInt = 4 * 1024 * 1024
    max_html_bytes: PositiveInt = 2 * 1024 * 1024
    max_html_elements: PositiveInt = 20_000
    max_text_chars: PositiveInt = 100_000
    #: Wall-clock seconds the parsing worker may spend on one step of one mail; over it, the
    #: mail is set aside (kept in the mailbox, audited, marked processed).
    parse_budget_seconds: PositiveFloat = 3.0


class MailAnswersConfig(Section):
    """How often the bridge answers refused mails (only authenticated senders in the trust
    space; ``bridge/mail/answers.py``)."""

    per_address: PositiveInt = 3
    per_address_window_hours: PositiveInt = 24
    total: PositiveInt = 60
    total_window_minutes: PositiveInt = 60


class MailConfig(Section):
    """The MSSanté side: the bridge's application mailbox and the trust space.

    ``address``, ``smtp``, ``imap`` and the token key are set whenever ``enabled`` is true.
    """

    enabled: bool = True
    address: EmailAddress | None = None
    display_name: HeaderText = "SPICO"
    smtp: SmtpConfig | None = None
    imap: ImapConfig | None = None
    token_key_file: SecretFile | None = None
    token_key_env: SecretEnv | None = None
    token_ttl_days: PositiveInt = 90
    trusted_domains: tuple[DomainPattern, ...] = Field(default=("*.mssante.fr",), min_length=1)
    whitelist_file: ReadableFile | None = None
    allow_patient_mailboxes: bool = False
    mss_nil: HeaderText | None = None
    max_attachment_bytes: PositiveInt = 10 * 1024 * 1024
    #: The most files one mail may pass on to SPICO (the others are left out, and said so).
    max_attachments: PositiveInt = 10
    templates_dir: ReadableDir | None = None
    authentication: MailAuthenticationConfig = Field(default_factory=MailAuthenticationConfig)
    limits: MailLimitsConfig = Field(default_factory=MailLimitsConfig)
    answers: MailAnswersConfig = Field(default_factory=MailAnswersConfig)

    @model_validator(mode="after")
    def _check(self) -> MailConfig:
        checks = Checks("mail")
        if self.enabled:
            for key in ("address", "smtp", "imap"):
                if getattr(self, key) is None:
                    checks.add(key, "is required when mail.enabled is true")
            require = self.authentication.require
            if require != "none" and not self.authentication.authserv_id:
                checks.add(
                    "authentication.authserv_id",
                    f"is required when require is {require}: the authserv-id your receiving "
                    "mail server writes first in its Authentication-Results header (e.g. "
                    "mx.example.mssante.fr; it must also remove incoming headers carrying that "
                    "id). Only for a local test server: require: none (no sender is checked)",
                )
        key = one_secret(
            self, checks, ["token_key"], required=self.enabled, why=" (HMAC key for reply tokens)"
        )
        if key is not None and len(key.get().encode()) < MIN_TOKEN_KEY_BYTES:
            where = "token_key_file" if self.token_key_file is not None else "token_key_env"
            checks.add(
                where,
                f"the reply-token key from {key.source} must be at least "
                f"{MIN_TOKEN_KEY_BYTES} bytes (e.g. `openssl rand -base64 48`)",
            )
        checks.done()
        return self

    @property
    def token_key(self) -> Secret | None:
        return self.token_key_file or self.token_key_env

    @property
    def servers_on_loopback(self) -> bool:
        """Whether both mail servers are on this machine (a local test server)."""
        return all(
            server is None or is_loopback_host(server.host) for server in (self.smtp, self.imap)
        )

    def is_trusted(self, address: str) -> bool:
        """True when the address's domain matches ``trusted_domains`` (``*.`` = any subdomain)."""
        return matches_trusted_domains(address, self.trusted_domains)


def matches_trusted_domains(address: str, patterns: Iterable[str]) -> bool:
    """True when the address's domain matches one of ``patterns`` (``*.`` = any subdomain)."""
    domain = ascii_domain(address.rpartition("@")[2]) or ""
    for pattern in patterns:
        if pattern.startswith("*."):
            if domain.endswith(pattern[1:]):
                return True
        elif domain == pattern:
            return True
    return False
