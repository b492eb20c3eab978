"""The ``!spico`` commands end to end, against the real Synapse and the SPICO sandbox (bridge
in-process): a delegate starts a patient conversation from a management room and its room
appears, messages in portal rooms go out as the chosen account (SPICO refusing what it must),
``prévenir`` sends a real mail under the notifications' rate limit; and the doors of
threat-model §2 (pasted ids, withdrawn delegations, patient identities and the management
room's privacy checked on the homeserver, the care circle's expiry). Every command's answers,
references and refusals are unit-tested in test_executor.py (and the sync loop's handling of
rooms in test_source.py).

Users talk to the bot in a management room (a direct room they invite it to, no prefix) and in
portal rooms (``!spico …``). Every assertion reads what the bot answered (its notice in reply
to the command) and what SPICO now holds; nothing waits a fixed time.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from nio import AsyncClient, RoomCreateResponse

from bridge.mail.localserver import LocalMailServer
from bridge.matrix.localserver import Synapse
from bridge.spico.client import SpicoClient, SpicoForbidden
from bridge.spico.sandbox.seed import Directory
from bridge.store import commands as commands_repo
from tests.fixtures.bridge import scenario_config
from tests.fixtures.sandbox import Personas, SandboxProcess, open_conversation
from tests.fixtures.synapse import MatrixUser, MatrixUsers
from tests.fixtures.waiting import eventually
from tests.fixtures.worlds import (
    MATRIX_CURSOR,
    SPICO_CURSOR,
    InProcessBridge,
    StartBridge,
    join_when_invited,
    mail_section,
    mails,
    matrix_section,
    membership,
    reply_in,
    timeline,
)
from tests.matrix.helpers import numbered

STATUSES_FR = ("en ligne", "actif", "absent", "inactif")


async def say(client: AsyncClient, room_id: str, body: str) -> str:
    sent = await client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body})
    event_id = getattr(sent, "event_id", None)
    assert event_id, sent
    return str(event_id)


async def ask(client: AsyncClient, room_id: str, body: str) -> str:
    """Send a line; the bot's answer to it."""
    event_id = await say(client, room_id, body)
    answer = await reply_in(client, room_id, event_id, f"the bot's answer to {body.split()[0]!r}")
    return str(answer["content"]["body"])


async def last_notice(client: AsyncClient, room_id: str, bot: str, containing: str) -> str:
    async def found() -> str | None:
        for event in reversed(await timeline(client, room_id)):
            body = str(event["content"].get("body", ""))
            if event["sender"] == bot and containing in body:
                return body
        return None

    return await eventually(found, f"a bot notice with {containing!r}")


@dataclass
class Commands:
    """A bridge with the Matrix world; users by role, their clients and management rooms."""

    bridge: InProcessBridge
    bot: MatrixUser
    users: MatrixUsers
    accounts: dict[str, MatrixUser]  # role → Matrix user
    spico: dict[str, str]  # role → SPICO id
    clients: dict[str, AsyncClient] = field(default_factory=dict)
    rooms: dict[str, str] = field(default_factory=dict)

    async def client(self, role: str) -> AsyncClient:
        if role not in self.clients:
            self.clients[role] = await self.users.login(self.accounts[role])
        return self.clients[role]

    async def management(self, role: str) -> tuple[AsyncClient, str]:
        """The role's management room: a direct room with the bot, which joins it."""
        client = await self.client(role)
        if role not in self.rooms:
            created = await client.room_create(is_direct=True, invite=[self.bot.user_id])
            assert isinstance(created, RoomCreateResponse), created
            room_id = created.room_id
            await last_notice(client, room_id, self.bot.user_id, "SPICO")  # the welcome
            self.rooms[role] = room_id
        return client, self.rooms[role]

    async def ask(self, role: str, line: str) -> str:
        client, room_id = await self.management(role)
        return await ask(client, room_id, line)


