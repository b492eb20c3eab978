"""The mail inbox: what one mail leads to (unit tests on a real SQLite store, with the real mail
sink sending through a fake SMTP, a fake hub poster), then the IMAP reader against Dovecot
(cursor after each mail, flag or move, never twice, a failing mail set aside)."""

from __future__ import annotations

import imaplib
import ssl
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from bridge.config import load_config
from bridge.core.delivery import BRIDGE_WORLD, POISON_ATTEMPTS
from bridge.core.errors import ServiceUnavailable
from bridge.core.model import Participant, World
from bridge.mail.author import AuthorProblem
from bridge.mail.inbound import (
    PROCESSED_KEYWORD,
    SET_ASIDE_KEYWORD,
    MailInbox,
    imap_mailbox_name,
    open_imap,
)
from bridge.mail.localserver import LocalMailServer
from bridge.mail.outbound import MailSink
from bridge.mail.receiver import RawMail
from bridge.store import mail as mail_repo
from bridge.store import repositories as repo
from bridge.store.models import AuditEntry
from bridge.store.repositories import Store
from tests.fakes import FakePoster, FakeSmtp
from tests.fixtures.bridge import bridge_config
from tests.fixtures.sandbox import SandboxProcess
from tests.fixtures.sqlite import audit_trail
from tests.fixtures.worlds import compose_reply, text_of
from tests.mail.helpers import (
    ANNE,
    ANNE_ADDRESS,
    BRIDGE,
    DOCTOR,
    anne_job,
    mail_config,
    mail_inbox,
    mail_sink,
)

PASSWORD = "inbox-password"


# --- one mail ----------------------------------------------------------------------------------

STRANGER = "eve.inconnue@sandbox.mssante.fr"


@dataclass
class Inbox:
    """The inbox and the sink of a bridge whose member Anne follows conversation conv_1 by
    mail; ``first`` is the first mail she got."""

    inbox: MailInbox
    sink: MailSink
    store: Store
    poster: FakePoster
    smtp: FakeSmtp
    first: EmailMessage

    async def handle(self, mail: EmailMessage | bytes) -> str:
        """Read one mail; how it ended and why, as "handled/reason"."""
        raw = mail if isinstance(mail, bytes) else mail.as_bytes()
        outcome = await self.inbox.handle(raw)
        return f"{outcome.handled.value}/{outcome.reason}"

    def reply(
        self, body: str, *, sender: str = ANNE_ADDRESS, mid: str | None = None
    ) -> EmailMessage:
        return compose_reply(self.first, body, sender=sender, mid=mid)

    async def recorded(self, message_id: str) -> mail_repo.MessageRow | None:
        async with self.store.transaction() as session:
            return (await repo.in_session(session, mail_repo.get_messages, [message_id])).get(
                message_id
            )


@pytest.fixture
async def inbox(
    tmp_path: Path, sqlite_store: Store, request: pytest.FixtureRequest
) -> AsyncIterator[Inbox]:
    participants = [{"spico_id": ANNE, "mail": ANNE_ADDRESS, "delivery": "mail"}]
    mail = getattr(request, "param", {})
    config = mail_config(tmp_path, participants=participants, max_attachment_bytes=200_000, **mail)
    smtp, poster = FakeSmtp(), FakePoster()
    sink = mail_sink(config, sqlite_store, smtp, poster.fetch_attachment)
    configured = {ANNE: Participant(ANNE, mail=ANNE_ADDRESS)}
    async with sqlite_store.transaction() as session:  # what the hub keeps of the conversation
        await repo.in_session(
            session,
            repo.save_conversation,
            repo.ConversationSnapshot("conv_1", "Plaie", DOCTOR, (DOCTOR, ANNE), None, 1),
        )
    await sink.deliver(anne_job(1, "Premier message"))
    [first] = smtp.to(ANNE_ADDRESS)
    smtp.sent.clear()
    inbox = mail_inbox(config, sqlite_store, poster, sink, configured)
    try:
        yield Inbox(inbox, sink, sqlite_store, poster, smtp, first)
    finally:
        await inbox.close()


