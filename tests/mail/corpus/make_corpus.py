"""Writes the inbound-mail corpus (``*.eml`` + ``index.yaml``); run it to regenerate.

The mails are shaped after what real clients send (Thunderbird, Outlook, Apple Mail, Gmail,
mobile clients, auto-responders, MTAs' DSNs). Tokens are issued with ``KEY`` for the
conversation and members of ``tests/mail/test_corpus.py``; "today" there is ``TODAY``.
"""

from __future__ import annotations

import base64
import quopri
from datetime import date
from pathlib import Path

import yaml

from bridge.mail import tokens

HERE = Path(__file__).resolve().parent
KEY = b"corpus-key-" * 4
TODAY = date(2026, 11, 25)
CONVERSATION = "conv_0123456789abcdef0123456789abcdef"
ANNE, BRUNO = "810000000017", "810000000025"
ANNE_ADDR, BRUNO_ADDR = "anne.martin@sandbox.mssante.fr", "bruno.durand@chu-test.mssante.fr"
OWN = "bridge@sandbox.mssante.fr"
SENT_ID = "<spico.5f1c0e0e8a7b4c2d9e3f1a2b3c4d5e6f@sandbox.mssante.fr>"
SUBJECT = "[SPICO] J.D. Suivi plaie"
VALID = tokens.issue(KEY, CONVERSATION, ANNE, date(2027, 2, 1))
VALID_BRUNO = tokens.issue(KEY, CONVERSATION, BRUNO, date(2027, 2, 1))
EXPIRED = tokens.issue(KEY, CONVERSATION, ANNE, date(2026, 1, 1))
FORGED = VALID[:-4] + ("aaaa" if VALID[-4:] != "aaaa" else "bbbb")
REPLY_TO = f"bridge+{VALID}@sandbox.mssante.fr"
QUOTED_FR = "> Bonjour, pouvez-vous passer voir J.D. demain ?\n> \n> -- \n> SPICO"


def headers(
    *,
    sender: str = f"Anne Martin <{ANNE_ADDR}>",
    to: str = REPLY_TO,
    subject: str = "Re: " + SUBJECT,
    mid: str,
    in_reply_to: str | None = SENT_ID,
    references: str | None = None,
    extra: str = "",
) -> str:
    refs = references if references is not None else f"<rt.{VALID}@sandbox.mssante.fr> {SENT_ID}"
    lines = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        "Date: Wed, 25 Nov 2026 10:30:00 +0100",
        f"Message-ID: <{mid}@client.example.mssante.fr>",
        "MIME-Version: 1.0",
    ]
    if in_reply_to:
        lines.append(f"In-Reply-To: {in_reply_to}")
    if refs:
        lines.append(f"References: {refs}")
    text = "\n".join(lines) + "\n"
    text += extra.strip("\n") + "\n" if extra.strip() else ""
    return text.encode("utf-8").decode("latin-1")  # 8-bit UTF-8 headers, byte for byte


def plain(body: str, charset: str = "utf-8", encoding: str = "8bit") -> str:
    raw = body.encode(charset)
    if encoding == "quoted-printable":
        payload = quopri.encodestring(raw).decode("ascii")
    elif encoding == "base64":
        payload = base64.encodebytes(raw).decode("ascii")
    else:
        payload = raw.decode("latin-1")  # the bytes as they are (written back as latin-1)
    return (
        f'Content-Type: text/plain; charset="{charset}"; format=flowed\n'
        f"Content-Transfer-Encoding: {encoding}\n\n{payload}"
    )


def alternative(text: str, html: str, boundary: str = "alt-b0undary") -> str:
    return (
        f'Content-Type: multipart/alternative; boundary="{boundary}"\n\n'
        f"--{boundary}\n{plain(text, encoding='quoted-printable')}\n"
        f"--{boundary}\nContent-Type: text/html; charset=utf-8\n"
        f"Content-Transfer-Encoding: quoted-printable\n\n"
        f"{quopri.encodestring(html.encode()).decode('ascii')}\n--{boundary}--\n"
    )