def _config(
    tmp_path: Path,
    synapse: Synapse,
    sandbox: SandboxProcess,
    bot: MatrixUser,
    mapped: dict[str, str],
    *,
    mail: dict[str, Any] | None = None,
    sections: dict[str, Any] | None = None,
) -> Path:
    return scenario_config(
        tmp_path,
        sandbox,
        [{"spico_id": s, "matrix_user": u} for u, s in mapped.items()],
        matrix=matrix_section(synapse, bot, tmp_path / "secrets"),
        mail=mail,
        sections=sections,
    )


@dataclass(frozen=True)
class Delegated:
    secretary: str
    delegating: str
    patient: str  # in ``delegating``'s care circle, with another member
    circle: tuple[str, ...]
    foreign_patient: str  # neither the secretary nor any account they act for has access


def _delegated(directory: Directory) -> Delegated:
    """A delegation whose account is in a care circle (circle order as SPICO shows it)."""
    circles: dict[str, list[str]] = {}
    for member in directory.care_circles:
        circles.setdefault(member.patient_id, []).append(member.professional_id)
    for delegation in directory.delegations:
        holder, account = delegation.holder_id, delegation.account_id
        accounts = {holder} | {d.account_id for d in directory.delegations if d.holder_id == holder}
        files = {p for a, p in directory.active_files if a in accounts}
        for patient_id, members in circles.items():
            if account in members and len(members) >= 2:
                foreign = next(
                    pid
                    for pid, ids in circles.items()
                    if not set(ids) & accounts and pid not in files
                )
                return Delegated(holder, account, patient_id, tuple(members), foreign)
    raise AssertionError("the seed has no such delegation")


@pytest.fixture
async def commands(
    synapse: Synapse,
    matrix_users: MatrixUsers,
    spico_sandbox: SandboxProcess,
    spico_directory: Directory,
    personas: Personas,
    in_process_bridge: StartBridge,
    tmp_path: Path,
) -> Commands:
    delegated = _delegated(spico_directory)
    carol_id = next(m for m in delegated.circle if m != delegated.delegating)
    taken = {delegated.secretary, delegated.delegating, carol_id, personas.doctor}
    others = [c for c in personas.colleagues[30:] if c not in taken]
    assert not {
        d
        for d in spico_directory.delegations
        if d.holder_id == delegated.secretary and d.account_id == personas.doctor
    }
    spico = {
        "secretary": delegated.secretary,
        "doctor": personas.doctor,
        "carol": carol_id,
        "alice": others[0],
        "bob": others[1],
        "delegating": delegated.delegating,
        "patient": delegated.patient,
        "foreign_patient": delegated.foreign_patient,
    }
    bot = matrix_users.new("cbot")
    accounts = {
        role: matrix_users.new(role[:5])
        for role in ("secretary", "doctor", "carol", "alice", "bob", "eve")
    }
    mapped = {accounts[r].user_id: spico[r] for r in accounts if r in spico}
    path = _config(tmp_path, synapse, spico_sandbox, bot, mapped)
    bridge = await in_process_bridge(path, cursors=(SPICO_CURSOR, MATRIX_CURSOR))
    return Commands(bridge, bot, matrix_users, accounts, spico)


# --- (a) act as a delegated account, start a patient conversation from a care circle ----------


