"""The wire form of the bridge's own mails: what a mail client reads back, and what no value
(names, subjects, file names from SPICO) can break."""

from __future__ import annotations

import email
import email.policy
import random
from email.message import EmailMessage

import pytest

from bridge.mail import mime

ADDRESS = "anne.martin@sandbox.mssante.fr"


def _read(data: bytes) -> EmailMessage:
    mail = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(mail, EmailMessage)
    assert not mail.defects and all(not part.defects for part in mail.walk())
    return mail


def _mail(subject: str, name: str | None = None, **kwargs: object) -> EmailMessage:
    fields = [("From", mime.mailbox(name, ADDRESS)), ("Subject", subject)]
    return _read(mime.render(fields, "texte", "<p>html</p>", boundary="b0", **kwargs))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "subject",
    [
        "[SPICO] J.D. Suivi plaie",
        "[SPICO] Éloïse : pansement à refaire",
        "Suivi " * 40,
        "x" * 300,
        "a\r\nBcc: intrus@example.org",
        "日本語の件名 " * 10,
        "=?utf-8?b?Zm9v?= littéral",
    ],
)
def test_a_subject_reads_back_as_written_and_stays_one_header(subject: str) -> None:
    data = mime.render([("Subject", subject)], "t", None, boundary="b")
    mail = _read(data)
    if "\r" not in subject:
        assert mail["Subject"] == subject
    assert "Bcc" not in mail and len(mail.get_all("Subject")) == 1
    assert all(len(line) <= 998 for line in data.split(b"\n"))
    assert all(len(line) <= 90 for line in data.split(b"\n")[:20])


@pytest.mark.parametrize(
    "name",
    [
        "Dr Jean DUPONT (via SPICO)",
        'Dr "Jo" \\ X',
        "Anne-Éloïse MARTIN",
        "a\r\nBcc: x",
        "Dr Marie-Françoise DE LA TOUR DU PIN-CHAMBLY (via SPICO)",
        "Jean " * 30,
    ],
)
def test_display_names_read_back(name: str) -> None:
    mail = _mail("s", name)
    (address,) = mail["From"].addresses
    assert address.addr_spec == ADDRESS
    # Python's parser keeps the space between encoded-words (mail clients drop it).
    assert " ".join(address.display_name.split()) == " ".join(name.split())
    assert "Bcc" not in mail


@pytest.mark.parametrize(
    "bad", ["a b@x.fr", "a@x.fr\r\nBcc: y@z.fr", "<a@x.fr>", "é@x.fr", "ax.fr"]
)
def test_what_is_no_plain_address_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        mime.mailbox("n", bad)


def test_message_ids_are_checked() -> None:
    assert mime.message_ids("<a@b>", "<c@d>") == "<a@b> <c@d>"
    for bad in ("a@b", "<a b@c>", "<a@b>\r\nBcc: x", ""):
        with pytest.raises(ValueError):
            mime.message_ids(bad)
    with pytest.raises(ValueError):
        mime.headers([("X-MSS-NIL", "a\nb")])


def test_text_html_and_attachments_read_back() -> None:
    text = "Bonjour à tous\n\n.\nFrom here\nligne  \n" + "long " * 100 + "\n--=_ab0\n"
    files = [
        ("rapport été\r\n.pdf", "application/pdf", b"%PDF\x00\xff" * 100),
        ("x.bin", "text/plain\r\nBcc: x", b"data"),
    ]
    mail = _read(
        mime.render([("Subject", "s")], text, "<p>é</p>", boundary="b0", attachments=files)
    )
    assert mail.get_content_type() == "multipart/mixed"
    assert mail.get_body(("plain",)).get_content() == text
    assert mail.get_body(("html",)).get_content() == "<p>é</p>\n"  # a last line end added
    first, second = mail.iter_attachments()
    assert first.get_filename() == "rapport été  .pdf" and first.get_content_type() == (
        "application/pdf"
    )
    assert first.get_content() == files[0][2]
    assert second.get_content_type() == "application/octet-stream"
    assert second.get_content() == b"data"


def test_a_single_text_part() -> None:
    mail = _read(mime.render([("Subject", "s")], "seul", None, boundary="b"))
    assert mail.get_content_type() == "text/plain" and mail.get_content() == "seul\n"


@pytest.mark.parametrize(
    "subject",
    [
        "éèàçù",
        "Éloïse" + "é" * 200,
        "y" * 70 + " court",
        "[SPICO] " + "z" * 76 + " fin",
        "\u2028".join(["a", "b\x00c", "d\x85e", "f\x1bg\tz"]),
    ],
)
def test_subject_edges_stay_one_header_of_short_lines(subject: str) -> None:
    data = mime.render([("Subject", subject), ("To", ADDRESS)], "t", None, boundary="b")
    mail = _read(data)
    shown = "".join(" " if c in "\u2028\x00\x85\x1b\t" else c for c in subject)
    assert mail["Subject"] == shown and mail["To"] == ADDRESS
    head = data.partition(b"\n\n")[0]
    assert all(len(line) <= 78 for line in head.split(b"\n"))


