"""Pure: the portal room's creation request, state changes and membership plan."""

from __future__ import annotations

from dataclasses import replace

from bridge.core.model import ConversationView
from bridge.core.views import PatientView
from bridge.matrix.formatting import Person
from bridge.matrix.portal_state import (
    BRIDGE_STATES,
    CONVERSATION_STATE,
    alias_localpart,
    create_room_request,
    current_state,
    membership_plan,
    memberships,
    portal_state,
    power_levels,
    state_changes,
)

BOT = "@bot:localhost"
CONVERSATION = ConversationView(
    "conv-1", ("1", "2"), "Plaie", patient=PatientView("pat-9", "Jean", "Dupont")
)


def _state(policy: str = "initials"):
    return portal_state(CONVERSATION, [Person("1"), Person("2")], tag_policy=policy)


def test_portal_state_names_the_room_and_carries_the_ids() -> None:
    state = _state()
    assert state.name == "[J.D.] Plaie"
    assert state.spico == {
        "conversation_id": "conv-1",
        "patient_id": "pat-9",
        "members": ["1", "2"],
    }
    assert _state("none").name == "Plaie" and "Dupont" not in _state().topic


def test_create_request_is_private_invite_only_unfederated_bot_only() -> None:
    request = create_room_request(
        bot_user_id=BOT,
        alias="spico_conv-1",
        state=_state(),
        invite=(),
        federate=False,
        encryption=True,
    )
    assert request["federate"] is False
    initial = {e["type"]: e["content"] for e in request["initial_state"]}
    assert initial["m.room.join_rules"] == {"join_rule": "invite"}
    assert initial["m.room.guest_access"] == {"guest_access": "forbidden"}
    assert initial[CONVERSATION_STATE]["conversation_id"] == "conv-1"
    assert "m.room.encryption" in initial
    levels = request["power_level_override"]
    assert "users" not in levels, "the server ranks the creator (the bot) itself"
    assert levels["invite"] == levels["kick"] == levels["state_default"] == 100
    assert levels["events"]["m.room.name"] == 100 and levels["events_default"] == 0


def test_state_changes_only_what_differs() -> None:
    state = _state()
    current = current_state(
        [
            {"type": "m.room.name", "state_key": "", "content": {"name": "[J.D.] Plaie"}},
            {"type": "m.room.topic", "state_key": "", "content": {"topic": "old"}},
            {"type": "m.room.message", "content": {}},
        ]
    )
    changes = {kind: content for kind, _, content in state_changes(state, current)}
    assert set(changes) == {
        "m.room.topic",
        CONVERSATION_STATE,
        "m.room.join_rules",
        "m.room.guest_access",
    }


def test_portals_say_what_they_bridge_and_keep_it_current() -> None:
    state = portal_state(
        CONVERSATION, [Person("1"), Person("2")], tag_policy="initials", bot_user_id=BOT
    )
    request = create_room_request(
        bot_user_id=BOT, alias="a", state=state, invite=(), federate=False, encryption=False
    )
    bridged = [e for e in request["initial_state"] if e["type"] in BRIDGE_STATES]
    assert {e["type"] for e in bridged} == {"m.bridge", "uk.half-shot.bridge"}
    for event in bridged:
        assert event["state_key"] == "fr.spico.bridge://spico/conv-1"
        assert event["content"] == {
            "bridgebot": BOT,
            "creator": BOT,
            "protocol": {"id": "spico", "displayname": "SPICO"},
            "channel": {"id": "conv-1", "displayname": "[J.D.] Plaie"},
        }
    current = current_state(request["initial_state"])
    assert all(kind not in BRIDGE_STATES for kind, _, _ in state_changes(state, current))
    renamed = portal_state(
        replace(CONVERSATION, subject="Suivi"), [], tag_policy="initials", bot_user_id=BOT
    )
    changed = {(k, key) for k, key, _ in state_changes(renamed, current) if k in BRIDGE_STATES}
    assert changed == {(k, "fr.spico.bridge://spico/conv-1") for k in BRIDGE_STATES}
    # Bridge metadata is for the bridge to set alone.
    assert all(power_levels(BOT)["events"][k] == 100 for k in BRIDGE_STATES)


