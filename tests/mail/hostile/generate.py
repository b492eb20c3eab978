"""A generated corpus of hostile mails, each with the verdict the pure pipeline must give.

Families: header forgeries (addresses in display names, two ``From``, groups, encoded-word
tricks, Sender/Reply-To tricks, forged Authentication-Results), MIME bombs, pathological HTML
up to 1 MB, charsets and broken encodings, loops and automatic mail, forged DSNs, quotes that
are not quotes. The world is the corpus's (``tests/mail/corpus/make_corpus.py``): Anne and
Bruno are members of one conversation; the operator's server is ``mx.operateur.mssante.fr``.
"""

from __future__ import annotations

import base64
import quopri
from collections.abc import Iterator
from dataclasses import dataclass

from bridge.mail import tokens
from bridge.mail.authentication import Requirement
from tests.mail.corpus import make_corpus as world

AUTHSERV = "mx.operateur.mssante.fr"
ANNE = f"Anne Martin <{world.ANNE_ADDR}>"
STRANGER = "eve@autre.mssante.fr"
OUTSIDER = "eve@gmail.com"
REPLY_TO_ANNE = f"bridge+{world.VALID}@sandbox.mssante.fr"
BRIDGE_MADE = world.SENT_ID


@dataclass(frozen=True)
class Hostile:
    name: str
    raw: bytes
    #: The verdict's class name (``Accepted``, ``Refused``, ``Automatic``, ``Bounce``, …).
    verdict: str
    #: The refusal reason (``Refused``), or whether a DSN counts (``"counts"``/``"ignored"``).
    reason: str | None = None
    #: The exact new text, for accepted mails where it is known.
    text: str | None = None
    require: Requirement = Requirement.NONE


def mail(
    *,
    sender: str | None = ANNE,
    to: str = REPLY_TO_ANNE,
    subject: str = "Re: Suivi",
    extra: str = "",
    body: str = "Content-Type: text/plain; charset=utf-8\r\n\r\nD'accord.\r\n",
    references: str | None = None,
    message_id: str = "<hostile@client.example>",
) -> bytes:
    lines = []
    if sender is not None:
        lines.append(f"From: {sender}")
    lines += [f"To: {to}", f"Subject: {subject}", f"Message-ID: {message_id}", "MIME-Version: 1.0"]
    refs = references if references is not None else f"<rt.{world.VALID}@sandbox.mssante.fr>"
    if refs:
        lines += [f"In-Reply-To: {BRIDGE_MADE}", f"References: {refs} {BRIDGE_MADE}"]
    head = "\r\n".join(lines) + "\r\n" + extra
    return (head + body).encode("utf-8", "surrogateescape")


def html(markup: str) -> str:
    return f"Content-Type: text/html; charset=utf-8\r\n\r\n{markup}"


# --- header forgeries --------------------------------------------------------------------------

