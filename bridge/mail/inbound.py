"""Reply by mail: the bridge's mailbox read over IMAP (IDLE, polling as fallback).

Each mail is handled once, in UID order, and only then is the cursor ``mail:imap:<mailbox>`` =
``UIDVALIDITY:UID`` advanced; a crash in between replays the mail, which is harmless: the SPICO
post is idempotent (its key is the mail's Message-ID) and mails are deduped by Message-ID. A
mail the bridge could not pass on because SPICO or the store is unavailable stops the batch:
it is offered again later, never skipped. Processed mail is flagged (``\\Seen`` and
``$SpicoBridged``) or moved, per config.

A new mail (no reply token, no reference to a bridge mail) naming the bridge's own address
starts a SPICO conversation through the composer protocol, or is answered with why not
(``bridge/mail/newconv.py`` decides, ``MailInbox._new_conversation`` does the I/O).

aioimaplib 2.0 has no STARTTLS (MSSanté operators use it on 143): ``open_imap`` sends the
command through the library's protocol and upgrades the transport with ``loop.start_tls``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import aioimaplib
import aiosmtplib
from imapclient import imap_utf7

from bridge.config import ImapConfig
from bridge.core.composer import (
    ComposerError,
    ComposerRefusal,
    ConversationRef,
    DirectoryEntry,
    PatientEntry,
    SpicoComposer,
)
from bridge.core.delivery import (
    BRIDGE_WORLD,
    FAILURE_NOTICE_PREFIX,
    POISON_ATTEMPTS,
    Attachment,
    InboundMessage,
    InboundPoster,
    PoisonGuard,
    is_outage,
)
from bridge.core.errors import ServiceUnavailable
from bridge.core.model import Participant, World
from bridge.mail import compose, newconv, parse, tokens
from bridge.mail.outbound import MailSink, tls_context
from bridge.mail.settings import MailSettings
from bridge.store import mail as mail_repo
from bridge.store import repositories as repo
from bridge.store.repositories import Store

log = logging.getLogger(__name__)

PROCESSED_KEYWORD = "$SpicoBridged"
REFUSAL_REPLY_INTERVAL = timedelta(hours=24)
#: Answers to new-conversation mails: a professional fixing an address and sending again gets
#: each answer, a runaway sender at most this many an hour.
NEWCONV_ANSWERS_PER_HOUR = 10
RECONNECT_MAX_SECONDS = 10.0
#: IDLE is renewed this often (RFC 2177: servers may drop it after 30 min).
IDLE_RENEW_SECONDS = 25 * 60
_UIDVALIDITY_RE = re.compile(rb"UIDVALIDITY (\d+)")


class ImapUnavailable(ServiceUnavailable):
    """The IMAP server could not be used; the reader reconnects."""


#: Connection errors of the mail libraries: the mail is offered again later.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    aioimaplib.Abort,
    aioimaplib.CommandTimeout,
    aiosmtplib.SMTPException,
)


async def open_imap(config: ImapConfig, on_lost: object = None) -> aioimaplib.IMAP4:
    """Connected, authenticated client: implicit TLS, STARTTLS (hand-made) or loopback plain."""
    context = (
        tls_context(config.ca_file, config.client_cert_file, config.client_key_file)
        if config.security != "none"
        else None
    )
    # IMAP4 with an SSL context is implicit TLS (IMAP4_SSL would drop conn_lost_cb).
    client = aioimaplib.IMAP4(
        config.host,
        config.port,
        timeout=config.timeout_seconds,
        conn_lost_cb=on_lost,  # type: ignore[arg-type]
        ssl_context=context if config.security == "tls" else None,
    )
    await client.wait_hello_from_server()
    if config.security == "starttls":
        await starttls(client, context, config.host, config.timeout_seconds)
    if config.username:
        password = config.password.get() if config.password else ""
        response = await client.login(config.username, password)
        if response.result != "OK":
            raise ImapUnavailable("IMAP login refused")
    return client


async def starttls(client: aioimaplib.IMAP4, context: object, host: str, seconds: float) -> None:
    """RFC 2595 STARTTLS on an aioimaplib client, then re-read the capabilities (RFC 3501)."""
    protocol = client.protocol
    if "STARTTLS" not in protocol.capabilities:
        raise ImapUnavailable("the IMAP server does not offer STARTTLS")
    command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
    response = await asyncio.wait_for(protocol.execute(command), seconds)
    if response.result != "OK":
        raise ImapUnavailable("STARTTLS refused")
    loop = asyncio.get_running_loop()
    transport = await asyncio.wait_for(
        loop.start_tls(protocol.transport, protocol, context, server_hostname=host), seconds
    )
    protocol.transport = transport
    await asyncio.wait_for(protocol.capability(), seconds)


def _literal(lines: list[object]) -> bytes | None:
    for line in lines:
        if isinstance(line, bytearray | memoryview):
            return bytes(line)
    return None


def imap_mailbox_name(name: str) -> str:
    """A folder name as IMAP wants it: modified UTF-7 (RFC 3501 §5.1.3), quoted."""
    encoded = imap_utf7.encode(name).decode("ascii")
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


class MailInbox:
    """Reads the bridge's mailbox and hands each mail to SPICO (or answers/records it)."""

    def __init__(
        self,
        settings: MailSettings,
        store: Store,
        post: InboundPoster,
        configured: Mapping[str, Participant],
        sink: MailSink,
    ) -> None:
        self._settings = settings
        self._imap = settings.imap
        self._store = store
        self._post = post
        self._configured = configured
        self._sink = sink
        self._cursor = f"mail:imap:{self._imap.mailbox}"
        self._lost = asyncio.Event()
        self._poison = PoisonGuard()
        self._folder_ready = False
        #: True while a session is logged in and following the mailbox (readiness, metrics).
        self.connected = False

    def reload(self, settings: MailSettings, configured: Mapping[str, Participant]) -> None:
        """SIGHUP: the next mail is judged with the new settings and participants; a changed
        IMAP section reconnects (the current session is dropped as if lost)."""
        reconnect = settings.imap != self._imap
        self._settings = settings
        self._configured = configured
        if reconnect:
            self._imap = settings.imap
            self._cursor = f"mail:imap:{self._imap.mailbox}"
            self._folder_ready = False
            self._lost.set()

    # --- the loop --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        delay = 1.0
        while not stop.is_set():
            client = None
            try:
                self._lost.clear()
                client = await open_imap(self._imap, on_lost=lambda exc: self._lost.set())
                uidvalidity = await self._select(client)
                log.info("IMAP: reading %s", self._imap.mailbox)
                delay = 1.0
                self.connected = True
                await self._follow(client, uidvalidity, stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("IMAP: %s; reconnecting in %.0fs", type(exc).__name__, delay)
            finally:
                self.connected = False
                if client is not None:
                    await _logout(client)
            if stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _select(self, client: aioimaplib.IMAP4) -> int:
        response = await client.select(imap_mailbox_name(self._imap.mailbox))
        if response.result != "OK":
            raise ImapUnavailable("SELECT refused")
        for line in response.lines:
            if isinstance(line, bytes) and (match := _UIDVALIDITY_RE.search(line)):
                return int(match.group(1))
        raise ImapUnavailable("no UIDVALIDITY")

    async def _follow(
        self, client: aioimaplib.IMAP4, uidvalidity: int, stop: asyncio.Event
    ) -> None:
        use_idle = self._imap.idle and client.has_capability("IDLE")
        while not stop.is_set():
            if self._lost.is_set():
                raise ImapUnavailable("connection lost")
            # Again until nothing is new: a mail arriving while others were handled is announced
            # (EXISTS) in the answer to one of those commands, and then IDLE does not announce
            # it again; it would wait for the poll interval.
            while await self.fetch_new(client, uidvalidity) and not stop.is_set():
                pass
            if use_idle:
                await self._idle(client, stop)
            else:
                await _wait_first(stop, self._lost, seconds=self._imap.poll_interval_seconds)

    async def _idle(self, client: aioimaplib.IMAP4, stop: asyncio.Event) -> None:
        idle = await client.idle_start(timeout=IDLE_RENEW_SECONDS)
        push = asyncio.ensure_future(client.wait_server_push(timeout=IDLE_RENEW_SECONDS + 5))
        stopped = asyncio.ensure_future(stop.wait())
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait(
                {push, stopped, lost},
                timeout=self._imap.poll_interval_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for task in (push, stopped, lost):
                task.cancel()
        if self._lost.is_set():
            raise ImapUnavailable("connection lost during IDLE")
        client.idle_done()
        await asyncio.wait_for(idle, self._imap.timeout_seconds)

    async def fetch_new(self, client: aioimaplib.IMAP4, uidvalidity: int) -> int:
        """Handle every mail after the cursor, in UID order; returns how many were handled."""
        async with self._store.transaction() as session:
            stored = await repo.get_cursor(session, self._cursor)
        last = 0
        if stored is None and self._settings.bridge_existing == "new":
            # First start: the mailbox's history predates the bridge (bridge_existing: new).
            response = await client.uid_search("ALL")
            found = (
                [int(u) for line in response.lines[:1] for u in bytes(line).split() if u.isdigit()]
                if response.result == "OK"
                else []
            )
            async with self._store.transaction() as session:
                await repo.set_cursor(
                    session, self._cursor, f"{uidvalidity}:{max(found, default=0)}"
                )
            log.info("IMAP: first start, %d earlier mails left aside", len(found))
            return 0
        if stored:
            valid, _, uid = stored.partition(":")
            if valid == str(uidvalidity):
                last = int(uid or 0)
            else:
                log.warning("IMAP: UIDVALIDITY changed; re-reading (deduped by Message-ID)")
        await client.noop()  # make the server sync the mailbox (polling mode sees new mail)
        response = await client.uid_search(f"UID {last + 1}:*")
        if response.result != "OK":
            raise ImapUnavailable("UID SEARCH refused")
        uids = sorted(
            {int(u) for line in response.lines[:1] for u in bytes(line).split() if u.isdigit()}
        )
        handled = 0
        for uid in (u for u in uids if u > last):
            fetched = await client.uid("fetch", str(uid), "(BODY.PEEK[])")
            raw = _literal(fetched.lines) if fetched.result == "OK" else None
            if raw is None:
                raise ImapUnavailable("FETCH gave no message")
            try:
                await self.handle(raw)
            except Exception as error:
                key = f"{uidvalidity}:{uid}"
                if is_outage(error, TRANSPORT_ERRORS) or not self._poison.failed(key):
                    raise  # offered again (a server is down, or one more try)
                await self._set_aside(uid, error)
            await self._mark_processed(client, uid)
            async with self._store.transaction() as session:
                await repo.set_cursor(session, self._cursor, f"{uidvalidity}:{uid}")
            handled += 1
        return handled

    async def _set_aside(self, uid: int, error: Exception) -> None:
        """A mail that keeps failing for another reason than an outage (a bug, a shape the
        reader cannot take): logged (no content) and audited, then marked processed like any
        other, so that the mailbox keeps it for an administrator and the reader goes on."""
        log.error(
            "IMAP: mail UID %d failed %d times (%s); set aside in the mailbox",
            uid,
            POISON_ATTEMPTS,
            type(error).__name__,
        )
        async with self._store.transaction() as session:
            await repo.add_audit(
                session,
                world=World.MAIL.value,
                action="mail.in",
                outcome="refused",
                destination="spico",
                detail=f"internal_error:{type(error).__name__}",
            )

    async def _mark_processed(self, client: aioimaplib.IMAP4, uid: int) -> None:
        """Move the mail (when configured and the server can), else flag it."""
        folder = self._imap.processed_folder
        if self._imap.processed == "move" and folder and client.has_capability("MOVE"):
            quoted = imap_mailbox_name(folder)
            if not self._folder_ready:
                await client.create(quoted)  # fails harmlessly when it exists
                self._folder_ready = True
            response = await client.uid("move", str(uid), quoted)
            if response.result == "OK":
                return
        await client.uid("store", str(uid), "+FLAGS", f"(\\Seen {PROCESSED_KEYWORD})")

    # --- one mail ----------------------------------------------------------------------------

    async def handle(self, raw: bytes) -> parse.Judgement:
        """Judge one mail and act on it. Raises only when it must be offered again later."""
        settings = self._settings
        facts = parse.read_mail(raw, max_attachment_bytes=settings.max_attachment_bytes)
        async with self._store.transaction() as session:
            seen = await mail_repo.get_messages(session, [facts.message_id])
        previous = seen.get(facts.message_id)
        if previous is not None and previous.direction == "in" and previous.verdict != "error":
            return parse.Judgement(parse.Verdict(previous.verdict or "refused"), "duplicate")
        lookup: parse.Lookup | None = None
        try:
            lookup = await self._lookup(facts)
            judgement = parse.judge(
                facts,
                lookup,
                key=self._sink.key,
                today=datetime.now(UTC).date(),
                own_address=settings.address,
                is_trusted=self._sink.trust.is_trusted,
                allow_patient_mailboxes=settings.trust.allow_patient_mailboxes,
            )
        except Exception as exc:  # one bad mail never stops the reader
            log.error("IMAP: a mail could not be judged (%s); refused", type(exc).__name__)
            judgement = parse.Judgement(parse.Verdict.REFUSED, "unreadable")
        composer = getattr(self._post, "composer", None)
        if (
            composer is not None
            and lookup is not None
            and judgement.verdict is parse.Verdict.REFUSED
            and judgement.reason == "no_token"
            and newconv.is_new_conversation(
                facts,
                settings.address,
                known_references=lookup.messages,
                matched_thread=judgement.conversation_id is not None,
            )
        ):
            return await self._new_conversation(facts, composer)
        spico_id = None
        too_many = 0
        if judgement.verdict is parse.Verdict.ACCEPTED:
            assert judgement.conversation_id and judgement.member_id
            kept, too_many = _capped(judgement.attachments, settings.max_attachments)
            judgement = dataclasses.replace(judgement, attachments=kept)
            result = await self._post(  # SPICO unavailable: raises, the mail is offered again
                InboundMessage(
                    world=World.MAIL,
                    source_id=facts.message_id,
                    origin=judgement.member_id,
                    conversation_id=judgement.conversation_id,
                    author_id=judgement.member_id,
                    acting_as=judgement.member_id,
                    body=judgement.text,
                    attachments=judgement.attachments,
                )
            )
            if result.accepted:
                spico_id = result.spico_message_id
                if facts.dropped_attachments or too_many:
                    await self._answer_left_out(facts, facts.dropped_attachments, too_many)
            else:
                judgement = parse.Judgement(
                    parse.Verdict.REFUSED,
                    "spico_refused",
                    judgement.conversation_id,
                    judgement.member_id,
                )
        elif judgement.verdict is parse.Verdict.BOUNCE:
            await self._bounced(facts)
        await self._record_outcome(
            facts,
            judgement,
            action="mail.in",
            outcome=judgement.verdict.value,
            detail=judgement.reason,
            spico_message_id=spico_id,
        )
        if judgement.answer_refusal and not facts.auto_reply and not facts.bounce:
            await self._answer_refusal(facts, judgement)
        return judgement

    async def _record_outcome(
        self,
        facts: parse.MailFacts,
        judgement: parse.Judgement,
        *,
        action: str,
        outcome: str,
        detail: str | None,
        spico_message_id: str | None = None,
    ) -> None:
        """Log (no content), remember the mail as handled and audit it, in one transaction:
        only then is the IMAP cursor moved past it."""
        log.info(
            "mail in: %s %s%s (conversation %s)",
            action,
            outcome,
            f" ({detail})" if detail else "",
            judgement.conversation_id or "-",
        )
        async with self._store.transaction() as session:
            await mail_repo.record_message(
                session,
                facts.message_id,
                direction="in",
                conversation_id=judgement.conversation_id,
                member_id=judgement.member_id,
                verdict=judgement.verdict.value,
                spico_message_id=spico_message_id,
            )
            await repo.add_audit(
                session,
                world=World.MAIL.value,
                action=action,
                outcome=outcome,
                actor_id=judgement.member_id,
                conversation_id=judgement.conversation_id,
                destination="spico",
                detail=detail,
            )

    # --- a new conversation by mail (bridge/mail/newconv.py) ---------------------------------

    async def _new_conversation(
        self, facts: parse.MailFacts, composer: SpicoComposer
    ) -> parse.Judgement:
        """Start the conversation a new mail asks for, through SPICO, or answer why not.

        All or nothing; SPICO decides what the sender may do (patient access, members). SPICO
        unavailable (``ComposerUnavailable``) propagates: the mail is offered again later, and
        the creation's idempotency key (from the Message-ID) makes a second try return the same
        conversation."""
        language = self._settings.language
        if newconv.authentication_failed(facts):
            # The receiving server says the From domain did not send it: nothing is created
            # and nobody is answered (the From address may be a victim's).
            sender, refusal = None, newconv.Refusal("unauthenticated")
        else:
            sender = await _lookup_address(composer, facts.from_address)
            refusal = newconv.sender_problem(sender)
        request: newconv.Request | None = None
        if refusal is None:
            read = newconv.read_request(facts, self._settings.address, language)
            if isinstance(read, newconv.Refusal):
                refusal = read
            else:
                request = read
        entries: dict[str, DirectoryEntry | None] = {}
        members: list[str] = []
        patient: PatientEntry | None = None
        created: ConversationRef | None = None
        if refusal is None and request is not None and sender is not None:

            def trusted(address: str) -> bool:
                return newconv.trusted_address(
                    address,
                    self._sink.trust.is_trusted,
                    self._settings.trust.allow_patient_mailboxes,
                )

            for address in request.addresses:
                if trusted(address):
                    entries[address] = await _lookup_address(composer, address)
            members, problems = newconv.resolve_members(
                request.addresses, entries, sender_id=sender.id, trusted=trusted
            )
            if problems:
                refusal = newconv.Refusal("addresses", tuple(problems))
            elif not members:
                refusal = newconv.Refusal("no_members")
            patient_id: str | None = None
            if refusal is None and request.patient is not None:
                if request.patient.kind == "id":
                    patient_id = request.patient.value
                else:
                    try:
                        files = await composer.patients(sender.id)
                    except ComposerRefusal:
                        files = []
                    patient = newconv.find_patient(files, request.patient.value)
                    if patient is None:
                        refusal = newconv.Refusal("patient_not_found")
                    else:
                        patient_id = patient.id
            too_many = 0
            if refusal is None:
                attachments, too_many = _capped(request.attachments, self._settings.max_attachments)
                request = dataclasses.replace(request, attachments=attachments)
                try:
                    created = await composer.create_conversation(
                        on_behalf_of=sender.id,
                        acting_as=sender.id,
                        members=members,
                        subject=request.subject,
                        message=request.body,
                        patient_id=patient_id,
                        attachments=request.attachments,
                        idempotency_key=newconv.idempotency_key(facts.message_id),
                    )
                except ComposerRefusal as exc:
                    refusal = newconv.Refusal("spico_refused", code=exc.code, message=exc.message)
        if created is not None and request is not None and sender is not None:
            names = {e.id: e.name for e in entries.values() if e is not None}
            if patient is None and created.patient_id is not None:
                with contextlib.suppress(ComposerError):  # only for the subject's patient tag
                    patient = await composer.patient(created.patient_id, on_behalf_of=sender.id)
            await self._confirm_created(
                facts, sender.id, created, [names.get(m, m) for m in members], patient
            )
            if facts.dropped_attachments or too_many:
                await self._answer_left_out(facts, facts.dropped_attachments, too_many)
        judgement = parse.Judgement(
            parse.Verdict.CREATED if created is not None else parse.Verdict.REFUSED,
            None if refusal is None else refusal.reason,
            created.id if created is not None else None,
            sender.id if sender is not None else None,
        )
        detail = None
        if refusal is not None:
            detail = refusal.reason + (f":{refusal.code}" if refusal.code else "")
        await self._record_outcome(
            facts,
            judgement,
            action="mail.new_conversation",
            outcome="created" if created is not None else "refused",
            detail=detail,
        )
        if refusal is not None and refusal.reason != "unauthenticated":
            await self._answer_new_conversation(facts, refusal, language)
        return judgement

    async def _confirm_created(
        self,
        facts: parse.MailFacts,
        member: str,
        created: ConversationRef,
        member_names: list[str],
        patient: PatientEntry | None,
    ) -> None:
        """Tell the sender the conversation exists, as the root of their thread (their reply
        token in Reply-To): they go on by mail like any member. Deterministic Message-ID; not
        sent twice once recorded."""
        address = facts.from_address
        if not self._sink.allowed(address):
            return
        now = datetime.now(UTC)
        key, sender = self._sink.key, self._sink.sender
        mid = compose.message_id(key, sender.domain, "created", created.id, member)
        async with self._store.transaction() as session:
            if await mail_repo.get_messages(session, [mid]):
                return
            if await mail_repo.get_thread(session, created.id, member) is not None:
                return  # the member's thread already started (a message was faster)
        token = self._sink.token_for(created.id, member, now)
        answer = compose.compose_new_conversation_created(
            key=key,
            sender=sender,
            recipient=address,
            member_id=member,
            conversation_id=created.id,
            subject=created.subject,
            patient=(
                {
                    "id": patient.id,
                    "first_name": patient.first_name,
                    "last_name": patient.last_name,
                    "birth_date": patient.birth_date,
                }
                if patient is not None
                else None
            ),
            patient_linked=created.patient_id is not None,
            members=member_names,
            original_id=facts.message_id,
            token=token,
            patient_policy=self._settings.patient_tag,
            language=self._settings.language,
            now=now,
        )
        try:
            await self._sink.send_raw(answer, address)
        except Exception as exc:  # the conversation exists; the next message starts the thread
            log.warning("new conversation: confirmation not sent (%s)", type(exc).__name__)
            return
        decoded = tokens.decode(token)
        async with self._store.transaction() as session:
            await mail_repo.record_message(
                session, mid, direction="out", conversation_id=created.id, member_id=member
            )
            await mail_repo.save_thread(
                session, mail_repo.ThreadRow(created.id, member, address, mid, mid)
            )
            if decoded is not None:
                await mail_repo.record_handle(session, decoded.handle, created.id, member)

    async def _answer_new_conversation(
        self, facts: parse.MailFacts, refusal: newconv.Refusal, language: str
    ) -> None:
        """Why no conversation was created: only inside the trust space, never to automatic
        mail, at most ``NEWCONV_ANSWERS_PER_HOUR`` an hour per address (audited)."""
        address = facts.from_address
        if not address or not self._sink.allowed(address) or facts.auto_reply or facts.bounce:
            return
        now = datetime.now(UTC)
        async with self._store.transaction() as session:
            sent = await mail_repo.count_answers(session, address, now - timedelta(hours=1))
            if sent >= NEWCONV_ANSWERS_PER_HOUR:
                log.info("new conversation: answer withheld (rate limit)")
                return
            await repo.add_audit(
                session,
                world=World.MAIL.value,
                action="mail.answer",
                outcome="sent",
                destination=address.lower(),
                detail=refusal.reason,
            )
        text = compose.new_conversation_refusal_text(
            reason=refusal.reason,
            language=language,
            bridge_address=self._settings.address,
            addresses=[(p.address, p.why) for p in refusal.addresses],
            code=refusal.code,
            spico_message=refusal.message,
            max_members=newconv.MAX_MEMBERS,
        )
        answer = compose.compose_new_conversation_refusal(
            key=self._sink.key,
            sender=self._sink.sender,
            recipient=address,
            original_id=facts.message_id,
            original_subject=facts.subject,
            text=text,
            language=language,
            now=now,
        )
        try:
            await self._sink.send_raw(answer, address)
        except Exception as exc:
            log.warning("new conversation: answer not sent (%s)", type(exc).__name__)

    async def _answer_left_out(self, facts: parse.MailFacts, too_large: int, too_many: int) -> None:
        """The caps refused files of a mail whose text went to SPICO: tell its author (only in
        the trust space; an automatic mail quoting nothing of theirs)."""
        address = facts.from_address
        log.info("mail in: %d attachment(s) over the caps left out", too_large + too_many)
        if not address or not self._sink.allowed(address):
            return
        settings = self._settings
        text = compose.attachments_left_out_text(
            too_large=too_large,
            too_many=too_many,
            max_bytes=settings.max_attachment_bytes,
            max_count=settings.max_attachments,
            language=settings.language,
        )
        answer = compose.compose_attachments_left_out(
            key=self._sink.key,
            sender=self._sink.sender,
            recipient=address,
            original_id=facts.message_id,
            text=text,
            language=settings.language,
            now=datetime.now(UTC),
        )
        try:
            await self._sink.send_raw(answer, address)
        except Exception as exc:
            log.warning("attachments answer not sent (%s)", type(exc).__name__)

    async def _bounced(self, facts: parse.MailFacts) -> None:
        """Mark the addresses failing and, when the returned mail is ours, queue a notice for
        its conversation (posted by the hub's notice poster, once: keyed by the Message-ID)."""
        async with self._store.transaction() as session:
            for address in facts.bounced_recipients:
                await mail_repo.mark_failing(session, address)
            original = facts.bounced_message_id
            sent = (await mail_repo.get_messages(session, [original])).get(original or "")
            if sent is None or sent.direction != "out" or not sent.conversation_id:
                return
            digest = hashlib.sha256((original or "").encode()).hexdigest()[:32]
            await repo.record_inbound(
                session,
                idempotency_key=f"{FAILURE_NOTICE_PREFIX}mail-bounce-{digest}",
                world=BRIDGE_WORLD,
                origin=f"{World.MAIL.value}:{sent.member_id}",
                conversation_id=sent.conversation_id,
                author_id=BRIDGE_WORLD,
            )

    async def _lookup(self, facts: parse.MailFacts) -> parse.Lookup:
        own = self._settings.address
        async with self._store.transaction() as session:
            rows = await mail_repo.get_messages(session, facts.references)
            messages = {
                mid: (row.conversation_id, row.member_id)
                for mid, row in rows.items()
                if row.direction == "out" and row.conversation_id and row.member_id
            }
            handles = await mail_repo.resolve_handles(session, parse.candidate_handles(facts, own))
            subjects: dict[str, tuple[str, str]] = {}
            for thread in await mail_repo.threads_by_address(session, facts.from_address):
                snapshot = await repo.get_conversation(session, thread.conversation_id)
                if snapshot is not None:
                    subjects[parse.normalise_subject(snapshot.subject)] = (
                        thread.conversation_id,
                        thread.member_id,
                    )
                    # Subjects as mailed carry the prefix and patient tag: match those too.
                    mailed = compose.subject_line(
                        snapshot.subject,
                        snapshot.patient,
                        self._settings.patient_tag,
                    )
                    subjects[parse.normalise_subject(mailed)] = (
                        thread.conversation_id,
                        thread.member_id,
                    )
            conversations = {c for c, _ in (*messages.values(), *handles.values())}
            conversations |= {c for c, _ in subjects.values()}
            members: dict[str, dict[str, str]] = {}
            for conversation_id in conversations:
                snapshot = await repo.get_conversation(session, conversation_id)
                if snapshot is None:
                    continue
                people = await repo.get_professionals(session, snapshot.members)
                addresses: dict[str, str] = {}
                for member in snapshot.members:
                    configured = self._configured.get(member)
                    known = people.get(member)
                    for address in (
                        configured.mail if configured else None,
                        known.mssante_address if known else None,
                    ):
                        if address:
                            addresses.setdefault(address.lower(), member)
                for thread in await mail_repo.threads_of(session, [conversation_id]):
                    if thread.member_id in snapshot.members:
                        addresses.setdefault(thread.address.lower(), thread.member_id)
                members[conversation_id] = addresses
        return parse.Lookup(messages, handles, subjects, members)

    async def _answer_refusal(self, facts: parse.MailFacts, judgement: parse.Judgement) -> None:
        """One polite answer per address and day, only inside the trust space."""
        address = facts.from_address
        if not address or not self._sink.allowed(address):
            return
        now = datetime.now(UTC)
        async with self._store.transaction() as session:
            known = await mail_repo.get_address(session, address)
            if (
                known is not None
                and known.last_refusal_reply_at is not None
                and now - known.last_refusal_reply_at < REFUSAL_REPLY_INTERVAL
            ):
                return
            await mail_repo.mark_refusal_replied(session, address, now)
        answer = compose.compose_refusal(
            key=self._sink.key,
            sender=self._sink.sender,
            recipient=address,
            original_id=facts.message_id,
            original_subject=facts.subject,
            reason=judgement.reason or "refused",
            now=now,
        )
        try:
            await self._sink.send_raw(answer, address)
        except Exception as exc:
            log.warning("refusal answer not sent (%s)", type(exc).__name__)


def _capped(attachments: tuple[Attachment, ...], limit: int) -> tuple[tuple[Attachment, ...], int]:
    """The first ``limit`` files, and how many were left out (``mail.max_attachments``)."""
    return attachments[:limit], max(len(attachments) - limit, 0)


async def _lookup_address(composer: SpicoComposer, address: str) -> DirectoryEntry | None:
    """The directory entry of an address; None when SPICO has none or refuses the address."""
    try:
        return await composer.lookup_address(address)
    except ComposerRefusal:
        return None


async def _wait_first(*events: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _logout(client: aioimaplib.IMAP4) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.logout(), 3)
    with contextlib.suppress(Exception):
        if client.protocol and client.protocol.transport:
            client.protocol.transport.close()