async def test_delegate_starts_a_patient_conversation_from_a_care_circle(
    commands: Commands, spico_client: SpicoClient
) -> None:
    delegating = await spico_client.get_professional(commands.spico["delegating"])
    secretary = await spico_client.get_professional(commands.spico["secretary"])
    carol = await spico_client.get_professional(commands.spico["carol"])

    accounts = await commands.ask("secretary", "as")
    assert accounts.startswith(f"Agir en tant que : {secretary.display_name}")
    n = numbered(accounts, delegating.id)
    chosen = await commands.ask("secretary", f"as {n}")
    assert chosen.startswith(f"Agir en tant que : {delegating.display_name}")

    patients = await commands.ask("secretary", "patients")
    assert f"File active de {delegating.display_name}" in patients
    p = numbered(patients, f"({commands.spico['patient']})")
    foreign = await commands.ask("secretary", f"cercle {commands.spico['foreign_patient']}")
    assert "pas accès à ce patient" in foreign, "SPICO's own refusal"
    circle = await commands.ask("secretary", f"cercle {p}")
    assert "Cercle de soins de" in circle
    c = numbered(circle, carol.id)
    assert any(s in circle for s in STATUSES_FR)

    # One guided dialogue: members from the circle, the patient pre-filled, subject, message.
    prompt = await commands.ask("secretary", "nouveau")
    assert "cercle de soins" in prompt and carol.display_name in prompt
    assert "sujet" in (await commands.ask("secretary", str(c))).lower()
    assert "premier message" in await commands.ask("secretary", "Plaie du pied droit")
    summary = await commands.ask("secretary", "Bonjour,\npouvez-vous passer demain ?")
    assert "Récapitulatif" in summary and carol.display_name in summary
    assert "Plaie du pied droit" in summary and "oui" in summary
    done = await commands.ask("secretary", "oui")
    assert done.startswith(f"Agir en tant que : {delegating.display_name}")
    assert "Conversation créée dans SPICO" in done
    assert commands.accounts["carol"].user_id in done, "the room's invitees are named"
    conversation_id = re.search(r"\((conv[-_][^)]+)\)", done).group(1)  # type: ignore[union-attr]

    conversation = await spico_client.get_conversation(conversation_id)
    assert conversation.created_by == delegating.id
    assert conversation.subject == "Plaie du pied droit"
    assert conversation.patient is not None and conversation.patient.id == commands.spico["patient"]
    assert set(conversation.member_ids) == {delegating.id, carol.id}
    [first] = await spico_client.list_messages(conversation_id)
    assert first.author_id == delegating.id and first.sent_by == secretary.id
    assert first.body == "Bonjour,\npouvez-vous passer demain ?"

    # The portal room appears through the normal event flow, with carol invited.
    room_id = await commands.bridge.portal(conversation_id)
    carol_client = await commands.client("carol")
    await join_when_invited(carol_client, room_id, commands.accounts["carol"].user_id)


async def test_delegate_messages_in_portal_rooms_go_out_as_the_chosen_account(
    commands: Commands, spico_client: SpicoClient
) -> None:
    delegating, secretary = commands.spico["delegating"], commands.spico["secretary"]
    created = await open_conversation(spico_client, delegating, [secretary], "Agenda", "Début")
    other = await open_conversation(
        spico_client, commands.spico["alice"], [secretary], "Sans délégation", "Début"
    )
    room_id = await commands.bridge.portal(created.conversation.id)
    other_room = await commands.bridge.portal(other.conversation.id)
    client = await commands.client("secretary")
    await join_when_invited(client, room_id, commands.accounts["secretary"].user_id)
    await join_when_invited(client, other_room, commands.accounts["secretary"].user_id)

    accounts = await commands.ask("secretary", "as")
    await commands.ask("secretary", f"as {numbered(accounts, delegating)}")
    await say(client, room_id, "Écrit par la secrétaire")

    async def posted() -> list[Any]:
        messages = await spico_client.list_messages(created.conversation.id)
        return [m for m in messages if m.body == "Écrit par la secrétaire"]

    [message] = await eventually(posted, "the message in SPICO")
    assert message.author_id == delegating and message.sent_by == secretary

    # Where the chosen account is not a member, SPICO refuses and the room says so.
    refused = await ask(client, other_room, "Au nom du docteur")
    assert "refusé par SPICO" in refused and "ne participe pas" in refused
    # A delegation SPICO does not know (stored choice no longer valid): 403 no_delegation.
    async with commands.bridge.store.transaction() as session:
        state = await commands_repo.get_state(session, commands.accounts["secretary"].user_id)
        assert state is not None and state.acting_as == delegating
        await commands_repo.save_state(
            session,
            commands_repo.CommandStateRow(
                state.matrix_user, state.spico_id, commands.spico["doctor"], "Dr X"
            ),
        )
    refused = await ask(client, room_id, "Sans délégation valable")
    assert "délégation" in refused
    # Back to their own name.
    assert "en votre nom propre" in await commands.ask("secretary", "as moi")
    await say(client, room_id, "En mon nom")

    async def own() -> list[Any]:
        messages = await spico_client.list_messages(created.conversation.id)
        return [m for m in messages if m.body == "En mon nom"]

    [mine] = await eventually(own, "the secretary's own message")
    assert mine.author_id == secretary


