"""Stand-ins for the servers behind the worlds' I/O shells, for unit tests (no network).

Each fake records what it was asked and can be told to fail the way its server does (an outage,
a refusal), like ``httpx.MockTransport`` stands for a web server:

* :class:`FakeComposer`: SPICO's composer features (``SpicoComposer``) over a small in-memory
  directory, with SPICO's own refusals (``not_found``, ``no_delegation``, ``no_patient_access``,
  ``not_a_member``, ``unknown_member``) and the SPICO client's gate on URL ids
  (``BadIdentifier`` before any request);
* :class:`FakePoster`: the hub's ``InboundPoster`` (posts, attachment bytes, ``composer``);
* :class:`FakeSmtp`: the mail sink's SMTP sender (what ``SmtpSender`` offers);
* :class:`FakeHomeserver`: the part of nio's ``AsyncClient`` the bridge's ``MatrixClient`` calls,
  answered from in-memory rooms like Synapse would (aliases, state with its senders, creators
  and power levels, members, transaction ids, media, ``/sync``). :func:`matrix_client` puts
  the real ``MatrixClient`` on it, so its error mapping (``RetryLater`` / ``PermanentFailure``)
  is what the tests see.

Only the servers are faked: the tests run the real store on SQLite.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote

import aiohttp
from nio import (
    ErrorResponse,
    JoinResponse,
    LoginResponse,
    RoomCreateResponse,
    RoomGetStateResponse,
    RoomInviteResponse,
    RoomKickResponse,
    RoomLeaveResponse,
    RoomMessagesResponse,
    RoomPutStateResponse,
    RoomResolveAliasResponse,
    RoomSendResponse,
    SyncResponse,
    UploadFilterResponse,
    UploadResponse,
    WhoamiResponse,
)

from bridge.core.composer import (
    CareCircleView,
    CircleMember,
    ComposerRefusal,
    ComposerUnavailable,
    ConversationRef,
    DirectoryEntry,
    NewConversation,
    PatientEntry,
    RecentSearchEntry,
    TeamEntry,
    TeamRequest,
)
from bridge.core.delivery import Attachment, InboundMessage, PostResult
from bridge.core.errors import ServiceUnavailable
from bridge.core.identifiers import IdKind, checked_id
from bridge.core.model import ConversationView
from bridge.core.views import patient_view
from bridge.matrix.client import MatrixClient

# --- SPICO's directory ------------------------------------------------------------------------


def professional(
    spico_id: str,
    name: str = "",
    *,
    address: str | None = None,
    status: str = "active",
    has_account: bool = True,
    profession: str = "Médecin généraliste",
    city: str = "Albi",
    id_kind: str = "rpps",
) -> DirectoryEntry:
    """A professional as the directory gives it (defaults for what a test does not care about)."""
    return DirectoryEntry(
        spico_id,
        "professional",
        name or f"Dr Pro {spico_id}",
        profession,
        city,
        id_kind,
        address or f"pro.{spico_id}@sandbox.mssante.fr",
        status,
        has_account,
    )


def structure(
    spico_id: str, name: str, *, city: str = "Albi", kind: str = "EHPAD"
) -> DirectoryEntry:
    return DirectoryEntry(
        spico_id, "structure", name, kind, city, "finess", f"contact.{spico_id}@sandbox.mssante.fr"
    )


@dataclass(frozen=True, slots=True)
class Call:
    """One request a fake received: its name and arguments."""

    name: str
    args: dict[str, Any]


def _fields(request: NewConversation | TeamRequest) -> dict[str, Any]:
    """A request's fields as the arguments of a :class:`Call`."""
    return {f.name: getattr(request, f.name) for f in fields(request)}


class _Failures:
    """Failures a test scripted: for every request, or for named ones, for a number of times."""

    def __init__(self) -> None:
        self._rules: list[list[Any]] = []  # [names or None, error, times left or None]

    def add(self, error: Any, names: Sequence[str], times: int | None) -> None:
        self._rules.append([frozenset(names) or None, error, times])

    def clear(self) -> None:
        self._rules.clear()

    def take(self, name: str) -> Any:
        for rule in self._rules:
            names, error, times = rule
            if names is not None and name not in names:
                continue
            if times is not None:
                rule[2] -= 1
                if rule[2] <= 0:
                    self._rules.remove(rule)
            return error
        return None