_FORGED_FROM = {
    "display-name-address": ("dr.a@sandbox.mssante.fr <eve@autre.mssante.fr>", "from_defect"),
    "quoted-display-address": (
        f'"{world.ANNE_ADDR}" <eve@autre.mssante.fr>',
        "address_in_name",
    ),
    "no-space-display": (f'"{world.ANNE_ADDR}"<eve@autre.mssante.fr>', "address_in_name"),
    "comment-after": (f"eve@autre.mssante.fr ({world.ANNE_ADDR})", "address_in_name"),
    "comment-in-name": (f"Anne ({world.ANNE_ADDR}) <eve@autre.mssante.fr>", "address_in_name"),
    "encoded-q": (
        "=?utf-8?q?anne.martin=40sandbox.mssante.fr?= <eve@autre.mssante.fr>",
        "address_in_name",
    ),
    "encoded-b": (
        "=?utf-8?b?"
        + base64.b64encode(world.ANNE_ADDR.encode()).decode()
        + "?= <eve@autre.mssante.fr>",
        "address_in_name",
    ),
    "fullwidth-at": (
        "anne.martin\uff20sandbox.mssante.fr <eve@autre.mssante.fr>",
        "address_in_name",
    ),
    "quoted-fullwidth": (
        '"anne.martin\uff20sandbox\uff0emssante\uff0efr" <eve@autre.mssante.fr>',
        "address_in_name",
    ),
    "zero-width": (
        '"anne.martin@sandbox\u200b.mssante.fr" <eve@autre.mssante.fr>',
        "address_in_name",
    ),
    "domain-in-name": (
        '"Anne Martin sandbox.mssante.fr" <eve@autre.mssante.fr>',
        "address_in_name",
    ),
    "spelled-at": ('"anne.martin at sandbox.mssante.fr" <eve@autre.mssante.fr>', "address_in_name"),
    "list": (f"{world.ANNE_ADDR}, eve@autre.mssante.fr", "not_one_mailbox"),
    "member-comma-attacker": ("member, eve@autre.mssante.fr", "not_one_mailbox"),
    "group": (f"Soins: {world.ANNE_ADDR};", "not_one_mailbox"),
    "empty-group": ("undisclosed-recipients:;", "not_one_mailbox"),
    "two-angles": (f"Anne <{world.ANNE_ADDR}> <eve@autre.mssante.fr>", "from_defect"),
    "route": (f"Anne <@relay.fr:{world.ANNE_ADDR}>", "from_defect"),
    "unclosed-angle": (f"Anne <{world.ANNE_ADDR}", "from_defect"),
    "quoted-local": ('Anne <"anne martin"@sandbox.mssante.fr>', "unusual_address"),
    "domain-literal": ("Anne <anne@[192.0.2.1]>", "unusual_address"),
    "bare-word": ("anne", "from_defect"),
    "semicolon": (f"Anne <{world.ANNE_ADDR}>;", "from_defect"),
    "long": ("(" * 3000 + world.ANNE_ADDR, "from_too_long"),
    "nested-comments": ("((((((((" + world.ANNE_ADDR, "not_one_mailbox"),
}

_TWO_FROM = {
    "two-from": f"From: {ANNE}\r\nFrom: eve@autre.mssante.fr\r\n",
    "two-from-same": f"From: {ANNE}\r\nFrom: {ANNE}\r\n",
    "space-before-colon": f"From: {ANNE}\r\nFrom : eve@autre.mssante.fr\r\n",
    "lower-case": f"From: {ANNE}\r\nfrom: eve@autre.mssante.fr\r\n",
    "upper-case": f"FROM: eve@autre.mssante.fr\r\nFrom: {ANNE}\r\n",
    "folded-second": f"From: {ANNE}\r\nFrom:\r\n eve@autre.mssante.fr\r\n",
    "tab-before-colon": f"From\t: eve@autre.mssante.fr\r\nFrom: {ANNE}\r\n",
}


def header_forgeries() -> Iterator[Hostile]:
    for name, (value, reason) in _FORGED_FROM.items():
        yield Hostile(f"from-{name}-reply", mail(sender=value), "Refused", reason)
        yield Hostile(
            f"from-{name}-new",
            mail(sender=value, to="bridge@sandbox.mssante.fr, x@y.mssante.fr", references=""),
            "Refused",
            reason,
        )
    for name, block in _TWO_FROM.items():
        yield Hostile(f"{name}", mail(sender=None, extra=block), "Refused", "several_from")
    yield Hostile("no-from", mail(sender=None), "Refused", "no_from")
    # Sender and Reply-To never make the author.
    for name, extra, sender in [
        ("sender-is-member", f"Sender: {ANNE}\r\n", STRANGER),
        ("reply-to-member", f"Reply-To: {ANNE}\r\n", STRANGER),
        ("resent-from-member", f"Resent-From: {ANNE}\r\n", STRANGER),
        ("return-path-member", f"Return-Path: <{world.ANNE_ADDR}>\r\n", STRANGER),
    ]:
        yield Hostile(name, mail(sender=sender, extra=extra), "Refused", "not_token_holder")
    yield Hostile(
        "reply-to-attacker-author-is-anne",
        mail(extra="Reply-To: eve@autre.mssante.fr\r\n"),
        "Accepted",
        text="D'accord.",
    )
    # Tokens authenticate their holder only.
    yield Hostile(
        "bruno-with-anne-token",
        mail(sender=f"Bruno <{world.BRUNO_ADDR}>"),
        "Refused",
        "not_token_holder",
    )
    yield Hostile("stranger-with-anne-token", mail(sender=STRANGER), "Refused", "not_token_holder")
    yield Hostile("outsider-with-anne-token", mail(sender=OUTSIDER), "Refused", "untrusted_domain")
    yield Hostile(
        "patient-mailbox", mail(sender="p@patient.mssante.fr"), "Refused", "patient_mailbox"
    )
    yield Hostile(
        "look-alike-domain",
        mail(sender="anne.martin@sandbox.mssanté.fr"),
        "Refused",
        "untrusted_domain",
    )
    yield Hostile(
        "forged-token",
        mail(to=f"bridge+{world.FORGED}@sandbox.mssante.fr", references=""),
        "Refused",
        "forged_token",
    )
    yield Hostile(
        "expired-token",
        mail(to=f"bridge+{world.EXPIRED}@sandbox.mssante.fr", references=""),
        "Refused",
        "expired_token",
    )
    yield Hostile(
        "token-of-removed-member",
        mail(to=f"bridge+{REMOVED_TOKEN}@sandbox.mssante.fr", references="", sender=REMOVED),
        "Refused",
        "member_removed",
    )


