"""The ``!spico`` commands' I/O shell (``CommandExecutor``) on a real SQLite store, with a fake
SPICO composer: what it answers, what it asks SPICO, what it keeps for the user.

The full path (Synapse, the sandbox) is in test_commands.py."""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from bridge.core.composer import PatientEntry, TeamEntry
from bridge.core.model import MailChoice
from bridge.matrix.commands.executor import CommandExecutor, CommandSettings, Reply, Where
from bridge.store import commands as commands_repo
from bridge.store import mail as mail_repo
from bridge.store import matrix as matrix_repo
from bridge.store import repositories as repo
from bridge.store.repositories import Store
from tests.fakes import FakeComposer, professional, structure
from tests.fixtures.sqlite import audit_trail
from tests.matrix.helpers import numbered

DOCTOR = professional("810000000009", "Dr Jean DUPONT", status="online")
SECRETARY = professional("810000000017", "Mme Anne MARTIN", profession="Secrétaire médicale")
DELEGATING = professional("810000000025", "Dr Paul DURAND", city="Castres")
CAROL = professional("810000000033", "Mme Carol LEROY", profession="Infirmière", status="inactive")
ALICE = professional("810000000041", "Dr Alice BERNARD", status="absent")
BOB = professional("810000000058", "M. Bob PETIT", profession="Kinésithérapeute")
NO_ACCOUNT = professional("810000000066", "Dr Zoé ROUX", has_account=False, status="inactive")
EHPAD = structure("810000999", "EHPAD Les Tilleuls")
PATIENT = PatientEntry("pat-00001", "110098161039958", "Jeanne", "Dupuis", "1950-01-01")
FOREIGN = PatientEntry("pat-00002", "210098161039958", "Paul", "Roche", "1940-05-06")
TEAM = TeamEntry("team-1", "Soins palliatifs", "Équipe mobile", (BOB.id,))

USERS = {
    "@doctor:test": DOCTOR.id,
    "@secretary:test": SECRETARY.id,
    "@carol:test": CAROL.id,
    "@alice:test": ALICE.id,
    "@bob:test": BOB.id,
}


def _composer() -> FakeComposer:
    composer = FakeComposer(DOCTOR, SECRETARY, DELEGATING, CAROL, ALICE, BOB, NO_ACCOUNT, EHPAD)
    composer.delegations_of[SECRETARY.id] = [DELEGATING.id]
    composer.add_patient(
        PATIENT,
        files_of=[DELEGATING.id],
        circle=[(DELEGATING.id, "Médecin traitant"), (CAROL.id, "Infirmière")],
    )
    composer.add_patient(FOREIGN, circle=[(BOB.id, "Kinésithérapeute")])
    composer.teams_list = [TEAM]
    return composer


@dataclass
class Commands:
    """An executor on the store, and the replies it sent."""

    store: Store
    composer: FakeComposer
    settings: CommandSettings
    sent: list[Reply] = field(default_factory=list)
    _numbers: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        """A new executor on the same store (what a restart of the bridge keeps)."""
        self.executor = CommandExecutor(self.composer, self.store, lambda: USERS, self.settings)

    async def run(
        self,
        user: str,
        line: str,
        *,
        room: str | None = None,
        conversation: str | None = None,
        members: tuple[str, ...] = (),
    ) -> list[Reply]:
        """Run ``line`` as typed by ``user``: in their management room, or in the portal room of
        ``conversation``. Returns what was sent."""
        where = Where(
            room or (f"!portal-{conversation}" if conversation else f"!manage-{user}"),
            f"$cmd{next(self._numbers)}",
            conversation,
            members,
        )
        sent: list[Reply] = []

        async def send(reply: Reply) -> None:
            sent.append(reply)

        await self.executor.run(user, where, line, send)
        self.sent += sent
        handled = await self._handled(where.event_id)
        assert handled, "the command's event is marked handled"
        return sent

    async def ask(self, user: str, line: str) -> str:
        """The answer to ``line`` in the user's management room."""
        [reply] = await self.run(user, line)
        assert reply.in_reply and reply.room_id == f"!manage-{user}"
        return reply.text

    async def _handled(self, event_id: str) -> bool:
        return await self.store.run(functools.partial(matrix_repo.event_linked, event_id=event_id))

    async def state(self, user: str) -> commands_repo.CommandStateRow | None:
        async with self.store.transaction() as session:
            return await commands_repo.get_state(session, user)


