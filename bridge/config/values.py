"""Value types of the configuration (hosts, URLs, Matrix ids, mail addresses, idNat, paths…).

Each is an annotated type whose validator raises the exact message an admin reads.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import idna
from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from bridge.config.base import fail
from bridge.core.identifiers import IdentifierError, parse_id_nat


def absolute(path: Path) -> Path:
    """Relative paths are relative to the working directory at load time (documented)."""
    return path.expanduser().absolute()


_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")


def ascii_domain(value: str) -> str | None:
    """The lower-case A-label form of a domain name (UTS-46 mapping, IDNA 2008), or None when
    it is not one.

    UTS-46 is what browsers and mail software use: full-width dots and letters fold to ASCII
    (``ex．mssante．fr`` is ``ex.mssante.fr``) and ``ß`` stays a letter of its own
    (``mßante.fr`` is ``xn--mante-lqa.fr``, another domain). Python's ``idna`` codec (IDNA
    2003) would map ``ß`` to ``ss`` and let ``x@evil.mßante.fr`` match ``*.mssante.fr``."""
    try:
        mapped = idna.uts46_remap(value.strip(), std3_rules=False, transitional=False)
        text = mapped.rstrip(".")
        ascii_text = idna.encode(text, uts46=False).decode("ascii") if text else ""
    except (idna.IDNAError, UnicodeError, ValueError):
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
    if _is_ip(value) or ascii_domain(value) is not None:
        return value.strip()
    raise fail(f"{value!r} is not a host name or IP address")


_SERVER_NAME_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[^:\[\]\s]+)(?::(\d{1,5}))?$")


def _check_server_name(value: str) -> str:
    match = _SERVER_NAME_RE.match(value.strip())
    host, port = match.groups() if match else ("", None)
    if (
        not match
        or (port is not None and not 0 < int(port) < 65536)
        or not (_is_ip(host) or ascii_domain(host))
    ):
        raise fail(f"{value!r} is not a Matrix server name (host or host:port)")
    return value.strip()


def is_plain_http_to_remote(url: str) -> bool:
    """An ``http://`` URL whose host is not on the loopback interface (refused: TLS only)."""
    parts = urlsplit(url)
    return parts.scheme == "http" and not is_loopback_host(parts.hostname or "")


def _check_http_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https"):
        raise fail(f"{value!r} is not an http:// or https:// URL")
    if not parts.hostname:
        raise fail(f"{value!r} has no host")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise fail(f"{value!r} has an invalid port") from None
    if parts.username or parts.password:
        raise fail("credentials are not allowed in a URL: use the *_file / *_env secret keys")
    return value.strip().rstrip("/")


_MXID_RE = re.compile(r"^@([^\s:@]+):(\S+)$")


def check_matrix_user(value: str) -> str:
    match = _MXID_RE.match(value.strip())
    if not match:
        raise fail(f"{value!r} is not a Matrix user id like @name:server")
    try:
        _check_server_name(match.group(2))
    except PydanticCustomError:
        raise fail(f"{value!r} is not a Matrix user id like @name:server") from None
    return value.strip()


_LOCAL_PART_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")


def check_email(value: str) -> str:
    local, at, domain = value.strip().rpartition("@")
    idna_domain = ascii_domain(domain) if at else None
    if not local or not _LOCAL_PART_RE.match(local) or not idna_domain or "." not in idna_domain:
        raise fail(f"{value!r} is not an e-mail address")
    return f"{local}@{idna_domain}"


def _check_domain_pattern(value: str) -> str:
    text = value.strip().lower()
    wildcard = text.startswith("*.")
    domain = ascii_domain(text[2:] if wildcard else text)
    if domain is None or "." not in domain:
        raise fail(f"{value!r} is not a domain name or '*.' followed by a domain name")
    return ("*." if wildcard else "") + domain


def check_id_nat(value: str) -> str:
    try:
        return parse_id_nat(value).id_nat
    except IdentifierError as exc:
        raise fail(str(exc)) from None


def _check_readable_file(path: Path) -> Path:
    path = absolute(path)
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except FileNotFoundError:
        raise fail(f"file {path} does not exist") from None
    except IsADirectoryError:
        raise fail(f"{path} is a directory, not a file") from None
    except OSError as exc:
        raise fail(f"file {path} cannot be read: {exc.strerror or exc}") from None
    return path


def _check_readable_dir(path: Path) -> Path:
    path = absolute(path)
    if not path.is_dir():
        raise fail(f"directory {path} does not exist")
    if not os.access(path, os.R_OK | os.X_OK):
        raise fail(f"directory {path} cannot be read")
    return path


def _no_newline(value: str) -> str:
    """Values that end up in mail headers must not smuggle extra header lines."""
    if "\r" in value or "\n" in value:
        raise fail("must be on one line")
    return value


Port = Annotated[int, Field(ge=1, le=65535)]
PositiveInt = Annotated[int, Field(ge=1)]
PositiveFloat = Annotated[float, Field(gt=0)]
LocalPath = Annotated[Path, AfterValidator(absolute)]
ReadableFile = Annotated[Path, AfterValidator(_check_readable_file)]
ReadableDir = Annotated[Path, AfterValidator(_check_readable_dir)]
HttpUrl = Annotated[str, AfterValidator(_check_http_url)]
HostName = Annotated[str, AfterValidator(_check_host)]
ServerName = Annotated[str, AfterValidator(_check_server_name)]
MatrixUserId = Annotated[str, AfterValidator(check_matrix_user)]
EmailAddress = Annotated[str, AfterValidator(check_email)]
DomainPattern = Annotated[str, AfterValidator(_check_domain_pattern)]
IdNat = Annotated[str, AfterValidator(check_id_nat)]
HeaderText = Annotated[str, Field(min_length=1), AfterValidator(_no_newline)]
Language = Literal["fr", "en"]
BridgeExisting = Literal["all", "new"]
PatientTag = Literal["initials", "full", "id", "none"]
Security = Literal["starttls", "tls", "none"]
