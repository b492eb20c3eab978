"""Routing: every preference × status × world combination, and the no-echo rule."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.core.model import (
    ConversationView,
    DeliveryKind,
    DeliveryPreference,
    Destination,
    EventType,
    Origin,
    Participant,
    RoutedEvent,
    RoutingPolicy,
    Status,
    World,
)
from bridge.core.routing import mail_kind_for, route, route_status_change

BOTH_WORLDS = RoutingPolicy(frozenset({World.MATRIX, World.MAIL}))
AUTHOR, READER = "810000000001", "810000000002"
CONVERSATION = ConversationView("c1", (AUTHOR, READER))
MESSAGE = RoutedEvent(EventType.MESSAGE_POSTED, author_id=AUTHOR)
ROOM = Destination(World.MATRIX, "c1", DeliveryKind.MESSAGE)


def _expected_mail_kind(
    preference: DeliveryPreference,
    status: Status | None,
    has_account: bool,
    matrix: bool,
    worlds: frozenset[World],
) -> DeliveryKind | None:
    """The rule, written as the table the product describes (design.md §6)."""
    if World.MAIL not in worlds:
        return None
    table = {
        DeliveryPreference.MAIL: DeliveryKind.MESSAGE,
        DeliveryPreference.BOTH: DeliveryKind.MESSAGE,
        DeliveryPreference.MATRIX: None,
    }
    if preference in table:
        return table[preference]
    if matrix and World.MATRIX in worlds:
        return None
    return DeliveryKind.NOTIFY if status is Status.INACTIVE or not has_account else None


WORLD_SETS = [
    frozenset({World.MATRIX, World.MAIL}),
    frozenset({World.MAIL}),
    frozenset({World.MATRIX}),
    frozenset(),
]


@pytest.mark.parametrize(
    ("preference", "status", "has_account", "matrix", "worlds"),
    list(
        itertools.product(
            DeliveryPreference, [*Status, None], [True, False], [True, False], WORLD_SETS
        )
    ),
)
def test_every_preference_status_combination(
    preference: DeliveryPreference,
    status: Status | None,
    has_account: bool,
    matrix: bool,
    worlds: frozenset[World],
) -> None:
    reader = Participant(
        READER,
        "@reader:localhost" if matrix else None,
        "r@x.mssante.fr",
        preference,
        status,
        has_account,
    )
    policy = RoutingPolicy(worlds)
    expected_kind = _expected_mail_kind(preference, status, has_account, matrix, worlds)
    assert mail_kind_for(reader, policy) == expected_kind
    destinations = route(MESSAGE, CONVERSATION, {READER: reader}, policy)
    expected = [ROOM] if World.MATRIX in worlds else []
    if expected_kind is not None:
        expected.append(Destination(World.MAIL, READER, expected_kind))
    assert destinations == expected


def test_inactive_member_without_matrix_gets_a_notification() -> None:
    reader = Participant(READER, status=Status.INACTIVE)
    assert route(MESSAGE, CONVERSATION, {READER: reader}, BOTH_WORLDS) == [
        ROOM,
        Destination(World.MAIL, READER, DeliveryKind.NOTIFY),
    ]


def test_unknown_member_defaults_to_auto_and_active() -> None:
    assert route(MESSAGE, CONVERSATION, {}, BOTH_WORLDS) == [ROOM]


def test_author_never_receives_their_own_message() -> None:
    author = Participant(AUTHOR, delivery=DeliveryPreference.BOTH)
    reader = Participant(READER, delivery=DeliveryPreference.MAIL)
    destinations = route(MESSAGE, CONVERSATION, {AUTHOR: author, READER: reader}, BOTH_WORLDS)
    assert Destination(World.MAIL, AUTHOR, DeliveryKind.MESSAGE) not in destinations
    assert Destination(World.MAIL, READER, DeliveryKind.MESSAGE) in destinations


def test_message_from_matrix_is_not_echoed_to_the_room_but_reaches_mail() -> None:
    reader = Participant(READER, delivery=DeliveryPreference.MAIL)
    event = RoutedEvent(EventType.MESSAGE_POSTED, AUTHOR, origin=Origin(World.MATRIX, "c1"))
    assert route(event, CONVERSATION, {READER: reader}, BOTH_WORLDS) == [
        Destination(World.MAIL, READER, DeliveryKind.MESSAGE)
    ]


def test_mail_reply_is_not_echoed_to_its_sender_thread() -> None:
    third = "810000000003"
    conversation = ConversationView("c1", (AUTHOR, READER, third))
    participants = {m: Participant(m, delivery=DeliveryPreference.MAIL) for m in (READER, third)}
    # A secretary replied by mail from READER's thread, acting as AUTHOR.
    event = RoutedEvent(EventType.MESSAGE_POSTED, AUTHOR, origin=Origin(World.MAIL, READER))
    assert route(event, conversation, participants, BOTH_WORLDS) == [
        ROOM,
        Destination(World.MAIL, third, DeliveryKind.MESSAGE),
    ]


def test_notice_about_a_failed_destination_is_not_sent_there() -> None:
    reader = Participant(READER, delivery=DeliveryPreference.MAIL)
    failed = Destination(World.MAIL, READER, DeliveryKind.MESSAGE)
    notice = RoutedEvent(EventType.MESSAGE_POSTED, author_id=None, about=failed)
    assert route(notice, CONVERSATION, {READER: reader}, BOTH_WORLDS) == [ROOM]


@pytest.mark.parametrize(
    "event_type",
    [
        EventType.CONVERSATION_CREATED,
        EventType.CONVERSATION_UPDATED,
        EventType.MEMBER_ADDED,
        EventType.MEMBER_REMOVED,
        EventType.PATIENT_LINKED,
        EventType.PATIENT_UNLINKED,
    ],
)
def test_state_changes_go_to_the_room_only(event_type: EventType) -> None:
    reader = Participant(READER, delivery=DeliveryPreference.MAIL)
    event = RoutedEvent(event_type, AUTHOR)
    assert route(event, CONVERSATION, {READER: reader}, BOTH_WORLDS) == [
        Destination(World.MATRIX, "c1", DeliveryKind.STATE)
    ]
    assert route(event, CONVERSATION, {}, RoutingPolicy(frozenset({World.MAIL}))) == []


def test_status_changes_and_unknown_types_are_not_fanned_out() -> None:
    for event_type in (EventType.STATUS_CHANGED, "something.new"):
        assert route(RoutedEvent(event_type), CONVERSATION, {}, BOTH_WORLDS) == []


def test_a_status_change_refreshes_each_room_of_the_member_once() -> None:
    assert route_status_change(["c2", "c1", "c2"], BOTH_WORLDS) == [
        Destination(World.MATRIX, "c1", DeliveryKind.STATE),
        Destination(World.MATRIX, "c2", DeliveryKind.STATE),
    ]
    assert route_status_change(["c1"], RoutingPolicy(frozenset({World.MAIL}))) == []


ids = st.sampled_from([f"8100000000{n:02d}" for n in range(8)])


@given(
    members=st.lists(ids, min_size=1, max_size=8),
    author=ids,
    preferences=st.dictionaries(ids, st.sampled_from(list(DeliveryPreference))),
    origin_member=st.one_of(st.none(), ids),
)
def test_routing_invariants(members, author, preferences, origin_member) -> None:
    participants = {
        m: Participant(m, delivery=p, status=Status.INACTIVE) for m, p in preferences.items()
    }
    origin = Origin(World.MAIL, origin_member) if origin_member else None
    event = RoutedEvent(EventType.MESSAGE_POSTED, author, origin=origin)
    destinations = route(event, ConversationView("c", tuple(members)), participants, BOTH_WORLDS)
    assert len(destinations) == len(set(destinations)), "no destination twice"
    mailed = {d.destination for d in destinations if d.world is World.MAIL}
    assert author not in mailed and origin_member not in mailed
    assert mailed <= set(members)
    assert destinations[0] == Destination(World.MATRIX, "c", DeliveryKind.MESSAGE)


def test_a_members_own_choice_for_a_conversation_and_where_the_config_wins() -> None:
    from bridge.core.model import DeliveryKind, DeliveryPreference, MailChoice, Participant
    from bridge.core.routing import mail_choice_applies, mail_kind_for

    both = RoutingPolicy()
    stopped = Participant("m", delivery=DeliveryPreference.MAIL, mail_choice=MailChoice.STOP)
    assert mail_kind_for(stopped, both) is None
    followed = Participant("m", matrix_user="@m:x", mail_choice=MailChoice.FOLLOW)
    assert mail_kind_for(followed, both) is DeliveryKind.MESSAGE
    never = Participant("m", delivery=DeliveryPreference.MATRIX, mail_choice=MailChoice.FOLLOW)
    assert mail_kind_for(never, both) is None
    assert mail_choice_applies(None, "all") and mail_choice_applies(DeliveryPreference.AUTO, "all")
    assert mail_choice_applies(DeliveryPreference.MATRIX, "stop")
    assert not mail_choice_applies(DeliveryPreference.MATRIX, "follow")
    assert not mail_choice_applies(DeliveryPreference.MAIL, "all")
    assert mail_choice_applies(DeliveryPreference.MAIL, "follow")
