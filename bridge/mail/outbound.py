"""The mail sink: conversation messages as threaded mail, notifications as rate-limited digests.

SMTP submission through aiosmtplib on one reused connection (opening a STARTTLS + AUTH session
costs ~45 ms); STARTTLS or implicit TLS with a configurable CA file and client certificate,
plaintext only to loopback (the config refuses anything else). SMTP 4xx → ``RetryLater``, 5xx →
``PermanentFailure`` (the hub then posts a notice to the conversation).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial

import aiosmtplib
from sqlalchemy import Connection

from bridge.config import SmtpConfig
from bridge.core.delivery import (
    Attachment,
    DeliveryJob,
    InlineSettle,
    PermanentFailure,
    RetryLater,
)
from bridge.core.errors import TooLarge
from bridge.core.model import ConversationView, DeliveryKind, Name, Participant, World
from bridge.core.notifications import notification_allowed
from bridge.core.views import MessageView, event_message
from bridge.mail import compose, texts, tokens
from bridge.mail.compose import NotifiedMessage, Sender, Thread
from bridge.mail.settings import MailSettings
from bridge.mail.trust import TrustSpace
from bridge.store import links as links_repo
from bridge.store import mail as mail_repo
from bridge.store import repositories as repo
from bridge.store.repositories import Store
from bridge.tls import client_context as tls_context

log = logging.getLogger(__name__)

#: Tries at recording a mail the server accepted (store errors) before going on without.
RECORD_ATTEMPTS = 5
#: Why a mail was not sent when ``bridge.mail.mime`` refused to write one of its values.
UNWRITABLE = "the mail cannot be written safely (an address or header value was refused)"


class SmtpSender:
    """One SMTP submission connection, reused, reopened when it dropped."""

    def __init__(self, config: SmtpConfig) -> None:
        self._config = config
        self._client: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()

    def _new_client(self) -> aiosmtplib.SMTP:
        config = self._config
        secure = config.security != "none"
        password = config.password.get() if config.password else None
        return aiosmtplib.SMTP(
            hostname=config.host,
            port=config.port,
            use_tls=config.security == "tls",
            start_tls=config.security == "starttls",
            tls_context=tls_context(config.ca_file, config.client_cert_file, config.client_key_file)
            if secure
            else None,
            username=config.username,
            password=password,
            timeout=config.timeout_seconds,
        )

    async def send(self, mail: bytes, sender: str, recipients: Sequence[str]) -> None:
        """Send ``mail`` (its wire form, ``bridge.mail.compose``); raise ``RetryLater`` (4xx,
        connection trouble) or ``PermanentFailure`` (5xx)."""
        async with self._lock:
            for attempt in range(2):
                try:
                    if self._client is None or not self._client.is_connected:
                        await self._close()
                        self._client = self._new_client()
                        await self._client.connect()
                    await self._client.sendmail(sender, recipients, mail)
                    return
                except aiosmtplib.SMTPRecipientsRefused as exc:
                    codes = [r.code for r in exc.recipients]
                    code = min(codes) if codes else 451
                    if code < 500:  # the next try gets a fresh session (maybe another server)
                        await self._close()
                    raise _by_code(code, "recipient refused") from None
                except aiosmtplib.SMTPAuthenticationError as exc:
                    await self._close()
                    raise RetryLater(f"SMTP authentication failed ({exc.code})") from None
                except aiosmtplib.SMTPResponseException as exc:
                    if exc.code in (421,) and attempt == 0:
                        await self._close()
                        continue
                    if exc.code < 500:
                        await self._close()
                    raise _by_code(exc.code, type(exc).__name__) from None
                except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                    await self._close()
                    if attempt == 0 and isinstance(exc, aiosmtplib.SMTPServerDisconnected):
                        continue  # the reused connection had been closed by the server
                    raise RetryLater(f"SMTP unavailable ({type(exc).__name__})") from None

    async def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                if client.is_connected:
                    await asyncio.wait_for(client.quit(), 5)
            with contextlib.suppress(Exception):
                client.close()

    async def close(self) -> None:
        async with self._lock:
            await self._close()


def _by_code(code: int, what: str) -> Exception:
    if 400 <= code < 500:
        return RetryLater(f"SMTP {code}: {what}")
    return PermanentFailure(f"SMTP {code}: {what}")


def display_name(known: Name | None, fallback: str) -> str:
    """ "Dr Jean DUPONT"; ``fallback`` when the directory does not know them."""
    if known is None:
        return fallback
    name = f"{known.first_name} {known.last_name.upper()}".strip()
    if known.civility and known.civility.lower().startswith("dr"):
        name = f"Dr {name}"
    return name or fallback


def _name(participant: Participant | None) -> Name | None:
    return participant.name if participant is not None else None


def _row_name(row: repo.ProfessionalRow | None) -> Name | None:
    return row.name if row is not None else None


#: How the sink gets an attachment's bytes from SPICO (the hub's poster offers it).
FetchAttachment = Callable[[str, str, str], Awaitable[Attachment]]


class MailSink:
    """The mail world's ``Sink``: kinds ``message`` (thread) and ``notify`` (notification)."""

    world = World.MAIL

    def __init__(
        self,
        settings: MailSettings,
        store: Store,
        smtp: SmtpSender | None = None,
        fetch_attachment: FetchAttachment | None = None,
        configured: Mapping[str, Participant] | None = None,
    ) -> None:
        self._store = store
        self._fetch_attachment = fetch_attachment
        #: {(conversation, member): (delivery, the thread its mail recorded)}: what the next
        #: job of the same run continues (see ``read_ahead``); taken when used.
        self._recorded: dict[tuple[str, str], tuple[int, mail_repo.ThreadRow]] = {}
        self.smtp = smtp or SmtpSender(settings.smtp)
        self._apply(settings, configured or {})

    def _apply(self, settings: MailSettings, configured: Mapping[str, Participant]) -> None:
        """Take ``settings`` (at start and on reload): trust space, template, sender, key."""
        self._settings = settings
        #: The config's participants (their mail overrides the directory's address).
        self._configured = configured
        self._key = settings.token_key
        self.sender = Sender(
            settings.address, settings.display_name, settings.mss_nil, settings.spico_web_url
        )
        self.trust = TrustSpace(settings.trust)
        #: The language of the mails the bridge writes (the lines it adds to messages too).
        self._language = settings.language
        self._template = compose.load_template(
            settings.templates_dir, "notification", self._language
        )

    async def reload(self, settings: MailSettings, configured: Mapping[str, Participant]) -> None:
        """SIGHUP: the whitelist and templates are read again; a changed SMTP section gets a
        new connection (the old one is closed)."""
        old_smtp = self._settings.smtp
        self._apply(settings, configured)
        if settings.smtp != old_smtp:
            previous, self.smtp = self.smtp, SmtpSender(settings.smtp)
            await previous.close()

    @property
    def key(self) -> bytes:
        return self._key

    def allowed(self, address: str) -> bool:
        """Only the trust space, and never patients' own mailboxes unless enabled."""
        return self.trust.is_trusted(address)

    def token_for(self, conversation_id: str, member_id: str, now: datetime) -> str:
        expires = (now + timedelta(days=self._settings.token_ttl_days)).date()
        return tokens.issue(self._key, conversation_id, member_id, expires)

    async def deliver(self, job: DeliveryJob) -> None:
        member = job.destination
        participant = job.participants.get(member)
        address = participant.mail if participant else None
        if not address:
            raise PermanentFailure("no mail address for this member")
        if not self.allowed(address):
            raise PermanentFailure("the member's mail domain is outside the trust space")
        message = job.message
        if message is None:
            return  # nothing to mail (not a message event)
        if job.conversation is None:  # no snapshot (should not happen): mail it all the same
            job = replace(job, conversation=ConversationView(job.conversation_id, ()))
        if job.kind is DeliveryKind.NOTIFY:
            await self._notify(job, address, message)
        else:
            await self._send_message(job, address, message)

    def read_ahead(
        self, connection: Connection, jobs: Sequence[DeliveryJob]
    ) -> dict[int, _ReadAhead]:
        """``ReadsAhead``: in the outbox's claim, what ``_send_message`` reads before sending
        ("sent already?", the member's thread), so a mail costs no unit of work before it is
        sent. The first job of each queue (conversation × member) gets both; the later ones
        of its run only "sent already?" (one statement for them all): the mail of the job
        before them moves the thread on, so they take the thread that job recorded
        (``_ReadAhead.after``), or read it themselves when it recorded none. A job whose mail
        a job before it carries too (one SPICO message in two events) reads for itself."""
        found: dict[int, _ReadAhead] = {}
        previous: dict[tuple[str, str], int] = {}  # {queue: its last job here}
        followers: list[tuple[int, str, int]] = []  # (delivery, Message-ID, the one before)
        mids: set[str] = set()
        for job in jobs:
            member = job.destination
            queue = (job.conversation_id, member)
            before_it = previous.get(queue)
            previous[queue] = job.delivery_id
            participant = job.participants.get(member)
            message = job.message
            if job.kind is not DeliveryKind.MESSAGE or message is None or not participant:
                continue
            if not participant.mail:
                continue  # nothing will be sent
            mid = compose.message_id(self._key, self.sender.domain, "message", message.id, member)
            if mid in mids:
                continue  # the same mail as a job before it (which may send it): reads itself
            mids.add(mid)
            if before_it is None:
                before = _before_sending(mid, job.conversation_id, member, (), connection)
                found[job.delivery_id] = _ReadAhead(mid, before)
            else:
                followers.append((job.delivery_id, mid, before_it))
        sent = mail_repo.get_messages(connection, (mid for _, mid, _ in followers))
        for delivery_id, mid, before_it in followers:
            found[delivery_id] = _ReadAhead(mid, _Before(mid[:400] in sent), after=before_it)
        return found

    async def _send_message(self, job: DeliveryJob, address: str, message: MessageView) -> None:
        member = job.destination
        conversation = job.conversation or ConversationView(job.conversation_id, ())
        mid = compose.message_id(self._key, self.sender.domain, "message", message.id, member)
        queue = (job.conversation_id, member)
        before = self._read_ahead_for(job, mid)
        if before is None:
            before = await self._store.run(
                partial(_before_sending, mid, job.conversation_id, member, ())
            )
        if before.sent:
            return  # sent before a crash or a lost settle: same Message-ID, done
        thread = before.thread
        # The names come with the job (read with the delivery): no directory read here.
        author = job.authors.get(message.writer_id or "")
        now = datetime.now(UTC)
        token = self.token_for(job.conversation_id, member, now)
        files = await self._attachments(message)
        try:
            mail = compose.compose_message(
                key=self._key,
                sender=self.sender,
                recipient=address,
                recipient_name=display_name(_name(job.participants.get(member)), "") or None,
                member_id=member,
                author_name=display_name(_name(author), "SPICO"),
                conversation=conversation,
                message=message,
                token=token,
                thread=Thread(thread.root_message_id, thread.last_message_id) if thread else None,
                patient_policy=self._settings.patient_tag,
                now=now,
                attachments=files,
                language=self._language,
            )
        except ValueError:  # bridge.mail.mime refuses what it cannot write safely
            raise PermanentFailure(UNWRITABLE) from None
        await self.smtp.send(mail, self.sender.address, [address])
        recorded = await self._record_sent(
            job.conversation_id, member, address, mid, thread, token, message.id, settle=job.settle
        )
        if recorded is not None:
            self._recorded[queue] = (job.delivery_id, recorded)

    def _read_ahead_for(self, job: DeliveryJob, mid: str) -> _Before | None:
        """What the claim read for ``job`` (``read_ahead``), None when it read nothing usable:
        nothing, another Message-ID (a reloaded key), or a later job of a run whose job before
        recorded no thread here (not sent now, or its record failed). What the job before
        recorded is taken in any case: only the job right after it may continue it."""
        last = self._recorded.pop((job.conversation_id, job.destination), None)
        ahead = job.read_ahead
        if not isinstance(ahead, _ReadAhead) or ahead.message_id != mid:
            return None
        if ahead.after is None or ahead.before.sent:
            return ahead.before
        if last is None or last[0] != ahead.after:
            return None
        return _Before(False, last[1])

    async def _attachments(self, message: MessageView) -> list[tuple[str, str, bytes]]:
        """The message's files within ``mail.max_attachment_bytes`` (larger ones stay listed as
        "in SPICO" only); fetched from SPICO through the hub."""
        if self._fetch_attachment is None:
            return []
        limit = self._settings.max_attachment_bytes
        files = []
        for meta in message.attachments:
            if meta.size > limit:
                continue
            try:
                fetched = await self._fetch_attachment(
                    meta.id, meta.filename or "piece-jointe", meta.content_type
                )
            except TooLarge:
                continue  # over the SPICO client's cap: listed as kept in SPICO
            if len(fetched.data) > limit:
                continue
            files.append((fetched.filename, fetched.content_type, fetched.data))
        return files

    async def _record_sent(
        self,
        conversation_id: str,
        member: str,
        address: str,
        mid: str,
        thread: mail_repo.ThreadRow | None,
        token: str,
        spico_message_id: str | None,
        *,
        notified: Collection[int] | None = None,
        settle: InlineSettle | None = None,
    ) -> mail_repo.ThreadRow | None:
        """Record a mail the server accepted, right after its 250 (``_record_sent_mail``, one
        unit of work with the delivery's settle, so a crash repeats at most this one mail).
        The mail is out: a store error is retried, never raised (raising would have the
        outbox send it again). Returns the member's thread as recorded (None: not recorded)."""
        decoded = tokens.decode(token)
        assert decoded is not None
        recorded = mail_repo.ThreadRow(
            conversation_id, member, address, thread.root_message_id if thread else mid, mid
        )
        record = partial(
            _record_sent_mail,
            mid,
            recorded,
            decoded.handle if thread is None else None,  # the thread's own: with its first mail
            spico_message_id,
            notified,
            settle,
        )
        for attempt in range(RECORD_ATTEMPTS):
            try:
                await self._store.run(record)
                if settle is not None:
                    settle.committed()
                return recorded
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error(
                    "recording a sent mail failed (%s), attempt %d of %d",
                    type(exc).__name__,
                    attempt + 1,
                    RECORD_ATTEMPTS,
                )
                await asyncio.sleep(min(0.2 * 2**attempt, 5.0))
        return None

    # --- notifications ---------------------------------------------------------------------

    async def _notify(self, job: DeliveryJob, address: str, message: MessageView) -> None:
        """First message of a period: a notification now; later ones wait for the digest."""
        settings = self._settings
        if not settings.notifications_enabled:
            return
        period = timedelta(minutes=settings.notification_period_minutes)
        now = datetime.now(UTC)
        key = (job.conversation_id, job.destination)
        source = f"seq-{job.event_seq}"
        mid = compose.message_id(self._key, self.sender.domain, "notify", source, job.destination)
        sent, state = await self._store.run(partial(_notification_state, mid, key))
        if sent:
            return  # notified before a crash: same Message-ID, done
        if state is not None and job.event_seq in state.pending:
            return  # already waiting for the digest (a retried delivery)
        if state is not None and not notification_allowed(state.last_sent_at, now, period):
            if settings.notification_digests:
                await self._store.run(partial(_add_pending, key, job.event_seq, now))
            return
        # The period is over (or never started): what waited goes with this message.
        earlier = state.pending if state else ()
        messages = [*(await self._pending_messages(earlier)), message]
        await self.send_notification(
            *key,
            address,
            job.conversation or ConversationView(job.conversation_id, ()),
            messages,
            source=source,
            carried={*earlier, job.event_seq},
            settle=job.settle,
        )

    async def _pending_messages(self, seqs: Sequence[int]) -> list[MessageView]:
        if not seqs:
            return []
        events = await self._store.run(partial(repo.get_events, seqs=seqs))
        found = (event_message(events[seq].payload) for seq in seqs if seq in events)
        return [message for message in found if message is not None]

    async def send_notification(
        self,
        conversation_id: str,
        member: str,
        address: str,
        conversation: ConversationView,
        messages: Sequence[MessageView],
        *,
        source: str,
        carried: Collection[int] = (),
        settle: InlineSettle | None = None,
    ) -> None:
        """Send a notification (or digest) of ``messages``; the sequence numbers ``carried``
        leave the digest's queue in the transaction that records the mail."""
        authors = [m.writer_id or "" for m in messages]
        mid = compose.message_id(self._key, self.sender.domain, "notify", source, member)
        before = await self._store.run(
            partial(_before_notifying, mid, (conversation_id, member), (member, *authors), carried)
        )
        if before.sent:
            return  # sent before a crash: same Message-ID, done (its period started)
        people, thread = before.people, before.thread
        notified = [
            NotifiedMessage(display_name(_row_name(people.get(a)), "SPICO"), m.body, m.created_at)
            for a, m in zip(authors, messages, strict=True)
        ]
        now = datetime.now(UTC)
        token = self.token_for(conversation_id, member, now)
        try:
            mail = compose.compose_notification(
                key=self._key,
                sender=self.sender,
                recipient=address,
                recipient_name=display_name(_row_name(people.get(member)), "") or None,
                member_id=member,
                conversation=conversation,
                messages=notified,
                source=source,
                token=token,
                thread=Thread(thread.root_message_id, thread.last_message_id) if thread else None,
                patient_policy=self._settings.patient_tag,
                template=self._template,
                now=now,
                language=self._language,
            )
        except ValueError:  # bridge.mail.mime refuses what it cannot write safely
            raise PermanentFailure(UNWRITABLE) from None
        await self.smtp.send(mail, self.sender.address, [address])
        await self._record_sent(
            conversation_id,
            member,
            address,
            mid,
            thread,
            token,
            None,
            notified=carried,
            settle=settle,
        )

    async def send_due_digests(self) -> int:
        """Send the digests whose period is over; returns how many were sent."""
        period = timedelta(minutes=self._settings.notification_period_minutes)
        now = datetime.now(UTC)
        async with self._store.transaction() as session:
            due = await mail_repo.due_digests(session, now - period)
        sent = 0
        for row in due:
            key = (row.conversation_id, row.member_id)
            snapshot, known = await self._store.run(
                partial(_digest_reader, row.conversation_id, row.member_id)
            )
            messages = await self._pending_messages(row.pending)
            address = self._address_for(row.member_id, known)
            if snapshot is not None and messages and address and self.allowed(address):
                try:
                    await self.send_notification(
                        *key,
                        address,
                        snapshot.view(),
                        messages,
                        source="digest-" + "-".join(str(s) for s in row.pending),
                        carried=row.pending,
                    )
                    sent += 1
                    continue
                except RetryLater as exc:
                    log.warning("digest not sent yet (%s); will retry", exc.args[0])
                    continue
                except PermanentFailure as exc:
                    log.warning("digest refused (%s); dropped", exc.args[0])
                    sent += 1
            await self._store.run(partial(_period_started, key=key, seqs=row.pending))
        return sent

    def _address_for(self, member: str, known: repo.ProfessionalRow | None) -> str | None:
        configured = self._configured.get(member)
        if configured is not None and configured.mail:
            return configured.mail
        return known.mssante_address if known else None

    async def send_link_codes(self) -> int:
        """Mail the one-time codes of ``lier`` that are waiting (``bridge.core.linking``): to
        the directory's address only, inside the trust space; once sent, the store keeps the
        code's digest only. Returns how many were sent."""
        now = datetime.now(UTC)
        async with self._store.transaction() as session:
            waiting = await links_repo.codes_to_mail(session, now)
        sent = 0
        for row in waiting:
            if self.allowed(row.address):
                language = row.language if row.language in ("fr", "en") else self._language
                mail = compose.compose_answer(
                    key=self._key,
                    sender=self.sender,
                    recipient=row.address,
                    kind="link-code",
                    source=str(row.id),
                    subject=texts.text(language, "link_code_subject"),
                    text=texts.text(
                        language,
                        "link_code_body",
                        user=row.matrix_user,
                        code=row.code,
                        until=row.expires_at.strftime("%H:%M"),
                    ),
                    now=now,
                )
                try:
                    await self.smtp.send(mail, self.sender.address, [row.address])
                except RetryLater as exc:
                    log.warning("link code not mailed yet (%s); will retry", exc.args[0])
                    continue
                except PermanentFailure as exc:
                    log.warning("link code refused by the mail server (%s); dropped", exc.args[0])
                else:
                    sent += 1
            else:
                log.warning("link code not mailed: the address is outside the trust space")
            async with self._store.transaction() as session:
                await links_repo.code_mailed(session, row.id)
        return sent

    async def send_raw(self, mail: bytes, recipient: str) -> None:
        await self.smtp.send(mail, self.sender.address, [recipient])

    async def close(self) -> None:
        await self.smtp.close()