async def test_a_reply_is_posted_once_as_its_author_without_the_quote(inbox: Inbox) -> None:
    reply = inbox.reply("Je passe demain matin.")
    assert await inbox.handle(reply) == "accepted/None"
    [posted] = inbox.poster.posted
    assert posted.world is World.MAIL and posted.source_id == reply["Message-ID"]
    assert (posted.conversation_id, posted.author_id, posted.acting_as) == ("conv_1", ANNE, ANNE)
    assert posted.origin == ANNE and posted.body == "Je passe demain matin."
    row = await inbox.recorded(reply["Message-ID"])
    assert row is not None and (row.verdict, row.spico_message_id) == ("accepted", "msg-1")
    assert ("mail.in", "accepted", None) in await audit_trail(inbox.store)
    # The same mail read again (a client resending it, a replayed mailbox): once.
    assert await inbox.handle(reply) == "accepted/duplicate"
    assert len(inbox.poster.attempts) == 1 and inbox.smtp.sent == []


async def test_a_reply_carries_its_files(inbox: Inbox) -> None:
    reply = inbox.reply("Ci-joint")
    reply.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="cr.pdf")
    assert await inbox.handle(reply) == "accepted/None"
    [posted] = inbox.poster.posted
    assert [(a.filename, a.content_type, a.data) for a in posted.attachments] == [
        ("cr.pdf", "application/pdf", b"%PDF-1.4")
    ]
    assert inbox.smtp.sent == [], "nothing left out: nothing to say"


async def test_a_file_left_out_is_told_to_the_author(inbox: Inbox) -> None:
    reply = inbox.reply("Voici le compte rendu")
    reply.add_attachment(b"x" * 300_000, maintype="application", subtype="pdf", filename="big.pdf")
    assert await inbox.handle(reply) == "accepted/None"
    [posted] = inbox.poster.posted
    assert posted.body == "Voici le compte rendu" and posted.attachments == ()
    [told] = inbox.smtp.to(ANNE_ADDRESS)
    assert told["Subject"] == "Message transmis en partie à SPICO"
    assert told["Auto-Submitted"] == "auto-replied"
    assert "1 pièce(s) jointe(s) de plus de 0.2 Mo" in text_of(told)
    assert ("mail.answer", "sent", "dropped") in await audit_trail(inbox.store)


@pytest.mark.parametrize("inbox", [{"max_attachments": 2}], indirect=True)
async def test_files_beyond_the_cap_are_left_out_and_the_author_told(inbox: Inbox) -> None:
    reply = inbox.reply("Trois fichiers")
    for name in ("a.pdf", "b.pdf", "c.pdf"):
        reply.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename=name)
    assert await inbox.handle(reply) == "accepted/None"
    [posted] = inbox.poster.posted
    assert [a.filename for a in posted.attachments] == ["a.pdf", "b.pdf"]
    [told] = inbox.smtp.to(ANNE_ADDRESS)
    assert "1 pièce(s) jointe(s) au-delà des 2 acceptées" in text_of(told)


async def test_spico_down_leaves_the_mail_to_be_read_again(inbox: Inbox) -> None:
    reply = inbox.reply("Pendant la panne")
    inbox.poster.outage()
    with pytest.raises(ServiceUnavailable):
        await inbox.handle(reply)
    assert await inbox.recorded(reply["Message-ID"]) is None
    inbox.poster.recover()
    assert await inbox.handle(reply) == "accepted/None"
    assert [m.body for m in inbox.poster.posted] == ["Pendant la panne"]


async def test_a_spico_refusal_is_recorded_and_answered_in_the_bridges_words(
    inbox: Inbox,
) -> None:
    inbox.poster.refuse("not_a_member", "Not a member.")
    reply = inbox.reply("Refusé")
    reply.replace_header("Subject", "Re: appelez le 06 00 00 00 00")
    assert await inbox.handle(reply) == "refused/spico_refused"
    row = await inbox.recorded(reply["Message-ID"])
    assert row is not None and (row.verdict, row.reason) == ("refused", "spico_refused")
    [answer] = inbox.smtp.to(ANNE_ADDRESS)
    assert answer["Auto-Submitted"] == "auto-replied"
    assert answer["Subject"] == "Message non transmis à SPICO"
    raw = answer.as_string()
    assert "06 00" not in raw and "Refusé" not in raw and reply["Message-ID"] not in raw
    assert "SPICO l'a refusé" in text_of(answer)


