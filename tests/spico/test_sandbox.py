"""The sandbox implements the contract: every endpoint, over real HTTP, through SpicoClient."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from pathlib import Path

import aiohttp
import aiohttp.web
import pytest
import yaml

from bridge.spico.client import (
    SpicoBadRequest,
    SpicoClient,
    SpicoConflict,
    SpicoForbidden,
    SpicoHTTPError,
    SpicoNotFound,
    SpicoUnauthorized,
)
from bridge.spico.models import NewAttachment, Professional, Structure
from bridge.spico.sandbox.seed import Directory
from bridge.spico.sandbox.server import API_PREFIX
from bridge.spico.sandbox.server import routes as server_routes
from tests.fixtures.sandbox import Personas, SandboxProcess
from tests.spico.helpers import events_after, head_seq, start_conversation

CONTRACT = Path(__file__).resolve().parents[2] / "bridge" / "spico" / "openapi.yaml"

# ----------------------------------------------------------------------------- auth and health


async def test_health_needs_no_token(spico_sandbox: SandboxProcess) -> None:
    async with SpicoClient(spico_sandbox.base_url, "wrong-token") as client:
        assert await client.health()


async def test_wrong_or_missing_token_is_401(spico_sandbox: SandboxProcess) -> None:
    async with SpicoClient(spico_sandbox.base_url, "wrong-token") as client:
        with pytest.raises(SpicoUnauthorized) as caught:
            await client.search_directory("martin")
    assert caught.value.code == "unauthorized"
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{spico_sandbox.base_url}/conversations") as answer,
    ):
        assert answer.status == 401
        assert (await answer.json())["error"] == "unauthorized"


async def test_bad_json_is_400(spico_sandbox: SandboxProcess, personas: Personas) -> None:
    headers = {
        "Authorization": f"Bearer {spico_sandbox.token}",
        "X-Spico-User": personas.doctor,
        "Content-Type": "application/json",
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{spico_sandbox.base_url}/conversations", data=b"{not json", headers=headers
        ) as answer,
    ):
        assert answer.status == 400
        assert (await answer.json())["error"] == "bad_json"


async def test_unknown_route_is_json_404(spico_sandbox: SandboxProcess) -> None:
    headers = {"Authorization": f"Bearer {spico_sandbox.token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{spico_sandbox.base_url}/nowhere", headers=headers) as answer,
    ):
        assert answer.status == 404
        assert set(await answer.json()) == {"error", "message"}


# ----------------------------------------------------------------------------- directory


async def test_directory_matches_the_seed(
    spico_client: SpicoClient, spico_directory: Directory
) -> None:
    seeded = spico_directory.professionals[0]
    professional = await spico_client.get_professional(seeded.id)
    assert professional.model_dump(exclude={"type"}) == dataclasses.asdict(seeded)
    structure = spico_directory.structures[0]
    assert (await spico_client.get_structure(structure.id)).name == structure.name
    everyone = await spico_client.search_directory("", kind="professional", limit=1)
    assert everyone.total == len(spico_directory.professionals)


async def test_unknown_directory_ids_are_404(spico_client: SpicoClient) -> None:
    with pytest.raises(SpicoNotFound):
        await spico_client.get_professional("810000000000")
    with pytest.raises(SpicoNotFound):
        await spico_client.get_structure("1000000000")
    with pytest.raises(SpicoNotFound):
        await spico_client.lookup_address("nobody@sandbox.mssante.fr")


async def test_search_by_name_ignores_accents_and_case(
    spico_client: SpicoClient, spico_directory: Directory
) -> None:
    target = next(p for p in spico_directory.professionals if p.first_name == "Hélène")
    expected = {
        p.id
        for p in spico_directory.professionals
        if p.first_name == "Hélène" and p.last_name == target.last_name
    }
    for query in (
        f"helene {target.last_name}",
        f"HÉLÈNE {target.last_name.lower()}",
        f"hel {target.last_name[:3]}",
    ):
        page = await spico_client.search_directory(query, kind="professional", limit=100)
        found = {r.id for r in page.results}
        assert expected <= found, query
        assert all(
            isinstance(r, Professional) and r.first_name == "Hélène" for r in page.results
        ), query


async def test_search_by_profession_and_city(
    spico_client: SpicoClient, spico_directory: Directory
) -> None:
    expected = sum(
        p.profession == "cardiologue" and p.city == "Toulouse"
        for p in spico_directory.professionals
    )
    page = await spico_client.search_directory("cardiologue toulouse", kind="professional")
    assert page.total == expected > 0
    assert all(isinstance(r, Professional) and r.city == "Toulouse" for r in page.results)


async def test_search_by_identifiers_and_address(
    spico_client: SpicoClient, spico_directory: Directory
) -> None:
    rpps = next(p for p in spico_directory.professionals if p.id_kind == "rpps")
    adeli = next(p for p in spico_directory.professionals if p.id_kind == "adeli")
    for query, expected_id in (
        (rpps.id, rpps.id),
        (rpps.rpps, rpps.id),
        (adeli.adeli, adeli.id),
        (adeli.id, adeli.id),
        (rpps.mssante_address.upper(), rpps.id),
    ):
        page = await spico_client.search_directory(query or "")
        assert [r.id for r in page.results] == [expected_id], query
    partial_number = await spico_client.search_directory(rpps.id[:6])
    assert rpps.id not in {r.id for r in partial_number.results}


async def test_search_structures_and_pagination(
    spico_client: SpicoClient, spico_directory: Directory
) -> None:
    structure = spico_directory.structures[0]
    by_finess = await spico_client.search_directory(structure.finess, kind="structure")
    assert [r.id for r in by_finess.results] == [structure.id]
    in_city = [s for s in spico_directory.structures if s.city == structure.city]
    page = await spico_client.search_directory(structure.city, kind="structure")
    assert page.total == len(in_city)
    assert all(isinstance(r, Structure) for r in page.results)
    both = await spico_client.search_directory("toulouse", limit=100)
    assert {type(r) for r in both.results} == {Professional, Structure}
    first = await spico_client.search_directory("toulouse", limit=5)
    second = await spico_client.search_directory("toulouse", limit=5, offset=5)
    assert first.total == second.total == both.total
    assert [r.id for r in first.results + second.results] == [r.id for r in both.results[:10]]


async def test_lookup_by_address(spico_client: SpicoClient, spico_directory: Directory) -> None:
    professional = spico_directory.professionals[3]
    structure = spico_directory.structures[3]
    assert (await spico_client.lookup_address(professional.mssante_address)).id == professional.id
    found = await spico_client.lookup_address(structure.mssante_address)
    assert isinstance(found, Structure) and found.id == structure.id


async def test_status_change_emits_an_event(spico_client: SpicoClient, personas: Personas) -> None:
    professional_id = personas.colleagues[-1]
    before = await head_seq(spico_client)
    await spico_client.set_status(professional_id, "online")
    await spico_client.set_status(professional_id, "absent")
    await spico_client.set_status(professional_id, "absent")  # no-op: no event
    assert (await spico_client.get_professional(professional_id)).status == "absent"
    mine = [
        e
        for e in await events_after(spico_client, before)
        if e.type == "status.changed" and e.data["professional_id"] == professional_id
    ]
    assert [e.data["status"] for e in mine][-1] == "absent"
    assert len(mine) <= 2 and mine[-1].conversation_id is None


# ----------------------------------------------------------------------------- accounts


async def test_delegations_list_own_account_first(
    spico_client: SpicoClient, personas: Personas, spico_directory: Directory
) -> None:
    accounts = await spico_client.list_delegations(personas.secretary)
    expected = {
        d.account_id for d in spico_directory.delegations if d.holder_id == personas.secretary
    }
    assert accounts[0].id == personas.secretary
    assert {a.id for a in accounts[1:]} == expected
    own_first = await spico_client.list_delegations(personas.doctor)
    assert own_first[0].id == personas.doctor
    with pytest.raises(SpicoNotFound) as caught:
        await spico_client.list_delegations(personas.no_account)
    assert caught.value.code == "no_account"


async def test_favorites(
    spico_client: SpicoClient, personas: Personas, spico_directory: Directory
) -> None:
    account = personas.colleagues[5]
    structure_id = spico_directory.structures[1].id
    await spico_client.add_favorite(account, personas.doctor)
    await spico_client.add_favorite(account, structure_id)
    await spico_client.add_favorite(account, structure_id)
    favorites = await spico_client.list_favorites(account)
    assert [f.id for f in favorites] == [personas.doctor, structure_id]
    assert isinstance(favorites[1], Structure)
    await spico_client.remove_favorite(account, personas.doctor)
    assert [f.id for f in await spico_client.list_favorites(account)] == [structure_id]
    with pytest.raises(SpicoNotFound):
        await spico_client.add_favorite(account, "899999999999")


async def test_recent_searches_are_recorded_deduplicated_and_capped(
    spico_client: SpicoClient, personas: Personas
) -> None:
    account = personas.colleagues[6]
    for query in [f"recherche {n}" for n in range(22)]:
        await spico_client.search_directory(query, on_behalf_of=account)
    await spico_client.search_directory("recherche 5", on_behalf_of=account)
    await spico_client.search_directory("cardiologue", kind="professional", on_behalf_of=account)
    searches = await spico_client.recent_searches(account)
    assert len(searches) == 20
    assert [(s.q, s.kind) for s in searches[:3]] == [
        ("cardiologue", "professional"),
        ("recherche 5", None),
        ("recherche 21", None),
    ]
    assert [s.q for s in searches].count("recherche 5") == 1
    await spico_client.search_directory("sans trace")  # no X-Spico-User: not recorded
    assert (await spico_client.recent_searches(account))[0].q == "cardiologue"


async def test_active_patients_and_care_circle(
    spico_client: SpicoClient, personas: Personas, spico_directory: Directory
) -> None:
    patients = await spico_client.list_patients(personas.doctor)
    assert personas.patient_id in {p.id for p in patients}
    assert personas.foreign_patient_id not in {p.id for p in patients}
    circle = await spico_client.get_care_circle(personas.patient_id, on_behalf_of=personas.doctor)
    seeded = [m for m in spico_directory.care_circles if m.patient_id == personas.patient_id]
    assert [m.professional.id for m in circle.members] == [m.professional_id for m in seeded]
    assert circle.members[0].role == "médecin traitant"
    patient = await spico_client.get_patient(personas.patient_id, on_behalf_of=personas.doctor)
    assert patient == circle.patient and len(patient.ins) == 15


async def test_patient_access_is_checked(spico_client: SpicoClient, personas: Personas) -> None:
    for call in (spico_client.get_patient, spico_client.get_care_circle):
        with pytest.raises(SpicoForbidden) as caught:
            await call(personas.patient_id, on_behalf_of=personas.secretary)
        assert caught.value.code == "no_patient_access"
    with pytest.raises(SpicoNotFound):
        await spico_client.get_patient("pat-99999")


# ----------------------------------------------------------------------------- conversations


async def test_create_conversation_emits_created_then_posted(
    spico_client: SpicoClient, personas: Personas
) -> None:
    before = await head_seq(spico_client)
    created = await start_conversation(spico_client, personas, patient_id=personas.patient_id)
    conversation = created.conversation
    assert conversation.member_ids == [personas.doctor, *personas.colleagues[:2]]
    assert conversation.created_by == personas.doctor
    assert conversation.patient is not None and conversation.patient.id == personas.patient_id
    assert created.message.sent_by == created.message.author_id == personas.doctor
    mine = [
        e for e in await events_after(spico_client, before) if e.conversation_id == conversation.id
    ]
    assert [e.type for e in mine] == ["conversation.created", "message.posted"]
    snapshot = mine[0].conversation
    assert snapshot is not None
    assert snapshot.model_dump(exclude={"updated_at"}) == conversation.model_dump(
        exclude={"updated_at"}
    )
    assert mine[1].message == created.message
    assert mine[1].seq == mine[0].seq + 1


async def test_create_conversation_refusals(spico_client: SpicoClient, personas: Personas) -> None:
    cases = [
        ({"subject": ""}, SpicoBadRequest, "bad_request", "subject"),
        ({"subject": "x" * 201}, SpicoBadRequest, "bad_request", "subject"),
        ({"message": ""}, SpicoBadRequest, "bad_request", "message"),
        ({"members": []}, SpicoBadRequest, "bad_request", "members"),
        ({"members": [personas.doctor]}, SpicoBadRequest, "bad_request", "members"),
        ({"members": ["899999999999"]}, SpicoBadRequest, "unknown_member", "899999999999"),
        ({"patient_id": personas.foreign_patient_id}, SpicoForbidden, "no_patient_access", ""),
        ({"patient_id": "pat-99999"}, SpicoNotFound, "not_found", "pat-99999"),
        ({"acting_as": personas.colleagues[0]}, SpicoForbidden, "no_delegation", ""),
    ]
    before = await head_seq(spico_client)
    for overrides, error, code, named in cases:
        with pytest.raises(error) as caught:
            await start_conversation(spico_client, personas, **overrides)
        assert caught.value.code == code, overrides
        assert named in caught.value.message, overrides
    with pytest.raises(SpicoBadRequest) as missing_user:
        await spico_client.create_conversation(
            on_behalf_of="",
            acting_as=personas.doctor,
            members=[personas.colleagues[0]],
            subject="s",
            message="m",
        )
    assert missing_user.value.code == "missing_user"
    assert await head_seq(spico_client) == before


async def test_acting_through_a_delegation(spico_client: SpicoClient, personas: Personas) -> None:
    created = await start_conversation(
        spico_client,
        personas,
        on_behalf_of=personas.secretary,
        acting_as=personas.delegating_doctor,
    )
    assert created.conversation.created_by == personas.delegating_doctor
    assert personas.secretary not in created.conversation.member_ids
    assert created.message.author_id == personas.delegating_doctor
    assert created.message.sent_by == personas.secretary
    with pytest.raises(SpicoForbidden) as caught:
        await start_conversation(
            spico_client, personas, on_behalf_of=personas.secretary, acting_as=personas.doctor
        )
    assert caught.value.code == "no_delegation"


async def test_messages_attachments_and_reading(
    spico_client: SpicoClient, personas: Personas
) -> None:
    created = await start_conversation(spico_client, personas)
    conversation_id = created.conversation.id
    colleague = personas.colleagues[0]
    content = bytes(range(256)) * 10
    message = await spico_client.post_message(
        conversation_id,
        on_behalf_of=colleague,
        acting_as=colleague,
        body="Réponse",
        idempotency_key=f"test-{uuid.uuid4()}",
        attachments=[
            NewAttachment(filename="cr.pdf", content_type="application/pdf", content=content)
        ],
    )
    assert message.author_id == colleague
    assert [(a.filename, a.size) for a in message.attachments] == [("cr.pdf", len(content))]
    downloaded = await spico_client.get_attachment(message.attachments[0].id)
    assert (downloaded.content, downloaded.content_type) == (content, "application/pdf")
    messages = await spico_client.list_messages(conversation_id)
    assert [m.id for m in messages] == [created.message.id, message.id]
    after_first = await spico_client.list_messages(conversation_id, after=created.message.id)
    assert [m.id for m in after_first] == [message.id]
    assert (await spico_client.get_conversation(conversation_id)).updated_at == message.created_at
    with pytest.raises(SpicoForbidden):
        await spico_client.list_messages(conversation_id, on_behalf_of=personas.secretary)
    with pytest.raises(SpicoNotFound):
        await spico_client.get_attachment("att_missing")


async def test_attachment_over_the_limit_is_413(
    spico_client: SpicoClient, personas: Personas
) -> None:
    created = await start_conversation(spico_client, personas)
    with pytest.raises(SpicoHTTPError) as caught:
        await spico_client.post_message(
            created.conversation.id,
            on_behalf_of=personas.doctor,
            acting_as=personas.doctor,
            body="trop gros",
            idempotency_key=f"test-{uuid.uuid4()}",
            attachments=[
                NewAttachment(
                    filename="big.bin",
                    content_type="application/octet-stream",
                    content=b"\0" * (10 * 1024 * 1024 + 1),
                )
            ],
        )
    assert (caught.value.status, caught.value.code) == (413, "attachment_too_large")


async def test_posting_requires_membership_and_key(
    spico_client: SpicoClient, personas: Personas
) -> None:
    created = await start_conversation(spico_client, personas)
    outsider = personas.colleagues[10]
    with pytest.raises(SpicoForbidden) as caught:
        await spico_client.post_message(
            created.conversation.id,
            on_behalf_of=outsider,
            acting_as=outsider,
            body="intrus",
            idempotency_key="k1",
        )
    assert caught.value.code == "not_a_member"
    headers = {"Authorization": f"Bearer {spico_client._token}", "X-Spico-User": personas.doctor}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{spico_client._base_url}/conversations/{created.conversation.id}/messages",
            json={"acting_as": personas.doctor, "body": "sans clé"},
            headers=headers,
        ) as answer,
    ):
        assert answer.status == 400
        assert (await answer.json())["error"] == "missing_idempotency_key"
    with pytest.raises(SpicoNotFound):
        await spico_client.post_message(
            "conv_missing",
            on_behalf_of=personas.doctor,
            acting_as=personas.doctor,
            body="x",
            idempotency_key="k",
        )


async def test_idempotent_replay_and_mismatch(
    spico_client: SpicoClient, personas: Personas
) -> None:
    created = await start_conversation(spico_client, personas)
    conversation_id = created.conversation.id
    key = f"$matrix-event-{uuid.uuid4()}"
    before = await head_seq(spico_client)
    arguments = {
        "on_behalf_of": personas.doctor,
        "acting_as": personas.doctor,
        "body": "Une seule fois",
        "idempotency_key": key,
    }
    first = await spico_client.post_message(conversation_id, **arguments)
    again = await spico_client.post_message(conversation_id, **arguments)
    assert again == first and first.idempotency_key == key
    posted = [
        e for e in await events_after(spico_client, before) if e.conversation_id == conversation_id
    ]
    assert [e.type for e in posted] == ["message.posted"]
    assert len(await spico_client.list_messages(conversation_id)) == 2
    with pytest.raises(SpicoBadRequest) as caught:
        await spico_client.post_message(conversation_id, **{**arguments, "body": "Autre texte"})
    assert (caught.value.status, caught.value.code) == (422, "idempotency_mismatch")


async def test_create_conversation_is_idempotent(
    spico_client: SpicoClient, personas: Personas
) -> None:
    key = str(uuid.uuid4())
    first = await start_conversation(spico_client, personas, subject="Idem", idempotency_key=key)
    again = await start_conversation(spico_client, personas, subject="Idem", idempotency_key=key)
    assert again == first
    with pytest.raises(SpicoBadRequest):
        await start_conversation(spico_client, personas, subject="Autre", idempotency_key=key)


async def test_conversation_changes_emit_events_and_no_ops_emit_nothing(
    spico_client: SpicoClient, personas: Personas
) -> None:
    created = await start_conversation(spico_client, personas)
    conversation_id = created.conversation.id
    who = {"on_behalf_of": personas.doctor, "acting_as": personas.doctor}
    newcomer = personas.colleagues[3]
    before = await head_seq(spico_client)

    renamed = await spico_client.rename_conversation(conversation_id, subject="Nouveau", **who)
    await spico_client.rename_conversation(conversation_id, subject="Nouveau", **who)
    assert renamed.subject == "Nouveau"
    added = await spico_client.add_member(conversation_id, newcomer, **who)
    await spico_client.add_member(conversation_id, newcomer, **who)
    assert added.member_ids[-1] == newcomer
    removed = await spico_client.remove_member(conversation_id, personas.colleagues[0], **who)
    await spico_client.remove_member(conversation_id, personas.colleagues[0], **who)
    assert personas.colleagues[0] not in removed.member_ids
    linked = await spico_client.link_patient(conversation_id, personas.patient_id, **who)
    await spico_client.link_patient(conversation_id, personas.patient_id, **who)
    assert linked.patient is not None and linked.patient.id == personas.patient_id
    unlinked = await spico_client.unlink_patient(conversation_id, **who)
    await spico_client.unlink_patient(conversation_id, **who)
    assert unlinked.patient is None

    mine = [
        e for e in await events_after(spico_client, before) if e.conversation_id == conversation_id
    ]
    assert [(e.type, e.actor_id) for e in mine] == [
        ("conversation.updated", personas.doctor),
        ("member.added", personas.doctor),
        ("member.removed", personas.doctor),
        ("patient.linked", personas.doctor),
        ("patient.unlinked", personas.doctor),
    ]
    assert mine[0].data == {"subject": "Nouveau"}
    assert mine[1].data == {"member_id": newcomer}
    assert mine[3].data["patient"]["id"] == personas.patient_id
    assert mine[4].data == {"patient_id": personas.patient_id}
    assert (await spico_client.get_conversation(conversation_id)) == unlinked


async def test_conversation_change_refusals(spico_client: SpicoClient, personas: Personas) -> None:
    created = await start_conversation(spico_client, personas, member_count=1)
    conversation_id = created.conversation.id
    outsider = personas.colleagues[12]
    with pytest.raises(SpicoForbidden) as not_member:
        await spico_client.rename_conversation(
            conversation_id, subject="x", on_behalf_of=outsider, acting_as=outsider
        )
    assert not_member.value.code == "not_a_member"
    who = {"on_behalf_of": personas.doctor, "acting_as": personas.doctor}
    with pytest.raises(SpicoBadRequest) as unknown:
        await spico_client.add_member(conversation_id, "899999999999", **who)
    assert unknown.value.code == "unknown_member"
    with pytest.raises(SpicoForbidden) as no_access:
        await spico_client.link_patient(conversation_id, personas.foreign_patient_id, **who)
    assert no_access.value.code == "no_patient_access"
    await spico_client.remove_member(conversation_id, personas.colleagues[0], **who)
    with pytest.raises(SpicoConflict):
        await spico_client.remove_member(conversation_id, personas.doctor, **who)
    with pytest.raises(SpicoNotFound):
        await spico_client.rename_conversation("conv_missing", subject="x", **who)


async def test_list_conversations_by_member(spico_client: SpicoClient, personas: Personas) -> None:
    member = personas.colleagues[20]
    first = await start_conversation(spico_client, personas, members=[member])
    second = await start_conversation(spico_client, personas, members=[member])
    page = await spico_client.list_conversations(member=member, limit=200)
    ours = {first.conversation.id, second.conversation.id}
    # The session's sandbox is shared: other tests may have put this member in conversations.
    assert [c.id for c in page.conversations if c.id in ours] == [
        second.conversation.id,
        first.conversation.id,
    ]
    assert all(member in c.member_ids for c in page.conversations)
    assert page.total == len(page.conversations) >= 2
    everything = await spico_client.list_conversations(limit=1)
    assert everything.total >= 2 and len(everything.conversations) == 1


async def test_resource_team_request(spico_client: SpicoClient, personas: Personas) -> None:
    teams = await spico_client.list_resource_teams()
    assert len(teams) >= 5
    team = next(t for t in teams if t.name == "Équipe mobile de soins palliatifs")
    key = str(uuid.uuid4())
    created = await spico_client.request_resource_team(
        team.id,
        on_behalf_of=personas.doctor,
        acting_as=personas.doctor,
        message="Demande d'appui",
        patient_id=personas.patient_id,
        idempotency_key=key,
    )
    assert created.conversation.member_ids == [personas.doctor, *team.members]
    assert created.conversation.subject == f"Sollicitation : {team.name}"
    assert created.conversation.patient is not None
    replay = await spico_client.request_resource_team(
        team.id,
        on_behalf_of=personas.doctor,
        acting_as=personas.doctor,
        message="Demande d'appui",
        patient_id=personas.patient_id,
        idempotency_key=key,
    )
    assert replay == created
    with pytest.raises(SpicoNotFound):
        await spico_client.request_resource_team(
            "no-team", on_behalf_of=personas.doctor, acting_as=personas.doctor, message="x"
        )
    with pytest.raises(SpicoForbidden):
        await spico_client.request_resource_team(
            team.id, on_behalf_of=personas.secretary, acting_as=personas.doctor, message="x"
        )


# ----------------------------------------------------------------------------- event feed


async def test_long_poll_returns_when_an_event_arrives(
    spico_client: SpicoClient, personas: Personas
) -> None:
    head = await head_seq(spico_client)
    poll = asyncio.create_task(spico_client.long_poll_events(head, wait=20, limit=10))
    await asyncio.sleep(0.3)
    assert not poll.done()
    started = time.monotonic()
    created = await start_conversation(spico_client, personas)
    page = await asyncio.wait_for(poll, 10)
    assert time.monotonic() - started < 10
    assert page.events[0].seq == head + 1
    assert page.events[0].conversation_id == created.conversation.id
    assert page.last_seq == page.events[-1].seq and page.head_seq >= page.last_seq


async def test_long_poll_returns_empty_after_the_wait(spico_client: SpicoClient) -> None:
    head = await head_seq(spico_client)
    started = time.monotonic()
    page = await spico_client.long_poll_events(head + 1000, wait=0.5, limit=10)
    assert time.monotonic() - started >= 0.4
    assert page.events == [] and page.last_seq == head + 1000


async def test_event_feed_pages_are_ordered_and_gap_free(
    spico_client: SpicoClient, personas: Personas
) -> None:
    for _ in range(3):
        await start_conversation(spico_client, personas)
    page = await spico_client.get_events(0, limit=5)
    assert [e.seq for e in page.events] == [1, 2, 3, 4, 5]
    following = await spico_client.get_events(page.last_seq, limit=1000)
    seqs = [e.seq for e in following.events]
    # Consecutive from 6, up to the head or to the page limit (other tests add events too).
    assert seqs == list(range(6, 6 + len(seqs)))
    assert seqs[-1] == following.head_seq or len(seqs) == 1000
    with pytest.raises(SpicoBadRequest):
        await spico_client.long_poll_events(0, wait=61, limit=10)


async def test_restart_keeps_everything_and_seq_continues(
    spico_sandbox: SandboxProcess, spico_client: SpicoClient, personas: Personas
) -> None:
    account = personas.colleagues[30]
    await spico_client.set_status(account, "online")
    await spico_client.set_status(account, "absent")
    await spico_client.add_favorite(account, personas.doctor)
    created = await start_conversation(spico_client, personas)
    head = await head_seq(spico_client)

    assert spico_sandbox.stop() == 0  # SIGTERM ends it cleanly
    spico_sandbox.start()

    assert await spico_client.get_conversation(created.conversation.id) == created.conversation
    assert [m.id for m in await spico_client.list_messages(created.conversation.id)] == [
        created.message.id
    ]
    assert (await spico_client.get_professional(account)).status == "absent"
    assert [f.id for f in await spico_client.list_favorites(account)] == [personas.doctor]
    assert (await spico_client.get_events(head - 2, limit=10)).last_seq == head
    await start_conversation(spico_client, personas)
    assert (await spico_client.get_events(head, limit=10)).events[0].seq == head + 1


def test_contract_documents_exactly_the_served_routes() -> None:
    spec = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    documented = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "put", "post", "patch", "delete"}
    }
    served = {
        (route.method, route.path.removeprefix(API_PREFIX))
        for route in server_routes
        if isinstance(route, aiohttp.web.RouteDef)
    }
    assert documented == served
    sandbox_only = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and operation.get("x-sandbox-only")
    }
    assert sandbox_only == {
        ("PUT", "/directory/professionals/{id}/status"),
        ("POST", "/sandbox/faults"),
        ("PUT", "/sandbox/delegations/{holder_id}/{account_id}"),
        ("DELETE", "/sandbox/delegations/{holder_id}/{account_id}"),
    }
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


# ----------------------------------------------------------------------------- notices


async def test_notice_is_posted_by_the_service_once(
    spico_client: SpicoClient, personas: Personas
) -> None:
    created = await start_conversation(spico_client, personas)
    conversation_id = created.conversation.id
    before = await head_seq(spico_client)
    key = f"bridge:delivery-failed:{uuid.uuid4()}"
    about = f"mail:{personas.colleagues[0]}"
    notice = await spico_client.post_notice(
        conversation_id,
        body="Un message n'a pas pu être remis.",
        about=about,
        idempotency_key=key,
    )
    again = await spico_client.post_notice(
        conversation_id,
        body="Un message n'a pas pu être remis.",
        about=about,
        idempotency_key=key,
    )
    assert again == notice
    assert (notice.kind, notice.author_id, notice.sent_by, notice.about) == (
        "notice",
        None,
        None,
        about,
    )
    events = [
        e for e in await events_after(spico_client, before) if e.conversation_id == conversation_id
    ]
    assert [(e.type, e.actor_id) for e in events] == [("message.posted", None)]
    assert events[0].message is not None and events[0].message.kind == "notice"
    listed = await spico_client.list_messages(conversation_id)
    assert [m.kind for m in listed] == ["message", "notice"]


async def test_notice_refusals(spico_sandbox: SandboxProcess, personas: Personas) -> None:
    created = None
    async with SpicoClient(spico_sandbox.base_url, spico_sandbox.token) as client:
        created = await start_conversation(client, personas)
        with pytest.raises(SpicoNotFound):
            await client.post_notice("conv_missing", body="x", idempotency_key="k1")
        with pytest.raises(SpicoBadRequest):
            await client.post_notice(created.conversation.id, body="", idempotency_key="k2")
    url = f"{spico_sandbox.base_url}/conversations/{created.conversation.id}/notices"
    headers = {
        "Authorization": f"Bearer {spico_sandbox.token}",
        "Idempotency-Key": "k3",
        "X-Spico-User": personas.doctor,
    }
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={"body": "x"}, headers=headers) as answer:
            assert answer.status == 400  # a notice has no author
        del headers["Idempotency-Key"], headers["X-Spico-User"]
        async with session.post(url, json={"body": "x"}, headers=headers) as answer:
            assert answer.status == 400
            assert (await answer.json())["error"] == "missing_idempotency_key"