# --- units of work (``Store.run``: on the database thread, no awaits) -------------------------


@dataclass(frozen=True, slots=True)
class _Before:
    """What the sink reads before sending a mail: whether it was sent already, the member's
    thread, and the names of the people the mail shows."""

    sent: bool
    thread: mail_repo.ThreadRow | None = None
    people: dict[str, repo.ProfessionalRow] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _ReadAhead:
    """What ``MailSink.read_ahead`` read in the outbox's claim, for the mail ``message_id``
    (a reloaded key makes another: then the sink reads again)."""

    message_id: str
    before: _Before
    #: For a later job of a run: the delivery before it in its queue, whose recorded thread
    #: it continues (``before`` then says "sent already?" only).
    after: int | None = None


def _before_sending(
    mid: str,
    conversation_id: str,
    member: str,
    people: Iterable[str | None],
    connection: Connection,
) -> _Before:
    """Unit of work: sent already? else the thread and the people's names."""
    sent, thread = mail_repo.sent_and_thread(connection, mid, conversation_id, member)
    if sent:
        return _Before(sent=True)
    return _Before(False, thread, repo.get_professionals(connection, [i for i in people if i]))


def _before_notifying(
    mid: str,
    key: tuple[str, str],
    people: Iterable[str | None],
    carried: Collection[int],
    connection: Connection,
) -> _Before:
    """Unit of work: as ``_before_sending``; a notification found sent already starts its
    period (what it carried leaves the digest's queue), as when it was recorded."""
    if mail_repo.get_messages(connection, [mid]):
        _period_started(connection, key, carried)
        return _Before(sent=True)
    return _before_sending(mid, *key, people, connection)