async def test_a_copied_message_id_cannot_make_a_members_reply_a_duplicate(inbox: Inbox) -> None:
    reply = inbox.reply("La vraie réponse")
    copy = inbox.reply("Fausse", sender="dr.x@gmail.com", mid=str(reply["Message-ID"]))
    assert await inbox.handle(copy) == "refused/untrusted_domain"
    assert await inbox.handle(reply) == "accepted/None"
    assert [m.body for m in inbox.poster.posted] == ["La vraie réponse"]
    row = await inbox.recorded(reply["Message-ID"])
    assert row is not None and (row.verdict, row.reason, row.member_id) == ("accepted", None, ANNE)
    assert ("mail.in", "accepted", None) in await audit_trail(inbox.store)
    assert await inbox.handle(reply) == "accepted/duplicate", "the member's own mail does count"


async def test_another_members_token_is_refused_and_answers_are_rate_limited(
    inbox: Inbox,
) -> None:
    for attempt in range(5):
        assert await inbox.handle(inbox.reply(f"Intrusion {attempt}", sender=STRANGER)) == (
            "refused/not_token_holder"
        )
    answers = inbox.smtp.to(STRANGER)
    assert len(answers) == 3, "three a day to one address (mail.answers.per_address)"
    assert all("autre participant" in text_of(a) for a in answers)
    assert all("Intrusion" not in a.as_string() for a in answers)
    assert inbox.poster.attempts == []


@pytest.mark.parametrize("inbox", [{"answers": {"per_address": 5, "total": 2}}], indirect=True)
async def test_answers_are_rate_limited_in_total(inbox: Inbox) -> None:
    for number in range(4):
        sender = f"dr.{number}@sandbox.mssante.fr"
        await inbox.handle(inbox.reply("Bonjour", sender=sender))
    assert len(inbox.smtp.sent) == 2
    assert [a for _, _, a in await audit_trail(inbox.store)].count("not_token_holder") == 6


async def test_outside_the_trust_space_or_automatic_mail_is_never_answered(inbox: Inbox) -> None:
    assert await inbox.handle(inbox.reply("Bonjour", sender="dr.x@gmail.com")) == (
        "refused/untrusted_domain"
    )
    automatic = inbox.reply("Je suis absent")
    automatic["Auto-Submitted"] = "auto-replied"
    assert await inbox.handle(automatic) == "auto_reply/auto_reply"
    forged = inbox.reply("Bonjour")
    forged.replace_header("From", f'"{ANNE_ADDRESS}" <eve@autre.mssante.fr>')
    assert await inbox.handle(forged) == "refused/address_in_name"
    assert inbox.smtp.sent == [] and inbox.poster.attempts == []


def _dsn(number: int, recipient: str, original: str) -> bytes:
    return (
        "From: MAILER-DAEMON@sandbox.mssante.fr (Mail Delivery System)\r\n"
        f"To: {BRIDGE}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <dsn.{number}@sandbox.mssante.fr>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nCould not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.2.2\r\n\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {original}\r\n\r\n--b--\r\n"
    ).encode()


async def test_a_bounce_of_our_mail_marks_the_address_and_queues_one_notice(
    inbox: Inbox,
) -> None:
    original = str(inbox.first["Message-ID"])
    assert await inbox.handle(_dsn(1, ANNE_ADDRESS, original)) == "bounce/counts"
    assert await inbox.handle(_dsn(2, ANNE_ADDRESS, original)) == "bounce/counts"  # again
    known = await _address(inbox.store, ANNE_ADDRESS)
    assert known is not None and known.failing
    async with inbox.store.transaction() as session:
        [notice] = await repo.in_session(session, repo.pending_inbound, world=BRIDGE_WORLD)
    assert (notice.conversation_id, notice.origin) == ("conv_1", f"mail:{ANNE}")
    assert inbox.smtp.sent == [], "a bounce is never answered"