# --- notify: the inactive-user notification on demand ----------------------------------------


async def test_notify_sends_now_and_respects_the_rate_limit(
    synapse: Synapse,
    matrix_users: MatrixUsers,
    mail_server: LocalMailServer,
    spico_sandbox: SandboxProcess,
    spico_directory: Directory,
    spico_client: SpicoClient,
    personas: Personas,
    in_process_bridge: StartBridge,
    tmp_path: Path,
) -> None:
    people = {p.id: p for p in spico_directory.professionals}
    talker = personas.colleagues[32]
    absent, active = [c for c in personas.colleagues[33:] if people[c].mssante_address][:2]
    inactive = personas.no_account
    await spico_client.set_status(absent, "absent")
    await spico_client.set_status(active, "active")
    addresses = {p: people[p].mssante_address.lower() for p in (absent, inactive)}
    mail_server.add_mailboxes({a: "notify-password" for a in addresses.values()})
    bot, user = matrix_users.new("nbot"), matrix_users.new("ntalk")
    path = _config(
        tmp_path,
        synapse,
        spico_sandbox,
        bot,
        {user.user_id: talker},
        mail=mail_section(mail_server, tmp_path / "secrets"),
        sections={"notifications": {"period_minutes": 600}},
    )
    bridge = await in_process_bridge(path, cursors=(SPICO_CURSOR, MATRIX_CURSOR))
    created = await open_conversation(
        spico_client, talker, [absent, active, inactive], "Avis urgent", "Pouvez-vous me rappeler ?"
    )
    room_id = await bridge.portal(created.conversation.id)
    client = await matrix_users.login(user)
    await join_when_invited(client, room_id, user.user_id)

    # An absent member gets no automatic mail; "notify" sends one now.
    sent = await ask(client, room_id, f"!spico prévenir {absent}")
    assert "Notification par courriel envoyée" in sent and addresses[absent] in sent
    await eventually(
        lambda: mails(mail_server, addresses[absent], "Avis urgent"), "the notification mail"
    )
    # The same rate limit as the automatic notifications: the next is suppressed, and why.
    suppressed = await ask(client, room_id, f"!spico prévenir {absent}")
    assert "Pas de nouvelle notification" in suppressed and "10 heures" in suppressed
    # The member without an account was notified automatically: suppressed too.
    await eventually(
        lambda: mails(mail_server, addresses[inactive], "Avis urgent"), "the automatic one"
    )
    assert "Pas de nouvelle notification" in await ask(
        client, room_id, f"!spico prévenir {inactive}"
    )
    assert len(mails(mail_server, addresses[absent], "Avis urgent")) == 1


# --- doors of threat-model §2: ids, act as, patient identities --------------------------------


async def test_ids_pasted_in_commands_never_reach_spico(
    commands: Commands, spico_client: SpicoClient, personas: Personas
) -> None:
    """``..`` in an argument made yarl resolve the path: ``fav add`` wrote another account's
    favorites and ``cercle`` read another account's active files with the service token."""
    victim = commands.spico["bob"]
    before = [f.id for f in await spico_client.list_favorites(victim)]
    traversal = f"x/../../../{victim}/favorites/{personas.doctor}"
    answer = await commands.ask("alice", f"fav add {traversal}")
    assert "pas un identifiant" in answer and "rien n'a été demandé à SPICO" in answer
    assert [f.id for f in await spico_client.list_favorites(victim)] == before
    answer = await commands.ask("alice", f"fav rm {traversal}")
    assert "pas un identifiant" in answer
    files = await spico_client.list_patients(personas.doctor)
    answer = await commands.ask("alice", f"cercle x/../../accounts/{personas.doctor}/patients?")
    assert "pas un identifiant de patient" in answer
    assert not any(p.last_name in answer for p in files)
    assert "Annuaire" in await commands.ask("alice", "recherche martin"), "the user goes on"