@pytest.fixture
async def commands(sqlite_store: Store) -> AsyncIterator[Commands]:
    yield Commands(sqlite_store, _composer(), CommandSettings(bot_user_id="@bot:test"))


# --- every answer, unmapped users, help -------------------------------------------------------


async def test_answers_name_the_acting_account_and_help_is_offered(commands: Commands) -> None:
    text = await commands.ask("@alice:test", "aide")
    assert text.startswith(f"Agir en tant que : {ALICE.name}\n")
    for word in ("recherche", "nouveau", "cercle", "équipe", "prévenir", "as "):
        assert word in text
    assert "nouveau [participants]" in await commands.ask("@alice:test", "help new")
    unknown = await commands.ask("@alice:test", "bonjour")
    assert "Commande inconnue : « bonjour »" in unknown and "!spico aide" not in unknown
    assert "salon de la conversation" in await commands.ask("@alice:test", "inviter 1")
    assert "Option inconnue : --vite" in await commands.ask("@alice:test", "recherche x --vite")
    [reply] = await commands.run("@alice:test", "bonjour", conversation="conv_x")
    assert "Tapez « !spico aide »" in reply.text, "the prefix in a portal room"


async def test_an_unmapped_user_is_told_and_nothing_is_asked_of_spico(commands: Commands) -> None:
    [reply] = await commands.run("@eve:test", "recherche martin")
    assert "n'est associé à aucun professionnel" in reply.text
    assert commands.composer.calls == []
    assert await commands.state("@eve:test") is None


async def test_spico_unavailable_is_said_plainly(commands: Commands) -> None:
    commands.composer.outage()
    answer = await commands.ask("@alice:test", "recherche martin")
    assert "SPICO ne répond pas pour le moment : réessayez" in answer
    commands.composer.recover()
    assert "Annuaire" in await commands.ask("@alice:test", "recherche bernard")


# --- act as ----------------------------------------------------------------------------------


async def test_act_as_a_delegated_account_is_kept_across_a_restart(commands: Commands) -> None:
    accounts = await commands.ask("@secretary:test", "as")
    assert accounts.startswith(f"Agir en tant que : {SECRETARY.name}")
    n = numbered(accounts, DELEGATING.id)
    assert "n'existe pas" in await commands.ask("@secretary:test", "as 99")
    assert "pas de délégation" in await commands.ask("@secretary:test", f"as {DOCTOR.id}")
    chosen = await commands.ask("@secretary:test", f"as {n}")
    assert chosen.startswith(f"Agir en tant que : {DELEGATING.name}")
    state = await commands.state("@secretary:test")
    assert state is not None and state.acting_as == DELEGATING.id
    async with commands.store.transaction() as session:
        assert (
            await commands_repo.acting_as(session, "@secretary:test", SECRETARY.id) == DELEGATING.id
        )

    commands.restart()
    assert (await commands.ask("@secretary:test", "aide")).startswith(
        f"Agir en tant que : {DELEGATING.name}"
    )
    assert "en votre nom propre" in await commands.ask("@secretary:test", "as moi")
    state = await commands.state("@secretary:test")
    assert state is not None and state.acting_as is None


# --- directory, favorites, recent searches ----------------------------------------------------


async def test_search_lists_statuses_and_numbers_that_later_commands_use(
    commands: Commands,
) -> None:
    found = await commands.ask("@alice:test", "recherche albi")
    lines = [line for line in found.splitlines() if re.match(r"^\d+\. ", line)]
    assert lines and all(re.search(r"— (RPPS|ADELI) \d+", line) for line in lines)
    assert f"{DOCTOR.name} — Médecin généraliste, Albi — RPPS {DOCTOR.id} — en ligne" in found
    assert f"{NO_ACCOUNT.name}" in found and "inactif, sans compte SPICO" in found
    [search] = commands.composer.called("search")
    assert search == {"q": "albi", "structures": False, "on_behalf_of": ALICE.id, "limit": 10}
    assert "FINESS 810000999" in await commands.ask(
        "@alice:test", "recherche tilleuls --structures"
    )
    assert "Précisez ce que vous cherchez" in await commands.ask("@alice:test", "recherche")
    assert "Aucun résultat" in await commands.ask("@alice:test", "recherche zzz")