REMOVED_MEMBER = "810000000033"
REMOVED = "claire.petit@sandbox.mssante.fr"
REMOVED_TOKEN = tokens.issue(world.KEY, world.CONVERSATION, REMOVED_MEMBER, world.TODAY)


def _ar(value: str) -> str:
    return f"Authentication-Results: {value}\r\n"


RECEIVED = "Received: from client.example by mx.operateur.mssante.fr; Wed, 25 Nov 2026\r\n"
PASS_DMARC = f"{AUTHSERV}; dmarc=pass header.from=sandbox.mssante.fr"
FAIL_DMARC = f"{AUTHSERV}; dmarc=fail header.from=sandbox.mssante.fr"


def forged_authentication() -> Iterator[Hostile]:
    cases = [
        ("ours-pass", _ar(PASS_DMARC) + RECEIVED, "Accepted", None),
        ("ours-fail", _ar(FAIL_DMARC) + RECEIVED, "Refused", "unauthenticated"),
        ("none-at-all", RECEIVED, "Refused", "unauthenticated"),
        (
            "forged-below-our-fail",
            _ar(FAIL_DMARC) + RECEIVED + _ar(PASS_DMARC),
            "Refused",
            "unauthenticated",
        ),
        (
            "forged-below-other-id",
            _ar(FAIL_DMARC) + _ar("evil.example; none") + _ar(PASS_DMARC),
            "Refused",
            "unauthenticated",
        ),
        (
            "other-id-pass",
            _ar("evil.example; dmarc=pass header.from=sandbox.mssante.fr"),
            "Refused",
            "unauthenticated",
        ),
        (
            "downstream-above-ours",
            _ar("filter.internal; dmarc=fail") + _ar(PASS_DMARC) + RECEIVED,
            "Accepted",
            None,
        ),
        (
            "pass-for-another-domain",
            _ar(f"{AUTHSERV}; dmarc=pass header.from=autre.mssante.fr") + RECEIVED,
            "Refused",
            "unauthenticated",
        ),
        (
            "unreadable-ours",
            _ar(f"{AUTHSERV}; dmarc=pass (unclosed") + RECEIVED,
            "Refused",
            "unauthenticated",
        ),
        (
            "comment-hiding-id",
            _ar(f"(x) {AUTHSERV} (y); dmarc=pass (p=reject) header.from=sandbox.mssante.fr")
            + RECEIVED,
            "Accepted",
            None,
        ),
        (
            "huge-forged-header",
            RECEIVED + _ar(f"{AUTHSERV}; " + "dkim=pass header.d=x.fr; " * 2000),
            "Refused",
            "unauthenticated",
        ),
    ]
    for name, extra, verdict, reason in cases:
        yield Hostile(
            f"auth-{name}",
            mail(extra=extra),
            verdict,
            reason,
            text="D'accord." if verdict == "Accepted" else None,
            require=Requirement.DMARC,
        )
    aligned = [
        ("dkim-aligned", "dkim=pass header.d=sandbox.mssante.fr", "Accepted"),
        ("dkim-child", "dkim=pass header.d=mail.sandbox.mssante.fr", "Accepted"),
        ("dkim-sibling", "dkim=pass header.d=autre.mssante.fr", "Refused"),
        ("dkim-shared-parent", "dkim=pass header.d=mssante.fr", "Refused"),
        ("spf-aligned", "spf=pass smtp.mailfrom=bounce@sandbox.mssante.fr", "Accepted"),
        ("spf-other", "spf=pass smtp.mailfrom=eve@autre.mssante.fr", "Refused"),
        (
            "dmarc-fail-dkim-pass",
            "dmarc=fail header.from=sandbox.mssante.fr; dkim=pass header.d=sandbox.mssante.fr",
            "Refused",
        ),
    ]
    for name, results, verdict in aligned:
        yield Hostile(
            f"aligned-{name}",
            mail(extra=_ar(f"{AUTHSERV}; {results}") + RECEIVED),
            verdict,
            None if verdict == "Accepted" else "unauthenticated",
            text="D'accord." if verdict == "Accepted" else None,
            require=Requirement.ALIGNED,
        )


