"""Routing: which destinations get a SPICO event (pure).

Rules (design.md §3): the conversation's Matrix room gets every message and every change of the
conversation; each member gets mail according to their preference and SPICO status; the author
never gets their own message back, and a message that came from a spoke is not echoed to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bridge.core.model import (
    STATE_EVENTS,
    ConversationView,
    DeliveryKind,
    DeliveryPreference,
    Destination,
    EventType,
    MailChoice,
    Participant,
    RoutedEvent,
    RoutingPolicy,
    Status,
    World,
)


def mail_kind_for(participant: Participant, policy: RoutingPolicy) -> DeliveryKind | None:
    """How a member is reached by mail for a new message: a thread message, a notification, or
    not at all (they follow the conversation in Matrix or in SPICO itself, or stopped its
    mails). Their own choice for the conversation (``mail_choice``) comes before the
    preference, except the config's ``matrix`` (never mail)."""
    if World.MAIL not in policy.worlds:
        return None
    preference = participant.delivery
    if preference is DeliveryPreference.MATRIX or participant.mail_choice is MailChoice.STOP:
        return None
    if participant.mail_choice is MailChoice.FOLLOW:
        return DeliveryKind.MESSAGE
    if preference in (DeliveryPreference.MAIL, DeliveryPreference.BOTH):
        return DeliveryKind.MESSAGE
    reached_in_matrix = World.MATRIX in policy.worlds and participant.matrix_user is not None
    if reached_in_matrix:
        return None
    if participant.status is Status.INACTIVE or not participant.has_account:
        return DeliveryKind.NOTIFY
    return None


def mail_choice_applies(configured: DeliveryPreference | None, action: str) -> bool:
    """Whether a member's own choice (``stop``, ``follow`` one conversation, ``all``) applies
    given the config's ``delivery`` for them (None: the config does not name them). The admin
    wins: ``matrix`` there allows no mail at all, and a ``mail``/``both`` there is not the
    member's to change; stopping one conversation's mails is always theirs."""
    if action == "stop" or configured in (None, DeliveryPreference.AUTO):
        return True
    return action == "follow" and configured is not DeliveryPreference.MATRIX


def route(
    event: RoutedEvent,
    conversation: ConversationView,
    participants: Mapping[str, Participant],
    policy: RoutingPolicy,
) -> list[Destination]:
    """The destinations of one event, in a stable order (room first, then members by id)."""
    destinations: list[Destination] = []
    if event.type in STATE_EVENTS:
        if World.MATRIX in policy.worlds:
            destinations.append(Destination(World.MATRIX, conversation.id, DeliveryKind.STATE))
        return destinations
    if event.type != EventType.MESSAGE_POSTED:
        return destinations

    origin = event.origin
    if World.MATRIX in policy.worlds and not (origin and origin.world is World.MATRIX):
        destinations.append(Destination(World.MATRIX, conversation.id, DeliveryKind.MESSAGE))
    for member_id in sorted(set(conversation.members)):
        if member_id == event.author_id:
            continue
        if origin and origin.world is World.MAIL and origin.destination == member_id:
            continue
        participant = participants.get(member_id) or Participant(member_id)
        kind = mail_kind_for(participant, policy)
        if kind is not None:
            destinations.append(Destination(World.MAIL, member_id, kind))
    if event.about is not None:
        destinations = [
            d
            for d in destinations
            if (d.world, d.destination) != (event.about.world, event.about.destination)
        ]
    return destinations


def route_status_change(
    conversation_ids: Iterable[str], policy: RoutingPolicy
) -> list[Destination]:
    """A member's SPICO status changed: the rooms of their conversations refresh their topic
    (it lists every member with their status). Mail has nothing to update."""
    if World.MATRIX not in policy.worlds:
        return []
    return [
        Destination(World.MATRIX, conversation_id, DeliveryKind.STATE)
        for conversation_id in sorted(set(conversation_ids))
    ]


def history_destinations(destinations: Iterable[Destination]) -> list[Destination]:
    """An event from before the bridge's first start (``spico.bridge_existing: all``) shapes
    the rooms (state) but is not delivered again: a new portal back-fills its history from
    SPICO itself, and mail never replays old messages (pure)."""
    return [d for d in destinations if d.kind is DeliveryKind.STATE]