def test_a_first_word_too_long_for_the_first_line_stays_on_it() -> None:
    value = "<mailto:bridge+stop." + "a" * 60 + "@sandbox.mssante.fr>"
    mail = _read(mime.render([("List-Unsubscribe", value)], "t", None, boundary="b"))
    assert mail["List-Unsubscribe"] == value


@pytest.mark.parametrize(
    "name",
    [
        "Éloïse " * 20,
        "日本語の名前",
        "\r\n\x00",
        "Ünïcödé\r\nBcc: x@y.fr",
        '(via) "é" <x@y.fr>',
        "Ève\u202eOCIPS",
    ],
)
def test_non_ascii_display_names_are_short_encoded_words(name: str) -> None:
    data = mime.render([("From", mime.mailbox(name, ADDRESS))], "t", None, boundary="b")
    mail = _read(data)
    (address,) = mail["From"].addresses
    assert address.addr_spec == ADDRESS and "Bcc" not in mail
    shown = " ".join("".join(" " if c in "\r\n\x00\u202e" else c for c in name).split())
    assert " ".join(address.display_name.split()) == shown
    assert all(len(line) <= 78 for line in data.partition(b"\n\n")[0].split(b"\n"))


@pytest.mark.parametrize(
    "filename",
    [
        'a "b" c.pdf',
        "x\r\nContent-Type: text/html\r\n\r\n<p>",
        "été ①.txt",
        "\n",
        "",
        "a\u202efdp.exe",
    ],
)
def test_attachment_names_stay_one_parameter(filename: str) -> None:
    files = [(filename, "text/plain", b"data")]
    mail = _read(mime.render([("Subject", "s")], "t", None, boundary="b", attachments=files))
    (part,) = mail.iter_attachments()
    shown = "".join(" " if c in "\r\n\u202e" else c for c in filename).strip() or "piece-jointe"
    assert part.get_filename() == shown and part.get_content_type() == "text/plain"
    assert part.get_content() == "data" and len(part.keys()) == 3


def test_only_the_mail_has_a_mime_version() -> None:
    files = [("a.pdf", "application/pdf", b"x")]
    data = mime.render([("Subject", "s")], "t", "<p>h</p>", boundary="b", attachments=files)
    assert data.count(b"MIME-Version") == 1 and _read(data)["MIME-Version"] == "1.0"


def test_a_long_file_name_is_shortened_within_a_line() -> None:
    files = [("é" * 400 + ".pdf", "application/pdf", b"x"), ("z" * 100, "text/plain", b"y")]
    data = mime.render([("Subject", "s")], "t", None, boundary="b", attachments=files)
    first, second = _read(data).iter_attachments()
    assert first.get_filename() == "é" * 55 + "….pdf" and second.get_filename() == "z" * 59 + "…"
    assert all(len(line) <= 998 for line in data.split(b"\n"))


def test_no_text_or_file_can_break_out_of_its_part() -> None:
    """Texts made of what could end a part or a mail (boundary lines, ``=``, a lone dot, line
    ends of every kind, trailing blanks, NUL) read back exactly, in exactly their parts."""
    pieces = ["a", "é", "=", "=_", " ", "\t", "\n", "\r", "\r\n", ".", "--", "--=_ab0", "--=_mb0--"]
    pieces += ["x" * 80, "日本", "\x00", "=\n", "From ", " \n", "\n.\n"]
    rng = random.Random(2026)
    for _ in range(300):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 50)))
        html = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 20)))
        data = rng.randbytes(rng.randint(0, 200))
        files = [("f.bin", "application/octet-stream", data)]
        mail = _read(mime.render([("Subject", "s")], text, html, boundary="b0", attachments=files))
        leaves = [part for part in mail.walk() if not part.is_multipart()]
        assert [part.get_content_type() for part in leaves] == [
            "text/plain",
            "text/html",
            "application/octet-stream",
        ]
        written = [t.replace("\r\n", "\n").replace("\r", "\n") for t in (text, html)]
        expected = [t if t.endswith("\n") else t + "\n" for t in written]
        assert [leaves[0].get_content(), leaves[1].get_content()] == expected
        assert leaves[2].get_content() == data


@pytest.mark.parametrize(
    "name, value",
    [
        ("References", " ".join(f"<spico.{i:032x}@sandbox.mssante.fr>" for i in range(6))),
        ("List-Unsubscribe", "<mailto:bridge+stop." + "k" * 32 + "@sandbox.mssante.fr>"),
        ("In-Reply-To", "<" + "m" * 120 + "@x.fr> <a@b.fr>"),
        ("Subject", "Suivi  de  plaie " * 12),
        ("X-Long", "a" + " " * 100 + "b"),
    ],
)
def test_long_ascii_values_fold_at_spaces_and_read_back(name: str, value: str) -> None:
    block = mime.headers([(name, value)])
    mail = _read(block.encode() + b"\nt\n")
    assert mail[name] == value and block.startswith(f"{name}: {value.split(' ')[0]}")
    lines = block.rstrip("\n").split("\n")
    assert all(line.strip() for line in lines)
    # Within 78 characters, but for a line holding one word too long to fold.
    assert all(len(line) <= 78 or len(line.split(": ", 1)[-1].split()) == 1 for line in lines)