def test_membership_plan_mirrors_the_conversation() -> None:
    present = memberships(
        current_state(
            [
                {"type": "m.room.member", "state_key": BOT, "content": {"membership": "join"}},
                {"type": "m.room.member", "state_key": "@a:x", "content": {"membership": "join"}},
                {"type": "m.room.member", "state_key": "@s:x", "content": {"membership": "join"}},
                {"type": "m.room.member", "state_key": "@l:x", "content": {"membership": "leave"}},
                {"type": "m.room.member", "state_key": "@b:x", "content": {"membership": "ban"}},
            ]
        )
    )
    plan = membership_plan({"@a:x", "@l:x", "@n:x", "@b:x", BOT}, present, BOT)
    assert plan.invite == ("@l:x", "@n:x")
    assert plan.kick == ("@s:x",)


def test_alias_is_deterministic_and_safe() -> None:
    assert alias_localpart("spico_", "Conv-1") == "spico_conv-1"
    odd = alias_localpart("spico_", "a b/c")
    assert odd == alias_localpart("spico_", "a b/c") and " " not in odd and "/" not in odd
    assert power_levels(BOT)["ban"] == 100


# --- adoption of a room found by one of the bridge's aliases ---------------------------------


def _room(creator: str, version: str = "12", **levels: object) -> list[dict[str, object]]:
    power = {
        "users_default": 0,
        "events_default": 0,
        "state_default": 100,
        "invite": 100,
        "kick": 100,
        "ban": 100,
        "redact": 100,
        "events": {},
        **levels,
    }
    return [
        {
            "type": "m.room.create",
            "state_key": "",
            "sender": creator,
            "content": {"room_version": version},
        },
        {"type": "m.room.power_levels", "state_key": "", "sender": creator, "content": power},
    ]


def test_only_rooms_the_bot_created_and_alone_rules_are_adopted() -> None:
    from bridge.matrix.portal_state import adoption_problem

    assert adoption_problem(_room(BOT), BOT) is None
    assert adoption_problem(_room(BOT, "10", users={BOT: 100}), BOT) is None
    # Someone else's room, whatever power they gave the bot.
    assert adoption_problem(_room("@eve:localhost", users={BOT: 100}), BOT) == "creator"
    assert adoption_problem(_room("@eve:localhost", "10", users={BOT: 100}), BOT) == "creator"
    # Version 12: an additional creator stands above power levels too.
    shared = _room(BOT)
    shared[0]["content"] = {"room_version": "12", "additional_creators": ["@eve:localhost"]}
    assert adoption_problem(shared, BOT) == "creator"
    # The bot's room, but another user can change it.
    assert adoption_problem(_room(BOT, users={"@eve:localhost": 100}), BOT) == "other_power"
    assert (
        adoption_problem(_room(BOT, "10", users={BOT: 100, "@eve:localhost": 100}), BOT)
        == "other_power"
    )
    assert adoption_problem(_room(BOT, invite=0), BOT) == "default_power"
    assert adoption_problem(_room(BOT, users_default=100), BOT) == "default_power"
    assert adoption_problem(_room(BOT, "10", users={BOT: 50}), BOT) == "bot_power"
    assert adoption_problem(_room(BOT)[1:], BOT) == "no_create_event"


def test_the_rooms_the_bridge_creates_pass_its_own_adoption_check() -> None:
    from bridge.matrix.portal_state import adoption_problem

    request = create_room_request(
        bot_user_id=BOT,
        alias="spico_conv-1",
        state=_state(),
        invite=(),
        federate=False,
        encryption=False,
    )
    levels = request["power_level_override"]
    for version, users in (("12", {}), ("10", {BOT: 100})):
        events = [
            {
                "type": "m.room.create",
                "state_key": "",
                "sender": BOT,
                "content": {"room_version": version},
            },
            {
                "type": "m.room.power_levels",
                "state_key": "",
                "sender": BOT,
                "content": {**levels, "users": users},
            },
        ]
        assert adoption_problem(events, BOT) is None