async def test_a_forged_bounce_counts_for_nothing(inbox: Inbox) -> None:
    original = str(inbox.first["Message-ID"])
    other = "bruno.durand@sandbox.mssante.fr"  # never sent that mail
    assert await inbox.handle(_dsn(3, other, original)) == "bounce/ignored"
    unknown = "<spico.00000000000000000000000000000000@sandbox.mssante.fr>"
    assert await inbox.handle(_dsn(4, ANNE_ADDRESS, unknown)) == "bounce/ignored"
    assert await _address(inbox.store, other) is None
    assert await _address(inbox.store, ANNE_ADDRESS) is None
    async with inbox.store.transaction() as session:
        assert await repo.in_session(session, repo.pending_inbound, world=BRIDGE_WORLD) == []


@pytest.mark.parametrize("inbox", [{"limits": {"parse_budget_seconds": 0.001}}], indirect=True)
async def test_a_mail_over_the_parsing_budget_is_set_aside_unanswered(inbox: Inbox) -> None:
    reply = inbox.reply("Bonjour")
    assert await inbox.handle(reply) == "set_aside/over_budget"
    assert inbox.poster.attempts == [] and inbox.smtp.sent == []
    assert ("mail.in", "set_aside", "over_budget:read_envelope") in await audit_trail(inbox.store)


async def test_a_mail_refused_on_its_header_is_never_downloaded_whole(inbox: Inbox) -> None:
    async def forbidden() -> bytes:
        raise AssertionError("the whole mail was fetched")

    def header_only(raw: bytes, size: int) -> RawMail:
        return RawMail(RawMail.of(raw).header, size, forbidden)

    receiver = inbox.inbox._receiver
    flood = inbox.reply("<div " * 200_000, sender="dr.x@gmail.com").as_bytes()
    outcome = await receiver.receive(header_only(flood, len(flood)))
    assert (outcome.handled.value, outcome.reason) == ("refused", "untrusted_domain")
    stranger = inbox.reply("Bonjour", sender=STRANGER).as_bytes()
    outcome = await receiver.receive(header_only(stranger, len(stranger)))
    assert outcome.reason == "not_token_holder", "the token is checked on the header alone"
    mine = inbox.reply("Bonjour").as_bytes()
    outcome = await receiver.receive(header_only(mine, 100 * 1024 * 1024))
    assert outcome.reason == "too_large", "the size the server gives is checked first"
    assert inbox.poster.attempts == []


async def test_a_batch_of_envelopes_is_read_in_one_trip(inbox: Inbox) -> None:
    mails = [RawMail.of(inbox.reply(f"Bonjour {n}").as_bytes()) for n in range(3)]
    mails.append(RawMail.of(b"From: a@b.mssante.fr, c@d.mssante.fr\r\n\r\nx"))
    envelopes = await inbox.inbox._receiver.envelopes(mails)
    assert [e.author.address for e in envelopes[:3]] == [ANNE_ADDRESS] * 3  # type: ignore[union-attr]
    assert envelopes[3].author == AuthorProblem.NOT_ONE_MAILBOX  # type: ignore[union-attr]
    outcome = await inbox.inbox._receiver.receive(mails[0], envelope=envelopes[0])
    assert outcome.handled.value == "accepted"


async def _address(store: Store, address: str) -> mail_repo.AddressRow | None:
    async with store.transaction() as session:
        return await mail_repo.get_address(session, address)


# --- the IMAP reader against Dovecot -------------------------------------------------------------


def _append(server: LocalMailServer, user: str, raw: bytes) -> None:
    context = ssl.create_default_context(cafile=str(server.ca_file))
    with imaplib.IMAP4_SSL("127.0.0.1", server.ports.imaps, ssl_context=context) as client:
        client.login(user, PASSWORD)
        client.append("INBOX", "", imaplib.Time2Internaldate(0), raw)