async def test_favorites_and_recent_searches_survive_a_restart(commands: Commands) -> None:
    found = await commands.ask("@alice:test", "recherche petit")
    n = numbered(found, BOB.id)
    assert "n'existe pas" in await commands.ask("@alice:test", "fav add 99")
    added = await commands.ask("@alice:test", f"fav add {n}")
    assert "Ajouté aux favoris" in added and BOB.name in added
    assert commands.composer.favorites_of[ALICE.id] == [BOB.id]
    assert "SPICO ne trouve pas" in await commands.ask("@alice:test", "fav add 899999999999")
    asked = len(commands.composer.called("add_favorite"))
    assert "pas un identifiant" in await commands.ask("@alice:test", "fav add 999999999999")
    assert len(commands.composer.called("add_favorite")) == asked, "nothing asked of SPICO"

    commands.restart()
    favorites = await commands.ask("@alice:test", "fav")
    assert "Favoris" in favorites and BOB.id in favorites
    recent = await commands.ask("@alice:test", "récentes")
    again = await commands.ask("@alice:test", f"récentes {numbered(recent, 'petit')}")
    assert BOB.id in again
    assert commands.composer.called("search")[-1]["q"] == "petit", "the search run again"
    removed = await commands.ask("@alice:test", f"fav rm {numbered(again, BOB.id)}")
    assert "Retiré des favoris" in removed
    assert BOB.id not in await commands.ask("@alice:test", "fav list")
    assert "n'existe pas" in await commands.ask("@alice:test", "récentes 99")
    assert "« fav list »" in await commands.ask("@alice:test", "fav add")


# --- patients and care circles ---------------------------------------------------------------


async def test_patients_and_circles_of_the_acting_account(commands: Commands) -> None:
    await commands.ask("@secretary:test", "as 2")
    patients = await commands.ask("@secretary:test", "patients")
    assert f"File active de {DELEGATING.name}" in patients
    assert commands.composer.called("patients") == [
        {"account_id": DELEGATING.id, "on_behalf_of": SECRETARY.id}
    ]
    p = numbered(patients, f"({PATIENT.id})")
    assert "Patient inconnu" in await commands.ask("@secretary:test", "cercle pat-99999")
    foreign = await commands.ask("@secretary:test", f"cercle {FOREIGN.id}")
    assert "pas accès à ce patient" in foreign
    assert "n'existe pas" in await commands.ask("@secretary:test", "cercle 999")
    assert "Précisez le patient" in await commands.ask("@secretary:test", "cercle")
    circle = await commands.ask("@secretary:test", f"cercle {p}")
    assert "Cercle de soins de Jeanne DUPUIS" in circle
    assert f"{CAROL.name} — Infirmière — {CAROL.id} — inactif" in circle
    assert "Pas de liste de patients" in await commands.ask("@alice:test", "cercle 1")


async def test_patient_lists_never_show_in_a_shared_room(commands: Commands) -> None:
    commands.composer.add_conversation("conv_p", DOCTOR.id, ALICE.id)
    [reply] = await commands.run("@doctor:test", "patients", conversation="conv_p")
    assert "confidentialité" in reply.text and "pat-" not in reply.text
    async with commands.store.transaction() as session:
        await commands_repo.save_management_room(session, "!manage-@doctor:test", "@doctor:test")
    private, notice = await commands.run("@doctor:test", "patients", conversation="conv_p")
    assert (private.room_id, private.in_reply) == ("!manage-@doctor:test", False)
    assert private.private and not notice.private, "the sender checks the room first"
    assert f"file active de {DOCTOR.name}" in private.text
    assert notice.room_id == "!portal-conv_p" and "salon de gestion" in notice.text


# --- new conversations -----------------------------------------------------------------------


