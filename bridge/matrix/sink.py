"""SPICO → Matrix: the portal room of each conversation, its state, members and messages.

Idempotent by construction: the portal is looked up first, and created under a deterministic
alias (a crash between creating and recording it finds the room by its alias instead of making a
second one); state and membership are reconciled against the room's current state (a repeat
changes nothing); messages carry the delivery's transaction id (Synapse replays it) and are
linked to their SPICO id once sent.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nio import (
    RoomCreateResponse,
    RoomGetStateResponse,
    RoomResolveAliasResponse,
    UploadResponse,
)
from sqlalchemy import Connection

from bridge.core.delivery import (
    DeliveryJob,
    InboundPoster,
    InlineSettle,
    PermanentFailure,
    RetryLater,
)
from bridge.core.errors import TooLarge
from bridge.core.model import (
    ConversationView,
    DeliveryKind,
    Participant,
    World,
    matrix_users_by_spico_id,
    spico_ids_by_matrix_user,
)
from bridge.core.notifications import unread_by
from bridge.core.views import AttachmentView, MessageView, message_view, patient_tag
from bridge.matrix import texts
from bridge.matrix.client import MatrixClient, MatrixError
from bridge.matrix.formatting import (
    Person,
    history_header,
    megabytes,
    message_content,
    notice_content,
    sender_header,
    sent_at,
)
from bridge.matrix.intent import MatrixIntent, RelaySpeakers, Speakers
from bridge.matrix.portal_state import (
    CONVERSATION_STATE,
    SPACE_STATE,
    PortalState,
    adoption_problem,
    alias_localpart,
    create_room_request,
    current_state,
    ghost_plan,
    membership_plan,
    memberships,
    portal_state,
    state_changes,
)
from bridge.store import matrix as matrix_repo
from bridge.store import repositories as repo
from bridge.store import unread as unread_repo
from bridge.store.repositories import ProfessionalRow, Store

log = logging.getLogger(__name__)

PORTAL_ALIAS_PREFIX = "spico_"
MEGOLM = "m.megolm.v1.aes-sha2"
SPACE_ALIAS_PREFIX = "spico_patient_"
#: How many of a conversation's last messages a new portal is back-filled with.
HISTORY_LIMIT = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class PortalSettings:
    """The parts of the config the sink and source read (swapped whole on reload)."""

    bot_user_id: str
    server_name: str
    federate: bool
    encryption: bool
    patient_spaces: bool
    tag_policy: str
    language: str
    command_prefix: str = "!spico"
    #: The largest file relayed either way (``matrix.max_file_bytes``).
    max_file_bytes: int = 10 * 1024 * 1024
    #: Missed-message mails are on: a message posted to a portal is unread by its members who
    #: follow in Matrix until they read it (``bridge.store.unread``).
    track_unread: bool = False


@dataclass(frozen=True, slots=True)
class ReadAhead:
    """What ``MatrixSink.read_ahead`` read for a message job in the outbox's claim: its portal
    and whether the message is there already (its unread members were recorded then)."""

    room_id: str
    sent: bool


@dataclass(frozen=True, slots=True)
class Unread:
    """The members a posted message is unread by (missed-message mails), and its journal seq."""

    members: Collection[str]
    seq: int


def person_of(spico_id: str, row: ProfessionalRow | None) -> Person:
    if row is None:
        return Person(spico_id)
    return Person(spico_id, row.civility, row.first_name, row.last_name, row.profession, row.status)


def person_of_participant(spico_id: str, participant: Participant | None) -> Person:
    """The same from what the hub read with the job (``DeliveryJob.authors``)."""
    name = participant.name if participant is not None else None
    if participant is None or name is None:
        return Person(spico_id)
    return Person(
        spico_id,
        name.civility,
        name.first_name,
        name.last_name,
        name.profession,
        participant.status,
    )


class MatrixSink:
    """The Matrix world's ``Sink``: destination = SPICO conversation id."""

    world = World.MATRIX

    def __init__(
        self,
        client: MatrixClient,
        store: Store,
        settings: PortalSettings,
        post: InboundPoster,
        matrix_user_of: Callable[[], Mapping[str, str]] = dict,
        speakers: Speakers | None = None,
    ) -> None:
        self._client = client
        #: Who messages go out as: the bot (relay) or each author's ghost (appservice).
        self.speakers: Speakers = speakers or RelaySpeakers(client)
        self._bot = MatrixIntent(client)
        self._store = store
        self.settings = settings
        self._post = post
        #: {SPICO id: Matrix user} of every mapped professional (patient spaces span rooms).
        self._matrix_user_of = matrix_user_of
        #: Portal rooms already looked up (a conversation's room never changes once recorded).
        self._rooms: dict[str, str] = {}

    async def deliver(self, job: DeliveryJob) -> None:
        if job.kind not in (DeliveryKind.STATE, DeliveryKind.MESSAGE):
            return  # notifications are mail's
        await self._client.ensure_logged_in()
        room_id, reconciled = await self.ensure_portal(job)
        if job.kind is DeliveryKind.STATE and not reconciled:
            await self.reconcile(job, room_id)
        elif job.kind is DeliveryKind.MESSAGE:
            await self.send_message(job, room_id)

    def read_ahead(
        self, connection: Connection, jobs: Sequence[DeliveryJob]
    ) -> dict[int, ReadAhead]:
        """``ReadsAhead``: in the outbox's claim, for each message job whose portal is known,
        what ``post`` reads before sending ("sent already?", the members it is unread by
        recorded), so the message costs no unit of work before it is sent.

        Left out, to read for themselves: a job whose portal is not known yet (creating it
        back-fills the history, which may post the message); a job whose message an earlier
        job here carries too (that one may post it); and a job with unread members behind
        another job of its queue (a receipt for that earlier message, posted after the claim,
        would clear them). No earlier job of the run can post another job's message: each
        message is looked up by its own SPICO id."""
        ahead: dict[int, tuple[str, str]] = {}  # {delivery: (SPICO message id, room)}
        queues: set[str] = set()
        seen: set[tuple[str, str]] = set()
        now = datetime.now(UTC)
        for job in jobs:
            first = job.conversation_id not in queues
            queues.add(job.conversation_id)
            message = job.message
            room_id = self._rooms.get(job.conversation_id)
            if job.kind is not DeliveryKind.MESSAGE or message is None or room_id is None:
                continue
            if (message.id, room_id) in seen:
                continue
            seen.add((message.id, room_id))
            readers = self._unread_by(job)
            if readers and not first:
                continue
            if readers:
                unread_repo.unread(connection, job.conversation_id, readers, now, job.event_seq)
            ahead[job.delivery_id] = (message.id, room_id)
        # One statement for the whole run (a message without a SPICO id is never linked).
        sent = matrix_repo.delivered_already(connection, (p for p in ahead.values() if p[0]))
        return {delivery: ReadAhead(p[1], p in sent) for delivery, p in ahead.items()}

    def _unread_by(self, job: DeliveryJob) -> Collection[str]:
        """The members a posted message of ``job`` is unread by (none: not tracked)."""
        message = job.message
        if not self.settings.track_unread or message is None or message.notice:
            return ()
        # Unread before it is in the room: a receipt can only come after (posted now, or by
        # the new portal's back-fill just before).
        return unread_by(job.participants, {message.author_id or "", message.sent_by or ""})

    # ------------------------------------------------------------------ portals

    async def _people(self, ids: Iterable[str]) -> dict[str, Person]:
        ids = list(dict.fromkeys(i for i in ids if i))
        rows = await self._store.run(functools.partial(repo.get_professionals, ids=ids))
        return {i: person_of(i, rows.get(i)) for i in ids}

    async def _portal_state(
        self, conversation: ConversationView
    ) -> tuple[PortalState, dict[str, Person]]:
        """The room's look for the conversation, and its members as the room shows them."""
        people = await self._people(conversation.members)
        state = portal_state(
            conversation,
            [people[m] for m in conversation.members],
            tag_policy=self.settings.tag_policy,
            language=self.settings.language,
            bot_user_id=self.settings.bot_user_id,
        )
        return state, people

    def _wanted_users(self, job: DeliveryJob, members: Iterable[str]) -> set[str]:
        wanted = set()
        for member in members:
            participant: Participant | None = job.participants.get(member)
            if participant is not None and participant.matrix_user:
                wanted.add(participant.matrix_user)
        return wanted

    async def ensure_portal(self, job: DeliveryJob) -> tuple[str, bool]:
        """The conversation's room id, creating the room on first need.

        Returns (room id, whether the room was just reconciled with the conversation)."""
        known = self._rooms.get(job.conversation_id)
        if known is not None:
            return known, False
        async with self._store.transaction() as session:
            portal = await matrix_repo.get_portal(session, job.conversation_id)
        if portal is not None:
            self._rooms[job.conversation_id] = portal.room_id
            return portal.room_id, False
        conversation = job.conversation
        if conversation is None:
            raise PermanentFailure("the conversation is unknown to the bridge")
        settings = self.settings
        state, _ = await self._portal_state(conversation)
        request = create_room_request(
            bot_user_id=settings.bot_user_id,
            alias=alias_localpart(PORTAL_ALIAS_PREFIX, job.conversation_id),
            state=state,
            invite=(),
            federate=settings.federate,
            encryption=settings.encryption,
        )
        room_id = await self._room_of_alias(
            "create room", request, CONVERSATION_STATE, "conversation_id", job.conversation_id
        )
        # Members and history before the room is recorded: a crash in between finds the room
        # again by its alias and goes on where it stopped (messages sent are linked).
        await self.reconcile(job, room_id)
        posted = await self.backfill(job.conversation_id, room_id)
        async with self._store.transaction() as session:
            portal = await matrix_repo.save_portal(session, job.conversation_id, room_id)
        log.info(
            "matrix: conversation %s has portal %s (%d messages of history)",
            job.conversation_id,
            portal.room_id,
            posted,
        )
        self._rooms[job.conversation_id] = portal.room_id
        return portal.room_id, True

    async def _resolve_alias(self, alias: str, state_type: str, key: str, value: str) -> str | None:
        """The bridge's room behind ``alias``, or None.

        A room is only taken when the bot created it, holds full power in it
        (``portal_state.adoption_problem``) and its SPICO state event names ``value`` under
        ``key``: an alias squatted by someone else is never trusted, whatever its state says."""
        found = await self._client.request(
            "resolve alias", self._client.nio.room_resolve_alias(alias)
        )
        if not isinstance(found, RoomResolveAliasResponse):
            return None
        got = await self._client.request(
            "check room", self._client.nio.room_get_state(found.room_id)
        )
        if not isinstance(got, RoomGetStateResponse):
            problem: str | None = "state_unreadable"
        else:
            problem = adoption_problem(got.events, self.settings.bot_user_id)
            if problem is None and (
                current_state(got.events).get((state_type, ""), {}).get(key) != value
            ):
                problem = "other_conversation"
        if problem is None:
            return found.room_id
        log.warning(
            "matrix: a deterministic alias belongs to a room that is not the bridge's (%s); "
            "not used",
            problem,
        )
        return None

    async def _room_of_alias(
        self, what: str, request: dict[str, Any], state_type: str, key: str, value: str
    ) -> str:
        """The bridge's room under the request's deterministic alias: found again (the bridge
        died between creating and recording it), or created. When creating fails on the alias,
        a concurrent creation won (then its room is used) or the alias is squatted by a room
        that is not ours (then the room is created without an alias)."""
        alias = f"#{request['alias']}:{self.settings.server_name}"
        room_id = await self._resolve_alias(alias, state_type, key, value)
        if room_id is not None:
            return room_id
        outcome = await self._client.request(what, self._client.nio.room_create(**request))
        if isinstance(outcome, MatrixError) and outcome.code == "M_ROOM_IN_USE":
            room_id = await self._resolve_alias(alias, state_type, key, value)
            if room_id is not None:
                return room_id
            outcome = await self._client.request(
                what, self._client.nio.room_create(**{**request, "alias": None})
            )
        if isinstance(outcome, MatrixError):
            raise PermanentFailure(f"cannot {what} ({outcome.code})")
        assert isinstance(outcome, RoomCreateResponse)
        return outcome.room_id

    async def reconcile(self, job: DeliveryJob, room_id: str) -> None:
        """Bring name, topic, SPICO state and membership in line with the conversation."""
        conversation = job.conversation
        if conversation is None:
            return
        settings = self.settings
        members = list(conversation.members)
        wanted, people = await self._portal_state(conversation)
        got = await self._client.call("get state", self._client.nio.room_get_state(room_id))
        assert isinstance(got, RoomGetStateResponse)
        current = current_state(got.events)
        changes = state_changes(wanted, current)
        if settings.encryption and ("m.room.encryption", "") not in current:
            # Encryption switched on for a room made before: from now on (never switched off).
            changes.append(("m.room.encryption", "", {"algorithm": MEGOLM}))
        for event_type, state_key, content in changes:
            await self._client.call(
                "put state",
                self._client.nio.room_put_state(room_id, event_type, content, state_key),
            )
        present = memberships(current)
        speakers = self.speakers
        plan = membership_plan(
            self._wanted_users(job, members),
            {u: m for u, m in present.items() if not speakers.is_own(u)},
            settings.bot_user_id,
        )
        ghosts = speakers.member_users(members)
        for user in ghost_plan(ghosts, present, speakers.is_own).invite:
            await speakers.join(room_id, people[ghosts[user]])
        for user in ghost_plan(ghosts, present, speakers.is_own).kick:
            await speakers.leave(room_id, user)
        for member in members:
            await speakers.presence(people[member])
        for user in plan.invite:
            result = await self._client.request(
                "invite", self._client.nio.room_invite(room_id, user)
            )
            if isinstance(result, MatrixError):
                log.warning("matrix: cannot invite %s to %s: %s", user, room_id, result.code)
        kick_reason = texts.text(settings.language, "kick_reason")
        for user in plan.kick:
            await self._client.request(
                "kick", self._client.nio.room_kick(room_id, user, kick_reason)
            )
        if settings.patient_spaces:
            await self._patient_space(job, room_id, conversation, current)

    # ------------------------------------------------------------------ patient spaces

    async def _patient_space(
        self,
        job: DeliveryJob,
        room_id: str,
        conversation: ConversationView,
        current: Mapping[tuple[str, str], Mapping[str, Any]],
    ) -> None:
        """The room is a child of its patient's space (and of no other). A space's members are
        the union of its rooms' members: a room moving to another patient, or a member leaving
        the patient's last conversation, takes them out of the old space."""
        patient = conversation.patient
        patient_id = patient.id if patient and patient.id else None
        previous = current.get((CONVERSATION_STATE, ""), {}).get("patient_id")
        if previous and previous != patient_id:
            async with self._store.transaction() as session:
                old_space = await matrix_repo.get_space(session, str(previous))
            if old_space:
                await self._client.request(
                    "unlink space",
                    self._client.nio.room_put_state(old_space, "m.space.child", {}, room_id),
                )
                await self._space_members(job, old_space, str(previous))
        if not patient_id:
            return
        language = self.settings.language
        tag = patient_tag(patient, self.settings.tag_policy)
        name = (
            texts.text(language, "space_name", tag=tag)
            if tag
            else texts.text(language, "space_name_untagged")
        )
        space_id = await self._ensure_space(patient_id, name)
        via = [self.settings.server_name]
        await self._client.call(
            "space child",
            self._client.nio.room_put_state(space_id, "m.space.child", {"via": via}, room_id),
        )
        await self._space_members(job, space_id, patient_id)

    async def _space_members(self, job: DeliveryJob, space_id: str, patient_id: str) -> None:
        """Invite the mapped members of the patient's conversations; remove the others."""
        async with self._store.transaction() as session:
            members = await repo.members_of_patient_conversations(session, patient_id)
        mapped = dict(self._matrix_user_of())
        mapped.update(matrix_users_by_spico_id(spico_ids_by_matrix_user(job.participants.values())))
        wanted = {mapped[m] for m in members if m in mapped}
        got = await self._client.call("space state", self._client.nio.room_get_state(space_id))
        assert isinstance(got, RoomGetStateResponse)
        plan = membership_plan(
            wanted, memberships(current_state(got.events)), self.settings.bot_user_id
        )
        for user in plan.invite:
            await self._client.request("space invite", self._client.nio.room_invite(space_id, user))
        kick_reason = texts.text(self.settings.language, "kick_reason")
        for user in plan.kick:
            await self._client.request(
                "space kick", self._client.nio.room_kick(space_id, user, kick_reason)
            )

    async def _ensure_space(self, patient_id: str, name: str) -> str:
        async with self._store.transaction() as session:
            space = await matrix_repo.get_space(session, patient_id)
        if space is not None:
            return space
        settings = self.settings
        state = PortalState(
            name=name,
            topic=texts.text(settings.language, "space_topic"),
            spico={"patient_id": patient_id},
        )
        request = create_room_request(
            bot_user_id=settings.bot_user_id,
            alias=alias_localpart(SPACE_ALIAS_PREFIX, patient_id),
            state=state,
            invite=(),
            federate=settings.federate,
            encryption=False,
            space=True,
        )
        space = await self._room_of_alias(
            "create space", request, SPACE_STATE, "patient_id", patient_id
        )
        async with self._store.transaction() as session:
            return await matrix_repo.save_space(session, patient_id, space)

    # ------------------------------------------------------------------ messages

    async def send_message(self, job: DeliveryJob, room_id: str) -> None:
        message = job.message
        if message is None:
            return  # nothing to post (not a message event)
        ahead = job.read_ahead
        unread: Unread | None = None
        sent_already: bool | None = None
        if isinstance(ahead, ReadAhead) and ahead.room_id == room_id:
            sent_already = ahead.sent  # the claim read it (and recorded the unread members)
        elif readers := self._unread_by(job):
            unread = Unread(readers, job.event_seq)
        await self.post(
            message,
            room_id,
            job.conversation_id,
            job.txn_id,
            unread=unread,
            settle=job.settle,
            authors=job.authors,
            sent_already=sent_already,
        )

    async def backfill(self, conversation_id: str, room_id: str) -> int:
        """A new portal gets the conversation's history (the last ``HISTORY_LIMIT`` messages,
        oldest first), so a member who joins late sees it: each message by its author's ghost
        at its original time (appservice mode), or by the bot with the time in the header
        (relay mode). Messages already in the room (a retried back-fill) are skipped; one the
        homeserver refuses for good is left out, logged. Returns how many were posted."""
        history = await self._post.composer.history(conversation_id, limit=HISTORY_LIMIT)
        posted = 0
        for message in filter(None, map(message_view, history)):
            spico_id = message.id
            if not spico_id:
                continue
            try:
                posted += await self.post(
                    message, room_id, conversation_id, f"history-{spico_id}", history=True
                )
            except PermanentFailure as failure:
                log.warning("matrix: a message of the history not back-filled (%s)", failure)
        return posted

    async def post(
        self,
        message: MessageView,
        room_id: str,
        conversation_id: str,
        txn_id: str,
        *,
        history: bool = False,
        unread: Unread | None = None,
        settle: InlineSettle | None = None,
        authors: Mapping[str, Participant] | None = None,
        sent_already: bool | None = None,
    ) -> int:
        """One SPICO message into the room, once (1 when posted, 0 when it was there).

        Two units of work: before sending, "sent already?" (and the members it is unread by,
        ``unread``; and who wrote it, unless the job brought them: ``authors``), unless the
        outbox's claim read it (``sent_already``, see ``read_ahead``); after, its event link
        with the delivery's settle (``settle``, the outbox's), so a delivered message costs no
        transaction of its own to settle."""
        spico_id, notice = message.id, message.notice
        author_id = message.author_id or ""
        sent_by_id = message.sent_by
        ids = [] if notice else [i for i in (author_id, sent_by_id) if i]
        unknown = ids if authors is None else []

        def sent_already_or_authors(connection: Connection) -> dict[str, ProfessionalRow] | None:
            if unread is not None:
                unread_repo.unread(
                    connection, conversation_id, unread.members, datetime.now(UTC), unread.seq
                )
            if spico_id and matrix_repo.find_out_link(connection, spico_id, room_id):
                return None
            return repo.get_professionals(connection, unknown)

        if sent_already is None:
            rows = await self._store.run(sent_already_or_authors)
            if rows is None:
                return 0
        elif sent_already:
            return 0
        else:
            rows = {}
        header = None
        intent: MatrixIntent = self._bot
        if not notice:
            if authors is None:
                people = {i: person_of(i, rows.get(i)) for i in ids}
            else:
                people = {i: person_of_participant(i, authors.get(i)) for i in ids}
            author = people.get(author_id, Person(author_id))
            sent_by = people.get(sent_by_id) if sent_by_id else None
            intent = self.speakers.author(author) if author_id else self._bot
            if intent.needs_header or (sent_by and sent_by.spico_id != author_id):
                # A ghost needs no name, but a message typed under a delegation says by whom.
                header = sender_header(author, sent_by, self.settings.language)
        sent_time = sent_at(message.created_at) if history else None
        ts = None
        if sent_time is not None:
            if intent.needs_header or notice:
                header = history_header(header, sent_time, self.settings.language)
            else:
                ts = int(sent_time.timestamp() * 1000)
        attachments = message.attachments
        content = message_content(
            header,
            message.body,
            notice=notice,
            language=self.settings.language,
            spico_message_id=spico_id or None,
        )
        # In an encrypted room nio first learns its members and their devices (once per job).
        encrypted = await self._client.prepare_room(room_id)
        if self.settings.encryption and self._client.encrypted and not encrypted:
            # A room made before encryption was switched on: never post clear text into it.
            await self._client.call(
                "encrypt room",
                self._client.nio.room_put_state(
                    room_id, "m.room.encryption", {"algorithm": MEGOLM}
                ),
            )
            encrypted = await self._client.prepare_room(room_id)
        sent = await intent.send("send", room_id, content, txn_id, encrypted=encrypted, ts=ts)
        for index, attachment in enumerate(attachments):
            await self._send_attachment(
                intent, room_id, attachment, f"{txn_id}-a{index}", encrypted=encrypted, ts=ts
            )

        def record_sent(connection: Connection) -> None:
            matrix_repo.save_event_link(
                connection,
                event_id=sent.event_id,
                room_id=room_id,
                conversation_id=conversation_id,
                spico_message_id=spico_id or None,
                direction="out",
            )
            if settle is not None:
                settle.within(connection)

        await self._store.run(record_sent)
        if settle is not None:
            settle.committed()
        return 1

    async def _send_attachment(
        self,
        intent: MatrixIntent,
        room_id: str,
        attachment: AttachmentView,
        txn_id: str,
        *,
        encrypted: bool,
        ts: int | None = None,
    ) -> None:
        """A SPICO attachment as Matrix media (fetched from SPICO, uploaded, then posted).

        In an encrypted room the file is encrypted before upload (AES-CTR, nio) and the event
        carries its key in ``file`` (an EncryptedFile) instead of a clear ``url``; the event
        itself is Megolm-encrypted, so the key never travels in clear."""
        filename = attachment.filename or "fichier"
        content_type = attachment.content_type
        limit = self.settings.max_file_bytes
        size = attachment.size
        if size > limit:
            await self._kept_in_spico(room_id, filename, size, txn_id, encrypted=encrypted)
            return
        try:
            fetched = await self._post.fetch_attachment(attachment.id, filename, content_type)
        except TooLarge:
            await self._kept_in_spico(room_id, filename, size, txn_id, encrypted=encrypted)
            return
        except Exception as exc:
            raise RetryLater(f"attachment not fetched from SPICO ({type(exc).__name__})") from None
        data = fetched.data
        if len(data) > limit:
            await self._kept_in_spico(room_id, filename, len(data), txn_id, encrypted=encrypted)
            return
        try:
            uploaded, keys = await self._client.nio.upload(
                lambda _got_429, _timeouts: data,
                # An encrypted upload is opaque bytes to the server.
                content_type="application/octet-stream" if encrypted else fetched.content_type,
                filename=None if encrypted else filename,
                filesize=len(data),  # AES-CTR keeps the length
                encrypt=encrypted,
            )
        except (OSError, TimeoutError) as exc:
            raise RetryLater(f"upload failed ({type(exc).__name__})") from None
        if not isinstance(uploaded, UploadResponse):
            raise RetryLater(f"upload failed ({type(uploaded).__name__})")
        msgtype = "m.image" if fetched.content_type.startswith("image/") else "m.file"
        content: dict[str, Any] = {
            "msgtype": msgtype,
            "body": filename,
            "filename": filename,
            "info": {"mimetype": fetched.content_type, "size": len(data)},
        }
        if encrypted:
            content["file"] = {"url": uploaded.content_uri, **(keys or {})}
        else:
            content["url"] = uploaded.content_uri
        await intent.send("send file", room_id, content, txn_id, encrypted=encrypted, ts=ts)

    async def _kept_in_spico(
        self, room_id: str, filename: str, size: object, txn_id: str, *, encrypted: bool
    ) -> None:
        """A file over ``matrix.max_file_bytes``: a notice in its place (same transaction id,
        so a retry never posts twice), the file stays in SPICO."""
        language = self.settings.language
        limit = self.settings.max_file_bytes
        shown = megabytes(size, language) if isinstance(size, int) else "?"
        body = texts.text(
            language,
            "attachment_kept_in_spico",
            name=filename,
            size=shown,
            limit=megabytes(limit, language),
        )
        log.info("matrix: an attachment over the cap was left in SPICO")
        await self._client.send(
            "send notice", room_id, notice_content(body), txn_id, encrypted=encrypted
        )