async def test_a_withdrawn_delegation_is_noticed_at_the_next_command_and_message(
    commands: Commands, spico_client: SpicoClient
) -> None:
    """The chosen account was stored and never checked again: after SPICO withdrew the
    delegation, ``patients`` still listed that account's files."""
    secretary, delegating = commands.spico["secretary"], commands.spico["delegating"]
    created = await open_conversation(
        spico_client, delegating, [secretary], "Délégation retirée", "Début"
    )
    room_id = await commands.bridge.portal(created.conversation.id)
    client = await commands.client("secretary")
    await join_when_invited(client, room_id, commands.accounts["secretary"].user_id)
    own = (await spico_client.get_professional(secretary)).display_name
    other = (await spico_client.get_professional(delegating)).display_name
    accounts = await commands.ask("secretary", "as")
    await commands.ask("secretary", f"as {numbered(accounts, delegating)}")
    assert "File active de" in await commands.ask("secretary", "patients")
    try:
        await spico_client.revoke_delegation(secretary, delegating)
        answer = await commands.ask("secretary", "patients")
        assert answer.startswith(f"Agir en tant que : {own}")
        assert f"délégation pour agir au nom de {other} a été retirée" in answer
        assert "File active" not in answer and "pat-" not in answer
        async with commands.bridge.store.transaction() as session:
            state = await commands_repo.get_state(session, commands.accounts["secretary"].user_id)
        assert state is not None and state.acting_as is None
        # SPICO refuses too when asked on the secretary's behalf.
        with pytest.raises(SpicoForbidden):
            await spico_client.list_patients(delegating, on_behalf_of=secretary)

        # A message typed in a portal room under the withdrawn delegation is not posted.
        await spico_client.grant_delegation(secretary, delegating)
        accounts = await commands.ask("secretary", "as")
        await commands.ask("secretary", f"as {numbered(accounts, delegating)}")
        await spico_client.revoke_delegation(secretary, delegating)
        refused = await ask(client, room_id, "Au nom du médecin")
        assert f"délégation pour agir au nom de {other} a été retirée" in refused
        assert "Au nom du médecin" not in [
            m.body for m in await spico_client.list_messages(created.conversation.id)
        ]
        async with commands.bridge.store.transaction() as session:
            state = await commands_repo.get_state(session, commands.accounts["secretary"].user_id)
        assert state is not None and state.acting_as is None
    finally:
        await spico_client.grant_delegation(secretary, delegating)


async def test_patient_identities_stay_out_of_shared_rooms(
    commands: Commands, spico_client: SpicoClient, personas: Personas
) -> None:
    """``nouveau … --patient X -- message`` on one line in a portal room answered there with
    the patient's full name and birth date."""
    doctor = commands.spico["doctor"]
    created = await open_conversation(
        spico_client, doctor, [commands.spico["alice"]], "Salon partagé", "Début"
    )
    room_id = await commands.bridge.portal(created.conversation.id)
    client = await commands.client("doctor")
    await join_when_invited(client, room_id, commands.accounts["doctor"].user_id)
    patient = await spico_client.get_patient(personas.patient_id)
    bob_user = commands.accounts["bob"].user_id
    answer = await ask(
        client,
        room_id,
        f'!spico nouveau {bob_user} --patient {patient.id} --sujet "Avis" -- Bonjour',
    )
    assert "Conversation créée" in answer and patient.id in answer
    born = patient.birth_date.split("-")
    for secret in (patient.last_name, patient.first_name, patient.ins, "/".join(born[::-1])):
        assert secret not in answer
    new_id = re.search(r"\((conv[-_][^)]+)\)", answer).group(1)  # type: ignore[union-attr]
    linked = (await spico_client.get_conversation(new_id)).patient
    assert linked is not None and linked.id == patient.id