async def test_a_delegate_starts_a_patient_conversation_from_a_care_circle(
    commands: Commands,
) -> None:
    secretary = "@secretary:test"
    await commands.ask(secretary, "as 2")
    await commands.ask(secretary, "patients")
    circle = await commands.ask(secretary, "cercle 1")
    c = numbered(circle, CAROL.id)
    prompt = await commands.ask(secretary, "nouveau")
    assert "cercle de soins" in prompt and CAROL.name in prompt
    again = await commands.ask(secretary, "42")
    assert "n'existe pas" in again and "qui y participe" in again, "asked again"
    assert "sujet" in (await commands.ask(secretary, str(c))).lower()

    commands.restart()  # the dialogue is kept in the store
    assert "trop long" in await commands.ask(secretary, "x" * 201)
    assert "premier message" in await commands.ask(secretary, "Plaie du pied droit")
    summary = await commands.ask(secretary, "Bonjour,\npouvez-vous passer demain ?")
    assert "Récapitulatif" in summary and CAROL.name in summary and "oui" in summary
    done = await commands.ask(secretary, "oui")
    assert done.startswith(f"Agir en tant que : {DELEGATING.name}")
    assert "Conversation créée dans SPICO : « Plaie du pied droit » (conv_1)" in done
    assert "@carol:test" in done, "the room's invitees are named"
    assert "sera prévenu(e)" not in done, "carol is mapped to Matrix"
    [created] = commands.composer.called("create_conversation")
    assert created == {
        "on_behalf_of": SECRETARY.id,
        "acting_as": DELEGATING.id,
        "members": [CAROL.id],
        "subject": "Plaie du pied droit",
        "message": "Bonjour,\npouvez-vous passer demain ?",
        "patient_id": PATIENT.id,
        "attachments": (),
        "idempotency_key": f"matrix:{_event_of(commands, done)}",
    }
    assert ("command.new", "done", f"acting_as {DELEGATING.id}") in await audit_trail(
        commands.store
    )
    state = await commands.state(secretary)
    assert state is not None and state.dialogue is None
    assert "Rien à annuler" in await commands.ask(secretary, "annuler")


def _event_of(commands: Commands, text: str) -> str:
    """The event id of the command that got ``text`` (ids are numbered in order)."""
    index = next(i for i, reply in enumerate(commands.sent) if reply.text == text)
    return f"$cmd{index}"


async def test_the_guided_dialogue_runs_commands_in_its_members_step_and_can_be_cancelled(
    commands: Commands,
) -> None:
    alice = "@alice:test"
    assert "qui y participe" in await commands.ask(alice, "nouveau")
    found = await commands.ask(alice, f"recherche {BOB.id}")
    assert BOB.name in found and "qui y participe" in found
    asked = await commands.ask(alice, "1 @doctor:test")
    assert "patient" in asked.lower()
    assert "Patient inconnu" in await commands.ask(alice, "pat-99999")
    assert "sujet" in (await commands.ask(alice, "aucun")).lower()
    assert "abandonnée" in await commands.ask(alice, "annuler")
    assert "Rien à annuler" in await commands.ask(alice, "annuler")
    assert commands.composer.called("create_conversation") == []


async def test_new_on_one_line_from_a_portal_room_and_its_notes(commands: Commands) -> None:
    commands.composer.add_conversation("conv_n", DOCTOR.id, ALICE.id)
    [done] = await commands.run(
        "@doctor:test",
        f'nouveau @bob:test {NO_ACCOUNT.id} --sujet "Relais" -- Pouvez-vous prendre ?',
        conversation="conv_n",
    )
    assert "Conversation créée" in done.text and "Relais" in done.text
    assert "@bob:test" in done.text
    assert f"{NO_ACCOUNT.name} est inactif dans SPICO et le pont n'envoie pas" in done.text
    [created] = commands.composer.called("create_conversation")
    assert created["members"] == [BOB.id, NO_ACCOUNT.id] and created["acting_as"] == DOCTOR.id
    # Without the subject, the dialogue goes on in the management room, or cannot start.
    [missing] = await commands.run(
        "@doctor:test", "nouveau @bob:test -- sans sujet", conversation="conv_n"
    )
    assert "Il manque des éléments" in missing.text and "@bot:test" in missing.text
    async with commands.store.transaction() as session:
        await commands_repo.save_management_room(session, "!manage-@doctor:test", "@doctor:test")
    prompt, elsewhere = await commands.run(
        "@doctor:test", "nouveau @bob:test -- sans sujet", conversation="conv_n"
    )
    assert prompt.room_id == "!manage-@doctor:test" and "sujet" in prompt.text.lower()
    assert "salon de gestion" in elsewhere.text


# --- portal rooms: members, invite, remove, patient -------------------------------------------


