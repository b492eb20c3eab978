"""The IMAP reader against Dovecot: cursor after each mail, flag or move, never twice."""

from __future__ import annotations

import imaplib
import ssl
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bridge.config import load_config
from bridge.core.delivery import POISON_ATTEMPTS, InboundMessage, PostResult
from bridge.core.errors import ServiceUnavailable
from bridge.mail.inbound import PROCESSED_KEYWORD, MailInbox, imap_mailbox_name, open_imap
from bridge.mail.localserver import LocalMailServer
from bridge.mail.outbound import MailSink
from bridge.mail.settings import settings_from
from bridge.store import mail as mailrepo
from bridge.store import repositories as repo
from bridge.store.models import AuditEntry
from bridge.store.repositories import Store
from tests.fixtures.bridge import bridge_config
from tests.fixtures.sandbox import SandboxProcess

PASSWORD = "inbox-password"


class Poster:
    def __init__(self) -> None:
        self.posted: list[InboundMessage] = []

    async def __call__(self, message: InboundMessage) -> PostResult:
        self.posted.append(message)
        return PostResult(True, f"msg-{len(self.posted)}")


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
    mode = request.param
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
    path = bridge_config(
        tmp_path,
        spico_sandbox,
        database_url=url,
        mail={
            "address": user,
            "smtp": {**transport, "port": mail_server.ports.submission},
            "imap": imap,
            "token_key_file": str(tmp_path / "key"),
        },
    )
    settings = settings_from(load_config(path))
    store = await Store.open(url)
    async with store.transaction() as session:  # not a first start: read what is there
        await repo.set_cursor(session, "mail:imap:INBOX", "0:0")
    sink = MailSink(settings, store)
    inbox = MailInbox(settings, store, Poster(), {}, sink)
    try:
        yield inbox, store, user, imap
    finally:
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
            cursor = await repo.get_cursor(session, "mail:imap:INBOX")
            seen = await mailrepo.get_messages(session, ["<inbox-1@test>", "<inbox-2@test>"])
        assert cursor == f"{uidvalidity}:2"
        assert {row.verdict for row in seen.values()} == {"refused"}
        # The same mail again under a new UID (copied back): deduped by Message-ID.
        _append(mail_server, user, _stranger_mail(1))
        assert await inbox.fetch_new(client, uidvalidity) == 1
        async with store.transaction() as session:
            assert len(await mailrepo.get_messages(session, ["<inbox-1@test>"])) == 1
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
    real_handle = inbox.handle
    outage = {"on": True}

    async def handle(raw: bytes) -> object:
        if b"<inbox-71@test>" in raw:
            if outage["on"]:
                raise ServiceUnavailable("SPICO is down")  # never set aside, however long
            raise KeyError("a bug")
        return await real_handle(raw)

    monkeypatch.setattr(inbox, "handle", handle)
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
            cursor = await repo.get_cursor(session, "mail:imap:INBOX")
            seen = await mailrepo.get_messages(session, ["<inbox-72@test>"])
            audit = (
                await session.scalars(
                    select(AuditEntry.detail).where(AuditEntry.action == "mail.in")
                )
            ).all()
        assert cursor == f"{uidvalidity}:2"
        assert "<inbox-72@test>" in seen
        assert "internal_error:KeyError" in audit
    finally:
        await client.logout()
