"""Threat model §1 (inbound mail) against real Postfix + Dovecot, one rule at a time.

One bridge runs in-process for the whole module with ``require: dmarc`` and its own mailbox,
members following three SPICO conversations of the sandbox by mail. Hostile mails come in
through the MX port, as another operator's server delivers them; the session's Postfix plays
the operator's receiving server: for the envelope senders below it writes the
``Authentication-Results`` a DMARC milter would, above the ``Received`` field of the session
(``LocalMailServer.set_authentication``), and none for any other sender. What a mail led to is
read where the bridge keeps it (``mail_messages``: how it ended and why), in SPICO, and in the
mailboxes the bridge's answers would reach.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import email.utils
import json
import smtplib
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest

from bridge.mail.localserver import LocalMailServer
from bridge.spico.client import SpicoClient
from bridge.spico.sandbox.seed import Directory
from bridge.store import mail as mail_repo
from bridge.store import repositories as repo
from tests.fixtures.bridge import bridge_config
from tests.fixtures.sandbox import Personas, SandboxProcess
from tests.fixtures.waiting import eventually
from tests.fixtures.worlds import SPICO_CURSOR, InProcessBridge, compose_reply, mail_section

BRIDGE = "passerelle@test.mssante.fr"
PASSWORD = "boundary-password"
AUTHSERV = "mx.test.mssante.fr"
#: Envelope senders for which the operator's server writes its verdict (the others get none).
PASSES = "dmarc-pass@operator.test"
FAILS = "dmarc-fail@operator.test"
UNJUDGED = "unjudged@operator.test"
DOMAIN = "sandbox.mssante.fr"
EVE = "eve.intruse@sandbox.mssante.fr"  # in the trust space, in no conversation
FRANK = "frank.sanstoken@sandbox.mssante.fr"  # likewise, and authenticated
OUTSIDER = "dr.inconnu@gmail.com"
IMAP_CURSOR = "mail:imap:INBOX"
#: What the issue asks of a legitimate reply during a burst of hostile mail.
BURST_BOUND_SECONDS = 2.0


@dataclass
class Member:
    id: str
    address: str


@dataclass
class Boundary:
    bridge: InProcessBridge
    server: LocalMailServer
    spico: SpicoClient
    doctor: str
    anne: Member
    bruno: Member
    carol: Member
    dave: Member
    #: The main conversation (Anne and Bruno follow it by mail) and its first mail to each.
    conversation: str = ""
    first: dict[str, EmailMessage] = field(default_factory=dict)
    #: The conversation ``start_conversation`` made last.
    last_conversation: str = ""

    # --- sending -----------------------------------------------------------------------------

    async def deliver(self, mails: Sequence[bytes | EmailMessage], *, sender: str = PASSES) -> None:
        """Deliver through the MX port on one connection, as another operator's server does;
        ``sender`` is the envelope sender (which decides what the operator's server writes).
        In a thread: the bridge runs in this event loop."""

        def send() -> None:
            with smtplib.SMTP("127.0.0.1", self.server.ports.mx, timeout=30) as client:
                for mail in mails:
                    raw = mail if isinstance(mail, bytes) else mail.as_bytes()
                    client.sendmail(sender, [_recipient(raw)], raw)

        await asyncio.to_thread(send)

    def reply(
        self, member: Member, body: str, *, original: EmailMessage | None = None
    ) -> EmailMessage:
        """``member``'s answer to the mail they got (the main conversation's by default)."""
        return compose_reply(
            original or self.first[member.id],
            body,
            sender=member.address,
            mid=email.utils.make_msgid(domain="client.sandbox.mssante.fr"),
        )

    # --- reading -----------------------------------------------------------------------------

    async def outcome(self, message_id: str) -> tuple[str | None, str | None]:
        """How the bridge recorded the mail (verdict, reason), once it has."""

        async def recorded() -> mail_repo.MessageRow | None:
            async with self.bridge.store.transaction() as session:
                rows = await repo.in_session(session, mail_repo.get_messages, [message_id])
            return rows.get(message_id)

        row = await eventually(recorded, f"the bridge to handle {message_id}", within=60)
        return row.verdict, row.reason

    async def outcomes(self, mails: Sequence[EmailMessage]) -> list[tuple[str | None, str | None]]:
        return [await self.outcome(str(mail["Message-ID"])) for mail in mails]

    async def bodies(self, conversation: str | None = None) -> list[str]:
        messages = await self.spico.list_messages(conversation or self.conversation)
        return [m.body for m in messages]

    def answers(self, address: str) -> list[EmailMessage]:
        """The bridge's automatic answers in a mailbox (conversation mails aside)."""
        found = []
        for raw in self.server.messages(address):
            mail = email.message_from_bytes(raw, policy=email.policy.default)
            if mail["Auto-Submitted"] == "auto-replied" and not mail["Reply-To"]:
                found.append(mail)
        return found  # type: ignore[return-value]

    async def start_conversation(
        self, subject: str, *members: Member, wait: bool = True
    ) -> dict[str, EmailMessage]:
        """A new conversation of the doctor with ``members``; the first mail each gets."""
        created = await self.spico.create_conversation(
            on_behalf_of=self.doctor,
            acting_as=self.doctor,
            members=[m.id for m in members],
            subject=subject,
            message=f"Premier message : {subject}",
        )
        self.last_conversation = created.conversation.id
        firsts = {}
        for member in members if wait else ():
            firsts[member.id] = await eventually(
                lambda m=member: _thread_mail(self.server, m.address, subject),
                f"the first mail to {member.address}",
            )
        return firsts


