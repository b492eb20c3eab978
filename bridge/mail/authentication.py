"""Sender authentication (pure): the operator's own ``Authentication-Results`` (RFC 8601).

Only the receiving server saw the SMTP session, so only its verdict counts. Which headers are
its own: reading the header block from the top, the first ``Authentication-Results`` whose
authserv-id is the operator's (``mail.authentication.authserv_id``) and every one with that id
that follows it, until a ``Received`` field or an ``Authentication-Results`` with another id.
The operator's server writes its results above the ``Received`` field of the SMTP session it
judged; everything below came with the mail (the sender's), and anything above the first of
ours was added later, downstream. An MTA should also remove incoming headers that carry its
own id (RFC 8601 §5): a sender's forgery placed right at the top of its mail is otherwise
indistinguishable when the server adds no results of its own.

``require``:

* ``dmarc``: ``dmarc=pass`` whose ``header.from`` is the author's domain;
* ``aligned``: that, or ``dkim=pass`` (``header.d``, else the domain of ``header.i``) or
  ``spf=pass`` (the domain of ``smtp.mailfrom``) *aligned* with the author's domain, unless
  DMARC itself said ``fail`` for that domain;
* ``none``: not checked (the local demo, a server that writes no results).

Aligned, precisely: the two domains are equal, or one is a subdomain of the other, and both
have the same registered domain. The registered domain is one label below the public suffix,
where public suffixes are the Public Suffix List (bundled with ``publicsuffixlist``; no network
at run time) plus ``shared_suffixes`` (default ``mssante.fr``: every establishment has its own
subdomain there, so ``y.mssante.fr`` must not vouch for ``x.mssante.fr``, nor ``mssante.fr``
for either). DMARC's own relaxed alignment, computed by the operator's server, does not know
that ``mssante.fr`` is shared: ``aligned`` is the stricter reading for the other methods.

The reader is a linear scanner (comments, quoted strings, ``;``-separated result sets), not the
``authres`` package: that one rejects legal CFWS (two comments in a row) and recurses on
nested comments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

from publicsuffixlist import PublicSuffixList

#: One header longer than this is not read (real ones, with ARC, stay under 4 KB).
MAX_HEADER_CHARS = 16 * 1024
DEFAULT_SHARED_SUFFIXES = ("mssante.fr",)


class Requirement(StrEnum):
    DMARC = "dmarc"
    ALIGNED = "aligned"
    NONE = "none"


class AuthReason(StrEnum):
    NOT_REQUIRED = "not_required"
    DMARC_PASS = "dmarc_pass"
    DKIM_ALIGNED = "dkim_aligned"
    SPF_ALIGNED = "spf_aligned"
    #: No ``Authentication-Results`` of the operator's server.
    NO_OWN_RESULTS = "no_own_results"
    #: The operator's header could not be read.
    OWN_RESULTS_UNREADABLE = "own_results_unreadable"
    #: No ``dmarc=pass`` for the author's domain (fail, none, temperror, absent).
    NO_DMARC_PASS = "no_dmarc_pass"
    #: Neither DMARC nor an aligned DKIM or SPF pass.
    NOT_ALIGNED = "not_aligned"


@dataclass(frozen=True, slots=True)
class AuthCheck:
    passed: bool
    reason: AuthReason


@dataclass(frozen=True, slots=True)
class MethodResult:
    """One ``method=result`` with its properties (``"header.d"`` → ``"x.mssante.fr"``)."""

    method: str
    result: str
    properties: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuthenticationResults:
    authserv_id: str
    results: tuple[MethodResult, ...]


# --- reading one header -------------------------------------------------------------------------


def _without_comments(value: str) -> str | None:
    """The value with its (nested) comments replaced by a space; None when unbalanced.
    Quoted strings are kept as they are (a ``(`` inside one is text)."""
    out: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\" and (quoted or depth):
            escaped = True
            if depth == 0:
                out.append(char)
            continue
        if quoted:
            out.append(char)
            if char == '"':
                quoted = False
            continue
        if char == "(":
            depth += 1
            continue
        if char == ")":
            if depth == 0:
                return None
            depth -= 1
            if depth == 0:
                out.append(" ")
            continue
        if depth:
            continue
        if char == '"':
            quoted = True
        out.append(char)
    if depth or quoted:
        return None
    return "".join(out)


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and (char == separator or (separator == " " and char in "\t\r\n")):
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        inner = value[1:-1]
        out: list[str] = []
        escaped = False
        for char in inner:
            if escaped or char != "\\":
                out.append(char)
                escaped = False
            else:
                escaped = True
        return "".join(out)
    return value


def _words(text: str) -> list[str]:
    """Whitespace-separated words, ``a = b`` joined into ``a=b``."""
    raw = [w for w in _split_outside_quotes(text, " ") if w]
    words: list[str] = []
    for word in raw:
        if words and (word.startswith("=") or words[-1].endswith("=")):
            words[-1] += word
        else:
            words.append(word)
    return words


def parse_authentication_results(value: str) -> AuthenticationResults | None:
    """One header's authserv-id and results, or None when it cannot be read."""
    if len(value) > MAX_HEADER_CHARS:
        return None
    text = _without_comments(value)
    if text is None:
        return None
    sets = _split_outside_quotes(text, ";")
    head = sets[0].split()
    if not head:
        return None
    authserv_id = head[0].lower()
    results: list[MethodResult] = []
    for resinfo in sets[1:]:
        words = _words(resinfo)
        if not words:
            continue
        if words == ["none"]:
            continue
        method, equals, result = words[0].partition("=")
        if not equals or not method or not result:
            return None
        properties: dict[str, str] = {}
        for word in words[1:]:
            name, equals, prop_value = word.partition("=")
            if not equals:
                return None
            properties.setdefault(name.lower(), _unquote(prop_value))
        results.append(MethodResult(method.partition("/")[0].lower(), result.lower(), properties))
    return AuthenticationResults(authserv_id, tuple(results))


def authserv_id_of(value: str) -> str | None:
    """The authserv-id alone, before the first ``;`` (cheap: the sender's headers are never
    read further)."""
    head: list[str] = []
    depth = 0
    for char in value[:MAX_HEADER_CHARS]:
        if char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
            head.append(" ")
        elif depth == 0:
            if char == ";":
                break
            head.append(char)
    words = "".join(head).split()
    return words[0].lower() if words else None


# --- whose results -----------------------------------------------------------------------------


def own_results(
    fields: Sequence[tuple[str, str]], authserv_id: str
) -> tuple[MethodResult, ...] | AuthReason:
    """The results of the operator's server, from the header fields in order (name, value);
    ``NO_OWN_RESULTS`` or ``OWN_RESULTS_UNREADABLE`` when there are none to use."""
    wanted = authserv_id.strip().lower()
    found: list[MethodResult] = []
    started = False
    for name, value in fields:
        lowered = name.lower()
        if lowered == "received":
            if started:
                break
            continue
        if lowered != "authentication-results":
            continue
        ours = authserv_id_of(value) == wanted
        if not started:
            if not ours:
                continue  # above the first of ours: added downstream, not by our server
            started = True
        elif not ours:
            break  # another id below ours: the sender's from here on
        parsed = parse_authentication_results(value)
        if parsed is None:
            return AuthReason.OWN_RESULTS_UNREADABLE
        found.extend(parsed.results)
    if not started:
        return AuthReason.NO_OWN_RESULTS
    return tuple(found)


# --- alignment ---------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _suffix_list() -> PublicSuffixList:
    return PublicSuffixList()  # the list bundled with the package: no network


def _ascii(domain: str) -> str:
    text = domain.strip().strip(".").lower()
    try:
        return text.encode("idna").decode("ascii")
    except UnicodeError:
        return text


def _within(domain: str, parent: str) -> bool:
    return domain == parent or domain.endswith("." + parent)


def registered_domain(
    domain: str, shared_suffixes: Sequence[str] = DEFAULT_SHARED_SUFFIXES
) -> str | None:
    """One label below the longest public or shared suffix; None for a suffix itself."""
    name = _ascii(domain)
    if not name or "." not in name:
        return None
    suffix = _suffix_list().publicsuffix(name) or name.rpartition(".")[2]
    for shared in shared_suffixes:
        shared_name = _ascii(shared)
        if _within(name, shared_name) and len(shared_name) > len(suffix):
            suffix = shared_name
    if name == suffix:
        return None
    labels = name.split(".")
    return ".".join(labels[-(suffix.count(".") + 2) :])


def aligned(
    domain: str, from_domain: str, shared_suffixes: Sequence[str] = DEFAULT_SHARED_SUFFIXES
) -> bool:
    """Equal, or parent/child of each other, within the same registered domain."""
    one, other = _ascii(domain), _ascii(from_domain)
    registered = registered_domain(other, shared_suffixes)
    if registered is None or registered != registered_domain(one, shared_suffixes):
        return False
    return _within(one, other) or _within(other, one)


def _domain_of(value: str) -> str:
    return value.rpartition("@")[2].strip().strip("<>").lower()


# --- the policy --------------------------------------------------------------------------------


def check_authentication(
    fields: Sequence[tuple[str, str]],
    from_domain: str,
    *,
    require: Requirement,
    authserv_id: str | None,
    shared_suffixes: Sequence[str] = DEFAULT_SHARED_SUFFIXES,
) -> AuthCheck:
    """Whether the operator's server vouches for the author's domain, per ``require``."""
    if require is Requirement.NONE:
        return AuthCheck(True, AuthReason.NOT_REQUIRED)
    if not authserv_id:
        return AuthCheck(False, AuthReason.NO_OWN_RESULTS)
    results = own_results(fields, authserv_id)
    if isinstance(results, AuthReason):
        return AuthCheck(False, results)
    author_domain = _ascii(from_domain)
    dmarc = [
        r
        for r in results
        if r.method == "dmarc" and _ascii(r.properties.get("header.from", "")) == author_domain
    ]
    if dmarc and all(r.result == "pass" for r in dmarc):
        return AuthCheck(True, AuthReason.DMARC_PASS)
    if require is Requirement.DMARC:
        return AuthCheck(False, AuthReason.NO_DMARC_PASS)
    if any(r.result not in ("pass", "none") for r in dmarc):
        return AuthCheck(False, AuthReason.NO_DMARC_PASS)  # DMARC said fail: nothing rescues
    for result in results:
        if result.result != "pass":
            continue
        if result.method == "dkim":
            signer = result.properties.get("header.d") or _domain_of(
                result.properties.get("header.i", "")
            )
            if signer and aligned(signer, from_domain, shared_suffixes):
                return AuthCheck(True, AuthReason.DKIM_ALIGNED)
        elif result.method == "spf":
            envelope = _domain_of(result.properties.get("smtp.mailfrom", ""))
            if envelope and aligned(envelope, from_domain, shared_suffixes):
                return AuthCheck(True, AuthReason.SPF_ALIGNED)
    return AuthCheck(False, AuthReason.NOT_ALIGNED)


__all__ = [
    "DEFAULT_SHARED_SUFFIXES",
    "AuthCheck",
    "AuthReason",
    "AuthenticationResults",
    "MethodResult",
    "Requirement",
    "aligned",
    "authserv_id_of",
    "check_authentication",
    "own_results",
    "parse_authentication_results",
    "registered_domain",
]