async def test_portal_commands_change_the_conversation_in_spico(commands: Commands) -> None:
    commands.composer.add_conversation("conv_c", DOCTOR.id, ALICE.id)
    members = (DOCTOR.id, ALICE.id)
    async with commands.store.transaction() as session:
        await repo.in_session(
            session,
            repo.save_professional,
            repo.ProfessionalRow(
                id=ALICE.id,
                civility="Dr",
                first_name="Alice",
                last_name="Bernard",
                profession="Médecin",
                mssante_address=ALICE.mssante_address,
                status="absent",
                has_account=True,
            ),
        )

    async def ask(line: str) -> str:
        [reply] = await commands.run("@doctor:test", line, conversation="conv_c", members=members)
        return reply.text

    listed = await ask("membres")
    assert listed.startswith("Agir en tant que : ")
    assert "Dr Alice BERNARD — Médecin : absent (@alice:test)" in listed
    assert "Ajouté(s) à la conversation" in await ask("inviter @bob:test")
    assert commands.composer.called("add_member") == [
        {
            "conversation_id": "conv_c",
            "member_id": BOB.id,
            "on_behalf_of": DOCTOR.id,
            "acting_as": DOCTOR.id,
        }
    ]
    assert ("command.invite", "done", None) in await audit_trail(commands.store)
    assert "Précisez le participant" in await ask("retirer")
    assert "Retiré(s)" in await ask("retirer @bob:test")
    assert BOB.id not in commands.composer.conversations["conv_c"].members
    assert "n'est associé à aucun professionnel" in await ask("inviter @eve:test")
    assert "Aucun professionnel n'a l'identifiant" in await ask("inviter 899999999999")
    assert "n'existe pas" in await ask("inviter 99")
    assert "est une structure" in await ask(f"inviter {EHPAD.mssante_address}")

    commands.composer.active_files[DOCTOR.id] = [PATIENT.id]
    linked = await ask(f"patient {PATIENT.id}")
    assert PATIENT.id in linked and "Dupuis" not in linked, "no patient name in a shared room"
    assert commands.composer.conversations["conv_c"].patient_id == PATIENT.id
    assert "Patient inconnu" in await ask("patient pat-99999")
    assert "pas accès" in await ask(f"patient {FOREIGN.id}")
    assert "plus rattachée" in await ask("patient aucun")
    assert commands.composer.conversations["conv_c"].patient_id is None


async def test_spico_refuses_what_the_acting_account_may_not_do(commands: Commands) -> None:
    commands.composer.add_conversation("conv_r", DOCTOR.id, ALICE.id)
    async with commands.store.transaction() as session:  # a choice SPICO no longer allows
        await commands_repo.save_state(
            session, commands_repo.CommandStateRow("@alice:test", ALICE.id, BOB.id, "M. Bob PETIT")
        )
    [refused] = await commands.run("@alice:test", f"inviter {CAROL.id}", conversation="conv_r")
    assert "délégation" in refused.text
    async with commands.store.transaction() as session:
        await commands_repo.save_state(session, commands_repo.CommandStateRow("@bob:test", BOB.id))
    [refused] = await commands.run("@bob:test", f"inviter {CAROL.id}", conversation="conv_r")
    assert "ne participe pas à cette" in refused.text
    assert CAROL.id not in commands.composer.conversations["conv_r"].members


# --- resource teams --------------------------------------------------------------------------


async def test_a_team_request_creates_the_team_conversation(commands: Commands) -> None:
    teams = await commands.ask("@alice:test", "équipe")
    assert "Équipes ressources" in teams
    n = numbered(teams, f"({TEAM.id})")
    assert "n'existe pas" in await commands.ask("@alice:test", "équipe 99 Bonjour")
    assert "Aucune équipe ressource ne correspond" in await commands.ask(
        "@alice:test", "équipe zzz x"
    )
    assert "Écrivez le message" in await commands.ask("@alice:test", f"équipe {n}")
    done = await commands.ask("@alice:test", f"équipe {n} Besoin d'un avis")
    assert f"Équipe sollicitée : {TEAM.name}" in done and "@bob:test" in done
    [requested] = commands.composer.called("request_team")
    assert requested["message"] == "Besoin d'un avis" and requested["acting_as"] == ALICE.id
    assert requested["idempotency_key"].startswith("matrix:$cmd")
    assert "Équipes ressources" in await commands.ask("@alice:test", "team")


# --- notify ----------------------------------------------------------------------------------


async def test_notify_without_the_mail_world_says_so(commands: Commands) -> None:
    commands.composer.add_conversation("conv_m", DOCTOR.id, ALICE.id)
    [answer] = await commands.run(
        "@doctor:test", f"prévenir {ALICE.id}", conversation="conv_m", members=(DOCTOR.id, ALICE.id)
    )
    assert "messagerie sécurisée n'est pas activée" in answer.text


