"""The bridge's mailbox read over IMAP: the inbox's transport (its ``Email::Processor``).

Cursor, IDLE (polling as fallback), flags, reconnect, STARTTLS; each mail goes to the trust
pipeline (``bridge.mail.receiver``), which records how it ended. Mails are fetched in batches
(``FETCH_MAILS``, one command each) and handled in UID order; only then are they marked
processed and does the cursor ``mail:imap:<mailbox>`` = ``UIDVALIDITY:UID`` move past them
(also up to a mail that fails). A crash in between replays them, which is harmless: the SPICO
post is idempotent (its key is the mail's Message-ID) and mails are deduped by Message-ID. A
mail the bridge could not pass on because SPICO or the store is unavailable stops the batch: it
is offered again later, never skipped. Processed mail is flagged (``\\Seen`` and
``$SpicoBridged``) or moved, per config; a mail set aside (over the parsing budget, or failing
again and again: a poison mail) is kept like the others and also gets ``$SpicoSetAside``, so
that an administrator finds it.

aioimaplib 2.0 has no STARTTLS (MSSanté operators use it on 143): ``open_imap`` sends the
command through the library's protocol and upgrades the transport with ``loop.start_tls``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import Mapping

import aioimaplib
import aiosmtplib
from imapclient import imap_utf7

from bridge.config import ImapConfig
from bridge.core.delivery import POISON_ATTEMPTS, PoisonGuard, is_outage
from bridge.core.errors import ServiceUnavailable
from bridge.core.model import Participant
from bridge.core.waiting import wait_any
from bridge.mail.envelope import Envelope, EnvelopeProblem
from bridge.mail.outbound import tls_context
from bridge.mail.outcome import Handled, Outcome
from bridge.mail.receiver import RawMail, Receiver
from bridge.mail.settings import MailSettings
from bridge.store import repositories as repo
from bridge.store.repositories import Store

log = logging.getLogger(__name__)

PROCESSED_KEYWORD = "$SpicoBridged"
#: Also on a mail set aside (kept, not read): what an administrator searches for.
SET_ASIDE_KEYWORD = "$SpicoSetAside"
RECONNECT_MAX_SECONDS = 10.0
#: Mails whose header blocks are fetched with one command (the rest of a mail only when its
#: author passed the trust checks). They are marked processed and the cursor moves past them
#: together (or up to one that fails): a crash replays at most one batch, each mail deduped
#: by its Message-ID.
FETCH_MAILS = 50
#: IDLE is renewed this often (RFC 2177: servers may drop it after 30 min).
IDLE_RENEW_SECONDS = 25 * 60
_UIDVALIDITY_RE = re.compile(rb"UIDVALIDITY (\d+)")
_UID_RE = re.compile(rb"\bUID (\d+)")
_SIZE_RE = re.compile(rb"\bRFC822\.SIZE (\d+)")


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


class _Progress:
    """The mails of a batch handled since the last checkpoint."""

    def __init__(self, last: int) -> None:
        self.last = last
        self.count = 0
        self.pending: list[int] = []
        self.set_aside: list[int] = []

    def add(self, uid: int, outcome: Outcome) -> None:
        self.last = uid
        self.count += 1
        self.pending.append(uid)
        if outcome.handled is Handled.SET_ASIDE:
            self.set_aside.append(uid)


def _uid_set(uids: list[int]) -> str:
    return ",".join(str(uid) for uid in uids)


def _literals_by_uid(lines: list[object]) -> dict[int, tuple[bytes, int | None]]:
    """The literals of a FETCH response (one per message), with the ``RFC822.SIZE`` the same
    message's data items give, by its UID (in the line before the literal, as Dovecot writes
    it, or in the one after)."""
    found: dict[int, tuple[bytes, int | None]] = {}
    for index, line in enumerate(lines):
        if not isinstance(line, bytearray | memoryview):
            continue
        around = [
            bytes(lines[i])  # type: ignore[arg-type]
            for i in (index - 1, index + 1)
            if 0 <= i < len(lines) and isinstance(lines[i], bytes)
        ]
        uid = next((m for m in (_UID_RE.search(text) for text in around) if m), None)
        size = next((m for m in (_SIZE_RE.search(text) for text in around) if m), None)
        if uid is not None:
            found.setdefault(int(uid.group(1)), (bytes(line), int(size.group(1)) if size else None))
    return found


def imap_mailbox_name(name: str) -> str:
    """A folder name as IMAP wants it: modified UTF-7 (RFC 3501 §5.1.3), quoted."""
    encoded = imap_utf7.encode(name).decode("ascii")
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


class MailInbox:
    """Reads the bridge's mailbox and hands each mail to the trust pipeline."""

    def __init__(self, settings: MailSettings, store: Store, receiver: Receiver) -> None:
        self._settings = settings
        self._imap = settings.imap
        self._store = store
        self._receiver = receiver
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
        self._receiver.reload(settings, configured)
        if reconnect:
            self._imap = settings.imap
            self._cursor = f"mail:imap:{self._imap.mailbox}"
            self._folder_ready = False
            self._lost.set()

    # --- the loop --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        await self._receiver.worker.start()  # now: the first mail does not wait for its imports
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
            await wait_any(stop, within=delay)
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
                await wait_any(stop, self._lost, within=self._imap.poll_interval_seconds)

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
        stored = await self._store.run(functools.partial(repo.get_cursor, source=self._cursor))
        last = 0
        if stored is None and self._settings.bridge_existing == "new":
            # First start: the mailbox's history predates the bridge (bridge_existing: new).
            response = await client.uid_search("ALL")
            found = (
                [int(u) for line in response.lines[:1] for u in bytes(line).split() if u.isdigit()]
                if response.result == "OK"
                else []
            )
            await self._store.run(
                functools.partial(
                    repo.set_cursor,
                    source=self._cursor,
                    value=f"{uidvalidity}:{max(found, default=0)}",
                )
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
        done = _Progress(last)
        try:
            pending = [u for u in uids if u > last]
            for start in range(0, len(pending), FETCH_MAILS):
                batch = pending[start : start + FETCH_MAILS]
                headers = await self._headers(client, batch)
                if any(uid not in headers for uid in batch):
                    raise ImapUnavailable("FETCH gave no message")
                mails = [
                    RawMail(*headers[uid], functools.partial(self._whole, client, uid))
                    for uid in batch
                ]
                envelopes = await self._receiver.envelopes(mails)
                for uid, mail, envelope in zip(batch, mails, envelopes, strict=True):
                    done.add(uid, await self._handle_uid(uidvalidity, uid, mail, envelope))
                await self._checkpoint(client, uidvalidity, done)
        except BaseException:
            if done.pending:  # what was handled before the failure is not read again
                with contextlib.suppress(Exception):
                    await self._checkpoint(client, uidvalidity, done)
            raise
        return done.count

    async def _headers(
        self, client: aioimaplib.IMAP4, uids: list[int]
    ) -> dict[int, tuple[bytes, int]]:
        """The header block (at most the cap and a little) and the size of each mail, in one
        command: the trust checks read no more, and a refused mail is never downloaded."""
        cap = self._receiver.limits.max_header_bytes + 4
        response = await client.uid(
            "fetch", _uid_set(uids), f"(RFC822.SIZE BODY.PEEK[HEADER]<0.{cap}>)"
        )
        if response.result != "OK":
            raise ImapUnavailable("FETCH refused")
        return {
            uid: (data, size if size is not None else len(data))
            for uid, (data, size) in _literals_by_uid(response.lines).items()
        }

    async def _whole(self, client: aioimaplib.IMAP4, uid: int) -> bytes:
        """The whole mail, when a step needs it (the author passed the trust checks)."""
        response = await client.uid("fetch", str(uid), "(BODY.PEEK[])")
        found = _literals_by_uid(response.lines).get(uid) if response.result == "OK" else None
        if found is None:
            raise ImapUnavailable("FETCH gave no message")
        return found[0]

    async def _handle_uid(
        self,
        uidvalidity: int,
        uid: int,
        mail: RawMail,
        envelope: Envelope | EnvelopeProblem | None,
    ) -> Outcome:
        """One mail through the pipeline; a poison mail is set aside after some tries."""
        try:
            return await self._receiver.receive(mail, batched=True, envelope=envelope)
        except Exception as error:
            key = f"{uidvalidity}:{uid}"
            if is_outage(error, TRANSPORT_ERRORS) or not self._poison.failed(key):
                raise  # offered again (a server is down, or one more try)
            await self._set_aside(uid, error)
            return Outcome(Handled.SET_ASIDE, "internal_error")

    async def _checkpoint(
        self, client: aioimaplib.IMAP4, uidvalidity: int, done: _Progress
    ) -> None:
        """Mark the handled mails processed, then record what waited for the batch and move
        the cursor past them (one transaction)."""
        await self._mark_processed(client, done.pending, done.set_aside)
        await self._receiver.checkpoint((self._cursor, f"{uidvalidity}:{done.last}"))
        done.pending.clear()
        done.set_aside.clear()

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
        await self._receiver.audit_unread(f"internal_error:{type(error).__name__}")

    async def _mark_processed(
        self, client: aioimaplib.IMAP4, uids: list[int], set_aside: list[int]
    ) -> None:
        """Move the mails (when configured and the server can), else flag them; mails set
        aside get their keyword first (it moves with them)."""
        if not uids:
            return
        if set_aside:
            await client.uid("store", _uid_set(set_aside), "+FLAGS", f"({SET_ASIDE_KEYWORD})")
        folder = self._imap.processed_folder
        if self._imap.processed == "move" and folder and client.has_capability("MOVE"):
            quoted = imap_mailbox_name(folder)
            if not self._folder_ready:
                await client.create(quoted)  # fails harmlessly when it exists
                self._folder_ready = True
            response = await client.uid("move", _uid_set(uids), quoted)
            if response.result == "OK":
                return
        await client.uid("store", _uid_set(uids), "+FLAGS", f"(\\Seen {PROCESSED_KEYWORD})")

    # --- one mail ----------------------------------------------------------------------------

    async def handle(self, raw: bytes) -> Outcome:
        """One mail (all its bytes here) through the trust pipeline, recorded at once. Raises
        only when it must be offered again later (SPICO or the store unavailable)."""
        return await self._receiver.receive(RawMail.of(raw))

    async def close(self) -> None:
        """Stop the parsing worker."""
        await self._receiver.worker.close()


async def _logout(client: aioimaplib.IMAP4) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.logout(), 3)
    with contextlib.suppress(Exception):
        if client.protocol and client.protocol.transport:
            client.protocol.transport.close()