# --- MIME bombs --------------------------------------------------------------------------------


def _nested(depth: int) -> str:
    opening = "".join(
        f'Content-Type: multipart/mixed; boundary="b{n}"\r\n\r\n--b{n}\r\n' for n in range(depth)
    )
    return opening + "Content-Type: text/plain\r\n\r\nfond\r\n"


def _siblings(count: int) -> str:
    part = "--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
    return 'Content-Type: multipart/mixed; boundary="x"\r\n\r\n' + part * count + "--x--\r\n"


def _rfc822(depth: int) -> str:
    return "Content-Type: message/rfc822\r\n\r\n" * depth + "Content-Type: text/plain\r\n\r\nx\r\n"


def _attachments(count: int, size: int = 10) -> str:
    part = (
        "--x\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
        "filename=r.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(b"%" * size).decode().replace("\n", "\r\n")
    )
    head = 'Content-Type: multipart/mixed; boundary="x"\r\n\r\n'
    text = "--x\r\nContent-Type: text/plain\r\n\r\nVoir PJ\r\n"
    return head + text + part * count + "--x--\r\n"


def mime_bombs() -> Iterator[Hostile]:
    bombs = [
        ("nested-30", _nested(30), "too_many_containers"),
        ("nested-1000", _nested(1000), "too_many_containers"),
        ("nested-5000", _nested(5000), "too_many_containers"),
        ("nested-10", _nested(10), "too_deep"),
        ("siblings-150", _siblings(150), "too_many_parts"),
        ("siblings-2000", _siblings(2000), "too_many_parts"),
        ("siblings-30000", _siblings(30000), "too_many_parts"),
        ("rfc822-30", _rfc822(30), "too_many_containers"),
        ("rfc822-3000", _rfc822(3000), "too_many_containers"),
        ("attachments-25", _attachments(25), "too_many_attachments"),
        ("dash-lines", "Content-Type: text/plain\r\n\r\n" + "--\r\n" * 5000, "too_many_parts"),
        (
            "folded-content-types",
            "".join(
                f'Content-Type:\r\n multipart/mixed; boundary="f{n}"\r\n\r\n--f{n}\r\n'
                for n in range(100)
            ),
            "too_many_containers",
        ),
    ]
    for name, body, reason in bombs:
        yield Hostile(f"bomb-{name}", mail(body=body), "Refused", reason)
        # From a stranger the bomb is never opened: refused on the author.
        yield Hostile(
            f"bomb-{name}-outsider", mail(sender=OUTSIDER, body=body), "Refused", "untrusted_domain"
        )
    yield Hostile("bomb-nested-5", mail(body=_nested(5)), "Accepted", text="fond")
    yield Hostile("attachments-20", mail(body=_attachments(19)), "Accepted", text="Voir PJ")
    yield Hostile(
        "attachment-1mb",
        mail(body=_attachments(1, size=1024 * 1024)),
        "Accepted",
        text="Voir PJ",
    )


# --- pathological HTML -------------------------------------------------------------------------

_PATTERNS = {
    "div-open": ("<div ", None),
    "div-closed": ("<div>", "html_too_complex"),
    "br": ("<br>", None),
    "unclosed-b": ("<b>", "html_too_complex"),
    "lt": ("<", None),
    "amp": ("&", None),
    "entities": ("&eacute;", None),
    "numeric-entities": ("&#233;&#x1F600;", None),
    "comment-open": ("<!--", None),
    "attribute-quote": ('x="', None),
    "table": ("<table><tr><td>", "html_too_complex"),
    "p-a": ("<p><a>x", "html_too_complex"),
    "script": ("<script>", None),
    "cdata": ("<![CDATA[", None),
    "tag-name": ("<a", None),
}
_SIZES = {"40k": 40 * 1024, "100k": 100 * 1024, "400k": 400 * 1024, "1m": 1024 * 1024}


