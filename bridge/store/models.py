"""SQLAlchemy models: the bridge's durable state.

Everything that must survive ``kill -9`` lives here: source cursors, the journal of SPICO events,
the outbox of deliveries, the links between spoke ids and SPICO messages, the portal rooms and
mail threads, and the audit trail. Timestamps are UTC; JSON columns hold SPICO payloads as the
API returned them (never logged).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


#: Big integers that stay autoincrementing primary keys on SQLite (which needs INTEGER for that).
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Cursor(Base):
    """How far a source has been consumed (SPICO seq, IMAP UIDVALIDITY/UID, Matrix sync token)."""

    __tablename__ = "cursors"

    source: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class JournalEvent(Base):
    """One SPICO event, recorded once, in the transaction that advances the SPICO cursor."""

    __tablename__ = "journal"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(64))
    conversation_id: Mapped[str | None] = mapped_column(String(64), index=True)
    actor_id: Mapped[str | None] = mapped_column(String(32))
    occurred_at: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationRecord(Base):
    """The bridge's snapshot of a SPICO conversation, kept current from the journal."""

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(32))
    members: Mapped[list[Any]]
    patient: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ProfessionalRecord(Base):
    """What the bridge knows of a SPICO professional: directory entry and presence status.

    Filled from the directory when a professional first appears in a conversation, and kept
    current by ``status.changed`` events; routing and notifications read it.
    """

    __tablename__ = "professionals"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    civility: Mapped[str | None] = mapped_column(String(16))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    profession: Mapped[str | None] = mapped_column(String(100))
    mssante_address: Mapped[str | None] = mapped_column(String(320), index=True)
    status: Mapped[str | None] = mapped_column(String(16))
    has_account: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


#: The states that hold a queue up (pending, sending), as written in the partial index
#: ``ix_deliveries_live_queue`` and, word for word, in the queries that read it: SQLite (and
#: PostgreSQL's generic plans) use a partial index only for a query that repeats its condition
#: with the same constants, not with bound parameters.
LIVE_QUEUE_STATES = ("pending", "sending")
LIVE_QUEUE_PREDICATE = "state IN ({})".format(", ".join(f"'{s}'" for s in LIVE_QUEUE_STATES))


class Delivery(Base):
    """One event to hand to one destination (the outbox).

    ``queue`` groups what must stay in order (conversation × destination): a delivery is only
    claimed when no earlier one of its queue is pending or sending.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_seq", "destination", "kind", name="uq_delivery_event_destination"),
        Index("ix_deliveries_state_due", "state", "next_attempt_at"),
        # The live deliveries of each queue in order, without its history (done and failed
        # deliveries are kept): a queue's head is read from it whatever the queue's past. Every
        # query by queue reads a queue's live deliveries only: no index of its history.
        Index(
            "ix_deliveries_live_queue",
            "queue",
            "id",
            sqlite_where=text(LIVE_QUEUE_PREDICATE),
            postgresql_where=text(LIVE_QUEUE_PREDICATE),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_seq: Mapped[int] = mapped_column(BigInteger, ForeignKey("journal.seq"))
    conversation_id: Mapped[str] = mapped_column(String(64))
    world: Mapped[str] = mapped_column(String(16))
    destination: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(40))
    queue: Mapped[str] = mapped_column(String(400))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class InboundLink(Base):
    """A message from a spoke, recorded before it is posted to SPICO.

    The idempotency key is derived from the spoke's own id (Matrix event id, mail Message-ID), so
    a retried post is replayed by SPICO, and the returning ``message.posted`` event (which carries
    the key) is recognised and not echoed to its origin.
    """

    __tablename__ = "inbound_links"

    idempotency_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    world: Mapped[str] = mapped_column(String(16))
    origin: Mapped[str] = mapped_column(String(320))
    conversation_id: Mapped[str] = mapped_column(String(64), index=True)
    author_id: Mapped[str] = mapped_column(String(32))
    spico_message_id: Mapped[str | None] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    posted_at: Mapped[datetime | None]


class AuditEntry(Base):
    """Who relayed what to where, and how it ended (no bodies, no patient identities)."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[str | None] = mapped_column(String(32))
    conversation_id: Mapped[str | None] = mapped_column(String(64))
    world: Mapped[str] = mapped_column(String(16))
    destination: Mapped[str | None] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)


# --- Matrix world ------------------------------------------------------------------------------


class Portal(Base):
    """The Matrix room of a SPICO conversation (one each), and what was last mirrored into it."""

    __tablename__ = "matrix_portals"

    conversation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255), unique=True)
    #: A digest of the name/topic/state last written, so unchanged state is not sent again.
    state_digest: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PatientSpace(Base):
    """The Matrix space grouping one patient's portal rooms (``patient_spaces: true``)."""

    __tablename__ = "matrix_patient_spaces"

    patient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MatrixEventLink(Base):
    """A Matrix event ↔ the SPICO message it carries (edits, redactions, replies)."""

    __tablename__ = "matrix_event_links"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255))
    conversation_id: Mapped[str] = mapped_column(String(64), index=True)
    spico_message_id: Mapped[str | None] = mapped_column(String(64), index=True)
    direction: Mapped[str] = mapped_column(String(8))  # "in" (from Matrix) or "out"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AppserviceTransaction(Base):
    """A transaction the homeserver pushed (appservice mode), journaled before it is
    acknowledged: a replay finds its id and is acknowledged without being handled again. Its
    events are dropped once handled (the id stays, for the dedupe)."""

    __tablename__ = "matrix_as_transactions"

    #: Received order (the homeserver sends one transaction at a time, in order).
    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    txn_id: Mapped[str] = mapped_column(String(255), unique=True)
    events: Mapped[list[Any]]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(index=True)


