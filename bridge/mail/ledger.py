"""What the inbox reads and writes in the store: the ids a mail points to, the mails the bridge
sent (for DSNs), and how each mail ended (recorded and audited in one transaction, before the
IMAP cursor moves past it).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from functools import partial

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.core.delivery import BRIDGE_WORLD, FAILURE_NOTICE_PREFIX
from bridge.core.model import MailChoice, Participant, World
from bridge.core.routing import mail_choice_applies
from bridge.mail import compose
from bridge.mail.author import AuthorProblem
from bridge.mail.dsn import DsnMatch, DsnReport, match_dsn
from bridge.mail.envelope import Envelope, EnvelopeProblem
from bridge.mail.outcome import Outcome
from bridge.mail.threads import ThreadLookup, candidate_handles, normalise_subject
from bridge.mail.verdict import Reason
from bridge.store import mail as mail_repo
from bridge.store import preferences
from bridge.store import repositories as repo
from bridge.store.repositories import Store

log = logging.getLogger(__name__)

#: How mails end before their author passed the trust checks (caps, author, trust space,
#: authentication, automatic). Their records never stand for another mail with the same
#: Message-ID: copying a Message-ID must not let a stranger make a member's reply a duplicate.
BEFORE_TRUST = frozenset(
    {
        *(problem.value for problem in EnvelopeProblem),
        *(problem.value for problem in AuthorProblem),
        Reason.LOOP.value,
        Reason.UNTRUSTED_DOMAIN.value,
        Reason.PATIENT_MAILBOX.value,
        Reason.UNAUTHENTICATED.value,
        "auto_reply",
    }
)


class InboxLedger:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._configured: Mapping[str, Participant] = {}
        self._own = ""
        self._patient_tag = "none"
        self._deferred: list[tuple[str, Outcome, str | None]] = []

    def reload(
        self, configured: Mapping[str, Participant], *, own_address: str, patient_tag: str
    ) -> None:
        """The participants and settings the lookups use (at start and on SIGHUP)."""
        self._configured = configured
        self._own = own_address
        self._patient_tag = patient_tag

    async def previous(self, message_id: str) -> mail_repo.MessageRow | None:
        """The mail as already handled (read twice: a resent mail, a replayed mailbox)."""
        rows = await self._store.run(partial(mail_repo.get_messages, ids=[message_id]))
        row = rows.get(message_id[:400])
        if row is None or row.direction != "in" or row.verdict == "error":
            return None
        if row.reason in BEFORE_TRUST:
            return None  # anyone can send a mail with that Message-ID: it does not count
        return row

    async def thread_lookup(self, envelope: Envelope, author: str) -> ThreadLookup:
        """What the store knows of the ids the envelope points to: stored Message-IDs, token
        handles, the author's threads' subjects, and the current members of those
        conversations (configured mapping, directory, mail threads)."""
        async with self._store.transaction() as session:
            rows = await repo.in_session(session, mail_repo.get_messages, envelope.references)
            messages = {
                mid: (row.conversation_id, row.member_id)
                for mid, row in rows.items()
                if row.direction == "out" and row.conversation_id and row.member_id
            }
            handles = await repo.in_session(
                session, mail_repo.resolve_handles, candidate_handles(envelope, self._own)
            )
            subjects: dict[str, tuple[str, str]] = {}
            for thread in await mail_repo.threads_by_address(session, author):
                snapshot = await repo.get_conversation(session, thread.conversation_id)
                if snapshot is None:
                    continue
                where = (thread.conversation_id, thread.member_id)
                subjects[normalise_subject(snapshot.subject)] = where
                # Subjects as mailed carry the prefix and patient tag: match those too.
                mailed = compose.subject_line(
                    snapshot.subject, snapshot.view().patient, self._patient_tag
                )
                subjects[normalise_subject(mailed)] = where
            conversations = {c for c, _ in (*messages.values(), *handles.values())}
            members: dict[str, dict[str, str]] = {}
            for conversation_id in conversations:
                snapshot = await repo.get_conversation(session, conversation_id)
                if snapshot is None:
                    continue
                people = await repo.in_session(session, repo.get_professionals, snapshot.members)
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
        return ThreadLookup(messages, handles, subjects, members)

    async def match_dsn(self, report: DsnReport) -> tuple[DsnMatch, str | None, str | None]:
        """The report's failed recipients the bridge did send the reported mail to (the stored
        outgoing Message-ID and that member's thread address), with the conversation and
        member it was sent for."""
        original = report.original_message_id
        if original is None:
            return DsnMatch(None, ()), None, None
        sent, thread = await self._store.run(partial(_sent_and_thread, original))
        if sent is None or sent.direction != "out":
            return DsnMatch(original, ()), None, None
        if not sent.conversation_id or not sent.member_id:
            return DsnMatch(original, ()), None, None
        address = thread.address.lower() if thread is not None else None

        def sent_to(message_id: str, recipient: str) -> bool:
            return message_id == original and recipient == address

        return match_dsn(report, sent_to), sent.conversation_id, sent.member_id

    async def bounced(self, match: DsnMatch, conversation_id: str, member_id: str) -> None:
        """Mark the recipients failing and queue one notice for the conversation (posted by
        the hub's notice poster, once: keyed by the reported Message-ID)."""
        async with self._store.transaction() as session:
            for address in match.recipients:
                await mail_repo.mark_failing(session, address)
            digest = hashlib.sha256((match.original_message_id or "").encode()).hexdigest()[:32]
            await repo.in_session(
                session,
                repo.record_inbound,
                idempotency_key=f"{FAILURE_NOTICE_PREFIX}mail-bounce-{digest}",
                world=BRIDGE_WORLD,
                origin=f"{World.MAIL.value}:{member_id}",
                conversation_id=conversation_id,
                author_id=BRIDGE_WORLD,
            )

    async def record(self, message_id: str, outcome: Outcome, detail: str | None = None) -> bool:
        """Log (no content), remember the mail as handled and audit it, in one transaction:
        only then is the IMAP cursor moved past it. False (and no second audit row) when the
        mail was already recorded: read again after a replay."""
        _log(outcome, detail)
        async with self._store.transaction() as session:
            return await _write(session, message_id, outcome, detail)

    def choice_applies(self, member_id: str, action: str) -> bool:
        """Whether the config's ``delivery`` for the member lets their choice apply."""
        configured = self._configured.get(member_id)
        return mail_choice_applies(configured.delivery if configured else None, action)

    async def record_choice(self, message_id: str, outcome: Outcome, action: str) -> bool:
        """A member's mail choice (``stop``, ``follow``, ``all``) by a mail whose token they
        hold: stored with the mail's record and audit, in one transaction (False: read again
        after a replay, nothing changed twice). A choice the config's ``delivery`` overrides
        is recorded and audited, not stored."""
        assert outcome.conversation_id and outcome.member_id
        applies = self.choice_applies(outcome.member_id, action)
        _log(outcome, None)
        async with self._store.transaction() as session:
            recorded = await _write(session, message_id, outcome, None)
            if recorded and applies:
                if action == preferences.ALL:
                    await preferences.set_member_preference(
                        session, outcome.member_id, preferences.ALL
                    )
                else:
                    await preferences.set_conversation_choice(
                        session, outcome.conversation_id, outcome.member_id, MailChoice(action)
                    )
            return recorded

    def defer(self, message_id: str, outcome: Outcome, detail: str | None = None) -> None:
        """Record a mail that had no other effect (refused before its author passed the trust
        checks) with the next ``checkpoint``: a flood of such mails costs one transaction per
        batch, not one each."""
        _log(outcome, detail)
        self._deferred.append((message_id, outcome, detail))

    async def checkpoint(self, cursor: tuple[str, str] | None = None) -> None:
        """Write the deferred records and move the cursor, in one transaction."""
        deferred, self._deferred = self._deferred, []
        if not deferred and cursor is None:
            return
        try:
            async with self._store.transaction() as session:
                for message_id, outcome, detail in deferred:
                    await _write(session, message_id, outcome, detail)
                if cursor is not None:
                    await repo.in_session(session, repo.set_cursor, *cursor)
        except BaseException:
            self._deferred = deferred + self._deferred  # written with the next checkpoint
            raise

    async def audit_unread(self, detail: str) -> None:
        """A mail set aside before it could be read at all (the reader's poison guard)."""
        async with self._store.transaction() as session:
            await repo.add_audit(
                session,
                world=World.MAIL.value,
                action="mail.in",
                outcome="set_aside",
                destination="spico",
                detail=detail,
            )


def _log(outcome: Outcome, detail: str | None) -> None:
    log.info(
        "mail in: %s %s%s (conversation %s)",
        outcome.action,
        outcome.handled.value,
        f" ({detail or outcome.reason})" if detail or outcome.reason else "",
        outcome.conversation_id or "-",
    )


def _sent_and_thread(
    message_id: str, connection: Connection
) -> tuple[mail_repo.MessageRow | None, mail_repo.ThreadRow | None]:
    """Unit of work: a mail's record, and the thread of the member it was sent to."""
    sent = mail_repo.get_messages(connection, [message_id]).get(message_id[:400])
    if sent is None or not sent.conversation_id or not sent.member_id:
        return sent, None
    return sent, mail_repo.get_thread(connection, sent.conversation_id, sent.member_id)


async def _write(
    session: AsyncSession, message_id: str, outcome: Outcome, detail: str | None
) -> bool:
    new = await repo.in_session(
        session,
        mail_repo.record_message,
        message_id,
        direction="in",
        conversation_id=outcome.conversation_id,
        member_id=outcome.member_id,
        verdict=outcome.handled.value,
        reason=outcome.reason,
        spico_message_id=outcome.spico_message_id,
    )
    if not new and outcome.reason not in BEFORE_TRUST:
        # The Message-ID was taken by a mail refused before its author was trusted (anyone
        # may copy a Message-ID): this one, from an author who passed, takes the record over.
        new = await mail_repo.take_over_message(
            session,
            message_id,
            only_reasons=BEFORE_TRUST,
            verdict=outcome.handled.value,
            reason=outcome.reason,
            conversation_id=outcome.conversation_id,
            member_id=outcome.member_id,
            spico_message_id=outcome.spico_message_id,
        )
    if new:
        await repo.add_audit(
            session,
            world=World.MAIL.value,
            action=outcome.action,
            outcome=outcome.handled.value,
            actor_id=outcome.member_id,
            conversation_id=outcome.conversation_id,
            destination="spico",
            detail=detail or outcome.reason,
        )
    return new


__all__ = ["InboxLedger"]