def html_only(html: str, charset: str = "utf-8") -> str:
    payload = base64.encodebytes(html.encode(charset)).decode("ascii")
    return (
        f"Content-Type: text/html; charset={charset}\nContent-Transfer-Encoding: base64\n\n"
        f"{payload}"
    )


def with_attachment(text: str, name: str, data: bytes, ctype: str = "application/pdf") -> str:
    b = "mixed-b0undary"
    return (
        f'Content-Type: multipart/mixed; boundary="{b}"\n\n'
        f"--{b}\n{plain(text)}\n"
        f'--{b}\nContent-Type: {ctype}; name="{name}"\n'
        f'Content-Disposition: attachment; filename="{name}"\n'
        f"Content-Transfer-Encoding: base64\n\n{base64.encodebytes(data).decode('ascii')}"
        f"--{b}--\n"
    )


def dsn(recipient: str, action: str = "failed", status: str = "5.1.1") -> str:
    b = "dsn-b0undary"
    return (
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{b}"\n\n'
        f"--{b}\nContent-Type: text/plain; charset=us-ascii\n\n"
        "This is the mail system at host mx.chu-test.mssante.fr.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients.\n\n"
        f"--{b}\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.chu-test.mssante.fr\n\n"
        f"Final-Recipient: rfc822; {recipient}\nOriginal-Recipient: rfc822;{recipient}\n"
        f"Action: {action}\nStatus: {status}\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\n\n"
        f"--{b}\nContent-Type: text/rfc822-headers\n\n"
        f"From: SPICO <{OWN}>\nMessage-ID: {SENT_ID}\nSubject: {SUBJECT}\n\n"
        f"--{b}--\n"
    )


CASES: list[dict] = []


def case(
    name: str,
    raw: str,
    verdict: str,
    *,
    text: str = "",
    reason: str | None = None,
    member: str | None = None,
    attachments: int = 0,
    about: str = "",
) -> None:
    CASES.append(
        {
            "file": f"{len(CASES) + 1:02d}-{name}.eml",
            "about": about or name.replace("-", " "),
            "raw": raw,
            "verdict": verdict,
            "reason": reason,
            "member": member if member is not None else (ANNE if verdict == "accepted" else None),
            "text": text,
            "attachments": attachments,
        }
    )


ANSWER = "D'accord, je passe demain matin."

