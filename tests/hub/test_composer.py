"""The composer protocol over the real SPICO client and sandbox: plain data out, SPICO's
refusals and outages as the composer's errors (the worlds never see ``bridge.spico``)."""

from __future__ import annotations

import pytest

from bridge.core.composer import (
    ComposerRefusal,
    ComposerUnavailable,
    NewConversation,
    TeamRequest,
)
from bridge.core.delivery import Attachment
from bridge.core.errors import ServiceUnavailable
from bridge.hub.composer import SpicoComposerAdapter
from bridge.spico.client import SpicoClient
from tests.fixtures.sandbox import Personas


async def test_directory_patients_and_delegations_as_plain_data(
    spico_client: SpicoClient, personas: Personas
) -> None:
    composer = SpicoComposerAdapter(spico_client)
    doctor = await composer.professional(personas.doctor)
    assert doctor.kind == "professional" and doctor.status in (
        "online",
        "active",
        "absent",
        "inactive",
    )
    found = await composer.search(doctor.name.split()[-1], on_behalf_of=personas.secretary)
    assert doctor.id in {entry.id for entry in found}
    assert (await composer.lookup_address(doctor.mssante_address)) == doctor
    assert await composer.lookup_address("nobody.here@sandbox.mssante.fr") is None
    accounts = [a.id for a in await composer.delegations(personas.secretary)]
    assert accounts[0] == personas.secretary and personas.delegating_doctor in accounts
    structures = await composer.search("a", structures=True, limit=3)
    assert structures and all(s.kind == "structure" and s.status is None for s in structures)


async def test_refusals_and_outages_become_the_composers_errors(
    spico_client: SpicoClient, personas: Personas
) -> None:
    composer = SpicoComposerAdapter(spico_client)
    with pytest.raises(ComposerRefusal) as refused:
        await composer.create_conversation(
            NewConversation(
                on_behalf_of=personas.secretary,
                acting_as=personas.doctor,  # no delegation on this account
                members=(personas.colleagues[0],),
                subject="Refusée",
                message="x",
                idempotency_key="composer-test-refusal",
            )
        )
    assert refused.value.status == 403 and refused.value.code == "no_delegation"
    await spico_client.inject_failures(5, 503)  # every attempt of the client (5 by default)
    with pytest.raises(ComposerUnavailable) as down:
        await composer.teams()
    assert isinstance(down.value, ServiceUnavailable)
    assert await composer.teams(), "and back once SPICO answers"


async def test_requests_reach_spico_whole(spico_client: SpicoClient, personas: Personas) -> None:
    composer = SpicoComposerAdapter(spico_client)
    team = (await composer.teams())[0]
    requested = await composer.request_team(
        TeamRequest(
            team.id,
            on_behalf_of=personas.doctor,
            acting_as=personas.doctor,
            message="Un avis ?",
            subject="Avis",
            idempotency_key="composer-test-team",
        )
    )
    assert requested.subject == "Avis" and set(team.members) <= set(requested.members)
    created = await composer.create_conversation(
        NewConversation(
            on_behalf_of=personas.doctor,
            acting_as=personas.doctor,
            members=(personas.colleagues[0],),
            subject="Suivi",
            message="Bonjour",
            attachments=(Attachment("cr.txt", "text/plain", b"compte rendu"),),
            idempotency_key="composer-test-new",
        )
    )
    assert created.subject == "Suivi" and personas.colleagues[0] in created.members
    (first,) = await composer.history(created.id, limit=10)
    assert [a["filename"] for a in first["attachments"]] == ["cr.txt"]