def _thread_mail(server: LocalMailServer, address: str, subject: str) -> EmailMessage | None:
    for raw in server.messages(address):
        mail = email.message_from_bytes(raw, policy=email.policy.default)
        if subject in str(mail["Subject"]) and mail["Reply-To"]:
            return mail  # type: ignore[return-value]
    return None


def _recipient(raw: bytes) -> str:
    """Where a test mail goes: its token sub-address when it has one, else the bridge."""
    mail = email.message_from_bytes(raw[:20_000], policy=email.policy.compat32)
    to = str(mail.get("To") or "")
    for _, address in email.utils.getaddresses([to]):
        if address.lower().startswith("passerelle+"):
            return address
    return BRIDGE


def _with_header(mail: EmailMessage, name: str, value: str) -> bytes:
    """The mail with a header field written at its very top (what a forger does)."""
    return f"{name}: {value}\r\n".encode() + mail.as_bytes()


def _with_from(mail: EmailMessage, *values: str) -> bytes:
    """The mail with its ``From`` replaced by ``values`` (one field each)."""
    del mail["From"]
    head, _, body = mail.as_bytes().partition(b"\n\n")
    fields = "".join(f"From: {value}\n" for value in values).encode()
    return fields + head + b"\n\n" + body


@pytest.fixture(scope="module")
async def boundary(
    mail_server: LocalMailServer,
    spico_sandbox: SandboxProcess,
    spico_directory: Directory,
    personas: Personas,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Boundary]:
    folder = tmp_path_factory.mktemp("boundary")
    people = {p.id: p for p in spico_directory.professionals}
    anne, bruno, carol, dave = (
        Member(i, people[i].mssante_address.lower()) for i in personas.colleagues[30:34]
    )
    mail_server.add_mailboxes(
        {
            address: PASSWORD
            for address in (BRIDGE, EVE, FRANK, anne.address, bruno.address, carol.address)
        }
        | {dave.address: PASSWORD}
    )
    verdict = "{} (p=reject) header.from=" + DOMAIN
    mail_server.set_authentication(
        {
            PASSES: f"{AUTHSERV}; spf=pass smtp.mailfrom={DOMAIN}; " + verdict.format("dmarc=pass"),
            FAILS: f"{AUTHSERV}; spf=fail smtp.mailfrom={DOMAIN}; " + verdict.format("dmarc=fail"),
        }
    )
    section = mail_section(
        mail_server,
        folder / "secrets",
        address=BRIDGE,
        authentication={"require": "dmarc", "authserv_id": AUTHSERV},
        max_attachment_bytes=100_000,
        answers={"per_address": 2},
    )
    (folder / "secrets" / "bridge-password").write_text(PASSWORD)
    for transport in ("smtp", "imap"):
        section[transport] = {**section[transport], "username": BRIDGE}
    section["imap"]["poll_interval_seconds"] = 30
    path = bridge_config(
        folder,
        spico_sandbox,
        database_url=f"sqlite:///{folder / 'bridge.db'}",
        poll_wait_seconds=2,
        participants=[
            {"spico_id": m.id, "mail": m.address, "delivery": "mail"}
            for m in (anne, bruno, carol, dave)
        ],
        mail=section,
    )
    bridge = InProcessBridge(path, cursors=(SPICO_CURSOR, IMAP_CURSOR))
    # Dave's mailbox returns what it gets (test_a_forged_dsn_counts_for_nothing_…).
    mail_server.set_fault(dave.address, "FILTER error:5.2.2 mailbox full")
    async with SpicoClient(spico_sandbox.base_url, spico_sandbox.token) as spico:
        try:
            await bridge.start()
            found = Boundary(bridge, mail_server, spico, personas.doctor, anne, bruno, carol, dave)
            found.first = await found.start_conversation(f"Plaie {time.time_ns()}", anne, bruno)
            found.conversation = found.last_conversation
            yield found
        finally:
            await bridge.close()
            mail_server.set_fault(dave.address, None)


