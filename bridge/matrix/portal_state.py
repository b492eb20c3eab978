"""What a portal room must look like (pure): creation request, state, membership plan.

The sink reads the room's current state, asks these functions what to change, and applies
only the difference: a retried or repeated delivery changes nothing (idempotent), and the room
converges on the SPICO conversation whatever was missed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.core.model import ConversationView
from bridge.core.views import patient_tag
from bridge.matrix.formatting import Person, room_name, topic

#: The custom state event carrying the SPICO ids.
CONVERSATION_STATE = "fr.spico.conversation"
SPACE_STATE = "fr.spico.patient_space"
#: MSC2346 bridge metadata, and the pre-standard twin Element reads.
BRIDGE_STATES = ("m.bridge", "uk.half-shot.bridge")
#: The protocol the portals bridge, as ``m.bridge`` names it.
BRIDGE_PROTOCOL = {"id": "spico", "displayname": "SPICO"}
#: Membership the room must reflect (a pending invite counts as being there).
PRESENT = frozenset({"invite", "join"})

#: Everything that shapes the room is the bridge's alone (power 100); members may talk (0).
_BRIDGE_ONLY_EVENTS = (
    "m.room.name",
    "m.room.topic",
    "m.room.avatar",
    "m.room.power_levels",
    "m.room.history_visibility",
    "m.room.canonical_alias",
    "m.room.join_rules",
    "m.room.guest_access",
    "m.room.encryption",
    "m.room.tombstone",
    "m.room.server_acl",
    "m.room.pinned_events",
    "m.space.child",
    "m.space.parent",
    CONVERSATION_STATE,
    SPACE_STATE,
    *BRIDGE_STATES,
)


def power_levels(bot_user_id: str) -> dict[str, Any]:
    """Invites, kicks, bans, name/topic and every state change: the bridge only.

    ``users`` is left to the server: it gives the creator (the bot) 100 in rooms before
    version 12, and from version 12 the creator is above power levels and must not be listed.
    ``bot_user_id`` is kept for callers that want to check it."""
    del bot_user_id
    return {
        "users_default": 0,
        "events_default": 0,
        "state_default": 100,
        "invite": 100,
        "kick": 100,
        "ban": 100,
        "redact": 100,
        "events": {event: 100 for event in _BRIDGE_ONLY_EVENTS},
        "notifications": {"room": 100},
    }


def alias_localpart(prefix: str, identifier: str) -> str:
    """A deterministic alias localpart: creating the room twice fails on the alias instead.

    Opaque SPICO ids are kept when they are alias-safe; anything else is hashed."""
    if re.fullmatch(r"[A-Za-z0-9._=-]{1,80}", identifier):
        return f"{prefix}{identifier.lower()}"
    return f"{prefix}{hashlib.sha256(identifier.encode()).hexdigest()[:32]}"


def bridge_state_key(conversation_id: str) -> str:
    """The ``m.bridge`` state key: one per bridged channel (MSC2346's convention)."""
    return f"fr.spico.bridge://spico/{conversation_id}"


def bridge_info(bot_user_id: str, conversation_id: str, room_name: str) -> dict[str, Any]:
    """The ``m.bridge`` content: which bridge (its bot), which protocol, which channel.

    The channel's display name is the room's name, already shaped by the patient-tag policy."""
    return {
        "bridgebot": bot_user_id,
        "creator": bot_user_id,
        "protocol": dict(BRIDGE_PROTOCOL),
        "channel": {"id": conversation_id, "displayname": room_name},
    }


@dataclass(frozen=True, slots=True)
class PortalState:
    """The name, topic, SPICO state event and bridge metadata a portal room must carry."""

    name: str
    topic: str
    spico: dict[str, Any]
    #: The ``m.bridge`` content (None for spaces, which bridge nothing themselves).
    bridge: dict[str, Any] | None = None

    def events(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(type, state key, content) of every state event the room must carry."""
        events = [
            ("m.room.join_rules", "", {"join_rule": "invite"}),
            ("m.room.guest_access", "", {"guest_access": "forbidden"}),
            ("m.room.name", "", {"name": self.name}),
            ("m.room.topic", "", {"topic": self.topic}),
            (CONVERSATION_STATE, "", self.spico),
        ]
        events += self.bridge_events()
        return events

    def bridge_events(self) -> list[tuple[str, str, dict[str, Any]]]:
        if self.bridge is None:
            return []
        key = bridge_state_key(str(self.bridge["channel"]["id"]))
        return [(kind, key, self.bridge) for kind in BRIDGE_STATES]


def portal_state(
    conversation: ConversationView,
    members: Sequence[Person],
    *,
    tag_policy: str,
    language: str = "fr",
    bot_user_id: str | None = None,
) -> PortalState:
    """The room's look for a conversation snapshot (``DeliveryJob.conversation``); with
    ``bot_user_id``, the bridge metadata too (both modes' portals carry it)."""
    patient = conversation.patient
    tag = patient_tag(patient, tag_policy)
    subject = conversation.subject
    name = room_name(subject, tag, language)
    conversation_id = conversation.id
    return PortalState(
        name=name,
        topic=topic(subject, tag, members, language),
        spico={
            "conversation_id": conversation_id,
            "patient_id": patient.id if patient else None,
            "members": [m.spico_id for m in members],
        },
        bridge=bridge_info(bot_user_id, conversation_id, name) if bot_user_id else None,
    )


def create_room_request(
    *,
    bot_user_id: str,
    alias: str,
    state: PortalState,
    invite: Iterable[str],
    federate: bool,
    encryption: bool,
    space: bool = False,
) -> dict[str, Any]:
    """Arguments of ``AsyncClient.room_create``: private, invite-only, no guests, history
    visible to members only from their invitation, power levels for the bridge alone."""
    initial_state: list[dict[str, Any]] = [
        {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "invite"}},
        {"type": "m.room.guest_access", "state_key": "", "content": {"guest_access": "forbidden"}},
        {
            "type": "m.room.history_visibility",
            "state_key": "",
            "content": {"history_visibility": "invited"},
        },
        {
            "type": CONVERSATION_STATE if not space else SPACE_STATE,
            "state_key": "",
            "content": state.spico,
        },
    ]
    initial_state += [
        {"type": kind, "state_key": key, "content": content}
        for kind, key, content in state.bridge_events()
    ]
    if encryption and not space:
        initial_state.append(
            {
                "type": "m.room.encryption",
                "state_key": "",
                "content": {"algorithm": "m.megolm.v1.aes-sha2"},
            }
        )
    return {
        "alias": alias,
        "name": state.name,
        "topic": state.topic,
        "federate": federate,
        "invite": sorted(set(invite)),
        "initial_state": initial_state,
        "power_level_override": power_levels(bot_user_id),
        "space": space,
    }


def current_state(events: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """A room's state events (``/state``) as {(type, state_key): content}."""
    return {
        (str(e.get("type")), str(e.get("state_key", ""))): dict(e.get("content") or {})
        for e in events
        if "state_key" in e
    }


def state_changes(
    wanted: PortalState, current: Mapping[tuple[str, str], Mapping[str, Any]]
) -> list[tuple[str, str, dict[str, Any]]]:
    """The state events (type, state key, content) whose content differs from what the room
    has (keys the server adds, like ``m.topic`` next to ``topic``, do not count)."""
    changes = []
    for event_type, state_key, content in wanted.events():
        have = current.get((event_type, state_key), {})
        if any(have.get(key) != value for key, value in content.items()):
            changes.append((event_type, state_key, content))
    return changes


def memberships(current: Mapping[tuple[str, str], Mapping[str, Any]]) -> dict[str, str]:
    """{user id: membership} from a room's state."""
    return {
        key: str(content.get("membership"))
        for (kind, key), content in current.items()
        if kind == "m.room.member"
    }


@dataclass(frozen=True, slots=True)
class MembershipPlan:
    invite: tuple[str, ...]
    kick: tuple[str, ...]


def membership_plan(
    wanted: Iterable[str], present: Mapping[str, str], bot_user_id: str
) -> MembershipPlan:
    """Who to invite (wanted, not there) and kick (there, not wanted): the room mirrors SPICO.

    Banned users are left alone (an admin decided); the bot never kicks itself."""
    wanted_set = set(wanted) - {bot_user_id}
    invite = sorted(u for u in wanted_set if present.get(u) not in (*PRESENT, "ban"))
    kick = sorted(
        u for u, m in present.items() if m in PRESENT and u not in wanted_set and u != bot_user_id
    )
    return MembershipPlan(tuple(invite), tuple(kick))


def ghost_plan(
    wanted: Iterable[str], present: Mapping[str, str], is_own: Callable[[str], bool]
) -> MembershipPlan:
    """Appservice mode: the bridge's ghosts to bring in (``invite``: wanted, not joined yet;
    they are invited and join at once) and to take out (there, no longer members)."""
    wanted_set = set(wanted)
    join = sorted(u for u in wanted_set if present.get(u) != "join")
    leave = sorted(
        u for u, m in present.items() if m in PRESENT and is_own(u) and u not in wanted_set
    )
    return MembershipPlan(tuple(join), tuple(leave))


#: Room versions whose creators stand above power levels (MSC4289, room version 12).
_PRIVILEGED_CREATOR_VERSIONS = frozenset({"org.matrix.hydra.11"})
#: The levels that let a user change who is in the room or what it looks like.
_POWER_KEYS = ("state_default", "invite", "kick", "ban", "redact")
_POWER_DEFAULTS = {"state_default": 50, "invite": 0, "kick": 50, "ban": 50, "redact": 50}


def _level(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _creators_privileged(version: str) -> bool:
    return version in _PRIVILEGED_CREATOR_VERSIONS or (version.isdigit() and int(version) >= 12)


def adoption_problem(events: Iterable[Mapping[str, Any]], bot_user_id: str) -> str | None:
    """Why a room found by one of the bridge's aliases must not be adopted (None: it may).

    Anyone can create a room and give it an alias the bridge would look up, with state naming a
    conversation: only a room the bot created and in which it alone holds power is the
    bridge's. The creator is the ``m.room.create`` sender (or ``content.creator`` before room
    version 11), with ``additional_creators`` from version 12; every other user, and the
    default level, must stay below the lowest level that lets one invite, kick, ban, redact or
    change state, and the bot must reach the highest (pure)."""
    events = list(events)
    create = next(
        (e for e in events if e.get("type") == "m.room.create" and e.get("state_key") == ""),
        None,
    )
    if create is None:
        return "no_create_event"
    content = create.get("content") or {}
    version = str(content.get("room_version") or "1")
    privileged = _creators_privileged(version)
    creators = {str(content.get("creator") or create.get("sender") or "")}
    if privileged:
        creators = {str(create.get("sender") or "")}
        creators |= {str(u) for u in content.get("additional_creators") or []}
    if creators != {bot_user_id}:
        return "creator"
    levels = next(
        (
            e.get("content") or {}
            for e in events
            if e.get("type") == "m.room.power_levels" and e.get("state_key") == ""
        ),
        None,
    )
    if levels is None:
        return None if privileged else "no_power_levels"
    state_default = _level(levels.get("state_default"), _POWER_DEFAULTS["state_default"])
    needed = [_level(levels.get(key), _POWER_DEFAULTS[key]) for key in _POWER_KEYS]
    event_levels = levels.get("events") or {}
    needed += [_level(event_levels.get(kind), state_default) for kind in _BRIDGE_ONLY_EVENTS]
    lowest, highest = min(needed), max(needed)
    users = {str(u): _level(v, 0) for u, v in (levels.get("users") or {}).items()}
    default = _level(levels.get("users_default"), 0)
    bot_level = float("inf") if privileged else users.get(bot_user_id, default)
    if bot_level < highest:
        return "bot_power"
    if default >= lowest:
        return "default_power"
    if any(u != bot_user_id and (v >= lowest or v >= bot_level) for u, v in users.items()):
        return "other_power"
    return None