def _flood(pattern: str, size: int) -> str:
    return pattern * (size // len(pattern))


def pathological_html() -> Iterator[Hostile]:
    for name, (pattern, refusal) in _PATTERNS.items():
        for size_name, size in _SIZES.items():
            markup = "<p>Bonjour</p>" + _flood(pattern, size)
            reason = refusal
            # Over the element cap (20 000), or more "<" than 4 per allowed element.
            if markup.count("<") > 80_000 or (name == "br" and size // 4 > 20_000):
                reason = "html_too_complex"
            yield Hostile(
                f"html-{name}-{size_name}",
                mail(body=html(markup)),
                "Refused" if reason else "Accepted",
                reason,
            )
            yield Hostile(
                f"html-{name}-{size_name}-stranger",
                mail(sender=STRANGER, body=html(markup)),
                "Refused",
                "not_token_holder",
            )
    yield Hostile(
        "html-huge-attribute",
        mail(body=html('<p title="' + "x" * 1_000_000 + '">Bonjour</p>')),
        "Accepted",
    )
    yield Hostile(
        "html-over-size",
        mail(body=html("<p>x</p>" * 400_000)),
        "Refused",
        "html_too_large",
    )
    yield Hostile(
        "html-accents",
        mail(body=html("<p>Rendez-vous fix&eacute; au 2 d&eacute;cembre.</p>")),
        "Accepted",
        text="Rendez-vous fixé au 2 décembre.",
    )


# --- charsets and broken encodings -------------------------------------------------------------

TEXT = "Évolution favorable, cœur à 72 ; Ça va « bien » 😀"
LATIN = "Évolution favorable, Ça va « bien » à 72"


def _part(payload: str, *, charset: str | None, encoding: str = "8bit") -> str:
    declared = f"; charset={charset}" if charset else ""
    return (
        f"Content-Type: text/plain{declared}\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
        f"{payload}"
    )


def _bytes_as_str(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def charsets() -> Iterator[Hostile]:
    good = [
        ("utf8-8bit", TEXT, "utf-8", "utf-8", "8bit"),
        ("utf8-qp", TEXT, "utf-8", "utf-8", "quoted-printable"),
        ("utf8-b64", TEXT, "utf-8", "utf-8", "base64"),
        ("utf8-undeclared", TEXT, "utf-8", None, "8bit"),
        ("utf8-declared-latin1", TEXT, "utf-8", "iso-8859-1", "8bit"),
        ("utf8-declared-ascii", TEXT, "utf-8", "us-ascii", "8bit"),
        ("latin1-8bit", LATIN, "latin-1", "iso-8859-1", "8bit"),
        ("latin1-qp", LATIN, "latin-1", "iso-8859-1", "quoted-printable"),
        ("latin1-b64", LATIN, "latin-1", "iso-8859-1", "base64"),
        ("latin1-declared-utf8", LATIN, "latin-1", "utf-8", "8bit"),
        ("latin1-undeclared", LATIN, "latin-1", None, "8bit"),
        ("latin1-unknown-charset", LATIN, "latin-1", "x-bogus", "8bit"),
        ("cp1252", "Reçu – merci « vu » €", "cp1252", "windows-1252", "8bit"),
        ("cp1252-declared-latin1", "Reçu – merci €", "cp1252", "iso-8859-1", "8bit"),
        ("utf16", TEXT, "utf-16", "utf-16", "base64"),
        ("koi8r", "Привет, всё хорошо", "koi8-r", "koi8-r", "8bit"),
        ("shift-jis", "了解しました", "shift_jis", "shift_jis", "base64"),
        ("iso-2022-jp", "了解しました", "iso-2022-jp", "iso-2022-jp", "7bit"),
        ("gb2312", "好的，谢谢", "gb2312", "gb2312", "base64"),
        ("quoted-charset", TEXT, "utf-8", '"UTF-8"', "8bit"),
    ]
    for name, text, codec, declared, encoding in good:
        data = text.encode(codec)
        if encoding == "quoted-printable":
            payload = quopri.encodestring(data).decode("ascii")
        elif encoding == "base64":
            payload = base64.encodebytes(data).decode("ascii")
        else:
            payload = _bytes_as_str(data)
        yield Hostile(
            f"charset-{name}",
            mail(body=_part(payload, charset=declared, encoding=encoding)),
            "Accepted",
            text=text,
        )
    broken = [
        ("base64-garbage", _part("!!!not base64 at all ***", charset="utf-8", encoding="base64")),
        ("base64-truncated", _part("w4l2b2x1dGlvbg", charset="utf-8", encoding="base64")),
        (
            "qp-broken",
            _part("=C3=\r\n=ZZ caf=E9 =\r\n", charset="utf-8", encoding="quoted-printable"),
        ),
        ("invalid-utf8", _part(_bytes_as_str(b"caf\xc3 \xff\xfe ok"), charset="utf-8")),
        ("nul-bytes", _part("a\x00b\x00c", charset="utf-8")),
        ("unknown-encoding", _part("Bonjour", charset="utf-8", encoding="x-uuencode-9")),
        ("mixed-line-endings", _part("ligne 1\rligne 2\nligne 3\r\n", charset="utf-8")),
        ("8bit-header-subject", _part("Bonjour", charset="utf-8")),
    ]
    for name, body in broken:
        yield Hostile(f"broken-{name}", mail(body=body), "Accepted")
    yield Hostile(
        "encoded-subject-bad-charset",
        mail(subject="=?x-bogus?q?caf=E9?= =?utf-8?b?!!!?=", body=_part("Vu.", charset="utf-8")),
        "Accepted",
        text="Vu.",
    )
    yield Hostile(
        "8bit-subject",
        mail(subject=_bytes_as_str("Re: café".encode("latin-1"))),
        "Accepted",
        text="D'accord.",
    )
    yield Hostile(
        "emoji-and-accents-html",
        mail(body=html("<p>&Eacute;tienne &#x1F600; 😀 na&iuml;ve</p>")),
        "Accepted",
        text="Étienne 😀 😀 naïve",
    )


# --- loops and automatic mail ------------------------------------------------------------------


def loops() -> Iterator[Hostile]:
    automatic = {
        "auto-submitted-replied": "Auto-Submitted: auto-replied\r\n",
        "auto-submitted-generated": "Auto-Submitted: auto-generated\r\n",
        "auto-submitted-notified": "Auto-Submitted: auto-notified; owner-email=x@y.fr\r\n",
        "x-autoreply": "X-Autoreply: yes\r\n",
        "x-autorespond": "X-Autorespond: yes\r\n",
        "precedence-bulk": "Precedence: bulk\r\n",
        "precedence-junk": "Precedence: junk\r\n",
        "precedence-list": "Precedence: list\r\n",
        "precedence-auto-reply": "Precedence: auto_reply\r\n",
    }
    for name, extra in automatic.items():
        yield Hostile(f"auto-{name}", mail(extra=extra), "Automatic")
        yield Hostile(f"auto-{name}-stranger", mail(sender=OUTSIDER, extra=extra), "Automatic")
    for subject in [
        "Réponse automatique : Suivi",
        "Absence du bureau",
        "Out of Office: Suivi",
        "Automatic reply: Suivi",
        "Auto-Reply: Suivi",
        "Je suis absent",
        "Message d'absence",
    ]:
        yield Hostile(f"auto-subject-{subject[:12]}", mail(subject=subject), "Automatic")
    for name, sender in [
        ("bridge", "SPICO <bridge@sandbox.mssante.fr>"),
        ("bridge-token", f"SPICO <bridge+{world.VALID}@sandbox.mssante.fr>"),
        ("bridge-upper", "BRIDGE@SANDBOX.MSSANTE.FR"),
    ]:
        yield Hostile(f"loop-{name}", mail(sender=sender), "Refused", "loop")
    yield Hostile(
        "auto-submitted-no-is-human",
        mail(extra="Auto-Submitted: no\r\n"),
        "Accepted",
        text="D'accord.",
    )


# --- DSNs --------------------------------------------------------------------------------------


def _dsn(recipient: str, original: str | None, action: str = "failed") -> bytes:
    returned = (
        "--r\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: SPICO <bridge@sandbox.mssante.fr>\r\nMessage-ID: {original}\r\n\r\n"
        if original
        else ""
    )
    body = (
        'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
        "--r\r\nContent-Type: text/plain\r\n\r\nUndelivered.\r\n"
        "--r\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.chu-test.mssante.fr\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: 5.1.1\r\n\r\n"
        + returned
        + "--r--\r\n"
    )
    return mail(
        sender="MAILER-DAEMON@mx.chu-test.mssante.fr (Mail Delivery System)",
        to="bridge@sandbox.mssante.fr",
        subject="Undelivered Mail Returned to Sender",
        references="",
        body=body,
    )


def forged_dsns() -> Iterator[Hostile]:
    bruno = world.BRUNO_ADDR
    cases = [
        ("matching", _dsn(bruno, world.SENT_ID), "counts"),
        ("matching-angle", _dsn(f"<{bruno}>", world.SENT_ID), "counts"),
        ("unknown-id", _dsn(bruno, "<spico.0000@sandbox.mssante.fr>"), "ignored"),
        ("other-recipient", _dsn(world.ANNE_ADDR, world.SENT_ID), "ignored"),
        ("no-original", _dsn(bruno, None), "ignored"),
        ("delayed", _dsn(bruno, world.SENT_ID, action="delayed"), "ignored"),
        ("delivered", _dsn(bruno, world.SENT_ID, action="delivered"), "ignored"),
        ("stranger-recipient", _dsn("eve@autre.mssante.fr", world.SENT_ID), "ignored"),
        ("garbage-recipient", _dsn("not an address", world.SENT_ID), "ignored"),
        (
            "guessed-id",
            _dsn(bruno, "<spico.5f1c0e0e8a7b4c2d9e3f1a2b3c4d5e6e@sandbox.mssante.fr>"),
            "ignored",
        ),
    ]
    for name, raw, outcome in cases:
        yield Hostile(f"dsn-{name}", raw, "Bounce", outcome)
    bomb = _dsn(bruno, world.SENT_ID).replace(
        b"--r--", b"".join(b"--r\r\nContent-Type: multipart/mixed\r\n\r\n" for _ in range(50))
    )
    yield Hostile("dsn-bomb", bomb, "Bounce", "ignored")


# --- quotes that are not quotes ------------------------------------------------------------------


def _plain(text: str) -> str:
    return f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}"


def not_quotes() -> Iterator[Hostile]:
    texts = {
        "prescription-gt": "Bonjour\n> 2 g/j de paracétamol : ARRÊTER\nMerci",
        "gt-at-end": "Bonjour\n\n> 2 g/j de paracétamol : ARRÊTER",
        "interleaved": "Voir :\n\nLe 25/11/2026 à 10:00, SPICO a écrit :\n> Q1\nR1\n> Q2\nR2",
        "bottom-posted": "Le 25/11/2026 à 10:00, SPICO a écrit :\n> Q1\n\nMa réponse",
        "prose-attribution": "Le patient a écrit :\n> J'ai mal",
        "bare-dashes": "Dose 2 g\n--\nArrêter le paracétamol",
        "forwarded": "Résultats :\n---------- Forwarded message ---------\nFrom: labo\nHb 12",
    }
    for name, text in texts.items():
        yield Hostile(f"text-{name}", mail(body=_plain(text)), "Accepted", text=text)
    yield Hostile(
        "text-only-quote",
        mail(body=_plain("Le 25/11/2026 à 10:00, SPICO a écrit :\n> Bonjour")),
        "Refused",
        "empty",
    )
    yield Hostile("text-empty", mail(body=_plain("")), "Refused", "empty")
    yield Hostile(
        "text-markers-megabyte",
        mail(body=_plain("Le 1 a écrit :\n> q\nDe : x\n____\n" * 25_000)),
        "Accepted",
    )


def sizes() -> Iterator[Hostile]:
    yield Hostile(
        "too-large",
        mail(body=_plain("a" * 100)) + b"x" * (41 * 1024 * 1024),
        "Refused",
        "too_large",
    )
    huge_header = "X-Filler: " + "a" * 200_000 + "\r\n"
    yield Hostile("header-too-large", mail(extra=huge_header), "Refused", "header_too_large")
    many = "".join(f"X-H{n}: v\r\n" for n in range(10_000))
    yield Hostile("many-header-fields", mail(extra=many), "Accepted", text="D'accord.")
    yield Hostile(
        "text-over-part-size",
        mail(body=_plain("a" * (5 * 1024 * 1024))),
        "Refused",
        "text_too_large",
    )


def all_cases() -> list[Hostile]:
    cases = [
        *header_forgeries(),
        *forged_authentication(),
        *mime_bombs(),
        *pathological_html(),
        *charsets(),
        *loops(),
        *forged_dsns(),
        *not_quotes(),
        *sizes(),
    ]
    names = [case.name for case in cases]
    assert len(names) == len(set(names)), "duplicate case names"
    return cases