# --- one author, read as mail servers read it ----------------------------------------------------


async def test_a_forged_author_is_refused_whatever_its_form(boundary: Boundary) -> None:
    anne = boundary.anne
    forms = {
        "address_in_name": (f'"{anne.address}" <{EVE}>',),
        "several_from": (anne.address, EVE),
        "not_one_mailbox": (f"{anne.address}, {EVE}",),
        "group": (f"Soins: {anne.address};",),
    }
    mails = {reason: boundary.reply(anne, f"Arrêter le traitement ({reason})") for reason in forms}
    await boundary.deliver([_with_from(mails[reason], *forms[reason]) for reason in forms])
    for reason, mail in mails.items():
        expected = "not_one_mailbox" if reason == "group" else reason
        assert await boundary.outcome(str(mail["Message-ID"])) == ("refused", expected)
    # The member's display-name form asking for a conversation starts none.
    new = EmailMessage()
    new["To"] = BRIDGE
    new["Cc"] = boundary.bruno.address
    new["Subject"] = f"Nouvelle conversation {time.time_ns()}"
    new["Message-ID"] = email.utils.make_msgid(domain="client.sandbox.mssante.fr")
    new.set_content("Bonjour")
    await boundary.deliver([_with_from(new, f'"{anne.address}" <{EVE}>')])
    assert await boundary.outcome(str(new["Message-ID"])) == ("refused", "address_in_name")
    assert not [b for b in await boundary.bodies() if b.startswith("Arrêter")]
    page = await boundary.spico.list_conversations(member=anne.id, limit=200)
    assert all(c.subject != new["Subject"] for c in page.conversations)
    assert boundary.answers(anne.address) == [] and boundary.answers(EVE) == [], (
        "no author was read: nobody is answered"
    )


# --- a reply token authenticates its holder only --------------------------------------------------


async def test_another_members_token_is_refused(boundary: Boundary) -> None:
    # Bruno answers the mail Anne forwarded him (her token), authenticated as himself.
    forwarded = boundary.reply(
        boundary.bruno, "Je réponds pour Anne", original=boundary.first[boundary.anne.id]
    )
    await boundary.deliver([forwarded])
    assert await boundary.outcome(str(forwarded["Message-ID"])) == ("refused", "not_token_holder")
    own = boundary.reply(boundary.anne, "Anne répond elle-même")
    await boundary.deliver([own])
    assert await boundary.outcome(str(own["Message-ID"])) == ("accepted", None)
    bodies = await boundary.bodies()
    assert "Anne répond elle-même" in bodies and "Je réponds pour Anne" not in bodies


