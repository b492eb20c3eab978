"""YAML configuration → validated, typed, immutable :class:`BridgeConfig`.

Why this module is more than ``yaml.safe_load`` + pydantic: admins edit the file by hand and run
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
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from bridge.core.identifiers import IdentifierError, parse_id_nat

__all__ = [
    "BridgeConfig",
    "ConfigError",
    "ConfigProblem",
    "DatabaseConfig",
    "DeliveryConfig",
    "HttpConfig",
    "ImapConfig",
    "LoggingConfig",
    "MailConfig",
    "MatrixAppserviceConfig",
    "MatrixConfig",
    "NotificationsConfig",
    "ParticipantConfig",
    "PolicyConfig",
    "Secret",
    "SmtpConfig",
    "SpicoConfig",
    "check_config_command",
    "is_loopback_host",
    "load_config",
]

ROOT_PATH = "<root>"
MIN_TOKEN_KEY_BYTES = 32
PATIENT_MAIL_DOMAIN = "patient.mssante.fr"
DEFAULT_STATE_DIR = Path("/var/lib/spico-bridge")
DATABASE_FILE_NAME = "spico-bridge.db"


# --------------------------------------------------------------------------------------------
# Problems


@dataclass(frozen=True)
class ConfigProblem:
    """One configuration problem (or warning), located by file, line and key path."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.path}: {self.message}"


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` lists every problem found, in line order."""

    def __init__(
        self, problems: Iterable[ConfigProblem], warnings: Iterable[ConfigProblem] = ()
    ) -> None:
        self.problems: list[ConfigProblem] = sorted(problems, key=lambda p: (p.line, p.path))
        self.warnings: list[ConfigProblem] = sorted(warnings, key=lambda p: (p.line, p.path))
        super().__init__("\n".join(str(p) for p in self.problems))


# --------------------------------------------------------------------------------------------
# Secrets


@dataclass(frozen=True)
class Secret:
    """A secret read at load time; ``source`` says where from and is safe to log."""

    source: str
    value: SecretStr = field(repr=False)

    def get(self) -> str:
        """The secret itself: hand it to the library that needs it, never to a log."""
        return self.value.get_secret_value()

    def __str__(self) -> str:
        return f"<secret from {self.source}>"


def _fail(message: str) -> PydanticCustomError:
    """A validation error whose message is exactly ``message`` (no 'Value error,' prefix)."""
    return PydanticCustomError("config", "{message}", {"message": message})


def _absolute(path: Path) -> Path:
    """Relative paths are relative to the working directory at load time (documented)."""
    return path.expanduser().absolute()


def _environ(info: ValidationInfo) -> Mapping[str, str]:
    context = info.context or {}
    env = context.get("environ")
    return os.environ if env is None else env


def _load_file_secret(value: Any, info: ValidationInfo) -> Secret:
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str) or not value.strip():
        raise _fail("expected the path of a file holding the secret")
    path = _absolute(Path(value))
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _fail(f"secret file {path} does not exist") from None
    except IsADirectoryError:
        raise _fail(f"secret file {path} is a directory, not a file") from None
    except PermissionError:
        raise _fail(f"secret file {path} cannot be read (permission denied)") from None
    except OSError as exc:
        raise _fail(f"secret file {path} cannot be read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise _fail(f"secret file {path} is not UTF-8 text") from None
    if not text:
        raise _fail(f"secret file {path} is empty")
    return Secret(f"file {path}", SecretStr(text))


_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _load_env_secret(value: Any, info: ValidationInfo) -> Secret:
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str) or not _ENV_NAME_RE.match(value):
        raise _fail("expected the name of an environment variable (letters, digits, '_')")
    text = _environ(info).get(value)
    if text is None:
        raise _fail(f"environment variable {value} is not set")
    if not text.strip():
        raise _fail(f"environment variable {value} is empty")
    return Secret(f"environment variable {value}", SecretStr(text.strip()))


# Dumped as "<secret from …>", so model_dump() and JSON exports never carry the value.
_SECRET_SERIALIZER = PlainSerializer(str, return_type=str)
SecretFile = Annotated[Secret, PlainValidator(_load_file_secret), _SECRET_SERIALIZER]
SecretEnv = Annotated[Secret, PlainValidator(_load_env_secret), _SECRET_SERIALIZER]


# --------------------------------------------------------------------------------------------
# Value types


_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")


def _ascii_domain(value: str) -> str | None:
    """Lower-case IDNA form of a domain name, or None when it is not one."""
    text = value.strip().lower().rstrip(".")
    try:
        ascii_text = text.encode("idna").decode("ascii") if text else ""
    except UnicodeError:
        return None
    return ascii_text if _HOSTNAME_RE.match(ascii_text) else None


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return False
    return True


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses: the only hosts where plaintext is allowed."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _check_host(value: str) -> str:
    if _is_ip(value) or _ascii_domain(value) is not None:
        return value.strip()
    raise _fail(f"{value!r} is not a host name or IP address")


_SERVER_NAME_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[^:\[\]\s]+)(?::(\d{1,5}))?$")


def _check_server_name(value: str) -> str:
    match = _SERVER_NAME_RE.match(value.strip())
    host, port = match.groups() if match else ("", None)
    if (
        not match
        or (port is not None and not 0 < int(port) < 65536)
        or not (_is_ip(host) or _ascii_domain(host))
    ):
        raise _fail(f"{value!r} is not a Matrix server name (host or host:port)")
    return value.strip()


def _check_http_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https"):
        raise _fail(f"{value!r} is not an http:// or https:// URL")
    if not parts.hostname:
        raise _fail(f"{value!r} has no host")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise _fail(f"{value!r} has an invalid port") from None
    if parts.username or parts.password:
        raise _fail("credentials are not allowed in a URL: use the *_file / *_env secret keys")
    return value.strip().rstrip("/")


_MXID_RE = re.compile(r"^@([^\s:@]+):(\S+)$")


def _check_matrix_user(value: str) -> str:
    match = _MXID_RE.match(value.strip())
    if not match:
        raise _fail(f"{value!r} is not a Matrix user id like @name:server")
    try:
        _check_server_name(match.group(2))
    except PydanticCustomError:
        raise _fail(f"{value!r} is not a Matrix user id like @name:server") from None
    return value.strip()


_LOCAL_PART_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")


def _check_email(value: str) -> str:
    local, at, domain = value.strip().rpartition("@")
    ascii_domain = _ascii_domain(domain) if at else None
    if not local or not _LOCAL_PART_RE.match(local) or not ascii_domain or "." not in ascii_domain:
        raise _fail(f"{value!r} is not an e-mail address")
    return f"{local}@{ascii_domain}"


def _check_domain_pattern(value: str) -> str:
    text = value.strip().lower()
    wildcard = text.startswith("*.")
    domain = _ascii_domain(text[2:] if wildcard else text)
    if domain is None or "." not in domain:
        raise _fail(f"{value!r} is not a domain name or '*.' followed by a domain name")
    return ("*." if wildcard else "") + domain


def _check_id_nat(value: str) -> str:
    try:
        return parse_id_nat(value).id_nat
    except IdentifierError as exc:
        raise _fail(str(exc)) from None


def _check_readable_file(path: Path) -> Path:
    path = _absolute(path)
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except FileNotFoundError:
        raise _fail(f"file {path} does not exist") from None
    except IsADirectoryError:
        raise _fail(f"{path} is a directory, not a file") from None
    except OSError as exc:
        raise _fail(f"file {path} cannot be read: {exc.strerror or exc}") from None
    return path


def _check_readable_dir(path: Path) -> Path:
    path = _absolute(path)
    if not path.is_dir():
        raise _fail(f"directory {path} does not exist")
    if not os.access(path, os.R_OK | os.X_OK):
        raise _fail(f"directory {path} cannot be read")
    return path


def _no_newline(value: str) -> str:
    """Values that end up in mail headers must not smuggle extra header lines."""
    if "\r" in value or "\n" in value:
        raise _fail("must be on one line")
    return value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


Port = Annotated[int, Field(ge=1, le=65535)]
PositiveInt = Annotated[int, Field(ge=1)]
PositiveFloat = Annotated[float, Field(gt=0)]
LocalPath = Annotated[Path, AfterValidator(_absolute)]
ReadableFile = Annotated[Path, AfterValidator(_check_readable_file)]
ReadableDir = Annotated[Path, AfterValidator(_check_readable_dir)]
HttpUrl = Annotated[str, AfterValidator(_check_http_url)]
HostName = Annotated[str, AfterValidator(_check_host)]
ServerName = Annotated[str, AfterValidator(_check_server_name)]
MatrixUserId = Annotated[str, AfterValidator(_check_matrix_user)]
EmailAddress = Annotated[str, AfterValidator(_check_email)]
DomainPattern = Annotated[str, AfterValidator(_check_domain_pattern)]
IdNat = Annotated[str, AfterValidator(_check_id_nat)]
HeaderText = Annotated[str, Field(min_length=1), AfterValidator(_no_newline)]
Language = Literal["fr", "en"]
BridgeExisting = Literal["all", "new"]
PatientTag = Literal["initials", "full", "id", "none"]
Security = Literal["starttls", "tls", "none"]


# --------------------------------------------------------------------------------------------
# Model helpers


class _Checks:
    """Collects cross-field problems of one model and raises them together, each at its key."""

    def __init__(self, title: str) -> None:
        self._title = title
        self._errors: list[InitErrorDetails] = []

    def add(self, key: str | None, message: str) -> None:
        loc: tuple[str, ...] = (key,) if key else ()
        self._errors.append(InitErrorDetails(type=_fail(message), loc=loc, input=None))

    def done(self) -> None:
        if self._errors:
            raise ValidationError.from_exception_data(self._title, self._errors)


def _one_secret(
    model: BaseModel, checks: _Checks, names: Iterable[str], *, required: bool, why: str = ""
) -> Secret | None:
    """Enforce "at most one (exactly one if required) of these secret keys"; return it."""
    keys = [f"{name}_{kind}" for name in names for kind in ("file", "env")]
    given = [key for key in keys if getattr(model, key) is not None]
    listed = ", ".join(keys[:-1]) + " or " + keys[-1]
    if len(given) > 1:
        checks.add(given[1], f"give only one of {listed} (also given: {given[0]})")
    elif not given and required:
        checks.add(keys[0], f"missing secret: give {listed}{why}")
    return getattr(model, given[0]) if given else None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------------------------
# Sections


class DatabaseConfig(_Model):
    """Where the journal, outbox and cursors live. SQLite by default; PostgreSQL for HA."""

    url: str | None = None
    url_file: SecretFile | None = None
    url_env: SecretEnv | None = None

    @model_validator(mode="after")
    def _check(self) -> DatabaseConfig:
        checks = _Checks("database")
        secret = _one_secret(self, checks, ["url"], required=False)
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


class SpicoConfig(_Model):
    """The SPICO API (or its sandbox) and the bridge's service account."""

    base_url: HttpUrl
    token_file: SecretFile | None = None
    token_env: SecretEnv | None = None
    poll_wait_seconds: int = Field(default=25, ge=1, le=60)
    request_timeout_seconds: PositiveFloat = 30
    max_attempts: PositiveInt = 5
    ca_file: ReadableFile | None = None
    web_url: HttpUrl | None = None
    bridge_existing: BridgeExisting = "new"

    @model_validator(mode="before")
    @classmethod
    def _default_web_url(cls, data: Any) -> Any:
        """Notification mails link to SPICO's web app: same scheme and host as the API."""
        if isinstance(data, dict) and data.get("web_url") is None:
            base = data.get("base_url")
            if isinstance(base, str):
                parts = urlsplit(base.strip())
                if parts.scheme in ("http", "https") and parts.netloc:
                    data = {**data, "web_url": f"{parts.scheme}://{parts.netloc}"}
        return data

    @model_validator(mode="after")
    def _check(self) -> SpicoConfig:
        checks = _Checks("spico")
        _one_secret(self, checks, ["token"], required=True)
        if self.request_timeout_seconds <= self.poll_wait_seconds:
            checks.add(
                "request_timeout_seconds",
                f"must be greater than poll_wait_seconds ({self.poll_wait_seconds}), "
                "or every long-poll would time out",
            )
        checks.done()
        return self

    @property
    def token(self) -> Secret:
        """The bearer token of the bridge's SPICO service account."""
        secret = self.token_file or self.token_env
        assert secret is not None  # guaranteed by validation
        return secret


_APPSERVICE_LOCALPART_RE = re.compile(r"^[a-z0-9._=/-]+$")


class MatrixAppserviceConfig(_Model):
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
            raise _fail("a Matrix localpart prefix uses only a-z, 0-9 and . _ = - /")
        return value

    @model_validator(mode="after")
    def _check(self) -> MatrixAppserviceConfig:
        checks = _Checks("appservice")
        _one_secret(self, checks, ["as_token"], required=True)
        _one_secret(self, checks, ["hs_token"], required=True)
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


class MatrixConfig(_Model):
    """The Matrix side. ``homeserver``, ``server_name`` and ``bot_user_id`` are set when enabled."""

    enabled: bool = True
    homeserver: HttpUrl | None = None
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
    appservice: MatrixAppserviceConfig | None = None

    @field_validator("command_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if not value or any(c.isspace() for c in value):
            raise _fail("a command prefix is one non-empty word, like !spico")
        return value

    @model_validator(mode="after")
    def _check(self) -> MatrixConfig:
        checks = _Checks("matrix")
        if self.enabled:
            for key in ("homeserver", "server_name", "bot_user_id"):
                if getattr(self, key) is None:
                    checks.add(key, "is required when matrix.enabled is true")
            if self.mode == "relay":
                _one_secret(
                    self,
                    checks,
                    ["password", "access_token"],
                    required=True,
                    why=" (the relay bot's credentials)",
                )
            elif self.appservice is None:
                checks.add("appservice", "is required when matrix.mode is appservice")
        _one_secret(self, checks, ["crypto_pickle_key"], required=False)
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


class _MailTransport(_Model):
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

    def _check_transport(self, checks: _Checks) -> None:
        if self.security == "none" and not is_loopback_host(self.host):
            checks.add(
                "security",
                f"plaintext ('none') is only allowed on a loopback host, not {self.host}: "
                "use starttls or tls",
            )
        password = _one_secret(self, checks, ["password"], required=False)
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
        checks = _Checks("smtp")
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
        checks = _Checks("imap")
        self._check_transport(checks)
        if self.processed == "move" and not self.processed_folder:
            checks.add("processed_folder", "is required when processed is move")
        if self.processed_folder and self.processed_folder == self.mailbox:
            checks.add("processed_folder", "must differ from mailbox")
        checks.done()
        return self


class MailConfig(_Model):
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
    templates_dir: ReadableDir | None = None

    @model_validator(mode="after")
    def _check(self) -> MailConfig:
        checks = _Checks("mail")
        if self.enabled:
            for key in ("address", "smtp", "imap"):
                if getattr(self, key) is None:
                    checks.add(key, "is required when mail.enabled is true")
        key = _one_secret(
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

    def is_trusted(self, address: str) -> bool:
        """True when the address's domain matches ``trusted_domains`` (``*.`` = any subdomain)."""
        domain = _ascii_domain(address.rpartition("@")[2]) or ""
        for pattern in self.trusted_domains:
            if pattern.startswith("*."):
                if domain.endswith(pattern[1:]):
                    return True
            elif domain == pattern:
                return True
        return False


class NotificationsConfig(_Model):
    """Mails to inactive professionals: at most one per conversation and period, then digests."""

    enabled: bool = True
    period_minutes: PositiveInt = 1440
    digest: bool = True
    language: Language = "fr"


class PolicyConfig(_Model):
    """How much of the patient's identity appears where (initials by default: data minimisation).

    Rooms (inside the HDS-hosted homeserver) and mail subjects (shown in mail-client lists and
    phone notifications) are set separately.
    """

    room_patient_tag: PatientTag = "initials"
    mail_patient_tag: PatientTag = "initials"


class ParticipantConfig(_Model):
    """A static mapping from a SPICO professional to their Matrix account and/or mailbox."""

    spico_id: IdNat
    matrix_user: MatrixUserId | None = None
    mail: EmailAddress | None = None
    delivery: Literal["auto", "matrix", "mail", "both"] = "auto"

    @model_validator(mode="after")
    def _check(self) -> ParticipantConfig:
        checks = _Checks("participant")
        if self.matrix_user is None and self.mail is None:
            checks.add(None, "give matrix_user, mail or both for this professional")
        if self.delivery in ("matrix", "both") and self.matrix_user is None:
            checks.add("delivery", f"delivery {self.delivery} needs matrix_user")
        if self.delivery in ("mail", "both") and self.mail is None:
            checks.add("delivery", f"delivery {self.delivery} needs mail")
        checks.done()
        return self


class DeliveryConfig(_Model):
    """Outbox workers and retry policy (exponential backoff with jitter)."""

    workers: PositiveInt = 4
    max_attempts: PositiveInt = 10
    backoff_initial_seconds: PositiveFloat = 1
    backoff_max_seconds: PositiveFloat = 300

    @model_validator(mode="after")
    def _check(self) -> DeliveryConfig:
        checks = _Checks("delivery")
        if self.backoff_max_seconds < self.backoff_initial_seconds:
            checks.add("backoff_max_seconds", "must be at least backoff_initial_seconds")
        checks.done()
        return self


class LoggingConfig(_Model):
    level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)] = "INFO"
    format: Literal["text", "json"] = "text"


class AuditConfig(_Model):
    """The audit trail: one row per relay and per refusal (no bodies, no patient identities)."""

    retention_days: PositiveInt = 180


class HttpConfig(_Model):
    """Metrics and health/readiness endpoint."""

    listen_host: HostName = "127.0.0.1"
    listen_port: Port = 9464


class TestingConfig(_Model):
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


def _disabled_matrix() -> MatrixConfig:
    return MatrixConfig(enabled=False)


def _disabled_mail() -> MailConfig:
    return MailConfig(enabled=False)


class BridgeConfig(_Model):
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


# --------------------------------------------------------------------------------------------
# YAML with line numbers


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


class _YamlReader:
    """Builds plain data from PyYAML's node tree, recording each key path's 1-based line."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.loader = yaml.SafeLoader(text)
        self.lines: dict[str, int] = {}
        self.problems: list[ConfigProblem] = []

    def read(self) -> Any:
        try:
            node = self.loader.get_single_node()
            if node is None:
                self.problems.append(
                    ConfigProblem(self.file, 1, ROOT_PATH, "the file is empty: expected a mapping")
                )
                return None
            self.lines[""] = node.start_mark.line + 1
            return self._build(node, "", self.lines)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 1
            what = str(exc.problem or exc.context or exc)
            if exc.context and exc.context_mark and exc.context_mark is not mark:
                what = f"{exc.context} (line {exc.context_mark.line + 1}): {what}"
            self.problems.append(ConfigProblem(self.file, line, ROOT_PATH, f"YAML syntax: {what}"))
        except yaml.YAMLError as exc:
            self.problems.append(ConfigProblem(self.file, 1, ROOT_PATH, f"YAML syntax: {exc}"))
        finally:
            self.loader.dispose()
        return None

    def _build(self, node: yaml.Node, path: str, lines: dict[str, int]) -> Any:
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, lines)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                child = f"{path}[{index}]"
                lines.setdefault(child, item.start_mark.line + 1)
                items.append(self._build(item, child, lines))
            return items
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: str, lines: dict[str, int]) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merge_sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                merges.extend(merge_sources)
                continue
            line = key_node.start_mark.line + 1
            key = self.loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool):
                self.problems.append(
                    ConfigProblem(self.file, line, path or ROOT_PATH, "keys must be plain words")
                )
                continue
            key = str(key)  # `1:` or `yes:` is then reported as an unknown key, by name
            child = _join(path, key)
            if key in result:
                self.problems.append(
                    ConfigProblem(
                        self.file,
                        line,
                        child,
                        f"duplicate key (first given at line {lines[child]})",
                    )
                )
                continue
            lines[child] = line
            result[key] = self._build(value_node, child, lines)
        for source in merges:  # YAML merge keys (<<: *anchor): explicit keys win
            merged_lines: dict[str, int] = {}
            merged = self._build(source, path, merged_lines)
            if not isinstance(merged, dict):
                self.problems.append(
                    ConfigProblem(
                        self.file,
                        source.start_mark.line + 1,
                        path or ROOT_PATH,
                        "a merge key (<<) needs a mapping",
                    )
                )
                continue
            for key, value in merged.items():
                if key not in result:
                    result[key] = value
                    prefix = _join(path, key)
                    for sub, sub_line in merged_lines.items():
                        if sub == prefix or sub.startswith((prefix + ".", prefix + "[")):
                            lines.setdefault(sub, sub_line)
        return result


def _line_for(lines: Mapping[str, int], path: str) -> int:
    """The line of ``path``, or of its nearest existing parent (e.g. for a missing key)."""
    current = path
    while current:
        if current in lines:
            return lines[current]
        cut = max(current.rfind("."), current.rfind("["))
        current = current[:cut] if cut > 0 else ""
    return lines.get("", 1)


# --------------------------------------------------------------------------------------------
# Pydantic errors → problems


def _loc_path(loc: Iterable[int | str]) -> str:
    path = ""
    for part in loc:
        path = f"{path}[{part}]" if isinstance(part, int) else _join(path, part)
    return path


def _model_at(loc: Iterable[int | str]) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``loc`` (to suggest key names)."""
    model: type[BaseModel] | None = BridgeConfig
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None or part not in model.model_fields:
            return None
        model = _find_model(model.model_fields[part].annotation)
    return model


def _find_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _find_model(arg)
        if found is not None:
            return found
    return None


def _unknown_key_message(loc: tuple[int | str, ...]) -> str:
    key = str(loc[-1]) if loc else ""
    model = _model_at(loc[:-1])
    fields = sorted(model.model_fields) if model else []
    if f"{key}_file" in fields:
        return (
            f"unknown key: secrets are never written in the configuration; "
            f"secrets are given as {key}_file (a file holding it) or {key}_env "
            "(an environment variable)"
        )
    close = difflib.get_close_matches(key, fields, n=1, cutoff=0.6)
    if close:
        return f"unknown key (did you mean '{close[0]}'?)"
    if fields:
        return "unknown key; allowed here: " + ", ".join(fields)
    return "unknown key"


def _error_message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return _unknown_key_message(tuple(error["loc"]))
    if kind == "missing":
        return "required key is missing"
    if kind == "model_type" or kind == "model_attributes_type":
        return "expected a mapping of keys"
    if kind == "path_type":
        return "expected a file path"
    if kind == "literal_error":
        got = error.get("input")
        shown = f" (got {got!r})" if isinstance(got, str | int | float | bool) else ""
        return f"{error['msg']}{shown}"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _problems_from_validation(
    exc: ValidationError, file: str, lines: Mapping[str, int]
) -> list[ConfigProblem]:
    problems = []
    for error in exc.errors(include_url=False, include_input=True):
        path = _loc_path(error["loc"])
        problems.append(
            ConfigProblem(file, _line_for(lines, path), path or ROOT_PATH, _error_message(error))
        )
    return problems


# --------------------------------------------------------------------------------------------
# Checks across entries (on raw data, so they run even when other sections are invalid)


def _check_participants_raw(
    data: Mapping[Any, Any], file: str, lines: Mapping[str, int]
) -> tuple[list[ConfigProblem], list[ConfigProblem]]:
    """Duplicate mappings (errors), bad idNat keys (warnings), patient mailboxes (errors)."""
    problems: list[ConfigProblem] = []
    warnings: list[ConfigProblem] = []
    entries = data.get("participants")
    if not isinstance(entries, list):
        return problems, warnings
    mail_section = data.get("mail")
    allow_patient = (
        isinstance(mail_section, dict) and mail_section.get("allow_patient_mailboxes") is True
    )

    normalisers: dict[str, Callable[[str], str]] = {
        "spico_id": _check_id_nat,
        "matrix_user": _check_matrix_user,
        "mail": lambda value: _check_email(value).casefold(),
    }
    seen: dict[str, dict[str, str]] = {key: {} for key in normalisers}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        for key, normalise in normalisers.items():
            value = entry.get(key)
            if not isinstance(value, str):
                continue
            try:
                normal = normalise(value)
            except PydanticCustomError:
                continue  # reported by the model
            path = f"participants[{index}].{key}"
            line = _line_for(lines, path)
            first = seen[key].get(normal)
            if first is not None:
                problems.append(
                    ConfigProblem(
                        file,
                        line,
                        path,
                        f"duplicate mapping: {key} {value!r} is already mapped by {first} "
                        f"(line {_line_for(lines, first)})",
                    )
                )
            else:
                seen[key][normal] = path
            if key == "spico_id" and not parse_id_nat(value).key_valid:
                warnings.append(
                    ConfigProblem(
                        file,
                        line,
                        path,
                        "warning: the RPPS/ADELI check digit (Luhn key) does not match; "
                        "kept as given, check the number",
                    )
                )
            if key == "mail" and not allow_patient:
                domain = normal.rpartition("@")[2]
                if domain == PATIENT_MAIL_DOMAIN or domain.endswith("." + PATIENT_MAIL_DOMAIN):
                    problems.append(
                        ConfigProblem(
                            file,
                            line,
                            path,
                            "this is a patient's own mailbox (Mon espace santé); the bridge "
                            "does not send there unless mail.allow_patient_mailboxes is true",
                        )
                    )
    return problems, warnings


def _semantic_warnings(
    config: BridgeConfig, file: str, lines: Mapping[str, int]
) -> list[ConfigProblem]:
    """Valid but probably not what the admin meant."""
    warnings: list[ConfigProblem] = []

    def warn(path: str, message: str) -> None:
        warnings.append(ConfigProblem(file, _line_for(lines, path), path, f"warning: {message}"))

    recording = config.testing is not None and config.testing.recording_sink is not None
    if recording:
        warn("testing", "the recording sink replaces Matrix and mail: for tests only")
    elif not config.matrix.enabled and not config.mail.enabled:
        warn(ROOT_PATH, "neither matrix nor mail is enabled: nothing will be bridged")
    if (
        config.mail.enabled
        and config.mail.address
        and not config.mail.is_trusted(config.mail.address)
    ):
        warn("mail.address", "the bridge's own address is outside mail.trusted_domains")
    if config.matrix.appservice is not None and config.matrix.mode != "appservice":
        warn("matrix.appservice", "ignored: matrix.mode is not appservice")
    matrix = config.matrix
    if matrix.enabled and not matrix.encryption:
        for key in ("crypto_store", "crypto_pickle_key_file", "crypto_pickle_key_env"):
            if getattr(matrix, key) is not None:
                warn(f"matrix.{key}", "ignored: matrix.encryption is false")
    if matrix.enabled and matrix.encryption and config.database_url.startswith("postgresql"):
        warn(
            "matrix.encryption",
            "with encryption only one bridge process may run the Matrix side (one bot device, "
            "one key store): a second process using the same bot is refused at start",
        )
    if config.notifications.enabled and not config.mail.enabled and "notifications" in lines:
        warn("notifications", "ignored: notifications are sent by mail and mail is not enabled")
    for index, participant in enumerate(config.participants):
        if (
            config.mail.enabled
            and participant.mail
            and not config.mail.is_trusted(participant.mail)
        ):
            warn(
                f"participants[{index}].mail",
                "outside mail.trusted_domains: no mail will be sent to or accepted from it",
            )
        if (
            config.matrix.enabled
            and participant.matrix_user
            and config.matrix.server_name
            and not config.matrix.federate
            and participant.matrix_user.split(":", 1)[1] != config.matrix.server_name
        ):
            warn(
                f"participants[{index}].matrix_user",
                "on another server while matrix.federate is false: this user cannot join "
                "the bridged rooms",
            )
    return warnings


# --------------------------------------------------------------------------------------------
# Public entry points


def _env_references(data: Any, path: str = "") -> list[tuple[str, str]]:
    """Every ``*_env`` key of the raw config: (key path, variable name)."""
    found: list[tuple[str, str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            child = _join(path, key)
            if str(key).endswith("_env") and isinstance(value, str):
                found.append((child, value))
            else:
                found += _env_references(value, child)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            found += _env_references(item, f"{path}[{index}]")
    return found


#: Stand for an unset variable while the rest is validated (they pass every value rule).
_UNSET_PLACEHOLDER = "unset-environment-variable-placeholder-" + "x" * 32
_UNSET_URL_PLACEHOLDER = "postgresql://unset@localhost/unset"


def load_config(
    path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    require_env: bool = True,
) -> BridgeConfig:
    """Read, validate and resolve the configuration; raise :class:`ConfigError` listing all.

    ``environ`` (default ``os.environ``) is where ``*_env`` secrets are looked up. With
    ``require_env=False`` (check-config) an unset variable is a warning, not an error: the shell
    of the admin checking a file rarely has the service's environment (systemd EnvironmentFile,
    credentials), while ``run`` needs every secret.
    """
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except IsADirectoryError:
        raise ConfigError(
            [ConfigProblem(file, 1, ROOT_PATH, "is a directory, not a configuration file")]
        ) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(
            [ConfigProblem(file, 1, ROOT_PATH, f"cannot read the configuration file: {reason}")]
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(
            [ConfigProblem(file, 1, ROOT_PATH, "the configuration file is not UTF-8 text")]
        ) from None

    reader = _YamlReader(file, text)
    data = reader.read()
    problems = list(reader.problems)
    warnings: list[ConfigProblem] = []
    if data is None:
        raise ConfigError(problems)

    if isinstance(data, dict):
        more_problems, more_warnings = _check_participants_raw(data, file, reader.lines)
        problems += more_problems
        warnings += more_warnings

    env = dict(os.environ if environ is None else environ)
    for key_path, name in _env_references(data):
        if name in env or not _ENV_NAME_RE.match(name):
            continue
        unset = ConfigProblem(
            file,
            _line_for(reader.lines, key_path),
            key_path,
            f"environment variable {name} is not set",
        )
        if require_env:
            problems.append(unset)
        else:
            warnings.append(
                dataclasses.replace(
                    unset, message=f"warning: {unset.message} here; `spico-bridge run` needs it"
                )
            )
        env[name] = _UNSET_URL_PLACEHOLDER if key_path.endswith("url_env") else _UNSET_PLACEHOLDER
    config: BridgeConfig | None = None
    try:
        config = BridgeConfig.model_validate(data, context={"environ": env})
    except ValidationError as exc:
        problems += _problems_from_validation(exc, file, reader.lines)
    if problems or config is None:
        raise ConfigError(problems, warnings)

    warnings += _semantic_warnings(config, file, reader.lines)
    config._warnings = tuple(sorted(warnings, key=lambda p: (p.line, p.path)))
    config._source = file
    return config


def check_config_command(path: str | Path, *, environ: Mapping[str, str] | None = None) -> int:
    """``spico-bridge check-config``: problems and warnings on stderr; 0 if valid, else 2."""
    try:
        config = load_config(path, environ=environ, require_env=False)
    except ConfigError as exc:
        for problem in sorted([*exc.warnings, *exc.problems], key=lambda p: (p.line, p.path)):
            print(problem, file=sys.stderr)
        return 2
    for warning in config.warnings:
        print(warning, file=sys.stderr)
    print(f"{path}: OK")
    return 0
