"""The contract between the hub and the worlds: sinks, their outcomes, inbound messages.

Worlds (``matrix/``, ``mail/``) implement ``Sink`` and call an ``InboundPoster``; they never
import the hub or the SPICO client, which the app wires in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from tenacity import RetryCallState, wait_exponential_jitter

from bridge.core.composer import SpicoComposer
from bridge.core.errors import ServiceUnavailable
from bridge.core.model import ConversationView, DeliveryKind, Participant, World
from bridge.core.views import MessageView

if TYPE_CHECKING:
    from bridge.config import BridgeConfig

#: The bridge's own inbound "world": the failure notices it queues for SPICO (a delivery given
#: up by the outbox, a bounced mail) are recorded under it, keyed by ``FAILURE_NOTICE_PREFIX``
#: and what failed, and posted by the hub's notice poster (once per key).
BRIDGE_WORLD = "bridge"
FAILURE_NOTICE_PREFIX = "bridge:delivery-failed:"


class DeliveryError(Exception):
    """Base of what a sink raises to say how a delivery went wrong."""


class RetryLater(DeliveryError):
    """Transient failure; ``retry_after`` (seconds) when the destination said when (429…)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentFailure(DeliveryError):
    """The destination refused for good (SMTP 5xx, room gone…): no retry, a notice instead."""


class InlineSettle(Protocol):
    """Marks a delivery done inside the sink's own transaction, so a sink that records what it
    sent (mail: no transaction id at the destination) commits that record and the delivery's
    settle together; ``committed`` tells the outbox it did.

    ``within(connection)`` is synchronous: the sink calls it inside its unit of work
    (``Store.run``), or from an async session through ``repositories.in_session``.
    """

    def within(self, connection: Any) -> None: ...

    def committed(self) -> None: ...


@dataclass(frozen=True, slots=True)
class DeliveryJob:
    """Everything a sink needs to deliver one event to one destination, parsed once by the
    hub from the journal (``core.views``): sinks never read SPICO JSON.

    ``txn_id`` is stable across retries and restarts (derived from the SPICO event), so a sink
    can make the delivery idempotent at the destination (Matrix transaction id, Message-ID).
    """

    delivery_id: int
    world: World
    destination: str
    kind: DeliveryKind
    attempt: int
    event_seq: int
    event_type: str
    conversation_id: str
    #: The message a ``message.posted`` event carries (None for other events).
    message: MessageView | None = None
    #: The conversation's snapshot (None when the bridge has none: should not happen).
    conversation: ConversationView | None = None
    #: The conversation's members.
    participants: dict[str, Participant] = field(default_factory=dict)
    #: The message's author and, under a delegation, who typed it (members or not): read
    #: with the members, so a sink names them without reading the directory again.
    authors: dict[str, Participant] = field(default_factory=dict)
    #: When SPICO says the event happened (ISO 8601; for the relay latency metric).
    occurred_at: str | None = None
    #: Who caused the event (the message's author, else the event's actor): for the audit.
    actor_id: str | None = None
    #: Given to sinks that record what they sent (``InlineSettle``); None otherwise.
    settle: InlineSettle | None = field(default=None, compare=False, repr=False)
    #: What the sink's ``ReadsAhead.read_ahead`` read for this job in the claim's unit of work
    #: (the sink's own type); None: nothing, the sink reads for itself before sending.
    read_ahead: object | None = field(default=None, compare=False, repr=False)

    @property
    def txn_id(self) -> str:
        return f"spico-{self.event_seq}-{self.kind.value}"


class Sink(Protocol):
    """A world's outbound adapter. Returns normally when delivered; raises DeliveryError else."""

    world: World

    async def deliver(self, job: DeliveryJob) -> None: ...