async def test_a_removed_members_token_no_longer_works(boundary: Boundary) -> None:
    carol = boundary.carol
    firsts = await boundary.start_conversation(f"Retrait {time.time_ns()}", boundary.anne, carol)
    conversation = boundary.last_conversation
    await boundary.spico.remove_member(
        conversation, carol.id, on_behalf_of=boundary.doctor, acting_as=boundary.doctor
    )

    async def removed() -> bool:
        async with boundary.bridge.store.transaction() as session:
            snapshot = await repo.get_conversation(session, conversation)
        return snapshot is not None and carol.id not in snapshot.members

    await eventually(removed, "the bridge to learn that Carol left")
    reply = boundary.reply(carol, "Toujours là ?", original=firsts[carol.id])
    await boundary.deliver([reply])
    assert await boundary.outcome(str(reply["Message-ID"])) == ("refused", "member_removed")
    assert "Toujours là ?" not in await boundary.bodies(conversation)


# --- sender authentication: the operator's own Authentication-Results -----------------------------


async def test_require_dmarc_reads_only_the_operators_verdict(boundary: Boundary) -> None:
    anne = boundary.anne
    failed = boundary.reply(anne, "Sans DMARC")
    await boundary.deliver([failed], sender=FAILS)
    # A forger writes a pass with the operator's id at the top of its mail: it lands below the
    # operator's own verdict and the Received field of the session, where it counts for nothing.
    forged_ours = boundary.reply(anne, "Faux verdict")
    pass_claim = f"{AUTHSERV}; dmarc=pass header.from={DOMAIN}"
    await boundary.deliver(
        [_with_header(forged_ours, "Authentication-Results", pass_claim)], sender=FAILS
    )
    # A pass under another id, on a mail the operator's server did not judge.
    forged_other = boundary.reply(anne, "Autre serveur")
    other_claim = f"mx.autre.fr; dmarc=pass header.from={DOMAIN}"
    await boundary.deliver(
        [_with_header(forged_other, "Authentication-Results", other_claim)], sender=UNJUDGED
    )
    passed = boundary.reply(anne, "Avec DMARC")
    await boundary.deliver([passed], sender=PASSES)
    assert await boundary.outcomes([failed, forged_ours, forged_other, passed]) == [
        ("refused", "unauthenticated"),
        ("refused", "unauthenticated"),
        ("refused", "unauthenticated"),
        ("accepted", None),
    ]
    bodies = await boundary.bodies()
    assert "Avec DMARC" in bodies
    assert not {"Sans DMARC", "Faux verdict", "Autre serveur"} & set(bodies)


async def test_an_unauthenticated_new_conversation_starts_nothing_unanswered(
    boundary: Boundary,
) -> None:
    subject = f"Avis non authentifié {time.time_ns()}"
    new = EmailMessage()
    new["From"] = boundary.anne.address
    new["To"] = BRIDGE
    new["Cc"] = boundary.bruno.address
    new["Subject"] = subject
    new["Message-ID"] = email.utils.make_msgid(domain="client.sandbox.mssante.fr")
    new.set_content("Bonjour")
    answered = len(boundary.answers(boundary.anne.address))
    await boundary.deliver([new], sender=FAILS)
    assert await boundary.outcome(str(new["Message-ID"])) == ("refused", "unauthenticated")
    page = await boundary.spico.list_conversations(member=boundary.anne.id, limit=200)
    assert all(c.subject != subject for c in page.conversations)
    await asyncio.sleep(1)
    assert len(boundary.answers(boundary.anne.address)) == answered


# --- bounded work, text intact, never cut silently -----------------------------------------------


def _html_only(sender: str, to: str, size: int, mid: str) -> bytes:
    markup = "<div " * (size // 5)
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: Re: dossier\r\nMessage-ID: {mid}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        f"<html><body>{markup}</body></html>\r\n"
    ).encode()


