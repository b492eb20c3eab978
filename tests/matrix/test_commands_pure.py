"""The ``!spico`` commands' pure parts: parsing, references, the guided dialogue, the
management-room classifier, texts in French and English, refusal sentences, the rate limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.core.composer import (
    CareCircleView,
    CircleMember,
    DirectoryEntry,
    PatientEntry,
    RecentSearchEntry,
    TeamEntry,
)
from bridge.core.notifications import next_notification_at, notification_allowed
from bridge.matrix.commands import dialogue, texts
from bridge.matrix.commands.dialogue import Draft
from bridge.matrix.commands.management import RoomInput, management_input
from bridge.matrix.commands.parse import Ref, parse, parse_refs, strip_prefix, tokenize
from bridge.matrix.commands.resolve import Problem, find_team, notify_refusal, pick
from bridge.matrix.texts import text

DOCTOR = DirectoryEntry(
    "810000000001",
    "professional",
    "Dr Jeanne MARTIN",
    "médecin généraliste",
    "Toulouse",
    "rpps",
    "jeanne.martin@sandbox.mssante.fr",
    "online",
    True,
)
NURSE = DirectoryEntry(
    "0312345678",
    "professional",
    "M. Paul DURAND",
    "infirmier",
    "Albi",
    "adeli",
    "paul.durand@sandbox.mssante.fr",
    "inactive",
    False,
)
EHPAD = DirectoryEntry(
    "1310012345",
    "structure",
    "EHPAD Les Tilleuls de Rodez",
    "EHPAD",
    "Rodez",
    "finess",
    "ehpad.rodez@sandbox.mssante.fr",
)
PATIENT = PatientEntry("pat-00012", "150027512345678", "Jean", "Dupont", "1950-02-03")


# --- parsing ---------------------------------------------------------------------------------


def test_new_one_line_form_with_every_part() -> None:
    request = parse(
        'nouveau 1,3 @u:hs 810000000001 --patient pat-00012 --sujet "Plaie du pied" '
        "-- Bonjour,\nmerci de passer."
    )
    assert request.name == "new"
    assert request.args == ("1,3", "@u:hs", "810000000001")
    assert request.options == {"patient": "pat-00012", "subject": "Plaie du pied"}
    assert request.rest == "Bonjour,\nmerci de passer."


@pytest.mark.parametrize("alias", ["search", "recherche", "chercher"])
def test_french_and_english_aliases(alias: str) -> None:
    request = parse(f"{alias} dupont toulouse --structures")
    assert request.name == "search"
    assert request.args == ("dupont", "toulouse")
    assert request.options == {"structures": True}


def test_unknown_command_and_unknown_option_are_named() -> None:
    assert parse("bonjour").name == ""
    assert parse("bonjour").word == "bonjour"
    assert parse("search x --vite").bad_option == "--vite"
    assert parse("").name == "help"


def test_team_message_is_kept_as_typed_and_dashes_separate() -> None:
    request = parse("équipe 2 Besoin d'un avis,  patient  algique")
    assert request.name == "team"
    assert request.args[0] == "2"
    assert request.tail == "Besoin d'un avis,  patient  algique"
    assert parse("team soins-palliatifs — urgent : appel").rest == "urgent : appel"


def test_quotes_of_every_kind() -> None:
    assert [t.text for t in tokenize("a « b c » “d e” 'f g'")] == ["a", "b c", "d e", "f g"]


def test_references() -> None:
    assert parse_refs(["1,3", "5-6", "@u:hs", "A.B@x.mssante.fr", "pat-00001", "1"]) == [
        Ref("number", "1"),
        Ref("number", "3"),
        Ref("number", "5"),
        Ref("number", "6"),
        Ref("matrix", "@u:hs"),
        Ref("address", "a.b@x.mssante.fr"),
        Ref("id", "pat-00001"),
    ]
    assert parse_refs(["810000000001"]) == [Ref("id", "810000000001")]


def test_prefix_is_optional_in_management_rooms() -> None:
    assert strip_prefix("!spico search x", "!spico") == "search x"
    assert strip_prefix("!spico", "!spico") == ""
    assert strip_prefix("search x", "!spico") is None
    assert strip_prefix("!spicool", "!spico") is None


# --- dialogue --------------------------------------------------------------------------------


def test_dialogue_asks_each_missing_part_in_order() -> None:
    draft = Draft(ask_patient=True)
    assert dialogue.next_step(draft) == "members"
    draft = dialogue.with_members(draft, ["810000000001"], ["Dr Jeanne MARTIN"])
    assert dialogue.next_step(draft) == "patient"
    draft = dialogue.with_patient(draft, None, None)
    assert dialogue.next_step(draft) == "subject"
    assert dialogue.interpret("subject", "   ") == dialogue.Invalid("subject_missing")
    answer = dialogue.interpret("subject", "  Plaie   du pied ")
    assert answer == dialogue.Text("Plaie du pied")
    draft = dialogue.with_text(draft, "subject", "Plaie du pied")
    assert dialogue.next_step(draft) == "message"
    draft = dialogue.with_text(draft, "message", "Bonjour")
    assert dialogue.next_step(draft) == "confirm"
    assert dialogue.interpret("confirm", "Oui !") == dialogue.Confirm()
    assert dialogue.interpret("confirm", "peut-être") == dialogue.Invalid("confirm_expected")


def test_dialogue_answers_and_cancel() -> None:
    assert dialogue.interpret("message", "annuler") == dialogue.Cancel()
    assert dialogue.interpret("members", "CANCEL") == dialogue.Cancel()
    assert dialogue.interpret("members", "1,3 @u:hs") == dialogue.Members(
        (Ref("number", "1"), Ref("number", "3"), Ref("matrix", "@u:hs"))
    )
    assert dialogue.interpret("members", "  ") == dialogue.Invalid("members_missing")
    assert dialogue.interpret("patient", "aucun") == dialogue.PatientChoice(None)
    assert dialogue.interpret("patient", "2") == dialogue.PatientChoice(Ref("number", "2"))
    too_long = dialogue.interpret("subject", "x" * 201)
    assert too_long == dialogue.Invalid("subject_too_long", 201)


def test_a_circle_prefilled_dialogue_skips_the_patient_and_survives_json() -> None:
    draft = dialogue.with_patient(Draft(from_circle=True), "pat-00012", "Jean DUPONT")
    assert dialogue.next_step(draft) == "members"
    assert dialogue.prompt_key(draft, "members") == "ask_members_circle"
    draft = dialogue.with_members(draft, ["a", "b"], ["A", "B"])
    draft = dialogue.with_members(draft, ["b", "c"], ["B", "C"])
    assert draft.members == ("a", "b", "c")
    assert Draft.from_json(draft.to_json()) == draft
    assert Draft.from_json(None) is None


# --- management rooms ------------------------------------------------------------------------

OWNER, BOT = "@jeanne:hs", "@bot:hs"


def _text(sender: str, body: str) -> dict[str, object]:
    return {
        "type": "m.room.message",
        "sender": sender,
        "content": {"msgtype": "m.text", "body": body},
    }


def test_management_room_lines_are_commands_of_the_owner_only() -> None:
    assert management_input(_text(OWNER, "search x"), OWNER, BOT) == RoomInput(
        "command", "search x"
    )
    assert management_input(_text(OWNER, "!spico search x"), OWNER, BOT) == RoomInput(
        "command", "search x"
    )
    assert management_input(_text("@other:hs", "search x"), OWNER, BOT) is None
    assert management_input(_text(BOT, "notice"), OWNER, BOT) is None


def test_management_room_stops_being_private() -> None:
    def member(user: str, membership: str) -> dict[str, object]:
        return {"type": "m.room.member", "state_key": user, "content": {"membership": membership}}

    assert management_input(member("@x:hs", "join"), OWNER, BOT) == RoomInput("not_private")
    assert management_input(member("@x:hs", "invite"), OWNER, BOT) == RoomInput("not_private")
    assert management_input(member(OWNER, "leave"), OWNER, BOT) == RoomInput("left")
    assert management_input(member(OWNER, "join"), OWNER, BOT) is None


# --- texts -----------------------------------------------------------------------------------


def test_directory_lines_show_kind_identifier_city_and_status_in_both_languages() -> None:
    french = texts.search_text("martin", [DOCTOR, NURSE], "fr")
    assert "1. Dr Jeanne MARTIN — médecin généraliste, Toulouse — RPPS 810000000001 — en ligne" in (
        french
    )
    assert (
        "2. M. Paul DURAND — infirmier, Albi — ADELI 0312345678 — inactif, sans compte SPICO"
        in (french)
    )
    english = texts.search_text("martin", [DOCTOR, NURSE], "en")
    assert "— online" in english and "inactive, no SPICO account" in english
    structures = texts.search_text("rodez", [EHPAD], "fr", structures=True)
    assert "FINESS 1310012345" in structures and "structures" in structures
    assert texts.search_text("zzz", [], "en") == "No result for “zzz”."


def test_every_reply_shows_the_acting_account() -> None:
    assert texts.with_acting("Dr Jeanne MARTIN", "ok", "fr").startswith(
        "Agir en tant que : Dr Jeanne MARTIN\n"
    )
    assert texts.with_acting("Dr Jeanne MARTIN", "ok", "en").startswith("Acting as: Dr Jeanne")


def test_lists_of_accounts_patients_circles_teams_recent() -> None:
    accounts = texts.accounts_text([NURSE, DOCTOR], DOCTOR.id, "fr")
    assert "2. Dr Jeanne MARTIN" in accounts and "✓" in accounts.splitlines()[2]
    patients = texts.patients_text("Dr Jeanne MARTIN", [PATIENT], "fr")
    assert "1. Jean DUPONT, né(e) le 03/02/1950 (pat-00012)" in patients
    assert "born 1950-02-03" in texts.patients_text("X", [PATIENT], "en")
    circle = texts.circle_text(
        CareCircleView(PATIENT, (CircleMember(DOCTOR, "médecin traitant"),)), "fr"
    )
    assert "1. Dr Jeanne MARTIN — médecin traitant — 810000000001 — en ligne" in circle
    teams = texts.teams_text([TeamEntry("soins-palliatifs", "Soins palliatifs", "EMSP", ())])
    assert "1. Soins palliatifs (soins-palliatifs) — EMSP" in teams
    recent = texts.recent_text(
        [RecentSearchEntry("martin", None, datetime(2026, 11, 26, 9, 5, tzinfo=UTC))], "fr"
    )
    assert "1. martin — 26/11/2026 09:05" in recent


@pytest.mark.parametrize(
    ("code", "french", "english"),
    [
        ("no_delegation", "délégation", "delegation"),
        ("no_patient_access", "pas accès à ce patient", "no access to this patient"),
        ("not_a_member", "ne participe pas", "not a member"),
        ("last_member", "dernier participant", "last member"),
        ("whatever", "SPICO a refusé : phrase", "SPICO refused: phrase"),
    ],
)
def test_refusals_are_sentences(code: str, french: str, english: str) -> None:
    assert french in texts.refusal_text(code, "phrase", "fr")
    assert english in texts.refusal_text(code, "phrase", "en")


def test_error_sentences() -> None:
    assert "Le numéro 4 n'existe pas" in text(
        "fr", "out_of_range", number=4, what=texts.list_name("directory"), count=3
    )
    assert "réessayez" in text("fr", "unavailable")
    assert "try again" in text("en", "unavailable")
    assert "obligatoire" in text("fr", "subject_missing")
    assert "courriel" in text("fr", "inactive_note", name="X", status="inactif")
    assert "Unknown patient" in text("en", "unknown_patient", ref="pat-9")


def test_help_lists_every_command_in_both_languages() -> None:
    french = texts.help_text("fr", "!spico")
    for word in ("recherche", "nouveau", "cercle", "équipe", "prévenir", "as", "membres"):
        assert word in french
    english = texts.help_text("en", "!spico")
    for word in ("search", "new", "circle", "team", "notify", "members", "recent", "fav"):
        assert word in english
    assert texts.help_text("en", "!spico", "new").startswith("new [members]")


def test_period_wording() -> None:
    assert texts.period_text(1440, "fr") == "24 heures"
    assert texts.period_text(120, "en") == "2 hours"
    assert texts.period_text(45, "fr") == "45 minutes"


# --- rate limit (shared with the mail sink) --------------------------------------------------


def test_notification_rate_limit() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    period = timedelta(minutes=60)
    assert notification_allowed(None, now, period)
    assert not notification_allowed(now - timedelta(minutes=59), now, period)
    assert notification_allowed(now - timedelta(minutes=60), now, period)
    assert next_notification_at(now, period) == now + period
    assert next_notification_at(None, period) is None


# --- argument resolution ---------------------------------------------------------------------

TEAMS = [
    TeamEntry("emsp-toulouse", "Équipe mobile de soins palliatifs", "EMSP", ()),
    TeamEntry("gériatrie-albi", "Équipe mobile de gériatrie", "EMG", ()),
]


def test_numbers_pick_from_the_right_list() -> None:
    assert pick(["a", "b"], 2, "directory") == "b"
    with pytest.raises(Problem) as out_of_range:
        pick(["a", "b"], 3, "directory")
    assert out_of_range.value.text("fr") == (
        "Le numéro 3 n'existe pas : la dernière liste de professionnels compte 2 élément(s)."
    )
    with pytest.raises(Problem) as no_list:
        pick([], 1, "patients", "en")
    assert no_list.value.text("en") == "No patients list to refer to: type “patients” first."


def test_teams_by_number_id_or_name_part() -> None:
    assert find_team(TEAMS, "2") is TEAMS[1]
    assert find_team(TEAMS, "emsp-toulouse") is TEAMS[0]
    assert find_team(TEAMS, "palliatifs") is TEAMS[0]
    assert find_team(TEAMS, "GERIATRIE") is TEAMS[1], "case and accents do not matter"
    with pytest.raises(Problem) as ambiguous:
        find_team(TEAMS, "mobile")
    assert ambiguous.value.key == "team_ambiguous"
    with pytest.raises(Problem) as unknown:
        find_team(TEAMS, "cardiologie")
    assert unknown.value.key == "team_unknown"


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({}, None),
        ({"mail_enabled": False}, "notify_no_mail"),
        ({"notifications_enabled": False}, "notify_disabled"),
        ({"is_member": False}, "notify_not_member"),
        ({"status": "online"}, "notify_active"),
        ({"status": "active"}, "notify_active"),
        ({"status": "active", "has_account": False}, None),
        ({"status": "absent"}, None),
        ({"address": None}, "notify_no_address"),
    ],
)
def test_when_a_manual_notification_may_go(facts: dict[str, object], expected: str | None) -> None:
    base: dict[str, object] = {
        "mail_enabled": True,
        "notifications_enabled": True,
        "is_member": True,
        "status": "inactive",
        "has_account": True,
        "address": "a@sandbox.mssante.fr",
    }
    assert notify_refusal(**{**base, **facts}) == expected  # type: ignore[arg-type]


# --- the command registry -------------------------------------------------------------------


def test_every_command_is_declared_once_with_its_help_in_both_languages() -> None:
    from bridge.matrix import texts as catalog
    from bridge.matrix.commands import registry

    specs = registry.all_commands()
    names = [spec.name for spec in specs]
    assert len(names) == len(set(names)) >= 15
    words = registry.words()
    for spec in specs:
        assert spec.fr and spec.en, spec.name
        assert all(words[w.lower()] == spec.name for w in spec.words)
        for language in ("fr", "en"):
            assert catalog.find(language, f"help_{spec.help}_usage")
            assert catalog.find(language, f"help_{spec.help}_what")
        for option, (canonical, _takes_value) in spec.options.items():
            assert option.startswith("--") and canonical
    places = {spec.name: spec.where for spec in specs}
    assert {n for n, w in places.items() if w == "portal"} == {
        "members",
        "invite",
        "remove",
        "patient",
        "notify",
    }
    help_fr = texts.help_text("fr")
    assert all(catalog.text("fr", f"help_{spec.help}_usage") in help_fr for spec in specs)


def test_a_command_is_declared_in_its_group_module_only() -> None:
    """Adding a command touches one file: the executor holds no command, parse no alias."""
    from pathlib import Path

    from bridge.matrix.commands import registry

    package = Path(registry.__file__).parent
    executor = (package / "executor.py").read_text(encoding="utf-8")
    parse_source = (package / "parse.py").read_text(encoding="utf-8")
    assert "_cmd_" not in executor and "@command" not in executor
    for spec in registry.all_commands():
        module = spec.handler.__module__
        assert module.startswith("bridge.matrix.commands.groups."), module
        assert f'"{spec.fr[0]}": "{spec.name}"' not in parse_source, spec.name


def test_the_circle_context_expires_and_keeps_its_time() -> None:
    from datetime import UTC, datetime, timedelta

    from bridge.matrix.commands.groups.conversation import CIRCLE_CONTEXT_TTL, circle_context

    now = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)
    context = {"source": "circle", "patient_id": "pat-1", "patient_label": "Jean DUPONT"}
    assert circle_context(context, now) is None, "a context of before (no time) is not used"
    fresh = {**context, "at": (now - timedelta(minutes=3)).isoformat()}
    assert circle_context(fresh, now) == ("pat-1", "Jean DUPONT", now - timedelta(minutes=3))
    stale = {**context, "at": (now - CIRCLE_CONTEXT_TTL - timedelta(seconds=1)).isoformat()}
    assert circle_context(stale, now) is None
    assert circle_context({**fresh, "source": "search"}, now) is None
    assert timedelta(minutes=5) <= CIRCLE_CONTEXT_TTL <= timedelta(minutes=30)


def test_a_management_room_is_private_only_by_its_current_state() -> None:
    from bridge.matrix.commands.management import private_room_problem

    owner, bot, eve = "@alice:hs", "@bot:hs", "@eve:hs"
    private = {
        ("m.room.member", owner): {"membership": "join"},
        ("m.room.member", bot): {"membership": "join"},
        ("m.room.join_rules", ""): {"join_rule": "invite"},
        ("m.room.history_visibility", ""): {"history_visibility": "shared"},
    }

    def problem(**changes: dict[str, str]) -> str | None:
        events = dict(private)
        for name, content in changes.items():
            key = {
                "eve": ("m.room.member", eve),
                "owner": ("m.room.member", owner),
                "join_rule": ("m.room.join_rules", ""),
                "history": ("m.room.history_visibility", ""),
            }[name]
            events[key] = content
        state = [{"type": t, "state_key": k, "content": c} for (t, k), c in events.items()]
        return private_room_problem(state, owner, bot)

    assert problem() is None
    assert problem(eve={"membership": "invite"}) == "members"
    assert problem(eve={"membership": "join"}) == "members"
    assert problem(eve={"membership": "leave"}) is None
    assert problem(owner={"membership": "leave"}) == "not_joined"
    assert problem(join_rule={"join_rule": "public"}) == "join_rule"
    assert problem(join_rule={"join_rule": "knock"}) == "join_rule"
    assert problem(history={"history_visibility": "world_readable"}) == "history"