def _record_sent_mail(
    mid: str,
    thread: mail_repo.ThreadRow,
    handle: str | None,
    spico_message_id: str | None,
    notified: Collection[int] | None,
    settle: InlineSettle | None,
    connection: Connection,
) -> None:
    """Unit of work: a mail the server accepted (its Message-ID, the thread, the reply
    token's handle), for a notification or digest the period started, and the delivery
    settled (the outbox's ``settle``)."""
    mail_repo.record_sent(connection, mid, thread, handle=handle, spico_message_id=spico_message_id)
    if notified is not None:
        _period_started(connection, (thread.conversation_id, thread.member_id), notified)
    if settle is not None:
        settle.within(connection)


def _notification_state(
    mid: str, key: tuple[str, str], connection: Connection
) -> tuple[bool, mail_repo.NotificationRow | None]:
    """Unit of work: whether this notification was sent already, and the member's period."""
    return bool(mail_repo.get_messages(connection, [mid])), mail_repo.get_notification(
        connection, *key
    )


def _add_pending(key: tuple[str, str], seq: int, now: datetime, connection: Connection) -> None:
    """Unit of work: a message waits for the member's digest."""
    current = mail_repo.get_notification(connection, *key)
    pending = tuple(dict.fromkeys((*(current.pending if current else ()), seq)))
    last = current.last_sent_at if current and current.last_sent_at else now
    mail_repo.save_notification(connection, mail_repo.NotificationRow(*key, last, pending))


def _period_started(connection: Connection, key: tuple[str, str], seqs: Collection[int]) -> None:
    """A new period starts now; what was queued meanwhile stays (the digest loop runs
    apart)."""
    current = mail_repo.get_notification(connection, *key)
    left = tuple(s for s in (current.pending if current else ()) if s not in seqs)
    mail_repo.save_notification(
        connection, mail_repo.NotificationRow(*key, datetime.now(UTC), left)
    )


def _digest_reader(
    conversation_id: str, member: str, connection: Connection
) -> tuple[repo.ConversationSnapshot | None, repo.ProfessionalRow | None]:
    """Unit of work: what a due digest needs: the conversation and the member."""
    snapshot = repo.get_conversations(connection, [conversation_id]).get(conversation_id)
    return snapshot, repo.get_professionals(connection, [member]).get(member)