async def test_large_html_from_a_stranger_stalls_nothing(boundary: Boundary) -> None:
    to = str(boundary.first[boundary.anne.id]["Reply-To"])
    floods = [
        _html_only(OUTSIDER, to, 100 * 1024, "<flood-100k@gmail.com>"),
        _html_only(OUTSIDER, to, 1024 * 1024, "<flood-1m@gmail.com>"),
        _html_only(EVE, to, 1024 * 1024, "<flood-1m@sandbox.mssante.fr>"),
    ]
    reply = boundary.reply(boundary.anne, "Réponse après les gros messages")
    await boundary.deliver([*floods, reply])
    assert await boundary.outcome("<flood-100k@gmail.com>") == ("refused", "untrusted_domain")
    assert await boundary.outcome("<flood-1m@gmail.com>") == ("refused", "untrusted_domain")
    assert await boundary.outcome("<flood-1m@sandbox.mssante.fr>") == (
        "refused",
        "not_token_holder",
    )
    assert await boundary.outcome(str(reply["Message-ID"])) == ("accepted", None)
    assert "Réponse après les gros messages" in await boundary.bodies()
    # The same megabyte from the member herself is read, in the worker, and refused.
    own = _html_only(boundary.anne.address, to, 1024 * 1024, "<flood-1m-anne@sandbox.mssante.fr>")
    await boundary.deliver([own])
    assert await boundary.outcome("<flood-1m-anne@sandbox.mssante.fr>") == (
        "refused",
        "html_too_complex",
    )


async def test_html_only_reply_with_entities_and_every_charset_arrive_intact(
    boundary: Boundary,
) -> None:
    html = boundary.reply(boundary.anne, "")
    html.clear_content()
    html.set_content(
        "<html><body><p>Rendez-vous fix&eacute; au 2 d&eacute;cembre&nbsp;&#x1F44D;</p>"
        "</body></html>",
        subtype="html",
    )
    latin = boundary.reply(boundary.anne, "")
    latin.clear_content()
    latin.set_content("Élodie Bérénice : 1 g × 3/j, à réévaluer.\n", charset="iso-8859-1")
    emoji = boundary.reply(boundary.anne, "Merci 🙏 — Zoë Ødegaard, 2 µg/kg")
    await boundary.deliver([html, latin, emoji])
    assert await boundary.outcomes([html, latin, emoji]) == [("accepted", None)] * 3
    bodies = await boundary.bodies()
    assert "Rendez-vous fixé au 2 décembre 👍" in bodies  # &nbsp; reads as a space
    assert "Élodie Bérénice : 1 g × 3/j, à réévaluer." in bodies
    assert "Merci 🙏 — Zoë Ødegaard, 2 µg/kg" in bodies


async def test_a_quote_line_inside_new_text_stays(boundary: Boundary) -> None:
    text = "Bonjour,\n> 2 g/j de paracétamol : ARRÊTER\nMerci de transmettre."
    reply = boundary.reply(boundary.anne, text)  # the original quoted below, after "a écrit :"
    await boundary.deliver([reply])
    assert await boundary.outcome(str(reply["Message-ID"])) == ("accepted", None)
    assert text in await boundary.bodies()


async def test_what_is_left_out_is_told_to_the_author(boundary: Boundary) -> None:
    bruno = boundary.bruno
    before = len(boundary.answers(bruno.address))
    reply = boundary.reply(bruno, "Compte rendu en pièce jointe")
    reply.add_attachment(
        b"%PDF" + b"x" * 150_000, maintype="application", subtype="pdf", filename="cr.pdf"
    )
    await boundary.deliver([reply])
    assert await boundary.outcome(str(reply["Message-ID"])) == ("accepted", None)
    assert "Compte rendu en pièce jointe" in await boundary.bodies()
    (told,) = await eventually(lambda: boundary.answers(bruno.address)[before:], "the notice")
    assert told["Subject"] == "Message transmis en partie à SPICO"
    text = told.get_body(("plain",)).get_content()
    assert "1 pièce(s) jointe(s) de plus de 0.1 Mo" in text