# --- clients: quoted text and signatures --------------------------------------------------------
case(
    "thunderbird-fr",
    headers(mid="tb-fr", extra="User-Agent: Mozilla Thunderbird")
    + plain(
        f"{ANSWER}\n\nLe 25/11/2026 à 10:00, Dr Jean Dupont (via SPICO) a écrit :\n{QUOTED_FR}\n"
    ),
    "accepted",
    text=ANSWER,
)
case(
    "thunderbird-en",
    headers(mid="tb-en", extra="User-Agent: Mozilla Thunderbird")
    + plain(
        f"OK, tomorrow morning.\n\nOn 11/25/26 10:00 AM, Dr Jean Dupont (via SPICO) wrote:\n"
        f"{QUOTED_FR}\n"
    ),
    "accepted",
    text="OK, tomorrow morning.",
)
case(
    "outlook-fr-message-d-origine",
    headers(mid="ol-fr-1", extra="X-Mailer: Microsoft Outlook 16.0")
    + plain(
        f"{ANSWER}\n\nCordialement\n\n-----Message d'origine-----\nDe : SPICO <{OWN}>\n"
        f"Envoyé : mercredi 25 novembre 2026 10:00\nÀ : Anne Martin <{ANNE_ADDR}>\n"
        f"Objet : {SUBJECT}\n\nBonjour, pouvez-vous passer voir J.D. demain ?\n",
        "windows-1252",
        "quoted-printable",
    ),
    "accepted",
    text=f"{ANSWER}\n\nCordialement",
)
case(
    "outlook-fr-underscores",
    headers(mid="ol-fr-2", extra="X-Mailer: Microsoft Outlook 16.0")
    + plain(
        f"{ANSWER}\n\n________________________________\nDe : SPICO <{OWN}>\n"
        f"Envoyé : mercredi 25 novembre 2026 10:00\nÀ : Anne Martin\nObjet : {SUBJECT}\n\n"
        "Bonjour\n"
    ),
    "accepted",
    text=ANSWER,
)
case(
    "outlook-fr-header-block",
    headers(mid="ol-fr-3")
    + plain(
        f"{ANSWER}\n\nDe : SPICO <{OWN}>\nEnvoyé : mercredi 25 novembre 2026 10:00\n"
        f"À : Anne Martin\nObjet : {SUBJECT}\n\nBonjour\n"
    ),
    "accepted",
    text=ANSWER,
)
case(
    "outlook-en-header-block",
    headers(mid="ol-en")
    + plain(
        f"Will do.\n\nFrom: SPICO <{OWN}>\nSent: Wednesday, November 25, 2026 10:00 AM\n"
        f"To: Anne Martin\nSubject: {SUBJECT}\n\nHello\n"
    ),
    "accepted",
    text="Will do.",
)
case(
    "outlook-fr-html-only",
    headers(mid="ol-fr-html")
    + html_only(
        "<html><body><div>D'accord, je passe <b>demain</b> matin.</div>"
        '<div id="appendonsend"></div><hr style="display:inline-block">'
        f'<div id="divRplyFwdMsg"><b>De :</b> SPICO &lt;{OWN}&gt;<br><b>Envoyé :</b> mercredi'
        "<br><b>Objet :</b> Suivi</div><div>Bonjour, pouvez-vous passer ?</div></body></html>"
    ),
    "accepted",
    text=ANSWER,
)
case(
    "apple-mail-fr",
    headers(mid="apple-fr", extra="X-Mailer: Apple Mail (2.3774)")
    + plain(
        f"{ANSWER}\n\n> Le 25 nov. 2026 à 10:00, Dr Jean Dupont (via SPICO) <{OWN}> a écrit :\n"
        f">\n{QUOTED_FR}\n",
        encoding="quoted-printable",
    ),
    "accepted",
    text=ANSWER,
)
case(
    "apple-mail-en",
    headers(mid="apple-en", extra="X-Mailer: iPhone Mail (21A329)")
    + plain(
        "Fine.\n\nSent from my iPhone\n\n> On 25 Nov 2026, at 10:00, SPICO <"
        f"{OWN}> wrote:\n>\n{QUOTED_FR}\n"
    ),
    "accepted",
    text="Fine.",
)
case(
    "gmail-fr-wrapped-attribution",
    headers(mid="gm-fr")
    + alternative(
        f"{ANSWER}\n\nLe mer. 25 nov. 2026 à 10:00, Dr Jean Dupont (via SPICO) <\n"
        f"{OWN}> a écrit :\n\n"
        f"{QUOTED_FR}\n",
        f'<div dir="ltr">{ANSWER}</div><br><div class="gmail_quote"><div class="gmail_attr">'
        "Le mer. 25 nov. 2026 à 10:00, SPICO a écrit&nbsp;:<br></div><blockquote>Bonjour"
        "</blockquote></div>",
    ),
    "accepted",
    text=ANSWER,
)
case(
    "gmail-en",
    headers(mid="gm-en")
    + alternative(
        f"Sure.\n\nOn Wed, Nov 25, 2026 at 10:00 AM SPICO <{OWN}> wrote:\n\n{QUOTED_FR}\n",
        '<div>Sure.</div><div class="gmail_quote">On Wed SPICO wrote:<blockquote>x</blockquote>'
        "</div>",
    ),
    "accepted",
    text="Sure.",
)
case(
    "signature-dash-dash",
    headers(mid="sig")
    + plain(f"{ANSWER}\n\n-- \nDr Anne Martin\nInfirmière libérale\n06 00 00 00 00\n"),
    "accepted",
    text=ANSWER,
)
case(
    "mobile-signature-fr",
    headers(mid="mobile") + plain(f"{ANSWER}\n\nEnvoyé de mon iPhone\n"),
    "accepted",
    text=ANSWER,
)
case(
    "outlook-mobile",
    headers(mid="outlook-mobile")
    + plain(
        f"{ANSWER}\n\nObtenir Outlook pour Android\n________________________________\n"
        f"From: SPICO <{OWN}>\nSent: Wednesday\nTo: Anne\nSubject: Suivi\n\nBonjour\n"
    ),
    "accepted",
    text=ANSWER,
)
case(
    "multi-paragraph",
    headers(mid="paragraphs")
    + plain(
        "Bonjour,\n\nJe passe demain.\nPansement refait.\n\nBien à vous\n\n"
        f"Le 25/11/2026 à 10:00, SPICO a écrit :\n{QUOTED_FR}\n"
    ),
    "accepted",
    text="Bonjour,\n\nJe passe demain.\nPansement refait.\n\nBien à vous",
)

