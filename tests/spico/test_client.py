"""SpicoClient behaviour over real HTTP: retries, unavailability, errors, long-poll timeout,
ids checked against their grammar, answers checked against their model, capped downloads,
TLS with the configured CA."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

import pytest

from bridge.app import spico_client_from
from bridge.config import load_config
from bridge.core.identifiers import BadIdentifier
from bridge.spico.client import (
    SpicoBadRequest,
    SpicoBadResponse,
    SpicoClient,
    SpicoForbidden,
    SpicoNotFound,
    SpicoTooLarge,
    SpicoUnauthorized,
    SpicoUnavailable,
)
from bridge.spico.models import NewAttachment
from bridge.spico.sandbox.seed import Directory
from tests.fixtures.bridge import bridge_config
from tests.fixtures.ports import free_port
from tests.fixtures.sandbox import Personas, SandboxProcess
from tests.fixtures.tls import Certificate, tls_proxy
from tests.spico.helpers import start_conversation


async def test_retries_5xx_then_succeeds(
    spico_client: SpicoClient, personas: Personas, caplog: pytest.LogCaptureFixture
) -> None:
    await spico_client.inject_failures(2, status=503)
    with caplog.at_level(logging.WARNING, logger="bridge.spico.client"):
        professional = await spico_client.get_professional(personas.doctor)
    assert professional.id == personas.doctor
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 2 and "HTTP 503" in retries[0].getMessage()


async def test_post_retried_after_5xx_is_not_duplicated(
    spico_client: SpicoClient, personas: Personas
) -> None:
    created = await start_conversation(spico_client, personas)
    await spico_client.inject_failures(1, status=502)
    message = await spico_client.post_message(
        created.conversation.id,
        on_behalf_of=personas.doctor,
        acting_as=personas.doctor,
        body="après une panne",
        idempotency_key=str(uuid.uuid4()),
    )
    messages = await spico_client.list_messages(created.conversation.id)
    assert [m.id for m in messages] == [created.message.id, message.id]


async def test_persistent_5xx_raises_unavailable(
    spico_sandbox: SandboxProcess, spico_client: SpicoClient, personas: Personas
) -> None:
    async with SpicoClient(spico_sandbox.base_url, spico_sandbox.token, max_attempts=3) as client:
        await client.inject_failures(3, status=500)
        with pytest.raises(SpicoUnavailable):
            await client.get_professional(personas.doctor)
    assert (await spico_client.get_professional(personas.doctor)).id == personas.doctor


async def test_connection_refused_raises_unavailable() -> None:
    async with SpicoClient(f"http://127.0.0.1:{free_port()}/api/v1", "t", max_attempts=3) as client:
        with pytest.raises(SpicoUnavailable) as caught:
            await client.list_resource_teams()
    assert "ClientConnectorError" in str(caught.value)


async def test_retries_until_the_sandbox_is_back(
    spico_sandbox: SandboxProcess, personas: Personas
) -> None:
    async with SpicoClient(spico_sandbox.base_url, spico_sandbox.token, max_attempts=40) as client:
        spico_sandbox.stop()
        try:
            call = asyncio.create_task(client.get_professional(personas.doctor))
            await asyncio.sleep(0.5)
            assert not call.done()
        finally:
            await asyncio.to_thread(spico_sandbox.start)
        assert (await asyncio.wait_for(call, 60)).id == personas.doctor


async def test_refusals_map_to_exception_classes(
    spico_sandbox: SandboxProcess, spico_client: SpicoClient, personas: Personas
) -> None:
    async with SpicoClient(spico_sandbox.base_url, "bad") as client:
        with pytest.raises(SpicoUnauthorized):
            await client.list_resource_teams()
    with pytest.raises(SpicoNotFound) as not_found:
        await spico_client.get_conversation("conv_missing")
    assert (not_found.value.status, not_found.value.code) == (404, "not_found")
    assert "conv_missing" in not_found.value.message
    with pytest.raises(SpicoForbidden):
        await spico_client.get_patient(personas.foreign_patient_id, on_behalf_of=personas.doctor)
    with pytest.raises(SpicoBadRequest) as bad:
        await spico_client.search_directory("x", kind="nothing")
    assert bad.value.status == 400 and "kind" in bad.value.message


async def test_generated_keys_make_distinct_conversations(
    spico_client: SpicoClient, personas: Personas
) -> None:
    first = await start_conversation(spico_client, personas, subject="Même sujet")
    second = await start_conversation(spico_client, personas, subject="Même sujet")
    assert first.conversation.id != second.conversation.id


async def test_post_message_needs_a_key(spico_client: SpicoClient, personas: Personas) -> None:
    with pytest.raises(ValueError, match="idempotency key"):
        await spico_client.post_message(
            "conv_x",
            on_behalf_of=personas.doctor,
            acting_as=personas.doctor,
            body="x",
            idempotency_key="",
        )


async def test_long_poll_outlives_the_client_timeout(
    spico_sandbox: SandboxProcess, personas: Personas
) -> None:
    async with SpicoClient(spico_sandbox.base_url, spico_sandbox.token, timeout=0.5) as client:
        head = (await client.get_events(0, limit=1)).head_seq
        page = await client.long_poll_events(head + 10_000, wait=1.5, limit=10)
    assert page.events == []


async def test_post_whose_answer_was_lost_is_replayed_not_duplicated(
    spico_client: SpicoClient, personas: Personas
) -> None:
    """SPICO commits the post but the answer is lost (a timeout): the retry gets the original."""
    created = await start_conversation(spico_client, personas)
    await spico_client.inject_failures(1, status=504, after_processing=True)
    message = await spico_client.post_message(
        created.conversation.id,
        on_behalf_of=personas.doctor,
        acting_as=personas.doctor,
        body="réponse perdue",
        idempotency_key=str(uuid.uuid4()),
    )
    messages = await spico_client.list_messages(created.conversation.id)
    assert [m.id for m in messages] == [created.message.id, message.id]


# --- ids: checked against their grammar, never a way to another account ------------------------


async def test_a_pasted_path_never_reaches_another_account(
    spico_client: SpicoClient, spico_directory: Directory, personas: Personas
) -> None:
    """With ``..`` in an id, yarl resolved the path: ``fav add`` of one account wrote another
    account's favorites with the service token. The client now refuses such an id before
    any request, whatever endpoint it goes to."""
    victim = personas.colleagues[3]
    target = personas.colleagues[4]
    before = [f.id for f in await spico_client.list_favorites(victim)]
    attacker = personas.colleagues[5]
    traversal = f"../../{victim}/favorites/{target}"
    with pytest.raises(BadIdentifier) as refused:
        await spico_client.add_favorite(attacker, traversal)
    assert refused.value.kind == "directory" and traversal not in str(refused.value)
    assert [f.id for f in await spico_client.list_favorites(victim)] == before
    patient = spico_directory.patients[0].id
    calls = [
        spico_client.get_care_circle(f"../accounts/{victim}/patients?x="),
        spico_client.get_patient(f"{patient}/../../accounts/{victim}/patients"),
        spico_client.list_patients(f"{attacker}/../{victim}"),
        spico_client.list_favorites(".."),
        spico_client.get_conversation("conv_x#"),
        spico_client.get_attachment("../conversations"),
        spico_client.remove_member("conv_x", "..", on_behalf_of=attacker, acting_as=attacker),
        spico_client.request_resource_team(
            "../conversations", on_behalf_of=attacker, acting_as=attacker, message="x"
        ),
    ]
    for call in calls:
        with pytest.raises(BadIdentifier):
            await call


async def test_an_answer_out_of_contract_is_refused_without_quoting_it(
    spico_client: SpicoClient, spico_directory: Directory
) -> None:
    """A 200 that does not fit its model (here a patient record where a search page was
    expected): the error names the model, never the data, and chains no ValidationError."""
    patient = spico_directory.patients[1]
    await spico_client._request(
        "POST",
        "/sandbox/faults",
        json_body={"count": 1, "answer_patient": patient.id},
        expect_json=False,
    )
    with pytest.raises(SpicoBadResponse) as refused:
        await spico_client.search_directory("martin")
    text = str(refused.value)
    assert patient.last_name not in text and patient.first_name not in text
    assert refused.value.__cause__ is None and refused.value.__context__ is None


async def test_a_fault_armed_for_one_path_spares_the_other_requests(
    spico_client: SpicoClient, spico_directory: Directory
) -> None:
    """``only_path``: what a test arms for one request is not used up by another (a bridge's
    event long-poll runs all the time)."""
    patient = spico_directory.patients[1]
    await spico_client._request(
        "POST",
        "/sandbox/faults",
        json_body={"count": 1, "answer_patient": patient.id, "only_path": "/directory/search"},
        expect_json=False,
    )
    await spico_client.get_events(after=0, limit=1)  # not the armed path: answered as usual
    with pytest.raises(SpicoBadResponse):
        await spico_client.search_directory("martin")
    assert (await spico_client.search_directory("martin")).results is not None  # used up


async def test_downloads_are_capped(spico_client: SpicoClient, personas: Personas) -> None:
    data = b"x" * 5000
    created = await spico_client.create_conversation(
        on_behalf_of=personas.doctor,
        acting_as=personas.doctor,
        members=[personas.colleagues[0]],
        subject="Pièce jointe",
        message="ci-joint",
        attachments=[NewAttachment(filename="a.bin", content_type="application/pdf", content=data)],
    )
    [attachment] = created.message.attachments
    assert (await spico_client.get_attachment(attachment.id)).content == data
    with pytest.raises(SpicoTooLarge):
        await spico_client.get_attachment(attachment.id, max_bytes=4999)
    assert (await spico_client.get_attachment(attachment.id, max_bytes=5000)).content == data


async def test_the_configured_ca_verifies_spico(
    spico_sandbox: SandboxProcess,
    tls_certificate: Certificate,
    personas: Personas,
    tmp_path: Path,
) -> None:
    """``spico.ca_file`` is the trust anchor of the client the daemon builds: SPICO behind
    TLS with a private CA is reached with it, and refused without it."""
    async with tls_proxy(spico_sandbox.port, tls_certificate) as port:
        url = f"https://localhost:{port}/api/v1"
        config = load_config(
            bridge_config(
                tmp_path,
                spico_sandbox,
                database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                sections={},
            )
        )
        spico = config.spico.model_copy(
            update={"base_url": url, "ca_file": tls_certificate.cert_file}
        )
        with_ca = spico_client_from(config.model_copy(update={"spico": spico}))
        async with with_ca:
            assert await with_ca.health()
            assert (await with_ca.get_professional(personas.doctor)).id == personas.doctor
        without = spico_client_from(
            config.model_copy(update={"spico": spico.model_copy(update={"ca_file": None})})
        )
        async with without:
            with pytest.raises(SpicoUnavailable):
                await without.health()