# --- answers are not a relay ---------------------------------------------------------------------


async def test_answers_only_to_authenticated_senders_quoting_nothing_rate_limited(
    boundary: Boundary,
) -> None:
    frank = Member("none", FRANK)  # authenticated, in the trust space, no token of his own
    lure = "Cliquez sur https://phishing.example/ pour valider"

    def forged(number: int) -> EmailMessage:
        mail = boundary.reply(
            frank, f"{lure} ({number})", original=boundary.first[boundary.anne.id]
        )
        del mail["To"], mail["References"], mail["In-Reply-To"]
        mail["To"] = f"passerelle+{'a' * 32}@test.mssante.fr"  # a token that is not one
        mail.replace_header("Subject", f"URGENT {lure}")
        return mail

    unauthenticated = [forged(n) for n in range(2)]
    await boundary.deliver(unauthenticated, sender=FAILS)
    authenticated = [forged(n) for n in range(2, 6)]
    await boundary.deliver(authenticated, sender=PASSES)
    assert await boundary.outcomes(unauthenticated) == [("refused", "unauthenticated")] * 2
    assert await boundary.outcomes(authenticated) == [("refused", "forged_token")] * 4
    await asyncio.sleep(1)  # time for an answer too many to arrive
    answers = boundary.answers(FRANK)
    assert len(answers) == 2, "two a day to one address (mail.answers.per_address: 2)"
    for answer in answers:
        raw = answer.as_string()
        assert "phishing" not in raw and "URGENT" not in raw and "Cliquez" not in raw
        assert not answer["In-Reply-To"] and not answer["References"]
        assert answer["Subject"] == "Message non transmis à SPICO"
        assert "le lien de réponse est invalide" in answer.get_body(("plain",)).get_content()


# --- DSNs ----------------------------------------------------------------------------------------


def _dsn(recipient: str, original: str, mid: str) -> bytes:
    return (
        "From: MAILER-DAEMON@autre.mssante.fr (Mail Delivery System)\r\n"
        f"To: {BRIDGE}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {mid}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nCould not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {original}\r\n\r\n--b--\r\n"
    ).encode()


async def _failing(boundary: Boundary, address: str) -> bool:
    async with boundary.bridge.store.transaction() as session:
        known = await mail_repo.get_address(session, address)
    return known is not None and known.failing


async def test_a_forged_dsn_counts_for_nothing_and_a_real_one_counts(boundary: Boundary) -> None:
    anne, bruno, dave = boundary.anne, boundary.bruno, boundary.dave
    to_anne = str(boundary.first[anne.id]["Message-ID"])
    forged = [
        _dsn(bruno.address, to_anne, "<dsn-1@autre.mssante.fr>"),  # not sent to Bruno
        _dsn(anne.address, "<spico.0000@test.mssante.fr>", "<dsn-2@autre.mssante.fr>"),
    ]
    await boundary.deliver(forged, sender="")
    assert await boundary.outcome("<dsn-1@autre.mssante.fr>") == ("bounce", "ignored")
    assert await boundary.outcome("<dsn-2@autre.mssante.fr>") == ("bounce", "ignored")
    assert not await _failing(boundary, anne.address)
    assert not await _failing(boundary, bruno.address)
    # A real one: Dave's server accepts the bridge's mail, then returns it (Postfix writes the
    # DSN to the bridge's address; the fault is set before the bridge's SMTP session opens).
    await boundary.start_conversation(f"Boîte pleine {time.time_ns()}", dave, wait=False)
    await eventually(lambda: _failing(boundary, dave.address), "the DSN to count", within=60)

    async def notice() -> list[str]:
        bodies = await boundary.bodies(boundary.last_conversation)
        return [b for b in bodies if "n'a pas pu être remis" in b]

    await eventually(notice, "the notice in the conversation", within=30)


# --- a burst of hostile mail ---------------------------------------------------------------------