class FakeComposer:
    """SPICO's composer features from memory (a ``SpicoComposer``); ``calls`` lists every call.

    Fill ``people``, ``patient_records``, ``active_files``, ``circles``, ``delegations_of`` and
    ``teams_list`` (or use the ``add…`` methods); refusals follow SPICO's rules.
    ``fail(error, *names)`` makes calls raise (``ComposerUnavailable`` for an outage,
    ``ComposerRefusal`` for a refusal) until ``recover()``; ``outage()`` is SPICO not answering
    at all."""

    def __init__(self, *people: DirectoryEntry) -> None:
        self.people: dict[str, DirectoryEntry] = {}
        self.patient_records: dict[str, PatientEntry] = {}
        #: Account → the ids of its active file list.
        self.active_files: dict[str, list[str]] = {}
        #: Patient → [(professional id, role)] of the care circle.
        self.circles: dict[str, list[tuple[str, str]]] = {}
        #: Holder → the accounts they may act as.
        self.delegations_of: dict[str, list[str]] = {}
        self.favorites_of: dict[str, list[str]] = {}
        self.searches_of: dict[str, list[RecentSearchEntry]] = {}
        self.teams_list: list[TeamEntry] = []
        self.conversations: dict[str, ConversationRef] = {}
        #: Conversation → its messages (``history``: what a new portal is back-filled with).
        self.histories: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[Call] = []
        self._created: dict[str, str] = {}  # idempotency key → conversation id
        self._failures = _Failures()
        self.add(*people)

    # --- the test's side ---------------------------------------------------------------------

    def add(self, *entries: DirectoryEntry) -> None:
        for entry in entries:
            self.people[entry.id] = entry

    def add_patient(
        self,
        patient: PatientEntry,
        *,
        files_of: Iterable[str] = (),
        circle: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.patient_records[patient.id] = patient
        for account in files_of:
            self.active_files.setdefault(account, []).append(patient.id)
        self.circles[patient.id] = list(circle)

    def add_conversation(
        self, conversation_id: str, created_by: str, *members: str, subject: str = "Suivi"
    ) -> ConversationRef:
        """A conversation SPICO already has (its creator is a member)."""
        conversation = ConversationRef(
            conversation_id, subject, created_by, tuple(dict.fromkeys((created_by, *members)))
        )
        self.conversations[conversation_id] = conversation
        return conversation

    def fail(self, error: Exception, *names: str, times: int | None = None) -> None:
        """The named calls (every call when none is named) raise ``error``."""
        self._failures.add(error, names, times)

    def outage(self, *names: str) -> None:
        self.fail(ComposerUnavailable("SPICO is not answering"), *names)

    def recover(self) -> None:
        self._failures.clear()

    def called(self, name: str) -> list[dict[str, Any]]:
        """The arguments of every call of ``name``, in order."""
        return [c.args for c in self.calls if c.name == name]

    # --- SPICO's rules ---------------------------------------------------------------------

    @staticmethod
    def _gate(kind: IdKind, *values: str) -> None:
        """What the SPICO client does with every id it puts in a URL: one that does not fit
        the grammar of its kind is ``BadIdentifier``, and nothing is asked of SPICO."""
        for value in values:
            checked_id(kind, value)

    def _call(self, name: str, **args: Any) -> None:
        self.calls.append(Call(name, args))
        error = self._failures.take(name)
        if error is not None:
            raise error

    def _entry(self, entry_id: str) -> DirectoryEntry:
        entry = self.people.get(entry_id)
        if entry is None:
            raise ComposerRefusal(
                404, "not_found", f"No professional with id {entry_id} in the directory."
            )
        return entry

    def _accounts(self, user: str) -> list[str]:
        return [user, *self.delegations_of.get(user, [])]

    def _check_delegation(self, user: str, acting_as: str) -> None:
        if acting_as not in self._accounts(user):
            raise ComposerRefusal(
                403, "no_delegation", f"You hold no delegation to act as {acting_as}."
            )

    def _patient(self, patient_id: str, user: str) -> PatientEntry:
        patient = self.patient_records.get(patient_id)
        if patient is None:
            raise ComposerRefusal(404, "not_found", f"No patient file with id {patient_id}.")
        accounts = set(self._accounts(user))
        in_circle = {m for m, _ in self.circles.get(patient_id, [])}
        with_file = {a for a, files in self.active_files.items() if patient_id in files}
        if not accounts & (in_circle | with_file):
            raise ComposerRefusal(
                403, "no_patient_access", "You are not part of this patient's care circle."
            )
        return patient

    def _conversation(self, conversation_id: str, user: str, acting_as: str) -> ConversationRef:
        self._check_delegation(user, acting_as)
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            raise ComposerRefusal(404, "not_found", f"No conversation with id {conversation_id}.")
        if acting_as not in conversation.members:
            raise ComposerRefusal(
                403, "not_a_member", f"{acting_as} is not a member of this conversation."
            )
        return conversation

    def _new_conversation(
        self,
        key: str,
        *,
        acting_as: str,
        members: Sequence[str],
        subject: str,
        patient_id: str | None,
    ) -> ConversationRef:
        if key in self._created:
            return self.conversations[self._created[key]]
        for member in members:
            if member not in self.people:
                raise ComposerRefusal(
                    400, "unknown_member", f"members: no professional with id {member}."
                )
        conversation = ConversationRef(
            f"conv_{len(self.conversations) + 1}",
            subject,
            acting_as,
            tuple(dict.fromkeys((acting_as, *members))),
            patient_id,
        )
        self.conversations[conversation.id] = conversation
        self._created[key] = conversation.id
        return conversation

    # --- SpicoComposer ---------------------------------------------------------------------

    async def search(
        self, q: str, *, structures: bool = False, on_behalf_of: str | None = None, limit: int = 10
    ) -> list[DirectoryEntry]:
        self._call("search", q=q, structures=structures, on_behalf_of=on_behalf_of, limit=limit)
        words = q.lower().split()
        kind = "structure" if structures else "professional"
        found = [
            e
            for e in self.people.values()
            if e.kind == kind
            and all(
                any(w in field.lower() for field in (e.id, e.name, e.description, e.city))
                for w in words
            )
        ]
        if on_behalf_of is not None:
            recent = RecentSearchEntry(q, kind, datetime.now(UTC))
            self.searches_of.setdefault(on_behalf_of, []).insert(0, recent)
        return found[:limit]

    async def professional(self, professional_id: str) -> DirectoryEntry:
        self._gate("professional", professional_id)
        self._call("professional", professional_id=professional_id)
        return self._entry(professional_id)

    async def lookup_address(self, mssante_address: str) -> DirectoryEntry | None:
        self._call("lookup_address", mssante_address=mssante_address)
        wanted = mssante_address.lower()
        return next((e for e in self.people.values() if e.mssante_address.lower() == wanted), None)

    async def delegations(self, account_id: str) -> list[DirectoryEntry]:
        self._gate("professional", account_id)
        self._call("delegations", account_id=account_id)
        return [self._entry(a) for a in self._accounts(account_id)]

    async def favorites(self, account_id: str) -> list[DirectoryEntry]:
        self._gate("professional", account_id)
        self._call("favorites", account_id=account_id)
        return [self._entry(t) for t in self.favorites_of.get(account_id, [])]

    async def add_favorite(self, account_id: str, target_id: str) -> None:
        self._gate("professional", account_id)
        self._gate("directory", target_id)
        self._call("add_favorite", account_id=account_id, target_id=target_id)
        self._entry(target_id)
        favorites = self.favorites_of.setdefault(account_id, [])
        if target_id not in favorites:
            favorites.append(target_id)

    async def remove_favorite(self, account_id: str, target_id: str) -> None:
        self._gate("professional", account_id)
        self._gate("directory", target_id)
        self._call("remove_favorite", account_id=account_id, target_id=target_id)
        favorites = self.favorites_of.get(account_id, [])
        if target_id in favorites:
            favorites.remove(target_id)

    async def recent_searches(self, account_id: str) -> list[RecentSearchEntry]:
        self._gate("professional", account_id)
        self._call("recent_searches", account_id=account_id)
        return list(self.searches_of.get(account_id, []))

    async def patients(
        self, account_id: str, *, on_behalf_of: str | None = None
    ) -> list[PatientEntry]:
        self._gate("professional", account_id)
        self._call("patients", account_id=account_id, on_behalf_of=on_behalf_of)
        if on_behalf_of is not None:
            self._check_delegation(on_behalf_of, account_id)
        return [self.patient_records[p] for p in self.active_files.get(account_id, [])]

    async def patient(self, patient_id: str, *, on_behalf_of: str) -> PatientEntry:
        self._gate("patient", patient_id)
        self._call("patient", patient_id=patient_id, on_behalf_of=on_behalf_of)
        return self._patient(patient_id, on_behalf_of)

    async def care_circle(self, patient_id: str, *, on_behalf_of: str) -> CareCircleView:
        self._gate("patient", patient_id)
        self._call("care_circle", patient_id=patient_id, on_behalf_of=on_behalf_of)
        patient = self._patient(patient_id, on_behalf_of)
        members = tuple(
            CircleMember(self._entry(m), role) for m, role in self.circles.get(patient_id, [])
        )
        return CareCircleView(patient, members)

    async def teams(self) -> list[TeamEntry]:
        self._call("teams")
        return list(self.teams_list)

    async def request_team(self, request: TeamRequest) -> ConversationRef:
        self._call("request_team", **_fields(request))
        self._check_delegation(request.on_behalf_of, request.acting_as)
        team = next((t for t in self.teams_list if t.id == request.team_id), None)
        if team is None:
            raise ComposerRefusal(404, "not_found", f"No resource team with id {request.team_id}.")
        return self._new_conversation(
            request.idempotency_key,
            acting_as=request.acting_as,
            members=team.members,
            subject=request.subject or f"Demande à {team.name}",
            patient_id=request.patient_id,
        )

    async def create_conversation(self, request: NewConversation) -> ConversationRef:
        self._call("create_conversation", **_fields(request) | {"members": list(request.members)})
        self._check_delegation(request.on_behalf_of, request.acting_as)
        if request.patient_id is not None:
            self._patient(request.patient_id, request.acting_as)
        return self._new_conversation(
            request.idempotency_key,
            acting_as=request.acting_as,
            members=request.members,
            subject=request.subject,
            patient_id=request.patient_id,
        )

    async def conversation(self, conversation_id: str) -> ConversationRef:
        self._gate("conversation", conversation_id)
        self._call("conversation", conversation_id=conversation_id)
        found = self.conversations.get(conversation_id)
        if found is None:
            raise ComposerRefusal(404, "not_found", f"No conversation with id {conversation_id}.")
        return found

    async def history(self, conversation_id: str, *, limit: int) -> list[dict[str, Any]]:
        """``histories[conversation_id]`` (messages as dicts), the last ``limit`` of them."""
        self._gate("conversation", conversation_id)
        self._call("history", conversation_id=conversation_id, limit=limit)
        return list(self.histories.get(conversation_id, []))[-limit:]

    async def add_member(
        self, conversation_id: str, member_id: str, *, on_behalf_of: str, acting_as: str
    ) -> ConversationRef:
        self._gate("conversation", conversation_id)
        self._call(
            "add_member",
            conversation_id=conversation_id,
            member_id=member_id,
            on_behalf_of=on_behalf_of,
            acting_as=acting_as,
        )
        conversation = self._conversation(conversation_id, on_behalf_of, acting_as)
        if member_id not in self.people:
            raise ComposerRefusal(
                400, "unknown_member", f"member_id: no professional with id {member_id}."
            )
        members = tuple(dict.fromkeys((*conversation.members, member_id)))
        return self._changed(replace(conversation, members=members))

    async def remove_member(
        self, conversation_id: str, member_id: str, *, on_behalf_of: str, acting_as: str
    ) -> ConversationRef:
        self._gate("conversation", conversation_id)
        self._gate("professional", member_id, acting_as)
        self._call(
            "remove_member",
            conversation_id=conversation_id,
            member_id=member_id,
            on_behalf_of=on_behalf_of,
            acting_as=acting_as,
        )
        conversation = self._conversation(conversation_id, on_behalf_of, acting_as)
        members = tuple(m for m in conversation.members if m != member_id)
        return self._changed(replace(conversation, members=members))

    async def link_patient(
        self, conversation_id: str, patient_id: str, *, on_behalf_of: str, acting_as: str
    ) -> ConversationRef:
        self._gate("conversation", conversation_id)
        self._call(
            "link_patient",
            conversation_id=conversation_id,
            patient_id=patient_id,
            on_behalf_of=on_behalf_of,
            acting_as=acting_as,
        )
        conversation = self._conversation(conversation_id, on_behalf_of, acting_as)
        self._patient(patient_id, acting_as)
        return self._changed(replace(conversation, patient_id=patient_id))

    async def unlink_patient(
        self, conversation_id: str, *, on_behalf_of: str, acting_as: str
    ) -> ConversationRef:
        self._gate("conversation", conversation_id)
        self._call(
            "unlink_patient",
            conversation_id=conversation_id,
            on_behalf_of=on_behalf_of,
            acting_as=acting_as,
        )
        conversation = self._conversation(conversation_id, on_behalf_of, acting_as)
        return self._changed(replace(conversation, patient_id=None))

    def _changed(self, conversation: ConversationRef) -> ConversationRef:
        self.conversations[conversation.id] = conversation
        return conversation


# --- the hub's poster ----------------------------------------------------------------------


class FakePoster:
    """The hub's ``InboundPoster``: ``posted`` holds each accepted message once (a repeated
    ``source_id`` is replayed, as SPICO does with its idempotency key), ``attempts`` every call.

    ``outage()`` makes posts and attachment fetches raise ``ServiceUnavailable`` (SPICO down),
    ``fail(error, when)`` makes the posts ``when`` accepts raise ``error``, ``refuse(code,
    sentence)`` makes SPICO refuse the posts; ``recover()`` ends them. ``files`` holds the
    attachments SPICO can serve, by id."""

    def __init__(self, composer: FakeComposer | None = None) -> None:
        self.composer = composer or FakeComposer()
        self.posted: list[InboundMessage] = []
        self.attempts: list[InboundMessage] = []
        self.files: dict[str, Attachment] = {}
        self.fetched: list[str] = []
        self._ids: dict[str, str] = {}
        self._failure: tuple[Exception, Callable[[InboundMessage], bool]] | None = None
        self._outage = False
        self._refusal: tuple[str, str] | None = None

    def outage(self) -> None:
        self._outage = True
        self.fail(ServiceUnavailable("SPICO is not answering"))

    def fail(self, error: Exception, when: Callable[[InboundMessage], bool] = bool) -> None:
        self._failure = (error, when)

    def refuse(self, code: str, sentence: str = "Refused.") -> None:
        self._refusal = (code, sentence)

    def recover(self) -> None:
        self._failure = self._refusal = None
        self._outage = False

    async def __call__(self, message: InboundMessage) -> PostResult:
        self.attempts.append(message)
        if self._failure is not None and self._failure[1](message):
            raise self._failure[0]
        known = self._ids.get(message.source_id)
        if known is not None:
            return PostResult(True, known, replayed=True)
        if self._refusal is not None:
            code, sentence = self._refusal
            return PostResult(False, refusal=sentence, refusal_code=code)
        self.posted.append(message)
        self._ids[message.source_id] = f"msg-{len(self.posted)}"
        return PostResult(True, self._ids[message.source_id])

    async def fetch_attachment(
        self, attachment_id: str, filename: str, content_type: str
    ) -> Attachment:
        if self._outage:
            raise ServiceUnavailable("SPICO is not answering")
        self.fetched.append(attachment_id)
        found = self.files[attachment_id]
        return Attachment(filename, found.content_type or content_type, found.data)


# --- SMTP ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SentMail:
    mail: EmailMessage
    sender: str
    recipients: list[str]


class FakeSmtp:
    """The mail sink's SMTP sender: ``sent`` lists what it accepted.

    ``fail(error)`` makes the next sends raise ``error`` as ``SmtpSender`` would (``RetryLater``
    for a 4xx or a server down, ``PermanentFailure`` for a 5xx), every time or ``times`` times;
    ``recover()`` ends it."""

    def __init__(self) -> None:
        self.sent: list[SentMail] = []
        self.closed = False
        self._failures = _Failures()

    def fail(self, error: Exception, *, times: int | None = None) -> None:
        self._failures.add(error, (), times)

    def recover(self) -> None:
        self._failures.clear()

    def to(self, address: str) -> list[EmailMessage]:
        """The mails sent to ``address``, oldest first."""
        return [s.mail for s in self.sent if address in s.recipients]

    async def send(self, mail: bytes, sender: str, recipients: Sequence[str]) -> None:
        """Accepts the wire form, kept parsed (as a mail client would read it)."""
        error = self._failures.take("send")
        if error is not None:
            raise error
        parsed = email.message_from_bytes(mail, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.sent.append(SentMail(parsed, sender, list(recipients)))

    async def close(self) -> None:
        self.closed = True


# --- Matrix --------------------------------------------------------------------------------

#: How long the fake ``/sync`` waits when there is nothing new (a real one waits up to 25 s).
LONG_POLL_SECONDS = 0.05


@dataclass
class FakeRoom:
    room_id: str
    #: {(type, state key): content}, the room's current state.
    state: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    #: {(type, state key): sender} of the current state.
    senders: dict[tuple[str, str], str] = field(default_factory=dict)
    #: Every event, oldest first, with its position in the server's stream (for /sync).
    events: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def membership(self, user_id: str) -> str | None:
        return self.state.get(("m.room.member", user_id), {}).get("membership")

    def messages(self) -> list[dict[str, Any]]:
        """The ``m.room.message`` events, oldest first."""
        return [e for _, e in self.events if e["type"] == "m.room.message"]


def _error(
    what: str, errcode: str, status: int, retry_after_ms: int | None = None
) -> ErrorResponse:
    error = ErrorResponse(f"{what} refused", errcode, retry_after_ms)
    error.transport_response = SimpleNamespace(status=status)  # type: ignore[assignment]
    return error


_MEDIA_PATH = re.compile(r"/_matrix/client/v1/media/download/([^/?]+)/([^/?]+)(?:\?.*)?")


class _MediaContent:
    def __init__(self, data: bytes) -> None:
        self._data = data

    async def iter_chunked(self, size: int) -> AsyncIterator[bytes]:
        for start in range(0, len(self._data), size):
            yield self._data[start : start + size]


class _MediaResponse:
    """What ``MatrixClient.download`` reads of aiohttp's answer: status, announced length and
    the body in chunks."""

    def __init__(self, status: int, data: bytes) -> None:
        self.status = status
        self.content_length = len(data)
        self.content = _MediaContent(data)

    async def __aenter__(self) -> _MediaResponse:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None


class FakeHomeserver:
    """The nio ``AsyncClient`` calls of the bot, answered from memory as Synapse would.

    Rooms keep their state and events; a transaction id already used in a room gives back its
    first event (as Synapse does for one device); aliases are unique (``M_ROOM_IN_USE``); the
    bot's ``/sync`` sees what happened since its token. Other users act through ``say``,
    ``join``, ``invite``, ``create_room``. ``requests`` lists every call the bot made.

    Failures: ``outage()`` (the homeserver unreachable: connection errors) and ``refuse(name,
    errcode, status)`` (an error response to the named calls, e.g. ``M_LIMIT_EXCEEDED`` 429),
    until ``recover()``."""

    olm = None  # no end-to-end keys: MatrixClient sends in clear

    def __init__(self, bot_user_id: str, server_name: str = "test") -> None:
        self.user_id = bot_user_id
        self.server_name = server_name
        self.device_id = "SPICOBRIDGE"
        self.access_token = ""
        self.rooms: dict[str, FakeRoom] = {}
        self.aliases: dict[str, str] = {}
        self.media: dict[str, tuple[bytes, str, str | None]] = {}
        self.filters: dict[str, dict[str, Any]] = {}
        self.requests: list[Call] = []
        self._txns: dict[tuple[str, str], str] = {}
        self._stream = itertools.count(1)
        self._ids = itertools.count(1)
        self._position = 0
        self._failures = _Failures()

    # --- the test's side ---------------------------------------------------------------------

    def outage(self) -> None:
        self._failures.add(aiohttp.ClientConnectionError("homeserver unreachable"), (), None)

    def refuse(
        self,
        *names: str,
        errcode: str = "M_FORBIDDEN",
        status: int = 403,
        retry_after_ms: int | None = None,
        times: int | None = None,
    ) -> None:
        self._failures.add((errcode, status, retry_after_ms), names, times)

    def recover(self) -> None:
        self._failures.clear()

    def called(self, name: str) -> list[dict[str, Any]]:
        return [c.args for c in self.requests if c.name == name]

    def room(self, room_id: str) -> FakeRoom:
        return self.rooms[room_id]

    def create_room(self, creator: str, *, invite: Iterable[str] = (), **state: Any) -> str:
        """A room made by another user (a management room: invite the bot), with what
        Synapse's ``private_chat`` preset gives it unless ``state`` says otherwise."""
        room = self._new_room()
        self._state(room, creator, "m.room.create", {"creator": creator})
        self._state(room, creator, "m.room.member", {"membership": "join"}, creator)
        self._state(room, creator, "m.room.power_levels", {"users": {creator: 100}})
        self._state(room, creator, "m.room.join_rules", {"join_rule": "invite"})
        self._state(room, creator, "m.room.history_visibility", {"history_visibility": "shared"})
        for user in invite:
            self._state(room, creator, "m.room.member", {"membership": "invite"}, user)
        for event_type, content in state.items():
            self._state(room, creator, event_type, content)
        return room.room_id

    def say(self, room_id: str, sender: str, body: str = "", **content: Any) -> str:
        """``sender`` posts a message (``m.text`` unless ``msgtype`` says otherwise)."""
        message = {"msgtype": "m.text", "body": body, **content}
        return self._event(self.rooms[room_id], sender, "m.room.message", message)

    def event(self, room_id: str, sender: str, event_type: str, content: dict[str, Any]) -> str:
        return self._event(self.rooms[room_id], sender, event_type, content)

    def joins(self, room_id: str, user_id: str) -> str:
        """``user_id`` joins (or is joined to) the room."""
        return self._member(room_id, user_id, user_id, "join")

    def leaves(self, room_id: str, user_id: str) -> str:
        return self._member(room_id, user_id, user_id, "leave")

    def invites(self, room_id: str, inviter: str, user_id: str) -> str:
        return self._member(room_id, inviter, user_id, "invite")

    def upload_media(self, data: bytes, content_type: str, filename: str | None = None) -> str:
        uri = f"mxc://{self.server_name}/m{next(self._ids)}"
        self.media[uri] = (data, content_type, filename)
        return uri

    def replies_to(self, room_id: str, event_id: str) -> list[dict[str, Any]]:
        """The bot's messages in reply to ``event_id``."""
        return [
            e
            for e in self.rooms[room_id].messages()
            if (e["content"].get("m.relates_to") or {}).get("m.in_reply_to", {}).get("event_id")
            == event_id
        ]

    # --- the server -------------------------------------------------------------------------

    def _new_room(self) -> FakeRoom:
        room = FakeRoom(f"!r{next(self._ids)}:{self.server_name}")
        self.rooms[room.room_id] = room
        return room

    def _event(
        self,
        room: FakeRoom,
        sender: str,
        event_type: str,
        content: dict[str, Any],
        state_key: str | None = None,
    ) -> str:
        event_id = f"$e{next(self._ids)}"
        event: dict[str, Any] = {
            "type": event_type,
            "sender": sender,
            "event_id": event_id,
            "origin_server_ts": 1_700_000_000_000,
            "room_id": room.room_id,
            "content": dict(content),
        }
        if state_key is not None:
            event["state_key"] = state_key
            room.state[(event_type, state_key)] = dict(content)
            room.senders[(event_type, state_key)] = sender
        room.events.append((next(self._stream), event))
        return event_id

    def _state(
        self,
        room: FakeRoom,
        sender: str,
        event_type: str,
        content: dict[str, Any],
        state_key: str = "",
    ) -> str:
        return self._event(room, sender, event_type, content, state_key)

    def _member(self, room_id: str, sender: str, user_id: str, membership: str) -> str:
        content = {"membership": membership}
        return self._state(self.rooms[room_id], sender, "m.room.member", content, user_id)

    def _request(self, what: str, /, **args: Any) -> ErrorResponse | None:
        self.requests.append(Call(what, args))
        failure = self._failures.take(what)
        if isinstance(failure, Exception):
            raise failure
        if failure is not None:
            errcode, status, retry_after_ms = failure
            return _error(what, errcode, status, retry_after_ms)
        return None

    def _bot_room(self, name: str, room_id: str) -> FakeRoom | ErrorResponse:
        room = self.rooms.get(room_id)
        if room is None or room.membership(self.user_id) != "join":
            return _error(name, "M_FORBIDDEN", 403)
        return room

    async def whoami(self) -> WhoamiResponse | ErrorResponse:
        return self._request("whoami") or WhoamiResponse(self.user_id, self.device_id, False)

    async def login(self, password: str, device_name: str = "") -> LoginResponse | ErrorResponse:
        refused = self._request("login")
        if refused is not None:
            return refused
        self.access_token = "token"
        return LoginResponse(self.user_id, self.device_id, self.access_token)

    async def room_create(self, **request: Any) -> RoomCreateResponse | ErrorResponse:
        refused = self._request("room_create", **request)
        if refused is not None:
            return refused
        alias = request.get("alias")
        full_alias = f"#{alias}:{self.server_name}" if alias else None
        if full_alias in self.aliases:
            return _error("room_create", "M_ROOM_IN_USE", 400)
        room = self._new_room()
        bot = self.user_id
        create: dict[str, Any] = {"creator": bot, "m.federate": request.get("federate", True)}
        if request.get("space"):
            create["type"] = "m.space"
        self._state(room, bot, "m.room.create", create)
        self._state(room, bot, "m.room.member", {"membership": "join"}, bot)
        # Synapse gives the creator 100 and lays the override over its defaults.
        levels = {"users": {bot: 100}, **(request.get("power_level_override") or {})}
        self._state(room, bot, "m.room.power_levels", levels)
        for event in request.get("initial_state") or ():
            self._state(room, bot, event["type"], event["content"], event.get("state_key", ""))
        if request.get("name"):
            self._state(room, bot, "m.room.name", {"name": request["name"]})
        if request.get("topic"):
            self._state(room, bot, "m.room.topic", {"topic": request["topic"]})
        if full_alias:
            self.aliases[full_alias] = room.room_id
            self._state(room, bot, "m.room.canonical_alias", {"alias": full_alias})
        for user in request.get("invite") or ():
            self._state(room, bot, "m.room.member", {"membership": "invite"}, user)
        return RoomCreateResponse(room.room_id)

    async def room_resolve_alias(self, alias: str) -> RoomResolveAliasResponse | ErrorResponse:
        refused = self._request("room_resolve_alias", alias=alias)
        if refused is not None:
            return refused
        if alias not in self.aliases:
            return _error("room_resolve_alias", "M_NOT_FOUND", 404)
        return RoomResolveAliasResponse(alias, self.aliases[alias], [self.server_name])

    async def room_get_state(self, room_id: str) -> RoomGetStateResponse | ErrorResponse:
        refused = self._request("room_get_state", room_id=room_id)
        if refused is not None:
            return refused
        room = self._bot_room("room_get_state", room_id)
        if isinstance(room, ErrorResponse):
            return room
        events = [
            {"type": t, "state_key": k, "content": dict(c), "sender": room.senders[(t, k)]}
            for (t, k), c in room.state.items()
        ]
        return RoomGetStateResponse(events, room_id)

    async def room_put_state(
        self, room_id: str, event_type: str, content: dict[str, Any], state_key: str = ""
    ) -> RoomPutStateResponse | ErrorResponse:
        refused = self._request(
            "room_put_state",
            room_id=room_id,
            event_type=event_type,
            content=content,
            state_key=state_key,
        )
        if refused is not None:
            return refused
        room = self._bot_room("room_put_state", room_id)
        if isinstance(room, ErrorResponse):
            return room
        return RoomPutStateResponse(
            self._state(room, self.user_id, event_type, content, state_key), room_id
        )

    async def room_invite(self, room_id: str, user_id: str) -> RoomInviteResponse | ErrorResponse:
        refused = self._request("room_invite", room_id=room_id, user_id=user_id)
        if refused is not None:
            return refused
        room = self._bot_room("room_invite", room_id)
        if isinstance(room, ErrorResponse):
            return room
        if room.membership(user_id) in ("join", "ban"):
            return _error("room_invite", "M_FORBIDDEN", 403)
        self._state(room, self.user_id, "m.room.member", {"membership": "invite"}, user_id)
        return RoomInviteResponse()

    async def room_kick(
        self, room_id: str, user_id: str, reason: str | None = None
    ) -> RoomKickResponse | ErrorResponse:
        refused = self._request("room_kick", room_id=room_id, user_id=user_id, reason=reason)
        if refused is not None:
            return refused
        room = self._bot_room("room_kick", room_id)
        if isinstance(room, ErrorResponse):
            return room
        if room.membership(user_id) not in ("join", "invite"):
            return _error("room_kick", "M_FORBIDDEN", 403)
        content = {"membership": "leave", "reason": reason or ""}
        self._state(room, self.user_id, "m.room.member", content, user_id)
        return RoomKickResponse()

    async def join(self, room_id: str) -> JoinResponse | ErrorResponse:
        refused = self._request("join", room_id=room_id)
        if refused is not None:
            return refused
        room = self.rooms.get(room_id)
        if room is None or room.membership(self.user_id) not in ("invite", "join"):
            return _error("join", "M_FORBIDDEN", 403)
        self.joins(room_id, self.user_id)
        return JoinResponse(room_id)

    async def room_leave(self, room_id: str) -> RoomLeaveResponse | ErrorResponse:
        refused = self._request("room_leave", room_id=room_id)
        if refused is not None:
            return refused
        if room_id in self.rooms:
            self.leaves(room_id, self.user_id)
        return RoomLeaveResponse()

    async def room_send(
        self,
        room_id: str,
        message_type: str,
        content: dict[str, Any],
        tx_id: str | None = None,
        ignore_unverified_devices: bool = False,
    ) -> RoomSendResponse | ErrorResponse:
        refused = self._request(
            "room_send", room_id=room_id, message_type=message_type, content=content, tx_id=tx_id
        )
        if refused is not None:
            return refused
        room = self._bot_room("room_send", room_id)
        if isinstance(room, ErrorResponse):
            return room
        key = (room_id, tx_id or f"auto{next(self._ids)}")
        if key not in self._txns:
            self._txns[key] = self._event(room, self.user_id, message_type, content)
        return RoomSendResponse(self._txns[key], room_id)

    async def upload(
        self,
        data_provider: Any,
        content_type: str = "application/octet-stream",
        filename: str | None = None,
        encrypt: bool = False,
        monitor: Any = None,
        filesize: int | None = None,
    ) -> tuple[UploadResponse | ErrorResponse, dict[str, Any] | None]:
        refused = self._request("upload", content_type=content_type, filename=filename)
        if refused is not None:
            return refused, None
        data = data_provider(False, False)
        return UploadResponse(self.upload_media(bytes(data), content_type, filename)), None

    async def send(self, method: str, path: str, **_: Any) -> _MediaResponse:
        """The raw request ``MatrixClient.download`` streams a media file with (``GET
        /_matrix/client/v1/media/download/{server}/{id}``); an outage raises, a refusal or an
        unknown file is its status."""
        match = _MEDIA_PATH.fullmatch(path)
        assert method == "GET" and match is not None, (method, path)
        mxc = f"mxc://{unquote(match[1])}/{unquote(match[2])}"
        refused = self._request("download", mxc=mxc)
        if refused is not None:
            return _MediaResponse(refused.transport_response.status, b"")  # type: ignore[union-attr]
        if mxc not in self.media:
            return _MediaResponse(404, b"")
        return _MediaResponse(200, self.media[mxc][0])

    async def upload_filter(self, **definition: Any) -> UploadFilterResponse | ErrorResponse:
        """A filter kept under a new id (``filters``), as ``POST /user/{id}/filter`` does."""
        refused = self._request("upload_filter", **definition)
        if refused is not None:
            return refused
        filter_id = str(next(self._ids))
        self.filters[filter_id] = definition
        return UploadFilterResponse(filter_id)

    async def room_messages(self, room_id: str, **_: Any) -> RoomMessagesResponse | ErrorResponse:
        refused = self._request("room_messages", room_id=room_id)
        if refused is not None:
            return refused
        return RoomMessagesResponse(room_id, [], "", "")  # timelines are never limited here

    async def sync(self, since: str | None = None, **options: Any) -> SyncResponse | ErrorResponse:
        """What happened since ``since``: the bot's joined rooms' events, its pending invites
        (the first sync, without ``since``, carries no history). With a ``timeout`` and nothing
        new, it waits a little first, as a long poll does."""
        refused = self._request("sync", since=since, sync_filter=options.get("sync_filter"))
        if refused is not None:
            return refused
        after = int(since[1:]) if since else None
        head = max((p for room in self.rooms.values() for p, _ in room.events), default=0)
        join: dict[str, Any] = {}
        invite: dict[str, Any] = {}
        for room in self.rooms.values():
            membership = room.membership(self.user_id)
            new = [e for p, e in room.events if after is not None and p > after]
            if membership == "join" and new:
                join[room.room_id] = {
                    "timeline": {"events": new, "limited": False, "prev_batch": since},
                    "state": {"events": []},
                }
            elif membership == "invite":
                invited = [
                    (p, e)
                    for p, e in room.events
                    if e["type"] == "m.room.member" and e.get("state_key") == self.user_id
                ]
                if invited and (after is None or invited[-1][0] > after):
                    invite[room.room_id] = {"invite_state": {"events": [invited[-1][1]]}}
        if not join and not invite and options.get("timeout"):
            await asyncio.sleep(LONG_POLL_SECONDS)
        response = SyncResponse.from_dict(
            {"next_batch": f"s{head}", "rooms": {"join": join, "invite": invite, "leave": {}}}
        )
        assert isinstance(response, SyncResponse), response
        return response

    async def close(self) -> None:
        return None


def matrix_client(homeserver: FakeHomeserver) -> MatrixClient:
    """The bridge's real ``MatrixClient`` talking to ``homeserver`` instead of nio's HTTP."""
    client = MatrixClient(
        "http://homeserver.invalid", homeserver.user_id, "token", uses_access_token=True
    )
    client.nio = homeserver  # type: ignore[assignment]
    return client


def conversation_of(data: Mapping[str, Any] | None) -> ConversationView | None:
    """A conversation written as SPICO JSON in a test, as the hub hands it to the sinks."""
    if data is None:
        return None
    return ConversationView(
        str(data["id"]),
        tuple(str(m) for m in data.get("members") or ()),
        str(data.get("subject") or ""),
        data.get("created_by"),
        patient_view(data.get("patient")),
    )