class ManagementRoom(Base):
    """A room a mapped Matrix user invited the bot to: there, commands need no prefix."""

    __tablename__ = "matrix_management_rooms"

    room_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    matrix_user: Mapped[str] = mapped_column(String(255), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CommandState(Base):
    """What the ``!spico`` commands remember of a Matrix user across restarts: the account they
    act as, the numbered lists they were last shown (ids only for patients), and the guided
    dialogue of ``new`` in progress."""

    __tablename__ = "matrix_command_state"

    matrix_user: Mapped[str] = mapped_column(String(255), primary_key=True)
    #: The SPICO professional the user was mapped to when this state was written.
    spico_id: Mapped[str] = mapped_column(String(32))
    acting_as: Mapped[str | None] = mapped_column(String(32))
    acting_name: Mapped[str | None] = mapped_column(String(200))
    #: {"directory"|"patients"|"accounts"|"teams"|"recent": [{"id": …, "label": …}, …]}.
    lists: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: The last directory list's origin and, after ``circle``, its patient.
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dialogue: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- mail world ----------------------------------------------------------------------------------


class MailThread(Base):
    """One member's mail thread of a conversation: where its next message is chained."""

    __tablename__ = "mail_threads"

    conversation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    address: Mapped[str] = mapped_column(String(320))
    root_message_id: Mapped[str] = mapped_column(String(400))
    last_message_id: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MailMessage(Base):
    """A mail sent or received by the bridge, by Message-ID (threading and inbound dedupe)."""

    __tablename__ = "mail_messages"

    message_id: Mapped[str] = mapped_column(String(400), primary_key=True)
    conversation_id: Mapped[str | None] = mapped_column(String(64), index=True)
    member_id: Mapped[str | None] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(8))  # "in" or "out"
    verdict: Mapped[str | None] = mapped_column(String(32))
    #: Why an inbound mail ended so (``bridge.mail.verdict.RefusalReason``, ``duplicate``…).
    reason: Mapped[str | None] = mapped_column(String(40))
    spico_message_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MailAddress(Base):
    """What the bridge learnt about an address: bounces."""

    __tablename__ = "mail_addresses"

    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    failing: Mapped[bool] = mapped_column(default=False)
    last_bounce_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Notification(Base):
    """Inactive-user notifications: at most one per (member, conversation) per period; what
    arrives in between waits for the digest."""

    __tablename__ = "mail_notifications"

    conversation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_sent_at: Mapped[datetime | None]
    #: SPICO message ids waiting for the next digest, in order.
    pending: Mapped[list[Any]] = mapped_column(default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MatrixLink(Base):
    """A Matrix account a professional linked to themselves by proving their MSSanté mailbox
    (``lier``): one per professional and one per Matrix account. The config's ``participants``
    win over it (routing and portals read links only for professionals the config does not
    name)."""

    __tablename__ = "matrix_links"

    spico_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    matrix_user: Mapped[str] = mapped_column(String(255), unique=True)
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)


class LinkCode(Base):
    """A one-time code sent to a professional's directory mailbox to link a Matrix account.

    Only a salted digest of the code is kept for checking; ``mail_code`` holds the code itself
    only until the mail world has sent it (then it is cleared). Rows stay (used or not) for the
    rate limits until ``prune_link_codes`` removes the old ones."""

    __tablename__ = "matrix_link_codes"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    matrix_user: Mapped[str] = mapped_column(String(255), index=True)
    spico_id: Mapped[str] = mapped_column(String(32), index=True)
    address: Mapped[str] = mapped_column(String(320))
    digest: Mapped[str] = mapped_column(String(64))
    salt: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8))
    mail_code: Mapped[str | None] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    expires_at: Mapped[datetime] = mapped_column()
    tries: Mapped[int] = mapped_column(Integer, default=0)
    #: ``pending``, ``used``, ``exhausted`` (too many wrong tries) or ``replaced``.
    state: Mapped[str] = mapped_column(String(16), default="pending")


class MailPreference(Base):
    """A member's own choice about bridge mail for every conversation (``all``: every message
    by mail), from a footer address or the Matrix ``courriel`` command. The config's
    ``participants[].delivery`` wins over it when not ``auto``."""

    __tablename__ = "mail_preferences"

    member_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    choice: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MailConversationChoice(Base):
    """A member's choice for one conversation: ``stop`` (no mail of it: List-Unsubscribe, the
    footer) or ``follow`` (every message of it by mail)."""

    __tablename__ = "mail_conversation_choices"

    conversation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    choice: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MatrixUnread(Base):
    """A member who follows a conversation in Matrix has an unread message of it in its portal
    since ``since`` (the oldest one not read yet): their read receipt, or a message of theirs in
    the room, removes the row; past ``notifications.matrix_unread_minutes`` it becomes one
    notification mail."""

    __tablename__ = "matrix_unread"

    conversation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    since: Mapped[datetime] = mapped_column(index=True)
    #: The journal seq of the oldest unread message (the notification lists it and the later).
    first_seq: Mapped[int | None] = mapped_column(BigInteger)
