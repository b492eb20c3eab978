"""The body: caps before work, every charset, text parts in order, attachments bounded."""

from __future__ import annotations

import base64

from bridge.mail.body import Body, BodyProblem, decode_text, read_body
from bridge.mail.limits import MailLimits

HEAD = "From: a@x.mssante.fr\r\nMIME-Version: 1.0\r\n"


def mail(body: str) -> bytes:
    return (HEAD + body).encode("utf-8", "surrogateescape")


def read(raw: bytes, limits: MailLimits | None = None) -> Body:
    body = read_body(raw, limits)
    assert isinstance(body, Body), body
    return body


def test_charsets_declared_undeclared_and_wrong() -> None:
    assert decode_text("é".encode(), "iso-8859-1") == "é"  # UTF-8 labelled latin-1
    assert decode_text("é".encode("latin-1"), "utf-8") == "é"  # latin-1 labelled UTF-8
    assert decode_text("€".encode("cp1252"), None) == "€"
    assert decode_text("é".encode("latin-1"), "x-unknown") == "é"
    assert decode_text("Привет".encode("koi8-r"), "koi8-r") == "Привет"
    assert decode_text(b"\x81\x8d", "us-ascii") == "\x81\x8d"  # latin-1 never fails


def test_html_only_keeps_entities_and_accents() -> None:
    raw = mail(
        "Content-Type: text/html; charset=utf-8\r\n\r\n"
        "<p>Rendez-vous fix&eacute; au 2 d&eacute;cembre.</p>"
    )
    assert read(raw).text == "Rendez-vous fixé au 2 décembre."


def test_alternative_prefers_plain_and_mixed_texts_follow_each_other() -> None:
    raw = mail(
        'Content-Type: multipart/mixed; boundary="m"\r\n\r\n'
        '--m\r\nContent-Type: multipart/alternative; boundary="a"\r\n\r\n'
        "--a\r\nContent-Type: text/plain\r\n\r\nPremier\r\n"
        "--a\r\nContent-Type: text/html\r\n\r\n<p>HTML</p>\r\n--a--\r\n"
        "--m\r\nContent-Type: image/png\r\nContent-Disposition: inline; filename=x.png\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(b"png").decode() + "\r\n"
        "--m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSecond 😀\r\n--m--\r\n"
    )
    body = read(raw)
    assert body.text == "Premier\n\nSecond 😀"
    assert [(a.filename, a.data) for a in body.attachments] == [("x.png", b"png")]


def test_attachments_over_the_size_are_left_out_and_counted() -> None:
    part = (
        "--m\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
        "filename=r.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{data}\r\n"
    )
    raw = mail(
        'Content-Type: multipart/mixed; boundary="m"\r\n\r\n'
        "--m\r\nContent-Type: text/plain\r\n\r\nVoir PJ\r\n"
        + part.format(data=base64.b64encode(b"x" * 100).decode())
        + part.format(data=base64.b64encode(b"x" * 5000).decode())
        + "--m--\r\n"
    )
    body = read(raw, MailLimits(max_attachment_bytes=1000))
    assert len(body.attachments) == 1 and body.dropped_attachments == 1


def test_mime_bombs_are_refused_before_the_tree_is_built() -> None:
    nested = "".join(
        f'Content-Type: multipart/mixed; boundary="b{n}"\r\n\r\n--b{n}\r\n' for n in range(5000)
    )
    assert read_body(mail(nested)) is BodyProblem.TOO_MANY_CONTAINERS
    siblings = 'Content-Type: multipart/mixed; boundary="x"\r\n\r\n' + (
        "--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n" * 5000
    )
    assert read_body(mail(siblings + "--x--\r\n")) is BodyProblem.TOO_MANY_PARTS
    deep = "".join(
        f'Content-Type: multipart/mixed; boundary="b{n}"\r\n\r\n--b{n}\r\n' for n in range(12)
    )
    assert read_body(mail(deep + "Content-Type: text/plain\r\n\r\nx")) is BodyProblem.TOO_DEEP


def test_text_and_html_over_their_size_are_refused() -> None:
    limits = MailLimits(max_text_part_bytes=1000, max_html_bytes=500)
    big = mail("Content-Type: text/plain\r\n\r\n" + "a" * 2000)
    assert read_body(big, limits) is BodyProblem.TEXT_TOO_LARGE
    html = mail("Content-Type: text/html\r\n\r\n" + "<p>a</p>" * 100)
    assert read_body(html, limits) is BodyProblem.HTML_TOO_LARGE
    elements = mail("Content-Type: text/html\r\n\r\n" + "<br>" * 40_000)
    assert read_body(elements) is BodyProblem.HTML_TOO_COMPLEX


def test_the_new_text_over_the_limit_is_flagged() -> None:
    body = read(
        mail("Content-Type: text/plain\r\n\r\n" + "a" * 500), MailLimits(max_text_chars=100)
    )
    assert body.dropped_text and len(body.text) == 100