def _stranger_mail(number: int) -> bytes:
    return (
        "From: Eve <eve.inbox@sandbox.mssante.fr>\r\nTo: x@sandbox.mssante.fr\r\n"
        f"Subject: question {number}\r\nMessage-ID: <inbox-{number}@test>\r\n\r\nBonjour\r\n"
    ).encode()


@pytest.fixture
async def inbox_setup(
    mail_server: LocalMailServer,
    spico_sandbox: SandboxProcess,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[MailInbox, Store, str, dict]]:
    # A mailbox of its own for each test (and mode).
    user = f"inbox.{zlib.crc32(request.node.nodeid.encode()):08x}@sandbox.mssante.fr"
    mail_server.add_mailboxes({user: PASSWORD})
    (tmp_path / "pw").write_text(PASSWORD)
    (tmp_path / "key").write_text("k" * 40)
    mode, _, variant = request.param.partition(":")
    transport = {
        "host": "127.0.0.1",
        "username": user,
        "password_file": str(tmp_path / "pw"),
        "ca_file": str(mail_server.ca_file),
    }
    imap = {**transport, "port": mail_server.ports.imaps, "security": "tls", "processed": mode}
    if mode == "move":
        imap["processed_folder"] = "Traités SPICO"  # non-ASCII: modified UTF-7 on the wire
    url = f"sqlite:///{tmp_path / 'inbox.db'}"
    limits = {"parse_budget_seconds": 0.001} if variant == "tiny-budget" else {}
    path = bridge_config(
        tmp_path,
        spico_sandbox,
        database_url=url,
        mail={
            "address": user,
            "smtp": {**transport, "port": mail_server.ports.submission},
            "imap": imap,
            "token_key_file": str(tmp_path / "key"),
            "authentication": {"require": "none"},
            "limits": limits,
        },
    )
    config = load_config(path)
    store = await Store.open(url)
    async with store.transaction() as session:  # not a first start: read what is there
        await repo.in_session(session, repo.set_cursor, "mail:imap:INBOX", "0:0")
    sink = mail_sink(config, store)
    inbox = mail_inbox(config, store, FakePoster(), sink)
    try:
        yield inbox, store, user, imap
    finally:
        await inbox.close()
        await sink.close()
        await store.close()


@pytest.mark.parametrize("inbox_setup", ["flag", "move"], indirect=True)
async def test_each_mail_once_cursor_after_each(
    inbox_setup: tuple[MailInbox, Store, str, dict], mail_server: LocalMailServer
) -> None:
    inbox, store, user, imap = inbox_setup
    for number in (1, 2):
        _append(mail_server, user, _stranger_mail(number))
    client = await open_imap(inbox._imap)
    try:
        uidvalidity = await inbox._select(client)
        assert await inbox.fetch_new(client, uidvalidity) == 2
        assert await inbox.fetch_new(client, uidvalidity) == 0, "never twice"
        async with store.transaction() as session:
            cursor = await repo.in_session(session, repo.get_cursor, "mail:imap:INBOX")
            seen = await repo.in_session(
                session, mail_repo.get_messages, ["<inbox-1@test>", "<inbox-2@test>"]
            )
        assert cursor == f"{uidvalidity}:2"
        assert {row.verdict for row in seen.values()} == {"refused"}
        # The same mail again under a new UID (copied back): deduped by Message-ID.
        _append(mail_server, user, _stranger_mail(1))
        assert await inbox.fetch_new(client, uidvalidity) == 1
        async with store.transaction() as session:
            assert (
                len(await repo.in_session(session, mail_repo.get_messages, ["<inbox-1@test>"])) == 1
            )
        if imap["processed"] == "flag":
            response = await client.uid("fetch", "1:*", "(FLAGS)")
            flags = b" ".join(line for line in response.lines if isinstance(line, bytes))
            assert PROCESSED_KEYWORD.encode() in flags and b"\\Seen" in flags
        else:
            status = await client.status(imap_mailbox_name("Traités SPICO"), "(MESSAGES)")
            assert b"MESSAGES 3" in b" ".join(
                line for line in status.lines if isinstance(line, bytes)
            )
    finally:
        await client.logout()