def _hostile(boundary: Boundary, count: int) -> list[bytes]:
    """``count`` hostile mails of every kind (forged authors, floods, forged tokens, DSNs)."""
    anne = boundary.anne
    to = str(boundary.first[anne.id]["Reply-To"])
    floods = {size: "<div " * (size // 5) for size in (100 * 1024, 1024 * 1024)}
    mails = []
    for number in range(count):
        mid = f"<burst-{number}-{time.time_ns()}@autre.mssante.fr>"
        kind = number % 5
        if kind == 0:
            head = f'From: "{anne.address}" <{EVE}>\r\nTo: {to}\r\n'
            body = "Content-Type: text/plain\r\n\r\nArrêter tout.\r\n"
        elif kind == 1:
            head = f"From: {anne.address}\r\nFrom: {EVE}\r\nTo: {to}\r\n"
            body = "Content-Type: text/plain\r\n\r\nArrêter tout.\r\n"
        elif kind == 2:
            head = f"From: {OUTSIDER}\r\nTo: {to}\r\n"
            flood = floods[1024 * 1024 if number in (2, 102) else 100 * 1024]
            body = f"Content-Type: text/html\r\n\r\n<html>{flood}</html>\r\n"
        elif kind == 3:
            head = f"From: {EVE}\r\nTo: passerelle+{'b' * 32}@test.mssante.fr\r\n"
            body = "Content-Type: text/plain\r\n\r\nBonjour\r\n"
        else:
            mails.append(_dsn(anne.address, "<spico.1@test.mssante.fr>", mid))
            continue
        mails.append(
            (
                f"{head}Subject: Re: urgent\r\nMessage-ID: {mid}\r\nMIME-Version: 1.0\r\n{body}"
            ).encode()
        )
    return mails


#: Another operator's server delivering a plan of mails (envelope sender, recipient, file) on one
#: connection, in a process of its own as in life; prints when the marked one was delivered.
SENDER = """
import json, smtplib, sys, time
port, plan = int(sys.argv[1]), json.load(open(sys.argv[2]))
mails = [(sender, to, open(path, "rb").read(), mark) for sender, to, path, mark in plan]
with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
    for sender, recipient, raw, mark in mails:
        client.sendmail(sender, [recipient], raw)
        if mark:
            print(time.monotonic(), flush=True)
"""


async def test_a_reply_during_a_burst_of_hostile_mail_reaches_spico_in_time(
    boundary: Boundary, tmp_path: Path
) -> None:
    reply = boundary.reply(boundary.anne, f"Réponse pendant l'attaque {time.time_ns()}")
    text = reply.get_body(("plain",)).get_content().split("\n")[0]
    hostile = _hostile(boundary, 200)
    mails = [(UNJUDGED, raw, False) for raw in hostile]
    mails.insert(100, (PASSES, reply.as_bytes(), True))
    plan = []
    for number, (sender, raw, mark) in enumerate(mails):
        path = tmp_path / f"{number}.eml"
        path.write_bytes(raw)
        plan.append((sender, _recipient(raw), str(path), mark))
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    sending = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SENDER,
        str(boundary.server.ports.mx),
        str(tmp_path / "plan.json"),
        stdout=asyncio.subprocess.PIPE,
    )
    assert sending.stdout is not None
    sent = float(await asyncio.wait_for(sending.stdout.readline(), 60))

    async def in_spico() -> bool:
        return text in await boundary.bodies()

    await eventually(in_spico, "the reply in SPICO", within=60, every=0.02)
    elapsed = time.monotonic() - sent
    print(f"\nburst: the reply reached SPICO {elapsed:.2f} s after it was delivered")
    assert elapsed < BURST_BOUND_SECONDS, f"{elapsed:.2f} s"
    assert await asyncio.wait_for(sending.wait(), 60) == 0
    last = hostile[-1].partition(b"Message-ID: ")[2].partition(b"\r\n")[0].decode()
    assert (await boundary.outcome(last))[0] in ("refused", "bounce")