# --- encodings ------------------------------------------------------------------------------------
ACCENTS = "Évolution favorable, cicatrisation à J+5 ; température 37,2 °C."
case(
    "utf8-quoted-printable",
    headers(mid="qp") + plain(ACCENTS, "utf-8", "quoted-printable"),
    "accepted",
    text=ACCENTS,
)
case(
    "utf8-base64", headers(mid="b64") + plain(ACCENTS, "utf-8", "base64"), "accepted", text=ACCENTS
)
case(
    "latin1-quoted-printable",
    headers(mid="l1qp") + plain(ACCENTS, "iso-8859-1", "quoted-printable"),
    "accepted",
    text=ACCENTS,
)
case(
    "latin1-base64",
    headers(mid="l1b64") + plain(ACCENTS, "iso-8859-1", "base64"),
    "accepted",
    text=ACCENTS,
)
case(
    "latin1-8bit",
    headers(mid="l18") + plain(ACCENTS, "iso-8859-1", "8bit"),
    "accepted",
    text=ACCENTS,
)
case(
    "windows-1252",
    headers(mid="cp1252") + plain("Reçu – merci « vu »", "windows-1252", "quoted-printable"),
    "accepted",
    text="Reçu – merci « vu »",
)
case(
    "encoded-subject-and-name",
    headers(
        mid="enc-subj",
        sender=f"=?utf-8?q?Anne_Martin_=C3=A9?= <{ANNE_ADDR}>",
        subject="=?iso-8859-1?q?Re=3A_=5BSPICO=5D_J=2ED=2E_Suivi_plaie_=E9?=",
    )
    + plain("Vu."),
    "accepted",
    text="Vu.",
)
case(
    "html-only",
    headers(mid="html-only")
    + html_only("<html><body><p>Je passe <i>demain</i>.</p><p>Bien à vous</p></body></html>"),
    "accepted",
    text="Je passe demain.\n\nBien à vous",
)
case(
    "html-only-latin1",
    headers(mid="html-l1")
    + html_only("<p>Température&nbsp;normale, évolution favorable.</p>", "iso-8859-1"),
    "accepted",
    text="Température normale, évolution favorable.",
)
case(
    "alternative-prefers-plain",
    headers(mid="alt") + alternative("Texte brut.", "<p>Texte <b>HTML</b>.</p>"),
    "accepted",
    text="Texte brut.",
)