def test_folder_names_are_modified_utf7_and_quoted() -> None:
    assert imap_mailbox_name("INBOX") == '"INBOX"'
    assert imap_mailbox_name("Traités") == '"Trait&AOk-s"'
    assert imap_mailbox_name('Dossier "A" & B') == '"Dossier \\"A\\" &- B"'


@pytest.mark.parametrize("inbox_setup", ["flag"], indirect=True)
async def test_a_mail_that_keeps_failing_is_set_aside_and_the_reader_goes_on(
    inbox_setup: tuple[MailInbox, Store, str, dict],
    mail_server: LocalMailServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox, store, user, _ = inbox_setup
    _append(mail_server, user, _stranger_mail(71))  # the reader fails on this one (a "bug")
    _append(mail_server, user, _stranger_mail(72))
    real_receive = inbox._receiver.receive
    outage = {"on": True}

    async def receive(mail: RawMail, **options: object) -> object:
        if b"<inbox-71@test>" in mail.header:
            if outage["on"]:
                raise ServiceUnavailable("SPICO is down")  # never set aside, however long
            raise KeyError("a bug")
        return await real_receive(mail, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(inbox._receiver, "receive", receive)
    client = await open_imap(inbox._imap)
    try:
        uidvalidity = await inbox._select(client)
        for _ in range(POISON_ATTEMPTS + 2):
            with pytest.raises(ServiceUnavailable):
                await inbox.fetch_new(client, uidvalidity)
        outage["on"] = False
        for _ in range(POISON_ATTEMPTS - 1):
            with pytest.raises(KeyError):
                await inbox.fetch_new(client, uidvalidity)
        assert await inbox.fetch_new(client, uidvalidity) == 2, "set aside, then the next one"
        async with store.transaction() as session:
            cursor = await repo.in_session(session, repo.get_cursor, "mail:imap:INBOX")
            seen = await repo.in_session(session, mail_repo.get_messages, ["<inbox-72@test>"])
            audit = (
                await session.scalars(
                    select(AuditEntry.detail).where(AuditEntry.action == "mail.in")
                )
            ).all()
        assert cursor == f"{uidvalidity}:2"
        assert "<inbox-72@test>" in seen
        assert "internal_error:KeyError" in audit
        assert _keywords(await client.uid("fetch", "1", "(FLAGS)")) >= {SET_ASIDE_KEYWORD}
        assert SET_ASIDE_KEYWORD not in _keywords(await client.uid("fetch", "2", "(FLAGS)"))
    finally:
        await client.logout()


@pytest.mark.parametrize("inbox_setup", ["flag:tiny-budget"], indirect=True)
async def test_a_mail_over_the_budget_is_kept_marked_and_audited(
    inbox_setup: tuple[MailInbox, Store, str, dict], mail_server: LocalMailServer
) -> None:
    inbox, store, user, _ = inbox_setup
    _append(mail_server, user, _stranger_mail(81))
    client = await open_imap(inbox._imap)
    try:
        uidvalidity = await inbox._select(client)
        assert await inbox.fetch_new(client, uidvalidity) == 1
        assert await inbox.fetch_new(client, uidvalidity) == 0, "not read again"
        flags = _keywords(await client.uid("fetch", "1", "(FLAGS)"))
        assert {SET_ASIDE_KEYWORD, PROCESSED_KEYWORD, "\\Seen"} <= flags, "kept, marked"
        async with store.transaction() as session:
            audit = (
                await session.scalars(
                    select(AuditEntry.detail).where(AuditEntry.outcome == "set_aside")
                )
            ).all()
        assert audit == ["over_budget:read_envelope"]
    finally:
        await client.logout()


def _keywords(response: object) -> set[str]:
    lines = b" ".join(line for line in response.lines if isinstance(line, bytes))  # type: ignore[attr-defined]
    inside = lines.partition(b"FLAGS (")[2].partition(b")")[0]
    return set(inside.decode().split())