@runtime_checkable
class ReadsAhead(Protocol):
    """A sink whose read before sending ("sent already?", a mail thread) can ride in the
    outbox's claim, one unit of work less per delivery.

    ``read_ahead(connection, jobs)`` runs inside the claim's unit of work (synchronous, on the
    database thread, no I/O but the database), with the claimed jobs of the sink's world in
    queue order; it returns {delivery id: what it read}, which the outbox hands over as
    ``DeliveryJob.read_ahead``. The claim holds the deliveries, so only this worker records
    them sent; but a job's earlier jobs in the same run are sent after the claim: a sink reads
    ahead only what those cannot change (and leaves the other jobs out: they read for
    themselves, as before).
    """

    def read_ahead(self, connection: Any, jobs: Sequence[DeliveryJob]) -> Mapping[int, object]: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter and a cap, and a bound on attempts."""

    initial_seconds: float = 1.0
    max_seconds: float = 300.0
    max_attempts: int = 10


@dataclass(frozen=True, slots=True)
class Retry:
    after: timedelta


@dataclass(frozen=True, slots=True)
class GiveUp:
    reason: str


def decide_retry(policy: RetryPolicy, attempts: int, error: Exception) -> Retry | GiveUp:
    """After ``attempts`` failed tries: when to try again, or give up.

    The wait is tenacity's exponential backoff with jitter, capped; a destination's own
    ``retry_after`` (Matrix 429) wins when it gave one.
    """
    if isinstance(error, PermanentFailure):
        return GiveUp(str(error) or type(error).__name__)
    if attempts >= policy.max_attempts:
        return GiveUp(f"gave up after {attempts} attempts: {error}")
    if isinstance(error, RetryLater) and error.retry_after is not None:
        return Retry(timedelta(seconds=min(max(error.retry_after, 0.0), policy.max_seconds)))
    wait = wait_exponential_jitter(
        multiplier=policy.initial_seconds, max=policy.max_seconds, jitter=policy.initial_seconds
    )
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = max(attempts, 1)
    return Retry(timedelta(seconds=min(wait(state), policy.max_seconds)))


#: Failures of one inbound item (a Matrix event, a mail) after which it is set aside.
POISON_ATTEMPTS = 3


def is_outage(error: BaseException, transport: tuple[type[BaseException], ...] = ()) -> bool:
    """Whether an error means "a server did not answer" (offer the item again later, however
    long that lasts), as opposed to a failure of the item itself (set aside after a few tries).

    ``transport`` adds a world's own connection errors (its libraries' exception types)."""
    return isinstance(error, (ServiceUnavailable, RetryLater, OSError, TimeoutError, *transport))


class PoisonGuard:
    """Counts the failures of inbound items that are not outages (a bug, a malformed event).

    A source handles its items in order and offers a batch again when one fails, which is
    right for an outage but would stall it for ever behind one item that always fails. After
    ``attempts`` such failures in a row the item is set aside (refused with a notice) and the
    source goes on: one bad event or mail never stops a world.
    """

    def __init__(self, attempts: int = POISON_ATTEMPTS) -> None:
        self._attempts = attempts
        self._failures: dict[str, int] = {}

    def failed(self, key: str) -> bool:
        """Record a failure of ``key``; True when it is time to set it aside."""
        count = self._failures.get(key, 0) + 1
        if count >= self._attempts:
            self._failures.pop(key, None)
            return True
        self._failures[key] = count
        return False

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message from a spoke, authenticated and mapped to a SPICO professional.

    ``source_id`` is the spoke's own id (Matrix event id, mail Message-ID): it makes the SPICO
    post idempotent. ``origin`` is the destination it came from (the room's conversation, or the
    member's mail thread), which the fan-out skips.
    """

    world: World
    source_id: str
    origin: str
    conversation_id: str
    author_id: str
    acting_as: str
    body: str
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class PostResult:
    """How posting an inbound message to SPICO ended."""

    accepted: bool
    spico_message_id: str | None = None
    refusal: str | None = None
    #: SPICO's machine code for the refusal (``no_delegation``, ``not_a_member``…).
    refusal_code: str | None = None
    replayed: bool = False


class InboundPoster(Protocol):
    """The worlds' way to SPICO: post a message (call it), fetch an attachment's bytes, and
    the composer's features (``composer``: search, start a conversation, members…)."""

    composer: SpicoComposer

    async def __call__(self, message: InboundMessage) -> PostResult: ...

    async def fetch_attachment(
        self, attachment_id: str, filename: str, content_type: str
    ) -> Attachment: ...


class WorldAdapter(Protocol):
    """A running world: its outbound sink and its sources (Matrix sync, IMAP), built by the
    world's ``build_world(config, store, post, configured)`` and run by the app."""

    world: World
    sink: Sink
    #: Why this process refused to run the world (e.g. another process holds the Matrix
    #: encryption device): the daemon then exits with a failure status. None otherwise.
    refusal: str | None

    @property
    def ready(self) -> bool:
        """Connected and following its sources (readiness, systemd's READY=1)."""
        ...

    async def reload(self, config: BridgeConfig, configured: Mapping[str, Participant]) -> None:
        """SIGHUP: apply the re-read config and participants now (the mail world's trust
        space, templates and addresses; the Matrix world's mappings, every portal's members
        reconciled at once). Raises nothing the app must handle: a world logs its own trouble."""
        ...

    async def start(self, stop: asyncio.Event) -> None:
        """Prepare in every process before deliveries start (may refuse: sets ``stop``)."""
        ...

    async def run(self, stop: asyncio.Event) -> None:
        """Run the world's sources until ``stop`` is set; return when stopped. On PostgreSQL
        only one process runs them at a time (the app holds the source's lock)."""
        ...

    async def close(self) -> None: ...