# --- attachments --------------------------------------------------------------------------------
case(
    "attachment-small",
    headers(mid="att") + with_attachment("Voici la photo.", "plaie.pdf", b"%PDF-1.4 small"),
    "accepted",
    text="Voici la photo.",
    attachments=1,
)
case(
    "attachment-too-big",
    headers(mid="att-big") + with_attachment("Trop gros.", "scanner.pdf", b"x" * 3000),
    "accepted",
    text="Trop gros.",
    attachments=0,
    about="attachment over the corpus limit (2,000 bytes) is dropped",
)
case(
    "attachment-only",
    headers(mid="att-only") + with_attachment("", "ordonnance.pdf", b"%PDF-1.4 ordonnance"),
    "accepted",
    text="",
    attachments=1,
)

# --- automatic mail -----------------------------------------------------------------------------
case(
    "auto-submitted",
    headers(mid="auto1", extra="Auto-Submitted: auto-replied")
    + plain("Je suis absente jusqu'au 1er décembre."),
    "auto_reply",
    reason="auto_reply",
)
case(
    "x-autoreply",
    headers(mid="auto2", extra="X-Autoreply: yes") + plain("Absent."),
    "auto_reply",
    reason="auto_reply",
)
case(
    "precedence-bulk",
    headers(mid="auto3", extra="Precedence: bulk") + plain("Lettre."),
    "auto_reply",
    reason="auto_reply",
)
case(
    "precedence-auto-reply",
    headers(mid="auto4", extra="Precedence: auto_reply") + plain("Absent."),
    "auto_reply",
    reason="auto_reply",
)
case(
    "precedence-list",
    headers(mid="auto5", extra="Precedence: list") + plain("Liste."),
    "auto_reply",
    reason="auto_reply",
)
case(
    "subject-reponse-automatique",
    headers(mid="auto6", subject="Réponse automatique : " + SUBJECT) + plain("Absente."),
    "auto_reply",
    reason="auto_reply",
)
case(
    "subject-absence-du-bureau",
    headers(mid="auto7", subject="Absence du bureau") + plain("Absente."),
    "auto_reply",
    reason="auto_reply",
)
case(
    "subject-out-of-office",
    headers(mid="auto8", subject="Out of Office: " + SUBJECT) + plain("Away."),
    "auto_reply",
    reason="auto_reply",
)
case(
    "subject-automatic-reply-outlook",
    headers(mid="auto9", subject="Automatic reply: " + SUBJECT) + plain("Away."),
    "auto_reply",
    reason="auto_reply",
)

# --- bounces ------------------------------------------------------------------------------------
case(
    "dsn-postfix",
    headers(
        mid="dsn1",
        sender="MAILER-DAEMON@mx.chu-test.mssante.fr (Mail Delivery System)",
        to=OWN,
        subject="Undelivered Mail Returned to Sender",
        in_reply_to=None,
        references="",
    )
    + dsn(BRUNO_ADDR),
    "bounce",
    reason="bounce",
)
case(
    "dsn-exchange-fr",
    headers(
        mid="dsn2",
        sender="postmaster@chu-test.mssante.fr",
        to=OWN,
        subject="Non remis : " + SUBJECT,
        in_reply_to=None,
        references="",
    )
    + dsn(ANNE_ADDR, status="5.2.2"),
    "bounce",
    reason="bounce",
)