async def _message_in(store: Store, conversation_id: str, members: tuple[str, ...]) -> None:
    """A conversation and one of its messages, as the bridge journalled them."""
    async with store.transaction() as session:
        await repo.in_session(
            session,
            repo.save_conversation,
            repo.ConversationSnapshot(conversation_id, "Avis urgent", DOCTOR.id, members, None, 1),
        )
        await repo.in_session(
            session,
            repo.record_event,
            repo.JournalRow(
                seq=1,
                type="message.posted",
                conversation_id=conversation_id,
                actor_id=DOCTOR.id,
                occurred_at="2026-11-25T10:00:00+00:00",
                payload={"data": {"message": {"id": "m1", "body": "Pouvez-vous me rappeler ?"}}},
            ),
        )


async def test_notify_queues_the_notification_and_respects_the_rate_limit(
    commands: Commands,
) -> None:
    commands.settings = CommandSettings(
        bot_user_id="@bot:test", mail_enabled=True, notification_period_minutes=600
    )
    commands.restart()
    members = (DOCTOR.id, ALICE.id, NO_ACCOUNT.id, BOB.id)
    await _message_in(commands.store, "conv_t", members)

    async def ask(line: str) -> str:
        [reply] = await commands.run("@doctor:test", line, conversation="conv_t", members=members)
        return reply.text

    sent = await ask(f"prévenir {ALICE.id}")
    assert "Notification par courriel envoyée" in sent and ALICE.mssante_address in sent
    async with commands.store.transaction() as session:
        assert (await repo.delivery_counts(session))["pending"] == 1
    assert ("command.notify", "done", None) in await audit_trail(commands.store)
    assert "déjà prévenu(e)" in await ask(f"prévenir {ALICE.id}"), "queued already"

    # The mail world sent one an hour ago: the same rate limit as automatic notifications.
    async with commands.store.transaction() as session:
        last = datetime.now(UTC) - timedelta(hours=1)
        await repo.in_session(
            session,
            mail_repo.save_notification,
            mail_repo.NotificationRow("conv_t", NO_ACCOUNT.id, last, ()),
        )
    suppressed = await ask(f"prévenir {NO_ACCOUNT.id}")
    assert "Pas de nouvelle notification" in suppressed and "10 heures" in suppressed
    assert "pas besoin de notification" in await ask(f"prévenir {BOB.id}")
    assert "ne participe pas" in await ask(f"prévenir {CAROL.id}")
    assert "Précisez le participant" in await ask("prévenir")
    async with commands.store.transaction() as session:
        assert (await repo.delivery_counts(session))["pending"] == 1
    started = await ask(f'nouveau {NO_ACCOUNT.id} --sujet "Relance" -- Bonjour')
    assert "Conversation créée" in started and "sera prévenu(e) par courriel" in started


async def test_notify_needs_a_message_of_the_conversation(commands: Commands) -> None:
    commands.settings = CommandSettings(bot_user_id="@bot:test", mail_enabled=True)
    commands.restart()
    members = (DOCTOR.id, ALICE.id)
    [answer] = await commands.run(
        "@doctor:test", f"prévenir {ALICE.id}", conversation="conv_e", members=members
    )
    assert "rien à notifier" in answer.text
    async with commands.store.transaction() as session:
        assert (await repo.delivery_counts(session))["pending"] == 0


# --- courriel: the member's own mail choices ----------------------------------------------------


async def test_mail_choices_are_shown_changed_stored_and_audited(commands: Commands) -> None:
    from bridge.store import preferences

    commands.settings = CommandSettings(bot_user_id="@bot:test", mail_enabled=True)
    commands.restart()
    shown = await commands.ask("@doctor:test", "courriel")
    assert "par défaut" in shown and "courriel tout" in shown
    assert "toutes vos conversations" in await commands.ask("@doctor:test", "courriel tout")
    members = (DOCTOR.id, ALICE.id)
    [here] = await commands.run(
        "@doctor:test", "courriel stop", conversation="conv_c", members=members
    )
    assert "arrêtée" in here.text
    assert "conv_c" in await commands.ask("@doctor:test", "mail")
    assert "Usage" in await commands.ask("@doctor:test", "courriel stop"), "which conversation?"
    async with commands.store.transaction() as session:
        general, choices = await preferences.member_choices(session, DOCTOR.id)
    assert general == preferences.ALL and choices == {"conv_c": MailChoice.STOP}
    assert ("mail.choice", "stop", None) in await audit_trail(commands.store)
    assert "par défaut" in await commands.ask("@doctor:test", "courriel auto")