async def test_a_management_room_is_checked_when_patient_data_goes_out(
    commands: Commands, spico_client: SpicoClient
) -> None:
    """Management rooms were judged from timeline joins only: a join rule or a history
    visibility made public did not keep patient lists out."""
    client, room_id = await commands.management("doctor")
    assert "File active de" in await commands.ask("doctor", "patients")
    files = await spico_client.list_patients(commands.spico["doctor"])

    async def lists_in(room: str) -> int:
        events = await timeline(client, room)
        return sum("File active" in str(e["content"].get("body", "")) for e in events)

    await client.room_put_state(room_id, "m.room.join_rules", {"join_rule": "public"})
    answer = await commands.ask("doctor", "patients")
    assert "n'est plus privé" in answer and "File active" not in answer
    assert await lists_in(room_id) == 1, "the second list never went out"

    async def left() -> bool:
        return await membership(client, room_id, commands.bot.user_id) == "leave"

    await eventually(left, "the bot leaving the room that is no longer private")
    assert (
        await commands.bridge.store.run(
            functools.partial(commands_repo.management_rooms, room_ids=[room_id])
        )
        == {}
    )

    # A new management room whose history is made world-readable: a list asked from a portal
    # room is not sent there, and the portal room says why.
    del commands.rooms["doctor"]
    client, second = await commands.management("doctor")
    await client.room_put_state(
        second, "m.room.history_visibility", {"history_visibility": "world_readable"}
    )
    doctor = commands.spico["doctor"]
    created = await open_conversation(
        spico_client, doctor, [commands.spico["alice"]], "Liste demandée ailleurs", "Début"
    )
    portal = await commands.bridge.portal(created.conversation.id)
    await join_when_invited(client, portal, commands.accounts["doctor"].user_id)
    answer = await ask(client, portal, "!spico patients")
    assert "n'a pas été envoyée" in answer
    assert await lists_in(second) == 0
    bodies = [str(e["content"].get("body", "")) for e in await timeline(client, second)]
    assert not any(p.last_name in b for p in files for b in bodies)


async def test_the_care_circle_patient_is_carried_into_new_only_while_recent_and_said(
    commands: Commands, spico_client: SpicoClient, personas: Personas
) -> None:
    """The patient of the last ``cercle`` stayed attached to the user's state for ever, and a
    later ``nouveau`` silently linked that patient."""
    bob_user = commands.accounts["bob"].user_id
    patient = await spico_client.get_patient(personas.patient_id)
    await commands.ask("doctor", "patients")
    await commands.ask("doctor", f"cercle {patient.id}")
    done = await commands.ask("doctor", f'nouveau {bob_user} --sujet "Suite du cercle" -- Bonjour')
    assert "Patient repris du cercle de soins consulté à" in done and patient.last_name in done
    first = re.search(r"\((conv[-_][^)]+)\)", done).group(1)  # type: ignore[union-attr]
    linked = (await spico_client.get_conversation(first)).patient
    assert linked is not None and linked.id == patient.id

    await commands.ask("doctor", f"cercle {patient.id}")
    user = commands.accounts["doctor"].user_id
    async with commands.bridge.store.transaction() as session:
        state = await commands_repo.get_state(session, user)
        assert state is not None and state.context.get("source") == "circle"
        stale = datetime.now(UTC) - timedelta(minutes=20)
        await commands_repo.save_state(
            session, replace(state, context={**state.context, "at": stale.isoformat()})
        )
    later = await commands.ask("doctor", f'nouveau {bob_user} --sujet "Autre sujet" -- Bonjour')
    assert "Conversation créée" in later and "cercle" not in later
    second = re.search(r"\((conv[-_][^)]+)\)", later).group(1)  # type: ignore[union-attr]
    assert (await spico_client.get_conversation(second)).patient is None