# --- refusals -----------------------------------------------------------------------------------
case(
    "forged-token",
    headers(mid="forged", to=f"bridge+{FORGED}@sandbox.mssante.fr", in_reply_to=None, references="")
    + plain("Faux."),
    "refused",
    reason="forged_token",
)
case(
    "expired-token",
    headers(
        mid="expired",
        to=f"bridge+{EXPIRED}@sandbox.mssante.fr",
        references=f"<rt.{EXPIRED}@sandbox.mssante.fr> {SENT_ID}",
    )
    + plain("Trop tard."),
    "refused",
    reason="expired_token",
)
case(
    "no-token-new-mail",
    headers(mid="notoken", to=OWN, subject="Question", in_reply_to=None, references="")
    + plain("Bonjour, une question."),
    "refused",
    reason="no_token",
)
case(
    "known-thread-but-no-token",
    headers(mid="notoken2", to=OWN, references=SENT_ID) + plain("Sans jeton."),
    "refused",
    reason="no_token",
)
case(
    "subject-tag-but-no-token",
    headers(mid="subject-only", to=OWN, in_reply_to=None, references="") + plain("Par le sujet."),
    "refused",
    reason="no_token",
    about="conversation found by its subject tag, but no token",
)
case(
    "spoofed-from-stranger",
    headers(mid="spoof", sender="Eve <eve.x@sandbox.mssante.fr>") + plain("Je ne suis pas membre."),
    "refused",
    reason="stranger",
)
case(
    "untrusted-domain",
    headers(mid="gmail", sender="Anne <anne.martin@gmail.com>") + plain("Depuis ma boîte perso."),
    "refused",
    reason="untrusted_domain",
)
case(
    "patient-mailbox",
    headers(mid="patient", sender="<1234567890123@patient.mssante.fr>") + plain("Patient."),
    "refused",
    reason="untrusted_domain",
)
case(
    "loop-from-ourselves",
    headers(mid="loop", sender=f"SPICO <{OWN}>") + plain("Écho."),
    "refused",
    reason="loop",
)
case(
    "only-quoted-text",
    headers(mid="empty") + plain(f"Le 25/11/2026 à 10:00, SPICO a écrit :\n{QUOTED_FR}\n"),
    "refused",
    reason="empty",
    member=ANNE,
)
case(
    "no-from-header",
    "To: " + REPLY_TO + "\nSubject: ?\nMessage-ID: <nofrom@x>\n\nRien.\n",
    "refused",
    reason="unreadable",
)

# --- who answers, and where the token is ------------------------------------------------------
case(
    "other-member-with-forwarded-token",
    headers(mid="bruno", sender=f"Bruno Durand <{BRUNO_ADDR}>") + plain("Je confirme."),
    "accepted",
    text="Je confirme.",
    member=BRUNO,
)
case(
    "token-only-in-references",
    headers(mid="refs-only", to=f"SPICO <{OWN}>") + plain("Réponse à l'expéditeur."),
    "accepted",
    text="Réponse à l'expéditeur.",
    about="the client answered From (no sub-address): the token in References is used",
)
case(
    "token-upper-case",
    headers(
        mid="upper",
        to=f"bridge+{VALID.upper()}@sandbox.mssante.fr",
        in_reply_to=None,
        references="",
    )
    + plain("En majuscules."),
    "accepted",
    text="En majuscules.",
)
case(
    "token-in-cc",
    headers(
        mid="cc",
        to="Jean <jean.dupont@sandbox.mssante.fr>",
        in_reply_to=None,
        references="",
        extra=f"Cc: {REPLY_TO}",
    )
    + plain("En copie."),
    "accepted",
    text="En copie.",
)
case(
    "bruno-own-token",
    headers(
        mid="bruno2",
        sender=BRUNO_ADDR,
        to=f"bridge+{VALID_BRUNO}@sandbox.mssante.fr",
        in_reply_to=None,
        references="",
    )
    + plain("Avec mon jeton."),
    "accepted",
    text="Avec mon jeton.",
    member=BRUNO,
)


def main() -> None:
    for old in HERE.glob("*.eml"):
        old.unlink()
    index = []
    for item in CASES:
        raw = item.pop("raw")
        (HERE / item["file"]).write_bytes(raw.replace("\n", "\r\n").encode("latin-1"))
        index.append(item)
    (HERE / "index.yaml").write_text(
        "# Inbound mail corpus: expected verdict, reason, author and extracted text.\n"
        "# Generated by make_corpus.py (edit there, then run it).\n"
        + yaml.safe_dump(index, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
